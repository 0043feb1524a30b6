//! The retry engine (Monasca's `retry_engine.py`): consumes the retry topic, holds each failed
//! notification until its retry is due, refreshes its method from the database, and sends it
//! again. Success goes to the sent topic; a retryable failure goes back to the retry topic with
//! `retry_count + 1` until `max_attempts` retries were made; then, or at once on a permanent
//! error, the notification is dead-lettered, counted and logged.
//!
//! Waiting is a tokio timer per held notification, bounded per partition by the consumer's
//! in-flight window, so memory stays flat and nothing else is blocked. It never drops a
//! notification without a trace: every record ends sent, requeued, dead-lettered, or (method
//! deleted) counted and logged as Monasca does.

mod config;

pub use config::RetryConfig;

use super::stored::{self, loggable_address};
use super::Parts;
use crate::db;
use crate::kafka::{Discard, Handler, KafkaConfig, Record, Rejected, Stop};
use crate::model::Notification;
use crate::publish::{notification_json, ERROR_HEADER, RETRYABLE_HEADER};
use crate::send::Outcome as SendOutcome;
use crate::supervise::Cancelled;
use std::hash::{Hash, Hasher};

const ENGINE: &str = "retry";

pub struct RetryEngine {
    config: RetryConfig,
    /// Where a retry that worked is reported (`[kafka] notification_topic`).
    sent_topic: String,
    /// Where a retry that failed goes back to (`[kafka] notification_retry_topic`).
    retry_topic: String,
    parts: Parts,
}

/// A failed notification read back from the retry topic.
pub struct Job {
    notification: Notification,
    /// Where it came from (topic, partition, offset, key, headers; no payload), for the
    /// dead-letter copy if it is given up.
    source: Record,
}

impl RetryEngine {
    pub fn new(config: &RetryConfig, kafka: &KafkaConfig, parts: &Parts) -> RetryEngine {
        RetryEngine {
            config: config.clone(),
            sent_topic: kafka.notification_topic.clone(),
            retry_topic: kafka.notification_retry_topic.clone(),
            parts: parts.clone(),
        }
    }

