//! The fault suite: the broker restarting, the config database unreachable, the webhook endpoint
//! gone, and (in `scale_out`) an instance killed. After each, every notification is delivered
//! and every offset committed. Outages are short here so CI stays fast; `scripts/fault-suite.sh`
//! runs them at full length (`TOCSIN_FAULT_DB_OUTAGE_SECS=60`, `TOCSIN_FAULT_WEBHOOK_OUTAGE_SECS=300`,
//! `TOCSIN_FAULT_RUNS=10`) and collects the `FAULT` lines each test prints.

use crate::support::broker::DurableBroker;
use crate::support::proxy::Proxy;
use crate::support::receiver::Request;
use crate::support::tocsin::{start_in_process, write_config, Topics};
use crate::support::{broker, eventually, DbKind, Receiver, TestDb};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A setting of the long run, from the environment, or the CI default.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Alarm ids of the webhook posts received.
pub fn delivered(requests: Vec<Request>) -> HashSet<String> {
    requests
        .into_iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok()?["alarm_id"].as_str().map(str::to_owned))
        .collect()
}

async fn all_delivered(hook: &Receiver, total: usize, within: Duration) {
    eventually(within, &format!("all {total} alarms delivered"), || async { (delivered(hook.requests()).len() == total).then_some(()) }).await;
}

