//! The fields of a notification record the history keeps, read by borrowing from the record's
//! text: no `serde_json::Value` is built and the transition's object is kept as the text
//! received. A record this view does not take (a duplicate key, an unexpected type) goes to the
//! full decoder, which rejects what is not a notification with its reason; so this is only ever
//! faster, never more lenient. Measured in BENCHMARKS.md (history).

use super::{feed_outcome, Entry, Feed, MethodRef};
use crate::engines::stored::loggable_address;
use crate::kafka::Record;
use crate::model::AlarmState;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

#[derive(Deserialize)]
struct NotificationView<'a> {
    id: Value,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    address: Option<Cow<'a, str>>,
    retry_count: u32,
    #[serde(borrow)]
    raw_alarm: &'a RawValue,
}

#[derive(Deserialize)]
struct AlarmView<'a> {
    #[serde(rename = "tenantId", borrow)]
    tenant_id: Cow<'a, str>,
    #[serde(rename = "alarmId", borrow)]
    alarm_id: Cow<'a, str>,
    #[serde(rename = "alarmDefinitionId")]
    alarm_definition_id: Value,
    #[serde(rename = "alarmName", borrow)]
    alarm_name: Cow<'a, str>,
    #[serde(rename = "newState", borrow)]
    new_state: Cow<'a, str>,
    timestamp: f64,
    #[serde(rename = "groupRule", default)]
    group_rule: Option<serde::de::IgnoredAny>,
}

/// An identifier as the full decoder accepts it: a non-empty string or a whole number.
fn identifier(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn entry(feed: Feed, source: String, time_ms: i64, bytes: &[u8], record: &Record) -> Option<Entry> {
    let n: NotificationView = serde_json::from_slice(bytes).ok()?;
    let alarm: AlarmView = serde_json::from_str(n.raw_alarm.get()).ok()?;
    let state = AlarmState::parse(&alarm.new_state)?;
    if !(0.0..crate::ingest::TIMESTAMP_LIMIT_MS).contains(&alarm.timestamp) || n.kind.is_empty() || alarm.alarm_id.is_empty() {
        return None;
    }
    let (outcome, attempt, reason) = feed_outcome(feed, n.retry_count, record);
    let notice = alarm.group_rule.is_some().then(|| alarm.alarm_name.to_string());
    Some(Entry {
        source,
        tenant_id: alarm.tenant_id.into_owned(),
        time_ms,
        outcome,
        alarm_id: alarm.alarm_id.into_owned(),
        alarm_name: alarm.alarm_name.into_owned(),
        alarm_definition_id: identifier(&alarm.alarm_definition_id)?,
        state: state.as_str().to_owned(),
        alarm_timestamp_ms: alarm.timestamp as i64,
        method: Some(MethodRef {
            id: identifier(&n.id)?,
            name: n.name.map(Cow::into_owned),
            kind: n.kind.to_ascii_lowercase(),
            address: n.address.as_deref().map(loggable_address),
        }),
        attempt: Some(attempt),
        reason,
        rule_id: None,
        source_alarm_id: None,
        alarm_json: if notice.is_some() { None } else { Some(n.raw_alarm.get().to_owned()) },
        notice,
    })
}
