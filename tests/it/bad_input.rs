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

/// A notification record as the retry and periodic topics carry it (Monasca's shape), with a
/// fresh alarm and `notification_timestamp` as given (raw JSON text, so any number fits).
fn stored_notification(alarm_id: &str, notification_timestamp: &str, retry_count: &str) -> Vec<u8> {
    let alarm = alarm_message(alarm_id, "def-none", "ALARM")["alarm-transitioned"].to_string();
    format!(
        r#"{{"id": "m-none", "type": "webhook", "name": "n", "address": "http://127.0.0.1:9/", "retry_count": {retry_count}, "raw_alarm": {alarm}, "alarm_id": "{alarm_id}", "notification_timestamp": {notification_timestamp}, "period": 1}}"#
    )
    .into_bytes()
}

/// Absurd numbers (valid JSON or nearly) in the input topic of every engine: each record is
/// rejected with a reason, counted, dead-lettered and committed, and the engine goes on.
/// Before the input was bounded, `Duration::from_secs_f64` panicked on these and the
/// partition's commits stopped at the record, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_numbers_in_every_engines_input_are_dead_lettered_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-good", "m-good", "WEBHOOK", &hook.url("/good"), &["ALARM"]).await;
    let topics = Topics::create(1).await;
    let periodic_dead = crate::support::unique("periodic-dead");
    let extra = format!(
        "[retry_engine]\nenabled = true\n\n[periodic_engine]\nenabled = true\ndead_letter_topic = {periodic_dead}\n\n[alarm_manager]\nenabled = true\n"
    );
    let app = crate::support::tocsin::start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;

    let transition_with = |timestamp: &str| {
        let mut text = alarm_message("a-extreme", "def-good", "ALARM").to_string();
        let start = text.find("\"timestamp\":").unwrap();
        let end = start + text[start..].find('}').unwrap();
        text.replace_range(start..end, &format!("\"timestamp\":{timestamp}"));
        text.into_bytes()
    };
    let b = broker();
    let producer = b.producer();
    let alarm_inputs = ["-1e23", "1e300", "-9223372036854775808", "1e400", "NaN", "\"NaN\"", "-Infinity"];
    for timestamp in alarm_inputs {
        b.produce(&producer, &topics.alarms, "extreme", &transition_with(timestamp)).await;
    }
    b.produce(&producer, &topics.alarms, "good", alarm_message("a-good", "def-good", "ALARM").to_string().as_bytes()).await;
    let stored_inputs = [("1e20", "0"), ("-1e23", "0"), ("1e300", "0"), ("1700000000", "4294967296"), ("1700000000", "-9223372036854775808")];
    for (timestamp, retry_count) in stored_inputs {
        b.produce(&producer, &topics.retry, "extreme", &stored_notification("a-extreme", timestamp, retry_count)).await;
        b.produce(&producer, &topics.periodic, "extreme", &stored_notification("a-extreme", timestamp, retry_count)).await;
    }
    for timestamp in ["-1e23", "1e300"] {
        b.produce(&producer, &topics.filtered, "tenant", &transition_with(timestamp)).await;
    }

    eventually(WAIT, "the good alarm's POST", || async { (hook.count() == 1).then_some(()) }).await;
    let dead = b.read(&topics.dead, alarm_inputs.len() + 2, WAIT);
    assert_eq!(dead.len(), alarm_inputs.len() + 2, "every bad transition dead-lettered");
    assert!(
        dead.iter().any(|r| r.headers["tocsin.error"].contains("field timestamp must be milliseconds since 1970 before the year 10000, found -1e+23")),
        "{dead:?}"
    );
    let retry_dead = b.read(&topics.retry_dead, stored_inputs.len(), WAIT);
    assert_eq!(retry_dead.len(), stored_inputs.len(), "every bad retry record dead-lettered");
    assert!(retry_dead.iter().any(|r| r.headers["tocsin.error"].contains("notification_timestamp must be seconds since 1970")), "{retry_dead:?}");
    assert!(retry_dead.iter().any(|r| r.headers["tocsin.error"].contains("retry_count must be a count")), "{retry_dead:?}");
    assert_eq!(b.read(&periodic_dead, stored_inputs.len(), WAIT).len(), stored_inputs.len(), "every bad periodic record dead-lettered");

    let committed = |group: String, topic: &str, count: i64| {
        let topic = topic.to_owned();
        async move {
            eventually(WAIT, &format!("{topic} committed to {count}"), || async { (b.committed(&group, &topic).get(&0) == Some(&count)).then_some(()) }).await
        }
    };
    committed(topics.group.clone(), &topics.alarms, alarm_inputs.len() as i64 + 1).await;
    committed(format!("{}-retry", topics.group), &topics.retry, stored_inputs.len() as i64).await;
    committed(format!("{}-periodic-1", topics.group), &topics.periodic, stored_inputs.len() as i64).await;
    let manager_committed: i64 = eventually(WAIT, "the filtered topic committed", || async {
        let sum: i64 = b.committed(&format!("{}-manager", topics.group), &topics.filtered).values().sum();
        (sum == 2).then_some(sum)
    })
    .await;
    assert_eq!(manager_committed, 2);

    let metrics = app.metrics().render_prometheus();
    for (engine, count) in [("notification", alarm_inputs.len()), ("retry", stored_inputs.len()), ("periodic", stored_inputs.len()), ("alarm-manager", 2)] {
        let line = format!("tocsin_records_discarded_total{{cause=\"rejected\",engine=\"{engine}\"}} {count}");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    assert!(!metrics.contains("cause=\"internal_error\""), "no handler panicked:\n{metrics}");
    app.shutdown().await.unwrap();
}
