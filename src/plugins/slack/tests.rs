//! Monasca's `test_slack_notification.py` against a real local server that replays the same
//! answers its mocked `requests.post` did, plus the template, address and secrecy rules.

use super::scripted::{Answer, Scripted};
use super::*;
use crate::config::{Reader, Source};
use crate::plugins::tests::monasca_test_notification;
use std::path::Path;

/// Python's `json.dumps(standard_body, indent=3)` for Monasca's test alarm.
const DEFAULT_TEXT: &str = r#"{
   "alarm_id": "0",
   "alarm_definition_id": 0,
   "alarm_name": "test Alarm",
   "alarm_description": "test Alarm description",
   "alarm_timestamp": 1429023453,
   "state": "ALARM",
   "old_state": "OK",
   "message": "I am alarming!",
   "tenant_id": "0",
   "metrics": [
      {
         "dimensions": {
            "hostname": "foo1",
            "service": "bar1"
         }
      }
   ]
}"#;

/// Monasca's `tests/resources/test_slackformat.template`, reproduced.
const MONASCA_TEST_TEMPLATE: &str = "{{ alarm_name }} has triggered on {% for item in metrics %}host {{ metrics[0].dimensions.hostname }}, service {{ item.dimensions.service }}{% if not loop.last %}, {% endif %}{% endfor %}.\n";

/// The example of Monasca's README.
const README_TEMPLATE: &str = "{{ alarm_name }} has triggered on {% for item in metrics %}host {{ item.dimensions.hostname }}{% if not loop.last %}, {% endif %}{% endfor %}.";

/// Reads `[slack_notifier]` with these lines from a file `tocsin.conf` (errors name it).
fn config(ini: &str) -> Result<SlackConfig, crate::config::Error> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(&file, format!("[slack_notifier]\n{ini}\n")).unwrap();
    let source = Source::read(&file).unwrap();
    SlackConfig::read(&Reader::new(&source))
}

fn slack(ini: &str) -> Slack {
    Slack::new(&config(ini).unwrap(), 2, &crate::plugins::tests::loopback_guard()).unwrap()
}

fn template_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("slack.template");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn json_text(request: &super::scripted::Recorded) -> String {
    assert_eq!(request.content_type(), "application/json");
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    body["text"].as_str().unwrap().to_owned()
}

fn form_text(request: &super::scripted::Recorded) -> String {
    assert_eq!(request.content_type(), "application/x-www-form-urlencoded");
    let form = request.form();
    assert_eq!(form.len(), 1, "only text is sent: {form:?}");
    assert_eq!(form[0].0, "text");
    form[0].1.clone()
}

fn cache(slack: &Slack) -> Vec<String> {
    slack.raw_data_urls.lock().unwrap().clone()
}

/// Sends Monasca's test notification to the scripted server; returns the result and requests.
async fn notify(slack: &Slack, answers: Vec<Answer>) -> (Result<Receipt, SendError>, Vec<super::scripted::Recorded>, String) {
    let server = Scripted::start(answers).await;
    let address = server.url("/");
    let result = slack.send(&monasca_test_notification("slack", &address)).await;
    (result, server.received(), address)
}

#[test]
fn default_text_is_pythons_indented_json() {
    let slack = slack("");
    assert_eq!(slack.text(&monasca_test_notification("slack", "http://h/")).unwrap(), DEFAULT_TEXT);
}

#[tokio::test]
async fn webhook_success_sends_json_once_and_caches_nothing() {
    let slack = slack("timeout = 50");
    let (result, requests, _) = notify(&slack, vec![Answer::text(200, "ok")]).await;
    assert_eq!(result.unwrap().answer, "HTTP 200: ok");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(json_text(&requests[0]), DEFAULT_TEXT);
    assert_eq!(requests[0].body, pyjson::to_string(&serde_json::json!({ "text": DEFAULT_TEXT })), "requests' json= body");
    assert!(cache(&slack).is_empty());
}

#[tokio::test]
async fn both_encodings_failing_is_a_failure() {
    let slack = slack("");
    let answers = vec![Answer::text(200, "failure"), Answer::json(200, r#"{"ok":false,"error":"failure"}"#)];
    let (result, requests, _) = notify(&slack, answers).await;
    let error = result.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Rejected, true));
    assert!(error.detail.contains("as json: ") && error.detail.contains("error=failure"), "{}", error.detail);
    assert_eq!(requests.len(), 2);
    assert_eq!(json_text(&requests[0]), DEFAULT_TEXT);
    assert_eq!(form_text(&requests[1]), DEFAULT_TEXT);
    assert!(cache(&slack).is_empty());
}

