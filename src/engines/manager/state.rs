//! The alarm manager's state machine for the tenants of one partition: which transitions are
//! held waiting for an inhibition source, which groups are open and when each is due. Pure:
//! time is an argument (`now_ms`), rules come from a [`RuleIndex`], inhibition sources from a
//! [`SourceView`] (shared by every partition), and every decision comes back as an [`Effect`]
//! for the engine to carry out.
//!
//! Holds are measured in record time (when the transition's input became available), not in
//! the time the manager got to it: a held target is decided once its wait has passed in record
//! time *and* the view has every source stamped before that ([`SourceView::complete_below`]),
//! so a backlog cannot let a target through ahead of a source that was already waiting.
//!
//! It must not do I/O or read a clock. Changes are recorded as dirty [`Entity`]s so the engine
//! can persist exactly what changed ([`ManagerState::take_changes`]); a state rebuilt from those
//! rows ([`ManagerState::restore`]) behaves as the one that wrote them.
//!
//! The semantics are those of `docs/rules.md` (Order of application): silence and inhibit are computed independently, grouping
//! sees only what neither suppressed, and grouping never suppresses an alarm's own actions.

use super::sources::SourceView;
use crate::model::{AlarmState, AlarmTransition, Metric};
use crate::rules::index::RuleIndex;
use crate::rules::matching::{group_values, has_action_pairs, silence_active};
use crate::rules::{GroupRule, Selector};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Why a transition's own actions were not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suppression {
    Silence { rule_id: String },
    Inhibit { rule_id: String, source_alarm_id: String },
}

/// What the engine must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send the transition's own actions (its definition's methods for the new state), except
    /// methods that one of `muted` (action-level silence or inhibit selectors) matches.
    Own { alarm: Arc<AlarmTransition>, muted: Vec<Selector> },
    /// Send nothing for this transition; count it.
    Suppressed { alarm: Arc<AlarmTransition>, by: Suppression },
    /// Send one grouped notification to the rule's actions for the group's state.
    Group(GroupNotice),
}

/// A grouped notification, ready to render.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNotice {
    pub tenant_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub values: Vec<String>,
    pub state: AlarmState,
    /// `group_notification_<rule>_<values>_<state>[<count>]` (`docs/rules.md`, Group rules).
    pub name: String,
    pub members: Vec<Arc<Member>>,
    /// Notification-method ids of the rule for `state`.
    pub actions: Vec<String>,
    /// 1 for the first notice of the group, then 2, 3… for repeats.
    pub sequence: u32,
}

/// What a grouped notification says about one alarm. Strings many members repeat (names,
/// definition ids, severities, metric names, dimensions) are shared through the state's
/// [`Interner`], so a million members of an outage hold each of them once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub alarm_id: Arc<str>,
    pub alarm_name: Arc<str>,
    pub alarm_definition_id: Arc<str>,
    pub state: AlarmState,
    pub severity: Arc<str>,
    pub reason: Box<str>,
    pub timestamp_ms: f64,
    pub metrics: Box<[MemberMetric]>,
    /// A notice of the group listed this member: if the group is an ALARM group, the alarm's
    /// firing was notified (its resolution will be too, silenced or not).
    #[serde(default)]
    pub notified: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberMetric {
    pub name: Arc<str>,
    pub dimensions: Box<[(Arc<str>, Arc<str>)]>,
}

/// One shared copy of each repeated string; strings no member uses any more are dropped by
/// [`Interner::purge`].
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }

    fn purge(&mut self) {
        self.0.retain(|shared| Arc::strong_count(shared) > 1);
    }

    /// A member of a transition.
    pub fn member(&mut self, t: &AlarmTransition) -> Member {
        Member {
            alarm_id: Arc::from(t.alarm_id.as_str()),
            alarm_name: self.get(&t.alarm_name),
            alarm_definition_id: self.get(&t.alarm_definition_id),
            state: t.new_state,
            severity: self.get(&t.severity),
            reason: t.state_change_reason.as_str().into(),
            timestamp_ms: t.timestamp_ms,
            metrics: t.metrics.iter().map(|m: &Metric| self.metric(&m.name, m.dimensions.iter().map(|(k, v)| (k.as_str(), v.as_str())))).collect(),
            notified: false,
        }
    }

    fn metric<'a>(&mut self, name: &str, dimensions: impl Iterator<Item = (&'a str, &'a str)>) -> MemberMetric {
        MemberMetric { name: self.get(name), dimensions: dimensions.map(|(k, v)| (self.get(k), self.get(v))).collect() }
    }

    /// The same member with its strings shared (after reading it back from storage).
    fn share(&mut self, member: &Member) -> Member {
        Member {
            alarm_name: self.get(&member.alarm_name),
            alarm_definition_id: self.get(&member.alarm_definition_id),
            severity: self.get(&member.severity),
            metrics: member.metrics.iter().map(|m| self.metric(&m.name, m.dimensions.iter().map(|(k, v)| (&**k, &**v)))).collect(),
            ..member.clone()
        }
    }
}