    async fn retry(&self, Job { notification, source: record }: Job, stop: Stop) -> Result<(), Cancelled> {
        if record.header(RETRYABLE_HEADER) == Some("false") {
            let error = record.header(ERROR_HEADER).unwrap_or("unknown error").to_owned();
            let (kind, name, address) = (notification.method.kind.clone(), notification.method.name.clone().unwrap_or_default(), loggable_address(notification.address()));
            tracing::error!(r#type = %kind, name = %name, address = %address, error = %error, "notification for {kind} with name {name} at {address} failed with a permanent error.  Not retrying.");
            return self.give_up(&record, notification, "permanent", &format!("permanent error: {error}"), &stop).await;
        }
        let spread = if self.config.jitter > 0.0 { rand::random::<f64>() * 2.0 - 1.0 } else { 0.0 };
        let last_attempt = notification.notification_timestamp.unwrap_or_else(crate::clock::unix_secs);
        let due = last_attempt + self.config.delay(notification.retry_count, spread).as_secs_f64();
        {
            let _waiting = self.parts.metrics.waiting(ENGINE);
            stored::wait_until(due, &stop.draining).await?;
        }
        let (id, kind, alarm) = (notification.method.id.clone(), notification.method.kind.clone(), notification.alarm.clone());
        let current = db::until_answered("notification method", &self.parts.metrics, &self.parts.fatal, &stop.abort, || self.parts.db.fetch_method(&id)).await?;
        let Some(notification) = stored::refreshed(notification, current) else {
            tracing::info!(method_id = %id, "Notification method {id} was deleted from database. Will stop sending.");
            self.parts.metrics.retry_given_up(&kind, "method_deleted");
            let reason = format!("notification method {id} was deleted; retries stopped");
            return self.parts.history.skipped(&alarm, &reason, &stop.abort).await;
        };
        match self.parts.sender.send(notification).await {
            SendOutcome::Sent(n) => self.parts.publisher.retried_notification(&self.sent_topic, &n, &stop.abort).await,
            SendOutcome::InvalidType(n) => {
                let reason = format!("type {} has no enabled plugin", n.method.kind);
                self.give_up(&record, n, "invalid_type", &reason, &stop).await
            }
            SendOutcome::Failed(mut n, error) if error.deferred => {
                // The receiver's pause outlasted a send's patience: back to the topic, due a
                // retry interval from now, the attempt not counted.
                n.notification_timestamp = Some(crate::clock::unix_secs());
                self.parts.metrics.retry_requeued(&kind);
                self.parts.publisher.failed_notification(&self.retry_topic, &n, &error, &stop.abort).await
            }
            SendOutcome::Failed(mut n, error) => {
                n.retry_count = n.retry_count.saturating_add(1);
                let (kind, name, address) = (n.method.kind.clone(), n.method.name.clone().unwrap_or_default(), loggable_address(n.address()));
                if !error.retryable {
                    tracing::error!(r#type = %kind, name = %name, address = %address, error = %error, "retry failed for {kind} with name {name} at {address} with a permanent error.  Giving up on retry.");
                    let reason = format!("permanent error: {error}");
                    self.give_up(&record, n, "permanent", &reason, &stop).await
                } else if n.retry_count < self.config.max_attempts {
                    tracing::error!(r#type = %kind, name = %name, address = %address, retry_count = n.retry_count, "retry failed for {kind} with name {name} at {address}.  Saving for later retry.");
                    self.parts.metrics.retry_requeued(&kind);
                    self.parts.publisher.failed_notification(&self.retry_topic, &n, &error, &stop.abort).await
                } else {
                    let attempts = self.config.max_attempts;
                    tracing::error!(r#type = %kind, name = %name, address = %address, error = %error, "retry failed for {kind} with name {name} at {address} after {attempts} retries.  Giving up on retry.");
                    let reason = format!("gave up after {attempts} retries: {error}");
                    self.give_up(&record, n, "max_attempts", &reason, &stop).await
                }
            }
        }
    }

    /// Keeps the notification, as it stands after its last attempt, on the dead-letter topic.
    async fn give_up(&self, source: &Record, notification: Notification, why: &'static str, reason: &str, stop: &Stop) -> Result<(), Cancelled> {
        let kept = Record { payload: Some(notification_json(&notification).into_bytes()), ..source.clone() };
        self.parts.publisher.dead_letter(&self.config.dead_letter_topic, &kept, reason, &stop.abort).await?;
        self.parts.metrics.retry_given_up(&notification.method.kind, why);
        Ok(())
    }
}

impl Handler for RetryEngine {
    type Job = Job;
    const INPUT: &'static str = "Notification";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        let notification = stored::decode(record.payload.as_deref(), self.parts.max_message_bytes)?;
        Ok(Job { notification, source: Record { payload: None, ..record.clone() } })
    }

    /// Retries of one alarm stay in order, so a late ALARM retry cannot overtake its OK.
    fn ordering_key(&self, job: &Job) -> Option<u64> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        job.notification.alarm.alarm_id.hash(&mut hasher);
        Some(hasher.finish())
    }

    async fn handle(&self, job: Job, stop: Stop) -> Result<(), Cancelled> {
        self.retry(job, stop).await
    }

    fn dead_lettered(&self, _record: &Record, _discard: &Discard) {
        self.parts.metrics.stored_rejected(ENGINE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(multiplier: f64, jitter: f64) -> RetryConfig {
        RetryConfig {
            enabled: true,
            group: "g".into(),
            interval: Duration::from_secs(30),
            max_attempts: 5,
            backoff_multiplier: multiplier,
            max_interval: Duration::from_secs(300),
            jitter,
            dead_letter_topic: "d".into(),
            max_waiting_per_partition: 1,
        }
    }

    #[test]
    fn monascas_defaults_give_a_fixed_interval() {
        let p = policy(1.0, 0.0);
        for retry_count in 0..10 {
            assert_eq!(p.delay(retry_count, 0.7), Duration::from_secs(30));
        }
    }

    #[test]
    fn exponential_backoff_is_capped_and_jitter_spreads_it() {
        let p = policy(2.0, 0.0);
        let delays: Vec<u64> = (0..6).map(|n| p.delay(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300]);
        let p = policy(2.0, 0.5);
        assert_eq!(p.delay(1, -1.0), Duration::from_secs(30));
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(90));
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(60));
    }
}
