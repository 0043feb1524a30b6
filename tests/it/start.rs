//! A start either completes or exits: whatever stops it (the listen address taken, topics
//! missing, credentials refused) ends the process promptly, non-zero, with one line saying why,
//! and before any of its consumers joined a group, so it never holds partitions it does not work.

use crate::support::tocsin::{start_in_process, write_config, Process, Topics};
use crate::support::{broker, eventually, free_port, unique, DbKind, Receiver, TestDb};
use std::collections::HashSet;
use std::process::ExitStatus;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn exit_of(process: &mut Process) -> ExitStatus {
    eventually(WAIT, "the process to exit", || {
        let status = process.child.try_wait().unwrap();
        async move { status }
    })
    .await
}

/// The last line of the log: the one the process printed as it exited.
fn last_line(log: &str) -> &str {
    log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default()
}

/// Two instances started from one Monasca INI file on one host share its `http_listen`: the
/// second cannot listen, exits 1 at once and never joins the group, so the first keeps every
/// partition and every alarm is notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_a_taken_port_exits_without_joining_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-clash", "m-clash", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let topics = Topics::create(4).await;
    let port = free_port();
    let config = write_config(dir.path(), &topics, &db.url, &format!("[tocsin]\nhttp_listen = 127.0.0.1:{port}\n"));
    let first = Process::spawn(&config);
    eventually(WAIT, "the first instance serving", || async { first.log_text().contains("partitions assigned").then_some(()) }).await;

    let mut second = Process::spawn(&config);
    let status = exit_of(&mut second).await;
    let log = second.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        last_line(&log).starts_with(&format!("tocsin: cannot listen on 127.0.0.1:{port} ([tocsin] http_listen): ")),
        "one line saying why:\n{log}"
    );
    assert!(!log.contains("engine started") && !log.contains("partitions assigned"), "the second instance joined a group:\n{log}");

    let total = 200;
    broker().produce_alarms(&topics.alarms, "def-clash", (0..total).map(|i| format!("clash-{i}"))).await;
    eventually(WAIT, "every alarm notified by the first instance", || async {
        let ids: HashSet<String> = hook.requests().into_iter().map(|r| r.body).collect();
        (ids.len() == total).then_some(())
    })
    .await;
    assert!(!first.log_text().contains("partitions revoked"), "the failed start caused a rebalance:\n{}", first.log_text());

    // The per-instance option: the same file, another address; this one joins and shares.
    let third = Process::spawn_with(&config, &["--http-listen", "127.0.0.1:0"]);
    let address = third.http_addr().await;
    assert_ne!(address, format!("127.0.0.1:{port}"));
    eventually(WAIT, "the third instance sharing the partitions", || async { third.log_text().contains("partitions assigned").then_some(()) }).await;
}

/// With `create_topics = false`, a missing topic stops the start naming it and the command that
/// creates it; nothing joins a group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_stop_the_start_when_they_may_not_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let topics = Topics::create(2).await;
    let missing = unique("never-created-dead");
    let config = write_config(
        dir.path(),
        &topics,
        &db.url,
        &format!("[kafka]\ncreate_topics = false\n\n[notification_engine]\ndead_letter_topic = {missing}\n"),
    );
    let mut process = Process::spawn(&config);
    let status = exit_of(&mut process).await;
    let log = process.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(last_line(&log).starts_with(&format!("tocsin: kafka topics: topics missing and [kafka] create_topics = false: {missing} (")), "{log}");
    assert!(
        log.contains(&format!("missing topic {missing} (malformed alarm transitions): kafka-topics.sh --bootstrap-server {} --create --topic {missing} --partitions 2", broker().address)),
        "{log}"
    );
    assert!(!log.contains("engine started"), "{log}");
    assert_eq!(broker().partitions(&missing), None, "nothing was created");
}

/// An existing Monasca deployment has none of Tocsin's own topics: they are created at start
/// with the alarm topic's partitions, and the first malformed record reaches its dead-letter
/// topic instead of retrying for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsins_own_topics_are_created_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let topics = Topics::create(3).await;
    let (dead, retry_dead, periodic_dead, filtered, sources) = (unique("new-dead"), unique("new-retry-dead"), unique("new-periodic-dead"), unique("new-filtered"), unique("new-sources"));
    let extra = format!(
        "[notification_engine]\ndead_letter_topic = {dead}\n\n[retry_engine]\nenabled = true\ndead_letter_topic = {retry_dead}\n\n\
         [periodic_engine]\nenabled = true\ndead_letter_topic = {periodic_dead}\n\n[alarm_manager]\nenabled = true\nfiltered_topic = {filtered}\nsources_topic = {sources}\n"
    );
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;
    let b = broker();
    for topic in [&dead, &retry_dead, &periodic_dead, &filtered, &sources] {
        assert_eq!(b.partitions(topic), Some(3), "{topic} created with the alarm topic's partitions");
    }
    b.produce(&b.producer(), &topics.alarms, "bad", b"{not json").await;
    let kept = b.read(&dead, 1, Duration::from_secs(30));
    assert_eq!(kept.len(), 1, "the malformed record reached the created dead-letter topic");
    eventually(WAIT, "the bad record committed", || async {
        (b.committed(&topics.group, &topics.alarms).values().sum::<i64>() == 1).then_some(())
    })
    .await;
    app.shutdown().await.unwrap();
}

/// `check-config --connect` reports the broker, every topic and the database without starting
/// anything, and fails where `run` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_connect_reports_broker_topics_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let topics = Topics::create(2).await;
    let check = |extra: &str| {
        let config = write_config(dir.path(), &topics, &db.url, extra);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin")).args(["check-config", "--connect", "--config-file"]).arg(&config).output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };

    let (code, stdout, stderr) = check("");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("broker {}: ok", broker().address)), "{stdout}");
    assert!(stdout.contains(&format!("topic {}: ok, 2 partition(s), replication 1", topics.alarms)), "{stdout}");
    assert!(stdout.contains("database sqlite://") && stdout.contains(": ok, Monasca tables present"), "{stdout}");
    assert!(stderr.contains("broker, topics and database ready"), "{stderr}");

    let missing = unique("absent-dead");
    let (code, stdout, stderr) = check(&format!("[kafka]\ncreate_topics = false\n\n[notification_engine]\ndead_letter_topic = {missing}\n"));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("topic {missing}: missing (malformed alarm transitions)")), "{stdout}");
    assert!(stderr.contains(&format!("not ready: topic {missing} is missing and [kafka] create_topics = false")), "{stderr}");
    assert_eq!(broker().partitions(&missing), None, "check-config creates nothing");

    let (code, stdout, _) = check("[database]\nurl = mysql://root@127.0.0.1:1/nowhere\n");
    assert_eq!(code, Some(1));
    assert!(stdout.contains("database mysql://root@127.0.0.1:1/nowhere: "), "{stdout}");
}
