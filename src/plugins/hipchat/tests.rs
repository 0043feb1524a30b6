//! Monasca's `test_hipchat_notification.py` against a real local server, plus the `notify`
//! option, failures and secrecy of the room token.

use super::*;
use crate::config::{Reader, Source};
use crate::plugins::slack::scripted::{Answer, Scripted};
use crate::plugins::slack::Verification;
use crate::plugins::tests::monasca_test_notification;
use crate::plugins::Reason;

fn config(ini: &str) -> Result<HipChatConfig, crate::config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(&file, format!("[hipchat_notifier]\n{ini}\n")).unwrap();
    HipChatConfig::read(&Reader::new(&Source::read(&file).unwrap()))
}

fn plugin(ini: &str) -> HipChat {
    HipChat::new(&config(ini).unwrap(), 2, &crate::plugins::tests::loopback_guard()).unwrap()
}

/// `json.dumps(standard_body, indent=3)` of Monasca's test alarm.
const MESSAGE: &str = "{\n   \"alarm_id\": \"0\",\n   \"alarm_definition_id\": 0,\n   \"alarm_name\": \"test Alarm\",\n   \"alarm_description\": \"test Alarm description\",\n   \"alarm_timestamp\": 1429023453,\n   \"state\": \"ALARM\",\n   \"old_state\": \"OK\",\n   \"message\": \"I am alarming!\",\n   \"tenant_id\": \"0\",\n   \"metrics\": [\n      {\n         \"dimensions\": {\n            \"hostname\": \"foo1\",\n            \"service\": \"bar1\"\n         }\n      }\n   ]\n}";

#[tokio::test]
async fn critical_alarm_posts_a_red_text_form() {
    let server = Scripted::start(vec![Answer::new(204, None, "")]).await;
    let hipchat = plugin("timeout = 50");
    let receipt = hipchat.send(&monasca_test_notification("hipchat", &server.url("/"))).await.unwrap();
    assert_eq!(receipt.answer, "HTTP 204: ");
    let requests = server.received();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("POST", "/"));
    assert_eq!(requests[0].content_type(), "application/x-www-form-urlencoded");
    let form = requests[0].form();
    let expected: Vec<(String, String)> =
        [("color", "red"), ("message_format", "text"), ("message", MESSAGE)].iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    assert_eq!(form, expected);
    let message: serde_json::Value = serde_json::from_str(&form[2].1).unwrap();
    assert_eq!(message["message"], "I am alarming!");
    assert_eq!(message["alarm_name"], "test Alarm");
    assert_eq!(message["alarm_description"], "test Alarm description");
}

#[test]
fn colors_follow_severity() {
    for (severity, expected) in [("LOW", "green"), ("medium", "gray"), ("HIGH", "yellow"), ("CRITICAL", "red"), ("other", "purple")] {
        assert_eq!(color(severity), expected);
    }
}

#[tokio::test]
async fn notify_option_adds_the_flag_and_the_token_goes_in_the_query() {
    let server = Scripted::start(vec![Answer::new(204, None, "")]).await;
    let hipchat = plugin("notify = true");
    let address = server.url("/v2/room/42/notification?auth_token=R00MT0KEN");
    assert!(hipchat.validate_address(&address).is_ok());
    hipchat.send(&monasca_test_notification("hipchat", &address)).await.unwrap();
    let request = &server.received()[0];
    assert_eq!(request.path, "/v2/room/42/notification");
    assert_eq!(request.query.as_deref(), Some("auth_token=R00MT0KEN"));
    assert_eq!(request.form().last().unwrap(), &("notify".to_owned(), "true".to_owned()));
}

#[tokio::test]
async fn failures_are_classified_and_never_show_the_token() {
    let cases = [(401, Reason::Auth, false), (404, Reason::Client, false), (429, Reason::RateLimited, true), (503, Reason::Server, true)];
    for (status, reason, retryable) in cases {
        let server = Scripted::start(vec![Answer::json(status, r#"{"error": {"message": "Invalid OAuth session R00MT0KEN"}}"#)]).await;
        let address = server.url("/v2/room/42/notification?auth_token=R00MT0KEN");
        let error = plugin("").send(&monasca_test_notification("hipchat", &address)).await.unwrap_err();
        assert_eq!((error.reason, error.retryable), (reason, retryable), "status {status}");
        assert!(error.detail.contains("auth_token=****"), "{}", error.detail);
        assert!(error.detail.contains("Invalid OAuth session ****"), "the answer is kept: {}", error.detail);
        assert!(!format!("{error} {error:?}").contains("R00MT0KEN"), "{error}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{closed}/v2/room/42/notification?auth_token=R00MT0KEN");
    let error = plugin("").send(&monasca_test_notification("hipchat", &address)).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true));
    assert!(!error.to_string().contains("R00MT0KEN"), "{error}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = Scripted::start(vec![Answer::new(204, None, "").delayed(std::time::Duration::from_secs(3))]).await;
    let error = plugin("timeout = 1").send(&monasca_test_notification("hipchat", &server.url("/"))).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
}

#[test]
fn options_and_defaults() {
    let defaults = config("").unwrap();
    assert!(!defaults.notify);
    assert_eq!(defaults.transport.verification(), Verification::Roots, "Monasca skipped verification by default");
    assert_eq!(config("insecure = true").unwrap().transport.verification(), Verification::Off);
    assert_eq!(config("insecure = true\nca_certs = /etc/ca.pem").unwrap().transport.verification(), Verification::RootsAnd("/etc/ca.pem".into()));
    let rendered = config("proxy = http://u:pw@proxy:3128\nnotify = yes").unwrap().render_masked();
    assert!(rendered.contains(&("proxy".into(), "http://u:****@proxy:3128/".into())), "{rendered:?}");
    assert!(rendered.contains(&("notify".into(), "true".into())));
    let error = config("notify = sometimes").unwrap_err().to_string();
    assert!(error.contains("tocsin.conf:2: [hipchat_notifier] notify: "), "{error}");
}

#[test]
fn addresses_are_room_notification_urls_with_a_token() {
    let hipchat = plugin("");
    assert!(hipchat.validate_address("https://hipchat.example/v2/room/42/notification?auth_token=abc").is_ok());
    assert!(hipchat.validate_address("https://hipchat.example/v2/room/42/notification").is_err());
    assert!(hipchat.validate_address("https://hipchat.example/v2/room/42?auth_token=abc").is_err());
    let error = hipchat.validate_address("ftp://hipchat.example/v2/room/42/notification?auth_token=SECRET").unwrap_err();
    assert!(!error.contains("SECRET"), "{error}");
}
