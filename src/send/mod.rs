//! The send step: one notification through its plugin, bounded by the plugin's timeout, by the
//! concurrency its destination has shown it can take ([`adaptive`]) and by one limit on sends in
//! progress for the whole process, stamped with its attempt time, counted and logged. It decides
//! nothing about what happens to a failure; that is the caller's (`outcomes` publishes it to
//! the retry topic, the retry engine requeues or gives up).

pub mod adaptive;

use crate::model::Notification;
use crate::plugins::{Reason, Registry, SendError};
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The result of one send.
#[derive(Debug)]
pub enum Outcome {
    Sent(Notification),
    Failed(Notification, SendError),
    /// No enabled plugin serves the notification's type; Monasca counts and drops these.
    InvalidType(Notification),
}

#[derive(Clone)]
pub struct Sender {
    plugins: Registry,
    metrics: Metrics,
    /// Bounds sends in progress. Without it a backlog opens one connection per in-flight
    /// notification and the receiver drowns in connection set-ups (measured in BENCHMARKS.md).
    permits: Arc<Semaphore>,
    /// Each destination's own bound, learned from its answers.
    destinations: Arc<adaptive::Limiters>,
}

impl Sender {
    pub fn new(plugins: Registry, metrics: Metrics, max_concurrent_sends: usize, per_destination: adaptive::Settings) -> Sender {
        Sender {
            plugins,
            metrics,
            permits: Arc::new(Semaphore::new(max_concurrent_sends)),
            destinations: Arc::new(adaptive::Limiters::new(per_destination)),
        }
    }

    /// Sends every notification concurrently; outcomes come back in input order.
    pub async fn send_all(&self, notifications: Vec<Notification>) -> Vec<Outcome> {
        futures::future::join_all(notifications.into_iter().map(|n| self.send(n))).await
    }

    pub async fn send(&self, mut notification: Notification) -> Outcome {
        let Some(plugin) = self.plugins.get(&notification.method.kind) else {
            self.metrics.notification_invalid_type();
            tracing::warn!(
                r#type = %notification.method.kind,
                method_id = %notification.method.id,
                alarm_id = %notification.alarm.alarm_id,
                "attempting to send unconfigured notification: {}", notification.method.kind
            );
            return Outcome::InvalidType(notification);
        };
        let timeout = plugin.timeout();
        let destination = self.destinations.get(plugin.destination(&notification));
        let mut slot = match destination.acquire(timeout).await {
            Ok(slot) => slot,
            Err(busy) => {
                let wait = busy.until.saturating_duration_since(tokio::time::Instant::now());
                // The destination may be a URL with a secret in it (Slack's): not named here.
                let detail = format!("not sent: the receiver asked not to be sent to for another {}s (Retry-After)", wait.as_secs());
                let error = SendError { deferred: true, ..SendError::new(Reason::RateLimited, detail) };
                return self.failed(plugin.kind(), notification, error, std::time::Duration::ZERO);
            }
        };
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        slot.begin();
        notification.notification_timestamp = Some(crate::clock::unix_secs());
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, plugin.send(&notification)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::new(Reason::Timeout, format!("no answer within {timeout:?}"))),
        };
        let took = started.elapsed();
        slot.finish(match &result {
            Ok(_) => adaptive::Signal::Answered,
            Err(error) if error.overloaded => adaptive::Signal::Overloaded { retry_after: error.retry_after },
            Err(error) if error.reason == Reason::Invalid => adaptive::Signal::NotSent,
            Err(_) => adaptive::Signal::Answered,
        });
        match result {
            Ok(receipt) => {
                self.metrics.notification_sent(plugin.kind(), plugin.statsd_name(), took);
                tracing::debug!(r#type = plugin.kind(), method_id = %notification.method.id, alarm_id = %notification.alarm.alarm_id, answer = %receipt.answer, "notification sent");
                Outcome::Sent(notification)
            }
            Err(error) => self.failed(plugin.kind(), notification, error, took),
        }
    }

    fn failed(&self, kind: &'static str, notification: Notification, error: SendError, took: std::time::Duration) -> Outcome {
        self.metrics.notification_failed(kind, error.reason.as_str(), took);
        tracing::warn!(
            r#type = kind,
            method_id = %notification.method.id,
            alarm_id = %notification.alarm.alarm_id,
            reason = error.reason.as_str(),
            retryable = error.retryable,
            error = %error.detail,
            "notification send failed"
        );
        Outcome::Failed(notification, error)
    }
}
