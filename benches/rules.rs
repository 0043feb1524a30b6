//! Rule lookup cost with many rules: 10,000 silence rules (one per host), 100 inhibit rules and
//! 100 group rules in one tenant; 100,000 transitions of random hosts. Prints lookups/s through
//! the `RuleIndex` and through a linear scan that checks every rule (what the blueprint's engine
//! did: "evaluates each alarm-state-transition against all rules").
//!
//! Rules match in this case, and it says how often: the transitions' hosts are drawn from twice
//! as many hosts as have a silence (about half match one), their services from 300 of which 100
//! are inhibit targets (a third match an inhibit rule as its target; whether a source is present
//! is the state machine's business, see benches/manager.rs), and every group rule but the one
//! excluding a transition's service applies to it. Matches are counted per kind, by the index and
//! by the scan, and must agree.
//!
//! Run: `cargo bench --bench rules` (BENCH_SHORT=1: 1,000 hosts and 2,000 transitions, for CI).

use std::time::{Duration, Instant};
use tocsin::model::AlarmTransition;
use tocsin::rules::index::RuleIndex;
use tocsin::rules::matching::{excluded, group_values, selector_matches};
use tocsin::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn meta(id: String) -> RuleMeta {
    RuleMeta { name: id.clone(), id, tenant_id: "t".into(), description: String::new() }
}

fn rules(hosts: usize) -> Vec<Rule> {
    let mut rules = Vec::new();
    for n in 0..hosts {
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

fn transition(n: usize, hosts: usize) -> AlarmTransition {
    let host = (n * 7919) % (hosts * 2);
    let raw = serde_json::json!({
        "tenantId": "t", "alarmId": format!("a{n}"), "alarmDefinitionId": "d",
        "metrics": [{"name": "cpu", "dimensions": {"hostname": format!("host-{host}"), "service": format!("service-{}", n % 300)}}],
        "alarmName": format!("alarm-{}", n % 50), "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
        "actionsEnabled": true, "stateChangeReason": "r", "severity": "HIGH", "link": null, "lifecycleState": null, "timestamp": 0,
    });
    let serde_json::Value::Object(raw) = raw else { unreachable!() };
    tocsin::ingest::transition(raw).expect("valid")
}

/// Rule matches of one kind: the transitions that match at least one rule, and all matches.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Matches {
    transitions: usize,
    rules: usize,
}

impl Matches {
    fn add(&mut self, found: usize) {
        self.transitions += usize::from(found > 0);
        self.rules += found;
    }
}

/// Silence, inhibit-target and group matches.
type Found = [Matches; 3];

fn main() {
    let short = env("BENCH_SHORT", 0) > 0;
    let (hosts, lookups) = if short { (1_000, 2_000) } else { (10_000, 100_000) };
    let all = rules(hosts);
    let index = RuleIndex::from_rules(all.clone());
    let transitions: Vec<AlarmTransition> = (0..lookups).map(|n| transition(n, hosts)).collect();

    let started = Instant::now();
    let mut found = Found::default();
    for t in &transitions {
        found[0].add(index.silences_for(t).len());
        found[1].add(index.inhibits_as_target(t).len());
        found[2].add(index.groups_for(t).len());
    }
    let indexed = started.elapsed();

    let started = Instant::now();
    let mut found_linear = Found::default();
    for t in &transitions {
        let mut applying = [0; 3];
        for rule in &all {
            let (kind, applies) = match rule {
                Rule::Silence(r) => (0, selector_matches(&r.spec.matchers, t)),
                Rule::Inhibit(r) => (1, selector_matches(&r.spec.target, t) && !excluded(&r.spec.exclusions, t)),
                Rule::Group(r) => (2, !excluded(&r.spec.exclusions, t) && group_values(&r.spec.group_by, t).is_some()),
            };
            applying[kind] += usize::from(applies);
        }
        for (matches, count) in found_linear.iter_mut().zip(applying) {
            matches.add(count);
        }
    }
    let linear = started.elapsed();
    assert_eq!(found, found_linear, "the index finds exactly what a scan finds");
    assert!(found.iter().all(|m| m.transitions > 0), "rules of every kind match: {found:?}");

    let share = |m: Matches| 100.0 * m.transitions as f64 / lookups as f64;
    println!("rule lookup: {} rules in one tenant ({hosts} silences, 100 inhibit rules, 100 group rules), {lookups} transitions", all.len());
    println!(
        "  rules match: {:.0}% of transitions match a silence, {:.0}% an inhibit rule's target, {:.0}% a group rule ({:.1} group rules each)",
        share(found[0]),
        share(found[1]),
        share(found[2]),
        found[2].rules as f64 / lookups as f64
    );
    println!("  indexed: {:.0} transitions/s ({:.2} µs each)", lookups as f64 / indexed.as_secs_f64(), indexed.as_secs_f64() * 1e6 / lookups as f64);
    println!("  linear:  {:.0} transitions/s ({:.2} µs each)", lookups as f64 / linear.as_secs_f64(), linear.as_secs_f64() * 1e6 / lookups as f64);
}
