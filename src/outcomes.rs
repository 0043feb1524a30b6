//! A transition's notifications sent (`send`) and each outcome published (`publish`): sent → the
//! sent topic, failed → the retry topic, and a periodic method's first attempt → its periodic
//! topic. Shared by the notification engine and the alarm manager, which do this the same way.
//!
//! It returns only when the broker confirmed every record, or reports that it could not (the
//! caller then leaves its record uncommitted); it never decides which notifications to make.

use crate::send::{Outcome as SendOutcome, Sender};
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

pub struct Outcomes {
    topics: Topics,
    sender: Sender,
    publisher: Publisher,
    metrics: Metrics,
}

/// What became of a batch whose records the broker all confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// Notifications the remote ends accepted.
    pub sent: usize,
}

impl Outcomes {
    pub fn new(topics: Topics, sender: Sender, publisher: Publisher, metrics: Metrics) -> Outcomes {
        Outcomes { topics, sender, publisher, metrics }
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Sends the notifications and publishes every outcome; `Err` when cancelled before the
    /// broker confirmed them all.
    pub async fn send_and_publish(&self, notifications: Vec<Notification>, cancel: &CancellationToken) -> Result<Published, Cancelled> {
        self.metrics.notifications_created(notifications.len());
        let outcomes = self.sender.send_all(notifications).await;
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
        Ok(Published { sent })
    }
}
