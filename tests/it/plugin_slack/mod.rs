//! The Slack plugin against a fake Slack on loopback that validates requests as Slack does:
//! incoming webhooks and the legacy `chat.postMessage` API (JSON refused, form accepted and then
//! remembered), failures and their classification, TLS verification, `ca_certs`, `insecure`
//! and a real forward proxy, and the whole path through the broker.

pub mod common;
pub mod fake;
pub mod relays;

use crate::support::tocsin::{start_in_process, write_config_with_plugins, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, TestDb};
use common::{assert_no_secret, indented_standard_body, notification, plugin};
use fake::{FakeSlack, Posted, CHANNEL, TOKEN};
use relays::{ForwardProxy, TlsFront, CA_PEM};
use std::time::Duration;
use tocsin::plugins::Reason;

const WAIT: Duration = Duration::from_secs(30);
const SECRETS: [&str; 2] = ["SECRETHOOK1234", "SECRETTOKEN"];

fn slack(options: &str) -> std::sync::Arc<dyn tocsin::plugins::Plugin> {
    plugin("slack", &format!("[slack_notifier]\ntimeout = 5\n{options}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_the_standard_body_as_indented_json() {
    let fake = FakeSlack::start().await;
    let n = notification("slack", &fake.webhook_url(), "alarm-1", "ALARM");
    let receipt = slack("").send(&n).await.unwrap();
    assert_eq!(receipt.answer, "HTTP 200: ok");
    let text = indented_standard_body("alarm-1", "def-1", "ALARM", common::alarm_seconds(&n));
    let rendered: serde_json::Value = serde_json::from_str(&slack("").render(&n).unwrap().body).unwrap();
    assert_eq!(rendered["text"].as_str(), Some(text.as_str()), "render is what send posts");
    assert_eq!(fake.posted(), [Posted { api: "webhook", encoding: "json", channel: None, text }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_api_gets_the_form_after_refusing_json_and_then_the_form_only() {
    let fake = FakeSlack::start().await;
    let plugin = slack("");
    assert!(plugin.validate_address(&fake.api_url()).is_ok());
    for id in ["alarm-1", "alarm-2"] {
        plugin.send(&notification("slack", &fake.api_url(), id, "ALARM")).await.unwrap();
    }
    assert!(fake.seen().iter().all(|s| s.path == "/api/chat.postMessage"));
    let encodings: Vec<String> = fake.seen().iter().map(|s| s.content_type.clone()).collect();
    assert_eq!(encodings, ["application/json", "application/x-www-form-urlencoded", "application/x-www-form-urlencoded"]);
    let posted = fake.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted.iter().all(|p| p.api == "api" && p.channel.as_deref() == Some(CHANNEL)), "{posted:?}");
    assert!(posted[1].text.contains("\"alarm_id\": \"alarm-2\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_failures_are_classified_without_secrets() {
    let fake = FakeSlack::start().await;
    let plugin = slack("");
    let send = |address: String| {
        let plugin = plugin.clone();
        async move { plugin.send(&notification("slack", &address, "alarm-1", "ALARM")).await.unwrap_err() }
    };

    // An unknown webhook: 404 for both encodings, permanent.
    let unknown = format!("http://{}/services/T0001/B0001/SECRETHOOK1234-gone", fake.addr);
    let error = send(unknown).await;
    assert_eq!((error.reason, error.retryable), (Reason::Client, false));
    assert_eq!(fake.seen().len(), 2, "both encodings tried");
    assert_no_secret(&error, &SECRETS);

    // A wrong token: Slack answers 200 with ok=false; refused, both encodings tried.
    let wrong_token = fake.api_url().replace(TOKEN, "xoxb-SECRETTOKEN-revoked");
    let error = send(wrong_token).await;
    assert_eq!(error.reason, Reason::Rejected);
    assert!(error.detail.contains("error=not_authed") && error.detail.contains("error=invalid_auth"), "{}", error.detail);
    assert_no_secret(&error, &SECRETS);

    for (status, reason, retryable) in [(500, Reason::Server, true), (429, Reason::RateLimited, true), (403, Reason::Auth, false)] {
        fake.answer_with(status);
        let error = send(fake.webhook_url()).await;
        assert_eq!((error.reason, error.retryable), (reason, retryable), "status {status}");
        assert_no_secret(&error, &SECRETS);
    }
    fake.answer_with(0);

    fake.without_content_type();
    let error = send(fake.webhook_url()).await;
    assert!(error.detail.contains("no Content-Type"), "{}", error.detail);
    assert_no_secret(&error, &SECRETS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_slack_times_out_once() {
    let fake = FakeSlack::start().await;
    fake.delay(Duration::from_secs(3));
    let plugin = plugin("slack", "[slack_notifier]\ntimeout = 1\n");
    let error = plugin.send(&notification("slack", &fake.webhook_url(), "alarm-1", "ALARM")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
    assert_eq!(fake.seen().len(), 1, "no second encoding after a timeout");
    assert_no_secret(&error, &SECRETS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_verified_unless_trusted_or_insecure() {
    let fake = FakeSlack::start().await;
    let tls = TlsFront::start(fake.addr).await;
    let address = format!("https://127.0.0.1:{}{}", tls.addr.port(), fake::HOOK);
    let n = notification("slack", &address, "alarm-1", "ALARM");

    let error = slack("").send(&n).await.unwrap_err();
    assert_eq!(error.reason, Reason::Connect, "{}", error.detail);
    assert!(fake.posted().is_empty());
    // The server learns of the refusal after the client has given up.
    eventually(WAIT, "the refused handshake", || async { (tls.failed_handshakes() == 1).then_some(()) }).await;
    assert_no_secret(&error, &SECRETS);

    slack(&format!("ca_certs = {CA_PEM}")).send(&n).await.unwrap();
    slack("insecure = true").send(&n).await.unwrap();
    // As in Monasca, ca_certs wins over insecure: verification stays on, with the CA trusted.
    slack(&format!("insecure = true\nca_certs = {CA_PEM}")).send(&n).await.unwrap();
    assert_eq!(fake.posted().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_carries_http_requests_with_its_credentials() {
    let fake = FakeSlack::start().await;
    // "relay:s3cretpw" in Basic form.
    let proxy = ForwardProxy::start(Some("cmVsYXk6czNjcmV0cHc=")).await;
    let plugin = slack(&format!("proxy = http://relay:s3cretpw@{}", proxy.addr));
    plugin.send(&notification("slack", &fake.webhook_url(), "alarm-1", "ALARM")).await.unwrap();
    assert_eq!(fake.posted().len(), 1);
    let seen = proxy.seen();
    assert_eq!(seen[0].request_line, format!("POST {} HTTP/1.1", fake.webhook_url()));
    assert_eq!(seen[0].proxy_authorization.as_deref(), Some("Basic cmVsYXk6czNjcmV0cHc="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_tunnels_https_with_connect() {
    let fake = FakeSlack::start().await;
    let tls = TlsFront::start(fake.addr).await;
    let proxy = ForwardProxy::start(None).await;
    let plugin = slack(&format!("proxy = http://{}\nca_certs = {CA_PEM}", proxy.addr));
    let address = format!("https://127.0.0.1:{}{}", tls.addr.port(), fake::HOOK);
    plugin.send(&notification("slack", &address, "alarm-1", "ALARM")).await.unwrap();
    assert_eq!(fake.posted().len(), 1);
    assert_eq!(proxy.seen()[0].request_line, format!("CONNECT 127.0.0.1:{} HTTP/1.1", tls.addr.port()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_refusing_the_credentials_fails_without_showing_them() {
    let fake = FakeSlack::start().await;
    let proxy = ForwardProxy::start(Some("b3RoZXI6b3RoZXI=")).await;
    let plugin = slack(&format!("proxy = http://relay:s3cretpw@{}", proxy.addr));
    let error = plugin.send(&notification("slack", &fake.webhook_url(), "alarm-1", "ALARM")).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Auth, false), "407 from the proxy: {}", error.detail);
    assert!(fake.posted().is_empty());
    assert_no_secret(&error, &["s3cretpw", "SECRETHOOK1234"]);
}

/// Alarm in → Slack receives the exact text → record on the sent topic; a method whose webhook
/// is gone → record on the retry topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let fake = FakeSlack::start().await;
    let gone = format!("http://{}/services/T0001/B0001/gone", fake.addr);
    db.add_definition("def-slack").await;
    db.add_method("m-slack", "SLACK", "ops-slack", &fake.webhook_url(), 0).await;
    db.add_method("m-gone", "SLACK", "old-slack", &gone, 0).await;
    db.attach("def-slack", "ALARM", "m-slack").await;
    db.attach("def-slack", "ALARM", "m-gone").await;
    let topics = Topics::create(1).await;
    let config = write_config_with_plugins(dir.path(), &topics, &db.url, "slack", "[slack_notifier]\ntimeout = 5\n");
    let app = start_in_process(&config).await;

    let message = alarm_message("alarm-e2e", "def-slack", "ALARM");
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "alarm-e2e", message.to_string().as_bytes()).await;

    eventually(WAIT, "the Slack message", || async { (!fake.posted().is_empty()).then_some(()) }).await;
    let seconds = message["alarm-transitioned"]["timestamp"].as_i64().unwrap() / 1000;
    let text = indented_standard_body("alarm-e2e", "def-slack", "ALARM", seconds);
    assert_eq!(fake.posted(), [Posted { api: "webhook", encoding: "json", channel: None, text }]);

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1, "one record on the sent topic");
    let record: serde_json::Value = serde_json::from_str(&sent[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["type"].as_str()), (Some("m-slack"), Some("slack")));
    assert_eq!(record["address"], fake.webhook_url());

    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1, "one record on the retry topic");
    let record: serde_json::Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["retry_count"].as_u64()), (Some("m-gone"), Some(0)));
    app.shutdown().await.unwrap();
}
