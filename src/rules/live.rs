//! The rules every engine of this instance uses right now: an index rebuilt from the rule store
//! whenever its revision changes, polled every few seconds, so a rule written through the API
//! (on any instance) takes effect everywhere without a restart.
//!
//! Readers take a cheap snapshot ([`LiveRules::current`]) and never wait on a reload. It must
//! not apply rules; it only keeps them current.

use super::index::RuleIndex;
use super::store::RuleStore;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub struct LiveRules {
    current: Arc<RwLock<Arc<RuleIndex>>>,
}

impl LiveRules {
    pub fn new(index: RuleIndex) -> LiveRules {
        LiveRules { current: Arc::new(RwLock::new(Arc::new(index))) }
    }

    pub fn current(&self) -> Arc<RuleIndex> {
        self.current.read().expect("lock poisoned").clone()
    }

    pub fn replace(&self, index: RuleIndex) {
        *self.current.write().expect("lock poisoned") = Arc::new(index);
    }

    /// Reloads the rules whenever the store's revision changes, until `stop`. A failed poll is
    /// logged and tried again at the next tick; the rules in use stay in place meanwhile.
    pub async fn follow(self, store: RuleStore, every: Duration, stop: CancellationToken) {
        let mut seen: Option<i64> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let revision = match store.revision().await {
                Ok(revision) => revision,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the rules revision; keeping the rules in use");
                    continue;
                }
            };
            if seen == Some(revision) {
                continue;
            }
            match store.load_all().await {
                Ok(rules) => {
                    let count = rules.len();
                    self.replace(RuleIndex::from_rules(rules));
                    if seen.is_some() {
                        tracing::info!(revision, rules = count, "alarm-manager rules reloaded");
                    }
                    seen = Some(revision);
                }
                Err(e) => tracing::warn!(error = %e, "cannot load the rules; keeping the rules in use"),
            }
        }
    }
}
