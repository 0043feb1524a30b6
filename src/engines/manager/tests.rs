//! The state machine against the seed example, the worked examples 1–7 of `docs/rules.md` with
//! the outputs given there, and the edges the engine relies on. Time is an argument: no sleeps.

use super::sources::{self, SourceRecord, SourceView};
use super::state::{Effect, GroupNotice, ManagerState, Pending, Suppression};
use crate::model::AlarmTransition;
use crate::rules::index::RuleIndex;
use crate::rules::{aql, GroupRule, InhibitRule, Rule, RuleMeta, SilenceRule};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "d42bc";
const SECOND: i64 = 1000;
/// 2017-02-21 20:30:00 UTC, inside the examples' silence windows.
const EXAMPLE_TIME_MS: f64 = 1_487_709_000_000.0;

fn meta(id: &str, name: &str) -> RuleMeta {
    RuleMeta { id: id.into(), tenant_id: TENANT.into(), name: name.into(), description: String::new() }
}

fn group(id: &str, name: &str, expression: &str, actions: [&str; 3]) -> Rule {
    Rule::Group(GroupRule {
        meta: meta(id, name),
        spec: aql::parse_group(expression).expect("valid group expression"),
        group_wait: Duration::from_secs(30),
        repeat_interval: Duration::from_secs(7200),
        alarm_actions: vec![actions[0].into()],
        ok_actions: vec![actions[1].into()],
        undetermined_actions: vec![actions[2].into()],
    })
}

fn group_rule_2() -> Rule {
    group("b7163", "group_rule_2", "group by hostname", ["cd892", "ad892", "cf892"])
}

fn inhibit(id: &str, expression: &str) -> Rule {
    Rule::Inhibit(InhibitRule {
        meta: meta(id, &format!("inhibit_{id}")),
        spec: aql::parse_inhibit(expression).expect("valid inhibit expression"),
        wait: Duration::from_secs(30),
    })
}

fn silence(id: &str, expression: &str, start: &str, hours: u64) -> Rule {
    Rule::Silence(SilenceRule {
        meta: meta(id, &format!("silence_{id}")),
        spec: aql::parse_silence(expression).expect("valid silence expression"),
        start_time: start.parse::<DateTime<Utc>>().expect("valid start"),
        duration: Duration::from_secs(hours * 3600),
    })
}

/// One transition of the examples: alarm id, name, state, severity, hostname.
fn at(alarm_id: &str, name: &str, state: &str, severity: &str, hostname: &str) -> Arc<AlarmTransition> {
    at_time(alarm_id, name, state, severity, hostname, EXAMPLE_TIME_MS)
}

fn at_time(alarm_id: &str, name: &str, state: &str, severity: &str, hostname: &str, timestamp_ms: f64) -> Arc<AlarmTransition> {
    let raw = json!({
        "tenantId": TENANT, "alarmId": alarm_id, "alarmDefinitionId": format!("def-{alarm_id}"),
        "metrics": [{"id": null, "name": "cpu.percent", "dimensions": {"hostname": hostname}}],
        "alarmName": name, "alarmDescription": "", "oldState": "OK", "newState": state,
        "actionsEnabled": true, "stateChangeReason": format!("{name} went {state}"), "severity": severity,
        "link": null, "lifecycleState": null, "subAlarms": [], "timestamp": timestamp_ms,
    });
    let serde_json::Value::Object(raw) = raw else { unreachable!() };
    Arc::new(crate::ingest::transition(raw).expect("valid transition"))
}

/// One partition's state with what the rest of the engine would give it: every transition sent
/// arrives at once (record time = the time sent), its sources written to the view first, as the
/// notification engine writes them.
struct Run {
    rules: RuleIndex,
    state: ManagerState,
    sources: SourceView,
    offset: i64,
}

impl Run {
    fn new(rules: Vec<Rule>) -> Run {
        Run::resolving(rules, true)
    }

    fn resolving(rules: Vec<Rule>, notify_resolved_if_notified: bool) -> Run {
        let sources = SourceView::new("alarms", 1, Duration::from_secs(3600));
        Run { rules: RuleIndex::from_rules(rules), state: ManagerState::new(notify_resolved_if_notified), sources, offset: 0 }
    }

