//! Sends to one receiver adapt to how it answers (`send::adaptive`): a receiver that keeps up
//! gets up to the configured maximum at once and never more, one that says it is overloaded
//! gets fewer, and a `Retry-After` stops sends to it until then.

use crate::support::tocsin::{start_in_process, write_config, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use std::time::Duration;
use tocsin::app::App;

const WAIT: Duration = Duration::from_secs(40);

/// Tocsin running with one webhook method, on `def-1`'s ALARM transitions, pointing at `hook`.
struct Running {
    app: App,
    topics: Topics,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

async fn start(kind: DbKind, hook: &Receiver, partitions: i32, extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(kind).await;
    db.definition_with_method("def-1", "m-1", "WEBHOOK", &hook.url("/hook"), &["ALARM"]).await;
    let topics = Topics::create(partitions).await;
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, extra)).await;
    Running { app, topics, _db: db, _dir: dir }
}

async fn publish(topics: &Topics, alarms: std::ops::Range<usize>) {
    let b = broker();
    let producer = b.producer();
    for alarm in alarms {
        let id = format!("alarm-{alarm}");
        b.produce(&producer, &topics.alarms, &id, alarm_message(&id, "def-1", "ALARM").to_string().as_bytes()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_gets_the_maximum_at_once_and_an_overloaded_one_gets_less() {
    let hook = Receiver::start().await;
    hook.delay(Duration::from_millis(200));
    let Running { app, topics, .. } = start(DbKind::Sqlite, &hook, 2, "[notification_engine]\nmax_concurrent_sends_per_destination = 8\n").await;

    publish(&topics, 0..64).await;
    eventually(WAIT, "64 posts", || async { (hook.count() == 64).then_some(()) }).await;
    assert_eq!(hook.most_at_once(), 8, "a receiver answering in 200 ms gets the maximum per destination, and no more");

    hook.answer_with(503);
    publish(&topics, 64..96).await;
    eventually(WAIT, "32 more posts", || async { (hook.count() == 96).then_some(()) }).await;
    let overloaded: Vec<usize> = hook.requests()[64..].iter().map(|r| r.at_once).collect();
    assert!(overloaded[16..].iter().all(|&n| n <= 2), "a receiver answering 503 still got {overloaded:?} at once");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_stops_sends_to_the_receiver_until_then() {
    let hook = Receiver::start().await;
    hook.fail_first(1, 429);
    hook.retry_after("2");
    let Running { app, topics, .. } = start(DbKind::Sqlite, &hook, 1, "").await;

    publish(&topics, 0..1).await;
    eventually(WAIT, "the first post", || async { (hook.count() == 1).then_some(()) }).await;
    publish(&topics, 1..10).await;
    eventually(WAIT, "nine more posts", || async { (hook.count() == 10).then_some(()) }).await;
    let requests = hook.requests();
    let paused = requests[1].at - requests[0].at;
    assert!(paused >= Duration::from_millis(1_900), "the next post came {paused:?} after a 429 with Retry-After: 2");
    // The refused one went to the retry topic; the nine waited out the pause, which ended
    // within a send's timeout (2 s), and were delivered.
    assert_eq!(broker().read(&topics.retry, 1, WAIT).len(), 1);
    assert_eq!(broker().read(&topics.sent, 9, WAIT).len(), 9);
    app.shutdown().await.unwrap();
}

crate::on_every_database! {
    /// A retry refused at once because the receiver's pause outlasts a send's patience was no
    /// attempt: it goes back to the retry topic uncounted instead of using up `max_attempts`.
    async fn a_retry_the_receiver_asked_to_defer_is_not_counted_as_an_attempt(kind: DbKind) {
        let hook = Receiver::start().await;
        hook.fail_first(1, 429);
        hook.retry_after("60");
        let retry = "[retry_engine]\nenabled = true\ninterval = 1s\nmax_attempts = 1\n";
        let Running { app, topics, .. } = start(kind, &hook, 1, retry).await;

        publish(&topics, 0..1).await;
        let retried = broker().read(&topics.retry, 3, WAIT);
        let counts: Vec<u64> = retried.iter().map(|r| serde_json::from_str::<serde_json::Value>(&r.payload).unwrap()["retry_count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [0, 0, 0], "deferred retries keep their count");
        assert_eq!(hook.count(), 1, "nothing was sent while the receiver's pause lasted");
        assert_eq!(broker().records(&topics.retry_dead), 0, "nothing given up");
        app.shutdown().await.unwrap();
    }
}
