//! What operators rely on: graceful shutdown, health, surviving a database outage, and
//! `check-config` on a Monasca file.

use crate::support::tocsin::{metric_value, start_in_process, write_config, Process, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use std::collections::HashSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// SIGTERM stops fetching, lets in-flight sends finish, commits and exits 0; a successor picks
/// up exactly where it stopped: every alarm delivered, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    hook.delay(Duration::from_millis(20));
    db.definition_with_method("def-term", "m-term", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let topics = Topics::create(2).await;
    let config = write_config(dir.path(), &topics, &db.url, "[notification_engine]\nmax_in_flight_per_partition = 8\n");
    let mut first = Process::spawn(&config);
    let b = broker();
    let total = 300;
    b.produce_alarms(&topics.alarms, "def-term", (0..total).map(|i| format!("term-{i}"))).await;
    eventually(WAIT, "the first deliveries", || async { (hook.count() >= 40).then_some(()) }).await;
    let status = first.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", first.log_text());
    assert!(first.log_text().contains("shutdown complete"));
    let delivered_before: usize = hook.count();
    let committed: i64 = b.committed(&topics.group, &topics.alarms).values().sum();
    assert!(committed as usize <= delivered_before, "committed {committed} but only {delivered_before} delivered");
    assert!(delivered_before < total, "the test must stop the engine mid-stream");

    let second = Process::spawn(&config);
    eventually(WAIT, "every alarm delivered", || async {
        let ids: HashSet<String> = hook.requests().into_iter().map(|r| r.body).collect();
        (ids.len() == total).then_some(())
    })
    .await;
    assert_eq!(hook.count(), total, "a graceful stop commits everything it sent: no duplicates");
    // Reaching the end of its partitions is not an error (librdkafka reports it as one).
    eventually(WAIT, "the successor committed everything", || async {
        (b.committed(&topics.group, &topics.alarms).values().sum::<i64>() == total as i64).then_some(())
    })
    .await;
    let errors: Vec<String> = second.log_text().lines().filter(|line| line.contains(" ERROR ")).map(str::to_owned).collect();
    assert!(errors.is_empty(), "a clean run logs no error:\n{}", errors.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_ready_only_when_database_and_broker_answer_and_types_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::create(1).await;
    let db = TestDb::new(DbKind::Sqlite).await;
    let good = start_in_process(&write_config(dir.path(), &topics, &db.url, "")).await;
    eventually(WAIT, "the enabled plugin's type registered", || async {
        db.db.notification_types().await.unwrap().contains(&"WEBHOOK".to_owned()).then_some(())
    })
    .await;
    let response = reqwest::get(format!("http://{}/healthz", good.http_addr())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok", "database": "ok", "broker": "ok", "publishing": "ok"})
    );
    let live = reqwest::get(format!("http://{}/livez", good.http_addr())).await.unwrap();
    assert_eq!(live.status(), 200);
    good.shutdown().await.unwrap();

    let down = start_in_process(&write_config(dir.path(), &topics, "mysql://root@127.0.0.1:1/nowhere", "")).await;
    let response = reqwest::get(format!("http://{}/healthz", down.http_addr())).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["broker"], "ok");
    assert_ne!(body["database"], "ok", "{body}");
    down.shutdown().await.unwrap();
}

/// A database that fails does not crash the engine and loses nothing: lookups are retried with
/// backoff and counted until the database answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_delays_but_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("late.db");
    let url = format!("sqlite://{}", db_path.display());
    let hook = Receiver::start().await;
    let topics = Topics::create(1).await;
    let app = start_in_process(&write_config(dir.path(), &topics, &url, "")).await;
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "late", alarm_message("late", "def-late", "ALARM").to_string().as_bytes()).await;
    eventually(WAIT, "database errors counted", || async {
        (metric_value(&app.metrics().render_prometheus(), "tocsin_db_errors_total") >= 2).then_some(())
    })
    .await;
    assert_eq!(hook.count(), 0);

    let db = TestDb::sqlite_at(&db_path).await;
    db.definition_with_method("def-late", "m-late", "WEBHOOK", &hook.url("/late"), &["ALARM"]).await;
    eventually(WAIT, "the delayed notification", || async { (hook.count() == 1).then_some(()) }).await;
    app.shutdown().await.unwrap();
}

#[test]
fn check_config_accepts_a_monasca_file_and_rejects_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("monasca-notification.conf");
    std::fs::write(
        &good,
        "[kafka]\nurl = 10.0.0.1:9092\nmax_offset_lag = 600\n\n[mysql]\nhost = 10.0.0.2\npasswd = s3cr3t\n\n[zookeeper]\nurl = 10.0.0.1:2181\n\n[notification_types]\nenabled = webhook\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin")).args(["check-config", "--config-file"]).arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("url = mysql://notification:****@10.0.0.2:3306/mon"), "{stdout}");
    assert!(!stdout.contains("s3cr3t"));
    assert!(stderr.contains("[zookeeper] url is accepted and not used"), "{stderr}");
    assert!(stderr.contains("configuration is valid"), "{stderr}");

    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "[kafka]\nurl = 10.0.0.1:9092\n\n[retry_engine]\n\n[alarm_processor]\nttl = four hours\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin")).args(["run", "--config-file"]).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("{}:7: [alarm_processor] ttl: expected a whole number, found \"four hours\"", bad.display())), "{stderr}");
}

