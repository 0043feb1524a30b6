//! The notification history: what became of every notification and transition, per tenant, so
//! an operator can ask what was sent, to whom, what failed and why, and what was muted by which
//! rule.
//!
//! Outcomes come from the records the engines write anyway (the sent, retry and given-up topics
//! hold the notification JSON) and, for outcomes that leave no such record (a transition skipped,
//! silenced or inhibited, the members a grouped notice listed), from small [`Event`]s the
//! engines publish to the history topic through the [`Recorder`]. The history engine
//! (`engines::history`) turns both into [`Entry`] rows and writes them in batches ([`store`]).
//!
//! Nothing here may hold up a notification: the recorder only publishes (confirmed, like every
//! record, so a committed transition's history is never lost), and the rows are written by a
//! consumer of its own.

pub mod config;
pub mod store;

use crate::engines::manager::state::{GroupNotice, Suppression};
use crate::engines::stored::{self, loggable_address};
use crate::ingest::Rejected;
use crate::kafka::Record;
use crate::model::{AlarmTransition, Notification};
use crate::publish::{Publisher, ATTEMPT_HEADER, ERROR_HEADER};
use crate::supervise::Cancelled;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use config::HistoryConfig;

/// What became of a notification or a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The receiver accepted it.
    Sent,
    /// The attempt failed; the notification was handed to the retry topic.
    Failed,
    /// The retry engine gave up (permanent error, too many attempts, unknown type).
    GivenUp,
    /// Not sent at all: actions disabled, or older than the TTL.
    Skipped,
    /// A silence rule suppressed the transition's notifications.
    Silenced,
    /// An inhibit rule suppressed them while a source alarm fired.
    Inhibited,
    /// The transition was listed in a group rule's grouped notice.
    Grouped,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [Outcome::Sent, Outcome::Failed, Outcome::GivenUp, Outcome::Skipped, Outcome::Silenced, Outcome::Inhibited, Outcome::Grouped];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::GivenUp => "given_up",
            Outcome::Skipped => "skipped",
            Outcome::Silenced => "silenced",
            Outcome::Inhibited => "inhibited",
            Outcome::Grouped => "grouped",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Whether the transition's own notifications were muted by a rule.
    pub fn is_muting(self) -> bool {
        matches!(self, Outcome::Silenced | Outcome::Inhibited)
    }
}

/// The method a notification went to, as the history shows it (URLs without credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodRef {
    pub id: String,
    pub name: Option<String>,
    pub kind: String,
    pub address: Option<String>,
}

/// One row of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Where it was read: `topic/partition/offset`, plus `/n` for the n-th member of a notice.
    /// Unique, so that reading a record twice writes its rows once.
    pub source: String,
    pub tenant_id: String,
    /// When the outcome happened, in Unix milliseconds.
    pub time_ms: i64,
    pub outcome: Outcome,
    pub alarm_id: String,
    pub alarm_name: String,
    pub alarm_definition_id: String,
    pub state: String,
    pub alarm_timestamp_ms: i64,
    pub method: Option<MethodRef>,
    /// 1 for the first send, n + 1 after n retries.
    pub attempt: Option<u32>,
    /// The error, or why it was skipped or given up.
    pub reason: Option<String>,
    pub rule_id: Option<String>,
    pub source_alarm_id: Option<String>,
    /// The grouped notice's name (`group_notification_…`).
    pub notice: Option<String>,
    /// The transition's object as received, kept for the newest entry of each alarm (the
    /// "known alarms" a silence preview looks at). `None` for grouped notices and members.
    pub alarm_json: Option<String>,
}

/// Which topic a record came from, for [`entries_of`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The sent topic: notification JSON, delivered.
    Sent,
    /// The retry topic: notification JSON whose last attempt failed.
    Retry,
    /// The retry engine's dead-letter topic: notification JSON given up.
    GivenUp,
    /// The history topic: [`Event`]s.
    Events,
}