/// The broker is killed mid-stream and started again on its SQLite storage: records and
/// committed offsets survive, Tocsin reconnects, rejoins its group and finishes the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_nothing() {
    let mut durable = DurableBroker::start();
    let topics = Topics::create_on(&durable.broker, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-broker", "m-broker", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let extra = format!("[kafka]\nurl = {}\n", durable.broker.address);
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;

    let total = 600;
    durable.broker.produce_alarms(&topics.alarms, "def-broker", (0..total / 2).map(|i| format!("before-{i}"))).await;
    eventually(Duration::from_secs(60), "the first deliveries", || async { (hook.count() >= 50).then_some(()) }).await;
    let started = Instant::now();
    durable.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    durable.restart();
    durable.broker.produce_alarms(&topics.alarms, "def-broker", (0..total / 2).map(|i| format!("after-{i}"))).await;
    all_delivered(&hook, total, Duration::from_secs(120)).await;
    let b = &durable.broker;
    // Waited for by hand, so that a failure says how far each partition got and what Tocsin counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let committed = b.committed(&topics.group, &topics.alarms);
        if committed.values().sum::<i64>() == total as i64 {
            break;
        }
        if Instant::now() >= deadline {
            let metrics = app.metrics().render_prometheus();
            let counted: Vec<&str> = metrics
                .lines()
                .filter(|l| ["tocsin_offset_commits_total", "tocsin_publish_errors_total", "tocsin_alarms_finished_total"].iter().any(|name| l.starts_with(name)))
                .collect();
            panic!("60 s after every alarm was delivered, committed offsets by partition are {committed:?} (expected {total} in all); Tocsin counted {counted:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = app.metrics().render_prometheus();
    let failed_commits = metrics.lines().find(|l| l.starts_with(r#"tocsin_offset_commits_total{outcome="error"}"#)).and_then(|l| l.rsplit(' ').next()).unwrap_or("0");
    eprintln!(
        "FAULT broker restart: {total} alarms, {} delivered, {} posts ({} duplicates), all committed {:.1} s after the kill ({failed_commits} commits failed and were sent again)",
        delivered(hook.requests()).len(),
        hook.count(),
        hook.count() - total,
        started.elapsed().as_secs_f64()
    );
    app.shutdown().await.unwrap();
}

/// The network to MariaDB is cut (every pooled connection closed, new ones refused) for the
/// outage, while alarms keep arriving: lookups are retried and counted, nothing is committed
/// past an alarm not yet notified, and once the database answers every alarm is notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing() {
    let outage = Duration::from_secs(setting("TOCSIN_FAULT_DB_OUTAGE_SECS", 5));
    let db = TestDb::new(DbKind::MariaDb).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-db", "m-db", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let proxy = Proxy::start("127.0.0.1:3306".parse().unwrap()).await;
    let through_proxy = db.url.replace("127.0.0.1:3306", &proxy.addr.to_string());
    let topics = Topics::create(4).await;
    let dir = tempfile::tempdir().unwrap();
    // Every transition asks the database: no cached answer hides the outage.
    let app = start_in_process(&write_config(dir.path(), &topics, &through_proxy, "[notification_engine]\nlookup_cache_ttl = 0s\n")).await;
    let b = broker();

    let total = 400;
    b.produce_alarms(&topics.alarms, "def-db", (0..total / 2).map(|i| format!("before-{i}"))).await;
    all_delivered(&hook, total / 2, Duration::from_secs(60)).await;
    proxy.cut();
    let cut_at = hook.count();
    b.produce_alarms(&topics.alarms, "def-db", (0..total / 2).map(|i| format!("during-{i}"))).await;
    tokio::time::sleep(outage).await;
    let during = hook.count() - cut_at;
    let errors = crate::support::tocsin::metric_value(&app.metrics().render_prometheus(), "tocsin_db_errors_total");
    let committed_during: i64 = b.committed(&topics.group, &topics.alarms).values().sum();
    proxy.restore();
    let restored = Instant::now();
    all_delivered(&hook, total, Duration::from_secs(120)).await;
    eventually(Duration::from_secs(60), "every offset committed", || async {
        (b.committed(&topics.group, &topics.alarms).values().sum::<i64>() == total as i64).then_some(())
    })
    .await;
    assert_eq!(during, 0, "nothing can be notified while the database is unreachable");
    assert!(errors >= 1, "the failed lookups are counted");
    assert!(committed_during <= (total / 2) as i64, "committed {committed_during} before the database answered");
    eprintln!(
        "FAULT database outage: {} s, {total} alarms, {errors} failed queries counted, all delivered and committed {:.1} s after the database came back",
        outage.as_secs(),
        restored.elapsed().as_secs_f64()
    );
    app.shutdown().await.unwrap();
}

/// The webhook endpoint is gone (connections refused) for the outage: every notification fails,
/// goes to the retry topic and is retried with backoff until the endpoint is back; none is given
/// up, all are delivered and every offset of both topics is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_outage_is_retried_until_it_ends() {
    let outage = Duration::from_secs(setting("TOCSIN_FAULT_WEBHOOK_OUTAGE_SECS", 10));
    // Backoff from 1 s doubling to a cap of a fifth of the outage, with enough attempts to
    // outlast it by half again.
    let cap = (outage.as_secs() / 5).max(2);
    let (mut waited, mut attempts) = (0, 0);
    while waited < outage.as_secs() * 3 / 2 + 10 {
        waited += (1u64 << attempts.min(20)).min(cap);
        attempts += 1;
    }
    let db = TestDb::new(DbKind::Postgres).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-hook", "m-hook", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let topics = Topics::create(2).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("[retry_engine]\nenabled = true\ninterval = 1s\nbackoff_multiplier = 2\nmax_interval = {cap}s\nmax_attempts = {attempts}\n");
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;
    let b = broker();

    hook.go_down();
    let total = 100;
    b.produce_alarms(&topics.alarms, "def-hook", (0..total).map(|i| format!("down-{i}"))).await;
    tokio::time::sleep(outage).await;
    hook.come_up().await;
    let back = Instant::now();
    all_delivered(&hook, total, Duration::from_secs(cap * 2 + 60)).await;
    let retry_group = format!("{}-retry", topics.group);
    eventually(Duration::from_secs(cap * 2 + 60), "every offset of both topics committed", || async {
        let alarms = b.committed(&topics.group, &topics.alarms).values().sum::<i64>() == total as i64;
        let retries = b.committed(&retry_group, &topics.retry).values().sum::<i64>() == b.records(&topics.retry);
        (alarms && retries).then_some(())
    })
    .await;
    assert_eq!(b.records(&topics.retry_dead), 0, "nothing given up");
    eprintln!(
        "FAULT webhook outage: {} s, {total} alarms, {} retry records, all delivered {:.1} s after the endpoint came back",
        outage.as_secs(),
        b.records(&topics.retry),
        back.elapsed().as_secs_f64()
    );
    app.shutdown().await.unwrap();
}
