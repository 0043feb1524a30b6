//! The Jira plugin against the fake Jira server: Monasca's workflow (create, comment on the
//! existing issue, reopen when resolved or closed, nothing else otherwise), the custom formatter,
//! JQL escaping, and how each kind of failure is classified, without ever showing a secret.

use super::fake::FakeJira;
use crate::support::alarm_message;
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;
use tocsin::model::{Notification, NotificationMethod};
use tocsin::plugins::jira::{Formatter, Jira, JiraConfig};
use tocsin::plugins::{Plugin, Reason};

const USER: &str = "username";
const PASSWORD: &str = "s3cr3t-Pa55";

fn config() -> JiraConfig {
    JiraConfig {
        timeout: Duration::from_secs(5),
        user: USER.into(),
        password: tocsin::config::Secret::new(PASSWORD),
        servers: tocsin::outbound::Destinations::parse(&["127.0.0.1".into(), "jira.example.invalid".into(), "jira.example".into()]).unwrap(),
        custom_formatter: None,
        formatter: None,
        proxy: None,
        issue_type: "Bug".into(),
    }
}

fn jira(config: &JiraConfig) -> Jira {
    Jira::new(config, 2, &crate::support::loopback_guard()).unwrap()
}

fn notification(alarm_id: &str, address: &str) -> Notification {
    let message = alarm_message(alarm_id, "def-1", "ALARM");
    let alarm = tocsin::ingest::decode(Some(message.to_string().as_bytes()), 1 << 20).unwrap();
    let method = NotificationMethod {
        id: "m-jira".into(),
        kind: "jira".into(),
        name: Some("ops-jira".into()),
        address: Some(address.into()),
        period: 0,
    };
    Notification::new(method, Arc::new(alarm))
}

fn get(path: &str) -> (String, String) {
    ("GET".into(), path.into())
}

fn post(path: &str) -> (String, String) {
    ("POST".into(), path.into())
}

#[tokio::test]
async fn creates_an_issue_with_monascas_fields_and_comment() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let plugin = jira(&config());
    let n = notification("alarm-1", &fake.address("?project=OPS&component=Web"));
    let receipt = plugin.send(&n).await.unwrap();
    assert_eq!(receipt.answer, "created OPS-1, commented");
    // What `template render` prints: the issue a first notification creates, and its comment.
    let rendered: serde_json::Value = serde_json::from_str(&tocsin::plugins::Plugin::render(&plugin, &n).unwrap().body).unwrap();
    assert_eq!(rendered["create"]["fields"]["summary"], "Monasca alarm for alarm_defintion dummy_alarm status changed to ALARM for the alarm_id alarm-1");
    assert_eq!(rendered["create"]["fields"]["project"]["key"], "OPS");
    assert!(rendered["comment"].as_str().unwrap().starts_with("{code}{\n   \"alarm_id\": \"alarm-1\""), "{rendered}");

    let issue = fake.issue("OPS-1");
    assert_eq!(issue.summary, "Monasca alarm for alarm_defintion dummy_alarm status changed to ALARM for the alarm_id alarm-1");
    assert_eq!(issue.description, "Monasca alarm");
    assert_eq!((issue.issue_type.as_str(), issue.components.as_slice()), ("Bug", ["Web".to_owned()].as_slice()));
    assert_eq!((issue.reporter.as_str(), issue.status.as_str()), (USER, "Open"));
    assert_eq!(issue.comments.len(), 1);
    let comment = &issue.comments[0];
    assert!(comment.starts_with("{code}{\n   \"alarm_id\": \"alarm-1\",\n   \"alarm_definition_id\": \"def-1\",\n"), "{comment}");
    assert!(comment.ends_with("\n   ]\n}{code}"), "{comment}");

    assert_eq!(fake.calls(), [get("/rest/api/2/search"), post("/rest/api/2/issue"), post("/rest/api/2/issue/OPS-1/comment")]);
    assert_eq!(fake.seen()[0].jql.as_deref(), Some("project=OPS and reporter='username' and summary ~ 'alarm-1'"));
}

#[tokio::test]
async fn later_transitions_comment_on_the_same_issue() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let plugin = jira(&config());
    let address = fake.address("?project=OPS");
    plugin.send(&notification("alarm-2", &address)).await.unwrap();
    let receipt = plugin.send(&notification("alarm-2", &address)).await.unwrap();
    assert_eq!(receipt.answer, "found OPS-1 (Open), commented");
    assert_eq!(fake.issues().len(), 1, "no second issue");
    assert_eq!(fake.issue("OPS-1").comments.len(), 2);
    assert!(fake.calls().iter().all(|(_, p)| !p.ends_with("/transitions")), "an open issue is not transitioned");
}

