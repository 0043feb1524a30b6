//! Decodes `alarm-transitioned` messages from the alarm topic into [`AlarmTransition`]s and
//! applies the filters that decide whether a transition is acted on (actions enabled, TTL).
//!
//! A bad message is a value here ([`Rejected`]), never an error that stops a loop: the caller
//! counts it, logs it with its partition and offset and dead-letters the raw bytes. This module
//! does no I/O and never looks at the database.

mod typed;

use crate::model::{AlarmState, AlarmTransition, Metric, RawAlarm};
use serde_json::{Map, Value};
use std::time::Duration;

/// Why a message could not be decoded: the consumer's own rejection, which it counts, logs and
/// dead-letters.
pub use crate::kafka::Rejected;

fn reject(reason: impl Into<String>) -> Rejected {
    Rejected::new(reason)
}

/// The fields monasca-notification requires, in the order it checks them; the first one missing
/// is the one reported.
const REQUIRED_FIELDS: [&str; 12] = [
    "actionsEnabled",
    "alarmId",
    "alarmDefinitionId",
    "alarmName",
    "newState",
    "oldState",
    "stateChangeReason",
    "severity",
    "link",
    "lifecycleState",
    "tenantId",
    "timestamp",
];

/// A sample `alarm-transitioned` message, as monasca-thresh writes one: for `publish-alarm`,
/// `send-test`, `template render`, the API's test sends and the quickstart's demo.
pub struct SampleAlarm<'a> {
    pub definition: &'a str,
    pub state: &'a str,
    pub alarm_id: &'a str,
    pub name: &'a str,
    pub tenant: &'a str,
    pub hostname: &'a str,
    pub severity: &'a str,
}

impl<'a> SampleAlarm<'a> {
    /// On host `sample-host`, severity HIGH.
    pub fn new(definition: &'a str, state: &'a str, alarm_id: &'a str, name: &'a str, tenant: &'a str) -> SampleAlarm<'a> {
        SampleAlarm { definition, state, alarm_id, name, tenant, hostname: "sample-host", severity: "HIGH" }
    }

    /// The transition the message decodes to.
    pub fn transition(&self) -> Result<AlarmTransition, Rejected> {
        decode(Some(self.message().to_string().as_bytes()), usize::MAX)
    }

    /// The message, stamped now.
    pub fn message(&self) -> Value {
        let timestamp = crate::clock::unix_secs() * 1000.0;
        let old_state = if self.state == "OK" { "ALARM" } else { "OK" };
        serde_json::json!({"alarm-transitioned": {
            "tenantId": self.tenant, "alarmId": self.alarm_id, "alarmDefinitionId": self.definition,
            "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": self.hostname, "service": "monitoring"}}],
            "alarmName": self.name, "alarmDescription": "sample alarm sent by tocsin",
            "oldState": old_state, "newState": self.state, "actionsEnabled": true,
            "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0 with the values: [97.5]",
            "severity": self.severity, "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": timestamp as u64}})
    }
}

/// Decodes one message value, keeping the `alarm-transitioned` object as text until something
/// reads it (routing and the alarm manager never do). `max_bytes` bounds what is parsed at all.
pub fn decode(payload: Option<&[u8]>, max_bytes: usize) -> Result<AlarmTransition, Rejected> {
    let text = checked_text(payload, max_bytes)?;
    match typed::decode(text) {
        Some(alarm) => Ok(alarm),
        None => decode_document(text),
    }
}

/// The same transition as [`decode`], with the object built now: for one that is sent, since
/// plugins and the sent record read the object anyway and typing the fields first would only
/// add to that.
pub fn decode_for_sending(payload: Option<&[u8]>, max_bytes: usize) -> Result<AlarmTransition, Rejected> {
    decode_document(checked_text(payload, max_bytes)?)
}

/// The payload as text, within the size limit.
fn checked_text(payload: Option<&[u8]>, max_bytes: usize) -> Result<&str, Rejected> {
    let bytes = payload.ok_or_else(|| reject("message has no value"))?;
    if bytes.len() > max_bytes {
        return Err(reject(format!(
            "message of {} bytes exceeds the limit of {max_bytes} bytes",
            bytes.len()
        )));
    }
    std::str::from_utf8(bytes).map_err(|e| reject(format!("message is not UTF-8: {e}")))
}

/// The object path: the whole message as a `serde_json::Value`, then each field checked. It
/// decides every message the typed path does not take, so it is the one that explains rejections.
fn decode_document(text: &str) -> Result<AlarmTransition, Rejected> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| reject(format!("message is not JSON: {e}")))?;
    let raw = match document {
        Value::Object(mut root) => match root.remove("alarm-transitioned") {
            Some(Value::Object(inner)) => inner,
            Some(_) => return Err(reject("\"alarm-transitioned\" is not an object")),
            None => return Err(reject("message has no \"alarm-transitioned\" object")),
        },
        _ => return Err(reject("message is not a JSON object")),
    };
    transition(raw)
}

/// The `alarm-transitioned` object alone, as JSON text (a held transition's).
pub fn decode_object(text: &str) -> Result<AlarmTransition, Rejected> {
    match typed::decode_object(text) {
        Some(alarm) => Ok(alarm),
        None => transition(serde_json::from_str(text).map_err(|e| reject(format!("\"alarm-transitioned\" is not a JSON object: {e}")))?),
    }
}

