//! Inhibition sources, known alike to every partition of the alarm manager on every instance.
//!
//! A tenant's transitions are spread over the filtered topic's partitions by group, so a source
//! and the targets it inhibits may be applied on different partitions, by different instances.
//! Sources therefore travel apart: the notification engine, which sees every transition first,
//! writes one [`SourceRecord::Source`] per inhibit rule whose source side a transition matches
//! to the sources topic (one partition, so its order is the order of writing), and every manager
//! instance reads the whole topic into one [`SourceView`].
//!
//! A held target must not be decided before every source that arrived in time is in the view,
//! even when the alarm topic is backlogged and sources wait behind targets. So the notification
//! engine also writes, per alarm-topic partition, how far it has come in record time
//! ([`SourceRecord::Progress`], from `kafka::progress`): every transition of that partition
//! stamped below `below_ms` has had its sources written before the progress record. The view's
//! [`SourceView::complete_below`] is the least of those over all partitions, and a hold is
//! decided only once it has passed the hold's end. Times are the alarm records' Kafka
//! timestamps: when the input became available, whatever the backlog.
//!
//! This module owns the records' format and the view; it decides nothing about holds.

use crate::model::{AlarmState, AlarmTransition};
use crate::rules::index::RuleIndex;
use crate::rules::matching::value_sets;
use crate::rules::Key;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One record of the sources topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceRecord {
    /// A transition matched the source side of an inhibit rule of its tenant.
    Source {
        tenant: String,
        rule_id: String,
        alarm_id: String,
        /// Every tuple of the rule's `equal` values the alarm carries.
        values: Vec<Vec<String>>,
        /// The transition is to ALARM (the source is active) or to another state.
        firing: bool,
        /// The transition's record time.
        at_ms: i64,
    },
    /// Every transition of partition `partition` of alarm topic `topic` with a record time
    /// below `below_ms` has had its sources written before this record. (Deployments with
    /// different alarm topics may share a sources topic.)
    Progress { topic: String, partition: i32, below_ms: i64 },
}