#[tokio::test]
async fn resolved_and_closed_issues_are_reopened() {
    for status in ["Resolved", "Closed"] {
        let fake = FakeJira::start(USER, PASSWORD).await;
        let key = fake.add_issue("MyProject", "Monasca alarm for alarm_defintion x status changed to OK for the alarm_id 0", status);
        let plugin = jira(&config());
        let receipt = plugin.send(&notification("0", &fake.address("?project=MyProject&component=MyComponent"))).await.unwrap();
        assert_eq!(receipt.answer, format!("found {key} ({status}), reopened by \"Reopen Issue\", commented"));
        let issue = fake.issue(&key);
        assert_eq!((issue.status.as_str(), issue.comments.len()), ("Reopened", 1), "{status}");
        assert_eq!(fake.issues().len(), 1, "no create");
        assert_eq!(fake.seen()[0].jql.as_deref(), Some("project=MyProject and reporter='username' and summary ~ '0'"));
        let transition = fake.seen().into_iter().find(|s| s.method == "POST" && s.path.ends_with("/transitions")).unwrap();
        assert_eq!(transition.body, r#"{"transition":{"id":"3"}}"#);
    }
}

#[tokio::test]
async fn issues_in_progress_are_not_transitioned() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let key = fake.add_issue("OPS", "alarm 0 again", "In Progress");
    let receipt = jira(&config()).send(&notification("0", &fake.address("?project=OPS"))).await.unwrap();
    assert_eq!(receipt.answer, format!("found {key} (In Progress), commented"));
    assert_eq!(fake.calls(), [get("/rest/api/2/search"), post(&format!("/rest/api/2/issue/{key}/comment"))], "no transitions call");
    assert_eq!(fake.issue(&key).status, "In Progress");
}

#[tokio::test]
async fn without_a_reopen_transition_nothing_is_transitioned() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    fake.without_reopen();
    let key = fake.add_issue("OPS", "alarm 0", "Resolved");
    let receipt = jira(&config()).send(&notification("0", &fake.address("?project=OPS"))).await.unwrap();
    assert_eq!(receipt.answer, format!("found {key} (Resolved), commented"));
    assert_eq!(
        fake.calls(),
        [
            get("/rest/api/2/search"),
            get(&format!("/rest/api/2/issue/{key}/transitions")),
            post(&format!("/rest/api/2/issue/{key}/comment"))
        ]
    );
    assert_eq!(fake.issue(&key).status, "Resolved");
}

#[tokio::test]
async fn custom_formatter_fields_and_no_comment_without_comments() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let yaml = "jira_format:\n  summary: Alarm created for {{ notification.alarm_name }} with severity\n           {{ notification.state }} for {{ notification.alarm_id }}\n  description : \"{{ notification.alarm_name }} on {{ notification.metrics[0].dimensions.hostname }}\"\n";
    let mut c = config();
    c.formatter = Some(Formatter::parse(yaml, std::path::Path::new("jiraformat.yml")).unwrap());
    c.issue_type = "Incident".into();
    let plugin = jira(&c);
    let address = fake.address("?project=OPS");
    assert_eq!(plugin.send(&notification("alarm-3", &address)).await.unwrap().answer, "created OPS-1");
    let issue = fake.issue("OPS-1");
    assert_eq!(issue.summary, "Alarm created for dummy_alarm with severity ALARM for alarm-3");
    assert_eq!((issue.description.as_str(), issue.issue_type.as_str()), ("dummy_alarm on operator", "Incident"));
    assert!(issue.comments.is_empty());
    assert!(fake.calls().iter().all(|(_, p)| !p.ends_with("/comment")), "no add_comment call");
    // The summary holds the alarm id, so the next transition finds the issue.
    assert_eq!(plugin.send(&notification("alarm-3", &address)).await.unwrap().answer, "found OPS-1 (Open)");
}

#[tokio::test]
async fn an_alarm_id_cannot_inject_jql() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let other = fake.add_issue("OPS", "an unrelated issue about y", "Open");
    let hostile = "x' or summary ~ 'y";
    let receipt = jira(&config()).send(&notification(hostile, &fake.address("?project=OPS"))).await.unwrap();
    assert_eq!(fake.seen()[0].jql.as_deref(), Some(r"project=OPS and reporter='username' and summary ~ 'x\' or summary ~ \'y'"));
    assert!(receipt.answer.starts_with("created OPS-2"), "the search must not find {other}: {}", receipt.answer);
    assert!(fake.issue(&other).comments.is_empty());
}

#[tokio::test]
async fn wrong_credentials_fail_permanently_without_showing_the_password() {
    let fake = FakeJira::start(USER, "another-password").await;
    let err = jira(&config()).send(&notification("alarm-4", &fake.address("?project=OPS"))).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Auth, false), "{err}");
    assert!(err.detail.contains("searching for the alarm's issue: Jira answered HTTP 401"), "{}", err.detail);
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(fake.issues().is_empty());
}

