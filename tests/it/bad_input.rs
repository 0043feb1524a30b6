//! Bad input harms nothing else: each kind of bad record is counted, logged with its partition
//! and offset, dead-lettered where it is malformed, and the engine goes on to the next record.

use crate::support::tocsin::{write_config, Process, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_record_is_counted_kept_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-good", "m-good", "WEBHOOK", &hook.url("/good"), &["ALARM"]).await;
    db.definition_with_method("def-sms", "m-sms", "SMS", "+15550100", &["ALARM"]).await;
    let topics = Topics::create(1).await;
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let extra = format!(
        "[notification_engine]\nmax_message_bytes = 4096\n\n[statsd]\nenable = true\nhost = 127.0.0.1\nport = {}\nflush_interval = 100ms\n",
        statsd.local_addr().unwrap().port()
    );
    let config = write_config(dir.path(), &topics, &db.url, &extra);
    let tocsin = Process::spawn(&config);

    let mut wrong_type = alarm_message("a-wrong-type", "def-good", "ALARM");
    wrong_type["alarm-transitioned"]["timestamp"] = "yesterday".into();
    let mut oversized = alarm_message("a-oversized", "def-good", "ALARM");
    oversized["alarm-transitioned"]["alarmDescription"] = "x".repeat(5000).into();
    let mut disabled = alarm_message("a-disabled", "def-good", "ALARM");
    disabled["alarm-transitioned"]["actionsEnabled"] = false.into();
    let mut expired = alarm_message("a-expired", "def-good", "ALARM");
    expired["alarm-transitioned"]["timestamp"] = 1375346830042u64.into();
    let records: Vec<(&str, Vec<u8>)> = vec![
        ("malformed json", b"{not json".to_vec()),
        ("missing fields", br#"{"alarm-transitioned": {"invalid": "invalid_alarm"}}"#.to_vec()),
        ("wrong type", wrong_type.to_string().into_bytes()),
        ("oversized", oversized.to_string().into_bytes()),
        ("unknown definition", alarm_message("a-unknown-def", "def-nobody-knows", "ALARM").to_string().into_bytes()),
        ("unknown notification type", alarm_message("a-sms", "def-sms", "ALARM").to_string().into_bytes()),
        ("actions disabled", disabled.to_string().into_bytes()),
        ("expired", expired.to_string().into_bytes()),
        ("good", alarm_message("a-good", "def-good", "ALARM").to_string().into_bytes()),
    ];
    let b = broker();
    let producer = b.producer();
    for (name, payload) in &records {
        b.produce(&producer, &topics.alarms, name, payload).await;
    }

    eventually(WAIT, "the good alarm's POST", || async { (hook.count() == 1).then_some(()) }).await;
    assert!(hook.requests()[0].body.contains("\"alarm_id\": \"a-good\""));

    let mut dead = b.read(&topics.dead, 4, WAIT);
    assert_eq!(dead.len(), 4, "four malformed records dead-lettered");
    // Malformed records are handled concurrently, so the dead-letter order may differ.
    dead.sort_by_key(|record| record.headers["tocsin.source.offset"].parse::<i64>().unwrap());
    let expected_errors = [
        "message is not JSON",
        "Alarm data missing field actionsEnabled",
        "field timestamp must be a number of milliseconds, found a string",
        "exceeds the limit of 4096 bytes",
    ];
    for (index, (record, error)) in dead.iter().zip(expected_errors).enumerate() {
        assert!(record.payload.as_bytes() == records[index].1.as_slice(), "raw bytes of record {index} kept unchanged");
        assert!(record.headers["tocsin.error"].contains(error), "{:?}", record.headers);
        assert_eq!(record.headers["tocsin.source.topic"], topics.alarms);
        assert_eq!(record.headers["tocsin.source.partition"], "0");
        assert_eq!(record.headers["tocsin.source.offset"], index.to_string());
    }

    eventually(WAIT, "every record finished", || async {
        (tocsin.metric("tocsin_alarms_finished_total").await == 9).then_some(())
    })
    .await;
    assert_eq!(tocsin.metric("tocsin_alarms_failed_parse_total").await, 4);
    assert_eq!(tocsin.metric("tocsin_alarms_dead_lettered_total").await, 4);
    assert_eq!(tocsin.metric("tocsin_alarms_no_notification_total{reason=\"no_methods\"}").await, 1);
    assert_eq!(tocsin.metric("tocsin_alarms_no_notification_total{reason=\"actions_disabled\"}").await, 1);
    assert_eq!(tocsin.metric("tocsin_alarms_no_notification_total{reason=\"expired\"}").await, 1);
    assert_eq!(tocsin.metric("tocsin_notifications_invalid_type_total").await, 1);
    assert_eq!(tocsin.metric("tocsin_notifications_sent_total{type=\"webhook\"}").await, 1);

    // StatsD: Monasca's names and dict-literal dimensions, counters summed per flush. A record's
    // finished count is taken after its other counters, so they are in the same flush or earlier.
    let mut packets = String::new();
    let mut buffer = [0u8; 2048];
    let deadline = std::time::Instant::now() + WAIT;
    let sum = |packets: &str, name: &str| -> i64 {
        let prefix = format!("monasca.{name}:");
        packets.lines().filter_map(|l| l.strip_prefix(&prefix)).filter_map(|l| l.split('|').next()?.parse::<i64>().ok()).sum()
    };
    while sum(&packets, "alarms_finished_count") < 9 {
        assert!(std::time::Instant::now() < deadline, "StatsD packets missing: {packets}");
        if let Ok(n) = statsd.recv(&mut buffer) {
            packets.push_str(&String::from_utf8_lossy(&buffer[..n]));
            packets.push('\n');
        }
    }
    // The rest of the last flush (one datagram per metric) is already queued; read until quiet.
    while let Ok(n) = statsd.recv(&mut buffer) {
        packets.push_str(&String::from_utf8_lossy(&buffer[..n]));
        packets.push('\n');
    }
    let sum = |name: &str| sum(&packets, name);
    assert_eq!(sum("alarms_failed_parse_count"), 4, "{packets}");
    assert_eq!(sum("alarms_no_notification_count"), 3, "{packets}");
    assert_eq!(sum("invalid_type_count"), 1, "{packets}");
    assert_eq!(sum("sent_webhook_count"), 1, "{packets}");
    assert!(
        packets.contains("monasca.alarms_failed_parse_count:") && packets.contains("|c|#{'service': 'monitoring', 'component': 'monasca-notification'}"),
        "{packets}"
    );
    assert!(packets.lines().any(|l| l.starts_with("monasca.webhook_time:") && l.contains("|g|#{")), "timers are gauges in seconds: {packets}");

    let log = tocsin.log_text();
    for offset in 0..4 {
        assert!(log.contains(&format!("Invalid Alarm format skipping partition 0, offset {offset}")), "offset {offset} not logged:\n{log}");
    }
    assert!(log.contains("attempting to send unconfigured notification: sms"), "{log}");
    assert!(log.contains("Received alarm older than the ttl, skipping."), "{log}");

    eventually(WAIT, "all nine offsets committed", || async {
        (b.committed(&topics.group, &topics.alarms).get(&0) == Some(&9)).then_some(())
    })
    .await;
}
