//! Alarm-manager rules (grouping, silencing, inhibition): what a rule is once parsed, whatever
//! shape it arrived in (the seed blueprint's JSON fields or an AQL `expression`), and the pure
//! logic around it — the AQL parser ([`aql`]), durations ([`duration`]), matching a transition
//! against a selector ([`matching`]) and the per-tenant index that keeps matching cost from
//! growing with the number of rules ([`index`]).
//!
//! The parsing and matching modules are pure (no I/O, no clock): the database lives in [`store`],
//! keeping every engine's copy current in [`live`], the REST API in `crate::api`, and the engine
//! that applies rules to transitions in `crate::engines::manager`. The semantics are
//! documented in `docs/rules.md`.

pub mod aql;
pub mod duration;
pub mod index;
pub mod live;
pub mod matching;
pub mod store;

use chrono::{DateTime, Utc};
use std::time::Duration;

/// A key a rule can name. Keyword keys have aliases (`__alarmName__`, `alarmName`,
/// `alarm_name`); anything else is a metric dimension key, compared verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    AlarmName,
    AlarmId,
    AlarmDefinitionId,
    Severity,
    State,
    LifecycleState,
    Link,
    /// The name of one of the alarm's metrics.
    MetricName,
    /// The name of a notification method the transition would be sent to.
    NotificationName,
    /// That method's type.
    Type,
    /// That method's address.
    Address,
    Dimension(String),
}

/// Where a key's value comes from, which decides how a selector's pairs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A field of the transition.
    Alarm,
    /// A field of one metric: all metric-level pairs of a selector must hold on the same metric.
    Metric,
    /// A field of one notification method: the rule applies to individual actions.
    Notification,
}

/// Pairs that must all hold (AND), in the order written, no key twice.
pub type Selector = Vec<(Key, String)>;

/// `[excluding <selector>] [group by k1, k2 ...]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupSpec {
    pub group_by: Vec<Key>,
    /// The rule does not apply to a transition matching ANY one of these pairs.
    pub exclusions: Selector,
}

/// `[source <selector>] [targets <selector>] [excluding <selector>] [group by k, ...]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InhibitSpec {
    pub source: Selector,
    pub target: Selector,
    /// Keys whose values must be equal in source and target (`group by` / `equal`).
    pub equal: Vec<Key>,
    /// Excluded from both sides (ANY pair).
    pub exclusions: Selector,
}

/// `targets <selector>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SilenceSpec {
    pub matchers: Selector,
}

/// The parts every rule has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRule {
    pub meta: RuleMeta,
    pub spec: GroupSpec,
    /// Time from a group's first member to its first grouped notification.
    pub group_wait: Duration,
    /// Time between re-sends while the group still has members in its state.
    pub repeat_interval: Duration,
    /// Notification-method ids per new state.
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub undetermined_actions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InhibitRule {
    pub meta: RuleMeta,
    pub spec: InhibitSpec,
    /// How long a target transition is held for a source to appear, and how long targets' OK
    /// and UNDETERMINED notifications stay suppressed after the source leaves ALARM.
    pub wait: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceRule {
    pub meta: RuleMeta,
    pub spec: SilenceSpec,
    pub start_time: DateTime<Utc>,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Group(GroupRule),
    Inhibit(InhibitRule),
    Silence(SilenceRule),
}

impl Rule {
    pub fn meta(&self) -> &RuleMeta {
        match self {
            Rule::Group(r) => &r.meta,
            Rule::Inhibit(r) => &r.meta,
            Rule::Silence(r) => &r.meta,
        }
    }
}

impl Key {
    /// The key a rule names, aliases resolved: `__alarmName__`, `alarmName` and `alarm_name` are
    /// the same key; anything that is not a keyword is a dimension key, kept verbatim.
    pub fn parse(raw: &str) -> Key {
        let bare = raw.strip_prefix("__").and_then(|k| k.strip_suffix("__")).unwrap_or(raw);
        let folded: String = bare.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect();
        match folded.as_str() {
            "alarmname" => Key::AlarmName,
            "alarmid" => Key::AlarmId,
            "alarmdefinitionid" => Key::AlarmDefinitionId,
            "severity" => Key::Severity,
            "state" => Key::State,
            "lifecyclestate" => Key::LifecycleState,
            "link" => Key::Link,
            "metricname" => Key::MetricName,
            "notificationname" => Key::NotificationName,
            "type" => Key::Type,
            "address" => Key::Address,
            _ => Key::Dimension(raw.to_owned()),
        }
    }

    /// The canonical spelling (`__alarmName__`, or the dimension key).
    pub fn canonical(&self) -> &str {
        match self {
            Key::AlarmName => "__alarmName__",
            Key::AlarmId => "__alarmId__",
            Key::AlarmDefinitionId => "__alarmDefinitionId__",
            Key::Severity => "__severity__",
            Key::State => "__state__",
            Key::LifecycleState => "__lifecycleState__",
            Key::Link => "__link__",
            Key::MetricName => "__metricName__",
            Key::NotificationName => "__notificationName__",
            Key::Type => "__type__",
            Key::Address => "__address__",
            Key::Dimension(key) => key,
        }
    }

    pub fn level(&self) -> Level {
        match self {
            Key::MetricName | Key::Dimension(_) => Level::Metric,
            Key::NotificationName | Key::Type | Key::Address => Level::Notification,
            _ => Level::Alarm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_keys_have_three_spellings_and_everything_else_is_a_dimension() {
        for raw in ["__alarmName__", "alarmName", "alarm_name", "AlarmName"] {
            assert_eq!(Key::parse(raw), Key::AlarmName, "{raw}");
        }
        assert_eq!(Key::parse("severity"), Key::Severity);
        assert_eq!(Key::parse("__metricName__"), Key::MetricName);
        assert_eq!(Key::parse("hostname"), Key::Dimension("hostname".into()));
        assert_eq!(Key::parse("hostName"), Key::Dimension("hostName".into()), "dimension keys are case-sensitive");
        assert_eq!(Key::parse("alarm_name").canonical(), "__alarmName__");
        assert_eq!(Key::parse("service").level(), Level::Metric);
        assert_eq!(Key::Type.level(), Level::Notification);
        assert_eq!(Key::State.level(), Level::Alarm);
    }
}