    fn send(&mut self, alarm: Arc<AlarmTransition>, now_ms: i64) -> Vec<Effect> {
        self.route(&alarm, now_ms);
        self.offset += 1;
        self.state.transition(&self.rules, &self.sources, alarm, self.offset, now_ms, now_ms)
    }

    /// What the notification engine writes to the sources topic for `alarm`.
    fn route(&mut self, alarm: &AlarmTransition, at_ms: i64) {
        for record in sources::records_for(&self.rules, alarm, at_ms) {
            self.sources.apply(record);
        }
    }

    /// At `now_ms`, with every transition stamped before it routed.
    fn advance(&mut self, now_ms: i64) -> Vec<Effect> {
        self.advance_with_sources_complete_below(now_ms, now_ms)
    }

    fn advance_with_sources_complete_below(&mut self, now_ms: i64, complete_below: i64) -> Vec<Effect> {
        self.sources.apply(SourceRecord::Progress { topic: "alarms".into(), partition: 0, below_ms: complete_below });
        self.state.advance(&self.rules, &self.sources, self.sources.complete_below(), now_ms)
    }
}

/// Alarm ids whose own actions go out.
fn own(effects: &[Effect]) -> Vec<String> {
    effects.iter().filter_map(|e| if let Effect::Own { alarm, .. } = e { Some(alarm.alarm_id.clone()) } else { None }).collect()
}

fn suppressed(effects: &[Effect]) -> Vec<(String, Suppression)> {
    effects
        .iter()
        .filter_map(|e| if let Effect::Suppressed { alarm, by } = e { Some((alarm.alarm_id.clone(), by.clone())) } else { None })
        .collect()
}

fn notices(effects: &[Effect]) -> Vec<GroupNotice> {
    effects.iter().filter_map(|e| if let Effect::Group(n) = e { Some(n.clone()) } else { None }).collect()
}

/// (name, actions, member ids) of each notice, sorted by name.
fn summary(effects: &[Effect]) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out: Vec<_> = notices(effects)
        .into_iter()
        .map(|n| (n.name, n.actions, n.members.iter().map(|m| m.alarm_id.to_string()).collect()))
        .collect();
    out.sort();
    out
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn seed_example_groups_only_the_alarm_the_exclusion_lets_through() {
    let mut run = Run::new(vec![Rule::Group(GroupRule {
        repeat_interval: Duration::from_secs(7200),
        ..match group("r1", "group_rule_1", "excluding {__alarmName__=cpu_percent_high} group by hostname", ["cd892", "x", "y"]) {
            Rule::Group(g) => g,
            _ => unreachable!(),
        }
    })]);
    let mut effects = run.send(at("at1", "cpu_percent_high", "ALARM", "LOW", "host1"), 0);
    effects.extend(run.send(at("at2", "cpu_system_perc_high", "ALARM", "LOW", "host1"), 0));
    effects.extend(run.send(at("at3", "cpu_percent_high", "ALARM", "LOW", "host2"), 0));
    assert_eq!(own(&effects), strings(&["at1", "at2", "at3"]), "excluded or not, own actions go out at once");
    assert!(run.advance(30 * SECOND - 1).is_empty(), "nothing before group_wait");
    let due = run.advance(30 * SECOND);
    assert_eq!(summary(&due), vec![("group_notification_rule_1_host1_alarm[1]".to_string(), strings(&["cd892"]), strings(&["at2"]))]);
}

#[test]
fn example_1_silence_suppresses_only_matching_transitions_inside_the_window() {
    let mut run = Run::new(vec![silence("s1", "targets {__severity__=LOW}", "2017-02-21T20:00:00Z", 2)]);
    assert_eq!(own(&run.send(at("at1", "a", "ALARM", "HIGH", "host1"), 0)), strings(&["at1"]));
    let effects = run.send(at("at2", "a", "ALARM", "LOW", "host1"), 0);
    assert_eq!(suppressed(&effects), vec![("at2".to_string(), Suppression::Silence { rule_id: "s1".into() })]);
    // 22:00:00 is the end of the window, exclusive.
    let after = run.send(at_time("at3", "a", "ALARM", "LOW", "host1", 1_487_714_400_000.0), 0);
    assert_eq!(own(&after), strings(&["at3"]));
}

