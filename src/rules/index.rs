//! All rules of all tenants, indexed so that finding the rules that apply to a transition does
//! not cost a scan of every rule: each selector is filed under one of its equality pairs
//! (alarm name, metric name, a dimension, …), and a transition probes only the buckets of the
//! pairs it carries, then verifies those few candidates with [`matching`](super::matching).
//! Selectors with nothing indexable (empty, or only notification-level pairs) are kept in a
//! per-tenant "match-all" list. A tenant's rules are never returned for another tenant.
//!
//! It also says how a tenant's transitions may be spread over the alarm manager's partitions
//! ([`Spread`]) without splitting a group.
//!
//! It must not know about time (silence windows) or actions (notification-level pairs): the
//! alarm manager applies those to what the index returns.

use super::matching::{excluded, group_values, selector_matches};
use super::{GroupRule, InhibitRule, Key, Level, Rule, Selector, SilenceRule};
use crate::model::AlarmTransition;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, Default)]
pub struct RuleIndex {
    rules: HashMap<String, Rule>,
    tenants: HashMap<String, TenantIndex>,
}

#[derive(Clone, Debug, Default)]
struct TenantIndex {
    ids: HashSet<String>,
    silences: SelectorIndex,
    inhibit_targets: SelectorIndex,
    inhibit_sources: SelectorIndex,
    /// Group rules select by exclusions only, so every one is a candidate.
    groups: Vec<String>,
    /// Derived from the group rules whenever they change.
    spread: Spread,
}

/// How the transitions of one tenant are spread over the alarm manager's partitions. Every
/// member of a group must land on the group's partition, and every transition of an alarm on
/// one partition (its holds and memberships live there), so the key is chosen from what all of
/// the tenant's groups have in common.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Spread {
    /// No group rule: each alarm anywhere.
    #[default]
    ByAlarm,
    /// Every group rule groups by these keys (among others): members of one group share their
    /// values, so transitions are spread by them. An alarm without them joins no group and is
    /// spread by alarm.
    ByKeys(Vec<Key>),
    /// The group rules have no key in common (or one groups the whole tenant): one partition.
    WholeTenant,
}

impl Spread {
    /// The keys all `rules` group by, in the first rule's order; notification-level keys group
    /// nothing, so they do not count.
    fn of<'a>(mut rules: impl Iterator<Item = &'a GroupRule>) -> Spread {
        let grouping = |rule: &GroupRule| -> Vec<Key> { rule.spec.group_by.iter().filter(|k| k.level() != Level::Notification).cloned().collect() };
        let Some(first) = rules.next() else { return Spread::ByAlarm };
        let mut common = grouping(first);
        for rule in rules {
            let keys = grouping(rule);
            common.retain(|key| keys.contains(key));
        }
        if common.is_empty() {
            Spread::WholeTenant
        } else {
            Spread::ByKeys(common)
        }
    }

    /// The record key that places `t` on the alarm manager's filtered topic.
    pub fn key(&self, t: &AlarmTransition) -> String {
        const SEPARATOR: char = '\u{1f}';
        let by_alarm = || format!("{}{SEPARATOR}{}", t.tenant_id, t.alarm_id);
        match self {
            Spread::ByAlarm => by_alarm(),
            Spread::ByKeys(keys) => match group_values(keys, t) {
                Some(values) => {
                    let mut key = t.tenant_id.clone();
                    for value in values {
                        key.push(SEPARATOR);
                        key.push_str(&value);
                    }
                    key
                }
                None => by_alarm(),
            },
            Spread::WholeTenant => t.tenant_id.clone(),
        }
    }
}

/// Rule ids by (canonical key, value) of one pair of their selector.
#[derive(Clone, Debug, Default)]
struct SelectorIndex {
    by_pair: HashMap<String, HashMap<String, Vec<String>>>,
    match_all: Vec<String>,
}

/// Indexed values of case-free keys are stored and probed upper-cased.
fn case_free(key: &Key) -> bool {
    matches!(key, Key::Severity | Key::State)
}

fn index_value(key: &Key, value: &str) -> String {
    if case_free(key) {
        value.to_ascii_uppercase()
    } else {
        value.to_owned()
    }
}

