//! The periodic engine (Monasca's `periodic_engine.py`), one per `[kafka] periodic` entry:
//! each record of its topic is one link of a chain. When the link comes due (`period` seconds
//! after its `notification_timestamp`), the engine checks that the method still exists with the
//! same period and that the alarm still exists in the state that was notified, re-sends the
//! notification, and appends the next link. Otherwise the chain ends.
//!
//! The link's record stays uncommitted until the next link is confirmed by the broker, so a
//! chain survives a crash or a partition move (at worst one re-send is repeated). A link read
//! again after a crash, whose successor is also on the topic, must not fork the chain: the
//! engine remembers the newest link it has read per (alarm, method) and drops older ones when
//! they come due. The same rule ends an old chain when a new transition starts another one for
//! the same alarm and method. Unlike
//! Monasca, a re-send that succeeds is published to the sent topic and one that fails goes to
//! the retry topic. Waiting is a tokio timer per link, bounded per partition by the consumer's
//! in-flight window; records of one topic share one period, so they come due in offset order.

mod config;

pub use config::PeriodicConfig;

use super::stored;
use super::Parts;
use crate::db;
use crate::kafka::{Discard, Handler, KafkaConfig, Record, Rejected, Stop};
use crate::model::Notification;
use crate::send::Outcome as SendOutcome;
use crate::supervise::Cancelled;
use std::collections::HashMap;
use std::sync::Mutex;

const ENGINE: &str = "periodic";

pub struct PeriodicEngine {
    /// Seconds; only methods with exactly this period belong to this engine.
    period: i64,
    /// This engine's own topic, where the next link is appended.
    periodic_topic: String,
    /// Where re-sends are reported (`[kafka] notification_topic`).
    sent_topic: String,
    /// Where re-sends that failed go (`[kafka] notification_retry_topic`).
    retry_topic: String,
    parts: Parts,
    /// Newest link timestamp read per chain (alarm id, method id); records arrive in offset
    /// order and a chain's links stay in one partition, keyed by alarm id.
    newest: Mutex<HashMap<(String, String), f64>>,
}

/// One link of a chain, read back from the periodic topic.
pub struct Job(Notification);

/// Why a chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopped {
    MethodDeleted,
    PeriodChanged,
    AlarmDeleted,
    StateChanged,
    InvalidType,
    /// A newer link of the same chain exists.
    Superseded,
}

impl Stopped {
    fn as_str(self) -> &'static str {
        match self {
            Stopped::MethodDeleted => "method_deleted",
            Stopped::PeriodChanged => "period_changed",
            Stopped::AlarmDeleted => "alarm_deleted",
            Stopped::StateChanged => "state_changed",
            Stopped::InvalidType => "invalid_type",
            Stopped::Superseded => "superseded",
        }
    }
}

impl PeriodicEngine {
    /// The engine of one `[kafka] periodic` entry: `period` seconds, its `topic`.
    pub fn new(period: i64, topic: &str, kafka: &KafkaConfig, parts: &Parts) -> PeriodicEngine {
        PeriodicEngine {
            period,
            periodic_topic: topic.to_owned(),
            sent_topic: kafka.notification_topic.clone(),
            retry_topic: kafka.notification_retry_topic.clone(),
            parts: parts.clone(),
            newest: Mutex::default(),
        }
    }

