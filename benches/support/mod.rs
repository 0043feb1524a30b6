//! What the benchmarks share: a fresh, empty config database on the local servers the tests use,
//! the wait for the broker they spawn, what a consumer group committed, the pipeline
//! benchmark's alarm message, and CPU time from /proc (of a process or of some of its threads).
//! Included by each benchmark with `#[path = "support/mod.rs"] mod support;` (a benchmark is its
//! own crate), so each uses a part of it and the rest is not dead code.
#![allow(dead_code)]

use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

/// How long one step of making the database may take before the run fails.
const STEP_DEADLINE: Duration = Duration::from_secs(30);

/// A fresh, empty database `name` of the kind BENCH_DB names (`sqlite`, `mariadb` or
/// `postgres`; SQLite as a file in `dir`), as a URL; `Err` says what went wrong.
pub async fn fresh_database(kind: &str, name: &str, dir: &Path) -> Result<String, String> {
    match kind {
        "sqlite" => Ok(format!("sqlite://{}/config.db", dir.display())),
        "mariadb" => {
            let mut admin = step("connecting to MariaDB on 127.0.0.1:3306", sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/")).await?;
            for statement in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")] {
                step(&statement, sqlx::query(&statement).execute(&mut admin)).await?;
            }
            Ok(format!("mysql://root@127.0.0.1:3306/{name}"))
        }
        "postgres" => {
            let mut admin = step("connecting to PostgreSQL on 127.0.0.1:5432", sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")).await?;
            for statement in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")] {
                step(&statement, sqlx::query(&statement).execute(&mut admin)).await?;
            }
            Ok(format!("postgres://postgres@127.0.0.1:5432/{name}"))
        }
        other => Err(format!("BENCH_DB={other}: expected sqlite, mariadb or postgres")),
    }
}

async fn step<T>(what: &str, work: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> Result<T, String> {
    match tokio::time::timeout(STEP_DEADLINE, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {STEP_DEADLINE:?}")),
    }
}

/// Waits until the broker just spawned accepts connections at `address`.
pub async fn broker_accepting(address: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + STEP_DEADLINE;
    while std::net::TcpStream::connect(address).is_err() {
        if std::time::Instant::now() > deadline {
            return Err(format!("the broker did not accept connections at {address} within {STEP_DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The sum of a group's committed offsets over a topic's partitions (0 while unknown).
pub fn committed_offsets(consumer: &rdkafka::consumer::BaseConsumer, topic: &str, partitions: i32) -> i64 {
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let Ok(committed) = rdkafka::consumer::Consumer::committed_offsets(consumer, list, Duration::from_secs(5)) else { return 0 };
    committed.elements().iter().map(|e| if let rdkafka::Offset::Offset(o) = e.offset() { o } else { 0 }).sum()
}

/// The pipeline benchmark's alarm message (key order as monasca-thresh writes it), for alarm
/// `i` of [`TENANT`] on `hostname`, written at `timestamp_ms`.
pub fn alarm_message(i: usize, hostname: &str, description: &str, timestamp_ms: u64) -> String {
    serde_json::json!({"alarm-transitioned": {
        "tenantId": TENANT, "alarmId": format!("bench-alarm-{i}"),
        "alarmDefinitionId": "bench-definition",
        "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": hostname, "service": "monitoring"}}],
        "alarmName": "cpu high", "alarmDescription": description, "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true,
        "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(cpu.user_perc) > 90.0 with the values: [97.5]",
        "severity": "HIGH", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": timestamp_ms}})
    .to_string()
}

/// The tenant of [`alarm_message`].
pub const TENANT: &str = "62f7a7a314904aa3ab137d569d6b4fde";

/// User and system CPU time a process has used so far, from /proc.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    cpu_seconds_in(&format!("/proc/{pid}/stat"))
}

/// This process's threads (their ids) whose name does not start with `prefix`.
pub fn threads_except(prefix: &str) -> Vec<String> {
    own_threads().filter(|(_, name)| !name.starts_with(prefix)).map(|(id, _)| id).collect()
}

/// User and system CPU time the given threads of this process have used so far (a thread that
/// has ended counts nothing).
pub fn threads_cpu_seconds(threads: &[String]) -> f64 {
    threads.iter().map(|id| cpu_seconds_in(&format!("/proc/self/task/{id}/stat"))).sum()
}

/// User and system CPU time so far of this process's threads whose name starts with `prefix`.
pub fn named_threads_cpu_seconds(prefix: &str) -> f64 {
    let named: Vec<String> = own_threads().filter(|(_, name)| name.starts_with(prefix)).map(|(id, _)| id).collect();
    threads_cpu_seconds(&named)
}

/// User and system CPU time so far of the database servers on this machine (MariaDB's or
/// MySQL's server, PostgreSQL's processes), including their ended children's (a PostgreSQL
/// backend's time moves to its parent's when it ends).
pub fn database_servers_cpu_seconds() -> f64 {
    const SERVERS: [&str; 3] = ["mariadbd", "mysqld", "postgres"];
    let processes = std::fs::read_dir("/proc").into_iter().flatten().filter_map(|entry| {
        let path = entry.ok()?.path();
        path.file_name()?.to_str()?.parse::<u32>().ok()?;
        let name = std::fs::read_to_string(path.join("comm")).ok()?;
        SERVERS.contains(&name.trim()).then(|| path.join("stat"))
    });
    processes.map(|stat| cpu_seconds_with_children_in(&stat.to_string_lossy())).sum()
}

/// This process's threads: id and name.
fn own_threads() -> impl Iterator<Item = (String, String)> {
    std::fs::read_dir("/proc/self/task").into_iter().flatten().filter_map(|task| {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).ok()?;
        Some((path.file_name()?.to_str()?.to_owned(), name))
    })
}

/// User and system CPU time from a `stat` file of /proc (a process's or a thread's).
fn cpu_seconds_in(stat_file: &str) -> f64 {
    stat_ticks_in(stat_file, 11..13)
}

/// The same with the process's ended children's (cutime and cstime).
fn cpu_seconds_with_children_in(stat_file: &str) -> f64 {
    stat_ticks_in(stat_file, 11..15)
}

fn stat_ticks_in(stat_file: &str, fields_after_name: std::ops::Range<usize>) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_file) else { return 0.0 };
    // Fields after the parenthesised command name; utime, stime, cutime and cstime are the 14th
    // to the 17th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = fields.get(fields_after_name).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}
