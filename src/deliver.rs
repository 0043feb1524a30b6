//! Delivery: sends a transition's notifications through their plugins (`dispatch`) and
//! publishes each outcome (`publish`): sent → the sent topic, failed → the retry topic, and a
//! periodic method's first attempt → its periodic topic. Shared by the notification engine and
//! the alarm manager, which deliver the same way.
//!
//! It returns only when the broker confirmed every record, or reports that it could not (the
//! caller then leaves its record uncommitted); it never decides which notifications to make.

use crate::dispatch::{Dispatcher, Outcome as SendOutcome};
use crate::model::Notification;
use crate::publish::Publisher;
use crate::supervise::Cancelled;
use crate::telemetry::Metrics;
use tokio_util::sync::CancellationToken;

/// The topics notifications go to.
#[derive(Clone, Debug)]
pub struct Topics {
    pub notification_topic: String,
    pub retry_topic: String,
    /// Period in seconds → topic of its periodic engine (`[kafka] periodic`).
    pub periodic_topics: Vec<(i64, String)>,
}

pub struct Delivery {
    topics: Topics,
    dispatcher: Dispatcher,
    publisher: Publisher,
    metrics: Metrics,
}

/// What became of a batch whose records the broker all confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Notifications the remote ends accepted.
    pub sent: usize,
}

impl Delivery {
    pub fn new(topics: Topics, dispatcher: Dispatcher, publisher: Publisher, metrics: Metrics) -> Delivery {
        Delivery { topics, dispatcher, publisher, metrics }
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Sends the notifications and publishes every outcome; `Err` when cancelled before the
    /// broker confirmed them all.
    pub async fn deliver(&self, notifications: Vec<Notification>, cancel: &CancellationToken) -> Result<Delivered, Cancelled> {
        self.metrics.notifications_created(notifications.len());
        let outcomes = self.dispatcher.send_all(notifications).await;
        let mut publishes = Vec::with_capacity(outcomes.len());
        let mut sent = 0;
        for outcome in &outcomes {
            let (topic, n, error) = match outcome {
                SendOutcome::Sent(n) => {
                    sent += 1;
                    (&self.topics.notification_topic, n, None)
                }
                SendOutcome::Failed(n, error) => (&self.topics.retry_topic, n, Some(error)),
                SendOutcome::InvalidType(_) => continue,
            };
            publishes.push((topic, n, error));
            // A chain starts after a first attempt with a plugin, whatever its result (a
            // failure is retried separately); Monasca also started chains for invalid types.
            if let Some((_, periodic)) = self.topics.periodic_topics.iter().find(|(period, _)| *period == n.method.period) {
                publishes.push((periodic, n, None));
            }
        }
        futures::future::try_join_all(publishes.into_iter().map(|(topic, n, error)| async move {
            match error {
                Some(error) => self.publisher.failed_notification(topic, n, error, cancel).await,
                None => self.publisher.notification(topic, n, cancel).await,
            }
        }))
        .await?;
        Ok(Delivered { sent })
    }
}
