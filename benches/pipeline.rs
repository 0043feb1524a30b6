//! End-to-end throughput and latency of the notification engine on real parts: a tansu broker,
//! a SQLite config database, Tocsin in-process, and a fast webhook receiver on loopback.
//!
//! Phase 1 (throughput): N alarms are loaded into the alarm topic (8 partitions by default), then
//! Tocsin starts and the clock runs until all N are finished. A notification counts as finished
//! only when all of these hold: its webhook post arrived (posts are counted by distinct alarm id,
//! so a duplicate does not stand in for a missing alarm; duplicates are reported), the
//! notification engine's group has committed its offset (the committed offsets of the alarm
//! topic sum to N), and the sent topic holds its record (a reader of the sent topic, running
//! from the start, has seen N distinct alarm ids; its high watermark is no measure here, as the
//! test broker under-reports it for multi-record batches, which Tocsin's producer writes).
//! Throughput is N divided by the time until all three hold: the later of when the last post
//! arrived, when the committed offsets were seen to reach N, and the latest sent record's
//! timestamp (the reader's own fetch wait is not counted).
//! Phase 2 (latency): with Tocsin idle, alarms are published at a steady rate; each carries its
//! send time, and the receiver records alarm-to-webhook latency. The phase ends when those
//! alarms are finished in the same sense.
//!
//! Every wait has a deadline (scaled to the number of alarms); a run that misses one ends with
//! exit status 1 and says what was reached.
//!
//! `cargo bench --bench pipeline` (env: BENCH_ALARMS, BENCH_PARTITIONS, BENCH_BATCHED, BENCH_RATE, BENCH_CACHE_TTL, BENCH_IN_FLIGHT,
//! BENCH_RETRY_WAITING, BENCH_GROUP_HOSTS, BENCH_SHORT, BENCH_RECEIVER_DELAY_MS: the receiver
//! answers each post that much later (fractions allowed), BENCH_RECEIVER_ONE_AT_A_TIME: and serves one post at a
//! time, blocking its only thread meanwhile, BENCH_EXTRA_CONFIG: INI text appended to Tocsin's,
//! BENCH_IDLE_SECS: after the latency phase, how long the broker's CPU is measured while Tocsin
//! idles, default 20).
//! `scripts/bench-defaults.sh` runs it at Tocsin's defaults and at the best hand-tuned setting,
//! against a fast and a 200 ms receiver, alternating, and prints the figures side by side.
//! BENCH_SHORT=1 makes it seconds long, even in a debug build, with every check kept: 200 alarms,
//! a latency phase of 200 alarms in 1 s, group_wait 1s. CI runs it so (scripts/test.sh).
//!
//! BENCH_GROUP_HOSTS=H measures the alarm manager through the broker instead: the tenant has one
//! group rule (`group by hostname`, group_wait BENCH_GROUP_WAIT, default 5s) whose action is the
//! webhook, and no silence or inhibit rule, so the group rule matches every transition. The N
//! alarms are spread over H hosts (each host's alarms consecutive), and the clock runs until all
//! H groups were notified (distinct grouped alarm ids, one per group), the sent topic holds H
//! records, and both consumer groups committed every offset: the notification engine's of the
//! alarm topic and the alarm manager's of the filtered topic (its commits follow its persisted state).
//! Needs `tansu` on PATH (scripts/ensure-tansu.sh).

/// The allocator the `tocsin` binary uses (src/main.rs), so the in-process engine is measured as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/mod.rs"]
mod support;

use axum::body::Bytes;
use axum::extract::State;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::TENANT;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Received {
    posts: AtomicUsize,
    /// Alarm ids posted so far (a grouped notification's id is its group's).
    ids: Mutex<HashSet<Box<str>>>,
    /// Latencies in microseconds of posts whose alarm carried a send time (at arrival).
    latencies: Mutex<Vec<u64>>,
    /// How long the receiver takes to answer each post (BENCH_RECEIVER_DELAY_MS).
    answer_after: Duration,
    in_progress: AtomicUsize,
    most_at_once: AtomicUsize,
    /// BENCH_RECEIVER_ONE_AT_A_TIME: the receiver's only thread sleeps through each answer, as a
    /// single-threaded server does; further posts wait in its socket backlog.
    one_at_a_time: bool,
}