/// The rows one record makes. A record that is not what its topic holds is `Rejected`.
pub fn entries_of(feed: Feed, record: &Record, max_bytes: usize) -> Result<Vec<Entry>, Rejected> {
    let source = format!("{}/{}/{}", record.topic, record.partition, record.offset);
    let time_ms = record.timestamp_ms.unwrap_or_else(crate::clock::unix_ms);
    if feed == Feed::Events {
        let bytes = record.payload.as_deref().ok_or_else(|| Rejected::new("record has no value"))?;
        if bytes.len() > max_bytes {
            return Err(Rejected::new(format!("record of {} bytes exceeds the limit of {max_bytes} bytes", bytes.len())));
        }
        let event: Event = serde_json::from_slice(bytes).map_err(|e| Rejected::new(format!("not a history event: {e}")))?;
        return event.entries(&source);
    }
    let bytes = record.payload.as_deref().unwrap_or_default();
    if bytes.len() <= max_bytes {
        if let Some(entry) = view::entry(feed, source.clone(), time_ms, bytes, record) {
            return Ok(vec![entry]);
        }
    }
    // Anything the borrowed view does not take is decoded as the retry engine decodes it, which
    // says what is wrong with a record that is not a notification.
    let notification = stored::decode(record.payload.as_deref(), max_bytes)?;
    let (outcome, attempt, reason) = feed_outcome(feed, notification.retry_count, record);
    Ok(vec![notification_entry(source, time_ms, outcome, attempt, reason, &notification)])
}

/// What a record of `feed` says happened, and at which attempt.
fn feed_outcome(feed: Feed, retry_count: u32, record: &Record) -> (Outcome, u32, Option<String>) {
    match feed {
        Feed::Sent => {
            let attempt = record.header(ATTEMPT_HEADER).and_then(|a| a.parse().ok()).unwrap_or(retry_count.saturating_add(1));
            (Outcome::Sent, attempt, None)
        }
        // A failed attempt is published with the count of retries before it (0 for the first
        // send), so attempt = count + 1; a success after retries names its attempt in a header.
        Feed::Retry => (Outcome::Failed, retry_count.saturating_add(1), record.header(ERROR_HEADER).map(str::to_owned)),
        Feed::GivenUp => (Outcome::GivenUp, retry_count.saturating_add(1), record.header(ERROR_HEADER).map(str::to_owned)),
        Feed::Events => unreachable!("events are decoded as events"),
    }
}

fn notification_entry(source: String, time_ms: i64, outcome: Outcome, attempt: u32, reason: Option<String>, n: &Notification) -> Entry {
    let alarm = &n.alarm;
    let notice = alarm.raw.get("groupRule").is_some().then(|| alarm.alarm_name.clone());
    Entry {
        source,
        tenant_id: alarm.tenant_id.clone(),
        time_ms,
        outcome,
        alarm_id: alarm.alarm_id.clone(),
        alarm_name: alarm.alarm_name.clone(),
        alarm_definition_id: alarm.alarm_definition_id.clone(),
        state: alarm.new_state.as_str().to_owned(),
        alarm_timestamp_ms: alarm.timestamp_ms as i64,
        method: Some(MethodRef {
            id: n.method.id.clone(),
            name: n.method.name.clone(),
            kind: n.method.kind.clone(),
            address: n.method.address.as_deref().map(loggable_address),
        }),
        attempt: Some(attempt),
        reason,
        rule_id: None,
        source_alarm_id: None,
        // A notice's own record is not an alarm anyone can silence.
        alarm_json: if notice.is_some() { None } else { Some(alarm.raw.to_json().into_owned()) },
        notice,
    }
}

/// An outcome that leaves no notification record, as published on the history topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub outcome: Outcome,
    pub time_ms: i64,
    pub tenant_id: String,
    /// Skipped, silenced, inhibited: the transition's object as received (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_alarm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Grouped: the members the notice listed (a large notice is split over several events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<EventMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventMember {
    pub alarm_id: String,
    pub alarm_name: String,
    pub alarm_definition_id: String,
    pub state: String,
    pub timestamp_ms: i64,
}

/// Members per grouped event: a notice of 100,000 members becomes 100 records well under the
/// broker's message size.
const MEMBERS_PER_EVENT: usize = 1000;

