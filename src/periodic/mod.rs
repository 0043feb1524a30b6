//! The periodic engine (Monasca's `periodic_engine.py`), one per `[kafka] periodic` entry:
//! each record of its topic is one link of a chain. When the link comes due (`period` seconds
//! after its `notification_timestamp`), the engine checks that the method still exists with the
//! same period and that the alarm still exists in the state that was notified, re-sends the
//! notification, and appends the next link. Otherwise the chain ends.
//!
//! The link's record stays uncommitted until the next link is confirmed by the broker, so a
//! chain survives a crash or a partition move (at worst one re-send is repeated). Unlike
//! Monasca, a re-send that succeeds is published to the sent topic and one that fails goes to
//! the retry topic. Waiting is a tokio timer per link, bounded per partition by the consumer's
//! in-flight window; records of one topic share one period, so they come due in offset order.

use crate::db::{self, Database};
use crate::dispatch::{Dispatcher, Outcome as SendOutcome};
use crate::ingest::Rejected;
use crate::kafka::{Handler, Outcome, Record, Stop};
use crate::model::Notification;
use crate::publish::Publisher;
use crate::stored;
use crate::supervise::Fatal;
use crate::telemetry::Metrics;

const ENGINE: &str = "periodic";

#[derive(Clone, Debug)]
pub struct PeriodicTopics {
    /// This engine's own topic, where the next link is appended.
    pub periodic_topic: String,
    pub notification_topic: String,
    pub retry_topic: String,
    pub dead_letter_topic: String,
}

pub struct PeriodicEngine {
    /// Seconds; only methods with exactly this period belong to this engine.
    period: i64,
    topics: PeriodicTopics,
    max_message_bytes: usize,
    db: Database,
    dispatcher: Dispatcher,
    publisher: Publisher,
    metrics: Metrics,
    fatal: Fatal,
}

pub enum Job {
    Link(Notification),
    Malformed { record: Record, rejected: Rejected },
}

/// Why a chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopped {
    MethodDeleted,
    PeriodChanged,
    AlarmDeleted,
    StateChanged,
    InvalidType,
}

impl Stopped {
    fn as_str(self) -> &'static str {
        match self {
            Stopped::MethodDeleted => "method_deleted",
            Stopped::PeriodChanged => "period_changed",
            Stopped::AlarmDeleted => "alarm_deleted",
            Stopped::StateChanged => "state_changed",
            Stopped::InvalidType => "invalid_type",
        }
    }
}

impl PeriodicEngine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        period: i64,
        topics: PeriodicTopics,
        max_message_bytes: usize,
        db: Database,
        dispatcher: Dispatcher,
        publisher: Publisher,
        metrics: Metrics,
        fatal: Fatal,
    ) -> PeriodicEngine {
        PeriodicEngine { period, topics, max_message_bytes, db, dispatcher, publisher, metrics, fatal }
    }

    async fn link(&self, notification: Notification, stop: Stop) -> Outcome {
        // A link without a timestamp (never written so by Tocsin or Monasca) is due at once.
        let due = notification.notification_timestamp.unwrap_or(0.0) + self.period as f64;
        {
            let _waiting = self.metrics.waiting(ENGINE);
            if !stored::wait_until(due, &stop.draining).await {
                return Outcome::Abandoned;
            }
        }
        // Checked when the link is due, not when it was read, so a chain whose alarm went OK
        // during the wait sends nothing more.
        let Some(check) = self.keep_sending(notification, &stop).await else { return Outcome::Abandoned };
        let notification = match check {
            Ok(notification) => notification,
            Err((why, alarm_id, method_id)) => {
                tracing::info!(%alarm_id, %method_id, period = self.period, why = why.as_str(), "periodic notifications stop");
                self.metrics.chain_stopped(why.as_str());
                return Outcome::Done;
            }
        };
        let (report, next) = match self.dispatcher.send(notification).await {
            SendOutcome::Sent(n) => (&self.topics.notification_topic, n),
            SendOutcome::Failed(n, _) => (&self.topics.retry_topic, n),
            SendOutcome::InvalidType(n) => {
                tracing::info!(alarm_id = %n.alarm.alarm_id, method_id = %n.method.id, why = Stopped::InvalidType.as_str(), "periodic notifications stop");
                self.metrics.chain_stopped(Stopped::InvalidType.as_str());
                return Outcome::Done;
            }
        };
        // The retry engine counts its retries from 0; the chain's own record keeps 0 as well.
        let next = Notification { retry_count: 0, ..next };
        let (reported, chained) = tokio::join!(
            self.publisher.notification(report, &next, &stop.abort),
            self.publisher.notification(&self.topics.periodic_topic, &next, &stop.abort)
        );
        if reported && chained {
            Outcome::Done
        } else {
            Outcome::Abandoned
        }
    }

    /// Monasca's `_keep_sending` plus its method refresh: the notification with its current
    /// method, or why the chain ends. `None` when stopped while the database was unreachable.
    async fn keep_sending(&self, notification: Notification, stop: &Stop) -> Option<Result<Notification, (Stopped, String, String)>> {
        let alarm_id = notification.alarm.alarm_id.clone();
        let method_id = notification.method.id.clone();
        let ended = |why| Some(Err((why, alarm_id.clone(), method_id.clone())));
        let current = db::until_answered("notification method", &self.metrics, &self.fatal, &stop.abort, || self.db.fetch_method(&method_id)).await?;
        let Some(notification) = stored::refreshed(notification, current) else { return ended(Stopped::MethodDeleted) };
        if notification.method.period != self.period {
            return ended(Stopped::PeriodChanged);
        }
        let state = db::until_answered("alarm state", &self.metrics, &self.fatal, &stop.abort, || self.db.alarm_state(&alarm_id)).await?;
        match state {
            None => ended(Stopped::AlarmDeleted),
            Some(state) if state != notification.alarm.new_state.as_str() => ended(Stopped::StateChanged),
            Some(_) => Some(Ok(notification)),
        }
    }

    async fn malformed(&self, record: Record, rejected: Rejected, stop: Stop) -> Outcome {
        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, error = %rejected, "record of a periodic topic is not a notification; dead-lettering it");
        if !self.publisher.dead_letter(&self.topics.dead_letter_topic, &record, &rejected.reason, &stop.abort).await {
            return Outcome::Abandoned;
        }
        self.metrics.stored_rejected(ENGINE);
        Outcome::Done
    }
}

impl Handler for PeriodicEngine {
    type Job = Job;

    fn prepare(&self, record: Record) -> Job {
        match stored::decode(record.payload.as_deref(), self.max_message_bytes) {
            Ok(notification) => Job::Link(notification),
            Err(rejected) => Job::Malformed { record, rejected },
        }
    }

    /// Chains are independent; links of one topic come due in offset order anyway.
    fn ordering_key(&self, _job: &Job) -> Option<u64> {
        None
    }

    async fn handle(&self, job: Job, stop: Stop) -> Outcome {
        match job {
            Job::Link(notification) => self.link(notification, stop).await,
            Job::Malformed { record, rejected } => self.malformed(record, rejected, stop).await,
        }
    }
}
