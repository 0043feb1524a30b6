//! One outage, side by side: the same alarms go through Prometheus Alertmanager (Debian's 0.25)
//! and through Tocsin, one after the other in one run, and the same figures are printed for both.
//!
//! Parts: a tansu broker (memory storage), a config database (SQLite by default), one fast
//! webhook receiver on loopback (axum, TCP_NODELAY) that both systems post to (`/am`, `/tocsin`),
//! Alertmanager as a process of its own (own config, `--storage.path` in a temp dir, clustering
//! off, a free port) and Tocsin as one or more processes of the real binary
//! (`CARGO_BIN_EXE_tocsin`, BENCH_INSTANCES of them sharing the consumer groups, each with its
//! own `http_listen`). Peak RSS (VmHWM) and CPU seconds (utime + stime) are read from /proc for
//! each system's processes when it finished; the broker's CPU is printed apart (Alertmanager
//! needs none).
//!
//! Alertmanager: one route, `group_by: [hostname]`, `group_wait: 1s`, group_interval and
//! repeat_interval of hours (no repeat falls into a run), a webhook receiver with
//! `send_resolved: false`; alerts posted to `POST /api/v2/alerts`, 1,000 per request,
//! BENCH_AM_CONCURRENCY (4) requests at once, labels alertname, hostname, severity and a unique
//! alarm_id. Silences are posted to `/api/v2/silences` before the alerts; the inhibit rule is
//! `source_matchers: [severity="CRITICAL"]`, `target_matchers: [severity="HIGH"]`,
//! `equal: [hostname]`. A group counts as notified at its first webhook post (`groupLabels`).
//!
//! Tocsin: transitions (`alarm-transitioned` JSON) written to the alarm topic one record per
//! produce batch (the test broker's defects, docs/test-broker.md; Tocsin's own producer is set
//! the same way), keyed by alarm id; the tenant has one group rule (`group by hostname`,
//! group_wait 1 s, repeat 2 h, the webhook as action), and for the inhibit workload one inhibit
//! rule (`source {severity=CRITICAL} targets {severity=HIGH} group by hostname`, wait_time 2 s)
//! and one silence rule per silenced host. A group counts as notified at the first post whose
//! `members` carry its hostname. Tocsin counts as finished when every group was notified AND both
//! its consumer groups committed every record (the notification engine's on the alarm topic, the
//! alarm manager's on the filtered topic; the manager commits only what it persisted).
//!
//! Figures per system: alarms/s until every group was notified (N / time from the input's start
//! until the last group's first post), posts per group (duplicates show as more than 1), peak
//! RSS, CPU seconds; for Tocsin also when everything was committed, and per instance the work its
//! manager did (`/metrics`: tocsin_manager_transitions_total, ..._group_notifications_total,
//! ..._open_groups, suppressed) and the filtered partitions it holds (its last "partitions
//! assigned" log line). Per group: the time from when its first alarm was available to its first
//! post, against group_wait + wait_time + 5 s.
//!
//! When the clock starts (BENCH_INPUT):
//! - `backlog` (default, except for `scale`): Tocsin's input is all on the alarm topic before the
//!   first instance starts, and the clock starts at its spawn (start-up and the consumer group
//!   join are counted); Alertmanager (already up) gets the alerts posted as fast as it takes
//!   them, from the first post.
//! - `stream`: both get the input at BENCH_RATE alarms/s (default 2,000; 0 = as fast as
//!   possible) while they run; Tocsin's instances have joined their groups first. The clock
//!   starts at the first alarm written or posted.
//!
//! Workloads (BENCH_WORKLOAD):
//! - `groups` (default): 100,000 alarms of one tenant on 10,000 hosts (10 each, consecutive).
//! - `inhibit`: 1,000 CRITICAL sources on host0–host999 first, then 100,000 HIGH targets (10
//!   per host on host0–host9999); 100 silences of hosts among host1000+ (every 89th host from
//!   host1000). Expected: the 1,000 source groups (the source alone) and every target group of
//!   host1000+ that is not silenced. Counted: HIGH alarms of host0–999 in any post (inhibited
//!   targets that leaked), alarms of silenced hosts in any post (silences that leaked). A leak
//!   in Tocsin ends the run with status 1 after the figures.
//! - `groups100k`: 100,000 alarms on 100,000 hosts (100,000 groups of one).
//! - `scale`: Tocsin only, 1,000,000 transitions (100,000 hosts × 10) of one tenant; meant for
//!   BENCH_INSTANCES=2 and 4: prints per instance the transitions applied and groups notified
//!   and the max/min ratio over instances.
//!
//! Env: BENCH_WORKLOAD, BENCH_INPUT, BENCH_RATE, BENCH_INSTANCES (1), BENCH_SYSTEMS
//! (`both`, `alertmanager` or `tocsin`; `scale` is Tocsin only), BENCH_HOSTS and
//! BENCH_PER_HOST (override the sizes), BENCH_PARTITIONS (alarm topic, 8),
//! BENCH_BATCHED=1 (the input in multi-record batches and Tocsin at its defaults but for a
//! partition queue that holds a partition's whole share, so that no partition is paused: far less
//! broker work, valid only while no consumer resumes inside a batch), BENCH_FILTERED_PARTITIONS (filtered topic, 8; 16 for `scale`), BENCH_DB (sqlite, mariadb,
//! postgres; postgres by default with more than one instance, since several processes share
//! it), BENCH_AM_CONCURRENCY (4), BENCH_EXTRA_CONFIG (INI text appended to Tocsin's
//! configuration, `\n` for newlines), BENCH_KEEP=1 (keep Tocsin's logs and configuration), BENCH_SHORT=1 (seconds long, every check kept: 2,000
//! alarms on 200 hosts; `inhibit` with 20 sources and 5 silences; `groups100k` 2,000 hosts;
//! `scale` 2,000 transitions).
//!
//! Every wait has a deadline (60 s + 2 ms per alarm); a run that misses one exits with status 1
//! and prints what was reached. Needs `tansu` on PATH (scripts/ensure-tansu.sh); Alertmanager is
//! installed by scripts/ensure-alertmanager.sh when missing.
//!
//! `cargo bench --bench outage` (wrap measured runs in `flock /work/bench.lock`).

