//! Monasca's `test_pagerduty_notification.py` (v1) against a real local server, and the v2 events.

use super::*;
use crate::config::{Reader, Source};
use crate::model::AlarmTransition;
use crate::plugins::slack::scripted::{Answer, Scripted};
use crate::plugins::tests::monasca_test_notification;
use crate::plugins::Reason;
use std::sync::Arc;

const V1_PATH: &str = "/generic/2010-04-15/create_event.json";

/// The body Monasca's test expects for address `ABCDEF`, as Python's `json.dumps` writes it.
const V1_BODY: &str = r#"{"service_key": "ABCDEF", "event_type": "trigger", "description": "I am alarming!", "client": "Monasca", "client_url": "", "details": {"alarm_id": "0", "alarm_name": "test Alarm", "current": "ALARM", "message": "I am alarming!"}}"#;

fn config(ini: &str) -> Result<PagerDutyConfig, crate::config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(&file, format!("[pagerduty_notifier]\n{ini}\n")).unwrap();
    PagerDutyConfig::read(&Reader::new(&Source::read(&file).unwrap()))
}

fn plugin(ini: &str) -> PagerDuty {
    PagerDuty::new(&config(ini).unwrap(), 2).unwrap()
}

/// Monasca's test notification with another new state and severity.
fn notification(key: &str, state: &str, severity: &str) -> Notification {
    let mut n = monasca_test_notification("pagerduty", key);
    let mut raw = n.alarm.raw.object().clone();
    raw.insert("newState".into(), state.into());
    raw.insert("severity".into(), severity.into());
    let message = serde_json::json!({ "alarm-transitioned": raw }).to_string();
    let alarm: AlarmTransition = crate::ingest::decode(Some(message.as_bytes()), 1 << 20).unwrap();
    n.alarm = Arc::new(alarm);
    n
}

#[test]
fn v1_body_is_monascas() {
    assert_eq!(v1_body(&monasca_test_notification("pagerduty", "ABCDEF")), V1_BODY);
}