/// Credentials the database refuses cannot be cured by retrying: the process shuts down and
/// exits non-zero saying so, instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_database_credentials_stop_the_process_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::create(1).await;
    let config = write_config(dir.path(), &topics, "mysql://tocsin_nobody:wrong@127.0.0.1:3306/mon", "");
    let mut process = Process::spawn(&config);
    let status = eventually(WAIT, "the process to exit", || {
        let status = process.child.try_wait().unwrap();
        async move { status }
    })
    .await;
    let log = process.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("the config database refused Tocsin's credentials"), "{log}");
    assert!(log.contains("Access denied for user 'tocsin_nobody'"), "{log}");
}

/// `tocsin send-test` sends a sample notification through one method of the config database
/// and prints what the remote end answered; a failure says why and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_prints_the_remote_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    let broken = Receiver::start().await;
    broken.answer_with(503);
    db.add_method("m-ok", "WEBHOOK", "ops", &hook.url("/ok"), 0).await;
    db.add_method("m-broken", "WEBHOOK", "broken", &broken.url("/broken"), 0).await;
    let topics = Topics::create(1).await;
    let config = write_config(dir.path(), &topics, &db.url, "");
    let send_test = |method: &str, state: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(["send-test", "--config-file"])
            .arg(&config)
            .args(["--method", method, "--state", state])
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr))
    };

    let (code, text) = send_test("m-ok", "OK");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("the remote end answered: HTTP 200"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&hook.requests()[0].body).unwrap();
    assert_eq!((body["state"].as_str(), body["old_state"].as_str()), (Some("OK"), Some("ALARM")));

    let (code, text) = send_test("m-broken", "ALARM");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("send failed (retryable, server)") && text.contains("503"), "{text}");

    let (code, text) = send_test("m-missing", "ALARM");
    assert_eq!(code, Some(1));
    assert!(text.contains("no notification method with id \"m-missing\""), "{text}");
}

/// `tocsin template render` prints what a method would send, built as a send builds it, and
/// sends nothing: the webhook's JSON body, the email's whole message, a given transition's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_render_prints_the_payload_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.add_method("m-hook", "WEBHOOK", "ops", &hook.url("/ok"), 0).await;
    db.add_method("m-mail", "EMAIL", "mail", "oncall@example.com", 0).await;
    let topics = Topics::create(1).await;
    let config = crate::support::tocsin::write_config_with_plugins(
        dir.path(),
        &topics,
        &db.url,
        "webhook, email",
        "[email_notifier]\nserver = 127.0.0.1\nport = 9\nfrom_addr = tocsin@example.com\n",
    );
    let render = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin")).args(["template", "render", "--config-file"]).arg(&config).args(args).output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };

    let (code, out, err) = render(&["--method", "m-hook", "--state", "OK"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("application/json"), "{err}");
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((body["state"].as_str(), body["alarm_name"].as_str()), (Some("OK"), Some("tocsin template render")), "{out}");
    assert_eq!(hook.count(), 0, "rendering sends nothing");

    let (code, out, err) = render(&["--method", "m-mail"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("To: oncall@example.com") && out.contains("Subject: ") && out.contains("tocsin template render"), "{out}");

    let file = dir.path().join("transition.json");
    std::fs::write(&file, crate::support::alarm_message("from-file", "def-9", "ALARM").to_string()).unwrap();
    let (code, out, err) = render(&["--method", "m-hook", "--transition", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((body["alarm_id"].as_str(), body["alarm_name"].as_str()), (Some("from-file"), Some("dummy_alarm")), "{out}");

    let (code, _, err) = render(&["--method", "m-missing"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no notification method with id \"m-missing\""), "{err}");
}

/// A dead-letter copy the broker will not take (here: larger than the producer may send) holds
/// its partition's commits: `/healthz` says so, naming the topic, and a metric counts it, until
/// the copy is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_dead_letter_shows_in_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let topics = Topics::create(1).await;
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, "[kafka_producer]\nmessage.max.bytes = 1000\n")).await;
    let b = broker();
    let oversized = format!("{{\"not an alarm\": \"{}\"}}", "x".repeat(2000));
    b.produce(&b.producer(), &topics.alarms, "big", oversized.as_bytes()).await;

    let body = eventually(WAIT, "/healthz to report the unconfirmed record", || async {
        let response = reqwest::get(format!("http://{}/healthz", app.http_addr())).await.unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        (status == 503 && body["publishing"] != "ok").then_some(body)
    })
    .await;
    assert_eq!(body["publishing"], "unconfirmed", "{body}");
    assert_eq!((body["database"].as_str(), body["broker"].as_str()), (Some("ok"), Some("ok")), "{body}");
    let metrics = app.metrics().render_prometheus();
    assert_eq!(metric_value(&metrics, &format!("tocsin_unconfirmed_records{{topic=\"{}\"}}", topics.dead)), 1, "{metrics}");
    assert!(metric_value(&metrics, &format!("tocsin_publish_errors_total{{topic=\"{}\"}}", topics.dead)) >= 1, "{metrics}");
    assert!(b.committed(&topics.group, &topics.alarms).get(&0).is_none_or(|next| *next == 0), "the record is not committed before its copy is kept");
    app.shutdown().await.unwrap();
}