/// A group is identified by its rule, the values of the rule's group-by keys and the state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    pub rule_id: String,
    pub values: Vec<String>,
    pub state: AlarmState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Shared with the notices made from it, so a notice of a large group copies no member.
    pub members: BTreeMap<Arc<str>, Arc<Member>>,
    /// When the next notice is due: first member + group_wait, then + repeat_interval.
    pub due_ms: i64,
    /// Notices sent so far.
    pub sent: u32,
}

/// See [`ManagerState::pending`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub groups_awaiting_first_notice: usize,
    pub held_transitions: usize,
}

/// A transition waiting for an inhibition source to appear.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    pub alarm: HeldAlarm,
    /// The record it came from, so a replayed record is not held twice.
    pub offset: i64,
    /// Its record time.
    pub arrived_ms: i64,
    /// In record time: `arrived_ms` + the longest wait of the rules targeting it.
    pub due_ms: i64,
}

/// A held transition as its JSON text, decoded again when it is released. An outage holds one
/// per target: decoded (every field a `serde_json::Value`) a transition takes about 9 KiB, its
/// text about 500 bytes; 100,000 held targets peaked at 939 MiB decoded (`benches/outage.rs`,
/// `inhibit`, backlog).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldAlarm(Box<str>);

impl HeldAlarm {
    fn new(alarm: &AlarmTransition) -> HeldAlarm {
        HeldAlarm(alarm.raw.to_json().into())
    }

    /// The transition again: its text was written from a transition that decoded (or, when
    /// restored, was checked to decode), so this cannot fail short of a bug.
    fn decode(&self) -> AlarmTransition {
        crate::ingest::decode_object(&self.0).expect("a held transition decoded when it was held")
    }
}

/// The state of one tenant.
#[derive(Debug, Default)]
pub struct TenantState {
    pub groups: HashMap<Arc<GroupKey>, Group>,
    /// Groups each alarm is a member of.
    memberships: HashMap<Arc<str>, Vec<Arc<GroupKey>>>,
    /// Held transitions per alarm, oldest first: a later transition of an alarm waits behind an
    /// earlier one so its effects keep their order.
    pub holds: HashMap<String, VecDeque<Hold>>,
    /// Alarms whose latest firing was notified by their own actions (a grouped notice marks
    /// the member instead: [`Member::notified`]).
    pub notified_firing: HashSet<String>,
}

/// One persisted unit of state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entity {
    Group { tenant: String, key: GroupKey },
    Holds { tenant: String, alarm_id: String },
    /// Rows of earlier versions, which kept inhibition sources per partition; read only to be
    /// deleted (sources now live in the sources topic).
    Source { tenant: String, rule_id: String, alarm_id: String },
    Notified { tenant: String, alarm_id: String },
}

/// All tenants of one partition.
#[derive(Debug, Default)]
pub struct ManagerState {
    pub tenants: HashMap<String, TenantState>,
    /// Groups' due times (wall clock) and holds' (record time): (due, tenant, group or alarm).
    /// An entry whose group or hold has since changed its due time is skipped when popped.
    group_timers: BTreeSet<(i64, String, Arc<GroupKey>)>,
    hold_timers: BTreeSet<(i64, String, String)>,
    dirty: HashSet<Entity>,
    /// An OK transition of an alarm whose firing was notified is notified even when a silence or
    /// an inhibition would now suppress it (where Alertmanager loses resolved notices).
    notify_resolved_if_notified: bool,
    interner: Interner,
}

/// A row to persist: the entity, and its value (JSON text) or `None` when it no longer exists.
/// Text, not a `serde_json::Value`: a flush of 100,000 held targets built as values peaked at
/// about 9 KiB each.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub entity: Entity,
    pub value: Option<String>,
}

