//! The send step: one notification through its plugin, bounded by the plugin's timeout and by
//! one limit on sends in progress for the whole process, stamped with its attempt time, counted
//! and logged. It decides nothing about what happens to a failure; that is the caller's
//! (`outcomes` publishes it to the retry topic, the retry engine requeues or gives up).

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
}

impl Sender {
    pub fn new(plugins: Registry, metrics: Metrics, max_concurrent_sends: usize) -> Sender {
        Sender { plugins, metrics, permits: Arc::new(Semaphore::new(max_concurrent_sends)) }
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
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        notification.notification_timestamp = Some(crate::clock::unix_secs());
        let started = Instant::now();
        let timeout = plugin.timeout();
        let result = match tokio::time::timeout(timeout, plugin.send(&notification)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::new(Reason::Timeout, format!("no answer within {timeout:?}"))),
        };
        let took = started.elapsed();
        match result {
            Ok(receipt) => {
                self.metrics.notification_sent(plugin.kind(), plugin.statsd_name(), took);
                tracing::debug!(r#type = plugin.kind(), method_id = %notification.method.id, alarm_id = %notification.alarm.alarm_id, answer = %receipt.answer, "notification sent");
                Outcome::Sent(notification)
            }
            Err(error) => {
                self.metrics.notification_failed(plugin.kind(), error.reason.as_str(), took);
                tracing::warn!(
                    r#type = plugin.kind(),
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
    }
}
