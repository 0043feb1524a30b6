//! The retry engine end to end: failed notifications come back from the retry topic after the
//! interval, succeed later, or end on the retry dead-letter topic after `max_attempts` retries
//! or at once on a permanent error; a kill -9 while retries wait loses nothing.

use crate::support::tocsin::{start_in_process, write_config, Process, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

fn retry_config(interval: &str, max_attempts: u32) -> String {
    format!("[retry_engine]\nenabled = true\ninterval = {interval}\nmax_attempts = {max_attempts}\n")
}

async fn publish_alarm(topics: &Topics, alarm: &str) {
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, alarm, alarm_message(alarm, "def-1", "ALARM").to_string().as_bytes()).await;
}

fn retry_counts(topic: &str, count: usize) -> Vec<u64> {
    broker()
        .read(topic, count, WAIT)
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.payload).unwrap()["retry_count"].as_u64().unwrap())
        .collect()
}

crate::on_every_database! {
    async fn an_endpoint_that_fails_twice_gets_the_notification_on_the_third_attempt(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        hook.fail_first(2, 503);
        let topics = Topics::create(1).await;
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &retry_config("1s", 5))).await;
        db.definition_with_method("def-1", "m-1", "WEBHOOK", &hook.url("/hook"), &["ALARM"]).await;
        publish_alarm(&topics, "alarm-1").await;

        eventually(WAIT, "three attempts", || async { (hook.count() == 3).then_some(()) }).await;
        let sent = broker().read(&topics.sent, 1, WAIT);
        assert_eq!(sent.len(), 1, "delivered once");
        let record: Value = serde_json::from_str(&sent[0].payload).unwrap();
        assert_eq!(record["retry_count"], 1, "sent by the retry engine on its second retry (retry_count counts earlier retries)");
        // The first failure is written by the notification engine with retry_count 0, as Monasca
        // writes it; the failed first retry comes back with 1.
        assert_eq!(retry_counts(&topics.retry, 2), [0, 1]);
        let requests = hook.requests();
        let bodies: Vec<&str> = requests.iter().map(|r| r.body.as_str()).collect();
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every attempt posts the same body");
        for pair in requests.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= Duration::from_millis(950), "retried after {gap:?}, before the 1 s interval");
        }
        eventually(WAIT, "retry offsets committed", || async {
            (broker().committed(&format!("{}-retry", topics.group), &topics.retry).get(&0) == Some(&2)).then_some(())
        })
        .await;
        assert_eq!(broker().records(&topics.retry_dead), 0, "nothing given up");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    async fn an_endpoint_that_always_fails_gets_max_attempts_retries_then_one_dead_letter(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        hook.answer_with(500);
        let topics = Topics::create(1).await;
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &retry_config("300ms", 3))).await;
        db.definition_with_method("def-1", "m-1", "WEBHOOK", &hook.url("/hook"), &["ALARM"]).await;
        publish_alarm(&topics, "alarm-1").await;

        let dead = broker().read(&topics.retry_dead, 1, WAIT);
        assert_eq!(dead.len(), 1, "given up once");
        assert_eq!(hook.count(), 4, "the first attempt and exactly max_attempts = 3 retries");
        let record: Value = serde_json::from_str(&dead[0].payload).unwrap();
        assert_eq!(record["retry_count"], 3);
        assert_eq!(record["id"], "m-1");
        assert!(dead[0].headers["tocsin.error"].starts_with("gave up after 3 retries"), "{:?}", dead[0].headers);
        assert_eq!(dead[0].headers["tocsin.source.topic"], topics.retry);
        assert_eq!(retry_counts(&topics.retry, 3), [0, 1, 2]);
        assert!(broker().read(&topics.retry, 4, Duration::from_secs(2)).len() == 3, "nothing requeued after giving up");
        assert!(broker().read(&topics.sent, 1, Duration::from_secs(1)).is_empty());
        let metrics = app.metrics().render_prometheus();
        assert!(metrics.contains("tocsin_retries_given_up_total{type=\"webhook\",why=\"max_attempts\"} 1"), "{metrics}");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    async fn a_permanent_error_is_not_retried(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        hook.answer_with(404);
        let topics = Topics::create(1).await;
        let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &retry_config("300ms", 5))).await;
        db.definition_with_method("def-1", "m-1", "WEBHOOK", &hook.url("/hook"), &["ALARM"]).await;
        publish_alarm(&topics, "alarm-1").await;

        let dead = broker().read(&topics.retry_dead, 1, WAIT);
        assert_eq!(dead.len(), 1);
        assert!(dead[0].headers["tocsin.error"].starts_with("permanent error"), "{:?}", dead[0].headers);
        assert!(dead[0].headers["tocsin.error"].contains("404"), "{:?}", dead[0].headers);
        // The retry record keeps Monasca's shape; its headers mark the failure as permanent.
        let retried = broker().read(&topics.retry, 1, WAIT);
        assert_eq!(retried[0].headers["tocsin.error.retryable"], "false");
        // The retry engine has consumed and committed every retry record: none is left to try.
        let retry_group = format!("{}-retry", topics.group);
        eventually(WAIT, "the retry record committed", || async {
            let b = broker();
            (b.committed(&retry_group, &topics.retry).values().sum::<i64>() == b.records(&topics.retry)).then_some(())
        })
        .await;
        assert_eq!(hook.count(), 1, "no further tries after a 404");
        app.shutdown().await.unwrap();
    }
}

crate::on_every_database! {
    async fn kill_9_while_retries_wait_loses_nothing(kind: DbKind) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(kind).await;
        let hook = Receiver::start().await;
        // Every first attempt fails; retries after the restart succeed.
        hook.fail_first(5, 503);
        let topics = Topics::create(1).await;
        let config = write_config(dir.path(), &topics, &db.url, &retry_config("6s", 5));
        db.definition_with_method("def-1", "m-1", "WEBHOOK", &hook.url("/hook"), &["ALARM"]).await;
        let mut first = Process::spawn(&config);
        let b = broker();
        for i in 0..5 {
            publish_alarm(&topics, &format!("alarm-{i}")).await;
        }
        // All five failed once and wait in the retry engine (6 s interval): kill it now.
        assert_eq!(b.read(&topics.retry, 5, WAIT).len(), 5, "five failures on the retry topic\n{}", first.log_text());
        eventually(WAIT, "the five failed attempts", || async { (hook.count() == 5).then_some(()) }).await;
        first.kill_9();
        assert_eq!(hook.count(), 5, "no retry happened before the kill");

        let mut second = Process::spawn(&config);
        eventually(Duration::from_secs(60), "every notification delivered after the restart", || async {
            let delivered: std::collections::HashSet<String> = b
                .read(&topics.sent, 5, Duration::from_secs(2))
                .iter()
                .map(|r| serde_json::from_str::<Value>(&r.payload).unwrap()["alarm_id"].as_str().unwrap().to_owned())
                .collect();
            (delivered.len() == 5).then_some(())
        })
        .await;
        assert!(second.terminate().success(), "{}", second.log_text());
    }
}