/// Checks and types the inner `alarm-transitioned` object (also stored as `raw_alarm` in
/// notifications the retry and periodic engines read back).
pub fn transition(raw: Map<String, Value>) -> Result<AlarmTransition, Rejected> {
    if let Some(missing) = REQUIRED_FIELDS.iter().find(|field| !raw.contains_key(**field)) {
        return Err(reject(format!("Alarm data missing field {missing}")));
    }
    Ok(AlarmTransition {
        tenant_id: identifier(&raw, "tenantId")?,
        alarm_id: identifier(&raw, "alarmId")?,
        alarm_definition_id: identifier(&raw, "alarmDefinitionId")?,
        alarm_name: string(&raw, "alarmName")?,
        new_state: state(&raw, "newState")?,
        actions_enabled: truthy(&raw, "actionsEnabled")?,
        state_change_reason: string(&raw, "stateChangeReason")?,
        severity: string(&raw, "severity")?,
        link: optional_string(&raw, "link")?,
        lifecycle_state: optional_string(&raw, "lifecycleState")?,
        timestamp_ms: timestamp_ms(&raw["timestamp"])?,
        metrics: metrics(raw.get("metrics")),
        raw: RawAlarm::from_object(raw),
    })
}

/// What to do with a decoded transition before any lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Act,
    ActionsDisabled,
    /// Older than the TTL; carries its age.
    Expired(Duration),
}

/// Monasca's `_alarm_is_valid`: actions must be enabled and the age must not exceed the TTL
/// (strictly greater is too old). `now_ms` is the caller's clock.
pub fn verdict(alarm: &AlarmTransition, ttl: Option<Duration>, now_ms: f64) -> Verdict {
    if !alarm.actions_enabled {
        return Verdict::ActionsDisabled;
    }
    let age_secs = (now_ms - alarm.timestamp_ms) / 1000.0;
    match ttl {
        // Older than the TTL, so positive; `decode` bounds the timestamp, and the saturating
        // conversion keeps this total for a transition built some other way.
        Some(ttl) if age_secs > ttl.as_secs_f64() => Verdict::Expired(Duration::try_from_secs_f64(age_secs).unwrap_or(Duration::MAX)),
        _ => Verdict::Act,
    }
}

/// The first instant no plausible timestamp reaches: 10000-01-01T00:00:00Z, in milliseconds.
/// Every time Tocsin derives from an input (ages, due times, dates in plugin payloads) stays
/// representable below it, so an absurd value is rejected here instead of overflowing later.
pub const TIMESTAMP_LIMIT_MS: f64 = 253_402_300_800_000.0;

/// A transition's `timestamp`: milliseconds since 1970, before [`TIMESTAMP_LIMIT_MS`].
fn timestamp_ms(value: &Value) -> Result<f64, Rejected> {
    let ms = value.as_f64().ok_or_else(|| wrong_type("timestamp", "a number of milliseconds", value))?;
    if !(0.0..TIMESTAMP_LIMIT_MS).contains(&ms) {
        return Err(reject(format!("field timestamp must be milliseconds since 1970 before the year 10000, found {value}")));
    }
    Ok(ms)
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> Rejected {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    reject(format!("field {field} must be {expected}, found {found}"))
}

/// Identifiers are strings; integers (as some test producers write them) are accepted as text.
fn identifier(raw: &Map<String, Value>, field: &str) -> Result<String, Rejected> {
    match &raw[field] {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(wrong_type(field, "a non-empty string", other)),
    }
}

fn string(raw: &Map<String, Value>, field: &str) -> Result<String, Rejected> {
    match &raw[field] {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong_type(field, "a string", other)),
    }
}

fn optional_string(raw: &Map<String, Value>, field: &str) -> Result<Option<String>, Rejected> {
    match &raw[field] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(wrong_type(field, "a string or null", other)),
    }
}

fn state(raw: &Map<String, Value>, field: &str) -> Result<AlarmState, Rejected> {
    let value = &raw[field];
    value
        .as_str()
        .and_then(AlarmState::parse)
        .ok_or_else(|| wrong_type(field, "one of \"UNDETERMINED\", \"OK\", \"ALARM\"", value))
}

/// Python truthiness, as `if not alarm['actionsEnabled']` applies it: thresh writes booleans,
/// some producers write 0/1.
fn truthy(raw: &Map<String, Value>, field: &str) -> Result<bool, Rejected> {
    match &raw[field] {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
        Value::Null => Ok(false),
        other => Err(wrong_type(field, "a boolean", other)),
    }
}

/// Metrics are not required by Monasca and are only carried along; anything that is not a list
/// of metric objects yields no typed metrics (the raw value is still republished unchanged).
fn metrics(value: Option<&Value>) -> Vec<Metric> {
    let Some(Value::Array(items)) = value else { return Vec::new() };
    items
        .iter()
        .filter_map(Value::as_object)
        .map(|metric| Metric {
            name: metric.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            dimensions: match metric.get("dimensions") {
                Some(Value::Object(dims)) => dims
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect(),
                _ => Vec::new(),
            },
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
