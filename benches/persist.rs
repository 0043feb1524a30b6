//! The alarm manager's state persistence ([`StateStore`]) at outage scale, on each config
//! database Tocsin supports: SQLite, MariaDB and PostgreSQL.
//!
//! Method: a real [`ManagerState`] is driven as the engine drives it: one tenant with one group
//! rule (`group by hostname`), BENCH_GROUPS hosts with 10 alarms each going to ALARM, so
//! BENCH_GROUPS open groups of 10 members each, whose rows are the ones the engine writes
//! (`take_changes`: the same entities and JSON bodies, so the same row sizes). On a fresh
//! database of each kind (a new SQLite file in a temporary directory, or a database dropped and
//! created again on the local MariaDB 127.0.0.1:3306 / PostgreSQL 127.0.0.1:5432, as
//! `benches/pipeline.rs` does), after the state tables are created, four operations are timed,
//! each one `StateStore` call as the engine makes it:
//! 1. first flush: `save` of every group (one call, one transaction, as the engine's first
//!    flush after an outage arrived);
//! 2. 1 % changed: one alarm of every 100th host transitions again (a new reason and time), so
//!    1 % of the groups change, and only those rows are saved;
//! 3. no change: `save` with no row, only the offset;
//! 4. load: `load` of the whole partition (what a restart or a rebalance reads back);
//! 5. one tenant's groups: a second tenant's 10 groups, saved under another partition, found
//!    among all of the above with `tenant_groups` (what `/v2.0/alarm-groups` reads first).
//!
//! Each save is checked by a `load`: the partition must hold exactly the expected number of
//! rows, none unreadable, at the offset saved, and the rows a flush wrote must read back equal
//! to what was saved; otherwise the run ends with exit status 1. "bytes" is the payload of the
//! rows written or read (scope, key, entity and body text), not the database's own overhead.
//! Every database call has a deadline (60 s + 1 ms per row); missing it ends the run with exit
//! status 1. Building the state is not timed.
//!
//! `cargo bench --bench persist` (env: BENCH_DB=sqlite|mariadb|postgres|all, default all;
//! BENCH_GROUPS, default 100000; BENCH_SHORT=1 makes it 2,000 groups, seconds even in a debug
//! build). MariaDB and PostgreSQL must be running (scripts/ensure-databases.sh).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin::db::Database;
use tocsin::engines::manager::persist::{entity_hash, StateStore};
use tocsin::engines::manager::sources::SourceView;
use tocsin::engines::manager::state::{Change, Entity};
use tocsin::engines::manager::ManagerState;
use tocsin::model::AlarmTransition;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::{aql, GroupRule, Rule, RuleMeta};

const TENANT: &str = "bench-tenant";
const SCOPE: &str = "bench-filtered/0";
const ALARMS_PER_HOST: usize = 10;
/// A second tenant with a few groups of its own, looked up among the bench tenant's.
const OTHER_TENANT: &str = "other-tenant";
const OTHER_SCOPE: &str = "bench-filtered/1";
const OTHER_TENANT_GROUPS: usize = 10;
/// Database name on MariaDB and PostgreSQL, dropped and created again for each run.
const DATABASE: &str = "tocsin_bench_persist";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Ends the run with exit status 1.
fn fail(message: String) -> ! {
    eprintln!("persist benchmark FAILED: {message}");
    std::process::exit(1)
}

fn deadline_for(rows: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(rows as u64)
}

/// Runs `what` under its deadline; fails the run on an error or a missed deadline.
async fn within<T, E: std::fmt::Display>(what: &str, rows: usize, future: impl Future<Output = Result<T, E>>) -> T {
    let deadline = deadline_for(rows);
    match tokio::time::timeout(deadline, future).await {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => fail(format!("{what}: {e}")),
        Err(_) => fail(format!("{what}: no answer within {deadline:?}")),
    }
}

fn group_rule() -> Rule {
    Rule::Group(GroupRule {
        meta: RuleMeta { id: "group_hosts".into(), tenant_id: TENANT.into(), name: "group_hosts".into(), description: String::new() },
        spec: aql::parse_group("group by hostname").expect("valid"),
        group_wait: Duration::from_secs(30),
        repeat_interval: Duration::from_secs(7200),
        alarm_actions: vec!["method".into()],
        ok_actions: vec![],
        undetermined_actions: vec![],
    })
}

