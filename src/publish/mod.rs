//! What Tocsin writes to Kafka: the notification JSON of monasca-notification
//! (`docs/compatibility.md`, Notification JSON) on the sent, retry and periodic topics, and malformed alarm messages on the
//! dead-letter topic with headers saying where they came from and why they were rejected.
//!
//! Every publish waits for the broker's confirmation and, on failure, tries again with backoff
//! until it succeeds or the caller's work is cancelled: a record is never given up silently, and
//! the offset that caused it is committed only after it returns `Ok`. While records wait for a
//! confirmation that does not come, [`Publisher::unconfirmed`] names their topics (`/healthz`).

use crate::backoff::{self, Backoff};
use crate::kafka::producer::Placement;
use crate::kafka::{DeadLetters, Producer, Record};
use crate::supervise::Cancelled;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use crate::model::Notification;
use crate::plugins::SendError;
use crate::pyjson;
use crate::telemetry::Metrics;
use rdkafka::message::{Header, OwnedHeaders};
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Header naming why a record was dead-lettered or a send failed.
pub const ERROR_HEADER: &str = "tocsin.error";
/// Header on retry records: `false` when the failure was permanent.
pub const RETRYABLE_HEADER: &str = "tocsin.error.retryable";
/// Header on a sent record the retry engine wrote: which attempt succeeded (2 for the first
/// retry). The JSON's `retry_count` cannot say, as Monasca leaves it unchanged on success.
pub const ATTEMPT_HEADER: &str = "tocsin.attempt";

#[derive(Clone)]
pub struct Publisher {
    producer: Producer,
    metrics: Metrics,
    /// Records being retried because the broker did not confirm them, by topic.
    unconfirmed: Arc<Mutex<BTreeMap<String, usize>>>,
}

/// How a publish the broker did not confirm is retried.
const PUBLISH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

impl Publisher {
    pub fn new(producer: Producer, metrics: Metrics) -> Publisher {
        Publisher { producer, metrics, unconfirmed: Arc::default() }
    }

    /// Topics with records the broker has not confirmed yet (and how many), while their
    /// publishes are being retried. Empty when everything is confirmed.
    pub fn unconfirmed(&self) -> Vec<(String, usize)> {
        self.unconfirmed.lock().expect("lock poisoned").iter().map(|(topic, n)| (topic.clone(), *n)).collect()
    }

    /// Publishes a notification's JSON, keyed by alarm id.
    pub async fn notification(&self, topic: &str, notification: &Notification, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let payload = notification_json(notification);
        self.until_confirmed(topic, Some(notification.alarm.alarm_id.as_bytes()), payload.as_bytes(), None, cancel)
            .await
    }

    /// Publishes a notification a retry delivered, naming the attempt (`tocsin.attempt`).
    pub async fn retried_notification(&self, topic: &str, notification: &Notification, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let payload = notification_json(notification);
        let attempt = (notification.retry_count + 2).to_string();
        let headers = OwnedHeaders::new().insert(Header { key: ATTEMPT_HEADER, value: Some(&attempt) });
        self.until_confirmed(topic, Some(notification.alarm.alarm_id.as_bytes()), payload.as_bytes(), Some(headers), cancel).await
    }

