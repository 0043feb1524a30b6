//! The two event bodies, serialized as Python's `json.dumps` writes them. Pure functions of the
//! notification: no I/O, no decisions about success.

use crate::model::{AlarmState, Notification};
use crate::plugins::{standard_body, StandardBody};
use crate::pyjson;
use serde::Serialize;
use serde_json::Value;

/// Monasca's v1 event, keys in Monasca's order.
#[derive(Serialize)]
struct V1Event<'a> {
    service_key: &'a str,
    event_type: &'static str,
    description: &'a Value,
    client: &'static str,
    client_url: &'static str,
    details: V1Details<'a>,
}

#[derive(Serialize)]
struct V1Details<'a> {
    alarm_id: &'a Value,
    alarm_name: &'a Value,
    current: &'a Value,
    message: &'a Value,
}

/// `{"service_key": …, "event_type": "trigger", …}`: always a trigger, as in Monasca (v1 has no
/// deduplication key here, so every transition opens an incident).
pub fn v1_body(notification: &Notification) -> String {
    let alarm = &notification.alarm;
    pyjson::to_string(&V1Event {
        service_key: notification.address(),
        event_type: "trigger",
        description: alarm.raw_field("stateChangeReason"),
        client: "Monasca",
        client_url: "",
        details: V1Details {
            alarm_id: alarm.raw_field("alarmId"),
            alarm_name: alarm.raw_field("alarmName"),
            current: alarm.raw_field("newState"),
            message: alarm.raw_field("stateChangeReason"),
        },
    })
}

/// An Events API v2 event.
#[derive(Serialize)]
struct V2Event<'a> {
    routing_key: &'a str,
    event_action: &'static str,
    dedup_key: &'a str,
    payload: V2Payload<'a>,
    client: &'static str,
}

#[derive(Serialize)]
struct V2Payload<'a> {
    summary: String,
    source: &'a str,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
    custom_details: StandardBody<'a>,
}

/// PagerDuty's limit on `payload.summary`, in characters.
const SUMMARY_LIMIT: usize = 1024;

/// `trigger` on ALARM and UNDETERMINED, `resolve` on OK; the alarm id deduplicates, so repeated
/// triggers update one incident and the OK transition closes it.
pub fn v2_body(notification: &Notification) -> String {
    let alarm = &notification.alarm;
    let event_action = match alarm.new_state {
        AlarmState::Ok => "resolve",
        AlarmState::Alarm | AlarmState::Undetermined => "trigger",
    };
    let summary = format!(
        "{}: {} ({}): {}",
        alarm.alarm_name,
        alarm.new_state.as_str(),
        alarm.severity,
        alarm.state_change_reason
    );
    let first = alarm.metrics.first();
    let source = alarm
        .metrics
        .iter()
        .find_map(|m| m.dimension("hostname"))
        .or(first.map(|m| m.name.as_str()).filter(|n| !n.is_empty()))
        .unwrap_or("monasca");
    let timestamp = chrono::DateTime::from_timestamp_millis(alarm.timestamp_ms as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    pyjson::to_string(&V2Event {
        routing_key: notification.address(),
        event_action,
        dedup_key: &alarm.alarm_id,
        payload: V2Payload {
            summary: truncate(summary, SUMMARY_LIMIT),
            source,
            severity: severity(&alarm.severity),
            timestamp,
            component: first.map(|m| m.name.as_str()).filter(|n| !n.is_empty()),
            custom_details: standard_body(notification),
        },
        client: "Monasca",
    })
}

/// Monasca severities to PagerDuty's; anything unknown is treated as an error.
pub fn severity(monasca: &str) -> &'static str {
    match monasca.to_ascii_uppercase().as_str() {
        "LOW" => "info",
        "MEDIUM" => "warning",
        "HIGH" => "error",
        "CRITICAL" => "critical",
        _ => "error",
    }
}

fn truncate(mut text: String, chars: usize) -> String {
    if let Some((end, _)) = text.char_indices().nth(chars) {
        text.truncate(end);
    }
    text
}