#[tokio::test]
async fn failures_are_classified_and_show_no_secret() {
    let cases = [
        (500, Reason::Server, true),
        (503, Reason::Server, true),
        (429, Reason::RateLimited, true),
        (403, Reason::Auth, false),
        (400, Reason::Client, false),
        (404, Reason::Client, false),
    ];
    let fake = FakeJira::start(USER, PASSWORD).await;
    let plugin = jira(&config());
    for (status, reason, retryable) in cases {
        fake.fail_with(Some(status));
        let err = plugin.send(&notification("alarm-5", &fake.address("?project=OPS"))).await.unwrap_err();
        assert_eq!((err.reason, err.retryable), (reason, retryable), "HTTP {status}: {err}");
        assert!(err.detail.contains(&format!("HTTP {status}")) && err.detail.contains("the fake was told to fail"), "{}", err.detail);
        assert!(!err.to_string().contains(PASSWORD), "{err}");
    }
    fake.fail_with(None);
    assert!(plugin.send(&notification("alarm-5", &fake.address("?project=OPS"))).await.is_ok(), "recovers once Jira does");
}

#[tokio::test]
async fn jiras_refusal_of_an_issue_is_permanent_and_explained() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    let plugin = jira(&config());
    let err = plugin.send(&notification("alarm-6", &fake.address("?project=NOPE"))).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Client, false), "{err}");
    assert!(err.detail.starts_with("creating the issue: Jira answered HTTP 400"), "{}", err.detail);
    assert!(err.detail.contains("project: valid project is required"), "{}", err.detail);

    let err = plugin.send(&notification("alarm-6", &fake.address("?project=OPS&component=Nope"))).await.unwrap_err();
    assert!(err.detail.contains("components: Component name 'Nope' is not valid"), "{}", err.detail);
}

#[tokio::test]
async fn a_slow_jira_times_out_retryably() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    fake.delay(Duration::from_secs(5));
    let mut c = config();
    c.timeout = Duration::from_secs(1);
    let err = jira(&c).send(&notification("alarm-7", &fake.address("?project=OPS"))).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Timeout, true), "{err}");
    assert!(err.detail.starts_with("searching for the alarm's issue"), "{}", err.detail);
}

#[tokio::test]
async fn an_unreachable_jira_is_retryable() {
    let port = crate::support::free_port();
    let err = jira(&config()).send(&notification("alarm-8", &format!("http://127.0.0.1:{port}/?project=OPS"))).await.unwrap_err();
    assert_eq!((err.reason, err.retryable), (Reason::Connect, true), "{err}");
}

#[tokio::test]
async fn a_retired_search_endpoint_switches_to_search_jql() {
    let fake = FakeJira::start(USER, PASSWORD).await;
    fake.retire_search();
    let plugin = jira(&config());
    let address = fake.address("?project=OPS");
    assert_eq!(plugin.send(&notification("alarm-9", &address)).await.unwrap().answer, "created OPS-1, commented");
    assert_eq!(plugin.send(&notification("alarm-9", &address)).await.unwrap().answer, "found OPS-1 (Open), commented");
    let searches: Vec<String> = fake.calls().into_iter().filter(|(_, p)| p.contains("/search")).map(|(_, p)| p).collect();
    assert_eq!(searches, ["/rest/api/2/search", "/rest/api/2/search/jql", "/rest/api/2/search/jql"], "the switch is remembered");
}

/// A forward proxy on loopback that records the head of each request and refuses the tunnel.
fn refusing_proxy() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = tx.send(head);
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (port, rx)
}

#[tokio::test]
async fn https_goes_through_the_proxy_and_http_does_not() {
    use base64::Engine as _;
    let (port, heads) = refusing_proxy();
    let mut c = config();
    c.proxy = Some(tocsin::config::Secret::new(format!("http://yourid:pr0xy-pw@127.0.0.1:{port}")));
    let plugin = jira(&c);

    let err = plugin.send(&notification("alarm-10", "https://jira.example.invalid/?project=OPS")).await.unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(!err.to_string().contains("pr0xy-pw") && !err.to_string().contains(PASSWORD), "{err}");
    let head = heads.recv_timeout(Duration::from_secs(10)).expect("the proxy was asked for a tunnel");
    assert!(head.starts_with("CONNECT jira.example.invalid:443 HTTP/1.1\r\n"), "{head}");
    let credentials = base64::engine::general_purpose::STANDARD.encode("yourid:pr0xy-pw");
    assert!(head.to_ascii_lowercase().contains(&format!("proxy-authorization: basic {}", credentials.to_ascii_lowercase())), "{head}");

    // Monasca proxied https only (`proxies={'https': proxy}`).
    let fake = FakeJira::start(USER, PASSWORD).await;
    plugin.send(&notification("alarm-10", &fake.address("?project=OPS"))).await.unwrap();
    assert!(heads.try_recv().is_err(), "plain http went around the proxy");
}