impl ManagerState {
    /// `notify_resolved_if_notified`: `[alarm_manager]`'s option of that name.
    pub fn new(notify_resolved_if_notified: bool) -> ManagerState {
        ManagerState { notify_resolved_if_notified, ..Default::default() }
    }

    /// Applies the transition of record `offset`, whose record time is `arrived_ms`, at
    /// `now_ms`. Its inhibition sources, if it is one, are already in `sources`.
    pub fn transition(&mut self, rules: &RuleIndex, sources: &SourceView, alarm: Arc<AlarmTransition>, offset: i64, arrived_ms: i64, now_ms: i64) -> Vec<Effect> {
        let tenant_id = alarm.tenant_id.clone();
        let alarm_id = alarm.alarm_id.clone();
        let tenant = self.tenants.entry(tenant_id.clone()).or_default();
        if tenant.holds.get(&alarm_id).is_some_and(|queue| queue.iter().any(|h| h.offset == offset)) {
            return Vec::new();
        }
        let wait_ms = rules
            .inhibits_as_target(&alarm)
            .iter()
            .map(|rule| millis(rule.wait))
            .max();
        let queued_behind = tenant.holds.get(&alarm_id).and_then(|queue| queue.back()).map(|h| h.due_ms);
        // A target waits even with a wait of 0: for the sources stamped before it.
        let due_ms = match (wait_ms, queued_behind) {
            (None, None) => return self.decide(rules, sources, alarm, arrived_ms, now_ms),
            (wait, behind) => arrived_ms.saturating_add(wait.unwrap_or(0)).max(behind.unwrap_or(i64::MIN)),
        };
        let tenant = self.tenants.get_mut(&tenant_id).expect("entry created above");
        tenant.holds.entry(alarm_id.clone()).or_default().push_back(Hold { alarm: HeldAlarm::new(&alarm), offset, arrived_ms, due_ms });
        if queued_behind.is_none() {
            self.hold_timers.insert((due_ms, tenant_id.clone(), alarm_id.clone()));
        }
        self.dirty.insert(Entity::Holds { tenant: tenant_id, alarm_id });
        Vec::new()
    }

    /// Everything that is due: holds whose end the sources are complete past
    /// (`complete_below`, from [`SourceView::complete_below`]), in due order,
    /// then grouped notices due at or before `now_ms` (so a hold released at its group's due
    /// time still makes that notice).
    pub fn advance(&mut self, rules: &RuleIndex, sources: &SourceView, complete_below: Option<i64>, now_ms: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(complete_below) = complete_below {
            while self.hold_timers.first().is_some_and(|(due, _, _)| *due <= complete_below) {
                let (due_ms, tenant, alarm_id) = self.hold_timers.pop_first().expect("first exists");
                effects.extend(self.release_hold(rules, sources, &tenant, &alarm_id, due_ms, now_ms));
            }
        }
        while self.group_timers.first().is_some_and(|(due, _, _)| *due <= now_ms) {
            let (due_ms, tenant, key) = self.group_timers.pop_first().expect("first exists");
            effects.extend(self.flush_group(rules, &tenant, key, due_ms, now_ms));
        }
        effects
    }

    /// When [`advance`](Self::advance) next has something to do, given how complete the sources
    /// are: the next group's due time, or at once when a hold can be decided. Holds that still
    /// wait for sources are woken by the view's progress, not by a time.
    pub fn next_due_ms(&self, complete_below: Option<i64>) -> Option<i64> {
        let hold_ready = self.hold_timers.first().is_some_and(|(due, _, _)| complete_below.is_some_and(|complete| *due <= complete));
        if hold_ready {
            return Some(i64::MIN);
        }
        self.group_timers.first().map(|(due, _, _)| *due)
    }

    /// Records that a firing transition's own actions were sent, so its resolution is notified.
    pub fn mark_notified(&mut self, alarm: &AlarmTransition) {
        if alarm.new_state != AlarmState::Alarm {
            return;
        }
        let tenant = self.tenants.entry(alarm.tenant_id.clone()).or_default();
        if tenant.notified_firing.insert(alarm.alarm_id.clone()) {
            self.dirty.insert(Entity::Notified { tenant: alarm.tenant_id.clone(), alarm_id: alarm.alarm_id.clone() });
        }
    }

    /// Open groups over all tenants.
    pub fn group_count(&self) -> usize {
        self.tenants.values().map(|t| t.groups.len()).sum()
    }