/// The pair a selector is filed under: the most selective kind of key it has.
fn indexed_pair(selector: &Selector) -> Option<(&Key, &str)> {
    let rank = |key: &Key| match key {
        Key::AlarmId => 0,
        Key::AlarmName => 1,
        Key::AlarmDefinitionId => 2,
        Key::Dimension(_) => 3,
        Key::MetricName => 4,
        Key::LifecycleState | Key::Link => 5,
        Key::Severity => 6,
        Key::State => 7,
        Key::NotificationName | Key::Type | Key::Address => 8,
    };
    selector
        .iter()
        .filter(|(key, _)| key.level() != Level::Notification)
        .min_by_key(|(key, _)| rank(key))
        .map(|(key, value)| (key, value.as_str()))
}

impl SelectorIndex {
    fn insert(&mut self, selector: &Selector, id: &str) {
        match indexed_pair(selector) {
            Some((key, value)) => self
                .by_pair
                .entry(key.canonical().to_owned())
                .or_default()
                .entry(index_value(key, value))
                .or_default()
                .push(id.to_owned()),
            None => self.match_all.push(id.to_owned()),
        }
    }

    fn remove(&mut self, selector: &Selector, id: &str) {
        match indexed_pair(selector) {
            Some((key, value)) => {
                let canonical = key.canonical();
                if let Some(values) = self.by_pair.get_mut(canonical) {
                    let value = index_value(key, value);
                    if let Some(ids) = values.get_mut(&value) {
                        ids.retain(|i| i != id);
                        if ids.is_empty() {
                            values.remove(&value);
                        }
                    }
                    if values.is_empty() {
                        self.by_pair.remove(canonical);
                    }
                }
            }
            None => self.match_all.retain(|i| i != id),
        }
    }

    /// Ids filed under a pair the transition carries, plus the match-all ones; may repeat.
    fn candidates<'a>(&'a self, t: &AlarmTransition, out: &mut Vec<&'a str>) {
        out.extend(self.match_all.iter().map(String::as_str));
        if self.by_pair.is_empty() {
            return;
        }
        let mut probe = |key: &str, value: &str| {
            if let Some(ids) = self.by_pair.get(key).and_then(|values| values.get(value)) {
                out.extend(ids.iter().map(String::as_str));
            }
        };
        probe(Key::AlarmId.canonical(), &t.alarm_id);
        probe(Key::AlarmName.canonical(), &t.alarm_name);
        probe(Key::AlarmDefinitionId.canonical(), &t.alarm_definition_id);
        probe(Key::Severity.canonical(), &t.severity.to_ascii_uppercase());
        probe(Key::State.canonical(), t.new_state.as_str());
        if let Some(value) = &t.lifecycle_state {
            probe(Key::LifecycleState.canonical(), value);
        }
        if let Some(value) = &t.link {
            probe(Key::Link.canonical(), value);
        }
        for metric in &t.metrics {
            probe(Key::MetricName.canonical(), &metric.name);
            for (key, value) in &metric.dimensions {
                probe(key, value);
            }
        }
    }
}

/// Candidate ids without repeats, in a deterministic order.
fn unique(mut ids: Vec<&str>) -> Vec<&str> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn by_name<T>(mut rules: Vec<T>, meta: impl Fn(&T) -> (&str, &str)) -> Vec<T> {
    rules.sort_by(|a, b| meta(a).cmp(&meta(b)));
    rules
}

