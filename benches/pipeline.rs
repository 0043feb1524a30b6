//! End-to-end throughput and latency of the notification engine on real parts: a tansu broker,
//! a SQLite config database, Tocsin in-process, and a fast webhook receiver on loopback.
//!
//! Phase 1 (throughput): N alarms are loaded into the alarm topic (8 partitions by default), then Tocsin starts and
//! the clock runs until the receiver has N posts and the group has committed N offsets.
//! Phase 2 (latency): with Tocsin idle, alarms are published at a steady rate; each carries its
//! send time, and the receiver records alarm-to-webhook latency.
//!
//! `cargo bench --bench pipeline` (env: BENCH_ALARMS, BENCH_PARTITIONS, BENCH_BATCHED, BENCH_RATE, BENCH_CACHE_TTL, BENCH_IN_FLIGHT,
//! BENCH_RETRY_WAITING, BENCH_GROUP_HOSTS).
//!
//! BENCH_GROUP_HOSTS=H measures the alarm manager through the broker instead: the tenant has one
//! group rule (`group by hostname`, group_wait BENCH_GROUP_WAIT, default 5s) whose action is the
//! webhook, the N alarms are spread over H hosts (each host's alarms consecutive), and the clock
//! runs until every one of the H groups was notified and every offset committed.
//! Needs `tansu` on PATH (scripts/ensure-tansu.sh).

/// The allocator the `tocsin` binary uses (src/main.rs), so the in-process engine is measured as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::body::Bytes;
use axum::extract::State;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};


fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Received {
    posts: AtomicUsize,
    /// Latencies in microseconds of posts whose alarm carried a send time.
    latencies: Mutex<Vec<u64>>,
}

