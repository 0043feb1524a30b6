//! The notification engine end to end: alarm in → webhook POST with Monasca's exact body →
//! record on the sent topic → offset committed; failing endpoint → record on the retry topic.

use crate::support::tocsin::{start_in_process, write_config, Topics};
use crate::support::{alarm_message, broker, eventually, DbKind, Receiver, TestDb};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn delivers_sent_and_retry_records(kind: DbKind) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(kind).await;
    let hook = Receiver::start().await;
    let broken = Receiver::start().await;
    broken.answer_with(500);
    db.add_definition("def-1").await;
    db.add_method("m-ok", "WEBHOOK", "ops-hook", &hook.url("/hook"), 0).await;
    db.add_method("m-broken", "WEBHOOK", "broken-hook", &broken.url("/broken"), 0).await;
    db.attach("def-1", "ALARM", "m-ok").await;
    db.attach("def-1", "ALARM", "m-broken").await;
    let topics = Topics::create(2).await;
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, "")).await;

    let message = alarm_message("alarm-1", "def-1", "ALARM");
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "alarm-1", message.to_string().as_bytes()).await;

    eventually(WAIT, "the webhook POST", || async { (hook.count() == 1).then_some(()) }).await;
    let request = &hook.requests()[0];
    let inner = &message["alarm-transitioned"];
    let timestamp = inner["timestamp"].as_u64().unwrap() / 1000;
    assert_eq!(request.path, "/hook");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.body,
        format!(
            "{{\"alarm_id\": \"alarm-1\", \"alarm_definition_id\": \"def-1\", \"alarm_name\": \"dummy_alarm\", \
             \"alarm_description\": \"Dummy alarm\", \"alarm_timestamp\": {timestamp}, \"state\": \"ALARM\", \"old_state\": \"OK\", \
             \"message\": \"Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]\", \
             \"tenant_id\": \"62f7a7a314904aa3ab137d569d6b4fde\", \"metrics\": [{{\"id\": null, \"name\": \"cpu.user_perc\", \
             \"dimensions\": {{\"hostname\": \"operator\", \"service\": \"monitoring\"}}}}]}}"
        )
    );

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1, "one record on the sent topic");
    let record: serde_json::Map<String, Value> = serde_json::from_str(&sent[0].payload).unwrap();
    let keys: Vec<&str> = record.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["id", "type", "name", "address", "retry_count", "raw_alarm", "alarm_id", "alarm_name", "alarm_timestamp", "message",
         "notification_timestamp", "state", "severity", "link", "lifecycle_state", "tenant_id", "period"]
    );
    assert_eq!(record["id"], "m-ok");
    assert_eq!(record["type"], "webhook");
    assert_eq!(record["name"], "ops-hook");
    assert_eq!(record["address"], hook.url("/hook"));
    assert_eq!(record["retry_count"], 0);
    assert_eq!(&record["raw_alarm"], inner);
    assert_eq!(record["alarm_timestamp"], timestamp);
    assert!(record["notification_timestamp"].is_f64());
    assert_eq!(record["period"], 0);
    assert!(sent[0].payload.starts_with("{\"id\": \"m-ok\", \"type\": \"webhook\", "), "Python separators: {}", sent[0].payload);

    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1, "one record on the retry topic");
    let record: Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["retry_count"].as_u64()), (Some("m-broken"), Some(0)));
    assert_eq!(broken.count(), 1, "the failing endpoint was tried once");

    let committed = eventually(WAIT, "the commit", || async {
        let committed = b.committed(&topics.group, &topics.alarms);
        (committed.values().sum::<i64>() == 1).then_some(committed)
    })
    .await;
    assert_eq!(committed.len(), 1, "the partition holding the alarm is committed past it: {committed:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_sqlite() {
    delivers_sent_and_retry_records(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_mariadb() {
    delivers_sent_and_retry_records(DbKind::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_postgres() {
    delivers_sent_and_retry_records(DbKind::Postgres).await;
}

/// Transitions of one alarm reach the receiver in the order they were published, although the
/// engine works on many alarms of the partition at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_of_one_alarm_stay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    hook.delay(Duration::from_millis(3));
    db.definition_with_method("def-order", "m-order", "WEBHOOK", &hook.url("/"), &["ALARM", "OK"]).await;
    let topics = Topics::create(1).await;
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, "")).await;
    let b = broker();
    let producer = b.producer();
    let (alarms, rounds) = (20, 6);
    for round in 0..rounds {
        for alarm in 0..alarms {
            let state = if round % 2 == 0 { "ALARM" } else { "OK" };
            let id = format!("alarm-{alarm}");
            b.produce(&producer, &topics.alarms, &id, alarm_message(&id, "def-order", state).to_string().as_bytes()).await;
        }
    }
    eventually(WAIT, "every transition", || async { (hook.count() == alarms * rounds).then_some(()) }).await;
    for alarm in 0..alarms {
        let id = format!("\"alarm_id\": \"alarm-{alarm}\"");
        let states: Vec<bool> = hook.requests().iter().filter(|r| r.body.contains(&id)).map(|r| r.body.contains("\"state\": \"ALARM\"")).collect();
        let expected: Vec<bool> = (0..rounds).map(|round| round % 2 == 0).collect();
        assert_eq!(states, expected, "alarm-{alarm} notified out of order");
    }
    app.shutdown().await.unwrap();
}

/// `[keystone] auth_required`: webhook posts to `webhook_hosts` carry a Keystone token, fetched
/// once and reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_carry_a_cached_keystone_token() {
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let issued = Arc::new(AtomicUsize::new(0));
    let keystone = axum::Router::new().route(
        "/identity/v3/auth/tokens",
        axum::routing::post({
            let issued = issued.clone();
            move |body: axum::Json<Value>| async move {
                assert_eq!(body["auth"]["identity"]["password"]["user"]["name"], "notifier");
                assert_eq!(body["auth"]["scope"]["project"]["name"], "monitoring");
                issued.fetch_add(1, Ordering::SeqCst);
                (StatusCode::CREATED, [("X-Subject-Token", "token-abc")], axum::Json(serde_json::json!({"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keystone_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, keystone).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    let hook = Receiver::start().await;
    db.definition_with_method("def-ks", "m-ks", "WEBHOOK", &hook.url("/"), &["ALARM"]).await;
    let topics = Topics::create(1).await;
    let extra = format!(
        "[keystone]\nauth_required = true\nwebhook_hosts = http://{}\nauth_url = http://{keystone_addr}/identity/v3\nusername = notifier\npassword = pw\nproject_name = monitoring\n",
        hook.addr
    );
    let app = start_in_process(&write_config(dir.path(), &topics, &db.url, &extra)).await;
    let b = broker();
    for i in 0..3 {
        let id = format!("ks-{i}");
        b.produce(&b.producer(), &topics.alarms, &id, alarm_message(&id, "def-ks", "ALARM").to_string().as_bytes()).await;
    }
    eventually(WAIT, "three posts", || async { (hook.count() == 3).then_some(()) }).await;
    assert!(hook.requests().iter().all(|r| r.headers["x-auth-token"] == "token-abc"));
    assert_eq!(issued.load(Ordering::SeqCst), 1, "the token is reused until it expires");
    app.shutdown().await.unwrap();
}
