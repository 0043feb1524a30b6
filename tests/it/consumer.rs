//! The consumer's promise, whatever the handler does: no record stalls its partition. A handler
//! here stands for a bug in an engine (it panics on some records, in `decode` or in `handle`);
//! the consumer and the dead-letter publisher are Tocsin's own, against the real broker.

use crate::support::{broker, eventually, unique};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tocsin::kafka::{ConsumerGroup, ConsumerConfig, DeadLetters, Discard, Handler, Producer, Record, Rejected, Stop};
use tocsin::publish::Publisher;
use tocsin::supervise::Cancelled;
use tocsin::telemetry::Metrics;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

/// Handles records by their text: `bad` is rejected, `panic-decode` and `panic-handle` panic
/// where they say, anything else is counted as handled.
#[derive(Default)]
struct Buggy {
    handled: AtomicUsize,
    dead_lettered: AtomicUsize,
}

impl Handler for Buggy {
    type Job = String;
    const INPUT: &'static str = "Test";

    fn decode(&self, record: &Record) -> Result<String, Rejected> {
        let text = String::from_utf8_lossy(record.payload.as_deref().unwrap_or_default()).into_owned();
        match text.as_str() {
            "bad" => Err(Rejected::new("not a test record")),
            "panic-decode" => panic!("decoding {text} went wrong"),
            _ => Ok(text),
        }
    }

    fn ordering_key(&self, job: &String) -> Option<u64> {
        // Every record behind the same key: a panic must release the key for the next one.
        Some(job.len() as u64 % 2)
    }

    async fn handle(&self, job: String, _stop: Stop) -> Result<(), Cancelled> {
        if job == "panic-handle" {
            panic!("handling {job} went wrong");
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn dead_lettered(&self, _record: &Record, _discard: &Discard) {
        self.dead_lettered.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_dead_letters_the_record_and_the_partition_goes_on() {
    let b = broker();
    let (topic, dead, group) = (unique("buggy"), unique("buggy-dead"), unique("buggy-group"));
    b.create_topic(&topic, 1).await;
    b.create_topic(&dead, 1).await;
    let records = ["one", "panic-decode", "two", "panic-handle", "bad", "three", "four"];
    let producer = b.producer();
    for record in records {
        b.produce(&producer, &topic, record, record.as_bytes()).await;
    }

    let metrics = Metrics::new();
    let properties = vec![("linger.ms".to_owned(), "0".to_owned()), ("batch.num.messages".to_owned(), "1".to_owned())];
    let publisher = Publisher::new(Producer::new(std::slice::from_ref(&b.address), &properties).unwrap(), metrics.clone());
    let handler = Arc::new(Buggy::default());
    let stop = CancellationToken::new();
    let settings = ConsumerConfig {
        engine: "buggy",
        brokers: vec![b.address.clone()],
        group: group.clone(),
        topic: topic.clone(),
        properties: vec![("fetch.wait.max.ms".into(), "10".into())],
        max_in_flight_per_partition: 4,
        partition_queue: 16,
        commit_interval: Duration::from_millis(100),
        drain_timeout: Duration::from_secs(5),
        dead_letter_topic: dead.clone(),
        backlog: None,
    };
    let dead_letters: Arc<dyn DeadLetters> = Arc::new(publisher);
    let member = ConsumerGroup::start(settings, handler.clone(), dead_letters, metrics.clone(), stop.clone()).unwrap();

    eventually(WAIT, "every offset committed", || async { (b.committed(&group, &topic).get(&0) == Some(&(records.len() as i64))).then_some(()) }).await;
    assert_eq!(handler.handled.load(Ordering::SeqCst), 4, "the records around the panics were handled");
    assert_eq!(handler.dead_lettered.load(Ordering::SeqCst), 3);
    let mut kept = b.read(&dead, 3, WAIT);
    kept.sort_by_key(|r| r.headers["tocsin.source.offset"].parse::<i64>().unwrap());
    let reasons: Vec<(&str, &str)> = kept.iter().map(|r| (r.payload.as_str(), r.headers["tocsin.error"].as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("panic-decode", "internal error: decoding panic-decode went wrong"),
            ("panic-handle", "internal error: handling panic-handle went wrong"),
            ("bad", "not a test record"),
        ]
    );
    let text = metrics.render_prometheus();
    assert!(text.contains("tocsin_records_discarded_total{cause=\"internal_error\",engine=\"buggy\"} 2"), "{text}");
    assert!(text.contains("tocsin_records_discarded_total{cause=\"rejected\",engine=\"buggy\"} 1"), "{text}");
    stop.cancel();
    member.wait().await.unwrap();
}