async fn receive(State(received): State<Arc<Received>>, body: Bytes) -> &'static str {
    received.posts.fetch_add(1, Ordering::Relaxed);
    let text = std::str::from_utf8(&body).unwrap_or_default();
    if let Some(start) = text.find("sent_at_us=") {
        let digits: String = text[start + 11..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(sent) = digits.parse::<u64>() {
            received.latencies.lock().unwrap().push(now_us().saturating_sub(sent));
        }
    }
    "ok"
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

const TENANT: &str = "62f7a7a314904aa3ab137d569d6b4fde";

fn alarm(i: usize, description: &str) -> String {
    alarm_on(i, &format!("host-{}", i % 500), description)
}

fn alarm_on(i: usize, hostname: &str, description: &str) -> String {
    let now_ms = now_us() / 1000;
    serde_json::json!({"alarm-transitioned": {
        "tenantId": TENANT, "alarmId": format!("bench-alarm-{i}"),
        "alarmDefinitionId": "bench-definition",
        "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": hostname, "service": "monitoring"}}],
        "alarmName": "cpu high", "alarmDescription": description, "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true,
        "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0 with the values: [97.5]",
        "severity": "HIGH", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": now_ms}})
    .to_string()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    tocsin::telemetry::init_logging(tocsin::telemetry::LogFormat::Text);
    let alarms: usize = env("BENCH_ALARMS", 100_000);
    let partitions: i32 = env("BENCH_PARTITIONS", 8);
    let rate: usize = env("BENCH_RATE", 1_000);
    let cache_ttl: String = env("BENCH_CACHE_TTL", "5s".to_owned());
    let in_flight: usize = env("BENCH_IN_FLIGHT", 256);
    // Extra INI text appended to Tocsin's configuration, e.g. "[kafka_consumer_notification]\nfetch.wait.max.ms = 10".
    let extra_config: String = env("BENCH_EXTRA_CONFIG", String::new()).replace("\\n", "\n");

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let broker = format!("127.0.0.1:{port}");
    let mut command = std::process::Command::new("tansu");
    // SAFETY: prctl is async-signal-safe; the broker dies with this process however it ends.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut tansu = command
        .args(["broker", "--listener-url", &format!("tcp://{broker}"), "--advertised-listener-url", &format!("tcp://{broker}")])
        .args(["--storage-engine", "memory://tansu/"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tansu on PATH (scripts/ensure-tansu.sh)");
    while std::net::TcpStream::connect(&broker).is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &broker);
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let topics = [
        ("alarm-state-transitions", partitions),
        ("alarm-notifications", 1),
        ("retry-notifications", 1),
        ("alarm-state-transitions-dead", 1),
        ("60-seconds-notifications", 1),
        ("retry-notifications-dead", 1),
        // The alarm manager is on by default; no tenant has rules, so it only idles here.
        ("filtered-alarm-transitions", 4),
    ];
    let new: Vec<NewTopic> = topics.iter().map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1))).collect();
    admin.create_topics(&new, &AdminOptions::new()).await.unwrap();

    let received = Arc::new(Received::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    // Without TCP_NODELAY every response waits out the client's delayed ACK (40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let router = axum::Router::new().fallback(receive).with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let db_url = format!("sqlite://{}/config.db", dir.path().display());
    let db = tocsin::db::Database::connect_lazy(&format!("{db_url}?mode=rwc")).unwrap();
    db.init_schema().await.unwrap();
    for statement in [
        "INSERT INTO notification_method_type (name) VALUES ('WEBHOOK')",
        "INSERT INTO alarm_definition (id, tenant_id, name, expression, severity, created_at, updated_at) VALUES ('bench-definition', ?, 'cpu high', 'e', 'HIGH', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ] {
        let params: &[&str] = if statement.contains('?') { &[TENANT] } else { &[] };
        db.execute(statement, params).await.unwrap();
    }
    db.execute("INSERT INTO notification_method (id, tenant_id, name, type, address, created_at, updated_at) VALUES ('bench-hook', ?, 'bench', 'WEBHOOK', ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", &[TENANT, &hook]).await.unwrap();
    let group_hosts: usize = env("BENCH_GROUP_HOSTS", 0);
    if group_hosts == 0 {
        db.execute("INSERT INTO alarm_action VALUES ('bench-definition', 'ALARM', 'bench-hook')", &[]).await.unwrap();
    } else {
        // The alarms' own definition has no actions: every post is a grouped notification.
        use tocsin::rules::{aql, GroupRule, Rule, RuleMeta};
        let store = tocsin::rules::store::RuleStore::new(db.clone());
        store.init_schema().await.unwrap();
        let group_wait: String = env("BENCH_GROUP_WAIT", "5s".to_owned());
        store
            .insert(&Rule::Group(GroupRule {
                meta: RuleMeta { id: "bench-group".into(), tenant_id: TENANT.into(), name: "group_hosts".into(), description: String::new() },
                spec: aql::parse_group("group by hostname").unwrap(),
                group_wait: tocsin::rules::duration::parse(&group_wait).unwrap(),
                repeat_interval: Duration::from_secs(7200),
                alarm_actions: vec!["bench-hook".into()],
                ok_actions: vec![],
                undetermined_actions: vec![],
            }))
            .await
            .unwrap();
    }

    // Load phase. One record per batch by default: the engine pauses and resumes partitions under
    // load, and tansu skips the rest of a multi-record batch when a fetch resumes inside it
    // (docs/test-broker.md). BENCH_BATCHED=1 loads multi-record batches instead; only safe together with
    // a partition queue that holds a whole partition's share, so that no partition is paused.
    let batched = std::env::var("BENCH_BATCHED").is_ok();
    let producer: FutureProducer = client
        .clone()
        .set("linger.ms", if batched { "5" } else { "0" })
        .set("batch.num.messages", if batched { "10000" } else { "1" })
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let loading = Instant::now();
    let mut pending = Vec::with_capacity(alarms);
    let per_host = alarms.div_ceil(group_hosts.max(1));
    for i in 0..alarms {
        let payload = if group_hosts > 0 { alarm_on(i, &format!("host-{}", i / per_host), "bench") } else { alarm(i, "bench") };
        let key = format!("bench-alarm-{i}");
        pending.push(producer.send_result(FutureRecord::to("alarm-state-transitions").key(&key).payload(&payload)).unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap().unwrap();
    }
    eprintln!("loaded {alarms} alarms in {:.1?}", loading.elapsed());
    if std::env::var("BENCH_BROKER_ONLY").is_ok() {
        // The broker's own ceiling: a bare consumer reading what was loaded.
        let consumer: BaseConsumer = client.clone().set("group.id", "bench-reader").set("auto.offset.reset", "earliest").set("fetch.wait.max.ms", "10").create().unwrap();
        consumer.subscribe(&["alarm-state-transitions"]).unwrap();
        let started = Instant::now();
        let mut read = 0;
        while read < alarms {
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                read += 1;
            }
        }
        println!("broker only: a bare consumer read {alarms} records in {:.2} s ({:.0} records/s)", started.elapsed().as_secs_f64(), alarms as f64 / started.elapsed().as_secs_f64());
        let steady: FutureProducer = client.clone().set("linger.ms", "0").create().unwrap();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        let mut latencies = Vec::new();
        let count = rate * 5;
        let record = |message: rdkafka::message::BorrowedMessage<'_>, latencies: &mut Vec<u64>| {
            let text = String::from_utf8_lossy(rdkafka::Message::payload(&message).unwrap_or_default()).into_owned();
            if let Some(sent) = text.strip_prefix("sent_at_us=").and_then(|v| v.parse::<u64>().ok()) {
                latencies.push(now_us() - sent);
            }
        };
        for _ in 0..count {
            tick.tick().await;
            let _ = steady.send_result(FutureRecord::to("alarm-state-transitions").key("k").payload(&format!("sent_at_us={}", now_us())));
            while let Some(Ok(message)) = consumer.poll(Duration::ZERO) {
                record(message, &mut latencies);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while latencies.len() < count && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                record(message, &mut latencies);
            }
        }
        latencies.sort_unstable();
        println!("broker only: produce-to-consume latency at {rate}/s: p50 {:.2} ms, p99 {:.2} ms", latencies[latencies.len() / 2] as f64 / 1000.0, latencies[latencies.len() * 99 / 100] as f64 / 1000.0);
        let _ = tansu.kill();
        let _ = tansu.wait();
        return;
    }

    // BENCH_RETRY_WAITING=N: N failed notifications wait in the retry engine (interval 1 h) for
    // the whole run, one record per batch (the retry consumer pauses its partition when full).
    let retry_waiting: usize = env("BENCH_RETRY_WAITING", 0);
    if retry_waiting > 0 {
        let single: FutureProducer = client.clone().set("linger.ms", "0").set("batch.num.messages", "1").set("queue.buffering.max.messages", "1000000").create().unwrap();
        let method = tocsin::model::NotificationMethod { id: "bench-hook".into(), kind: "webhook".into(), name: Some("bench".into()), address: Some(hook.clone()), period: 0 };
        let mut pending = Vec::with_capacity(retry_waiting);
        for i in 0..retry_waiting {
            let alarm = tocsin::ingest::decode(Some(alarm(alarms + 1_000_000 + i, "waiting").as_bytes()), usize::MAX).unwrap();
            let mut notification = tocsin::model::Notification::new(method.clone(), Arc::new(alarm));
            notification.notification_timestamp = Some(now_us() as f64 / 1e6);
            let payload = tocsin::publish::notification_json(&notification);
            pending.push(single.send_result(FutureRecord::to("retry-notifications").key(&notification.alarm.alarm_id).payload(&payload)).unwrap());
        }
        for delivery in pending {
            delivery.await.unwrap().unwrap();
        }
        eprintln!("loaded {retry_waiting} notifications waiting for a retry");
    }
    let retry_config = if retry_waiting > 0 { "[retry_engine]\ninterval = 1h\n" } else { "" };

    let config = dir.path().join("bench.conf");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nurl = {broker}\n\n[database]\nurl = {db_url}\n\n[notification_types]\nenabled = webhook\n\n[network]\nallow = 127.0.0.1\n\n[statsd]\nenable = false\n\n\
             [notification_engine]\nlookup_cache_ttl = {cache_ttl}\nmax_in_flight_per_partition = {in_flight}\n\n[tocsin]\nhttp_listen = 127.0.0.1:0\n\n{retry_config}\n{extra_config}\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let cpu_before = (cpu_seconds(std::process::id()), cpu_seconds(tansu.id()));
    let app = tocsin::app::App::start(tocsin::app::Config::load(&config).unwrap()).await.unwrap();
    if group_hosts > 0 {
        grouped(app, &client, alarms, group_hosts, partitions, &received, started).await;
        let _ = tansu.kill();
        let _ = tansu.wait();
        return;
    }
    while received.posts.load(Ordering::Relaxed) < alarms {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = started.elapsed();
    let cpu_used = (cpu_seconds(std::process::id()) - cpu_before.0, cpu_seconds(tansu.id()) - cpu_before.1);
    let committed_at = loop {
        if committed_total(&client, "monasca-notification", partitions) >= alarms as i64 {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let throughput = alarms as f64 / delivered.as_secs_f64();

    // Latency phase: a steady rate, one record per batch so each alarm leaves at once.
    let steady: FutureProducer = client.clone().set("linger.ms", "0").create().unwrap();
    let count = rate * 10;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let before = received.posts.load(Ordering::Relaxed);
    for i in 0..count {
        tick.tick().await;
        let payload = alarm(alarms + i, &format!("sent_at_us={}", now_us()));
        let key = format!("bench-alarm-{}", alarms + i);
        let _ = steady.send_result(FutureRecord::to("alarm-state-transitions").key(&key).payload(&payload));
    }
    steady.flush(Duration::from_secs(10)).unwrap();
    while received.posts.load(Ordering::Relaxed) < before + count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = received.latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0;

    let metrics = app.metrics().render_prometheus();
    app.shutdown().await.unwrap();
    let _ = tansu.kill();
    let _ = tansu.wait();
    println!("pipeline benchmark: {alarms} alarms ({}), {partitions} partitions, lookup cache {cache_ttl}, {in_flight} in flight per partition", if batched { "multi-record batches" } else { "one record per batch" });
    println!("  throughput: {throughput:.0} notifications/s ({alarms} webhook posts in {:.2} s; all offsets committed at {:.2} s)", delivered.as_secs_f64(), committed_at.as_secs_f64());
    println!(
        "  CPU per notification: {:.1} µs in this process (Tocsin and the receiver), {:.1} µs in the broker",
        cpu_used.0 * 1e6 / alarms as f64,
        cpu_used.1 * 1e6 / alarms as f64
    );
    println!("  latency at {rate} alarms/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)", percentile(0.50), percentile(0.99), percentile(1.0), latencies.len());
    println!("  peak RSS: {} MiB", peak_rss_kib() / 1024);
    if retry_waiting > 0 {
        let held = metrics.lines().find(|l| l.starts_with("tocsin_waiting_notifications{engine=\"retry\"}")).unwrap_or("none");
        println!("  {retry_waiting} notifications waiting in the retry engine throughout; held in memory at the end: {held}");
    }
    let mean = |name: &str| {
        let value = |suffix: &str| metrics.lines().filter(|l| l.starts_with(&format!("{name}_{suffix}"))).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>();
        value("sum") / value("count").max(1.0) * 1000.0
    };
    println!("  mean webhook send {:.2} ms, mean method lookup {:.3} ms", mean("tocsin_send_duration_seconds"), mean("tocsin_db_lookup_duration_seconds"));
}

fn committed_total(client: &ClientConfig, group: &str, partitions: i32) -> i64 {
    committed_offsets(client, group, "alarm-state-transitions", partitions)
}

/// User and system CPU time a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Peak resident set of this process (broker excluded), from /proc.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// The BENCH_GROUP_HOSTS run: until every group was notified and both consumer groups (the
/// notification engine's routing and the alarm manager's, whose commits follow its persisted
/// state) committed everything.
async fn grouped(app: tocsin::app::App, client: &ClientConfig, alarms: usize, hosts: usize, partitions: i32, received: &Received, started: Instant) {
    let mut routed_at = None;
    let mut notified_at = None;
    let persisted_at = loop {
        let now = started.elapsed();
        if routed_at.is_none() && committed_total(client, "monasca-notification", partitions) >= alarms as i64 {
            routed_at = Some(now);
        }
        if notified_at.is_none() && received.posts.load(Ordering::Relaxed) >= hosts {
            notified_at = Some(now);
        }
        if routed_at.is_some() && notified_at.is_some() && committed_offsets(client, "monasca-notification-manager", "filtered-alarm-transitions", 4) >= alarms as i64 {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let metrics = app.metrics().render_prometheus();
    app.shutdown().await.unwrap();
    let (routed, notified) = (routed_at.unwrap(), notified_at.unwrap());
    println!("alarm manager through the broker: {alarms} transitions of one tenant, {hosts} hosts, one group rule (group by hostname)");
    println!("  routed by the notification engine: {:.0} transitions/s (all committed at {:.2} s)", alarms as f64 / routed.as_secs_f64(), routed.as_secs_f64());
    println!("  every group notified at {:.2} s ({} grouped notifications)", notified.as_secs_f64(), received.posts.load(Ordering::Relaxed));
    println!("  alarm manager: all {alarms} transitions applied, persisted and committed at {:.2} s ({:.0} transitions/s)", persisted_at.as_secs_f64(), alarms as f64 / persisted_at.as_secs_f64());
    println!("  peak RSS: {} MiB", peak_rss_kib() / 1024);
    let open = metrics.lines().find(|l| l.starts_with("tocsin_manager_open_groups")).unwrap_or("tocsin_manager_open_groups ?");
    println!("  {open}");
}

fn committed_offsets(client: &ClientConfig, group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = client.clone().set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let Ok(committed) = consumer.committed_offsets(list, Duration::from_secs(5)) else { return 0 };
    committed.elements().iter().map(|e| if let Offset::Offset(o) = e.offset() { o } else { 0 }).sum()
}