impl Event {
    fn entries(self, source: &str) -> Result<Vec<Entry>, Rejected> {
        if self.outcome == Outcome::Grouped {
            let notice = self.notice.ok_or_else(|| Rejected::new("a grouped event names its notice"))?;
            return Ok(self
                .members
                .into_iter()
                .enumerate()
                .map(|(n, m)| Entry {
                    source: format!("{source}/{n}"),
                    tenant_id: self.tenant_id.clone(),
                    time_ms: self.time_ms,
                    outcome: Outcome::Grouped,
                    alarm_id: m.alarm_id,
                    alarm_name: m.alarm_name,
                    alarm_definition_id: m.alarm_definition_id,
                    state: m.state,
                    alarm_timestamp_ms: m.timestamp_ms,
                    method: None,
                    attempt: None,
                    reason: None,
                    rule_id: self.rule_id.clone(),
                    source_alarm_id: None,
                    notice: Some(notice.clone()),
                    alarm_json: None,
                })
                .collect());
        }
        let text = self.alarm.ok_or_else(|| Rejected::new(format!("a {} event carries its alarm", self.outcome.as_str())))?;
        let alarm = crate::ingest::decode_object(&text).map_err(|e| Rejected::new(format!("alarm: {}", e.reason)))?;
        Ok(vec![Entry {
            source: source.to_owned(),
            tenant_id: alarm.tenant_id.clone(),
            time_ms: self.time_ms,
            outcome: self.outcome,
            alarm_id: alarm.alarm_id.clone(),
            alarm_name: alarm.alarm_name.clone(),
            alarm_definition_id: alarm.alarm_definition_id.clone(),
            state: alarm.new_state.as_str().to_owned(),
            alarm_timestamp_ms: alarm.timestamp_ms as i64,
            method: None,
            attempt: None,
            reason: self.reason,
            rule_id: self.rule_id,
            source_alarm_id: self.source_alarm_id,
            notice: None,
            alarm_json: Some(text),
        }])
    }
}

/// Publishes the [`Event`]s of outcomes that leave no notification record. Disabled (a no-op)
/// when `[history] enabled = false`.
#[derive(Clone)]
pub struct Recorder {
    topic: Option<String>,
    publisher: Publisher,
}

impl Recorder {
    pub fn new(topic: Option<String>, publisher: Publisher) -> Recorder {
        Recorder { topic, publisher }
    }

    /// Whether events are recorded (`[history] enabled`).
    pub fn is_enabled(&self) -> bool {
        self.topic.is_some()
    }

    /// A transition that was not sent (`reason`: actions disabled, older than the TTL).
    pub async fn skipped(&self, alarm: &AlarmTransition, reason: &str, cancel: &CancellationToken) -> Result<(), Cancelled> {
        self.transition(Outcome::Skipped, alarm, Some(reason.to_owned()), None, None, cancel).await
    }

    pub async fn suppressed(&self, alarm: &AlarmTransition, by: &Suppression, cancel: &CancellationToken) -> Result<(), Cancelled> {
        match by {
            Suppression::Silence { rule_id } => self.transition(Outcome::Silenced, alarm, None, Some(rule_id.clone()), None, cancel).await,
            Suppression::Inhibit { rule_id, source_alarm_id } => {
                self.transition(Outcome::Inhibited, alarm, None, Some(rule_id.clone()), Some(source_alarm_id.clone()), cancel).await
            }
        }
    }

    /// The members a grouped notice listed.
    pub async fn grouped(&self, notice: &GroupNotice, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let Some(topic) = &self.topic else { return Ok(()) };
        let time_ms = crate::clock::unix_ms();
        for chunk in notice.members.chunks(MEMBERS_PER_EVENT) {
            let event = Event {
                outcome: Outcome::Grouped,
                time_ms,
                tenant_id: notice.tenant_id.clone(),
                alarm: None,
                reason: None,
                rule_id: Some(notice.rule_id.clone()),
                source_alarm_id: None,
                notice: Some(notice.name.clone()),
                members: chunk
                    .iter()
                    .map(|m| EventMember {
                        alarm_id: m.alarm_id.to_string(),
                        alarm_name: m.alarm_name.to_string(),
                        alarm_definition_id: m.alarm_definition_id.to_string(),
                        state: m.state.as_str().to_owned(),
                        timestamp_ms: m.timestamp_ms as i64,
                    })
                    .collect(),
            };
            self.publish(topic, &notice.tenant_id, &event, cancel).await?;
        }
        Ok(())
    }

    async fn transition(
        &self,
        outcome: Outcome,
        alarm: &AlarmTransition,
        reason: Option<String>,
        rule_id: Option<String>,
        source_alarm_id: Option<String>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let Some(topic) = &self.topic else { return Ok(()) };
        let event = Event {
            outcome,
            time_ms: crate::clock::unix_ms(),
            tenant_id: alarm.tenant_id.clone(),
            alarm: Some(alarm.raw.to_json().into_owned()),
            reason,
            rule_id,
            source_alarm_id,
            notice: None,
            members: Vec::new(),
        };
        self.publish(topic, &alarm.alarm_id, &event, cancel).await
    }

    async fn publish(&self, topic: &str, key: &str, event: &Event, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let payload = serde_json::to_vec(event).expect("an event serializes");
        self.publisher.raw(topic, key.as_bytes(), &payload, Default::default(), cancel).await
    }
}

mod view;

#[cfg(test)]
mod tests;
