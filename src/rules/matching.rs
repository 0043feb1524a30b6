//! Whether a transition (and one of its notification methods) satisfies a rule's selectors, as
//! `docs/rules.md` (Matching) describes: all pairs must hold (AND); metric-level pairs must
//! all hold on ONE metric of the alarm (the strict reading); an exclusion applies if
//! ANY of its pairs matches; notification-level pairs (`__notificationName__`, `__type__`,
//! `__address__`) are about individual actions and are checked against a method separately.
//! `__severity__` and `__state__` compare without regard to case (`severity=high` works);
//! everything else compares exactly.
//!
//! Pure functions; they must not know about rule storage, time sources or engines.

use super::{Key, Level, Selector, SilenceRule};
use crate::model::{AlarmTransition, Metric, NotificationMethod};

/// The value of an alarm-level key; `None` for metric- or notification-level keys and for
/// absent values (no link, no lifecycle state).
pub fn alarm_value<'a>(t: &'a AlarmTransition, key: &Key) -> Option<&'a str> {
    match key {
        Key::AlarmName => Some(&t.alarm_name),
        Key::AlarmId => Some(&t.alarm_id),
        Key::AlarmDefinitionId => Some(&t.alarm_definition_id),
        Key::Severity => Some(&t.severity),
        Key::State => Some(t.new_state.as_str()),
        Key::LifecycleState => t.lifecycle_state.as_deref(),
        Key::Link => t.link.as_deref(),
        _ => None,
    }
}

fn metric_value<'a>(metric: &'a Metric, key: &Key) -> Option<&'a str> {
    match key {
        Key::MetricName => Some(&metric.name),
        Key::Dimension(name) => metric.dimension(name),
        _ => None,
    }
}

fn method_value<'a>(method: &'a NotificationMethod, key: &Key) -> Option<&'a str> {
    match key {
        Key::NotificationName => method.name.as_deref(),
        Key::Type => Some(&method.kind),
        Key::Address => method.address.as_deref(),
        _ => None,
    }
}

/// Whether `actual` satisfies a rule's `wanted` value for `key`.
pub fn value_matches(key: &Key, actual: &str, wanted: &str) -> bool {
    match key {
        Key::Severity | Key::State | Key::Type => actual.eq_ignore_ascii_case(wanted),
        _ => actual == wanted,
    }
}

fn alarm_pair_holds(t: &AlarmTransition, key: &Key, wanted: &str) -> bool {
    alarm_value(t, key).is_some_and(|actual| value_matches(key, actual, wanted))
}

fn metric_pair_holds(metric: &Metric, key: &Key, wanted: &str) -> bool {
    metric_value(metric, key).is_some_and(|actual| value_matches(key, actual, wanted))
}

/// All alarm- and metric-level pairs hold (metric-level ones on one single metric);
/// notification-level pairs are ignored here. An empty selector matches everything.
pub fn selector_matches(selector: &Selector, t: &AlarmTransition) -> bool {
    let mut metric_pairs = Vec::new();
    for (key, wanted) in selector {
        match key.level() {
            Level::Alarm => {
                if !alarm_pair_holds(t, key, wanted) {
                    return false;
                }
            }
            Level::Metric => metric_pairs.push((key, wanted)),
            Level::Notification => {}
        }
    }
    metric_pairs.is_empty() || t.metrics.iter().any(|metric| metric_pairs.iter().all(|(key, wanted)| metric_pair_holds(metric, key, wanted)))
}

/// The selector's notification-level pairs all hold for this method (true when it has none).
pub fn selector_matches_action(selector: &Selector, method: &NotificationMethod) -> bool {
    selector
        .iter()
        .filter(|(key, _)| key.level() == Level::Notification)
        .all(|(key, wanted)| method_value(method, key).is_some_and(|actual| value_matches(key, actual, wanted)))
}

/// True when the selector names a notification method (so it applies to single actions).
pub fn has_action_pairs(selector: &Selector) -> bool {
    selector.iter().any(|(key, _)| key.level() == Level::Notification)
}