#[path = "support/mod.rs"]
mod support;

use axum::body::Bytes;
use axum::extract::State;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TENANT: &str = "62f7a7a314904aa3ab137d569d6b4fde";
const ALARM_TOPIC: &str = "alarm-state-transitions";
const FILTERED_TOPIC: &str = "filtered-alarm-transitions";
const NOTIFICATION_GROUP: &str = "monasca-notification";
const MANAGER_GROUP: &str = "monasca-notification-manager";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Ends the run with exit status 1 (not a panic: child processes die with this process).
fn fail(message: String) -> ! {
    eprintln!("outage benchmark FAILED: {message}");
    std::process::exit(1)
}

/// How long a phase with `alarms` alarms may take before the run fails.
fn deadline_for(alarms: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(2 * alarms as u64)
}

// ---------------------------------------------------------------------------------------------
// The workload

#[derive(Clone, Copy, PartialEq, Debug)]
enum Workload {
    Groups,
    Inhibit,
    Groups100k,
    Scale,
}

/// What goes in, in input order: `sources` CRITICAL alarms (one on each of host0..sources),
/// then `per_host` HIGH alarms on each of `hosts` hosts, one host after the other.
struct Plan {
    workload: Workload,
    hosts: usize,
    per_host: usize,
    sources: usize,
    silenced: HashSet<usize>,
    group_wait: Duration,
    /// The inhibit rule's wait_time (zero without one).
    wait_time: Duration,
}

/// One alarm of the plan.
struct Alarm {
    id: String,
    host: usize,
    severity: &'static str,
}

impl Plan {
    fn new(workload: Workload, short: bool) -> Plan {
        let (hosts, per_host, sources, silences) = match (workload, short) {
            (Workload::Groups, false) => (10_000, 10, 0, 0),
            (Workload::Groups, true) => (200, 10, 0, 0),
            (Workload::Inhibit, false) => (10_000, 10, 1_000, 100),
            (Workload::Inhibit, true) => (200, 10, 20, 5),
            (Workload::Groups100k, false) => (100_000, 1, 0, 0),
            (Workload::Groups100k, true) => (2_000, 1, 0, 0),
            (Workload::Scale, false) => (100_000, 10, 0, 0),
            (Workload::Scale, true) => (200, 10, 0, 0),
        };
        let hosts = env("BENCH_HOSTS", hosts);
        let per_host = env("BENCH_PER_HOST", per_host);
        let sources = sources.min(hosts);
        // Silenced hosts: every 89th host after the sources' (host1000, host1089, ...).
        let step = ((hosts - sources) / silences.max(1)).clamp(1, 89);
        let silenced: HashSet<usize> = (0..silences).map(|i| sources + i * step).filter(|h| *h < hosts).collect();
        let inhibit = workload == Workload::Inhibit;
        Plan { workload, hosts, per_host, sources, silenced, group_wait: Duration::from_secs(1), wait_time: if inhibit { Duration::from_secs(2) } else { Duration::ZERO } }
    }

    fn alarms(&self) -> usize {
        self.sources + self.hosts * self.per_host
    }

    fn alarm(&self, i: usize) -> Alarm {
        if i < self.sources {
            return Alarm { id: format!("src-{i}"), host: i, severity: "CRITICAL" };
        }
        let j = i - self.sources;
        let (host, k) = (j / self.per_host, j % self.per_host);
        Alarm { id: format!("alarm-{host}-{k}"), host, severity: "HIGH" }
    }

    /// Hosts whose group must be notified: every host that is not silenced (host0..sources
    /// through their source alone when the targets are inhibited).
    fn expected(&self) -> usize {
        self.hosts - self.silenced.len()
    }

    fn is_expected(&self, host: usize) -> bool {
        host < self.hosts && !self.silenced.contains(&host)
    }

    /// The time a group may take from its first alarm to its first post.
    fn budget(&self) -> Duration {
        self.group_wait + self.wait_time + Duration::from_secs(5)
    }

    fn describe(&self) -> String {
        match self.workload {
            Workload::Inhibit => format!(
                "{} CRITICAL sources on host0–host{}, then {} HIGH targets ({} per host on {} hosts); {} hosts silenced; inhibit wait_time {:?}, group_wait {:?}",
                self.sources,
                self.sources.saturating_sub(1),
                self.hosts * self.per_host,
                self.per_host,
                self.hosts,
                self.silenced.len(),
                self.wait_time,
                self.group_wait
            ),
            _ => format!("{} alarms of one tenant on {} hosts ({} each), group by hostname, group_wait {:?}", self.alarms(), self.hosts, self.per_host, self.group_wait),
        }
    }
}

