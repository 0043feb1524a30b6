//! Rule lookup cost with many rules: 10,000 silence rules (one per host), 100 inhibit rules and
//! 100 group rules in one tenant; 100,000 transitions of random hosts. Prints lookups/s through
//! the `RuleIndex` and through a linear scan that checks every rule (what the blueprint's engine
//! did: "evaluates each alarm-state-transition against all rules").
//!
//! Run: `cargo bench --bench rules`.

use std::time::{Duration, Instant};
use tocsin::model::AlarmTransition;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::matching::{excluded, group_values, selector_matches};
use tocsin::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};

const HOSTS: usize = 10_000;
const LOOKUPS: usize = 100_000;

fn meta(id: String) -> RuleMeta {
    RuleMeta { name: id.clone(), id, tenant_id: "t".into(), description: String::new() }
}

fn rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for n in 0..HOSTS {
        rules.push(Rule::Silence(SilenceRule {
            meta: meta(format!("silence-{n}")),
            spec: aql::parse_silence(&format!("targets {{hostname=host-{n}}}")).expect("valid"),
            start_time: chrono::Utc::now(),
            duration: Duration::from_secs(3600),
        }));
    }
    for n in 0..100 {
        rules.push(Rule::Inhibit(InhibitRule {
            meta: meta(format!("inhibit-{n}")),
            spec: aql::parse_inhibit(&format!("source {{__alarmName__=service-{n}-down}} targets {{service=service-{n}}} group by hostname")).expect("valid"),
            wait: Duration::from_secs(30),
        }));
        rules.push(Rule::Group(GroupRule {
            meta: meta(format!("group-{n}")),
            spec: aql::parse_group(&format!("excluding {{service=service-{n}}} group by hostname")).expect("valid"),
            group_wait: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(7200),
            alarm_actions: vec![],
            ok_actions: vec![],
            undetermined_actions: vec![],
        }));
    }
    rules
}

fn transition(n: usize) -> AlarmTransition {
    let host = (n * 7919) % (HOSTS * 2);
    let raw = serde_json::json!({
        "tenantId": "t", "alarmId": format!("a{n}"), "alarmDefinitionId": "d",
        "metrics": [{"name": "cpu", "dimensions": {"hostname": format!("host-{host}"), "service": format!("service-{}", n % 300)}}],
        "alarmName": format!("alarm-{}", n % 50), "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true, "stateChangeReason": "r", "severity": "HIGH", "link": null, "lifecycleState": null, "timestamp": 0,
    });
    let serde_json::Value::Object(raw) = raw else { unreachable!() };
    tocsin::ingest::transition(raw).expect("valid")
}

fn main() {
    let all = rules();
    let index = RuleIndex::from_rules(all.clone());
    let transitions: Vec<AlarmTransition> = (0..LOOKUPS).map(transition).collect();

    let started = Instant::now();
    let mut found = 0usize;
    for t in &transitions {
        found += index.silences_for(t).len() + index.inhibits_as_target(t).len() + index.groups_for(t).len();
    }
    let indexed = started.elapsed();

    let started = Instant::now();
    let mut found_linear = 0usize;
    for t in &transitions {
        for rule in &all {
            let applies = match rule {
                Rule::Silence(r) => selector_matches(&r.spec.matchers, t),
                Rule::Inhibit(r) => selector_matches(&r.spec.target, t) && !excluded(&r.spec.exclusions, t),
                Rule::Group(r) => !excluded(&r.spec.exclusions, t) && group_values(&r.spec.group_by, t).is_some(),
            };
            found_linear += usize::from(applies);
        }
    }
    let linear = started.elapsed();
    assert_eq!(found, found_linear, "the index finds exactly what a scan finds");

    println!("rule lookup: {} rules in one tenant, {LOOKUPS} transitions, {found} rule matches", all.len());
    println!("  indexed: {:.0} transitions/s ({:.2} µs each)", LOOKUPS as f64 / indexed.as_secs_f64(), indexed.as_secs_f64() * 1e6 / LOOKUPS as f64);
    println!("  linear:  {:.0} transitions/s ({:.2} µs each)", LOOKUPS as f64 / linear.as_secs_f64(), linear.as_secs_f64() * 1e6 / LOOKUPS as f64);
}
