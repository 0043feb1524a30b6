//! Notifications read back from the retry and periodic topics: the notification JSON that
//! this engine (or monasca-notification) wrote, decoded into a [`Notification`], and refreshed
//! from the config database as Monasca's `construct_notification_object` does.
//!
//! Decoding never panics: a record that is not a notification becomes a [`Rejected`] whose text
//! says what is wrong, for the caller to count and dead-letter. Nothing here sends or publishes.

use crate::ingest::{self, Rejected};
use crate::model::{Notification, NotificationMethod};
use serde_json::{Map, Value};
use crate::supervise::Cancelled;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Decodes one record of the retry or a periodic topic.
pub fn decode(payload: Option<&[u8]>, max_bytes: usize) -> Result<Notification, Rejected> {
    let bytes = payload.ok_or_else(|| rejected("record has no value"))?;
    if bytes.len() > max_bytes {
        return Err(rejected(format!("record of {} bytes exceeds the limit of {max_bytes} bytes", bytes.len())));
    }
    let document: Value = serde_json::from_slice(bytes).map_err(|e| rejected(format!("record is not JSON: {e}")))?;
    let Value::Object(mut fields) = document else { return Err(rejected("record is not a JSON object")) };
    let raw_alarm = match fields.remove("raw_alarm") {
        Some(Value::Object(raw)) => raw,
        Some(_) => return Err(rejected("field raw_alarm must be an object")),
        None => return Err(rejected("Notification data missing field raw_alarm")),
    };
    let alarm = ingest::transition(raw_alarm).map_err(|e| rejected(format!("raw_alarm: {}", e.reason)))?;
    let method = NotificationMethod {
        id: identifier(&fields, "id")?,
        kind: required_string(&fields, "type")?.to_ascii_lowercase(),
        name: optional_string(&fields, "name")?,
        address: optional_string(&fields, "address")?,
        period: integer(&fields, "period")?,
    };
    let retry_count = integer(&fields, "retry_count")?;
    let retry_count = u32::try_from(retry_count).map_err(|_| rejected(format!("field retry_count must be a count, found {retry_count}")))?;
    let notification_timestamp = match fields.get("notification_timestamp") {
        None | Some(Value::Null) => None,
        Some(value) => Some(seconds_since_1970(value)?),
    };
    Ok(Notification { method, alarm: Arc::new(alarm), retry_count, notification_timestamp })
}

fn rejected(reason: impl Into<String>) -> Rejected {
    Rejected::new(reason)
}

/// `notification_timestamp`: seconds since 1970, before the year 10000 (as a transition's
/// `timestamp`), so the due times computed from it are always representable.
fn seconds_since_1970(value: &Value) -> Result<f64, Rejected> {
    let seconds = value.as_f64().ok_or_else(|| rejected("field notification_timestamp must be a number of seconds"))?;
    if !(0.0..ingest::TIMESTAMP_LIMIT_MS / 1000.0).contains(&seconds) {
        return Err(rejected(format!("field notification_timestamp must be seconds since 1970 before the year 10000, found {value}")));
    }
    Ok(seconds)
}

fn field<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<&'a Value, Rejected> {
    fields.get(key).ok_or_else(|| rejected(format!("Notification data missing field {key}")))
}

fn identifier(fields: &Map<String, Value>, key: &str) -> Result<String, Rejected> {
    match field(fields, key)? {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(rejected(format!("field {key} must be a non-empty string"))),
    }
}

fn required_string(fields: &Map<String, Value>, key: &str) -> Result<String, Rejected> {
    field(fields, key)?.as_str().map(str::to_owned).ok_or_else(|| rejected(format!("field {key} must be a string")))
}

fn optional_string(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, Rejected> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(rejected(format!("field {key} must be a string or null"))),
    }
}

fn integer(fields: &Map<String, Value>, key: &str) -> Result<i64, Rejected> {
    field(fields, key)?.as_i64().ok_or_else(|| rejected(format!("field {key} must be an integer")))
}

/// The method's current row, or `None` when it was deleted (the chain or the retries stop).
/// Type, name, address and period come from the database, as in Monasca.
pub fn refreshed(mut notification: Notification, current: Option<NotificationMethod>) -> Option<Notification> {
    let current = current?;
    notification.method = NotificationMethod { id: notification.method.id, ..current };
    Some(notification)
}

