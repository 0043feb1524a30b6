//! The alarm manager's core at outage scale: 1,000,000 transitions (100,000 hosts × 10 alarms)
//! into 100,000 groups (`group by hostname`) with 1,000 silence rules and 100 inhibit rules of
//! the same tenant active, then every group flushed; then the state written to a SQLite config
//! database as the engine persists it. Prints transitions/s, the time to make every grouped
//! notice, the time to persist, and peak RSS. Time is simulated (the state machine takes `now`),
//! so group_wait does not make the run slower.
//!
//! Run: `cargo bench --bench manager` (BENCH_HOSTS and BENCH_ALARMS_PER_HOST scale it).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin::db::Database;
use tocsin::engines::manager::persist::StateStore;
use tocsin::engines::manager::{Effect, ManagerState};
use tocsin::model::AlarmTransition;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};

const TENANT: &str = "bench-tenant";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn meta(id: String) -> RuleMeta {
    RuleMeta { name: id.clone(), id, tenant_id: TENANT.into(), description: String::new() }
}

fn rules() -> Vec<Rule> {
    let mut rules = vec![Rule::Group(GroupRule {
        meta: meta("group_hosts".into()),
        spec: aql::parse_group("excluding {service=monitoring} group by hostname").expect("valid"),
        group_wait: Duration::from_secs(30),
        repeat_interval: Duration::from_secs(7200),
        alarm_actions: vec!["method".into()],
        ok_actions: vec![],
        undetermined_actions: vec![],
    })];
    // Silences of hosts that are not in the outage, as an operator accumulates them.
    for n in 0..1000 {
        rules.push(Rule::Silence(SilenceRule {
            meta: meta(format!("silence-{n}")),
            spec: aql::parse_silence(&format!("targets {{hostname=maintenance-{n}}}")).expect("valid"),
            start_time: chrono::Utc::now() - chrono::Duration::hours(1),
            duration: Duration::from_secs(7200),
        }));
    }
    for n in 0..100 {
        rules.push(Rule::Inhibit(InhibitRule {
            meta: meta(format!("inhibit-{n}")),
            spec: aql::parse_inhibit(&format!("source {{__alarmName__=service-{n}-down}} targets {{service=service-{n}}} group by hostname")).expect("valid"),
            wait: Duration::from_secs(30),
        }));
    }
    rules
}

fn transition(host: usize, alarm: usize, now_ms: f64) -> Arc<AlarmTransition> {
    let raw = serde_json::json!({
        "tenantId": TENANT, "alarmId": format!("alarm-{host}-{alarm}"), "alarmDefinitionId": format!("def-{alarm}"),
        "metrics": [{"id": null, "name": format!("metric.{alarm}"), "dimensions": {"hostname": format!("host-{host}"), "service": "compute"}}],
        "alarmName": format!("alarm {alarm}"), "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true, "stateChangeReason": "Thresholds were exceeded for the sub-alarms: avg(metric) > 90.0 with the values: [95.0]",
        "severity": "HIGH", "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": now_ms,
    });
    let serde_json::Value::Object(raw) = raw else { unreachable!() };
    Arc::new(tocsin::ingest::transition(raw).expect("valid"))
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let hosts = env("BENCH_HOSTS", 100_000);
    let per_host = env("BENCH_ALARMS_PER_HOST", 10);
    let total = hosts * per_host;
    let index = RuleIndex::from_rules(rules());
    let mut state = ManagerState::new(true);
    let now = chrono::Utc::now().timestamp_millis() as f64;
    let rss_start = peak_rss_mib();

    // Transitions are built inside the loop (a prepared million would dominate memory) and only
    // the manager's own calls are timed.
    let mut applied = Duration::ZERO;
    let mut own = 0usize;
    let mut offset = 0i64;
    for alarm in 0..per_host {
        for host in 0..hosts {
            let t = transition(host, alarm, now);
            offset += 1;
            let started = Instant::now();
            let effects = state.transition(&index, t, offset, 0);
            applied += started.elapsed();
            own += effects.iter().filter(|e| matches!(e, Effect::Own { .. })).count();
        }
    }
    let groups = state.group_count();

    let flush_started = Instant::now();
    let notices = state.advance(&index, 30_000).into_iter().filter(|e| matches!(e, Effect::Group(_))).count();
    let flushed = flush_started.elapsed();
    let rss_after = peak_rss_mib();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (persisted, rows) = runtime.block_on(async {
        let db = Database::connect_lazy(&format!("sqlite://{}/bench.db?mode=rwc", dir.path().display())).expect("sqlite");
        let store = StateStore::new(db);
        store.init_schema().await.expect("schema");
        let changes = state.take_changes();
        let rows = changes.len();
        let started = Instant::now();
        for chunk in changes.chunks(10_000) {
            store.save("bench/0", chunk, 0).await.expect("save");
        }
        (started.elapsed(), rows)
    });

    println!("alarm manager: {total} transitions ({hosts} hosts × {per_host} alarms), 1 group rule, 1,000 silences, 100 inhibit rules");
    println!("  apply:   {:.2} s = {:.0} transitions/s ({own} own-action effects)", applied.as_secs_f64(), total as f64 / applied.as_secs_f64());
    println!("  groups:  {groups} open; flushing all due notices took {:.3} s ({notices} notices)", flushed.as_secs_f64());
    println!("  persist: {rows} rows to SQLite in {:.2} s", persisted.as_secs_f64());
    println!("  peak RSS: {rss_after:.0} MiB after the flush ({rss_start:.0} MiB before the first transition)");
}