    /// What is still to happen without any new transition: groups whose first notice is not
    /// made yet, and transitions held for an inhibition source. Walks every group and hold, so
    /// the engine asks at each state write, not at each transition.
    pub fn pending(&self) -> Pending {
        Pending {
            groups_awaiting_first_notice: self.tenants.values().flat_map(|t| t.groups.values()).filter(|g| g.sent == 0).count(),
            held_transitions: self.tenants.values().flat_map(|t| t.holds.values()).map(VecDeque::len).sum(),
        }
    }

    fn release_hold(&mut self, rules: &RuleIndex, sources: &SourceView, tenant_id: &str, alarm_id: &str, due_ms: i64, now_ms: i64) -> Vec<Effect> {
        let Some(tenant) = self.tenants.get_mut(tenant_id) else { return Vec::new() };
        let Some(queue) = tenant.holds.get_mut(alarm_id) else { return Vec::new() };
        if queue.front().map(|h| h.due_ms) != Some(due_ms) {
            return Vec::new();
        }
        let hold = queue.pop_front().expect("front checked");
        let next_due = queue.front().map(|h| h.due_ms);
        if queue.is_empty() {
            tenant.holds.remove(alarm_id);
        }
        if let Some(next_due) = next_due {
            self.hold_timers.insert((next_due, tenant_id.to_owned(), alarm_id.to_owned()));
        }
        self.dirty.insert(Entity::Holds { tenant: tenant_id.to_owned(), alarm_id: alarm_id.to_owned() });
        self.decide(rules, sources, Arc::new(hold.alarm.decode()), hold.arrived_ms, now_ms)
    }

    /// Silence and inhibit, independently; then own actions and groups for what neither
    /// suppressed.
    fn decide(&mut self, rules: &RuleIndex, sources: &SourceView, alarm: Arc<AlarmTransition>, arrived_ms: i64, now_ms: i64) -> Vec<Effect> {
        let tenant_id = alarm.tenant_id.clone();
        let alarm_id = alarm.alarm_id.clone();
        let notified_in_group = self.notified_in_firing_group(&alarm);
        self.leave_other_groups(&alarm);
        let tenant = self.tenants.entry(tenant_id.clone()).or_default();

        let resolves_notified = alarm.new_state == AlarmState::Ok && (notified_in_group || tenant.notified_firing.contains(&alarm_id));
        let exempt = resolves_notified && self.notify_resolved_if_notified;
        if resolves_notified {
            tenant.notified_firing.remove(&alarm_id);
            self.dirty.insert(Entity::Notified { tenant: tenant_id.clone(), alarm_id: alarm_id.clone() });
        }

        let mut muted: Vec<Selector> = Vec::new();
        let mut suppressed: Option<Suppression> = None;
        if !exempt {
            for rule in rules.silences_for(&alarm) {
                if !silence_active(rule, alarm.timestamp_ms as i64) {
                    continue;
                }
                if has_action_pairs(&rule.spec.matchers) {
                    muted.push(rule.spec.matchers.clone());
                } else if suppressed.is_none() {
                    suppressed = Some(Suppression::Silence { rule_id: rule.meta.id.clone() });
                }
            }
            for rule in rules.inhibits_as_target(&alarm) {
                let Some(source_alarm_id) = sources.inhibiting(rule.meta.id.as_str(), &rule.spec.equal, millis(rule.wait), &alarm, arrived_ms) else {
                    continue;
                };
                if has_action_pairs(&rule.spec.target) {
                    muted.push(rule.spec.target.clone());
                } else if suppressed.is_none() {
                    suppressed = Some(Suppression::Inhibit { rule_id: rule.meta.id.clone(), source_alarm_id });
                }
            }
        }
        if let Some(by) = suppressed {
            return vec![Effect::Suppressed { alarm, by }];
        }
        for rule in rules.groups_for(&alarm) {
            self.join_group(rule, &alarm, now_ms);
        }
        vec![Effect::Own { alarm, muted }]
    }

    /// Whether a notice of an ALARM group listed this alarm.
    fn notified_in_firing_group(&self, alarm: &AlarmTransition) -> bool {
        let Some(tenant) = self.tenants.get(&alarm.tenant_id) else { return false };
        let Some(keys) = tenant.memberships.get(alarm.alarm_id.as_str()) else { return false };
        keys.iter()
            .filter(|key| key.state == AlarmState::Alarm)
            .filter_map(|key| tenant.groups.get(key)?.members.get(alarm.alarm_id.as_str()))
            .any(|member| member.notified)
    }