#[tokio::test]
async fn v1_success_codes() {
    for status in [200, 201, 204] {
        let server = Scripted::start(vec![Answer::json(status, r#"{"status":"success","message":"Event processed"}"#)]).await;
        let pd = plugin(&format!("timeout = 50\nurl = {}", server.url(V1_PATH)));
        let receipt = pd.send(&monasca_test_notification("pagerduty", "ABCDEF")).await;
        assert!(receipt.is_ok(), "status {status}: {receipt:?}");
        let requests = server.received();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, V1_PATH);
        assert_eq!(requests[0].content_type(), "application/json");
        assert_eq!(requests[0].body, V1_BODY);
    }
}

#[tokio::test]
async fn v1_failure_codes_never_show_the_key() {
    let cases = [(202, Reason::Client, false), (400, Reason::Client, false), (403, Reason::Auth, false), (500, Reason::Server, true), (504, Reason::Server, true)];
    for (status, reason, retryable) in cases {
        // PagerDuty-like answers that echo the key must not leak it either.
        let server = Scripted::start(vec![Answer::json(status, r#"{"status":"invalid event","errors":["bad key ABCDEF"]}"#)]).await;
        let pd = plugin(&format!("url = {}", server.url(V1_PATH)));
        let error = pd.send(&monasca_test_notification("pagerduty", "ABCDEF")).await.unwrap_err();
        assert_eq!((error.reason, error.retryable), (reason, retryable), "status {status}");
        assert!(error.detail.starts_with("Error with pagerduty request. key=<****> "), "{}", error.detail);
        assert!(error.detail.contains(&format!("HTTP code {status}")), "{}", error.detail);
        assert!(!format!("{error} {error:?}").contains("ABCDEF"), "{error}");
    }
}

#[tokio::test]
async fn v1_timeout_is_retryable_and_keyless() {
    let server = Scripted::start(vec![Answer::json(200, "{}").delayed(Duration::from_secs(3))]).await;
    let pd = plugin(&format!("timeout = 1\nurl = {}", server.url(V1_PATH)));
    assert_eq!(pd.timeout(), Duration::from_secs(1));
    let error = pd.send(&monasca_test_notification("pagerduty", "ABCDEF")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
    assert!(error.detail.starts_with("Exception on pagerduty request. key=<****> "), "{}", error.detail);
    assert!(!error.to_string().contains("ABCDEF"));
}

#[test]
fn v2_trigger_body() {
    let body = v2_body(&notification("R0UT1NGKEY", "ALARM", "CRITICAL"));
    assert_eq!(
        body,
        concat!(
            r#"{"routing_key": "R0UT1NGKEY", "event_action": "trigger", "dedup_key": "0", "payload": {"#,
            r#""summary": "test Alarm: ALARM (CRITICAL): I am alarming!", "source": "foo1", "severity": "critical", "#,
            r#""timestamp": "2015-04-14T14:57:33.632Z", "custom_details": {"alarm_id": "0", "alarm_definition_id": 0, "#,
            r#""alarm_name": "test Alarm", "alarm_description": "test Alarm description", "alarm_timestamp": 1429023453, "#,
            r#""state": "ALARM", "old_state": "OK", "message": "I am alarming!", "tenant_id": "0", "#,
            r#""metrics": [{"dimensions": {"hostname": "foo1", "service": "bar1"}}]}}, "client": "Monasca"}"#
        )
    );
}

#[test]
fn v2_actions_and_severities_follow_the_transition() {
    let cases = [
        ("ALARM", "LOW", "trigger", "info"),
        ("UNDETERMINED", "MEDIUM", "trigger", "warning"),
        ("ALARM", "HIGH", "trigger", "error"),
        ("OK", "CRITICAL", "resolve", "critical"),
    ];
    for (state, monasca_severity, action, pd_severity) in cases {
        let body: serde_json::Value = serde_json::from_str(&v2_body(&notification("K", state, monasca_severity))).unwrap();
        assert_eq!(body["event_action"], action, "{state}");
        assert_eq!(body["payload"]["severity"], pd_severity, "{monasca_severity}");
        assert_eq!(body["dedup_key"], "0");
    }
    assert_eq!(severity("unknown"), "error");
}

#[tokio::test]
async fn v2_accepts_202_and_classifies_failures() {
    let server = Scripted::start(vec![
        Answer::json(202, r#"{"status":"success","message":"Event processed","dedup_key":"0"}"#),
        Answer::json(400, r#"{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is invalid"]}"#),
        Answer::json(429, r#"{"status":"throttle event"}"#),
    ])
    .await;
    let pd = plugin(&format!("api_version = 2\nurl = {}", server.url("/v2/enqueue")));
    let n = monasca_test_notification("pagerduty", "R0UT1NGKEY");
    let receipt = pd.send(&n).await.unwrap();
    assert!(receipt.answer.starts_with("HTTP 202: "), "{}", receipt.answer);
    let invalid = pd.send(&n).await.unwrap_err();
    assert_eq!((invalid.reason, invalid.retryable), (Reason::Client, false));
    assert!(invalid.detail.contains("Event object is invalid"), "PagerDuty's reason is kept: {}", invalid.detail);
    let throttled = pd.send(&n).await.unwrap_err();
    assert_eq!((throttled.reason, throttled.retryable), (Reason::RateLimited, true));
    assert_eq!(server.received()[0].body, v2_body(&n));
}

#[test]
fn configuration_defaults_and_errors() {
    let v1 = config("").unwrap();
    assert_eq!((v1.api_version, v1.url.as_str(), v1.timeout), (ApiVersion::V1, V1_URL, Duration::from_secs(5)));
    let v2 = config("api_version = 2").unwrap();
    assert_eq!((v2.api_version, v2.url.as_str()), (ApiVersion::V2, V2_URL));
    assert_eq!(config("api_version = v2\nurl = http://pd.local/e").unwrap().url, "http://pd.local/e");
    let error = config("api_version = 3").unwrap_err().to_string();
    assert!(error.contains("tocsin.conf:2: [pagerduty_notifier] api_version: expected 1 or 2"), "{error}");
    let error = config("url = events.pagerduty.com").unwrap_err().to_string();
    assert!(error.contains("[pagerduty_notifier] url: "), "{error}");
    assert_eq!(
        v2.render_masked(),
        [("timeout".to_owned(), "5".to_owned()), ("api_version".into(), "2".into()), ("url".into(), V2_URL.into())]
    );
}

#[test]
fn addresses_are_integration_keys() {
    let pd = plugin("");
    assert!(pd.validate_address("ABCDEF").is_ok());
    assert!(pd.validate_address("0123456789abcdef0123456789abcdef").is_ok());
    for bad in ["", "has space", "https://events.pagerduty.com/", &"k".repeat(129)] {
        assert!(pd.validate_address(bad).is_err(), "{bad:?}");
    }
}
