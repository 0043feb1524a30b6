//! The PagerDuty plugin against a fake Events API that validates v1 and v2 events as PagerDuty
//! does: Monasca's v1 body byte for byte, v2 trigger/resolve on one incident, failures and their
//! classification, the integration key kept out of every error, and the path through the broker.

pub mod fake;

use crate::plugin_slack::common::{assert_no_secret, notification, plugin};
use crate::support::tocsin::{start_in_process, write_config_with_plugins, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, TestDb};
use fake::{FakePagerDuty, V1_PATH, V2_PATH};
use std::sync::Arc;
use std::time::Duration;
use tocsin::model::{Notification, NotificationMethod};
use tocsin::plugins::{Plugin, Reason};

const WAIT: Duration = Duration::from_secs(30);
/// Integration keys are 32 characters.
const KEY: &str = "SECRETKEY0123456789abcdef0123456";
const REASON: &str = "Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]";

fn pagerduty(fake: &FakePagerDuty, options: &str) -> Arc<dyn Plugin> {
    let path = if options.contains("api_version = 2") { V2_PATH } else { V1_PATH };
    plugin("pagerduty", &format!("[pagerduty_notifier]\nurl = {}\n{options}\n", fake.url(path)))
}

fn v1_body(key: &str, alarm_id: &str, state: &str) -> String {
    format!(
        r#"{{"service_key": "{key}", "event_type": "trigger", "description": "{REASON}", "client": "Monasca", "client_url": "", "details": {{"alarm_id": "{alarm_id}", "alarm_name": "dummy_alarm", "current": "{state}", "message": "{REASON}"}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_events_are_monascas() {
    assert_eq!(KEY.len(), 32);
    let fake = FakePagerDuty::start().await;
    let plugin = pagerduty(&fake, "");
    let n = notification("pagerduty", KEY, "alarm-1", "ALARM");
    let rendered = plugin.render(&n).unwrap();
    let receipt = plugin.send(&n).await.unwrap();
    assert!(receipt.answer.starts_with("HTTP 200: {\"status\":\"success\""), "{}", receipt.answer);
    // An OK transition is still a trigger in v1, as in Monasca.
    plugin.send(&notification("pagerduty", KEY, "alarm-1", "OK")).await.unwrap();
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[0].path, V1_PATH);
    assert_eq!(accepted[0].body, v1_body(KEY, "alarm-1", "ALARM"));
    assert_eq!(accepted[1].body, v1_body(KEY, "alarm-1", "OK"));
    assert_eq!((rendered.content_type, rendered.body.as_str()), ("application/json", accepted[0].body.as_str()), "render is what send posts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_refusals_are_permanent_and_keyless() {
    let fake = FakePagerDuty::start().await;
    let short_key = "SECRETSHORTKEY";
    let error = pagerduty(&fake, "").send(&notification("pagerduty", short_key, "alarm-1", "ALARM")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Client, false));
    assert!(error.detail.contains("Service key is the wrong length"), "PagerDuty's reason is kept: {}", error.detail);
    assert!(error.detail.starts_with("Error with pagerduty request. key=<****> "), "{}", error.detail);
    assert_no_secret(&error, &[short_key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_triggers_and_resolves_one_incident_per_alarm() {
    let fake = FakePagerDuty::start().await;
    let plugin = pagerduty(&fake, "api_version = 2");
    let alarm = notification("pagerduty", KEY, "alarm-7", "ALARM");
    let receipt = plugin.send(&alarm).await.unwrap();
    assert!(receipt.answer.starts_with("HTTP 202: "), "{}", receipt.answer);
    plugin.send(&notification("pagerduty", KEY, "alarm-7", "UNDETERMINED")).await.unwrap();
    assert_eq!(fake.incidents().into_iter().collect::<Vec<_>>(), [("alarm-7".to_owned(), true)], "one incident, open");
    plugin.send(&notification("pagerduty", KEY, "alarm-7", "OK")).await.unwrap();
    assert_eq!(fake.incidents().into_iter().collect::<Vec<_>>(), [("alarm-7".to_owned(), false)], "resolved");

    let accepted = fake.accepted();
    assert_eq!(accepted[0].path, V2_PATH);
    assert_eq!(accepted[0].body, tocsin::plugins::pagerduty::v2_body(&alarm));
    let timestamp = chrono::DateTime::from_timestamp_millis(alarm.alarm.timestamp_ms as i64)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let expected_prefix = format!(
        r#"{{"routing_key": "{KEY}", "event_action": "trigger", "dedup_key": "alarm-7", "payload": {{"summary": "dummy_alarm: ALARM (LOW): {REASON}", "source": "operator", "severity": "info", "timestamp": "{timestamp}", "component": "cpu.user_perc", "custom_details": {{"alarm_id": "alarm-7", "#
    );
    assert!(accepted[0].body.starts_with(&expected_prefix), "{}", accepted[0].body);
    assert!(accepted[0].body.ends_with(r#"}]}}, "client": "Monasca"}"#), "{}", accepted[0].body);
    let resolve: serde_json::Value = serde_json::from_str(&accepted[2].body).unwrap();
    assert_eq!((resolve["event_action"].as_str(), resolve["dedup_key"].as_str()), (Some("resolve"), Some("alarm-7")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_events_pass_validation_and_bad_keys_do_not() {
    let fake = FakePagerDuty::start().await;
    let plugin = pagerduty(&fake, "api_version = 2");

    // A reason longer than PagerDuty's 1024-character summary is cut to fit.
    let mut message = alarm_message("alarm-long", "def-1", "ALARM");
    message["alarm-transitioned"]["stateChangeReason"] = "x".repeat(3000).into();
    let long = with_alarm(&message, KEY);
    plugin.send(&long).await.unwrap();
    let sent: serde_json::Value = serde_json::from_str(&fake.accepted()[0].body).unwrap();
    assert_eq!(sent["payload"]["summary"].as_str().unwrap().chars().count(), 1024);

    let error = plugin.send(&notification("pagerduty", "", "alarm-1", "ALARM")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Client, false));
    assert!(error.detail.contains("'routing_key' is missing or blank"), "{}", error.detail);
    assert_eq!(fake.accepted().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_outages_and_slowness_are_retryable() {
    let fake = FakePagerDuty::start().await;
    let plugin = plugin("pagerduty", &format!("[pagerduty_notifier]\napi_version = 2\ntimeout = 1\nurl = {}\n", fake.url(V2_PATH)));
    let n = notification("pagerduty", KEY, "alarm-1", "ALARM");
    for (status, reason) in [(429, Reason::RateLimited), (500, Reason::Server), (503, Reason::Server)] {
        fake.answer_with(status);
        let error = plugin.send(&n).await.unwrap_err();
        assert_eq!((error.reason, error.retryable), (reason, true), "status {status}");
        assert_no_secret(&error, &[KEY]);
    }
    fake.answer_with(0);
    fake.delay(Duration::from_secs(3));
    let error = plugin.send(&n).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
    assert!(error.detail.starts_with("Exception on pagerduty request. key=<****> "), "{}", error.detail);
    assert_no_secret(&error, &[KEY]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = plugin_at(&format!("http://127.0.0.1:{closed}{V2_PATH}"));
    let error = unreachable.send(&n).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true));
    assert_no_secret(&error, &[KEY]);
}

fn plugin_at(url: &str) -> Arc<dyn Plugin> {
    plugin("pagerduty", &format!("[pagerduty_notifier]\napi_version = 2\nurl = {url}\n"))
}

fn with_alarm(message: &serde_json::Value, key: &str) -> Notification {
    let alarm = tocsin::ingest::decode(Some(message.to_string().as_bytes()), 1 << 20).unwrap();
    let method = NotificationMethod { id: "m-1".into(), kind: "pagerduty".into(), name: None, address: Some(key.into()), period: 0 };
    Notification::new(method, Arc::new(alarm))
}

/// Alarm in → PagerDuty receives Monasca's exact v1 event → record on the sent topic; a method
/// whose key PagerDuty refuses → record on the retry topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_v1_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let fake = FakePagerDuty::start().await;
    db.add_definition("def-pd").await;
    db.add_method("m-pd", "PAGERDUTY", "on-call", KEY, 0).await;
    db.add_method("m-bad", "PAGERDUTY", "typo", "SHORTKEY", 0).await;
    db.attach("def-pd", "ALARM", "m-pd").await;
    db.attach("def-pd", "ALARM", "m-bad").await;
    let topics = Topics::create(1).await;
    let extra = format!("[pagerduty_notifier]\ntimeout = 5\nurl = {}\n", fake.url(V1_PATH));
    let app = start_in_process(&write_config_with_plugins(dir.path(), &topics, &db.url, "pagerduty", &extra)).await;

    let b = broker();
    let message = alarm_message("alarm-pd", "def-pd", "ALARM");
    b.produce(&b.producer(), &topics.alarms, "alarm-pd", message.to_string().as_bytes()).await;
    eventually(WAIT, "both events", || async { (fake.requests() == 2).then_some(()) }).await;
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].body, v1_body(KEY, "alarm-pd", "ALARM"));

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&sent[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["type"].as_str()), (Some("m-pd"), Some("pagerduty")));
    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!(record["id"], "m-bad");
    app.shutdown().await.unwrap();
}

/// With `api_version = 2`, an ALARM then an OK transition of one alarm open and resolve one
/// incident through the whole engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_v2_resolves_on_ok() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let fake = FakePagerDuty::start().await;
    db.definition_with_method("def-pd2", "m-pd2", "PAGERDUTY", KEY, &["ALARM", "OK"]).await;
    let topics = Topics::create(1).await;
    let extra = format!("[pagerduty_notifier]\napi_version = 2\nurl = {}\n", fake.url(V2_PATH));
    let app = start_in_process(&write_config_with_plugins(dir.path(), &topics, &db.url, "pagerduty", &extra)).await;

    let b = broker();
    let producer = b.producer();
    for state in ["ALARM", "OK"] {
        b.produce(&producer, &topics.alarms, "alarm-pd2", alarm_message("alarm-pd2", "def-pd2", state).to_string().as_bytes()).await;
    }
    eventually(WAIT, "trigger and resolve", || async { (fake.accepted().len() == 2).then_some(()) }).await;
    let actions: Vec<String> = fake
        .accepted()
        .iter()
        .map(|a| serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["event_action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    assert_eq!(fake.incidents().into_iter().collect::<Vec<_>>(), [("alarm-pd2".to_owned(), false)]);
    assert_eq!(b.read(&topics.sent, 2, WAIT).len(), 2);
    app.shutdown().await.unwrap();
}