impl RuleIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_rules(rules: impl IntoIterator<Item = Rule>) -> Self {
        let mut index = Self::new();
        for rule in rules {
            index.upsert(rule);
        }
        index
    }

    /// Adds a rule, replacing one with the same id (even if its tenant changed).
    pub fn upsert(&mut self, rule: Rule) {
        let id = rule.meta().id.clone();
        self.remove(&id);
        let tenant = self.tenants.entry(rule.meta().tenant_id.clone()).or_default();
        tenant.ids.insert(id.clone());
        match &rule {
            Rule::Silence(r) => tenant.silences.insert(&r.spec.matchers, &id),
            Rule::Inhibit(r) => {
                tenant.inhibit_targets.insert(&r.spec.target, &id);
                tenant.inhibit_sources.insert(&r.spec.source, &id);
            }
            Rule::Group(_) => tenant.groups.push(id.clone()),
        }
        let regroups = matches!(rule, Rule::Group(_));
        let tenant_id = rule.meta().tenant_id.clone();
        self.rules.insert(id, rule);
        if regroups {
            self.respread(&tenant_id);
        }
    }

    fn respread(&mut self, tenant_id: &str) {
        let Some(tenant) = self.tenants.get(tenant_id) else { return };
        let spread = Spread::of(tenant.groups.iter().filter_map(|id| match self.rules.get(id) {
            Some(Rule::Group(rule)) => Some(rule),
            _ => None,
        }));
        if let Some(tenant) = self.tenants.get_mut(tenant_id) {
            tenant.spread = spread;
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<Rule> {
        let rule = self.rules.remove(id)?;
        let tenant_id = &rule.meta().tenant_id;
        if let Some(tenant) = self.tenants.get_mut(tenant_id) {
            tenant.ids.remove(id);
            match &rule {
                Rule::Silence(r) => tenant.silences.remove(&r.spec.matchers, id),
                Rule::Inhibit(r) => {
                    tenant.inhibit_targets.remove(&r.spec.target, id);
                    tenant.inhibit_sources.remove(&r.spec.source, id);
                }
                Rule::Group(_) => tenant.groups.retain(|i| i != id),
            }
            if tenant.ids.is_empty() {
                self.tenants.remove(tenant_id);
            } else if matches!(rule, Rule::Group(_)) {
                let tenant_id = tenant_id.clone();
                self.respread(&tenant_id);
            }
        }
        Some(rule)
    }

    /// Replaces every rule of one tenant by `rules` (all of that tenant).
    pub fn replace_tenant(&mut self, tenant_id: &str, rules: Vec<Rule>) {
        let old: Vec<String> = self.tenants.get(tenant_id).map(|t| t.ids.iter().cloned().collect()).unwrap_or_default();
        for id in old {
            self.remove(&id);
        }
        for rule in rules {
            self.upsert(rule);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any tenant has a rule.
    pub fn has_tenants(&self) -> bool {
        !self.tenants.is_empty()
    }

    /// Whether the tenant has any rule (its transitions then go through the alarm manager).
    pub fn has_tenant(&self, tenant_id: &str) -> bool {
        self.tenants.contains_key(tenant_id)
    }

    /// How the tenant's transitions are spread over the alarm manager's partitions.
    pub fn spread(&self, tenant_id: &str) -> Spread {
        self.tenants.get(tenant_id).map(|t| t.spread.clone()).unwrap_or_default()
    }

    /// The tenant's rules, by name.
    pub fn tenant_rules(&self, tenant_id: &str) -> Vec<&Rule> {
        let Some(tenant) = self.tenants.get(tenant_id) else { return Vec::new() };
        by_name(tenant.ids.iter().filter_map(|id| self.rules.get(id)).collect(), |r| (r.meta().name.as_str(), r.meta().id.as_str()))
    }

    /// Silence rules of t's tenant whose selector matches t (alarm and metric level); not
    /// filtered by time window or notification-level pairs.
    pub fn silences_for(&self, t: &AlarmTransition) -> Vec<&SilenceRule> {
        let Some(tenant) = self.tenants.get(&t.tenant_id) else { return Vec::new() };
        let mut ids = Vec::new();
        tenant.silences.candidates(t, &mut ids);
        let rules = unique(ids)
            .into_iter()
            .filter_map(|id| match self.rules.get(id) {
                Some(Rule::Silence(r)) if selector_matches(&r.spec.matchers, t) => Some(r),
                _ => None,
            })
            .collect();
        by_name(rules, |r: &&SilenceRule| (r.meta.name.as_str(), r.meta.id.as_str()))
    }

    /// Inhibit rules of t's tenant whose TARGET selector matches t, t not excluded.
    pub fn inhibits_as_target(&self, t: &AlarmTransition) -> Vec<&InhibitRule> {
        self.inhibits(t, |tenant| &tenant.inhibit_targets, |r| &r.spec.target)
    }

    /// Inhibit rules of t's tenant whose SOURCE selector matches t, t not excluded.
    pub fn inhibits_as_source(&self, t: &AlarmTransition) -> Vec<&InhibitRule> {
        self.inhibits(t, |tenant| &tenant.inhibit_sources, |r| &r.spec.source)
    }

    fn inhibits(&self, t: &AlarmTransition, side: impl Fn(&TenantIndex) -> &SelectorIndex, selector: impl Fn(&InhibitRule) -> &Selector) -> Vec<&InhibitRule> {
        let Some(tenant) = self.tenants.get(&t.tenant_id) else { return Vec::new() };
        let mut ids = Vec::new();
        side(tenant).candidates(t, &mut ids);
        let rules = unique(ids)
            .into_iter()
            .filter_map(|id| match self.rules.get(id) {
                Some(Rule::Inhibit(r)) if selector_matches(selector(r), t) && !excluded(&r.spec.exclusions, t) => Some(r),
                _ => None,
            })
            .collect();
        by_name(rules, |r: &&InhibitRule| (r.meta.name.as_str(), r.meta.id.as_str()))
    }

    /// Group rules of t's tenant that do not exclude t and for which t has every group-by value.
    pub fn groups_for(&self, t: &AlarmTransition) -> Vec<&GroupRule> {
        let Some(tenant) = self.tenants.get(&t.tenant_id) else { return Vec::new() };
        let rules = tenant
            .groups
            .iter()
            .filter_map(|id| match self.rules.get(id) {
                Some(Rule::Group(r)) if !excluded(&r.spec.exclusions, t) && group_values(&r.spec.group_by, t).is_some() => Some(r),
                _ => None,
            })
            .collect();
        by_name(rules, |r: &&GroupRule| (r.meta.name.as_str(), r.meta.id.as_str()))
    }

    pub fn inhibit(&self, id: &str) -> Option<&InhibitRule> {
        match self.rules.get(id) {
            Some(Rule::Inhibit(r)) => Some(r),
            _ => None,
        }
    }

    pub fn group(&self, id: &str) -> Option<&GroupRule> {
        match self.rules.get(id) {
            Some(Rule::Group(r)) => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{aql, RuleMeta};
    use std::time::Duration;

    fn meta(id: &str, tenant: &str) -> RuleMeta {
        RuleMeta { id: id.into(), tenant_id: tenant.into(), name: format!("name-{id}"), description: String::new() }
    }

    fn silence(id: &str, tenant: &str, expression: &str) -> Rule {
        Rule::Silence(SilenceRule {
            meta: meta(id, tenant),
            spec: aql::parse_silence(expression).unwrap(),
            start_time: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            duration: Duration::from_secs(60),
        })
    }

    fn inhibit(id: &str, expression: &str) -> Rule {
        Rule::Inhibit(InhibitRule { meta: meta(id, "t"), spec: aql::parse_inhibit(expression).unwrap(), wait: Duration::from_secs(30) })
    }

    fn group(id: &str, expression: &str) -> Rule {
        Rule::Group(GroupRule {
            meta: meta(id, "t"),
            spec: aql::parse_group(expression).unwrap(),
            group_wait: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(60),
            alarm_actions: vec![],
            ok_actions: vec![],
            undetermined_actions: vec![],
        })
    }

    fn alarm(tenant: &str, name: &str, severity: &str, host: &str) -> AlarmTransition {
        let raw = serde_json::json!({
            "tenantId": tenant, "alarmId": "a", "alarmDefinitionId": "d",
            "metrics": [{"name": "cpu", "dimensions": {"hostname": host}}],
            "alarmName": name, "alarmDescription": "", "oldState": "OK", "newState": "ALARM",
            "actionsEnabled": true, "stateChangeReason": "r", "severity": severity, "link": null,
            "lifecycleState": null, "timestamp": 0,
        });
        let serde_json::Value::Object(raw) = raw else { unreachable!() };
        crate::ingest::transition(raw).unwrap()
    }

    fn ids<T>(rules: Vec<&T>, id: impl Fn(&T) -> &str) -> Vec<String> {
        rules.into_iter().map(|r| id(r).to_owned()).collect()
    }

    #[test]
    fn silences_are_found_through_their_indexed_pair_and_verified() {
        let index = RuleIndex::from_rules([
            silence("host1", "t", "targets {hostname=host1}"),
            silence("host1-low", "t", "targets {hostname=host1, severity=low}"),
            silence("cpu", "t", "targets cpu"),
            silence("all", "t", ""),
            silence("hipchat-only", "t", "targets {__notificationName__=hipChat}"),
            silence("host2", "t", "targets {hostname=host2}"),
        ]);
        let found = ids(index.silences_for(&alarm("t", "x", "LOW", "host1")), |r: &SilenceRule| &r.meta.id);
        assert_eq!(found, ["all", "cpu", "hipchat-only", "host1", "host1-low"]);
        let found = ids(index.silences_for(&alarm("t", "x", "HIGH", "host1")), |r: &SilenceRule| &r.meta.id);
        assert_eq!(found, ["all", "cpu", "hipchat-only", "host1"]);
    }

    #[test]
    fn a_tenant_never_sees_another_tenants_rules() {
        let index = RuleIndex::from_rules([silence("a", "tenant-a", "targets {hostname=h}"), silence("b", "tenant-b", "")]);
        assert_eq!(ids(index.silences_for(&alarm("tenant-a", "x", "LOW", "h")), |r: &SilenceRule| &r.meta.id), ["a"]);
        assert!(index.silences_for(&alarm("tenant-c", "x", "LOW", "h")).is_empty());
        assert!(index.has_tenant("tenant-b") && !index.has_tenant("tenant-c"));
        assert_eq!(index.tenant_rules("tenant-a").len(), 1);
    }

    #[test]
    fn inhibit_rules_are_found_from_either_side_and_exclusions_apply_to_both() {
        let index = RuleIndex::from_rules([inhibit("i", "source {severity=CRITICAL} targets {severity=HIGH} excluding {hostname=h9} group by hostname")]);
        assert_eq!(index.inhibits_as_source(&alarm("t", "x", "critical", "h1")).len(), 1);
        assert!(index.inhibits_as_target(&alarm("t", "x", "critical", "h1")).is_empty());
        assert_eq!(index.inhibits_as_target(&alarm("t", "x", "HIGH", "h1")).len(), 1);
        assert!(index.inhibits_as_target(&alarm("t", "x", "HIGH", "h9")).is_empty());
        assert!(index.inhibits_as_source(&alarm("t", "x", "CRITICAL", "h9")).is_empty());
    }

    #[test]
    fn group_rules_skip_excluded_transitions_and_those_without_the_keys() {
        let index = RuleIndex::from_rules([group("g", "excluding {alarm_name=noisy} group by hostname"), group("r", "group by region")]);
        assert_eq!(ids(index.groups_for(&alarm("t", "x", "LOW", "h")), |r: &GroupRule| &r.meta.id), ["g"]);
        assert!(index.groups_for(&alarm("t", "noisy", "LOW", "h")).is_empty());
    }

    #[test]
    fn upsert_moves_a_rule_and_remove_forgets_it() {
        let mut index = RuleIndex::from_rules([silence("s", "t", "targets {hostname=h1}")]);
        index.upsert(silence("s", "t", "targets {hostname=h2}"));
        assert!(index.silences_for(&alarm("t", "x", "LOW", "h1")).is_empty());
        assert_eq!(index.silences_for(&alarm("t", "x", "LOW", "h2")).len(), 1);
        index.upsert(silence("s", "other", "targets {hostname=h2}"));
        assert!(index.silences_for(&alarm("t", "x", "LOW", "h2")).is_empty());
        assert!(!index.has_tenant("t"), "a tenant without rules is forgotten");
        assert!(index.remove("s").is_some());
        assert!(index.is_empty() && !index.has_tenant("other"));
        assert!(index.remove("s").is_none());
    }

    #[test]
    fn a_tenant_is_spread_by_the_keys_all_its_group_rules_share() {
        let key = |index: &RuleIndex, host: &str| index.spread("t").key(&alarm("t", "x", "LOW", host));
        let mut index = RuleIndex::from_rules([silence("s", "t", "targets {hostname=h1}")]);
        assert_eq!(index.spread("t"), Spread::ByAlarm, "no group rule: by alarm");
        assert_eq!(key(&index, "h1"), "t\u{1f}a");
        index.upsert(group("by-host", "group by hostname, service"));
        index.upsert(group("by-host-name", "group by __alarmName__, hostname, __type__"));
        assert_eq!(index.spread("t"), Spread::ByKeys(vec![Key::Dimension("hostname".into())]));
        assert_eq!(key(&index, "h1"), "t\u{1f}h1", "members of one host's groups share a key");
        assert_ne!(key(&index, "h1"), key(&index, "h2"));
        let no_host = RuleIndex::from_rules([group("g", "group by region")]);
        assert_eq!(no_host.spread("t").key(&alarm("t", "x", "LOW", "h1")), "t\u{1f}a", "without the keys, by alarm");
        index.upsert(group("by-region", "group by region"));
        assert_eq!(index.spread("t"), Spread::WholeTenant, "nothing in common: one partition for the tenant");
        assert_eq!(key(&index, "h1"), "t");
        index.remove("by-region");
        assert_eq!(index.spread("t"), Spread::ByKeys(vec![Key::Dimension("hostname".into())]), "removing a rule spreads again");
        assert_eq!(index.spread("other"), Spread::ByAlarm);
    }
}