    /// Publishes a notification whose send failed to the retry topic, with the error in headers
    /// (`tocsin.error`, `tocsin.error.retryable`) so the retry engine skips retries a permanent
    /// error would make pointless. The value is the same JSON Monasca writes.
    pub async fn failed_notification(&self, topic: &str, notification: &Notification, error: &SendError, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let payload = notification_json(notification);
        let detail = error.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: ERROR_HEADER, value: Some(&detail) })
            .insert(Header { key: RETRYABLE_HEADER, value: Some(if error.retryable { "true" } else { "false" }) });
        self.until_confirmed(topic, Some(notification.alarm.alarm_id.as_bytes()), payload.as_bytes(), Some(headers), cancel)
            .await
    }

    /// Publishes bytes as they are, placed as asked (a transition handed to the alarm manager,
    /// stamped with its own record's time; the manager's inhibition sources, on one partition).
    pub async fn raw(&self, topic: &str, key: &[u8], payload: &[u8], placement: Placement, cancel: &CancellationToken) -> Result<(), Cancelled> {
        self.until_confirmed_placed(topic, Some(key), payload, None, placement, cancel).await
    }

    /// Copies a rejected record, bytes unchanged, to the dead-letter topic.
    pub async fn dead_letter(&self, topic: &str, record: &Record, reason: &str, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let headers = OwnedHeaders::new()
            .insert(Header { key: ERROR_HEADER, value: Some(reason) })
            .insert(Header { key: "tocsin.source.topic", value: Some(&*record.topic) })
            .insert(Header { key: "tocsin.source.partition", value: Some(&record.partition.to_string()) })
            .insert(Header { key: "tocsin.source.offset", value: Some(&record.offset.to_string()) });
        let payload = record.payload.as_deref().unwrap_or_default();
        self.until_confirmed(topic, record.key.as_deref(), payload, Some(headers), cancel).await
    }

    async fn until_confirmed(&self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: Option<OwnedHeaders>, cancel: &CancellationToken) -> Result<(), Cancelled> {
        self.until_confirmed_placed(topic, key, payload, headers, Placement::default(), cancel).await
    }

    async fn until_confirmed_placed(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
        placement: Placement,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let mut waiting: Option<UnconfirmedGuard> = None;
        let mut last_error: Option<String> = None;
        let send = || self.producer.send_placed(topic, key, payload, headers.clone(), placement);
        backoff::retry(PUBLISH_BACKOFF, cancel, send, |error, retry_in| {
            self.metrics.publish_error(topic);
            waiting.get_or_insert_with(|| UnconfirmedGuard::enter(&self.unconfirmed, topic, &self.metrics));
            let text = error.to_string();
            if last_error.as_ref() != Some(&text) {
                tracing::warn!(topic, error = %text, ?retry_in, "publish not confirmed; retrying until it is");
                last_error = Some(text);
            }
        })
        .await
    }
}

impl DeadLetters for Publisher {
    fn keep<'a>(&'a self, topic: &'a str, record: &'a Record, reason: &'a str, cancel: &'a CancellationToken) -> BoxFuture<'a, Result<(), Cancelled>> {
        Box::pin(self.dead_letter(topic, record, reason, cancel))
    }
}

/// Counts one record of a topic as unconfirmed for as long as it lives.
struct UnconfirmedGuard {
    topics: Arc<Mutex<BTreeMap<String, usize>>>,
    topic: String,
    _gauge: crate::telemetry::WaitingGuard,
}

impl UnconfirmedGuard {
    fn enter(topics: &Arc<Mutex<BTreeMap<String, usize>>>, topic: &str, metrics: &Metrics) -> UnconfirmedGuard {
        *topics.lock().expect("lock poisoned").entry(topic.to_owned()).or_default() += 1;
        UnconfirmedGuard { topics: topics.clone(), topic: topic.to_owned(), _gauge: metrics.unconfirmed(topic) }
    }
}

impl Drop for UnconfirmedGuard {
    fn drop(&mut self) {
        let mut topics = self.topics.lock().expect("lock poisoned");
        if let Some(count) = topics.get_mut(&self.topic) {
            *count -= 1;
            if *count == 0 {
                topics.remove(&self.topic);
            }
        }
    }
}

/// monasca-notification's `Notification.to_json()`: its keys, in its order, as Python's
/// `json.dumps` writes them. `metrics` is only inside `raw_alarm`.
pub fn notification_json(n: &Notification) -> String {
    let alarm = &n.alarm;
    pyjson::to_string(&NotificationRecord {
        id: &n.method.id,
        kind: &n.method.kind,
        name: n.method.name.as_deref(),
        address: n.method.address.as_deref(),
        retry_count: n.retry_count,
        raw_alarm: alarm.raw.object(),
        alarm_id: alarm.raw_field("alarmId"),
        alarm_name: alarm.raw_field("alarmName"),
        alarm_timestamp: alarm.timestamp_secs(),
        message: alarm.raw_field("stateChangeReason"),
        notification_timestamp: n.notification_timestamp,
        state: alarm.raw_field("newState"),
        severity: alarm.raw_field("severity"),
        link: alarm.raw_field("link"),
        lifecycle_state: alarm.raw_field("lifecycleState"),
        tenant_id: alarm.raw_field("tenantId"),
        period: n.method.period,
    })
}

/// The record borrows from the notification: nothing of the alarm is copied to serialize it.
/// Field order is the wire order.
#[derive(Serialize)]
struct NotificationRecord<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    name: Option<&'a str>,
    address: Option<&'a str>,
    retry_count: u32,
    raw_alarm: &'a Map<String, Value>,
    alarm_id: &'a Value,
    alarm_name: &'a Value,
    alarm_timestamp: i64,
    message: &'a Value,
    notification_timestamp: Option<f64>,
    state: &'a Value,
    severity: &'a Value,
    link: &'a Value,
    lifecycle_state: &'a Value,
    tenant_id: &'a Value,
    period: i64,
}

#[cfg(test)]
mod tests;