fn inhibit_rule_1() -> Rule {
    inhibit("i1", "source {severity=CRITICAL} targets {severity=HIGH} excluding {severity=LOW} group by alarmName")
}

#[test]
fn example_2_an_active_source_inhibits_its_target_and_the_excluded_alarm_notifies_at_once() {
    let mut run = Run::new(vec![inhibit_rule_1()]);
    assert_eq!(own(&run.send(at("d42bc", "cpu_high", "ALARM", "CRITICAL", "h"), 0)), strings(&["d42bc"]));
    assert!(run.send(at("abcd3", "cpu_high", "ALARM", "HIGH", "h"), 0).is_empty(), "the target is held");
    assert_eq!(own(&run.send(at("23dgs", "cpu_high", "ALARM", "LOW", "h"), 0)), strings(&["23dgs"]));
    assert!(run.advance(30 * SECOND - 1).is_empty());
    assert_eq!(run.state.pending(), Pending { groups_awaiting_first_notice: 0, held_transitions: 1 });
    let released = run.advance(30 * SECOND);
    assert_eq!(run.state.pending(), Pending::default(), "nothing is left to happen");
    assert_eq!(
        suppressed(&released),
        vec![("abcd3".to_string(), Suppression::Inhibit { rule_id: "i1".into(), source_alarm_id: "d42bc".into() })]
    );
}

#[test]
fn a_source_arriving_during_the_hold_still_inhibits_and_no_source_means_normal_notification() {
    let mut run = Run::new(vec![inhibit_rule_1()]);
    run.send(at("target", "cpu_high", "ALARM", "HIGH", "h"), 0);
    run.send(at("source", "cpu_high", "ALARM", "CRITICAL", "h"), 10 * SECOND);
    assert_eq!(suppressed(&run.advance(30 * SECOND)).len(), 1);

    let mut alone = Run::new(vec![inhibit_rule_1()]);
    alone.send(at("target", "cpu_high", "ALARM", "HIGH", "h"), 0);
    assert_eq!(own(&alone.advance(30 * SECOND)), strings(&["target"]));
    // A source with another alarm name does not pair with the target (`group by alarmName`).
    let mut other = Run::new(vec![inhibit_rule_1()]);
    other.send(at("source", "disk_full", "ALARM", "CRITICAL", "h"), 0);
    other.send(at("target", "cpu_high", "ALARM", "HIGH", "h"), 0);
    assert_eq!(own(&other.advance(30 * SECOND)), strings(&["target"]));
}

#[test]
fn example_3_grouping_adds_one_notice_per_group_and_keeps_own_actions() {
    let mut run = Run::new(vec![group_rule_2()]);
    let mut effects = Vec::new();
    for (id, host) in [("at1", "host1"), ("at2", "host1"), ("at3", "host2")] {
        effects.extend(run.send(at(id, "cpu", "ALARM", "HIGH", host), 0));
    }
    assert_eq!(own(&effects), strings(&["at1", "at2", "at3"]));
    assert_eq!(run.state.pending(), Pending { groups_awaiting_first_notice: 2, held_transitions: 0 });
    let notices = run.advance(30 * SECOND);
    assert_eq!(run.state.pending(), Pending::default(), "the groups wait for their repeat only");
    assert_eq!(
        summary(&notices),
        vec![
            ("group_notification_rule_2_host1_alarm[2]".to_string(), strings(&["cd892"]), strings(&["at1", "at2"])),
            ("group_notification_rule_2_host2_alarm[1]".to_string(), strings(&["cd892"]), strings(&["at3"])),
        ]
    );
}