impl SourceRecord {
    /// The record key: the latest record per key is all the view needs (the topic may be
    /// compacted).
    pub fn key(&self) -> String {
        match self {
            SourceRecord::Source { tenant, rule_id, alarm_id, .. } => format!("source\u{1f}{tenant}\u{1f}{rule_id}\u{1f}{alarm_id}"),
            SourceRecord::Progress { topic, partition, .. } => format!("progress\u{1f}{topic}\u{1f}{partition}"),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a source record serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<SourceRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The source records a transition makes: one per inhibit rule of its tenant whose source side
/// it matches (not excluded), whether or not it is silenced.
pub fn records_for(rules: &RuleIndex, alarm: &AlarmTransition, at_ms: i64) -> Vec<SourceRecord> {
    rules
        .inhibits_as_source(alarm)
        .into_iter()
        .map(|rule| SourceRecord::Source {
            tenant: alarm.tenant_id.clone(),
            rule_id: rule.meta.id.clone(),
            alarm_id: alarm.alarm_id.clone(),
            values: value_sets(&rule.spec.equal, alarm),
            firing: alarm.new_state == AlarmState::Alarm,
            at_ms,
        })
        .collect()
}

/// An alarm that matched an inhibit rule's source side.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Source {
    values: Vec<Vec<String>>,
    active: bool,
    /// The record time at which it last left ALARM.
    left_ms: Option<i64>,
}

/// The sources of one rule, found by the value tuple a target carries.
#[derive(Clone, Debug, Default)]
struct RuleSources {
    by_alarm: HashMap<String, Source>,
    by_values: HashMap<Vec<String>, BTreeSet<String>>,
}

/// Every source the manager knows of, and how complete that knowledge is in record time.
#[derive(Clone, Debug)]
pub struct SourceView {
    /// By tenant, then rule id.
    tenants: HashMap<String, HashMap<String, RuleSources>>,
    /// The alarm topic whose progress counts.
    alarm_topic: String,
    /// Per alarm-topic partition: the latest progress and when it was read.
    progress: HashMap<i32, (i64, Instant)>,
    /// How many partitions the alarm topic has.
    partitions: i32,
    /// A partition without progress for this long has no notification engine routing it, so
    /// it holds nothing back (nothing of it is being routed either).
    progress_timeout: Duration,
    created: Instant,
    /// Rules with sources here that this instance's rules did not know, since when
    /// ([`SourceView::forget_inactive`]).
    unknown_rules: HashMap<(String, String), Instant>,
}

/// A rule whose sources are here but which this instance's rules have not known for this long
/// was deleted: a rule newer than an instance's copy of the rules is known within seconds.
const DELETED_RULE_AFTER: Duration = Duration::from_secs(3600);

impl SourceView {
    pub fn new(alarm_topic: &str, partitions: i32, progress_timeout: Duration) -> SourceView {
        SourceView::created_at(alarm_topic, partitions, progress_timeout, Instant::now())
    }

    fn created_at(alarm_topic: &str, partitions: i32, progress_timeout: Duration, created: Instant) -> SourceView {
        SourceView {
            tenants: HashMap::new(),
            alarm_topic: alarm_topic.to_owned(),
            progress: HashMap::new(),
            partitions,
            progress_timeout,
            created,
            unknown_rules: HashMap::new(),
        }
    }

    /// The alarm topic has (now) this many partitions.
    pub fn set_partitions(&mut self, partitions: i32) {
        self.partitions = partitions;
    }

    pub fn apply(&mut self, record: SourceRecord) {
        self.apply_read_at(record, Instant::now());
    }

    fn apply_read_at(&mut self, record: SourceRecord, read: Instant) {
        match record {
            SourceRecord::Source { tenant, rule_id, alarm_id, values, firing, at_ms } => {
                let rule = self.tenants.entry(tenant).or_default().entry(rule_id).or_default();
                let source = rule.by_alarm.entry(alarm_id.clone()).or_insert_with(|| Source { values: Vec::new(), active: false, left_ms: None });
                for old in &source.values {
                    if let Some(alarms) = rule.by_values.get_mut(old) {
                        alarms.remove(&alarm_id);
                        if alarms.is_empty() {
                            rule.by_values.remove(old);
                        }
                    }
                }
                if firing {
                    source.active = true;
                } else if source.active {
                    source.active = false;
                    source.left_ms = Some(at_ms);
                }
                for tuple in &values {
                    rule.by_values.entry(tuple.clone()).or_default().insert(alarm_id.clone());
                }
                source.values = values;
            }
            SourceRecord::Progress { topic, partition, below_ms } => {
                if topic == self.alarm_topic {
                    self.progress.insert(partition, (below_ms, read));
                }
            }
        }
    }

    /// Every transition with a record time below this has had its sources applied here; `None`
    /// while some partition of the alarm topic has not reported yet. A partition silent for
    /// longer than the progress timeout is left out: no notification engine routes it.
    pub fn complete_below(&self) -> Option<i64> {
        self.complete_below_at(Instant::now(), crate::clock::unix_ms())
    }

    fn complete_below_at(&self, now: Instant, now_ms: i64) -> Option<i64> {
        let mut least: Option<i64> = None;
        for partition in 0..self.partitions {
            match self.progress.get(&partition) {
                Some((below, read)) if now.duration_since(*read) <= self.progress_timeout => {
                    least = Some(least.map_or(*below, |l| l.min(*below)));
                }
                _ if now.duration_since(self.created) <= self.progress_timeout => return None,
                _ => {}
            }
        }
        // No partition is routed at all: nothing can be on its way.
        least.or_else(|| (now.duration_since(self.created) > self.progress_timeout).then_some(now_ms))
    }

    /// The source inhibiting `target` through `rule_id`, if any: a different alarm, active (or,
    /// for an OK or UNDETERMINED target, one that left ALARM within `wait_ms` of the target's
    /// record time), sharing a value tuple with it. The least alarm id when several do.
    pub fn inhibiting(&self, rule_id: &str, equal: &[Key], wait_ms: i64, target: &AlarmTransition, arrived_ms: i64) -> Option<String> {
        let rule = self.tenants.get(&target.tenant_id)?.get(rule_id)?;
        let recovering = target.new_state != AlarmState::Alarm;
        value_sets(equal, target)
            .iter()
            .filter_map(|tuple| rule.by_values.get(tuple))
            .flat_map(|alarms| alarms.iter())
            .filter(|alarm_id| **alarm_id != target.alarm_id)
            .filter(|alarm_id| {
                rule.by_alarm.get(*alarm_id).is_some_and(|source| {
                    source.active || (recovering && source.left_ms.is_some_and(|left| arrived_ms.saturating_sub(left).saturating_abs() <= wait_ms))
                })
            })
            .min()
            .cloned()
    }

    /// Forgets sources that can inhibit nothing any more, so the view does not grow with every
    /// alarm that ever matched a source side: inactive ones that never fired, and ones that left
    /// ALARM longer ago than their rule's wait (`wait_ms` of tenant and rule id) before
    /// `before_ms`. Sources of a rule `wait_ms` does not know are kept (the rule may be newer
    /// than this instance's copy of the rules) until it has not known the rule for
    /// [`DELETED_RULE_AFTER`]: the rule was deleted, and all of its sources go. Returns how many
    /// were forgotten.
    pub fn forget_inactive(&mut self, wait_ms: impl Fn(&str, &str) -> Option<i64>, before_ms: i64) -> usize {
        self.forget_inactive_at(wait_ms, before_ms, Instant::now())
    }

    fn forget_inactive_at(&mut self, wait_ms: impl Fn(&str, &str) -> Option<i64>, before_ms: i64, now: Instant) -> usize {
        let mut forgotten = 0;
        for (tenant, rules) in &mut self.tenants {
            for (rule_id, rule) in rules.iter_mut() {
                let unknown_key = (tenant.clone(), rule_id.clone());
                let Some(wait) = wait_ms(tenant, rule_id) else {
                    let since = *self.unknown_rules.entry(unknown_key).or_insert(now);
                    if now.saturating_duration_since(since) >= DELETED_RULE_AFTER {
                        forgotten += rule.by_alarm.len();
                        rule.by_alarm.clear();
                        rule.by_values.clear();
                    }
                    continue;
                };
                self.unknown_rules.remove(&unknown_key);
                let stale: Vec<String> = rule
                    .by_alarm
                    .iter()
                    .filter(|(_, source)| !source.active && source.left_ms.is_none_or(|left| left.saturating_add(wait) < before_ms))
                    .map(|(alarm_id, _)| alarm_id.clone())
                    .collect();
                for alarm_id in stale {
                    let source = rule.by_alarm.remove(&alarm_id).expect("listed above");
                    for tuple in &source.values {
                        if let Some(alarms) = rule.by_values.get_mut(tuple) {
                            alarms.remove(&alarm_id);
                            if alarms.is_empty() {
                                rule.by_values.remove(tuple);
                            }
                        }
                    }
                    forgotten += 1;
                }
            }
            rules.retain(|_, rule| !rule.by_alarm.is_empty());
        }
        self.tenants.retain(|_, rules| !rules.is_empty());
        let tenants = &self.tenants;
        self.unknown_rules.retain(|(tenant, rule_id), _| tenants.get(tenant).is_some_and(|rules| rules.contains_key(rule_id)));
        forgotten
    }

    /// How many sources it knows of (active or not), for the log.
    pub fn len(&self) -> usize {
        self.tenants.values().flat_map(|rules| rules.values()).map(|rule| rule.by_alarm.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The view every partition of this instance decides with, kept current by a thread that
/// follows the sources topic from its beginning.
pub struct SharedSources {
    view: RwLock<SourceView>,
    /// [`SourceView::complete_below`] as last computed, for tickers waiting on holds.
    complete: watch::Sender<Option<i64>>,
}

impl SharedSources {
    /// The view, for a decision; not to be held across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, SourceView> {
        self.view.read().expect("lock poisoned")
    }

    /// Changes of how complete the view is.
    pub fn subscribe(&self) -> watch::Receiver<Option<i64>> {
        self.complete.subscribe()
    }

    /// How complete the view is now.
    pub fn complete_below(&self) -> Option<i64> {
        *self.complete.borrow()
    }

    /// [`SourceView::forget_inactive`] on the shared view.
    pub fn forget_inactive(&self, wait_ms: impl Fn(&str, &str) -> Option<i64>, before_ms: i64) -> usize {
        self.view.write().expect("lock poisoned").forget_inactive(wait_ms, before_ms)
    }

    fn recompute(&self) {
        let complete = self.read().complete_below();
        self.complete.send_if_modified(|current| {
            let changed = *current != complete;
            *current = complete;
            changed
        });
    }
}

/// Where the sources are and what they are about.
pub struct Follow {
    pub brokers: Vec<String>,
    /// `[kafka_consumer]` properties (TLS, SASL, …).
    pub properties: Vec<(String, String)>,
    pub sources_topic: String,
    pub alarm_topic: String,
    pub progress_timeout: Duration,
}

/// How often the alarm topic's partition count is looked up again.
const PARTITIONS_REFRESH: Duration = Duration::from_secs(60);

/// Starts following the sources topic (its partition 0, from the beginning) on a thread of its
/// own until `stop`. Fails only when the client cannot be created.
pub fn follow(settings: Follow, stop: CancellationToken) -> Result<Arc<SharedSources>, crate::kafka::Error> {
    let defaults = [("enable.auto.commit", "false"), ("group.id", "tocsin-sources-reader"), ("fetch.wait.max.ms", "100")];
    let consumer: BaseConsumer = crate::kafka::client_config(&settings.brokers, &defaults, &settings.properties)
        .create()
        .map_err(|source| crate::kafka::Error::Create { role: "sources reader", source })?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&settings.sources_topic, 0, Offset::Beginning)
        .expect("a new list takes any offset");
    consumer.assign(&assignment).map_err(|source| crate::kafka::Error::Subscribe { topic: settings.sources_topic.clone(), source })?;
    let partitions = alarm_partitions(&consumer, &settings.alarm_topic).unwrap_or(1);
    let (complete, _) = watch::channel(None);
    let shared = Arc::new(SharedSources { view: RwLock::new(SourceView::new(&settings.alarm_topic, partitions, settings.progress_timeout)), complete });
    let following = shared.clone();
    std::thread::Builder::new()
        .name("sources".into())
        .spawn(move || read_until(consumer, &following, &settings, stop))
        .expect("spawning a thread only fails when the OS is out of resources");
    Ok(shared)
}

fn read_until(consumer: BaseConsumer, shared: &SharedSources, settings: &Follow, stop: CancellationToken) {
    let mut last_error: Option<String> = None;
    let mut partitions_checked = Instant::now();
    while !stop.is_cancelled() {
        if partitions_checked.elapsed() >= PARTITIONS_REFRESH {
            if let Some(partitions) = alarm_partitions(&consumer, &settings.alarm_topic) {
                shared.view.write().expect("lock poisoned").set_partitions(partitions);
            }
            partitions_checked = Instant::now();
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                last_error = None;
                match message.payload().map(SourceRecord::decode) {
                    Some(Ok(record)) => shared.view.write().expect("lock poisoned").apply(record),
                    Some(Err(e)) => tracing::warn!(topic = %settings.sources_topic, offset = message.offset(), error = %e, "not a source record; skipped"),
                    None => {}
                }
            }
            Some(Err(e)) => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    tracing::warn!(topic = %settings.sources_topic, error = %text, "cannot read the inhibition sources; retrying");
                    last_error = Some(text);
                }
            }
        }
        // Also when nothing came: a partition falling silent changes completeness.
        shared.recompute();
    }
}

