//! The integration-test harness: real dependencies started once per run (the tansu broker) or
//! per test (databases, receivers, Tocsin itself), and helpers to wait on them without sleeping
//! blindly.

pub mod api;
pub mod broker;
pub mod db;
pub mod proxy;
pub mod receiver;
pub mod tocsin;
pub mod webdriver;

pub use broker::broker;
pub use db::{DbKind, TestDb};
pub use receiver::Receiver;

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The network guard of tests that build plugins themselves: every fake server and receiver
/// listens on loopback.
pub fn loopback_guard() -> ::tocsin::netguard::Guard {
    let policy = ::tocsin::netguard::NetworkPolicy { allow_networks: vec!["127.0.0.0/8".parse().unwrap()], ..Default::default() };
    ::tocsin::netguard::Guard::new(policy, Vec::new())
}

/// A name no other test of this run (or of an earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns a child that the kernel kills when this test process dies, however it dies.
/// PR_SET_PDEATHSIG fires when the spawning *thread* exits, so every child is spawned by one
/// thread that lives as long as the process.
pub fn spawn_tied_to_process(command: &mut Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("child-keeper".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
                    unsafe {
                        command.pre_exec(|| {
                            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .unwrap();
        Mutex::new(tx)
    });
    let (reply, result) = mpsc::channel();
    let moved = std::mem::replace(command, Command::new("true"));
    keeper.lock().unwrap().send((moved, reply)).unwrap();
    result.recv().unwrap()
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An `alarm-transitioned` message like monasca-thresh writes, fresh (now).
pub fn alarm_message(alarm_id: &str, definition_id: &str, new_state: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    serde_json::json!({"alarm-transitioned": {
        "tenantId": "62f7a7a314904aa3ab137d569d6b4fde",
        "alarmId": alarm_id,
        "alarmDefinitionId": definition_id,
        "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": "operator", "service": "monitoring"}}],
        "alarmName": "dummy_alarm",
        "alarmDescription": "Dummy alarm",
        "oldState": "OK",
        "newState": new_state,
        "actionsEnabled": true,
        "stateChangeReason": "Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]",
        "severity": "LOW",
        "link": null,
        "lifecycleState": null,
        "subAlarms": [],
        "timestamp": now}})
}

/// Declares an async test body once and runs it on each config database: `name::sqlite`,
/// `name::mariadb` and `name::postgres`.
#[macro_export]
macro_rules! on_every_database {
    ($(#[$meta:meta])* async fn $name:ident($kind:ident: DbKind) $body:block) => {
        $(#[$meta])*
        mod $name {
            use super::*;

            async fn run($kind: DbKind) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(DbKind::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                run(DbKind::MariaDb).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(DbKind::Postgres).await
            }
        }
    };
}
