//! What the benchmarks share: a fresh, empty config database on the local servers the tests use,
//! the wait for the broker they spawn, and what a consumer group committed.
//! Included by each benchmark with `#[path = "support/mod.rs"] mod support;` (a benchmark is its
//! own crate).

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