#[test]
fn example_4_a_silenced_alarm_stays_out_of_its_group() {
    let mut run = Run::new(vec![group_rule_2(), silence("s1", "targets {__severity__=LOW}", "2017-02-21T20:00:00Z", 2)]);
    let mut effects = run.send(at("at1", "a", "ALARM", "HIGH", "host1"), 0);
    effects.extend(run.send(at("at2", "a", "ALARM", "LOW", "host1"), 0));
    effects.extend(run.send(at("at3", "a", "OK", "HIGH", "host2"), 0));
    effects.extend(run.send(at("at4", "a", "ALARM", "HIGH", "host1"), 0));
    assert_eq!(suppressed(&effects).len(), 1);
    assert_eq!(
        summary(&run.advance(30 * SECOND)),
        vec![
            ("group_notification_rule_2_host1_alarm[2]".to_string(), strings(&["cd892"]), strings(&["at1", "at4"])),
            ("group_notification_rule_2_host2_ok[1]".to_string(), strings(&["ad892"]), strings(&["at3"])),
        ]
    );
}

#[test]
fn example_5_a_silenced_source_still_inhibits() {
    let mut run = Run::new(vec![
        silence("s1", "targets {__severity__=CRITICAL, hostname=host1}", "2017-02-21T15:00:00Z", 6),
        inhibit_rule_1(),
    ]);
    let first = run.send(at("at1", "cpu_high", "ALARM", "CRITICAL", "host1"), 0);
    assert_eq!(suppressed(&first), vec![("at1".to_string(), Suppression::Silence { rule_id: "s1".into() })]);
    assert!(run.send(at("at2", "cpu_high", "ALARM", "HIGH", "host2"), 0).is_empty());
    let released = run.advance(30 * SECOND);
    assert_eq!(suppressed(&released), vec![("at2".to_string(), Suppression::Inhibit { rule_id: "i1".into(), source_alarm_id: "at1".into() })]);
    assert!(own(&released).is_empty() && notices(&released).is_empty(), "no notification at all");
}

#[test]
fn example_6_an_inhibited_alarm_leaves_no_group_and_an_inactive_source_inhibits_nothing() {
    let mut run = Run::new(vec![inhibit_rule_1(), group_rule_2()]);
    let mut effects = run.send(at("at1", "cpu_high", "OK", "CRITICAL", "host1"), 0);
    effects.extend(run.send(at("at2", "cpu_high", "ALARM", "HIGH", "host2"), 0));
    effects.extend(run.send(at("at3", "cpu_high", "ALARM", "CRITICAL", "host1"), 0));
    effects.extend(run.advance(30 * SECOND));
    assert_eq!(suppressed(&effects).len(), 1, "{effects:?}");
    assert_eq!(suppressed(&effects)[0].0, "at2");
    assert_eq!(
        summary(&effects),
        vec![
            ("group_notification_rule_2_host1_alarm[1]".to_string(), strings(&["cd892"]), strings(&["at3"])),
            ("group_notification_rule_2_host1_ok[1]".to_string(), strings(&["ad892"]), strings(&["at1"])),
        ]
    );
    assert!(run.advance(31 * SECOND).is_empty(), "AT2 released after the groups' flush makes no host2 group");
    assert!(run.state.tenants[TENANT].groups.keys().all(|k| k.values != ["host2"]));
}

#[test]
fn example_7_sends_the_host2_alarm_group_and_the_host3_undetermined_group() {
    let mut run = Run::new(vec![
        silence("s1", "targets {__severity__=HIGH, hostname=host1}", "2017-02-21T15:00:00Z", 6),
        group_rule_2(),
        inhibit("i7", "source {severity=CRITICAL} targets {severity=HIGH} excluding {severity=LOW} group by hostname"),
    ]);
    let mut effects = Vec::new();
    for (id, state, severity, host) in [
        ("at1", "ALARM", "HIGH", "host1"),
        ("at2", "ALARM", "HIGH", "host2"),
        ("at3", "OK", "HIGH", "host1"),
        ("at4", "ALARM", "CRITICAL", "host2"),
        ("at5", "UNDETERMINED", "CRITICAL", "host3"),
    ] {
        effects.extend(run.send(at(id, &format!("alarm_{id}"), state, severity, host), 0));
    }
    effects.extend(run.advance(30 * SECOND));
    let mut quiet: Vec<String> = suppressed(&effects).into_iter().map(|(id, _)| id).collect();
    quiet.sort();
    assert_eq!(quiet, strings(&["at1", "at2", "at3"]));
    assert_eq!(
        summary(&effects),
        vec![
            ("group_notification_rule_2_host2_alarm[1]".to_string(), strings(&["cd892"]), strings(&["at4"])),
            ("group_notification_rule_2_host3_undetermined[1]".to_string(), strings(&["cf892"]), strings(&["at5"])),
        ]
    );
}