#[tokio::test]
async fn form_accepted_after_json_refused_caches_the_url() {
    let slack = slack("");
    let answers = vec![Answer::json(200, r#"{"ok":false,"error":"failure"}"#), Answer::json(200, r#"{"ok":true}"#)];
    let (result, requests, address) = notify(&slack, answers).await;
    assert!(result.is_ok());
    assert_eq!(requests.len(), 2);
    assert_eq!(json_text(&requests[0]), DEFAULT_TEXT);
    assert_eq!(form_text(&requests[1]), DEFAULT_TEXT);
    assert_eq!(cache(&slack), [address]);
}

#[tokio::test]
async fn a_cached_url_gets_the_form_only() {
    for (answer, succeeds) in [(r#"{"ok":true}"#, true), (r#"{"ok":false,"error":"failure"}"#, false)] {
        let slack = slack("");
        let server = Scripted::start(vec![Answer::json(200, answer)]).await;
        let address = server.url("/");
        slack.raw_data_urls.lock().unwrap().push(address.clone());
        let result = slack.send(&monasca_test_notification("slack", &address)).await;
        assert_eq!(result.is_ok(), succeeds);
        let requests = server.received();
        assert_eq!(requests.len(), 1);
        assert_eq!(form_text(&requests[0]), DEFAULT_TEXT);
        assert_eq!(cache(&slack), [address]);
    }
}

#[tokio::test]
async fn a_full_cache_stays_unchanged() {
    let slack = slack("");
    let dummies: Vec<String> = (0..RAW_DATA_CACHE_SIZE).map(|i| format!("http://dummy/{i}")).collect();
    *slack.raw_data_urls.lock().unwrap() = dummies.clone();
    let answers = vec![Answer::json(200, r#"{"ok":false,"error":"failure"}"#), Answer::json(200, r#"{"ok":true}"#)];
    let (result, requests, _) = notify(&slack, answers).await;
    assert!(result.is_ok());
    assert_eq!((json_text(&requests[0]), form_text(&requests[1])), (DEFAULT_TEXT.to_owned(), DEFAULT_TEXT.to_owned()));
    assert_eq!(cache(&slack), dummies);
}

#[tokio::test]
async fn http_400_twice_tries_both_and_is_permanent() {
    let slack = slack("");
    let refusal = Answer::json(400, r#"{"ok":false,"error":"failure"}"#);
    let (result, requests, _) = notify(&slack, vec![refusal.clone(), refusal]).await;
    let error = result.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Client, false));
    assert_eq!(requests.len(), 2);
    assert_eq!((requests[0].content_type(), requests[1].content_type()), ("application/json", "application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn an_answer_without_content_type_is_a_failure() {
    let slack = slack("");
    let (result, requests, _) = notify(&slack, vec![Answer::new(200, None, "ok"), Answer::new(200, None, "ok")]).await;
    assert!(result.unwrap_err().detail.contains("no Content-Type"));
    assert_eq!(requests.len(), 2);
}

#[test]
fn answer_checks_follow_monasca() {
    assert!(check_answer(Some("application/json; charset=utf-8"), r#"{"ok": true, "ts": "1"}"#).is_ok());
    assert!(check_answer(Some("application/json"), r#"{"ok": 1}"#).is_ok());
    assert_eq!(check_answer(Some("application/json"), r#"{"ok": false}"#).unwrap_err(), "error=None");
    assert!(check_answer(Some("application/json"), "[true]").is_err());
    assert!(check_answer(Some("application/json"), "ok").is_err());
    assert!(check_answer(Some("text/html"), "ok").is_ok());
    assert!(check_answer(Some("text/html"), "ok\n").is_err());
    assert!(check_answer(None, "ok").is_err());
}

#[test]
fn certificate_verification_matrix() {
    let ca = "ca_certs = /etc/ssl/certs/ca-bundle.crt\n";
    let cases = [
        (format!("insecure = true\n{ca}"), Verification::RootsAnd("/etc/ssl/certs/ca-bundle.crt".into())),
        (format!("insecure = false\n{ca}"), Verification::RootsAnd("/etc/ssl/certs/ca-bundle.crt".into())),
        ("insecure = true\n".to_owned(), Verification::Off),
        ("insecure = false\n".to_owned(), Verification::Roots),
        // Monasca's default was `insecure = True` (no verification); Tocsin verifies.
        ("timeout = 50\n".to_owned(), Verification::Roots),
    ];
    for (ini, expected) in cases {
        assert_eq!(config(&ini).unwrap().transport.verification(), expected, "{ini}");
    }
    let only_timeout = config("timeout = 50").unwrap().transport;
    assert_eq!((only_timeout.timeout, only_timeout.proxy), (Duration::from_secs(50), None));
}

#[test]
fn options_render_with_the_proxy_password_masked() {
    let config = config("proxy = http://yourid:password@proxyserver:8080\ninsecure = true").unwrap();
    let rendered = config.render_masked();
    assert!(rendered.contains(&("proxy".into(), "http://yourid:****@proxyserver:8080/".into())), "{rendered:?}");
    assert!(rendered.contains(&("insecure".into(), "true".into())));
    assert!(!format!("{rendered:?}").contains("password@"));
}

#[test]
fn bad_options_name_the_key() {
    let error = config("proxy = not a url").unwrap_err().to_string();
    assert!(error.contains("tocsin.conf:2: [slack_notifier] proxy: "), "{error}");
    let error = config("timeout = 0").unwrap_err().to_string();
    assert!(error.contains("tocsin.conf:2: [slack_notifier] timeout: "), "{error}");
}

#[test]
fn unreadable_ca_certs_fail_the_build() {
    let config = config("ca_certs = /nonexistent/ca.pem").unwrap();
    let error = Slack::new(&config, 1, &crate::plugins::tests::loopback_guard()).err().expect("build fails").to_string();
    assert!(error.contains("/nonexistent/ca.pem"), "{error}");
}

#[tokio::test]
async fn monascas_test_template_renders_as_its_test_expects() {
    let dir = tempfile::tempdir().unwrap();
    let slack = slack(&format!("message_template = {}", template_file(&dir, MONASCA_TEST_TEMPLATE)));
    let (result, requests, _) = notify(&slack, vec![Answer::text(200, "ok")]).await;
    assert!(result.is_ok());
    assert_eq!(json_text(&requests[0]), "test Alarm has triggered on host foo1, service bar1.");
}

#[test]
fn readme_template_renders_every_host() {
    let dir = tempfile::tempdir().unwrap();
    let slack = slack(&format!("message_template = {}", template_file(&dir, README_TEMPLATE)));
    assert_eq!(slack.text(&monasca_test_notification("slack", "http://h/")).unwrap(), "test Alarm has triggered on host foo1.");
}

#[test]
fn templates_escape_and_print_values_as_jinja2_did() {
    let path = Path::new("t.template");
    let render = |source: &str, context: serde_json::Value| {
        MessageTemplate::parse(path, source.to_owned()).unwrap().render(&context).unwrap()
    };
    let context = serde_json::json!({
        "name": "a<b & \"c\" 'd'", "none": null, "yes": true, "ratio": 0.5, "big": 1e16, "count": 3,
        "dims": {"hostname": "foo1", "service": "bar1"}, "list": [1, "x", null],
    });
    assert_eq!(render("{{ name }}", context.clone()), "a&lt;b &amp; &#34;c&#34; &#39;d&#39;");
    assert_eq!(render("{{ name|safe }}", context.clone()), "a<b & \"c\" 'd'");
    assert_eq!(render("{{ none }} {{ yes }} {{ ratio }} {{ big }} {{ count }} {{ missing }}", context.clone()), "None True 0.5 1e+16 3 ");
    assert_eq!(render("{{ dims }}", context.clone()), "{&#39;hostname&#39;: &#39;foo1&#39;, &#39;service&#39;: &#39;bar1&#39;}");
    assert_eq!(render("{{ list }}", context.clone()), "[1, &#39;x&#39;, None]");
    assert_eq!(render("{% for k, v in dims|items %}{{ k }}={{ v }};{% endfor %}", context), "hostname=foo1;service=bar1;");
}

#[test]
fn a_template_that_does_not_parse_is_a_config_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = template_file(&dir, "line one\n{% for x in metrics %}\n{{ x }\n");
    let error = config(&format!("timeout = 5\nmessage_template = {file}")).unwrap_err().to_string();
    let prefix = format!("tocsin.conf:3: [slack_notifier] message_template: {file}:3: syntax error");
    assert!(error.contains(&prefix), "{error}");
    let error = config("message_template = /nonexistent/slack.template").unwrap_err().to_string();
    assert!(error.contains("[slack_notifier] message_template: /nonexistent/slack.template: cannot read"), "{error}");
}

#[tokio::test]
async fn a_template_that_fails_to_render_fails_only_that_notification() {
    let dir = tempfile::tempdir().unwrap();
    let file = template_file(&dir, "{{ alarm_name }}\n{{ metrics[0].dimensions.hostname.nothing.deeper }}");
    let slack = slack(&format!("message_template = {file}"));
    let (result, requests, _) = notify(&slack, vec![Answer::text(200, "ok")]).await;
    let error = result.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Invalid, false));
    assert!(error.detail.contains(&format!("{file}:2: ")), "{}", error.detail);
    assert!(requests.is_empty(), "nothing is sent");
}

#[tokio::test]
async fn hash_becomes_percent_23_and_the_query_is_resent_as_parameters() {
    let slack = slack("");
    let server = Scripted::start(vec![Answer::json(200, r#"{"ok":false,"error":"not_authed"}"#), Answer::json(200, r#"{"ok":true}"#)]).await;
    let address = server.url("/api/chat.postMessage?token=xoxp-1&channel=#foobar&empty=");
    assert!(slack.validate_address(&address).is_ok());
    slack.send(&monasca_test_notification("slack", &address)).await.unwrap();
    let requests = server.received();
    for request in &requests {
        assert_eq!(request.path, "/api/chat.postMessage");
        assert_eq!(request.query.as_deref(), Some("token=xoxp-1&channel=%23foobar"), "blank values dropped as parse_qs does");
    }
    assert_eq!(cache(&slack), [server.url("/api/chat.postMessage")], "cached without the query");
}

#[test]
fn targets_group_repeated_keys_like_parse_qs() {
    let target = Target::parse("https://slack.example/api/x?a=1&b=2&a=3+4").unwrap();
    assert_eq!(target.url.as_str(), "https://slack.example/api/x");
    let expected: Vec<(String, String)> =
        [("a", "1"), ("a", "3 4"), ("b", "2")].iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    assert_eq!(target.query, expected);
    assert_eq!(target.redacted, "https://slack.example/api/****");
}

#[tokio::test]
async fn failing_sends_never_show_the_webhook_secret() {
    let slack = slack("");
    let server = Scripted::start(vec![Answer::text(500, "oops"), Answer::text(500, "oops")]).await;
    let address = server.url("/services/T000/B000/SECRETHOOK?token=SECRETTOKEN");
    let error = slack.send(&monasca_test_notification("slack", &address)).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Server, true));
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("SECRET"), "{text}");
    }
    assert!(error.detail.contains(&format!("http://{}/services/****", server.addr)), "{}", error.detail);

    // No server at all: a transport error, tried once (the form would meet the same socket).
    let closed = format!("http://127.0.0.1:{}/services/T000/B000/SECRETHOOK", closed_port());
    let error = slack.send(&monasca_test_notification("slack", &closed)).await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true));
    assert!(!error.to_string().contains("SECRET"), "{error}");
}

#[tokio::test]
async fn a_slow_answer_times_out_without_a_second_attempt() {
    let slack = slack("timeout = 1");
    let (result, requests, _) = notify(&slack, vec![Answer::text(200, "ok").delayed(Duration::from_secs(3))]).await;
    let error = result.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true));
    assert_eq!(requests.len(), 1);
    assert_eq!(slack.timeout(), Duration::from_secs(2), "the dispatcher allows both attempts");
}

#[test]
fn addresses_are_checked() {
    let slack = slack("");
    assert!(slack.validate_address("https://hooks.slack.com/services/T0/B0/xyz").is_ok());
    assert!(slack.validate_address("https://slack.com/api/chat.postMessage?token=t&channel=#ops").is_ok());
    assert!(slack.validate_address("https://mattermost.example/hooks/abc").is_ok());
    assert!(slack.validate_address("https://hooks.slack.com/other").is_err());
    assert!(slack.validate_address("https://slack.com/api/chat.postMessage?channel=#ops").is_err());
    assert!(slack.validate_address("ftp://hooks.slack.com/services/x").is_err());
    assert!(slack.validate_address("#ops").is_err());
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn each_incoming_webhook_is_its_own_destination() {
    let slack = slack("");
    let to = |address: &str| slack.destination(&monasca_test_notification("slack", address)).to_owned();
    assert_eq!(to("https://hooks.slack.com/services/T1/B1/secret?channel=ops"), "https://hooks.slack.com/services/T1/B1/secret");
    assert_ne!(to("https://hooks.slack.com/services/T1/B1/secret"), to("https://hooks.slack.com/services/T2/B2/other"));
}