impl Received {
    fn posts(&self) -> usize {
        self.posts.load(Ordering::Relaxed)
    }

    fn distinct(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
}

async fn receive(State(received): State<Arc<Received>>, body: Bytes) -> &'static str {
    let at_once = received.in_progress.fetch_add(1, Ordering::Relaxed) + 1;
    received.most_at_once.fetch_max(at_once, Ordering::Relaxed);
    // Counted before the id is recorded, so that ids read before posts never outnumber them.
    received.posts.fetch_add(1, Ordering::Relaxed);
    let text = std::str::from_utf8(&body).unwrap_or_default();
    // The body's first field is the alarm's id (a grouped notification's members come later).
    const ID: &str = "\"alarm_id\": \"";
    if let Some(start) = text.find(ID).map(|at| at + ID.len()) {
        let id = text[start..].split('"').next().unwrap_or_default();
        received.ids.lock().unwrap().insert(id.into());
    }
    if let Some(start) = text.find("sent_at_us=") {
        let digits: String = text[start + 11..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(sent) = digits.parse::<u64>() {
            received.latencies.lock().unwrap().push(now_us().saturating_sub(sent));
        }
    }
    if received.one_at_a_time {
        std::thread::sleep(received.answer_after);
    } else if !received.answer_after.is_zero() {
        tokio::time::sleep(received.answer_after).await;
    }
    received.in_progress.fetch_sub(1, Ordering::Relaxed);
    "ok"
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn alarm(i: usize, description: &str) -> String {
    alarm_on(i, &format!("host-{}", i % 500), description)
}

fn alarm_on(i: usize, hostname: &str, description: &str) -> String {
    support::alarm_message(i, hostname, description, now_us() / 1000)
}

/// Tocsin's tasks run on this runtime's workers, named so that their CPU can be told apart from
/// the receiver's (which has a runtime of its own) and the benchmark's (on the main thread).
const TOCSIN_THREADS: &str = "tocsin-worker";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().thread_name(TOCSIN_THREADS).enable_all().build().unwrap();
    let receiver = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("bench-receiver").enable_all().build().unwrap();
    runtime.block_on(run(receiver.handle()));
}

/// `receiver`: the runtime the webhook receiver runs on.
async fn run(receiver: &tokio::runtime::Handle) {
    tocsin::telemetry::init_logging(tocsin::telemetry::LogFormat::Text);
    let short = env("BENCH_SHORT", 0) > 0;
    let alarms: usize = env("BENCH_ALARMS", if short { 200 } else { 100_000 });
    let partitions: i32 = env("BENCH_PARTITIONS", 8);
    let rate: usize = env("BENCH_RATE", if short { 200 } else { 1_000 });
    let latency_secs: usize = if short { 1 } else { 10 };
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
    support::broker_accepting(&broker).await.unwrap_or_else(|e| fail(e));
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

    let received = Arc::new(Received {
        answer_after: Duration::from_secs_f64(env("BENCH_RECEIVER_DELAY_MS", 0.0) / 1000.0),
        one_at_a_time: std::env::var("BENCH_RECEIVER_ONE_AT_A_TIME").is_ok(),
        ..Received::default()
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(receive).with_state(received.clone());
    // Registered with the receiver's runtime, whose thread also drives its sockets.
    receiver.spawn(async move {
        // Without TCP_NODELAY every response waits out the client's delayed ACK (40 ms).
        let listener = axum::serve::ListenerExt::tap_io(tokio::net::TcpListener::from_std(listener).unwrap(), |stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, router).await.unwrap()
    });

    let db_url = support::fresh_database(&env("BENCH_DB", "sqlite".to_owned()), "tocsin_bench", dir.path()).await.unwrap_or_else(|e| fail(e));
    let db = tocsin::db::Database::connect_lazy(&if db_url.starts_with("sqlite") { format!("{db_url}?mode=rwc") } else { db_url.clone() }).unwrap();
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
        let group_wait: String = env("BENCH_GROUP_WAIT", if short { "1s" } else { "5s" }.to_owned());
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
        let deadline = started + deadline_for(alarms);
        let mut read = 0;
        while read < alarms {
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                read += 1;
            }
            if Instant::now() > deadline {
                fail(format!("broker only: a bare consumer read {read} of {alarms} records by the deadline"));
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
        while latencies.len() < count {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                record(message, &mut latencies);
            }
            if Instant::now() > deadline {
                fail(format!("broker only: {} of {count} steady records consumed within 30 s of the last send", latencies.len()));
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
    let watch = Watch::new(&client, partitions, group_hosts > 0);
    let (started, start_ms) = (Instant::now(), now_us() / 1000);
    // Every thread that exists now but Tocsin's runtime workers is the benchmark's own: the
    // receiver, the watch's readers, the main thread. Tocsin's CPU is the rest of the process's.
    let bench_threads = support::threads_except(TOCSIN_THREADS);
    let cpu_before = (support::process_cpu_seconds(std::process::id()), support::process_cpu_seconds(tansu.id()), support::threads_cpu_seconds(&bench_threads));
    let database_cpu_before = support::database_servers_cpu_seconds();
    let app = tocsin::app::App::start(tocsin::app::Config::load(&config).unwrap()).await.unwrap();
    if group_hosts > 0 {
        grouped(app, watch, alarms, group_hosts, &received, (started, start_ms)).await;
        let _ = tansu.kill();
        let _ = tansu.wait();
        return;
    }
    // Committed offsets are asked for only once every post arrived: the broker is the bottleneck.
    let deadline = started + deadline_for(alarms);
    let (mut delivered_at, mut committed_at) = (None, None);
    let (finished, counts) = loop {
        if delivered_at.is_none() && received.distinct() >= alarms {
            delivered_at = Some(started.elapsed());
        }
        if let Some(delivered) = delivered_at {
            let counts = watch.counts(&received);
            let now = started.elapsed();
            if counts.committed >= alarms as i64 {
                committed_at.get_or_insert(now);
            }
            if let Some(committed) = committed_at.filter(|_| counts.sent_distinct >= alarms) {
                break ((delivered, committed, watch.sent_by(start_ms)), counts);
            }
        }
        if Instant::now() > deadline {
            fail(format!("throughput phase: {alarms} alarms not finished by the deadline ({:.0?}); reached {}", deadline - started, watch.counts(&received)));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let finished_at = finished.0.max(finished.1).max(finished.2);
    let bench_cpu = support::threads_cpu_seconds(&bench_threads) - cpu_before.2;
    let cpu_used = (support::process_cpu_seconds(std::process::id()) - cpu_before.0 - bench_cpu, support::process_cpu_seconds(tansu.id()) - cpu_before.1, bench_cpu);
    let database_cpu = support::database_servers_cpu_seconds() - database_cpu_before;
    let throughput = alarms as f64 / finished_at.as_secs_f64();
    // The history engine records the same notifications in its own consumer groups; it is not
    // part of the finished work, but what it costs is (docs: BENCHMARKS.md, history).
    let history_rows = |app: &tocsin::app::App| metric_sum(&app.metrics().render_prometheus(), "tocsin_history_rows_total") as usize;
    let history_at_finish = history_rows(&app);
    let history_caught_up = loop {
        if history_rows(&app) >= alarms {
            break Some(started.elapsed());
        }
        if Instant::now() > deadline || history_at_finish == 0 && started.elapsed() > finished_at + Duration::from_secs(2) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Latency phase: a steady rate, one record per batch so each alarm leaves at once.
    let steady: FutureProducer = client.clone().set("linger.ms", "0").create().unwrap();
    let count = rate * latency_secs;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..count {
        tick.tick().await;
        let payload = alarm(alarms + i, &format!("sent_at_us={}", now_us()));
        let key = format!("bench-alarm-{}", alarms + i);
        let _ = steady.send_result(FutureRecord::to("alarm-state-transitions").key(&key).payload(&payload));
    }
    steady.flush(Duration::from_secs(10)).unwrap();
    let total = alarms + count;
    let deadline = Instant::now() + deadline_for(count);
    let final_counts = loop {
        if received.distinct() >= total {
            let counts = watch.counts(&received);
            if counts.committed >= total as i64 && counts.sent_distinct >= total {
                break counts;
            }
        }
        if Instant::now() > deadline {
            fail(format!("latency phase: {total} alarms in all not finished by the deadline; reached {}", watch.counts(&received)));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut latencies = received.latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0;

    let metrics = app.metrics().render_prometheus();
    watch.close();
    // Idle phase: what an idle Tocsin costs the broker (the benchmark's own readers are closed).
    let idle_secs: u64 = env("BENCH_IDLE_SECS", if short { 0 } else { 20 });
    let idle_broker_cpu = if idle_secs > 0 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = support::process_cpu_seconds(tansu.id());
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        Some((support::process_cpu_seconds(tansu.id()) - before) / idle_secs as f64)
    } else {
        None
    };
    app.shutdown().await.unwrap();
    let _ = tansu.kill();
    let _ = tansu.wait();
    println!(
        "pipeline benchmark: {alarms} alarms ({}), {partitions} partitions, lookup cache {cache_ttl}, {in_flight} in flight per partition, receiver answering after {:?}; no alarm-manager rule (the manager is on and idle)",
        if batched { "multi-record batches" } else { "one record per batch" },
        received.answer_after
    );
    println!(
        "  throughput: {throughput:.0} notifications/s ({alarms} finished at {:.2} s: every alarm posted at {:.2} s, every offset committed at {:.2} s, every sent record written at {:.2} s)",
        finished_at.as_secs_f64(),
        finished.0.as_secs_f64(),
        finished.1.as_secs_f64(),
        finished.2.as_secs_f64()
    );
    println!("  counted when finished: {counts}");
    let batches = metric_sum(&metrics, "tocsin_history_write_duration_seconds_count");
    let batch_ms = metric_sum(&metrics, "tocsin_history_write_duration_seconds_sum") * 1000.0 / batches.max(1.0);
    match history_caught_up {
        Some(at) => println!(
            "  history: {history_at_finish} rows written when the notifications finished, all {alarms} by {:.2} s ({batches} batches in all, {batch_ms:.1} ms each)",
            at.as_secs_f64()
        ),
        None if batches > 0.0 => println!("  history: only {history_at_finish} rows written when the notifications finished, not all {alarms} by the deadline ({batches} batches, {batch_ms:.1} ms each)"),
        None => println!("  history: off"),
    }
    println!(
        "  CPU per notification: {:.1} µs in Tocsin, {:.1} µs in the benchmark (receiver and readers), {:.1} µs in the broker",
        cpu_used.0 * 1e6 / alarms as f64,
        cpu_used.2 * 1e6 / alarms as f64,
        cpu_used.1 * 1e6 / alarms as f64
    );
    if database_cpu > 0.0 {
        println!("  database servers on this machine (MariaDB, PostgreSQL) meanwhile: {:.1} µs per notification", database_cpu * 1e6 / alarms as f64);
    }
    println!("  latency at {rate} alarms/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)", percentile(0.50), percentile(0.99), percentile(1.0), latencies.len());
    println!("  counted after the latency phase ({total} alarms in all): {final_counts}");
    println!("  peak RSS: {} MiB", peak_rss_kib() / 1024);
    println!("  most posts in progress at once at the receiver: {}", received.most_at_once.load(Ordering::Relaxed));
    let failed: u64 = metrics.lines().filter(|l| l.starts_with("tocsin_notifications_failed_total")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).map(|n| n as u64).sum();
    println!("  failed sends (timeouts and errors, each handed to the retry topic): {failed}");
    if let Some(share) = idle_broker_cpu {
        println!("  idle: the broker used {:.1} % of a core while Tocsin idled for {idle_secs} s", share * 100.0);
    }
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

/// Peak resident set of this process (broker excluded), from /proc.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// The BENCH_GROUP_HOSTS run: until every group was notified, the sent topic holds every grouped
/// notification, and both consumer groups (the notification engine's routing and the alarm
/// manager's, whose commits follow its persisted state) committed everything.
async fn grouped(app: tocsin::app::App, watch: Watch, alarms: usize, hosts: usize, received: &Received, (started, start_ms): (Instant, u64)) {
    let deadline = started + deadline_for(alarms);
    let (mut routed_at, mut notified_at, mut persisted_at) = (None, None, None);
    let counts = loop {
        let counts = watch.counts(received);
        let now = started.elapsed();
        if counts.committed >= alarms as i64 {
            routed_at.get_or_insert(now);
        }
        if counts.distinct >= hosts {
            notified_at.get_or_insert(now);
        }
        if counts.manager_committed.is_some_and(|c| c >= alarms as i64) {
            persisted_at.get_or_insert(now);
        }
        if routed_at.is_some() && notified_at.is_some() && persisted_at.is_some() && counts.sent_distinct >= hosts {
            break counts;
        }
        if Instant::now() > deadline {
            fail(format!("alarm manager: {alarms} transitions of {hosts} hosts not finished by the deadline ({:.0?}); reached {counts}", deadline - started));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (routed, notified, persisted, sent) = (routed_at.unwrap(), notified_at.unwrap(), persisted_at.unwrap(), watch.sent_by(start_ms));
    let finished = routed.max(notified).max(persisted).max(sent);
    let metrics = app.metrics().render_prometheus();
    app.shutdown().await.unwrap();
    watch.close();
    println!("alarm manager through the broker: {alarms} transitions of one tenant, {hosts} hosts; rules match: one group rule (group by hostname) groups every transition, no silence or inhibit rule");
    println!("  routed by the notification engine: {:.0} transitions/s (all committed at {:.2} s)", alarms as f64 / routed.as_secs_f64(), routed.as_secs_f64());
    println!("  every group notified at {:.2} s; every grouped notification written to the sent topic at {:.2} s", notified.as_secs_f64(), sent.as_secs_f64());
    println!("  alarm manager: all {alarms} transitions applied, persisted and committed at {:.2} s", persisted.as_secs_f64());
    println!("  all finished at {:.2} s ({:.0} transitions/s)", finished.as_secs_f64(), alarms as f64 / finished.as_secs_f64());
    println!("  counted when finished: {counts} (distinct ids are groups)");
    println!("  peak RSS: {} MiB", peak_rss_kib() / 1024);
    let open = metrics.lines().find(|l| l.starts_with("tocsin_manager_open_groups")).unwrap_or("tocsin_manager_open_groups ?");
    println!("  {open}");
    print_stages(&metrics);
}

/// The alarm manager's per-stage timings from Tocsin's own metrics: how often each step ran,
/// the time summed over its runs (steps run concurrently, so sums can exceed the wall time), and
/// how far behind the manager applied transitions.
fn print_stages(metrics: &str) {
    let value = |name: &str| -> f64 {
        metrics.lines().find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
    };
    println!("  per stage (count, time summed over runs, mean):");
    for stage in ["route", "apply", "advance", "notices", "persist"] {
        let sum = value(&format!("tocsin_manager_stage_duration_seconds_sum{{stage=\"{stage}\"}}"));
        let count = value(&format!("tocsin_manager_stage_duration_seconds_count{{stage=\"{stage}\"}}"));
        let mean_ms = if count > 0.0 { sum / count * 1e3 } else { 0.0 };
        println!("    {stage:<8} {count:>9.0} runs  {sum:>8.2} s  {mean_ms:>9.3} ms");
    }
    let (sum, count) = (value("tocsin_manager_input_lag_seconds_sum"), value("tocsin_manager_input_lag_seconds_count"));
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tocsin_manager_input_lag_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().unwrap_or(f64::INFINITY), count.trim().parse().ok()?))
        })
        .collect();
    let quantile = |q: f64| buckets.iter().find(|(_, c)| *c >= q * count).map_or(f64::NAN, |(le, _)| *le);
    println!(
        "  input lag (a transition written to the alarm topic to applied by the manager; a backlog loaded before the start counts its wait): mean {:.2} s, p50 <= {} s, p99 <= {} s",
        if count > 0.0 { sum / count } else { 0.0 },
        quantile(0.5),
        quantile(0.99)
    );
}

/// How long a phase with `alarms` alarms may take before the run fails: generous (the slowest
/// runs recorded in BENCHMARKS.md took under a tenth of it), so that only a stuck run ends there.
fn deadline_for(alarms: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(2 * alarms as u64)
}

/// Ends the run with exit status 1. Not a panic: the in-process engine's threads could keep an
/// unwinding runtime from ending; the broker dies with this process (PR_SET_PDEATHSIG).
fn fail(message: String) -> ! {
    eprintln!("pipeline benchmark FAILED: {message}");
    std::process::exit(1)
}

/// Finished work as the receiver and the broker show it.
struct Counts {
    posts: usize,
    distinct: usize,
    /// Offsets the notification engine's group committed on the alarm topic.
    committed: i64,
    /// Offsets the alarm manager's group committed on the filtered topic (BENCH_GROUP_HOSTS only).
    manager_committed: Option<i64>,
    /// Records the sent topic's reader has seen, and their distinct alarm ids (record keys).
    sent: usize,
    sent_distinct: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} posts, {} distinct alarm ids ({} duplicates), {} alarm-topic offsets committed", self.posts, self.distinct, self.posts.saturating_sub(self.distinct), self.committed)?;
        if let Some(committed) = self.manager_committed {
            write!(f, ", {committed} filtered-topic offsets committed")?;
        }
        write!(f, ", {} records on the sent topic ({} distinct alarm ids)", self.sent, self.sent_distinct)
    }
}

/// What is finished as the broker shows it: committed offsets of Tocsin's consumer groups (the
/// consumers asking never subscribe, so they never join the groups), and the sent topic as a
/// reader sees it.
struct Watch {
    notification: BaseConsumer,
    manager: Option<BaseConsumer>,
    partitions: i32,
    sent: Arc<SentTopic>,
    reader: std::thread::JoinHandle<()>,
}

/// What the sent topic's reader has seen so far.
#[derive(Default)]
struct SentTopic {
    records: AtomicUsize,
    ids: Mutex<HashSet<Box<[u8]>>>,
    /// The latest record timestamp (milliseconds since the epoch, set by Tocsin's producer).
    latest_ms: std::sync::atomic::AtomicU64,
    stop: std::sync::atomic::AtomicBool,
}

impl Watch {
    /// Also starts the sent topic's reader, from its beginning, on a thread of its own. It reads
    /// as records arrive, but a fetch waits up to 100 ms (Tocsin's default; shorter waits cost
    /// the broker, the bottleneck here), so when a record was written is taken from its
    /// timestamp, not from when the reader saw it.
    fn new(client: &ClientConfig, partitions: i32, grouped: bool) -> Watch {
        let of = |group: &str| -> BaseConsumer {
            client.clone().set("group.id", group).set("enable.auto.commit", "false").set("fetch.wait.max.ms", "100").create().unwrap()
        };
        let reader = of("bench-sent-reader");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("alarm-notifications", 0, Offset::Beginning).unwrap();
        reader.assign(&list).unwrap();
        let sent = Arc::new(SentTopic::default());
        let seen = sent.clone();
        let reader = std::thread::spawn(move || {
            while !seen.stop.load(Ordering::Relaxed) {
                if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
                    // Counted before the id is recorded, as the receiver's posts are.
                    seen.records.fetch_add(1, Ordering::Relaxed);
                    seen.ids.lock().unwrap().insert(rdkafka::Message::key(&message).unwrap_or_default().into());
                    let written = rdkafka::Message::timestamp(&message).to_millis().unwrap_or_default();
                    seen.latest_ms.fetch_max(u64::try_from(written).unwrap_or_default(), Ordering::Relaxed);
                }
            }
        });
        Watch { notification: of("monasca-notification"), manager: grouped.then(|| of("monasca-notification-manager")), partitions, sent, reader }
    }

    /// The receiver's counts, the sent topic's, and the committed offsets. The broker is asked
    /// outside the runtime's scheduling (`block_in_place`), so its workers go on running Tocsin.
    fn counts(&self, received: &Received) -> Counts {
        let (committed, manager_committed) = tokio::task::block_in_place(|| {
            (
                support::committed_offsets(&self.notification, "alarm-state-transitions", self.partitions),
                self.manager.as_ref().map(|manager| support::committed_offsets(manager, "filtered-alarm-transitions", 4)),
            )
        });
        // Ids before counts: every id recorded was counted first.
        let (distinct, sent_distinct) = (received.distinct(), self.sent.ids.lock().unwrap().len());
        Counts { posts: received.posts(), distinct, committed, manager_committed, sent: self.sent.records.load(Ordering::Relaxed), sent_distinct }
    }

    /// When the latest record on the sent topic was written, from `start_ms` (ms since the epoch).
    fn sent_by(&self, start_ms: u64) -> Duration {
        Duration::from_millis(self.sent.latest_ms.load(Ordering::Relaxed).saturating_sub(start_ms))
    }

    /// Stops the reader and closes every client, before the broker goes away.
    fn close(self) {
        self.sent.stop.store(true, Ordering::Relaxed);
        self.reader.join().unwrap();
    }
}

/// The sum of every sample of a Prometheus counter.
fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics.lines().filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{'])).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}