/// ANY alarm- or metric-level exclusion pair matches (a metric pair on any metric);
/// notification-level exclusion pairs are ignored here.
pub fn excluded(exclusions: &Selector, t: &AlarmTransition) -> bool {
    exclusions.iter().any(|(key, wanted)| match key.level() {
        Level::Alarm => alarm_pair_holds(t, key, wanted),
        Level::Metric => t.metrics.iter().any(|metric| metric_pair_holds(metric, key, wanted)),
        Level::Notification => false,
    })
}

/// ANY notification-level exclusion pair matches the method.
pub fn excluded_action(exclusions: &Selector, method: &NotificationMethod) -> bool {
    exclusions
        .iter()
        .filter(|(key, _)| key.level() == Level::Notification)
        .any(|(key, wanted)| method_value(method, key).is_some_and(|actual| value_matches(key, actual, wanted)))
}

/// The values of `keys` on one metric (alarm-level keys from the transition), or `None` if one
/// is missing. Notification-level keys are skipped: grouping by them has no effect.
fn values_on(keys: &[Key], t: &AlarmTransition, metric: Option<&Metric>) -> Option<Vec<String>> {
    keys.iter()
        .filter(|key| key.level() != Level::Notification)
        .map(|key| match key.level() {
            Level::Alarm => alarm_value(t, key).map(str::to_owned),
            _ => metric.and_then(|m| metric_value(m, key)).map(str::to_owned),
        })
        .collect()
}

fn needs_metric(keys: &[Key]) -> bool {
    keys.iter().any(|key| key.level() == Level::Metric)
}

/// Group-by values: alarm-level keys from the transition, metric-level keys from the FIRST metric
/// (in message order) that has all of them. `None` if a key has no value: the transition then
/// joins none of that rule's groups.
pub fn group_values(keys: &[Key], t: &AlarmTransition) -> Option<Vec<String>> {
    if !needs_metric(keys) {
        return values_on(keys, t, None);
    }
    t.metrics.iter().find_map(|metric| values_on(keys, t, Some(metric)))
}

/// Every distinct value tuple over the metrics that have all the keys (an inhibit source with
/// several hosts "matches multiple times"), in order of first occurrence; empty when
/// none. Without metric-level keys there is exactly one tuple (if the alarm-level values exist).
pub fn value_sets(keys: &[Key], t: &AlarmTransition) -> Vec<Vec<String>> {
    if !needs_metric(keys) {
        return values_on(keys, t, None).into_iter().collect();
    }
    let mut sets: Vec<Vec<String>> = Vec::new();
    for values in t.metrics.iter().filter_map(|metric| values_on(keys, t, Some(metric))) {
        if !sets.contains(&values) {
            sets.push(values);
        }
    }
    sets
}

/// `start_time <= at < start_time + duration`, `at` being the transition's own timestamp.
pub fn silence_active(rule: &SilenceRule, at_ms: i64) -> bool {
    rule.start_time.timestamp_millis() <= at_ms && at_ms < silence_end_ms(rule)
}

