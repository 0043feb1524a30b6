//! The HipChat plugin against a fake HipChat server that validates room notifications as
//! HipChat did: Monasca's form, the `notify` option, failures and their classification, the room
//! token kept out of every error, TLS verification and proxy, and the path through the broker.

pub mod fake;

use crate::plugin_slack::common::{alarm_seconds, assert_no_secret, indented_standard_body, notification, plugin};
use crate::plugin_slack::relays::{ForwardProxy, TlsFront, CA_PEM};
use crate::support::tocsin::{start_in_process, write_config_with_plugins, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, TestDb};
use fake::{FakeHipChat, Received, ROOM, TOKEN};
use std::sync::Arc;
use std::time::Duration;
use tocsin::plugins::{Plugin, Reason};

const WAIT: Duration = Duration::from_secs(30);

fn hipchat(options: &str) -> Arc<dyn Plugin> {
    plugin("hipchat", &format!("[hipchat_notifier]\ntimeout = 5\n{options}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_gets_monascas_text_form() {
    let fake = FakeHipChat::start().await;
    let address = fake.address(ROOM, TOKEN);
    let plugin = hipchat("");
    assert!(plugin.validate_address(&address).is_ok());
    let n = notification("hipchat", &address, "alarm-1", "ALARM");
    let receipt = plugin.send(&n).await.unwrap();
    assert_eq!(receipt.answer, "HTTP 204: ");
    let rendered = plugin.render(&n).unwrap();
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(rendered.body.as_bytes()).into_owned().collect();
    assert_eq!(form.get("message"), Some(&indented_standard_body("alarm-1", "def-1", "ALARM", alarm_seconds(&n))), "render is what send posts");
    assert_eq!(rendered.content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        fake.received(),
        [Received {
            room: ROOM.into(),
            // The harness's alarm is LOW.
            color: Some("green".into()),
            message_format: Some("text".into()),
            message: indented_standard_body("alarm-1", "def-1", "ALARM", alarm_seconds(&n)),
            notify: None,
            content_type: "application/x-www-form-urlencoded".into(),
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_asks_hipchat_to_alert_the_room() {
    let fake = FakeHipChat::start().await;
    hipchat("notify = true").send(&notification("hipchat", &fake.address(ROOM, TOKEN), "alarm-1", "ALARM")).await.unwrap();
    assert_eq!(fake.received()[0].notify, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_classified_and_never_show_the_token() {
    let fake = FakeHipChat::start().await;
    let plugin = hipchat("timeout = 1");
    let send = |address: String| {
        let plugin = plugin.clone();
        async move { plugin.send(&notification("hipchat", &address, "alarm-1", "ALARM")).await.unwrap_err() }
    };
    let wrong_token = "SECRETREVOKEDTOKEN";
    let error = send(fake.address(ROOM, wrong_token)).await;
    assert_eq!((error.reason, error.retryable), (Reason::Auth, false));
    assert!(error.detail.contains("Invalid OAuth session"), "HipChat's answer is kept: {}", error.detail);
    assert_no_secret(&error, &[wrong_token]);

    let error = send(fake.address("99", TOKEN)).await;
    assert_eq!((error.reason, error.retryable), (Reason::Client, false));
    assert!(error.detail.contains("Room not found"), "{}", error.detail);
    assert_no_secret(&error, &[TOKEN]);

    for (status, reason) in [(429, Reason::RateLimited), (500, Reason::Server), (502, Reason::Server)] {
        fake.answer_with(status);
        let error = send(fake.address(ROOM, TOKEN)).await;
        assert_eq!((error.reason, error.retryable), (reason, true), "status {status}");
        assert_no_secret(&error, &[TOKEN]);
    }
    fake.answer_with(0);
    fake.delay(Duration::from_secs(3));
    let error = send(fake.address(ROOM, TOKEN)).await;
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
    assert_no_secret(&error, &[TOKEN]);
    assert!(fake.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_and_the_proxy_is_used() {
    let fake = FakeHipChat::start().await;
    let tls = TlsFront::start(fake.addr).await;
    let address = format!("https://127.0.0.1:{}/v2/room/{ROOM}/notification?auth_token={TOKEN}", tls.addr.port());
    let n = notification("hipchat", &address, "alarm-1", "ALARM");
    let error = hipchat("").send(&n).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true), "{}", error.detail);
    assert_no_secret(&error, &[TOKEN]);
    assert!(fake.received().is_empty());

    hipchat("insecure = true").send(&n).await.unwrap();
    let proxy = ForwardProxy::start(None).await;
    hipchat(&format!("ca_certs = {CA_PEM}\nproxy = http://{}", proxy.addr)).send(&n).await.unwrap();
    assert_eq!(proxy.seen()[0].request_line, format!("CONNECT 127.0.0.1:{} HTTP/1.1", tls.addr.port()));
    assert_eq!(fake.received().len(), 2);
}

/// Alarm in → HipChat receives the exact form → record on the sent topic; a method whose token
/// was revoked → record on the retry topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let fake = FakeHipChat::start().await;
    db.add_definition("def-hc").await;
    db.add_method("m-hc", "HIPCHAT", "ops-room", &fake.address(ROOM, TOKEN), 0).await;
    db.add_method("m-revoked", "HIPCHAT", "old-room", &fake.address(ROOM, "REVOKED"), 0).await;
    db.attach("def-hc", "ALARM", "m-hc").await;
    db.attach("def-hc", "ALARM", "m-revoked").await;
    let topics = Topics::create(1).await;
    let config = write_config_with_plugins(dir.path(), &topics, &db.url, "hipchat", "[hipchat_notifier]\ntimeout = 5\n");
    let app = start_in_process(&config).await;

    let b = broker();
    let message = alarm_message("alarm-hc", "def-hc", "ALARM");
    b.produce(&b.producer(), &topics.alarms, "alarm-hc", message.to_string().as_bytes()).await;
    eventually(WAIT, "both requests", || async { (fake.requests() == 2).then_some(()) }).await;
    let seconds = message["alarm-transitioned"]["timestamp"].as_i64().unwrap() / 1000;
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message, indented_standard_body("alarm-hc", "def-hc", "ALARM", seconds));
    assert_eq!((received[0].color.as_deref(), received[0].message_format.as_deref()), (Some("green"), Some("text")));

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&sent[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["type"].as_str()), (Some("m-hc"), Some("hipchat")));
    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!(record["id"], "m-revoked");
    app.shutdown().await.unwrap();
}
