//! The alarm manager's core at outage scale: 1,000,000 transitions (100,000 hosts × 10 alarms)
//! into 100,000 groups (`group by hostname`) with 1,000 silence rules and 100 inhibit rules of
//! the same tenant active, then every group flushed; then the state written to a SQLite config
//! database as the engine persists it. Prints transitions/s, the time to make every grouped
//! notice, the time to persist, and peak RSS. Time is simulated (the state machine takes `now`),
//! so group_wait and an inhibit rule's wait do not make the run slower.
//!
//! Two cases run one after the other, each printed with its label:
//! - "no rule matches": the 1,000 silences are of hosts outside the outage and no transition is
//!   an inhibit rule's target, so every transition is grouped (the case measured since
//!   2026-11-22; its figures stay comparable).
//! - "rules match": the same outage where a share of the hosts (BENCH_SILENCED_SHARE, percent,
//!   default 10) is under an active silence, one silence rule per such host on top of the 1,000,
//!   and another share (BENCH_INHIBITED_SHARE, default 10) has a "service down" alarm firing
//!   first: the source of an inhibit rule whose targets are every other alarm of that host,
//!   which are held for the rule's wait and then suppressed.
//!
//! Each case counts what was silenced, inhibited and grouped and checks those counts against
//! what its rules must do, so a label cannot claim matches that did not happen.
//!
//! Run: `cargo bench --bench manager` (BENCH_HOSTS and BENCH_ALARMS_PER_HOST scale it;
//! BENCH_SHORT=1 makes it 200 hosts, seconds even in a debug build, for CI).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin::db::Database;
use tocsin::engines::manager::persist::StateStore;
use tocsin::engines::manager::sources::{records_for, SourceView};
use tocsin::engines::manager::state::Suppression;
use tocsin::engines::manager::{Effect, ManagerState};
use tocsin::model::AlarmTransition;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};

const TENANT: &str = "bench-tenant";
/// The inhibit rules' wait; groups are due after the same time, so one advance does both.
const WAIT: Duration = Duration::from_secs(30);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn meta(id: String) -> RuleMeta {
    RuleMeta { name: id.clone(), id, tenant_id: TENANT.into(), description: String::new() }
}

/// Shares of the hosts, in percent, that rules match.
#[derive(Clone, Copy)]
struct Case {
    silenced: usize,
    inhibited: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Host {
    /// Under an active silence of its own hostname.
    Silenced,
    /// Its "service down" alarm fires first; every other alarm of it is an inhibit target.
    Inhibited,
    Plain,
}

impl Case {
    fn label(&self) -> String {
        if self.silenced + self.inhibited == 0 {
            "no rule matches".to_owned()
        } else {
            format!("rules match: {}% of hosts silenced, {}% inhibited", self.silenced, self.inhibited)
        }
    }