/// When a silence's window ends (exclusive), in Unix milliseconds.
pub fn silence_end_ms(rule: &SilenceRule) -> i64 {
    rule.start_time.timestamp_millis().saturating_add(rule.duration.as_millis().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{aql, RuleMeta, SilenceSpec};
    use std::time::Duration;

    fn alarm(metrics: serde_json::Value) -> AlarmTransition {
        let raw = serde_json::json!({
            "tenantId": "t", "alarmId": "a1", "alarmDefinitionId": "d1", "metrics": metrics,
            "alarmName": "cpu_high", "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
            "actionsEnabled": true, "stateChangeReason": "r", "severity": "HIGH", "link": null,
            "lifecycleState": null, "timestamp": 1_000_000,
        });
        let serde_json::Value::Object(raw) = raw else { unreachable!() };
        crate::ingest::transition(raw).unwrap()
    }

    fn two_hosts() -> AlarmTransition {
        alarm(serde_json::json!([
            {"name": "cpu", "dimensions": {"hostname": "h1", "service": "compute"}},
            {"name": "mem", "dimensions": {"hostname": "h2", "service": "compute"}},
        ]))
    }

    fn targets(expression: &str) -> Selector {
        aql::parse_silence(expression).unwrap().matchers
    }

    #[test]
    fn all_pairs_must_hold_with_aliases_and_case_free_severity() {
        let t = two_hosts();
        assert!(selector_matches(&targets("targets {severity=high, alarm_name=cpu_high}"), &t));
        assert!(selector_matches(&targets("targets {__state__=alarm}"), &t));
        assert!(!selector_matches(&targets("targets {severity=HIGH, alarmName=other}"), &t));
        assert!(!selector_matches(&targets("targets {alarmName=CPU_HIGH}"), &t), "names compare exactly");
        assert!(selector_matches(&Selector::new(), &t));
    }

    #[test]
    fn metric_pairs_must_hold_on_one_metric() {
        let t = two_hosts();
        assert!(selector_matches(&targets("targets cpu{hostname=h1}"), &t));
        assert!(selector_matches(&targets("targets {hostname=h2}"), &t));
        assert!(!selector_matches(&targets("targets cpu{hostname=h2}"), &t), "cpu is on h1, mem on h2");
        assert!(!selector_matches(&targets("targets {region=r1}"), &t));
    }

    #[test]
    fn an_exclusion_applies_when_any_pair_matches() {
        let t = two_hosts();
        let exclusions = aql::parse_group("excluding {hostname=h9, service=compute}").unwrap().exclusions;
        assert!(excluded(&exclusions, &t));
        let exclusions = aql::parse_group("excluding {hostname=h9, severity=LOW}").unwrap().exclusions;
        assert!(!excluded(&exclusions, &t));
        assert!(excluded(&aql::parse_group("excluding mem").unwrap().exclusions, &t));
    }

    #[test]
    fn notification_pairs_apply_to_single_actions() {
        let method = |name: &str, kind: &str| NotificationMethod { id: "m".into(), kind: kind.into(), name: Some(name.into()), address: Some("x".into()), period: 0 };
        let selector = targets("targets hostAlive{hostname=h1, __notificationName__=hipChat}");
        assert!(has_action_pairs(&selector));
        assert!(selector_matches_action(&selector, &method("hipChat", "hipchat")));
        assert!(!selector_matches_action(&selector, &method("pager", "pagerduty")));
        assert!(selector_matches_action(&targets("targets {__type__=WEBHOOK}"), &method("w", "webhook")), "types compare case-free");
        assert!(selector_matches_action(&targets("targets {hostname=h1}"), &method("any", "email")));
        let exclusions = aql::parse_group("excluding {__type__=email}").unwrap().exclusions;
        assert!(excluded_action(&exclusions, &method("e", "email")));
        assert!(!excluded(&exclusions, &two_hosts()), "notification-level exclusions do not exclude the alarm");
    }

    #[test]
    fn group_values_come_from_the_first_metric_with_every_key() {
        let t = two_hosts();
        let keys = aql::parse_group("group by hostname, alarm_name").unwrap().group_by;
        assert_eq!(group_values(&keys, &t), Some(vec!["h1".to_owned(), "cpu_high".to_owned()]));
        assert_eq!(value_sets(&keys, &t), vec![vec!["h1".to_owned(), "cpu_high".to_owned()], vec!["h2".to_owned(), "cpu_high".to_owned()]]);
        assert_eq!(group_values(&aql::parse_group("group by region").unwrap().group_by, &t), None);
        assert!(value_sets(&aql::parse_group("group by region").unwrap().group_by, &t).is_empty());
        assert_eq!(value_sets(&[], &t), vec![Vec::<String>::new()], "no keys: one empty tuple");
        assert_eq!(group_values(&[Key::NotificationName], &t), Some(vec![]), "grouping by a method key has no effect");
    }

    #[test]
    fn a_silence_window_includes_its_start_and_excludes_its_end() {
        let rule = SilenceRule {
            meta: RuleMeta { id: "s".into(), tenant_id: "t".into(), name: "s".into(), description: String::new() },
            spec: SilenceSpec::default(),
            start_time: chrono::DateTime::from_timestamp_millis(1_000).unwrap(),
            duration: Duration::from_secs(2),
        };
        assert!(!silence_active(&rule, 999));
        assert!(silence_active(&rule, 1_000));
        assert!(silence_active(&rule, 2_999));
        assert!(!silence_active(&rule, 3_000));
    }
}