#[test]
fn a_group_repeats_while_members_stay_and_ends_when_they_leave() {
    let mut run = Run::new(vec![group_rule_2()]);
    run.send(at("a", "cpu", "ALARM", "HIGH", "host1"), 0);
    assert_eq!(notices(&run.advance(30 * SECOND))[0].sequence, 1);
    assert!(run.advance(30 * SECOND + 7200 * SECOND - 1).is_empty());
    let repeat = notices(&run.advance(30 * SECOND + 7200 * SECOND));
    assert_eq!((repeat.len(), repeat[0].sequence), (1, 2));
    run.send(at("a", "cpu", "OK", "HIGH", "host1"), 8000 * SECOND);
    let later = run.advance(30 * SECOND + 2 * 7200 * SECOND);
    assert_eq!(summary(&later), vec![("group_notification_rule_2_host1_ok[1]".to_string(), strings(&["ad892"]), strings(&["a"]))]);
    assert!(run.state.tenants[TENANT].groups.keys().all(|k| k.state != crate::model::AlarmState::Alarm), "the ALARM group closed");
}

#[test]
fn a_resolved_notice_of_a_notified_alarm_is_sent_even_when_a_silence_started_since() {
    for (notify_resolved, expect_sent) in [(true, true), (false, false)] {
        let mut run = Run::resolving(vec![], notify_resolved);
        let firing = at("a", "cpu", "ALARM", "HIGH", "host1");
        run.send(firing.clone(), 0);
        run.state.mark_notified(&firing);
        run.rules.upsert(silence("s1", "targets {hostname=host1}", "2017-02-21T20:00:00Z", 2));
        let effects = run.send(at("a", "cpu", "OK", "HIGH", "host1"), SECOND);
        assert_eq!(own(&effects).len() == 1, expect_sent, "notify_resolved_if_notified = {notify_resolved}");
    }
    // An alarm whose firing was never notified gets no resolved notice through a silence.
    let mut run = Run::new(vec![silence("s1", "targets {hostname=host1}", "2017-02-21T20:00:00Z", 2)]);
    run.send(at("b", "cpu", "ALARM", "HIGH", "host1"), 0);
    assert_eq!(suppressed(&run.send(at("b", "cpu", "OK", "HIGH", "host1"), SECOND)).len(), 1);
}

#[test]
fn targets_recovering_within_the_wait_of_their_source_recovering_stay_quiet() {
    let rule = inhibit("i", "source {severity=CRITICAL} targets {severity=HIGH} group by hostname");
    let mut run = Run::new(vec![rule]);
    run.send(at("src", "a", "ALARM", "CRITICAL", "h1"), 0);
    run.send(at("src", "a", "OK", "CRITICAL", "h1"), 100 * SECOND);
    // OK 10 s after the source left ALARM: suppressed; 40 s after (wait is 30 s): notified.
    run.send(at("t1", "b", "OK", "HIGH", "h1"), 110 * SECOND);
    run.send(at("t2", "b", "OK", "HIGH", "h1"), 140 * SECOND);
    let effects = run.advance(200 * SECOND);
    assert_eq!(suppressed(&effects).iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["t1"]);
    assert_eq!(own(&effects), strings(&["t2"]));
    // But the ALARM of a target whose source is no longer active is not inhibited.
    run.send(at("t3", "b", "ALARM", "HIGH", "h1"), 110 * SECOND);
    assert_eq!(own(&run.advance(300 * SECOND)), strings(&["t3"]));
}