    async fn link(&self, Job(notification): Job, stop: Stop) -> Result<(), Cancelled> {
        // A link without a timestamp (never written so by Tocsin or Monasca) is due at once.
        let due = notification.notification_timestamp.unwrap_or(0.0) + self.period as f64;
        {
            let _waiting = self.parts.metrics.waiting(ENGINE);
            stored::wait_until(due, &stop.draining).await?;
        }
        let chain = (notification.alarm.alarm_id.clone(), notification.method.id.clone());
        let timestamp = notification.notification_timestamp.unwrap_or(0.0);
        if self.newest.lock().expect("lock poisoned").get(&chain).is_some_and(|newest| *newest > timestamp) {
            tracing::debug!(alarm_id = %chain.0, method_id = %chain.1, "a newer link of this chain exists; dropping this one");
            self.parts.metrics.chain_stopped(Stopped::Superseded.as_str());
            return Ok(());
        }
        // Checked when the link is due, not when it was read, so a chain whose alarm went OK
        // during the wait sends nothing more.
        let notification = match self.keep_sending(notification, &stop).await? {
            Ok(notification) => notification,
            Err((why, alarm_id, method_id)) => {
                tracing::info!(%alarm_id, %method_id, period = self.period, why = why.as_str(), "periodic notifications stop");
                self.parts.metrics.chain_stopped(why.as_str());
                self.forget(&chain, timestamp);
                return Ok(());
            }
        };
        let (error, next) = match self.parts.sender.send(notification).await {
            SendOutcome::Sent(n) => (None, n),
            SendOutcome::Failed(n, error) => (Some(error), n),
            SendOutcome::InvalidType(n) => {
                tracing::info!(alarm_id = %n.alarm.alarm_id, method_id = %n.method.id, why = Stopped::InvalidType.as_str(), "periodic notifications stop");
                self.parts.metrics.chain_stopped(Stopped::InvalidType.as_str());
                self.forget(&chain, timestamp);
                return Ok(());
            }
        };
        // The retry engine counts its retries from 0; the chain's own record keeps 0 as well.
        let next = Notification { retry_count: 0, ..next };
        let report = async {
            match &error {
                None => self.parts.publisher.notification(&self.sent_topic, &next, &stop.abort).await,
                Some(error) => self.parts.publisher.failed_notification(&self.retry_topic, &next, error, &stop.abort).await,
            }
        };
        let (reported, chained) = tokio::join!(
            report,
            self.parts.publisher.notification(&self.periodic_topic, &next, &stop.abort)
        );
        reported.and(chained)
    }

    /// Forgets an ended chain, unless a newer link of it was read meanwhile.
    fn forget(&self, chain: &(String, String), timestamp: f64) {
        let mut newest = self.newest.lock().expect("lock poisoned");
        if newest.get(chain).is_some_and(|newest| *newest <= timestamp) {
            newest.remove(chain);
        }
    }

    /// Monasca's `_keep_sending` plus its method refresh: the notification with its current
    /// method, or why the chain ends. `Err` when stopped while the database was unreachable.
    async fn keep_sending(&self, notification: Notification, stop: &Stop) -> Result<Result<Notification, (Stopped, String, String)>, Cancelled> {
        let alarm_id = notification.alarm.alarm_id.clone();
        let method_id = notification.method.id.clone();
        let ended = |why| Ok(Err((why, alarm_id.clone(), method_id.clone())));
        let current = db::until_answered("notification method", &self.parts.metrics, &self.parts.fatal, &stop.abort, || self.parts.db.fetch_method(&method_id)).await?;
        let Some(notification) = stored::refreshed(notification, current) else { return ended(Stopped::MethodDeleted) };
        if notification.method.period != self.period {
            return ended(Stopped::PeriodChanged);
        }
        let state = db::until_answered("alarm state", &self.parts.metrics, &self.parts.fatal, &stop.abort, || self.parts.db.alarm_state(&alarm_id)).await?;
        match state {
            None => ended(Stopped::AlarmDeleted),
            Some(state) if state != notification.alarm.new_state.as_str() => ended(Stopped::StateChanged),
            Some(_) => Ok(Ok(notification)),
        }
    }
}

impl Handler for PeriodicEngine {
    type Job = Job;
    const INPUT: &'static str = "Notification";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        let notification = stored::decode(record.payload.as_deref(), self.parts.max_message_bytes)?;
        let chain = (notification.alarm.alarm_id.clone(), notification.method.id.clone());
        let timestamp = notification.notification_timestamp.unwrap_or(0.0);
        let mut newest = self.newest.lock().expect("lock poisoned");
        let entry = newest.entry(chain).or_insert(timestamp);
        *entry = entry.max(timestamp);
        Ok(Job(notification))
    }

    /// Chains are independent; links of one topic come due in offset order anyway.
    fn ordering_key(&self, _job: &Job) -> Option<u64> {
        None
    }

    async fn handle(&self, job: Job, stop: Stop) -> Result<(), Cancelled> {
        self.link(job, stop).await
    }

    fn dead_lettered(&self, _record: &Record, _discard: &Discard) {
        self.parts.metrics.stored_rejected(ENGINE);
    }
}
