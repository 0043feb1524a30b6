use super::*;
use crate::engines::manager::state::Member;
use crate::model::AlarmState;
use crate::plugins::tests::monasca_test_notification;
use crate::publish::{notification_json, RETRYABLE_HEADER};
use std::sync::Arc;

fn record(topic: &str, offset: i64, payload: &str, headers: &[(&str, &str)]) -> Record {
    Record {
        topic: topic.into(),
        partition: 2,
        offset,
        key: None,
        payload: Some(payload.as_bytes().to_vec()),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        timestamp_ms: Some(1_700_000_000_000),
    }
}

fn one(feed: Feed, record: &Record) -> Entry {
    let mut entries = entries_of(feed, record, 1 << 20).unwrap();
    assert_eq!(entries.len(), 1);
    entries.remove(0)
}

#[test]
fn a_sent_record_is_a_sent_entry_with_the_method_and_no_credentials() {
    let n = monasca_test_notification("webhook", "https://user:secret@hooks.example.com/x?token=abc");
    let entry = one(Feed::Sent, &record("alarm-notifications", 7, &notification_json(&n), &[]));
    assert_eq!(entry.source, "alarm-notifications/2/7");
    assert_eq!(entry.outcome, Outcome::Sent);
    assert_eq!(entry.attempt, Some(1));
    assert_eq!(entry.time_ms, 1_700_000_000_000);
    assert_eq!((entry.tenant_id.as_str(), entry.alarm_id.as_str(), entry.alarm_name.as_str(), entry.state.as_str()), ("0", "0", "test Alarm", "ALARM"));
    let method = entry.method.unwrap();
    assert_eq!((method.id.as_str(), method.kind.as_str(), method.name.as_deref()), ("1", "webhook", Some("test")));
    let address = method.address.unwrap();
    assert!(!address.contains("secret") && !address.contains("abc"), "{address}");
    let alarm = entry.alarm_json.expect("a sent alarm is kept as a known alarm");
    assert!(alarm.contains("\"alarmId\""), "{alarm}");
    assert_eq!(entry.notice, None);
}

#[test]
fn attempts_count_the_first_send_and_every_retry() {
    let mut n = monasca_test_notification("webhook", "http://h/");
    assert_eq!(one(Feed::Retry, &record("r", 1, &notification_json(&n), &[(ERROR_HEADER, "HTTP 503"), (RETRYABLE_HEADER, "true")])).attempt, Some(1));
    n.retry_count = 2;
    let failed = one(Feed::Retry, &record("r", 2, &notification_json(&n), &[(ERROR_HEADER, "timed out")]));
    assert_eq!((failed.outcome, failed.attempt, failed.reason.as_deref()), (Outcome::Failed, Some(3), Some("timed out")));
    // Monasca leaves retry_count alone on success; the retry engine's header names the attempt.
    let sent = one(Feed::Sent, &record("s", 3, &notification_json(&n), &[(ATTEMPT_HEADER, "4")]));
    assert_eq!((sent.outcome, sent.attempt), (Outcome::Sent, Some(4)));
    let given_up = one(Feed::GivenUp, &record("d", 4, &notification_json(&n), &[(ERROR_HEADER, "gave up after 5 retries: timed out")]));
    assert_eq!((given_up.outcome, given_up.reason.as_deref()), (Outcome::GivenUp, Some("gave up after 5 retries: timed out")));
}

#[test]
fn a_grouped_notices_own_record_names_the_notice_and_is_no_known_alarm() {
    let mut n = monasca_test_notification("webhook", "http://h/");
    let mut alarm = (*n.alarm).clone();
    alarm.raw.object_mut().insert("groupRule".into(), serde_json::json!({"id": "r1"}));
    alarm.alarm_name = "group_notification_by-host_h1_ALARM[3]".into();
    alarm.raw.object_mut().insert("alarmName".into(), serde_json::json!("group_notification_by-host_h1_ALARM[3]"));
    n.alarm = Arc::new(alarm);
    let entry = one(Feed::Sent, &record("s", 1, &notification_json(&n), &[]));
    assert_eq!(entry.notice.as_deref(), Some("group_notification_by-host_h1_ALARM[3]"));
    assert_eq!(entry.alarm_json, None);
}

#[test]
fn suppressed_and_skipped_events_carry_their_transition_and_rule() {
    let n = monasca_test_notification("webhook", "http://h/");
    let event = Event {
        outcome: Outcome::Inhibited,
        time_ms: 5,
        tenant_id: "0".into(),
        alarm: Some(n.alarm.raw.to_json().into_owned()),
        reason: None,
        rule_id: Some("rule-1".into()),
        source_alarm_id: Some("source-9".into()),
        notice: None,
        members: Vec::new(),
    };
    let entry = one(Feed::Events, &record("tocsin-history", 3, &serde_json::to_string(&event).unwrap(), &[]));
    assert_eq!((entry.outcome, entry.time_ms, entry.rule_id.as_deref(), entry.source_alarm_id.as_deref()), (Outcome::Inhibited, 5, Some("rule-1"), Some("source-9")));
    assert_eq!((entry.alarm_id.as_str(), entry.method.is_none()), ("0", true));
    assert!(entry.alarm_json.is_some());
}

