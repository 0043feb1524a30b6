//! The rules every engine of this instance uses right now: an index loaded from the rule store,
//! and updated whenever its revision changes (polled every few seconds) with the rules of the
//! tenants that changed, so a rule written through the API (on any instance) takes effect
//! everywhere without a restart, and one tenant's writes never make an instance reload every
//! tenant's rules.
//!
//! Readers take a cheap snapshot ([`LiveRules::current`]) and never wait on a reload; before
//! the first load they wait ([`LiveRules::loaded`]), because "no rules yet" is not "no rules": a
//! transition routed or a group flushed on an empty index would bypass or end a rule. It must
//! not apply rules; it only keeps them current.

use super::index::RuleIndex;
use super::store::RuleStore;
use crate::telemetry::Metrics;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct LiveRules {
    current: Arc<RwLock<Arc<RuleIndex>>>,
    /// True once the rules were loaded (or given) at least once.
    loaded: Arc<watch::Sender<bool>>,
}

impl Default for LiveRules {
    /// No rules loaded yet: [`LiveRules::loaded`] waits for the first [`LiveRules::replace`].
    fn default() -> LiveRules {
        LiveRules { current: Arc::default(), loaded: Arc::new(watch::channel(false).0) }
    }
}

impl LiveRules {
    pub fn new(index: RuleIndex) -> LiveRules {
        let rules = LiveRules::default();
        rules.replace(index);
        rules
    }

    pub fn current(&self) -> Arc<RuleIndex> {
        self.current.read().expect("lock poisoned").clone()
    }

    pub fn replace(&self, index: RuleIndex) {
        *self.current.write().expect("lock poisoned") = Arc::new(index);
        self.loaded.send_replace(true);
    }

    /// Whether the rules were loaded at least once.
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Returns once the rules were loaded at least once (at once after that).
    pub async fn loaded(&self) {
        if *self.loaded.borrow() {
            return;
        }
        let mut loaded = self.loaded.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = loaded.wait_for(|loaded| *loaded).await;
    }

    /// Creates the rule tables where they are missing (awaited, so that an API served next finds
    /// them) and keeps the rules current until `stop`. Where the tables are missing and cannot be
    /// created (a read-only database user, as monasca-notification's often is), the instance runs
    /// without rules rather than holding every notification back until they load.
    pub async fn start(&self, store: RuleStore, every: Duration, metrics: Metrics, stop: CancellationToken) {
        let created = store.init_schema().await;
        tokio::spawn(self.clone().bootstrap(created, store, every, metrics, stop));
    }

    async fn bootstrap(self, mut created: Result<(), super::store::Error>, store: RuleStore, every: Duration, metrics: Metrics, stop: CancellationToken) {
        while let Err(e) = created {
            if store.revision().await.is_ok() {
                break;
            }
            if store.reachable().await {
                tracing::error!(error = %e, "the alarm-manager rule tables are missing and cannot be created; running without rules until they can");
                self.replace(RuleIndex::new());
            } else {
                tracing::warn!(error = %e, "cannot create the rule tables yet; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.cancelled() => return,
            }
            created = store.init_schema().await;
        }
        self.follow(store, every, metrics, stop).await;
    }

    /// Follows the store until `stop`: everything at first, then the tenants changed since the
    /// revision last seen, recording the revision in force (`tocsin_rules_revision`). A failed
    /// poll is logged and tried again at the next tick; the rules in use stay in place meanwhile.
    pub async fn follow(self, store: RuleStore, every: Duration, metrics: Metrics, stop: CancellationToken) {
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
            let updated = match seen {
                None => store.load_all().await.map(RuleIndex::from_rules),
                Some(since) => self.tenants_reloaded(&store, since).await,
            };
            match updated {
                Ok(index) => {
                    self.replace(index);
                    seen = Some(revision);
                    metrics.rules_revision(revision);
                }
                Err(e) => tracing::warn!(error = %e, "cannot load the rules; keeping the rules in use"),
            }
        }
    }

    /// The current index with the rules of every tenant changed after `since` read again.
    async fn tenants_reloaded(&self, store: &RuleStore, since: i64) -> Result<RuleIndex, super::store::Error> {
        let mut index = (*self.current()).clone();
        for tenant in store.changed_since(since).await? {
            let rules = store.load_tenant(&tenant).await?;
            tracing::info!(tenant_id = %tenant, rules = rules.len(), "alarm-manager rules of a tenant reloaded");
            index.replace_tenant(&tenant, rules);
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_wait_for_the_first_load_only() {
        let rules = LiveRules::default();
        let waiting = tokio::spawn({
            let rules = rules.clone();
            async move { rules.loaded().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "nothing loaded yet");
        rules.replace(RuleIndex::new());
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("released by the first load").unwrap();
        tokio::time::timeout(Duration::from_millis(100), rules.loaded()).await.expect("at once after it");
    }
}