fn host_number(hostname: &str) -> Option<usize> {
    hostname.strip_prefix("host")?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver (both systems)

/// What one system posted.
#[derive(Default)]
struct Seen {
    posts: usize,
    /// When each group (host) got its first post.
    first: HashMap<usize, Instant>,
    /// Distinct alarms listed in posts.
    alarms: HashSet<Box<str>>,
    /// HIGH alarms of a source host (should have been inhibited) and alarms of silenced hosts.
    inhibited_leaks: usize,
    silenced_leaks: usize,
    leak_examples: Vec<String>,
    /// Posts not understood, and posts that were not grouped notifications.
    unparsed: usize,
    ungrouped: usize,
}

struct Receiver {
    am: Mutex<Seen>,
    tocsin: Mutex<Seen>,
    sources: usize,
    silenced: HashSet<usize>,
}

impl Receiver {
    /// Records one post: its group's host and the (alarm id, host, severity) of every alarm in it.
    fn record(&self, seen: &Mutex<Seen>, group: Option<usize>, alarms: Vec<(String, usize, String)>, grouped: bool) {
        let at = Instant::now();
        let mut seen = seen.lock().unwrap();
        seen.posts += 1;
        if !grouped {
            seen.ungrouped += 1;
        }
        let Some(group) = group else {
            seen.unparsed += 1;
            return;
        };
        seen.first.entry(group).or_insert(at);
        for (id, host, severity) in alarms {
            let inhibited = host < self.sources && severity.eq_ignore_ascii_case("HIGH");
            let silenced = self.silenced.contains(&host);
            if inhibited {
                seen.inhibited_leaks += 1;
            }
            if silenced {
                seen.silenced_leaks += 1;
            }
            if (inhibited || silenced) && seen.leak_examples.len() < 5 {
                seen.leak_examples.push(format!("{id} (host{host}, {severity})"));
            }
            seen.alarms.insert(id.into());
        }
    }
}

async fn receive_am(State(receiver): State<Arc<Receiver>>, body: Bytes) -> &'static str {
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let group = parsed["groupLabels"]["hostname"].as_str().and_then(host_number);
    let alarms = parsed["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter_map(|a| {
                    let labels = &a["labels"];
                    Some((labels["alarm_id"].as_str()?.to_owned(), host_number(labels["hostname"].as_str()?)?, labels["severity"].as_str().unwrap_or_default().to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    receiver.record(&receiver.am, group, alarms, true);
    "ok"
}

async fn receive_tocsin(State(receiver): State<Arc<Receiver>>, body: Bytes) -> &'static str {
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let hostname_of = |metrics: &serde_json::Value| metrics.as_array()?.iter().find_map(|m| m["dimensions"]["hostname"].as_str().and_then(host_number));
    let (grouped, alarms): (bool, Vec<(String, usize, String)>) = match parsed["members"].as_array() {
        Some(members) => (
            true,
            members
                .iter()
                .filter_map(|m| Some((m["alarm_id"].as_str()?.to_owned(), hostname_of(&m["metrics"])?, m["severity"].as_str().unwrap_or_default().to_owned())))
                .collect(),
        ),
        // An alarm's own notification (none is configured; counted apart).
        None => (false, parsed["alarm_id"].as_str().and_then(|id| Some(vec![(id.to_owned(), hostname_of(&parsed["metrics"])?, String::new())])).unwrap_or_default()),
    };
    let group = alarms.first().map(|a| a.1);
    receiver.record(&receiver.tocsin, group, alarms, grouped);
    "ok"
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Starts a child that dies with this process (PR_SET_PDEATHSIG). Called from the top-level
/// future only, which runs on the main thread for the whole run.
fn spawn(command: &mut Command) -> Child {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().unwrap_or_else(|e| fail(format!("cannot start {:?}: {e}", command.get_program())))
}

/// Peak resident set of a process in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn terminate(child: &mut Child) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// What a system used by the time it finished.
struct Usage {
    cpu: Vec<f64>,
    rss: Vec<f64>,
}

impl Usage {
    fn of(pids: &[u32]) -> Usage {
        Usage { cpu: pids.iter().map(|p| support::process_cpu_seconds(*p)).collect(), rss: pids.iter().map(|p| peak_rss_mib(*p)).collect() }
    }

    fn cpu_total(&self) -> f64 {
        self.cpu.iter().sum()
    }

    fn rss_total(&self) -> f64 {
        self.rss.iter().sum()
    }

    fn rss_text(&self) -> String {
        if self.rss.len() == 1 {
            format!("{:.0} MiB", self.rss[0])
        } else {
            let each: Vec<String> = self.rss.iter().map(|r| format!("{r:.0}")).collect();
            format!("{} MiB per instance, {:.0} MiB in all", each.join(" / "), self.rss_total())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// One system's figures.
struct Outcome {
    name: &'static str,
    alarms: usize,
    expected: usize,
    /// From the clock's start until the last expected group's first post.
    notified: Duration,
    /// Time from the clock's start until the whole input was written or posted.
    input_done: Duration,
    usage: Usage,
    posts: usize,
    groups_posted: usize,
    alarms_listed: usize,
    inhibited_leaks: usize,
    silenced_leaks: usize,
    leak_examples: Vec<String>,
    unparsed: usize,
    ungrouped: usize,
    /// Per expected group: first post minus when its first alarm was available (seconds).
    latencies: Vec<f64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.alarms as f64 / self.notified.as_secs_f64()
    }

    fn print(&self, plan: &Plan) {
        println!("  {}:", self.name);
        println!(
            "    every group notified ({} groups) at {:.2} s: {:.0} alarms/s (input {} by {:.2} s)",
            self.expected,
            self.notified.as_secs_f64(),
            self.rate(),
            if self.name == "Alertmanager" { "posted" } else { "written" },
            self.input_done.as_secs_f64()
        );
        println!(
            "    {} posts to {} groups: {:.3} notifications per group; {} distinct alarms listed; {} posts not understood, {} not grouped",
            self.posts,
            self.groups_posted,
            self.posts as f64 / self.groups_posted.max(1) as f64,
            self.alarms_listed,
            self.unparsed,
            self.ungrouped
        );
        let mut latencies = self.latencies.clone();
        latencies.sort_by(f64::total_cmp);
        if !latencies.is_empty() {
            let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
            let over = latencies.iter().filter(|l| **l > plan.budget().as_secs_f64()).count();
            println!(
                "    first alarm available → group's first post: p50 {:.2} s, p99 {:.2} s, max {:.2} s; {} of {} groups over group_wait + wait_time + 5 s = {:.0} s",
                at(0.5),
                at(0.99),
                at(1.0),
                over,
                latencies.len(),
                plan.budget().as_secs_f64()
            );
        }
        if plan.workload == Workload::Inhibit {
            println!(
                "    inhibited targets notified: {}; silenced alarms notified: {}{}",
                self.inhibited_leaks,
                self.silenced_leaks,
                if self.leak_examples.is_empty() { String::new() } else { format!(" (e.g. {})", self.leak_examples.join(", ")) }
            );
        }
        println!("    peak RSS: {}; CPU: {:.2} s", self.usage.rss_text(), self.usage.cpu_total());
    }
}

/// Waits until every expected group of `seen` had its first post, or fails at the deadline.
async fn wait_for_groups(name: &str, seen: &Mutex<Seen>, plan: &Plan, started: Instant, deadline: Instant) -> Duration {
    loop {
        {
            let seen = seen.lock().unwrap();
            let notified: Vec<&Instant> = seen.first.iter().filter(|(h, _)| plan.is_expected(**h)).map(|(_, at)| at).collect();
            if notified.len() >= plan.expected() {
                return notified.into_iter().max().map_or(Duration::ZERO, |last| last.duration_since(started));
            }
            if Instant::now() > deadline {
                fail(format!(
                    "{name}: {} of {} groups notified by the deadline ({:.0?}); {} posts, {} alarms listed",
                    notified.len(),
                    plan.expected(),
                    deadline - started,
                    seen.posts,
                    seen.alarms.len()
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcome(name: &'static str, plan: &Plan, seen: &Seen, notified: Duration, input_done: Duration, usage: Usage, available: &[Option<Instant>]) -> Outcome {
    let latencies = seen
        .first
        .iter()
        .filter(|(h, _)| plan.is_expected(**h))
        .filter_map(|(h, at)| Some(at.saturating_duration_since(available.get(*h).copied().flatten()?).as_secs_f64()))
        .collect();
    Outcome {
        name,
        alarms: plan.alarms(),
        expected: plan.expected(),
        notified,
        input_done,
        usage,
        posts: seen.posts,
        groups_posted: seen.first.len(),
        alarms_listed: seen.alarms.len(),
        inhibited_leaks: seen.inhibited_leaks,
        silenced_leaks: seen.silenced_leaks,
        leak_examples: seen.leak_examples.clone(),
        unparsed: seen.unparsed,
        ungrouped: seen.ungrouped,
        latencies,
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

fn alertmanager_binary() -> String {
    let find = || {
        ["alertmanager", "prometheus-alertmanager"].iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file())).map(|p| p.display().to_string())
        })
    };
    if let Some(binary) = find() {
        return binary;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-alertmanager.sh");
    let output = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output().unwrap_or_else(|e| fail(format!("{}: {e}", script.display())));
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || path.is_empty() {
        fail(format!("{} did not install Alertmanager", script.display()));
    }
    path
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn run_alertmanager(plan: &Plan, receiver: &Arc<Receiver>, hook: &str, stream: Option<usize>) -> Outcome {
    let binary = alertmanager_binary();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let inhibit = if plan.workload == Workload::Inhibit {
        "inhibit_rules:\n  - source_matchers: ['severity=\"CRITICAL\"']\n    target_matchers: ['severity=\"HIGH\"']\n    equal: [hostname]\n"
    } else {
        ""
    };
    let config = format!(
        "global:\n  resolve_timeout: 2h\nroute:\n  receiver: bench\n  group_by: [hostname]\n  group_wait: {}s\n  group_interval: 2h\n  repeat_interval: 4h\n\
         receivers:\n  - name: bench\n    webhook_configs:\n      - url: {hook}/am\n        send_resolved: false\n{inhibit}",
        plan.group_wait.as_secs()
    );
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
    let mut am = spawn(
        Command::new(&binary)
            .arg(format!("--config.file={}", dir.path().join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().tcp_nodelay(true).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.get(format!("{base}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > deadline {
            fail(format!("Alertmanager ({binary}) was not ready within 30 s; its log: {}", std::fs::read_to_string(dir.path().join("alertmanager.log")).unwrap_or_default()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for host in &plan.silenced {
        let silence = serde_json::json!({
            "matchers": [{"name": "hostname", "value": format!("host{host}"), "isRegex": false, "isEqual": true}],
            "startsAt": rfc3339(now_ms() - 3_600_000), "endsAt": rfc3339(now_ms() + 7_200_000),
            "createdBy": "outage-bench", "comment": "maintenance",
        });
        let answer = client.post(format!("{base}/api/v2/silences")).json(&silence).send().await.unwrap_or_else(|e| fail(format!("Alertmanager silence: {e}")));
        if !answer.status().is_success() {
            fail(format!("Alertmanager refused a silence: {} {}", answer.status(), answer.text().await.unwrap_or_default()));
        }
    }

    // The alerts, 1,000 per request, BENCH_AM_CONCURRENCY requests at once (backlog) or paced.
    let concurrency: usize = env("BENCH_AM_CONCURRENCY", 4);
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let (chunk, pace) = match stream {
        Some(rate) if rate > 0 => ((rate / 20).max(1), Some(Duration::from_millis(50))),
        _ => (1_000, None),
    };
    let mut available: Vec<Option<Instant>> = vec![None; plan.hosts];
    let started = Instant::now();
    let mut tick = pace.map(tokio::time::interval);
    let mut requests = Vec::new();
    let total = plan.alarms();
    let mut i = 0;
    while i < total {
        if let Some(tick) = tick.as_mut() {
            tick.tick().await;
        }
        let end = (i + chunk).min(total);
        let starts = rfc3339(now_ms());
        let mut alerts = Vec::with_capacity(end - i);
        let permit = limit.clone().acquire_owned().await.unwrap();
        let at = Instant::now();
        for n in i..end {
            let alarm = plan.alarm(n);
            available[alarm.host].get_or_insert(at);
            alerts.push(serde_json::json!({
                "labels": {"alertname": "cpu_high", "hostname": format!("host{}", alarm.host), "severity": alarm.severity, "alarm_id": alarm.id},
                "annotations": {"summary": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0"},
                "startsAt": starts,
            }));
        }
        let body = serde_json::to_vec(&alerts).unwrap();
        let (client, url) = (client.clone(), format!("{base}/api/v2/alerts"));
        requests.push(tokio::spawn(async move {
            let answer = client.post(url).header("content-type", "application/json").body(body).send().await;
            drop(permit);
            match answer {
                Ok(a) if a.status().is_success() => Ok(()),
                Ok(a) => Err(format!("{} {}", a.status(), a.text().await.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            }
        }));
        i = end;
    }
    for request in requests {
        if let Err(e) = request.await.unwrap() {
            fail(format!("Alertmanager refused alerts: {e}"));
        }
    }
    let input_done = started.elapsed();
    let notified = wait_for_groups("Alertmanager", &receiver.am, plan, started, started + deadline_for(total)).await;
    let usage = Usage::of(&[am.id()]);
    // Anything muted wrongly would be in a group's first post; wait past one more group_wait.
    tokio::time::sleep(plan.group_wait + Duration::from_secs(2)).await;
    let _ = am.kill();
    let _ = am.wait();
    let seen = receiver.am.lock().unwrap();
    outcome("Alertmanager", plan, &seen, notified, input_done, usage, &available)
}

// ---------------------------------------------------------------------------------------------
// Tocsin

fn transition(alarm: &Alarm) -> String {
    serde_json::json!({"alarm-transitioned": {
        "tenantId": TENANT, "alarmId": alarm.id, "alarmDefinitionId": "bench-definition",
        "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": format!("host{}", alarm.host), "service": "monitoring"}}],
        "alarmName": "cpu high", "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true,
        "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0 with the values: [97.5]",
        "severity": alarm.severity, "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": now_ms()}})
    .to_string()
}

/// The method, the definition, and the tenant's rules.
async fn tocsin_rules(plan: &Plan, db_url: &str, hook: &str) {
    use tocsin::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};
    let db = tocsin::db::Database::connect_lazy(&if db_url.starts_with("sqlite") { format!("{db_url}?mode=rwc") } else { db_url.to_owned() }).unwrap();
    db.init_schema().await.unwrap();
    db.execute("INSERT INTO notification_method_type (name) VALUES ('WEBHOOK')", &[]).await.unwrap();
    db.execute(
        "INSERT INTO alarm_definition (id, tenant_id, name, expression, severity, created_at, updated_at) VALUES ('bench-definition', ?, 'cpu high', 'e', 'HIGH', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        &[TENANT],
    )
    .await
    .unwrap();
    let url = format!("{hook}/tocsin");
    db.execute("INSERT INTO notification_method (id, tenant_id, name, type, address, created_at, updated_at) VALUES ('bench-hook', ?, 'bench', 'WEBHOOK', ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", &[TENANT, &url])
        .await
        .unwrap();
    let store = tocsin::rules::store::RuleStore::new(db.clone());
    store.init_schema().await.unwrap();
    let meta = |id: String| RuleMeta { name: id.clone(), id, tenant_id: TENANT.into(), description: String::new() };
    let mut rules = vec![Rule::Group(GroupRule {
        meta: meta("group_hosts".into()),
        spec: aql::parse_group("group by hostname").unwrap(),
        group_wait: plan.group_wait,
        repeat_interval: Duration::from_secs(7200),
        alarm_actions: vec!["bench-hook".into()],
        ok_actions: vec![],
        undetermined_actions: vec![],
    })];
    if plan.workload == Workload::Inhibit {
        rules.push(Rule::Inhibit(InhibitRule {
            meta: meta("inhibit_hosts".into()),
            spec: aql::parse_inhibit("source {severity=CRITICAL} targets {severity=HIGH} group by hostname").unwrap(),
            wait: plan.wait_time,
        }));
    }
    let mut silenced: Vec<&usize> = plan.silenced.iter().collect();
    silenced.sort();
    for host in silenced {
        rules.push(Rule::Silence(SilenceRule {
            meta: meta(format!("silence-host{host}")),
            spec: aql::parse_silence(&format!("targets {{hostname=host{host}}}")).unwrap(),
            start_time: chrono::Utc::now() - chrono::Duration::hours(1),
            duration: Duration::from_secs(7200),
        }));
    }
    for rule in &rules {
        store.insert(rule).await.unwrap();
    }
}

/// One Tocsin process.
struct Instance {
    child: Child,
    http: String,
    log: PathBuf,
}

impl Instance {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The partitions of `topic` its last "partitions assigned" log line names.
    fn assigned(&self, topic: &str) -> Vec<i32> {
        let mut last = Vec::new();
        for line in self.log_text().lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let fields = if value.get("fields").is_some() { &value["fields"] } else { &value };
            if fields["message"].as_str() != Some("partitions assigned") || fields["topic"].as_str() != Some(topic) {
                continue;
            }
            let list = fields["partitions"].as_str().map(str::to_owned).unwrap_or_else(|| fields["partitions"].to_string());
            last = list.trim_matches(['[', ']']).split(',').filter_map(|p| p.trim().parse().ok()).collect();
        }
        last
    }
}

/// The value of a Prometheus sample (its first line starting with `prefix`, 0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines().find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with([' ', '{'])).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

fn metric_with(text: &str, prefix: &str, label: &str) -> f64 {
    text.lines().find(|l| l.starts_with(prefix) && l.contains(label)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}


struct Broker {
    child: Child,
    address: String,
    client: ClientConfig,
}

async fn start_broker(dir: &Path) -> Broker {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let child = spawn(
        Command::new("tansu")
            .args(["broker", "--listener-url", &format!("tcp://{address}"), "--advertised-listener-url", &format!("tcp://{address}")])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    support::broker_accepting(&address).await.unwrap_or_else(|e| fail(e));
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &address);
    Broker { child, address, client }
}

#[allow(clippy::too_many_arguments)]
async fn run_tocsin(plan: &Plan, receiver: &Arc<Receiver>, hook: &str, stream: Option<usize>, broker: &Broker, dir: &Path, instances: usize) -> (Outcome, Vec<String>) {
    let partitions: i32 = env("BENCH_PARTITIONS", 8);
    let filtered_partitions: i32 = env("BENCH_FILTERED_PARTITIONS", if plan.workload == Workload::Scale { 16 } else { 8 });
    let admin: AdminClient<DefaultClientContext> = broker.client.create().unwrap();
    let topics = [
        (ALARM_TOPIC, partitions),
        ("alarm-notifications", 1),
        ("retry-notifications", 1),
        ("alarm-state-transitions-dead", 1),
        ("60-seconds-notifications", 1),
        ("retry-notifications-dead", 1),
        ("periodic-notifications-dead", 1),
        (FILTERED_TOPIC, filtered_partitions),
        ("alarm-manager-sources", 1),
    ];
    let new: Vec<NewTopic> = topics.iter().map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1))).collect();
    for result in admin.create_topics(&new, &AdminOptions::new()).await.unwrap() {
        if let Err((topic, e)) = result {
            fail(format!("cannot create topic {topic}: {e}"));
        }
    }
    let db_kind: String = env("BENCH_DB", if instances > 1 { "postgres" } else { "sqlite" }.to_owned());
    let db_url = support::fresh_database(&db_kind, "tocsin_outage_bench", dir).await.unwrap_or_else(|e| fail(e));
    tocsin_rules(plan, &db_url, hook).await;

    // One record per produce batch (docs/test-broker.md), unless BENCH_BATCHED.
    let batched = env("BENCH_BATCHED", 0) > 0;
    let producer: FutureProducer = broker
        .client
        .clone()
        .set("linger.ms", if batched { "5" } else { "0" })
        .set("batch.num.messages", if batched { "10000" } else { "1" })
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .create()
        .unwrap();
    let total = plan.alarms();
    let mut available: Vec<Option<Instant>> = vec![None; plan.hosts];
    let write = |n: usize| {
        let alarm = plan.alarm(n);
        let payload = transition(&alarm);
        let delivery = producer.send_result(FutureRecord::to(ALARM_TOPIC).key(&alarm.id).payload(&payload)).map_err(|(e, _)| e);
        (alarm, delivery)
    };
    if stream.is_none() {
        let loading = Instant::now();
        let mut pending = Vec::with_capacity(total);
        for n in 0..total {
            let (_, delivery) = write(n);
            pending.push(delivery.unwrap_or_else(|e| fail(format!("cannot queue a record: {e}"))));
        }
        for delivery in pending {
            if let Err((e, _)) = delivery.await.unwrap() {
                fail(format!("a record was not written: {e}"));
            }
        }
        eprintln!("loaded {total} transitions ({}) in {:.1?}", if batched { "multi-record batches" } else { "one record per batch" }, loading.elapsed());
    }

    let extra: String = env("BENCH_EXTRA_CONFIG", String::new()).replace("\\n", "\n");
    let cpu_broker_before = support::process_cpu_seconds(broker.child.id());
    let started_backlog = Instant::now();
    let mut procs = Vec::new();
    for n in 0..instances {
        let http = format!("127.0.0.1:{}", free_port());
        let config = dir.join(format!("tocsin-{n}.conf"));
        std::fs::write(
            &config,
            format!(
                "[kafka]\nurl = {broker}\n\n[database]\nurl = {db_url}\n\n[notification_types]\nenabled = webhook\n\n[network]\nallow = 127.0.0.1\n\n[statsd]\nenable = false\n\n\
                 {producer}\
                 [tocsin]\nhttp_listen = {http}\nlog_format = json\n\n{extra}\n",
                broker = broker.address,
                producer = if batched {
                    // The engines' defaults (what an operator runs) but a queue that holds a partition's
                    // whole share, so that no partition is paused and no fetch resumes inside a batch.
                    "[notification_engine]\npartition_queue = 200000\n\n"
                } else {
                    "[kafka_producer]\nlinger.ms = 0\nbatch.num.messages = 1\n\n"
                }
            ),
        )
        .unwrap();
        let log = dir.join(format!("tocsin-{n}.log"));
        let child = spawn(
            Command::new(env!("CARGO_BIN_EXE_tocsin"))
                .args(["run", "--config-file"])
                .arg(&config)
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        procs.push(Instance { child, http, log });
    }
    let client = reqwest::Client::new();
    let scrape = |http: String| {
        let client = client.clone();
        async move { client.get(format!("http://{http}/metrics")).send().await.ok()?.text().await.ok() }
    };

    let mut loaded_at = Duration::ZERO;
    let started = match stream {
        None => {
            for n in 0..total {
                available[plan.alarm(n).host].get_or_insert(started_backlog);
            }
            started_backlog
        }
        Some(rate) => {
            // Every instance up and every partition of both topics held before the clock starts.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let covered = |topic: &str, count: i32| procs.iter().flat_map(|p| p.assigned(topic)).collect::<BTreeSet<i32>>().len() as i32 >= count;
                if covered(ALARM_TOPIC, partitions) && covered(FILTERED_TOPIC, filtered_partitions) {
                    break;
                }
                if Instant::now() > deadline {
                    let held: Vec<String> = procs.iter().map(|p| format!("{:?}/{:?}", p.assigned(ALARM_TOPIC), p.assigned(FILTERED_TOPIC))).collect();
                    fail(format!("Tocsin instances did not take every partition within 60 s (alarm/filtered per instance: {})", held.join(", ")));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Rules are read at start; give a rule poll and a rebalance settle before the input.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let started = Instant::now();
            let mut pending = Vec::with_capacity(total);
            let chunk = if rate == 0 { total } else { (rate / 100).max(1) };
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n = 0;
            while n < total {
                if rate > 0 {
                    tick.tick().await;
                }
                let end = (n + chunk).min(total);
                for i in n..end {
                    let (alarm, delivery) = write(i);
                    available[alarm.host].get_or_insert_with(Instant::now);
                    pending.push(delivery.unwrap_or_else(|e| fail(format!("cannot queue a record: {e}"))));
                }
                n = end;
            }
            for delivery in pending {
                if let Err((e, _)) = delivery.await.unwrap() {
                    fail(format!("a record was not written: {e}"));
                }
            }
            loaded_at = started.elapsed();
            started
        }
    };
    drop(producer);

    // Finished: every group notified, and both consumer groups committed every record.
    let deadline = started + deadline_for(total);
    let of = |group: &str| -> BaseConsumer { broker.client.clone().set("group.id", group).set("enable.auto.commit", "false").create().unwrap() };
    let (notification, manager) = (of(NOTIFICATION_GROUP), of(MANAGER_GROUP));
    let (mut notified, mut routed, mut persisted) = (None, None, None);
    let (mut routed_count, mut persisted_count) = (0, 0);
    loop {
        if notified.is_none() {
            let seen = receiver.tocsin.lock().unwrap();
            let at: Vec<&Instant> = seen.first.iter().filter(|(h, _)| plan.is_expected(**h)).map(|(_, at)| at).collect();
            if at.len() >= plan.expected() {
                notified = at.into_iter().max().map(|last| last.duration_since(started));
            }
        }
        let now = started.elapsed();
        if routed.is_none() {
            routed_count = tokio::task::block_in_place(|| support::committed_offsets(&notification, ALARM_TOPIC, partitions));
            if routed_count >= total as i64 {
                routed = Some(now);
            }
        }
        if persisted.is_none() {
            persisted_count = tokio::task::block_in_place(|| support::committed_offsets(&manager, FILTERED_TOPIC, filtered_partitions));
            if persisted_count >= total as i64 {
                persisted = Some(now);
            }
        }
        if notified.is_some() && routed.is_some() && persisted.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let seen = receiver.tocsin.lock().unwrap();
            let groups = seen.first.keys().filter(|h| plan.is_expected(**h)).count();
            fail(format!(
                "Tocsin: not finished by the deadline ({:.0?}); reached {groups} of {} groups notified ({} posts), {routed_count} of {total} alarm-topic offsets committed, {persisted_count} filtered-topic offsets committed",
                deadline - started,
                plan.expected(),
                seen.posts
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids: Vec<u32> = procs.iter().map(|p| p.child.id()).collect();
    let usage = Usage::of(&pids);
    let broker_cpu = support::process_cpu_seconds(broker.child.id()) - cpu_broker_before;
    let (notified, routed, persisted) = (notified.unwrap(), routed.unwrap(), persisted.unwrap());

    // Nothing left to decide: no held transition, no group awaiting its first notice; then one
    // more group_wait, so a wrongly released target would have been posted.
    let settle = Instant::now() + Duration::from_secs(60);
    loop {
        let mut idle = true;
        for p in &procs {
            let text = scrape(p.http.clone()).await.unwrap_or_default();
            idle &= metric(&text, "tocsin_manager_held_transitions") == 0.0 && metric(&text, "tocsin_manager_groups_awaiting_first_notice") == 0.0;
        }
        if idle {
            break;
        }
        if Instant::now() > settle {
            fail("Tocsin: held transitions or groups awaiting their first notice remained 60 s after every group was notified".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(plan.group_wait + Duration::from_secs(1)).await;

    let mut lines = Vec::new();
    let mut work = Vec::new();
    for (n, p) in procs.iter().enumerate() {
        let text = scrape(p.http.clone()).await.unwrap_or_default();
        let (applied, notices) = (metric(&text, "tocsin_manager_transitions_total"), metric(&text, "tocsin_manager_group_notifications_total"));
        work.push((applied, notices));
        lines.push(format!(
            "    instance {n}: applied {applied:.0} transitions, {notices:.0} grouped notifications, {:.0} open groups, suppressed {:.0} silenced / {:.0} inhibited; filtered partitions {:?}, alarm partitions {:?}; peak RSS {:.0} MiB, CPU {:.2} s",
            metric(&text, "tocsin_manager_open_groups"),
            metric_with(&text, "tocsin_manager_suppressed_total", "by=\"silenced\""),
            metric_with(&text, "tocsin_manager_suppressed_total", "by=\"inhibited\""),
            p.assigned(FILTERED_TOPIC),
            p.assigned(ALARM_TOPIC),
            usage.rss[n],
            usage.cpu[n],
        ));
    }
    if instances > 1 {
        let ratio = |values: Vec<f64>| {
            let (max, min) = values.iter().fold((f64::MIN, f64::MAX), |(a, b), v| (a.max(*v), b.min(*v)));
            if min > 0.0 {
                format!("{:.3}", max / min)
            } else {
                "∞ (an instance did none)".to_owned()
            }
        };
        lines.push(format!(
            "    max/min over instances: transitions applied {}, grouped notifications {}",
            ratio(work.iter().map(|w| w.0).collect()),
            ratio(work.iter().map(|w| w.1).collect())
        ));
    }
    // A replay after a rebalance counts twice, so only a shortfall says something: with
    // BENCH_BATCHED, a fetch that starts inside a multi-record batch skips the rest of it.
    let applied: f64 = work.iter().map(|w| w.0).sum();
    lines.push(format!("    transitions applied in all: {applied:.0} of {} written", plan.alarms()));
    lines.push(format!(
        "    all alarm-topic offsets committed (routed) at {:.2} s, all filtered-topic offsets committed (applied and persisted) at {:.2} s; finished at {:.2} s; the broker used {broker_cpu:.2} CPU s; config database {db_kind}",
        routed.as_secs_f64(),
        persisted.as_secs_f64(),
        notified.max(routed).max(persisted).as_secs_f64()
    ));
    for mut p in procs {
        terminate(&mut p.child);
    }
    let input_done = if stream.is_some() { loaded_at } else { Duration::ZERO };
    let seen = receiver.tocsin.lock().unwrap();
    (outcome("Tocsin", plan, &seen, notified, input_done, usage, &available), lines)
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let short = env("BENCH_SHORT", 0) > 0;
    let workload = match env("BENCH_WORKLOAD", "groups".to_owned()).as_str() {
        "groups" => Workload::Groups,
        "inhibit" => Workload::Inhibit,
        "groups100k" => Workload::Groups100k,
        "scale" => Workload::Scale,
        other => fail(format!("BENCH_WORKLOAD={other}: expected groups, inhibit, groups100k or scale")),
    };
    let plan = Plan::new(workload, short);
    let input = env("BENCH_INPUT", if workload == Workload::Scale { "stream" } else { "backlog" }.to_owned());
    let stream = match input.as_str() {
        "backlog" => None,
        "stream" => Some(env("BENCH_RATE", if workload == Workload::Scale { 0 } else { 2_000 })),
        other => fail(format!("BENCH_INPUT={other}: expected backlog or stream")),
    };
    let instances: usize = env("BENCH_INSTANCES", 1);
    let systems = env("BENCH_SYSTEMS", "both".to_owned());
    let (with_am, with_tocsin) = match (systems.as_str(), workload) {
        (_, Workload::Scale) | ("tocsin", _) => (false, true),
        ("alertmanager", _) => (true, false),
        ("both", _) => (true, true),
        (other, _) => fail(format!("BENCH_SYSTEMS={other}: expected both, alertmanager or tocsin")),
    };

    let receiver = Arc::new(Receiver { am: Mutex::default(), tocsin: Mutex::default(), sources: plan.sources, silenced: plan.silenced.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}", listener.local_addr().unwrap());
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let router = axum::Router::new().route("/am", axum::routing::post(receive_am)).route("/tocsin", axum::routing::post(receive_tocsin)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let input_text = match stream {
        None => "backlog".to_owned(),
        Some(0) => "stream, as fast as possible".to_owned(),
        Some(rate) => format!("stream at {rate} alarms/s"),
    };
    println!("outage benchmark, workload {workload:?} ({input_text}): {}", plan.describe());

    let am = if with_am {
        let outcome = run_alertmanager(&plan, &receiver, &hook, stream).await;
        outcome.print(&plan);
        Some(outcome)
    } else {
        None
    };

    let mut tocsin_failed = false;
    let tocsin = if with_tocsin {
        let dir = tempfile::tempdir().unwrap();
        let broker = start_broker(dir.path()).await;
        let (outcome, lines) = run_tocsin(&plan, &receiver, &hook, stream, &broker, dir.path(), instances).await;
        outcome.print(&plan);
        for line in lines {
            println!("{line}");
        }
        let mut broker = broker;
        let _ = broker.child.kill();
        let _ = broker.child.wait();
        if env("BENCH_KEEP", 0) > 0 {
            println!("    logs and configuration kept in {}", dir.keep().display());
        }
        tocsin_failed = outcome.inhibited_leaks + outcome.silenced_leaks > 0;
        Some(outcome)
    } else {
        None
    };

    if let (Some(am), Some(tocsin)) = (&am, &tocsin) {
        println!(
            "  Tocsin / Alertmanager: rate {:.2}×, peak RSS {:.2}× (Tocsin's instances summed), CPU {:.2}×",
            tocsin.rate() / am.rate(),
            tocsin.usage.rss_total() / am.usage.rss_total(),
            tocsin.usage.cpu_total() / am.usage.cpu_total().max(1e-9)
        );
    }
    if let Some(tocsin) = &tocsin {
        match workload {
            Workload::Groups100k => println!("  target: Tocsin peak RSS ≤ 400 MiB per instance: {}", if tocsin.usage.rss.iter().all(|r| *r <= 400.0) { "met" } else { "MISSED" }),
            Workload::Inhibit => {
                let over = tocsin.latencies.iter().filter(|l| **l > plan.budget().as_secs_f64()).count();
                println!(
                    "  target: every group within {:.0} s of its input and no inhibited target notified: {}",
                    plan.budget().as_secs_f64(),
                    if over == 0 && tocsin.inhibited_leaks == 0 && tocsin.silenced_leaks == 0 { "met" } else { "MISSED" }
                );
            }
            Workload::Groups => {
                if let Some(am) = &am {
                    let met = tocsin.rate() >= 2.0 * am.rate() && tocsin.usage.rss_total() <= 0.5 * am.usage.rss_total();
                    println!("  target: Tocsin ≥ 2× Alertmanager's rate at ≤ ½ its peak RSS: {}", if met { "met" } else { "MISSED" });
                }
            }
            Workload::Scale => {}
        }
    }
    if tocsin_failed {
        fail("Tocsin notified alarms that an inhibit or silence rule should have suppressed (see above)".into());
    }
}