/// Waits until `due` (seconds since the epoch, wall clock, so a due time written before a
/// restart still holds after it) on tokio's timer, not a thread. `Err` when `draining` fired
/// first: the record is left for whoever owns the partition next. A due time too far ahead to
/// be a [`Duration`] waits until `draining` (decoding bounds due times well before that).
pub async fn wait_until(due: f64, draining: &CancellationToken) -> Result<(), Cancelled> {
    let remaining = due - crate::clock::unix_secs();
    if remaining <= 0.0 || remaining.is_nan() {
        return if draining.is_cancelled() { Err(Cancelled) } else { Ok(()) };
    }
    let Ok(remaining) = Duration::try_from_secs_f64(remaining) else {
        draining.cancelled().await;
        return Err(Cancelled);
    };
    tokio::select! {
        _ = tokio::time::sleep(remaining) => Ok(()),
        _ = draining.cancelled() => Err(Cancelled),
    }
}

/// An address fit for a log line: URLs lose credentials and query values (tokens, keys).
pub fn loggable_address(address: &str) -> String {
    if address.contains("://") {
        crate::outbound::redact_url(address)
    } else {
        address.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::tests::monasca_test_notification;
    use crate::publish::notification_json;

    #[test]
    fn what_the_publisher_writes_reads_back_equal() {
        let mut n = monasca_test_notification("webhook", "http://mock:3333/");
        n.retry_count = 3;
        n.notification_timestamp = Some(1_700_000_000.25);
        n.method.period = 60;
        let back = decode(Some(notification_json(&n).as_bytes()), 1 << 20).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn monascas_own_record_decodes() {
        let text = r#"{"id": "c60e", "type": "WEBHOOK", "name": "ops-hook", "address": "http://10.0.0.5:8080/hook", "retry_count": 0,
            "raw_alarm": {"tenantId": "t", "alarmId": "a", "alarmDefinitionId": "d", "alarmName": "n", "oldState": "OK",
              "newState": "ALARM", "actionsEnabled": true, "stateChangeReason": "r", "severity": "LOW", "link": null,
              "lifecycleState": null, "timestamp": 1556703552918, "metrics": []},
            "alarm_id": "a", "alarm_name": "n", "alarm_timestamp": 1556703552, "message": "r", "notification_timestamp": 1556703552.918301,
            "state": "ALARM", "severity": "LOW", "link": null, "lifecycle_state": null, "tenant_id": "t", "period": 60}"#;
        let n = decode(Some(text.as_bytes()), 1 << 20).unwrap();
        assert_eq!((n.method.id.as_str(), n.method.kind.as_str(), n.method.period, n.retry_count), ("c60e", "webhook", 60, 0));
        assert_eq!(n.notification_timestamp, Some(1556703552.918301));
        assert_eq!(n.alarm.alarm_id, "a");
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let cases = [
            ("{", "record is not JSON"),
            ("[]", "record is not a JSON object"),
            (r#"{"id": "1"}"#, "Notification data missing field raw_alarm"),
            (r#"{"raw_alarm": {"alarmId": "a"}}"#, "raw_alarm: Alarm data missing field"),
        ];
        for (text, expected) in cases {
            let error = decode(Some(text.as_bytes()), 1 << 20).unwrap_err();
            assert!(error.reason.starts_with(expected), "{text}: {}", error.reason);
        }
        assert!(decode(None, 10).is_err());
        assert!(decode(Some(&[b' '; 11]), 10).unwrap_err().reason.contains("exceeds the limit"));
    }

    #[test]
    fn refresh_takes_the_database_row_and_stops_on_deletion() {
        let n = monasca_test_notification("webhook", "http://old/");
        let row = NotificationMethod { id: "1".into(), kind: "webhook".into(), name: Some("new".into()), address: Some("http://new/".into()), period: 60 };
        let refreshed = refreshed(n.clone(), Some(row)).unwrap();
        assert_eq!((refreshed.address(), refreshed.method.period), ("http://new/", 60));
        assert!(super::refreshed(n, None).is_none());
    }

    /// Found by the properties below: serde_json's default float parsing can be one unit in the
    /// last place off, so a float in a record drifted each time a retry or periodic engine read
    /// the record back and wrote it again. Its `float_roundtrip` feature parses exactly.
    #[test]
    fn floats_read_back_exactly() {
        let text = r#"{"id": "1", "type": "webhook", "period": 0, "retry_count": 0, "notification_timestamp": 924270e-31,
            "raw_alarm": {"tenantId": "t", "alarmId": "a", "alarmDefinitionId": "d", "alarmName": "n", "oldState": "OK",
              "newState": "ALARM", "actionsEnabled": true, "stateChangeReason": "r", "severity": "LOW", "link": null,
              "lifecycleState": null, "timestamp": 1556703552918, "metrics": [{"name": "cpu", "dimensions": {"v": [-2.6574874242562245e+98]}}]}}"#;
        let n = decode(Some(text.as_bytes()), 1 << 20).unwrap();
        assert_eq!(n.notification_timestamp, Some(924270e-31));
        assert_eq!(n.alarm.raw.object()["metrics"][0]["dimensions"]["v"][0].as_f64(), Some(-2.6574874242562245e+98));
        assert_eq!(decode(Some(notification_json(&n).as_bytes()), 1 << 20).unwrap(), n);
    }

    /// Property tests: no record makes [`decode`] panic, a rejection always says why, and an
    /// accepted record is bounded (its `notification_timestamp` as a transition's timestamp, in
    /// seconds) and reads back equal once the publisher has written it again. Records start
    /// from what the publisher writes, with top-level and `raw_alarm` fields edited by the
    /// alarm decoder's generators. Cases per property come from `PROPTEST_CASES` (256 when
    /// unset); `scripts/fuzz.sh` runs them long.
    mod properties {
        use super::*;
        use crate::ingest::tests::properties::{apply, assert_bounded, edits, extreme_value, json_soup, max_bytes, raw_literal, splice};
        use proptest::prelude::*;
        use proptest::sample::select;

        const FIELDS: &[&str] = &["id", "type", "name", "address", "period", "retry_count", "notification_timestamp", "raw_alarm", "alarm_timestamp"];
        const ALARM_FIELDS: &[&str] = &["actionsEnabled", "alarmId", "alarmDefinitionId", "alarmName", "newState", "tenantId", "timestamp", "metrics", "link"];

        fn record() -> Value {
            let mut n = monasca_test_notification("webhook", "http://mock:3333/");
            n.retry_count = 3;
            n.notification_timestamp = Some(1_700_000_000.25);
            n.method.period = 60;
            serde_json::from_str(&notification_json(&n)).expect("the publisher writes JSON")
        }

        fn raw_alarm(record: &mut Value) -> Option<&mut Map<String, Value>> {
            record.get_mut("raw_alarm")?.as_object_mut()
        }

        fn check_outcome(outcome: Result<Notification, Rejected>) -> Result<(), TestCaseError> {
            let n = match outcome {
                Ok(n) => n,
                Err(rejected) => {
                    prop_assert!(!rejected.reason.is_empty());
                    return Ok(());
                }
            };
            assert_bounded(&n.alarm)?;
            if let Some(seconds) = n.notification_timestamp {
                prop_assert!(seconds.is_finite() && (0.0..ingest::TIMESTAMP_LIMIT_MS / 1000.0).contains(&seconds), "notification_timestamp {}", seconds);
            }
            prop_assert!(!n.method.id.is_empty());
            prop_assert_eq!(&n.method.kind, &n.method.kind.to_ascii_lowercase());
            let written = notification_json(&n);
            match decode(Some(written.as_bytes()), usize::MAX) {
                Ok(back) => prop_assert_eq!(back, n, "{}", written),
                Err(rejected) => prop_assert!(false, "{} does not read back: {}", written, rejected.reason),
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_are_rejected_or_bounded(bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..2048), json_soup()], max in max_bytes()) {
                check_outcome(decode(Some(&bytes), max))?;
            }

            #[test]
            fn edited_records_are_rejected_or_read_back_equal(
                edits in edits(FIELDS),
                alarm_edits in prop::option::weighted(0.3, edits(ALARM_FIELDS)),
                literal in prop::option::weighted(0.2, (select(FIELDS), raw_literal())),
                max in max_bytes(),
            ) {
                let mut document = record();
                if let Some(raw) = raw_alarm(&mut document) {
                    apply(raw, alarm_edits.as_deref().unwrap_or_default());
                }
                apply(document.as_object_mut().expect("an object"), &edits);
                let text = match &literal {
                    Some((field, literal)) => splice(&mut document, Value::as_object_mut, field, literal),
                    None => document.to_string(),
                };
                check_outcome(decode(Some(text.as_bytes()), max))?;
            }

            #[test]
            fn any_notification_timestamp_is_rejected_or_bounded(seconds in prop_oneof![extreme_value().prop_map(|v| v.to_string()), raw_literal()]) {
                let text = splice(&mut record(), Value::as_object_mut, "notification_timestamp", &seconds);
                check_outcome(decode(Some(text.as_bytes()), 1 << 20))?;
            }
        }
    }
}