fn alarm_partitions(consumer: &BaseConsumer, alarm_topic: &str) -> Option<i32> {
    let metadata = consumer.fetch_metadata(Some(alarm_topic), Duration::from_secs(10)).ok()?;
    let count = metadata.topics().first()?.partitions().len();
    (count > 0).then_some(count as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(alarm_id: &str, host: &str, firing: bool, at_ms: i64) -> SourceRecord {
        SourceRecord::Source { tenant: "t".into(), rule_id: "r".into(), alarm_id: alarm_id.into(), values: vec![vec![host.into()]], firing, at_ms }
    }

    fn target(alarm_id: &str, host: &str, state: &str) -> AlarmTransition {
        let raw = serde_json::json!({
            "tenantId": "t", "alarmId": alarm_id, "alarmDefinitionId": "d",
            "metrics": [{"name": "cpu", "dimensions": {"hostname": host}}],
            "alarmName": "x", "alarmDescription": "", "oldState": "OK", "newState": state,
            "actionsEnabled": true, "stateChangeReason": "r", "severity": "HIGH", "link": null,
            "lifecycleState": null, "timestamp": 0,
        });
        let serde_json::Value::Object(raw) = raw else { unreachable!() };
        crate::ingest::transition(raw).unwrap()
    }

    fn hostname() -> Vec<Key> {
        vec![Key::Dimension("hostname".into())]
    }

    #[test]
    fn records_read_back_as_written() {
        for record in [source("a", "h1", true, 5), SourceRecord::Progress { topic: "alarms".into(), partition: 3, below_ms: 99 }] {
            assert_eq!(SourceRecord::decode(&record.encode()).unwrap(), record);
        }
        assert_ne!(source("a", "h1", true, 5).key(), source("b", "h1", true, 5).key());
    }

    #[test]
    fn an_active_source_of_the_same_values_inhibits_and_one_that_left_only_recoveries_nearby() {
        let mut view = SourceView::new("alarms", 1, Duration::from_secs(60));
        view.apply(source("src", "h1", true, 0));
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "ALARM"), 10), Some("src".into()));
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h2", "ALARM"), 10), None, "other values");
        assert_eq!(view.inhibiting("other", &hostname(), 1_000, &target("tgt", "h1", "ALARM"), 10), None, "other rule");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("src", "h1", "ALARM"), 10), None, "never itself");
        view.apply(source("src", "h1", false, 5_000));
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "ALARM"), 5_500), None, "inactive");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "OK"), 5_500), Some("src".into()), "a recovery within the wait");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "OK"), 7_000), None, "a recovery after the wait");
        view.apply(source("src", "h2", true, 8_000));
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "ALARM"), 9_000), None, "moved to other values");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h2", "ALARM"), 9_000), Some("src".into()));
        assert_eq!(view.len(), 1);
    }

    #[test]
    fn sources_that_can_inhibit_nothing_any_more_are_forgotten() {
        let mut view = SourceView::new("alarms", 1, Duration::from_secs(60));
        view.apply(source("firing", "h1", true, 0));
        view.apply(source("left-early", "h2", true, 0));
        view.apply(source("left-early", "h2", false, 1_000));
        view.apply(source("left-late", "h3", true, 0));
        view.apply(source("left-late", "h3", false, 9_500));
        view.apply(source("never-fired", "h4", false, 0));
        view.apply(SourceRecord::Source { tenant: "t".into(), rule_id: "unknown".into(), alarm_id: "x".into(), values: vec![vec!["h5".into()]], firing: false, at_ms: 0 });
        let wait = |_: &str, rule_id: &str| (rule_id == "r").then_some(1_000);
        assert_eq!(view.forget_inactive(wait, 10_000), 2, "left-early (left at 1 s + 1 s wait < 10 s) and never-fired");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h1", "ALARM"), 10_000), Some("firing".into()), "an active source stays");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h3", "OK"), 10_000), Some("left-late".into()), "still within its wait");
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h2", "OK"), 1_500), None, "forgotten, with its values");
        assert_eq!(view.len(), 3, "firing, left-late, and the source of a rule not known here");
        assert_eq!(view.forget_inactive(wait, 11_000), 1, "left-late's wait has passed too");
        view.apply(source("left-early", "h2", true, 12_000));
        assert_eq!(view.inhibiting("r", &hostname(), 1_000, &target("tgt", "h2", "ALARM"), 12_000), Some("left-early".into()), "a forgotten source that fires again is back");
    }

    /// A rule this instance has not known for an hour was deleted: its sources go, active or
    /// not. One it knows again before that keeps them.
    #[test]
    fn sources_of_a_rule_unknown_for_an_hour_are_forgotten() {
        let start = Instant::now();
        let at = |minutes: u64| start + Duration::from_secs(60 * minutes);
        let mut view = SourceView::created_at("alarms", 1, Duration::from_secs(60), start);
        let firing = |rule_id: &str, alarm_id: &str| SourceRecord::Source { tenant: "t".into(), rule_id: rule_id.into(), alarm_id: alarm_id.into(), values: vec![vec!["h1".into()]], firing: true, at_ms: 0 };
        view.apply(firing("deleted", "a"));
        view.apply(firing("deleted", "b"));
        view.apply(firing("late", "c"));
        let knows_nothing = |_: &str, _: &str| None;
        assert_eq!(view.forget_inactive_at(knows_nothing, 0, at(0)), 0, "unknown since now: kept");
        assert_eq!(view.forget_inactive_at(knows_nothing, 0, at(59)), 0, "unknown for 59 minutes: kept");
        let knows_late = |_: &str, rule_id: &str| (rule_id == "late").then_some(1_000);
        assert_eq!(view.forget_inactive_at(knows_late, 0, at(59)), 0, "a firing source of a known rule stays");
        assert_eq!(view.forget_inactive_at(knows_nothing, 0, at(61)), 2, "\"deleted\" unknown for an hour: both its sources go");
        assert_eq!(view.len(), 1, "\"late\" was known at 59 minutes, so its hour starts again at 61");
        assert_eq!(view.forget_inactive_at(knows_nothing, 0, at(122)), 1);
        assert!(view.is_empty() && view.unknown_rules.is_empty(), "nothing is kept of rules without sources");
    }

    #[test]
    fn completeness_waits_for_every_partition_then_leaves_silent_ones_out() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut view = SourceView::created_at("alarms", 2, Duration::from_secs(60), start);
        assert_eq!(view.complete_below_at(at(1), 1_000), None, "no partition reported");
        view.apply_read_at(SourceRecord::Progress { topic: "alarms".into(), partition: 0, below_ms: 100 }, at(1));
        assert_eq!(view.complete_below_at(at(1), 1_000), None, "partition 1 has not reported");
        view.apply_read_at(SourceRecord::Progress { topic: "alarms".into(), partition: 1, below_ms: 40 }, at(2));
        assert_eq!(view.complete_below_at(at(2), 2_000), Some(40), "the least of them");
        view.apply_read_at(SourceRecord::Progress { topic: "alarms".into(), partition: 1, below_ms: 400 }, at(3));
        assert_eq!(view.complete_below_at(at(3), 3_000), Some(100));
        view.apply_read_at(SourceRecord::Progress { topic: "alarms".into(), partition: 0, below_ms: 500 }, at(70));
        assert_eq!(view.complete_below_at(at(70), 70_000), Some(500), "partition 1 went silent: nothing of it is routed");
        assert_eq!(view.complete_below_at(at(200), 200_000), Some(200_000), "nothing routed at all: the present");
        let fresh = SourceView::created_at("alarms", 1, Duration::from_secs(60), start);
        assert_eq!(fresh.complete_below_at(at(61), 61_000), Some(61_000), "a partition never routed stops holding back after the timeout");
    }
}