    /// Hosts are assigned by their number modulo 100, so every share is spread over the outage.
    fn host(&self, host: usize) -> Host {
        match host % 100 {
            slot if slot < self.silenced => Host::Silenced,
            slot if slot < self.silenced + self.inhibited => Host::Inhibited,
            _ => Host::Plain,
        }
    }
}

/// The service an inhibited host's alarms belong to; inhibit rule n targets `service-n`.
fn service(host: usize) -> String {
    format!("service-{}", (host / 100) % 100)
}

fn rules(case: Case, hosts: usize) -> Vec<Rule> {
    let mut rules = vec![Rule::Group(GroupRule {
        meta: meta("group_hosts".into()),
        spec: aql::parse_group("excluding {service=monitoring} group by hostname").expect("valid"),
        group_wait: WAIT,
        repeat_interval: Duration::from_secs(7200),
        alarm_actions: vec!["method".into()],
        ok_actions: vec![],
        undetermined_actions: vec![],
    })];
    let silence = |id: String, hostname: String| {
        Rule::Silence(SilenceRule {
            meta: meta(id),
            spec: aql::parse_silence(&format!("targets {{hostname={hostname}}}")).expect("valid"),
            start_time: chrono::Utc::now() - chrono::Duration::hours(1),
            duration: Duration::from_secs(7200),
        })
    };
    // Silences of hosts that are not in the outage, as an operator accumulates them.
    for n in 0..1000 {
        rules.push(silence(format!("silence-{n}"), format!("maintenance-{n}")));
    }
    for host in (0..hosts).filter(|h| case.host(*h) == Host::Silenced) {
        rules.push(silence(format!("silence-host-{host}"), format!("host-{host}")));
    }
    for n in 0..100 {
        rules.push(Rule::Inhibit(InhibitRule {
            meta: meta(format!("inhibit-{n}")),
            spec: aql::parse_inhibit(&format!("source {{__alarmName__=service-{n}-down}} targets {{service=service-{n}}} group by hostname")).expect("valid"),
            wait: WAIT,
        }));
    }
    rules
}

/// A transition to ALARM of alarm `alarm_id` on a host; `kind` names its definition and metric.
fn transition(alarm_id: String, kind: &str, alarm_name: String, host: usize, service: &str, now_ms: f64) -> Arc<AlarmTransition> {
    let raw = serde_json::json!({
        "tenantId": TENANT, "alarmId": alarm_id, "alarmDefinitionId": format!("def-{kind}"),
        "metrics": [{"id": null, "name": format!("metric.{kind}"), "dimensions": {"hostname": format!("host-{host}"), "service": service}}],
        "alarmName": alarm_name, "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
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

/// Gives freed memory back and restarts the peak-RSS count, so each case reports its own peak.
fn reset_peak_rss() {
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe { libc::malloc_trim(0) };
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("could not reset the peak RSS (/proc/self/clear_refs): the next case's peak includes this one's");
    }
}

/// What the manager did with a case's transitions.
#[derive(Default)]
struct Outcome {
    silenced: usize,
    inhibited: usize,
    /// Held for an inhibit rule's wait when they arrived (decided when released).
    held: usize,
    own: usize,
    notices: usize,
    /// Members listed by the notices: transitions that were grouped.
    grouped: usize,
}

impl Outcome {
    fn count(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Own { .. } => self.own += 1,
                Effect::Suppressed { by: Suppression::Silence { .. }, .. } => self.silenced += 1,
                Effect::Suppressed { by: Suppression::Inhibit { .. }, .. } => self.inhibited += 1,
                Effect::Group(notice) => {
                    self.notices += 1;
                    self.grouped += notice.members.len();
                }
            }
        }
    }
}

fn run_case(runtime: &tokio::runtime::Runtime, hosts: usize, per_host: usize, case: Case) {
    let rules = rules(case, hosts);
    let silences = rules.iter().filter(|r| matches!(r, Rule::Silence(_))).count();
    let index = RuleIndex::from_rules(rules);
    let mut state = ManagerState::new(true);
    let mut sources = SourceView::new("alarms", 1, Duration::from_secs(3600));
    let now = chrono::Utc::now().timestamp_millis() as f64;
    let count = |kind: Host| (0..hosts).filter(|h| case.host(*h) == kind).count();
    let (silenced_hosts, inhibited_hosts) = (count(Host::Silenced), count(Host::Inhibited));
    let total = hosts * per_host + inhibited_hosts;
    let rss_start = peak_rss_mib();

    // Transitions are built inside the loop (a prepared million would dominate memory) and only
    // the manager's own calls are timed, with the inhibition sources the notification engine
    // writes for a transition applied to the view first (all at record time 0). The "service
    // down" sources come first.
    let mut applied = Duration::ZERO;
    let mut outcome = Outcome::default();
    let mut offset = 0i64;
    let mut apply = |t: Arc<AlarmTransition>, outcome: &mut Outcome| {
        offset += 1;
        let started = Instant::now();
        for record in records_for(&index, &t, 0) {
            sources.apply(record);
        }
        let effects = state.transition(&index, &sources, t, offset, 0, 0);
        applied += started.elapsed();
        outcome.held += usize::from(effects.is_empty());
        outcome.count(effects);
    };
    for host in (0..hosts).filter(|h| case.host(*h) == Host::Inhibited) {
        let service = service(host);
        apply(transition(format!("source-{host}"), "down", format!("{service}-down"), host, "compute", now), &mut outcome);
    }
    for alarm in 0..per_host {
        for host in 0..hosts {
            let service = if case.host(host) == Host::Inhibited { service(host) } else { "compute".to_owned() };
            apply(transition(format!("alarm-{host}-{alarm}"), &alarm.to_string(), format!("alarm {alarm}"), host, &service, now), &mut outcome);
        }
    }
    let groups = state.group_count();

    let flush_started = Instant::now();
    let every_source_known = Some(WAIT.as_millis() as i64);
    outcome.count(state.advance(&index, &sources, every_source_known, WAIT.as_millis() as i64));
    let flushed = flush_started.elapsed();
    let rss_after = peak_rss_mib();

    assert_eq!(outcome.silenced, silenced_hosts * per_host, "every alarm of a silenced host is silenced, and no other");
    assert_eq!(outcome.inhibited, inhibited_hosts * per_host, "every target of a present source is inhibited, and no other");
    assert_eq!(outcome.held, inhibited_hosts * per_host, "exactly the inhibit targets wait for the rule's wait");
    assert_eq!(outcome.grouped, total - outcome.silenced - outcome.inhibited, "everything not suppressed is grouped");
    assert_eq!(outcome.notices, groups, "every open group was notified once");

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

    let sources = if inhibited_hosts > 0 { format!(" + {inhibited_hosts} \"service down\" sources") } else { String::new() };
    println!(
        "alarm manager, {}: {total} transitions ({hosts} hosts × {per_host} alarms{sources}), 1 group rule, {silences} silences ({} of them on hosts of the outage), 100 inhibit rules",
        case.label(),
        silences - 1000
    );
    println!(
        "  outcome: {} silenced, {} inhibited ({} held for the rule's wait), {} grouped; {} own-action effects",
        outcome.silenced, outcome.inhibited, outcome.held, outcome.grouped, outcome.own
    );
    println!("  apply:   {:.2} s = {:.0} transitions/s", applied.as_secs_f64(), total as f64 / applied.as_secs_f64());
    println!(
        "  groups:  {groups} open; releasing the held transitions and flushing all due notices took {:.3} s ({} notices)",
        flushed.as_secs_f64(),
        outcome.notices
    );
    // Held transitions are decided when released, so only both timings together compare cases.
    println!("  apply and release together: {:.2} s = {:.0} transitions/s", (applied + flushed).as_secs_f64(), total as f64 / (applied + flushed).as_secs_f64());
    println!("  persist: {rows} rows to SQLite in {:.2} s", persisted.as_secs_f64());
    println!("  peak RSS: {rss_after:.0} MiB after the flush ({rss_start:.0} MiB before the first transition)");
}

fn main() {
    let short = env("BENCH_SHORT", 0) > 0;
    let hosts = env("BENCH_HOSTS", if short { 200 } else { 100_000 });
    let per_host = env("BENCH_ALARMS_PER_HOST", 10);
    let matching = Case { silenced: env("BENCH_SILENCED_SHARE", 10), inhibited: env("BENCH_INHIBITED_SHARE", 10) };
    assert!(matching.silenced + matching.inhibited <= 100, "BENCH_SILENCED_SHARE + BENCH_INHIBITED_SHARE is at most 100 (percent of hosts)");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    run_case(&runtime, hosts, per_host, Case { silenced: 0, inhibited: 0 });
    if matching.silenced + matching.inhibited > 0 {
        reset_peak_rss();
        run_case(&runtime, hosts, per_host, matching);
    }
}