#[test]
fn a_grouped_event_is_one_entry_per_member_each_with_its_own_source() {
    let member = |id: &str| Member {
        alarm_id: id.into(),
        alarm_name: "cpu".into(),
        alarm_definition_id: "def".into(),
        state: AlarmState::Alarm,
        severity: "HIGH".into(),
        reason: "".into(),
        timestamp_ms: 1000.0,
        metrics: Box::new([]),
        notified: false,
    };
    let event = Event {
        outcome: Outcome::Grouped,
        time_ms: 9,
        tenant_id: "t".into(),
        alarm: None,
        reason: None,
        rule_id: Some("g1".into()),
        source_alarm_id: None,
        notice: Some("group_notification_g_h1_ALARM[2]".into()),
        members: [member("a1"), member("a2")]
            .iter()
            .map(|m| EventMember { alarm_id: m.alarm_id.to_string(), alarm_name: m.alarm_name.to_string(), alarm_definition_id: m.alarm_definition_id.to_string(), state: "ALARM".into(), timestamp_ms: 1000 })
            .collect(),
    };
    let entries = entries_of(Feed::Events, &record("h", 11, &serde_json::to_string(&event).unwrap(), &[]), 1 << 20).unwrap();
    let sources: Vec<&str> = entries.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources, ["h/2/11/0", "h/2/11/1"]);
    assert!(entries.iter().all(|e| e.outcome == Outcome::Grouped && e.notice.as_deref() == Some("group_notification_g_h1_ALARM[2]") && e.tenant_id == "t"));
}

#[test]
fn records_that_are_not_what_their_topic_holds_are_rejected_with_a_reason() {
    let reason = |feed, payload: &str| entries_of(feed, &record("x", 1, payload, &[]), 1 << 20).unwrap_err().reason;
    assert!(reason(Feed::Events, "{}").contains("not a history event"), "{}", reason(Feed::Events, "{}"));
    assert!(reason(Feed::Events, r#"{"outcome":"silenced","time_ms":1,"tenant_id":"t"}"#).contains("carries its alarm"));
    assert!(reason(Feed::Events, r#"{"outcome":"grouped","time_ms":1,"tenant_id":"t"}"#).contains("names its notice"));
    assert!(reason(Feed::Sent, "[1]").contains("not a JSON object"));
    let big = "x".repeat(100);
    assert!(entries_of(Feed::Sent, &record("x", 1, &big, &[]), 10).unwrap_err().reason.contains("exceeds"));
}

#[test]
fn outcomes_read_back_as_written() {
    for outcome in Outcome::ALL {
        assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        assert_eq!(serde_json::to_value(outcome).unwrap(), serde_json::json!(outcome.as_str()));
    }
    assert_eq!(Outcome::parse("delivered"), None);
}

#[test]
fn the_borrowed_view_reads_what_the_full_decoder_reads() {
    let mut n = monasca_test_notification("webhook", "https://user:secret@hooks.example.com/x?token=abc");
    n.retry_count = 2;
    let payload = notification_json(&n);
    let rec = record("s", 5, &payload, &[(ERROR_HEADER, "HTTP 502")]);
    for feed in [Feed::Sent, Feed::Retry, Feed::GivenUp] {
        let fast = view::entry(feed, "s/2/5".into(), 7, payload.as_bytes(), &rec).expect("the view takes a notification Tocsin wrote");
        let full = crate::engines::stored::decode(Some(payload.as_bytes()), 1 << 20).unwrap();
        let (outcome, attempt, reason) = feed_outcome(feed, full.retry_count, &rec);
        let slow = notification_entry("s/2/5".into(), 7, outcome, attempt, reason, &full);
        let parsed = |e: &Entry| e.alarm_json.as_deref().map(|j| serde_json::from_str::<serde_json::Value>(j).unwrap());
        assert_eq!(parsed(&fast), parsed(&slow));
        assert_eq!(Entry { alarm_json: None, ..fast }, Entry { alarm_json: None, ..slow });
    }
    // What the view does not take, the full decoder judges.
    let duplicated = payload.replacen("{\"id\": \"1\", ", "{\"id\": \"1\", \"id\": \"2\", ", 1);
    assert!(view::entry(Feed::Sent, "s".into(), 7, duplicated.as_bytes(), &rec).is_none());
    assert_eq!(entries_of(Feed::Sent, &record("s", 6, &duplicated, &[]), 1 << 20).unwrap()[0].method.as_ref().unwrap().id, "2");
}