/// A transition to ALARM of alarm `alarm` of `host`, as the notification engine routes it.
fn transition(host: usize, alarm: usize, reason: &str, timestamp_ms: f64) -> Arc<AlarmTransition> {
    let raw = serde_json::json!({
        "tenantId": TENANT, "alarmId": format!("alarm-{host}-{alarm}"), "alarmDefinitionId": format!("def-{alarm}"),
        "metrics": [{"id": null, "name": format!("metric.{alarm}"), "dimensions": {"hostname": format!("host-{host}"), "service": "compute"}}],
        "alarmName": format!("alarm {alarm}"), "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true, "stateChangeReason": reason,
        "severity": "HIGH", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": timestamp_ms,
    });
    let serde_json::Value::Object(raw) = raw else { unreachable!() };
    Arc::new(tocsin::ingest::transition(raw).expect("valid"))
}

/// The state machine of one partition and what it was fed.
struct Driver {
    rules: RuleIndex,
    sources: SourceView,
    state: ManagerState,
    offset: i64,
}

impl Driver {
    fn send(&mut self, t: Arc<AlarmTransition>) {
        self.offset += 1;
        self.state.transition(&self.rules, &self.sources, t, self.offset, 0, 0);
    }
}

/// The rows of a flush: (entity, body text) as `StateStore` writes them, with their payload size.
struct Expected {
    rows: HashMap<Entity, serde_json::Value>,
    bytes: usize,
}

fn expected(changes: &[Change]) -> Expected {
    let mut bytes = 0;
    let mut rows = HashMap::new();
    for change in changes {
        if let Some(value) = &change.value {
            let entity = serde_json::to_string(&change.entity).expect("serializes");
            bytes += SCOPE.len() + entity_hash(&change.entity).len() + entity.len() + value.len();
            rows.insert(change.entity.clone(), serde_json::from_str(value).expect("a row's value is JSON"));
        }
    }
    Expected { rows, bytes }
}

/// One timed operation, as printed.
struct Line {
    database: &'static str,
    operation: &'static str,
    rows: usize,
    bytes: usize,
    took: Duration,
}

/// Loads the partition and checks it: `total` rows, none unreadable, at `offset`, with the rows
/// of `written` as saved. Returns the load's time and payload bytes.
async fn check(store: &StateStore, after: &str, total: usize, offset: i64, written: &Expected) -> (Duration, usize) {
    let started = Instant::now();
    let snapshot = within(&format!("load after {after}"), total, store.load(SCOPE)).await;
    let took = started.elapsed();
    if !snapshot.unreadable.is_empty() {
        fail(format!("after {after}: {} unreadable rows, first: {}", snapshot.unreadable.len(), snapshot.unreadable[0]));
    }
    if snapshot.rows.len() != total {
        fail(format!("after {after}: load returned {} rows, expected {total}", snapshot.rows.len()));
    }
    if snapshot.next_offset != offset {
        fail(format!("after {after}: load returned offset {}, expected {offset}", snapshot.next_offset));
    }
    let mut found = 0;
    let mut bytes = 0;
    for (entity, body) in &snapshot.rows {
        bytes += SCOPE.len() + entity_hash(entity).len() + serde_json::to_string(entity).expect("serializes").len() + body.to_string().len();
        if let Some(saved) = written.rows.get(entity) {
            if saved != body {
                fail(format!("after {after}: the row of {entity:?} reads back different from what was saved"));
            }
            found += 1;
        }
    }
    if found != written.rows.len() {
        fail(format!("after {after}: {} of the {} rows written are missing", written.rows.len() - found, written.rows.len()));
    }
    (took, bytes)
}

async fn run(kind: &'static str, groups: usize, all: &[Change], changed: &[Change], lines: &mut Vec<Line>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = support::fresh_database(kind, DATABASE, dir.path()).await.map(|url| if kind == "sqlite" { format!("{url}?mode=rwc") } else { url }).unwrap_or_else(|e| fail(e));
    let db = Database::connect_lazy(&url).unwrap_or_else(|e| fail(format!("{url}: {e}")));
    let store = StateStore::new(db.clone());
    within("creating the state tables", 0, store.init_schema()).await;

    let first = expected(all);
    let started = Instant::now();
    within("first flush", all.len(), store.save(SCOPE, all, 1000)).await;
    lines.push(Line { database: kind, operation: "first flush (every group)", rows: all.len(), bytes: first.bytes, took: started.elapsed() });
    check(&store, "the first flush", groups, 1000, &first).await;

    let second = expected(changed);
    let started = Instant::now();
    within("1 % flush", changed.len(), store.save(SCOPE, changed, 2000)).await;
    lines.push(Line { database: kind, operation: "flush, 1 % of groups changed", rows: changed.len(), bytes: second.bytes, took: started.elapsed() });
    check(&store, "the 1 % flush", groups, 2000, &second).await;

    let none = expected(&[]);
    let started = Instant::now();
    within("empty flush", 0, store.save(SCOPE, &[], 3000)).await;
    lines.push(Line { database: kind, operation: "flush, no change (offset only)", rows: 0, bytes: 0, took: started.elapsed() });
    let (took, bytes) = check(&store, "the empty flush", groups, 3000, &none).await;
    lines.push(Line { database: kind, operation: "load (whole partition)", rows: groups, bytes, took });

    // Another tenant's few groups, in another partition, found among all of the above as
    // `/v2.0/alarm-groups` finds them.
    let theirs: Vec<Change> = all
        .iter()
        .take(OTHER_TENANT_GROUPS)
        .map(|change| match &change.entity {
            Entity::Group { key, .. } => Change { entity: Entity::Group { tenant: OTHER_TENANT.to_owned(), key: key.clone() }, value: change.value.clone() },
            other => fail(format!("the state wrote a row that is not a group: {other:?}")),
        })
        .collect();
    within("another tenant's flush", theirs.len(), store.save(OTHER_SCOPE, &theirs, 1)).await;
    let started = Instant::now();
    let found = within("another tenant's groups", groups, store.tenant_groups(OTHER_TENANT)).await;
    let took = started.elapsed();
    if found.len() != theirs.len() {
        fail(format!("another tenant's groups: found {}, expected {}", found.len(), theirs.len()));
    }
    let bytes = found.iter().map(|g| g.scope.len() + g.entity_hash.len()).sum();
    lines.push(Line { database: kind, operation: "one tenant's 10 groups (API)", rows: found.len(), bytes, took });
    db.close().await;
}

