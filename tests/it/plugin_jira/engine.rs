//! End to end: an alarm on the broker becomes a Jira issue on the fake server and a record on
//! the sent topic; a Jira answering 503 sends the notification to the retry topic. A broken
//! custom formatter stops the start.

use super::fake::FakeJira;
use crate::support::tocsin::{start_in_process, write_config_with_plugins, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, TestDb};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_becomes_an_issue_and_failures_go_to_the_retry_topic() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let jira = FakeJira::start("monasca", "e2e-pw").await;
    let broken = FakeJira::start("monasca", "e2e-pw").await;
    broken.fail_with(Some(503));
    db.add_definition("def-jira").await;
    db.add_method("m-jira", "JIRA", "ops-jira", &jira.address("?project=OPS&component=Web"), 0).await;
    db.add_method("m-broken", "JIRA", "broken-jira", &broken.address("?project=OPS"), 0).await;
    db.attach("def-jira", "ALARM", "m-jira").await;
    db.attach("def-jira", "ALARM", "m-broken").await;
    let topics = Topics::create(1).await;
    let extra = "[jira_notifier]\nuser = monasca\npassword = e2e-pw\ntimeout = 5\nservers = 127.0.0.1\n";
    let app = start_in_process(&write_config_with_plugins(dir.path(), &topics, &db.url, "jira", extra)).await;

    let b = broker();
    let message = alarm_message("alarm-e2e", "def-jira", "ALARM");
    b.produce(&b.producer(), &topics.alarms, "alarm-e2e", message.to_string().as_bytes()).await;

    let issue = eventually(WAIT, "the issue and its comment", || async {
        jira.issues().into_iter().next().filter(|i| !i.comments.is_empty())
    })
    .await;
    assert_eq!(issue.summary, "Monasca alarm for alarm_defintion dummy_alarm status changed to ALARM for the alarm_id alarm-e2e");
    assert_eq!((issue.project.as_str(), issue.components.as_slice()), ("OPS", ["Web".to_owned()].as_slice()));
    assert!(issue.comments[0].contains("\"alarm_id\": \"alarm-e2e\""), "{}", issue.comments[0]);

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1, "one record on the sent topic");
    let record: Value = serde_json::from_str(&sent[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["type"].as_str()), (Some("m-jira"), Some("jira")));
    assert_eq!(record["address"], jira.address("?project=OPS&component=Web"));

    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1, "one record on the retry topic");
    let record: Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["retry_count"].as_u64()), (Some("m-broken"), Some(0)));
    assert!(!broken.seen().is_empty(), "the failing Jira was asked");
    assert!(broken.issues().is_empty());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_broken_custom_formatter_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let formatter = dir.path().join("jiraformat.yml");
    std::fs::write(&formatter, "jira_format:\n  summary: \"{{ notification.alarm_id }}\"\n  description: \"{{ notification.alarm_name\"\n").unwrap();
    let topics = Topics::create(1).await;
    let extra = format!("[jira_notifier]\nuser = monasca\npassword = pw\ncustom_formatter = {}\n", formatter.display());
    let config = write_config_with_plugins(dir.path(), &topics, "sqlite://unused.db", "jira", &extra);
    let err = tocsin::app::Config::load(&config).unwrap_err().to_string();
    let expected = format!("[jira_notifier] custom_formatter: {}:3: jira_format.description: syntax error", formatter.display());
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains("pw\n"), "{err}");
}