#[test]
fn an_alarm_never_inhibits_itself() {
    let mut run = Run::new(vec![inhibit("i", "source {hostname=h1} targets {hostname=h1}")]);
    run.send(at("a", "x", "ALARM", "HIGH", "h1"), 0);
    assert_eq!(own(&run.advance(30 * SECOND)), strings(&["a"]));
}

#[test]
fn an_action_level_silence_mutes_only_the_named_method() {
    let mut run = Run::new(vec![group_rule_2(), silence("s1", "targets {__notificationName__=hipChat}", "2017-02-21T20:00:00Z", 2)]);
    let effects = run.send(at("a", "x", "ALARM", "HIGH", "h1"), 0);
    let Effect::Own { muted, .. } = &effects[0] else { panic!("own actions expected, got {effects:?}") };
    assert_eq!(muted.len(), 1);
    assert_eq!(notices(&run.advance(30 * SECOND)).len(), 1, "the alarm still joins its group");
}

#[test]
fn later_transitions_of_a_held_alarm_wait_behind_it_in_order() {
    let mut run = Run::new(vec![inhibit_rule_1(), group_rule_2()]);
    assert!(run.send(at("t", "cpu_high", "ALARM", "HIGH", "h1"), 0).is_empty());
    assert!(run.send(at("t", "cpu_high", "OK", "HIGH", "h1"), 5 * SECOND).is_empty(), "queued behind the held ALARM");
    let effects = run.advance(40 * SECOND);
    let states: Vec<_> = effects
        .iter()
        .filter_map(|e| if let Effect::Own { alarm, .. } = e { Some(alarm.new_state) } else { None })
        .collect();
    assert_eq!(states, [crate::model::AlarmState::Alarm, crate::model::AlarmState::Ok]);
}

#[test]
fn a_replayed_record_is_not_held_twice() {
    let mut run = Run::new(vec![inhibit_rule_1()]);
    let alarm = at("t", "cpu_high", "ALARM", "HIGH", "h1");
    run.state.transition(&run.rules, &run.sources, alarm.clone(), 7, 0, 0);
    run.state.transition(&run.rules, &run.sources, alarm, 7, 0, 0);
    assert_eq!(own(&run.advance(60 * SECOND)).len(), 1);
}

#[test]
fn rules_of_another_tenant_change_nothing() {
    let mut other = match silence("s1", "targets {hostname=host1}", "2017-02-21T20:00:00Z", 2) {
        Rule::Silence(s) => s,
        _ => unreachable!(),
    };
    other.meta.tenant_id = "someone-else".into();
    let mut run = Run::new(vec![Rule::Silence(other)]);
    assert_eq!(own(&run.send(at("a", "x", "ALARM", "HIGH", "host1"), 0)), strings(&["a"]));
}

#[test]
fn state_written_as_changes_and_read_back_behaves_the_same() {
    let rules = vec![inhibit_rule_1(), group_rule_2()];
    let mut run = Run::new(rules.clone());
    run.send(at("src", "cpu_high", "ALARM", "CRITICAL", "host1"), 0);
    run.send(at("held", "cpu_high", "ALARM", "HIGH", "host1"), 0);
    run.send(at("g", "mem", "ALARM", "LOW", "host2"), 0);
    let changes = run.state.take_changes();
    assert!(run.state.take_changes().is_empty(), "changes are taken once");

    let mut restored = Run::new(rules);
    // Sources are not partition state: the restored partition reads them from the topic too.
    restored.sources = run.sources.clone();
    for change in changes {
        let value = serde_json::from_str(&change.value.expect("everything written still exists")).expect("a row's value is JSON");
        let entity = serde_json::from_str(&serde_json::to_string(&change.entity).unwrap()).unwrap();
        restored.state.restore(entity, value).expect("a written row reads back");
    }
    let original = run.advance(30 * SECOND);
    let again = restored.advance(30 * SECOND);
    assert_eq!(summary(&original), summary(&again));
    assert_eq!(suppressed(&original), suppressed(&again));
    assert_eq!(run.state.next_due_ms(Some(0)), restored.state.next_due_ms(Some(0)));
}