fn main() {
    let short = env("BENCH_SHORT", 0) > 0;
    let groups: usize = env("BENCH_GROUPS", if short { 2_000 } else { 100_000 });
    let which: String = env("BENCH_DB", "all".to_owned());
    let kinds: Vec<&'static str> = match which.as_str() {
        "all" => vec!["sqlite", "mariadb", "postgres"],
        "sqlite" => vec!["sqlite"],
        "mariadb" => vec!["mariadb"],
        "postgres" => vec!["postgres"],
        other => fail(format!("BENCH_DB={other}: expected sqlite, mariadb, postgres or all")),
    };
    if groups < 100 {
        fail(format!("BENCH_GROUPS={groups}: at least 100, so that 1 % of the groups is one group or more"));
    }

    // The state, built as the engine builds it (not timed).
    let started = Instant::now();
    let mut driver = Driver {
        rules: RuleIndex::from_rules(vec![group_rule()]),
        sources: SourceView::new("alarms", 1, Duration::from_secs(3600)),
        state: ManagerState::new(true),
        offset: 0,
    };
    let now = chrono::Utc::now().timestamp_millis() as f64;
    let reason = "Thresholds were exceeded for the sub-alarms: avg(metric) > 90.0 with the values: [95.0]";
    for alarm in 0..ALARMS_PER_HOST {
        for host in 0..groups {
            driver.send(transition(host, alarm, reason, now));
        }
    }
    if driver.state.group_count() != groups {
        fail(format!("{} groups open, expected {groups}", driver.state.group_count()));
    }
    let all = driver.state.take_changes();
    if all.len() != groups || all.iter().any(|c| c.value.is_none()) {
        fail(format!("the first flush has {} changes, expected {groups} groups", all.len()));
    }
    let later = "Thresholds were exceeded for the sub-alarms: avg(metric) > 90.0 with the values: [97.5]";
    for host in (0..groups).step_by(100) {
        driver.send(transition(host, 0, later, now + 60_000.0));
    }
    let changed = driver.state.take_changes();
    if changed.len() != groups.div_ceil(100) {
        fail(format!("the 1 % flush has {} changes, expected {}", changed.len(), groups.div_ceil(100)));
    }
    let mean_row = expected(&all).bytes / groups;
    println!(
        "alarm-manager state persistence: {groups} groups × {ALARMS_PER_HOST} members (one tenant, `group by hostname`), {mean_row} bytes per row on average; state built in {:.1} s (not timed)",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut lines = Vec::new();
    for kind in kinds {
        runtime.block_on(run(kind, groups, &all, &changed, &mut lines));
    }

    println!("{:<9} {:<32} {:>8} {:>10} {:>10} {:>12} {:>9}", "database", "operation", "rows", "MB", "time (s)", "rows/s", "MB/s");
    for line in &lines {
        let secs = line.took.as_secs_f64();
        let mb = line.bytes as f64 / 1e6;
        let per_second = |n: f64| if line.rows == 0 { "-".to_owned() } else { format!("{:.0}", n / secs) };
        let mb_per_second = if line.rows == 0 { "-".to_owned() } else { format!("{:.1}", mb / secs) };
        println!("{:<9} {:<32} {:>8} {:>10.1} {:>10.3} {:>12} {:>9}", line.database, line.operation, line.rows, mb, secs, per_second(line.rows as f64), mb_per_second);
    }
}