    /// Members leave a group when their alarm moves to another state.
    fn leave_other_groups(&mut self, alarm: &AlarmTransition) {
        let Some(tenant) = self.tenants.get_mut(&alarm.tenant_id) else { return };
        let Some(keys) = tenant.memberships.get_mut(alarm.alarm_id.as_str()) else { return };
        let mut leaving = Vec::new();
        keys.retain(|key| {
            let stays = key.state == alarm.new_state;
            if !stays {
                leaving.push(key.clone());
            }
            stays
        });
        if keys.is_empty() {
            tenant.memberships.remove(alarm.alarm_id.as_str());
        }
        for key in leaving {
            if let Some(group) = tenant.groups.get_mut(&key) {
                group.members.remove(alarm.alarm_id.as_str());
                if group.members.is_empty() {
                    tenant.groups.remove(&key);
                }
            }
            self.dirty.insert(Entity::Group { tenant: alarm.tenant_id.clone(), key: (*key).clone() });
        }
    }

    fn join_group(&mut self, rule: &GroupRule, alarm: &AlarmTransition, now_ms: i64) {
        let Some(values) = group_values(&rule.spec.group_by, alarm) else { return };
        let key = GroupKey { rule_id: rule.meta.id.clone(), values, state: alarm.new_state };
        let tenant = self.tenants.entry(alarm.tenant_id.clone()).or_default();
        let shared_key = match tenant.groups.get_key_value(&key) {
            Some((shared, _)) => shared.clone(),
            None => {
                let shared = Arc::new(key.clone());
                let due_ms = now_ms.saturating_add(millis(rule.group_wait));
                self.group_timers.insert((due_ms, alarm.tenant_id.clone(), shared.clone()));
                tenant.groups.insert(shared.clone(), Group { members: BTreeMap::new(), due_ms, sent: 0 });
                shared
            }
        };
        let group = tenant.groups.get_mut(&key).expect("inserted above");
        let mut member = self.interner.member(alarm);
        // The same alarm again in the same state keeps what was already notified about it.
        member.notified = group.members.get(alarm.alarm_id.as_str()).is_some_and(|m| m.notified);
        let alarm_id = member.alarm_id.clone();
        group.members.insert(alarm_id.clone(), Arc::new(member));
        let keys = tenant.memberships.entry(alarm_id).or_default();
        if !keys.contains(&shared_key) {
            keys.push(shared_key);
        }
        self.dirty.insert(Entity::Group { tenant: alarm.tenant_id.clone(), key });
    }

    fn flush_group(&mut self, rules: &RuleIndex, tenant_id: &str, key: Arc<GroupKey>, due_ms: i64, now_ms: i64) -> Vec<Effect> {
        let Some(tenant) = self.tenants.get_mut(tenant_id) else { return Vec::new() };
        let Some(group) = tenant.groups.get_mut(&key) else { return Vec::new() };
        if group.due_ms != due_ms {
            return Vec::new();
        }
        let entity = Entity::Group { tenant: tenant_id.to_owned(), key: (*key).clone() };
        let Some(rule) = rules.group(&key.rule_id).filter(|r| r.meta.tenant_id == tenant_id) else {
            // The rule was deleted: its groups end without a notice.
            for alarm_id in group.members.keys() {
                if let Some(keys) = tenant.memberships.get_mut(alarm_id) {
                    keys.retain(|k| k != &key);
                }
            }
            tenant.groups.remove(&key);
            self.dirty.insert(entity);
            return Vec::new();
        };
        group.sent = group.sent.saturating_add(1);
        group.due_ms = now_ms.max(due_ms).saturating_add(millis(rule.repeat_interval).max(1));
        self.group_timers.insert((group.due_ms, tenant_id.to_owned(), key.clone()));
        for member in group.members.values_mut().filter(|m| !m.notified) {
            Arc::make_mut(member).notified = true;
        }
        let members: Vec<Arc<Member>> = group.members.values().cloned().collect();
        self.dirty.insert(entity);
        let actions = match key.state {
            AlarmState::Alarm => &rule.alarm_actions,
            AlarmState::Ok => &rule.ok_actions,
            AlarmState::Undetermined => &rule.undetermined_actions,
        };
        vec![Effect::Group(GroupNotice {
            tenant_id: tenant_id.to_owned(),
            rule_id: rule.meta.id.clone(),
            rule_name: rule.meta.name.clone(),
            name: group_notification_name(&rule.meta.name, &key.values, key.state, members.len()),
            values: key.values.clone(),
            state: key.state,
            members,
            actions: actions.clone(),
            sequence: group.sent,
        })]
    }