#[test]
fn a_resolved_notice_of_an_alarm_notified_through_its_group_is_sent_through_a_silence() {
    let mut run = Run::new(vec![group_rule_2()]);
    run.send(at("a", "cpu", "ALARM", "HIGH", "host1"), 0);
    run.send(at("quiet", "cpu", "ALARM", "HIGH", "host1"), 0);
    assert_eq!(notices(&run.advance(30 * SECOND)).len(), 1);
    run.rules.upsert(silence("s1", "targets {hostname=host1}", "2017-02-21T20:00:00Z", 2));
    assert_eq!(own(&run.send(at("a", "cpu", "OK", "HIGH", "host1"), 31 * SECOND)), strings(&["a"]));
    assert_eq!(
        summary(&run.advance(61 * SECOND)),
        vec![("group_notification_rule_2_host1_ok[1]".to_string(), strings(&["ad892"]), strings(&["a"]))],
        "the resolved alarm joins its OK group"
    );
    // An alarm that joined after the notice was never announced: its OK stays silenced.
    run.send(at("late", "cpu", "ALARM", "HIGH", "host1"), 62 * SECOND);
    assert_eq!(suppressed(&run.send(at("late", "cpu", "OK", "HIGH", "host1"), 63 * SECOND)).len(), 1);
}

#[test]
fn a_hold_ends_in_record_time_and_only_once_every_earlier_source_is_known() {
    // A backlog: the target (stamped at 0) reaches the manager long after its 30 s wait, and
    // the source stamped at 10 s has not been routed yet when the target is applied.
    let mut run = Run::new(vec![inhibit_rule_1()]);
    let target = at("target", "cpu_high", "ALARM", "HIGH", "h");
    run.offset += 1;
    assert!(run.state.transition(&run.rules, &run.sources, target, run.offset, 0, 600 * SECOND).is_empty(), "held, however late it came");
    assert!(run.advance_with_sources_complete_below(600 * SECOND, 29 * SECOND).is_empty(), "not decided while sources before its end may be missing");
    run.route(&at("source", "cpu_high", "ALARM", "CRITICAL", "h"), 10 * SECOND);
    let decided = run.advance_with_sources_complete_below(600 * SECOND, 30 * SECOND);
    assert_eq!(suppressed(&decided).len(), 1, "the source that was waiting in the backlog inhibits it: {decided:?}");
}

#[test]
fn a_target_of_a_rule_without_a_wait_still_waits_for_the_sources_stamped_before_it() {
    let rule = inhibit("i0", "source {severity=CRITICAL} targets {severity=HIGH} group by hostname");
    let Rule::Inhibit(mut rule) = rule else { unreachable!() };
    rule.wait = Duration::ZERO;
    let mut run = Run::new(vec![Rule::Inhibit(rule)]);
    run.offset += 1;
    assert!(run.state.transition(&run.rules, &run.sources, at("t", "x", "ALARM", "HIGH", "h1"), run.offset, 5 * SECOND, 5 * SECOND).is_empty());
    assert_eq!(run.state.next_due_ms(Some(4 * SECOND)), None, "nothing to do until the sources reach its time");
    assert_eq!(run.state.next_due_ms(Some(5 * SECOND)), Some(i64::MIN), "then at once");
    run.route(&at("s", "x", "ALARM", "CRITICAL", "h1"), 4 * SECOND);
    assert_eq!(suppressed(&run.advance_with_sources_complete_below(5 * SECOND, 5 * SECOND)).len(), 1);
}

#[test]
fn source_rows_of_earlier_versions_are_read_only_to_be_deleted() {
    let mut state = ManagerState::new(true);
    let entity = super::state::Entity::Source { tenant: TENANT.into(), rule_id: "i1".into(), alarm_id: "a".into() };
    state.restore(entity.clone(), json!({"values": [["h"]], "active": true, "left_ms": null})).expect("an old row reads");
    assert_eq!(state.take_changes(), vec![super::state::Change { entity, value: None }]);
}