    /// The changes since the last call, for the engine to persist.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.interner.purge();
        let mut dirty: Vec<Entity> = self.dirty.drain().collect();
        dirty.sort();
        dirty.into_iter().map(|entity| Change { value: self.value_of(&entity), entity }).collect()
    }

    /// Marks entities dirty again after their changes could not be persisted.
    pub fn requeue(&mut self, entities: impl IntoIterator<Item = Entity>) {
        self.dirty.extend(entities);
    }

    fn value_of(&self, entity: &Entity) -> Option<String> {
        match entity {
            Entity::Group { tenant, key } => {
                #[derive(Serialize)]
                struct GroupRow<'a> {
                    key: &'a GroupKey,
                    group: &'a Group,
                }
                let group = self.tenants.get(tenant)?.groups.get(key)?;
                Some(serde_json::to_string(&GroupRow { key, group }).expect("a group serializes"))
            }
            Entity::Holds { tenant, alarm_id } => {
                let holds = self.tenants.get(tenant)?.holds.get(alarm_id)?;
                let rows: Vec<String> = holds
                    .iter()
                    .map(|h| format!(r#"{{"alarm":{},"offset":{},"arrived_ms":{},"due_ms":{}}}"#, h.alarm.0, h.offset, h.arrived_ms, h.due_ms))
                    .collect();
                Some(format!("[{}]", rows.join(",")))
            }
            Entity::Source { .. } => None,
            Entity::Notified { tenant, alarm_id } => self.tenants.get(tenant)?.notified_firing.contains(alarm_id).then(|| "true".to_owned()),
        }
    }

    /// Rebuilds state from persisted rows (as [`take_changes`](Self::take_changes) produced them).
    pub fn restore(&mut self, entity: Entity, value: serde_json::Value) -> Result<(), String> {
        match entity {
            Entity::Group { tenant, key } => {
                let mut group: Group = serde_json::from_value(value.get("group").cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
                for member in group.members.values_mut() {
                    *member = Arc::new(self.interner.share(member));
                }
                let state = self.tenants.entry(tenant.clone()).or_default();
                let key = Arc::new(key);
                for alarm_id in group.members.keys() {
                    state.memberships.entry(alarm_id.clone()).or_default().push(key.clone());
                }
                self.group_timers.insert((group.due_ms, tenant, key.clone()));
                state.groups.insert(key, group);
            }
            Entity::Holds { tenant, alarm_id } => {
                let rows = value.as_array().ok_or("holds are not a list")?;
                let mut queue = VecDeque::new();
                for row in rows {
                    let raw = row.get("alarm").and_then(|a| a.as_object()).cloned().ok_or("hold has no alarm")?;
                    let alarm = crate::ingest::transition(raw).map_err(|e| e.to_string())?;
                    let number = |field: &str| row.get(field).and_then(serde_json::Value::as_i64).ok_or(format!("hold has no {field}"));
                    queue.push_back(Hold { alarm: HeldAlarm::new(&alarm), offset: number("offset")?, arrived_ms: number("arrived_ms")?, due_ms: number("due_ms")? });
                }
                if let Some(first) = queue.front() {
                    self.hold_timers.insert((first.due_ms, tenant.clone(), alarm_id.clone()));
                    self.tenants.entry(tenant).or_default().holds.insert(alarm_id, queue);
                }
            }
            source @ Entity::Source { .. } => {
                self.dirty.insert(source);
            }
            Entity::Notified { tenant, alarm_id } => {
                self.tenants.entry(tenant).or_default().notified_firing.insert(alarm_id);
            }
        }
        Ok(())
    }
}

/// A rule's duration in milliseconds. Times here are saturating sums of these and of input
/// times, so neither a restored row nor a rule's duration can overflow them.
pub(super) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `group_notification_` + rule name without a leading `group_` + `_` + values joined by `_` +
/// `_` + state in lower case + `[count]`.
pub fn group_notification_name(rule_name: &str, values: &[String], state: AlarmState, count: usize) -> String {
    let rule = rule_name.strip_prefix("group_").unwrap_or(rule_name);
    let mut name = format!("group_notification_{rule}");
    for value in values {
        name.push('_');
        name.push_str(value);
    }
    name.push('_');
    name.push_str(&state.as_str().to_ascii_lowercase());
    name.push_str(&format!("[{count}]"));
    name
}
