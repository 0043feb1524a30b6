//! The alarm-manager engine: consumes the filtered-transitions topic (keyed so that each group's
//! members and each alarm's transitions share a partition, `rules::index::Spread`), applies each
//! transition to the partition's [`ManagerState`] with the inhibition sources every partition
//! shares ([`SharedSources`]), carries out the effects (own actions, grouped notices) through
//! the shared `Outcomes`, and fires timers (held transitions, group_wait, repeat_interval)
//! from a per-partition ticker.
//!
//! It logs per group and per transition at DEBUG only; an outage of thousands of groups makes
//! one INFO summary per `summary_interval` instead.
//!
//! At-least-once, like every engine: a record's offset is committed only when its effects were
//! delivered AND the state it changed was persisted ([`StateStore`]); a grouped notice is marked
//! sent in the state only after its delivery was confirmed. A crash replays records and may
//! repeat a notice; it never loses a member or a due notice. A partition's state is loaded when
//! the partition is assigned (so its timers run even if no record follows) and written back
//! (then dropped) when it is released.

use super::config::ManagerConfig;
use super::notice;
use super::persist::{self, StateStore};
use super::sources::SharedSources;
use super::state::{Effect, GroupNotice, ManagerState, Pending, Suppression};
use crate::db;
use crate::engines::Parts;
use crate::ingest;
use crate::kafka::{Discard, Handler, Record, Rejected, Stop};
use crate::model::{AlarmState, AlarmTransition, Notification, NotificationMethod};
use crate::rules::matching::selector_matches_action;
use crate::rules::Selector;
use crate::supervise::{panic_text, Cancelled};
use crate::telemetry::{ManagerStage, NoNotification};
use futures::{FutureExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a released partition's ticker may take to finish the notices it is sending.
const TICKER_DRAIN: Duration = Duration::from_secs(10);
/// Grouped notices of one batch delivered at once (sends are also bounded by the dispatcher's
/// `max_concurrent_sends`, 256 by default). After a backlog, thousands of groups come due
/// together: 256 instead of 64 took the last of 9,900 notices 0.4 s sooner on average
/// (BENCHMARKS.md, outage `inhibit` backlog, four alternating pairs).
const NOTICES_IN_FLIGHT: usize = 256;
/// Upper bound of a ticker's sleep, so timers of a state restored late are not missed.
const MAX_TICK: Duration = Duration::from_secs(1);

pub struct ManagerEngine {
    config: ManagerConfig,
    /// Prefix of the persisted state's scope (consumer group and topic), so two deployments
    /// sharing a database do not share state.
    scope_prefix: String,
    store: StateStore,
    parts: Parts,
    partitions: Mutex<HashMap<i32, Arc<Partition>>>,
    /// Offset below which each partition's state is persisted; kept after a release so a
    /// partition whose final write failed is never committed past it.
    durable: Mutex<HashMap<i32, i64>>,
    sources: Arc<SharedSources>,
    summary: Summary,
    /// Stops the sources reader and the summary when the engine goes.
    _stop: DropGuard,
}

/// What happened since the last INFO summary.
#[derive(Default)]
struct Summary {
    transitions: AtomicU64,
    silenced: AtomicU64,
    inhibited: AtomicU64,
    notices: AtomicU64,
}

/// One partition's state and the tasks that keep it.
struct Partition {
    number: i32,
    scope: String,
    state: tokio::sync::Mutex<Loaded>,
    /// Offset after the last record whose effects were delivered.
    finished_below: AtomicI64,
    /// Set when a ticker gave up mid-delivery: the in-memory state is ahead of what was
    /// delivered, so it must not be written back; the next owner redoes the work from what was
    /// persisted and the records after it.
    poisoned: AtomicBool,
    wake: tokio::sync::Notify,
    stop: CancellationToken,
    abort: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// History events of suppressed transitions, published without holding the partition up;
    /// a flush waits for them before it writes an offset past their transitions.
    history_publishes: Mutex<Vec<JoinHandle<Result<(), Cancelled>>>>,
}

struct Loaded {
    state: ManagerState,
    /// Records below this offset are already reflected in the restored state.
    skip_below: i64,
    open_groups: usize,
    /// As last added to the instance's gauges.
    pending: Pending,
}

/// One record of the filtered-transitions topic, decoded.
pub struct Job {
    partition: i32,
    offset: i64,
    /// The record time of the transition (the notification engine stamps the filtered record
    /// with its alarm record's time).
    arrived_ms: i64,
    alarm: Arc<AlarmTransition>,
}

impl ManagerEngine {
    /// `sources` is followed until `stop` fires or the engine is dropped.
    pub fn new(config: &ManagerConfig, parts: &Parts, sources: Arc<SharedSources>, stop: CancellationToken) -> Arc<ManagerEngine> {
        let engine = Arc::new(ManagerEngine {
            config: config.clone(),
            scope_prefix: format!("{}/{}", config.group, config.filtered_topic),
            store: StateStore::new(parts.db.clone()),
            parts: parts.clone(),
            partitions: Mutex::default(),
            durable: Mutex::default(),
            sources,
            summary: Summary::default(),
            _stop: stop.clone().drop_guard(),
        });
        tokio::spawn(summarize(Arc::downgrade(&engine), config.summary_interval, stop));
        engine
    }

    /// The state tables, created where they are missing.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// The partition's state, loaded from the store on assignment (with its ticker and flusher).
    async fn partition(self: &Arc<Self>, number: i32, cancel: &CancellationToken) -> Result<Arc<Partition>, Cancelled> {
        if let Some(partition) = self.partitions.lock().expect("lock poisoned").get(&number) {
            return Ok(partition.clone());
        }
        // Timers must not fire on an empty index: a group whose rule is unknown ends.
        tokio::select! {
            _ = self.parts.rules.loaded() => {}
            _ = cancel.cancelled() => return Err(Cancelled),
        }
        let scope = format!("{}/{number}", self.scope_prefix);
        let snapshot = db::until_answered("alarm-manager state", &self.parts.metrics, &self.parts.fatal, cancel, || self.store.load(&scope)).await?;
        let mut state = ManagerState::new(self.config.notify_resolved_if_notified);
        for bad in &snapshot.unreadable {
            self.parts.metrics.manager_unreadable_row();
            tracing::error!(scope, table = bad.table, entity_hash = %bad.entity_hash, column = bad.column, error = %bad.why, "unreadable alarm-manager state row left out: {bad}");
        }
        let rows = snapshot.rows.len();
        for (entity, value) in snapshot.rows {
            let (entity_hash, described) = (persist::entity_hash(&entity), format!("{entity:?}"));
            if let Err(why) = state.restore(entity, value) {
                self.parts.metrics.manager_unreadable_row();
                tracing::error!(
                    scope, table = "alarm_manager_state", %entity_hash, column = "body", entity = described, error = %why,
                    "unreadable alarm-manager state row left out: row (scope {scope:?}, entity_hash {entity_hash:?}) of table alarm_manager_state, column body: {why}"
                );
            }
        }
        let open_groups = state.group_count();
        self.parts.metrics.manager_open_groups(open_groups as i64);
        let pending = state.pending();
        self.parts.metrics.manager_pending(pending.groups_awaiting_first_notice as i64, pending.held_transitions as i64);
        tracing::info!(scope, rows, open_groups, next_offset = snapshot.next_offset, "alarm-manager state loaded");
        self.durable.lock().expect("lock poisoned").insert(number, snapshot.next_offset);
        let partition = Arc::new(Partition {
            number,
            scope,
            state: tokio::sync::Mutex::new(Loaded { state, skip_below: snapshot.next_offset, open_groups, pending }),
            finished_below: AtomicI64::new(snapshot.next_offset),
            poisoned: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: Mutex::default(),
            history_publishes: Mutex::default(),
        });
        let ticker = tokio::spawn(self.clone().restarted_on_panic("timers", partition.clone(), |engine, part| engine.tick(part).boxed()));
        let flusher = tokio::spawn(self.clone().restarted_on_panic("persistence", partition.clone(), |engine, part| engine.flush_periodically(part).boxed()));
        partition.tasks.lock().expect("lock poisoned").extend([ticker, flusher]);
        self.partitions.lock().expect("lock poisoned").insert(number, partition.clone());
        Ok(partition)
    }

    async fn transition(self: &Arc<Self>, Job { partition, offset, arrived_ms, alarm }: Job, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let part = self.partition(partition, cancel).await?;
        let effects = {
            let mut loaded = part.state.lock().await;
            if offset < loaded.skip_below {
                return Ok(());
            }
            let started = Instant::now();
            let now_ms = crate::clock::unix_ms();
            self.parts.metrics.manager_input_lag(Duration::from_millis(now_ms.saturating_sub(arrived_ms).max(0) as u64));
            let effects = {
                let sources = self.sources.read();
                loaded.state.transition(&self.parts.rules.current(), &sources, alarm, offset, arrived_ms, now_ms)
            };
            self.update_open_groups(&mut loaded);
            self.parts.metrics.manager_stage(ManagerStage::Apply, started.elapsed());
            effects
        };
        self.parts.metrics.manager_transition();
        self.summary.transitions.fetch_add(1, Ordering::Relaxed);
        part.wake.notify_one();
        let notified = self.carry_out(&part, effects, cancel).await?;
        if !notified.is_empty() {
            let mut loaded = part.state.lock().await;
            for alarm in &notified {
                loaded.state.mark_notified(alarm);
            }
        }
        // Not counted as a finished alarm: the notification engine counted it when routing it here.
        self.finished(partition, offset);
        Ok(())
    }

    /// Notes that the record at `offset` and every effect it had are delivered, so the next
    /// flush may persist the partition's state as complete past it.
    fn finished(&self, partition: i32, offset: i64) {
        if let Some(part) = self.partitions.lock().expect("lock poisoned").get(&partition) {
            part.finished_below.fetch_max(offset.saturating_add(1), Ordering::SeqCst);
        }
    }

    fn update_open_groups(&self, loaded: &mut Loaded) {
        let now = loaded.state.group_count();
        self.parts.metrics.manager_open_groups(now as i64 - loaded.open_groups as i64);
        loaded.open_groups = now;
    }

    /// Brings the pending-work gauges up to date; at each state write, so that once an offset
    /// is committed they reflect at least the records before it.
    fn update_pending(&self, loaded: &mut Loaded) {
        let now = loaded.state.pending();
        let before = loaded.pending;
        self.parts.metrics.manager_pending(
            now.groups_awaiting_first_notice as i64 - before.groups_awaiting_first_notice as i64,
            now.held_transitions as i64 - before.held_transitions as i64,
        );
        loaded.pending = now;
    }

    /// Delivers what the state machine decided. Returns the firing transitions whose own
    /// actions were sent (for [`ManagerState::mark_notified`]); `Err` when cancelled first.
    /// Own actions go in order (one alarm's transitions may follow each other); grouped notices
    /// are independent of each other and go concurrently, their methods read once per batch.
    async fn carry_out(&self, part: &Partition, effects: Vec<Effect>, cancel: &CancellationToken) -> Result<Vec<Arc<AlarmTransition>>, Cancelled> {
        let mut notified = Vec::new();
        let mut notices = Vec::new();
        for effect in effects {
            match effect {
                Effect::Own { alarm, muted } => {
                    if self.own_actions(&alarm, &muted, cancel).await? && alarm.new_state == AlarmState::Alarm {
                        notified.push(alarm);
                    }
                }
                Effect::Suppressed { alarm, by } => {
                    let (label, rule_id) = match &by {
                        Suppression::Silence { rule_id } => ("silenced", rule_id),
                        Suppression::Inhibit { rule_id, .. } => ("inhibited", rule_id),
                    };
                    self.parts.metrics.manager_suppressed(label);
                    let counter = if label == "silenced" { &self.summary.silenced } else { &self.summary.inhibited };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(alarm_id = %alarm.alarm_id, state = %alarm.new_state, rule_id, reason = label, "transition {label}; its actions are not sent");
                    if self.parts.history.is_enabled() {
                        let (history, abort) = (self.parts.history.clone(), part.abort.clone());
                        let publish = tokio::spawn(async move { history.suppressed(&alarm, &by, &abort).await });
                        part.history_publishes.lock().expect("lock poisoned").push(publish);
                    }
                }
                Effect::Group(notice) => notices.push(notice),
            }
        }
        if notices.is_empty() {
            return Ok(notified);
        }
        // A rule's actions are read as its tenant's methods: the API checked that when the rule
        // was written, and this holds even if a row was changed behind its back since.
        let started = Instant::now();
        let wanted: HashSet<(String, String)> = notices.iter().flat_map(|n| n.actions.iter().map(|id| (n.tenant_id.clone(), id.clone()))).collect();
        let mut methods: HashMap<(String, String), Option<NotificationMethod>> = HashMap::with_capacity(wanted.len());
        for key in wanted {
            let (tenant, id) = (&key.0, &key.1);
            let method = db::until_answered("notification method", &self.parts.metrics, &self.parts.fatal, cancel, || self.parts.db.fetch_tenant_method(tenant, id)).await?;
            methods.insert(key, method);
        }
        let sent: Vec<Result<(), Cancelled>> =
            futures::stream::iter(notices).map(|notice| self.group_notice(notice, &methods, cancel)).buffer_unordered(NOTICES_IN_FLIGHT).collect().await;
        sent.into_iter().collect::<Result<Vec<()>, Cancelled>>()?;
        self.parts.metrics.manager_stage(ManagerStage::Notices, started.elapsed());
        Ok(notified)
    }

    /// Sends a transition's own actions except the muted ones; `Ok(true)` if any was sent.
    async fn own_actions(&self, alarm: &Arc<AlarmTransition>, muted: &[Selector], cancel: &CancellationToken) -> Result<bool, Cancelled> {
        let methods = self.parts.lookup.methods(&alarm.alarm_definition_id, alarm.new_state, cancel).await?;
        let chosen: Vec<Notification> = methods
            .iter()
            .filter(|method| !muted.iter().any(|selector| selector_matches_action(selector, method)))
            .map(|method| Notification::new(method.clone(), alarm.clone()))
            .collect();
        if chosen.len() < methods.len() {
            self.parts.metrics.manager_suppressed("silenced_action");
        }
        if chosen.is_empty() {
            self.parts.metrics.alarm_no_notification(NoNotification::NoMethods);
            return Ok(false);
        }
        Ok(self.parts.outcomes.send_and_publish(chosen, cancel).await?.sent > 0)
    }

    async fn group_notice(&self, notice: GroupNotice, methods: &HashMap<(String, String), Option<NotificationMethod>>, cancel: &CancellationToken) -> Result<(), Cancelled> {
        self.parts.metrics.manager_group_notice();
        self.summary.notices.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(tenant_id = %notice.tenant_id, rule_id = %notice.rule_id, name = %notice.name, members = notice.members.len(), "grouped notification due");
        let alarm = Arc::new(notice::to_transition(&notice, crate::clock::unix_ms() as f64));
        let mut notifications = Vec::with_capacity(notice.actions.len());
        for id in &notice.actions {
            match methods.get(&(notice.tenant_id.clone(), id.clone())).cloned().flatten() {
                Some(method) => notifications.push(Notification::new(method, alarm.clone())),
                None => tracing::warn!(rule_id = %notice.rule_id, method_id = %id, "a group rule's notification method is not (or no longer) its tenant's; skipped"),
            }
        }
        self.parts.history.grouped(&notice, cancel).await?;
        if notifications.is_empty() {
            return Ok(());
        }
        self.parts.outcomes.send_and_publish(notifications, cancel).await.map(|_| ())
    }

    /// Runs one of a partition's background tasks, starting it again if it panics: a panic is a
    /// bug, but the partition's other timers must still fire and its state still be written.
    async fn restarted_on_panic(
        self: Arc<Self>,
        task: &'static str,
        part: Arc<Partition>,
        run: impl Fn(Arc<Self>, Arc<Partition>) -> futures::future::BoxFuture<'static, ()>,
    ) {
        while let Err(panic) = AssertUnwindSafe(run(self.clone(), part.clone())).catch_unwind().await {
            self.parts.metrics.engine_restart(&format!("alarm-manager {task}"));
            tracing::error!(scope = %part.scope, task, error = %panic_text(&panic), "an alarm-manager partition task panicked (a bug); restarting it");
        }
    }

    /// Fires the partition's timers as they come due, holding the state while it delivers so
    /// nothing is persisted as sent before it was.
    async fn tick(self: Arc<Self>, part: Arc<Partition>) {
        let mut completeness = self.sources.subscribe();
        loop {
            let next_due = part.state.lock().await.state.next_due_ms(self.sources.complete_below());
            let wait = next_due.map_or(MAX_TICK, |due| Duration::from_millis(due.saturating_sub(crate::clock::unix_ms()).clamp(0, MAX_TICK.as_millis() as i64) as u64));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = part.wake.notified() => continue,
                // Held transitions wait for the sources, not for a time.
                Ok(()) = completeness.changed() => continue,
                _ = part.stop.cancelled() => return,
            }
            let mut loaded = part.state.lock().await;
            let started = Instant::now();
            let effects = {
                let sources = self.sources.read();
                loaded.state.advance(&self.parts.rules.current(), &sources, self.sources.complete_below(), crate::clock::unix_ms())
            };
            self.update_open_groups(&mut loaded);
            self.parts.metrics.manager_stage(ManagerStage::Advance, started.elapsed());
            if effects.is_empty() {
                continue;
            }
            match self.carry_out(&part, effects, &part.abort).await {
                Ok(notified) => {
                    for alarm in &notified {
                        loaded.state.mark_notified(alarm);
                    }
                }
                Err(Cancelled) => {
                    part.poisoned.store(true, Ordering::SeqCst);
                    tracing::warn!(scope = %part.scope, "stopped while delivering due notices; the next owner of the partition sends them again");
                    return;
                }
            }
        }
    }

    async fn flush_periodically(self: Arc<Self>, part: Arc<Partition>) {
        let mut tick = tokio::time::interval(self.config.persist_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = part.stop.cancelled() => return,
            }
            self.flush(&part).await;
        }
    }

    /// Writes what changed and the offset it is complete up to. Records whose effects are still
    /// being delivered are not included in the offset, so they are replayed after a crash.
    async fn flush(&self, part: &Partition) -> bool {
        if part.poisoned.load(Ordering::SeqCst) {
            return false;
        }
        let (changes, next_offset) = {
            let mut loaded = part.state.lock().await;
            self.update_pending(&mut loaded);
            (loaded.state.take_changes(), part.finished_below.load(Ordering::SeqCst))
        };
        // Every record below `next_offset` queued its history events before it was finished.
        let publishes = std::mem::take(&mut *part.history_publishes.lock().expect("lock poisoned"));
        for publish in publishes {
            if !matches!(publish.await, Ok(Ok(()))) {
                // Stopped before the broker confirmed: the next owner replays these records.
                part.poisoned.store(true, Ordering::SeqCst);
                return false;
            }
        }
        let durable = self.durable.lock().expect("lock poisoned").get(&part.number).copied();
        if changes.is_empty() && durable == Some(next_offset) {
            return true;
        }
        let started = Instant::now();
        match self.store.save(&part.scope, &changes, next_offset).await {
            Ok(()) => {
                self.parts.metrics.manager_stage(ManagerStage::Persist, started.elapsed());
                self.durable.lock().expect("lock poisoned").insert(part.number, next_offset);
                true
            }
            Err(e) => {
                self.parts.metrics.manager_persist_error();
                tracing::warn!(scope = %part.scope, error = %e, "cannot persist alarm-manager state; offsets wait until it is written");
                part.state.lock().await.state.requeue(changes.into_iter().map(|c| c.entity));
                false
            }
        }
    }
}

/// One INFO line per `every` while the manager works, instead of one per group or transition;
/// at the same pace, inhibition sources that can inhibit nothing any more are forgotten.
async fn summarize(engine: std::sync::Weak<ManagerEngine>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let Some(engine) = engine.upgrade() else { return };
        engine.forget_stale_sources();
        let taken = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
        let summary = &engine.summary;
        let (transitions, silenced, inhibited, notices) = (taken(&summary.transitions), taken(&summary.silenced), taken(&summary.inhibited), taken(&summary.notices));
        if transitions + notices == 0 {
            continue;
        }
        let (mut open_groups, mut awaiting_first_notice, mut held) = (0, 0, 0);
        let partitions: Vec<Arc<Partition>> = engine.partitions.lock().expect("lock poisoned").values().cloned().collect();
        for part in partitions {
            let loaded = part.state.lock().await;
            open_groups += loaded.open_groups;
            awaiting_first_notice += loaded.pending.groups_awaiting_first_notice;
            held += loaded.pending.held_transitions;
        }
        let sources = engine.sources.read().len();
        tracing::info!(
            transitions, silenced, inhibited, grouped_notifications = notices, open_groups, awaiting_first_notice, held, sources,
            "alarm manager: {transitions} transitions applied ({silenced} silenced, {inhibited} inhibited), {notices} grouped notifications sent in the last {every:?}; {open_groups} groups open ({awaiting_first_notice} awaiting their first notification), {held} transitions held"
        );
    }
}

/// How long after its rule's wait an inactive inhibition source is still kept: far longer than
/// any partition's timers lag behind the sources' completeness, even across a rebalance that
/// restores held targets from the database.
const SOURCE_RETENTION: Duration = Duration::from_secs(3600);

impl ManagerEngine {
    /// Forgets inhibition sources that can no longer inhibit any target still to be decided.
    /// Not before the rules were loaded: until then every rule would look deleted.
    fn forget_stale_sources(&self) {
        if !self.parts.rules.is_loaded() {
            return;
        }
        let Some(complete_below) = self.sources.complete_below() else { return };
        let rules = self.parts.rules.current();
        let wait_ms = |tenant: &str, rule_id: &str| {
            rules.inhibit(rule_id).filter(|rule| rule.meta.tenant_id == tenant).map(|rule| super::state::millis(rule.wait))
        };
        let forgotten = self.sources.forget_inactive(wait_ms, complete_below.saturating_sub(super::state::millis(SOURCE_RETENTION)));
        if forgotten > 0 {
            tracing::debug!(forgotten, "inactive inhibition sources forgotten");
        }
    }
}

/// The kafka consumer holds an `Arc<Handler>`; the engine's methods need `Arc<Self>` to spawn
/// partition tasks, so the handler is a thin wrapper.
pub struct ManagerHandler(pub Arc<ManagerEngine>);

impl Handler for ManagerHandler {
    type Job = Job;
    const INPUT: &'static str = "Alarm";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        let alarm = ingest::decode(record.payload.as_deref(), self.0.parts.max_message_bytes)?;
        Ok(Job { partition: record.partition, offset: record.offset, arrived_ms: record.time_ms(crate::clock::unix_ms()), alarm: Arc::new(alarm) })
    }

    /// A partition's records apply to its state strictly in order.
    fn ordering_key(&self, job: &Job) -> Option<u64> {
        Some(job.partition as u64)
    }

    async fn handle(&self, job: Job, stop: Stop) -> Result<(), Cancelled> {
        self.0.transition(job, &stop.abort).await
    }

    /// A dead-lettered record changed no state: the partition is complete past it.
    fn dead_lettered(&self, record: &Record, discard: &Discard) {
        if let Discard::Rejected(_) = discard {
            self.0.parts.metrics.alarm_failed_parse();
        }
        self.0.parts.metrics.alarm_dead_lettered();
        self.0.finished(record.partition, record.offset);
    }

    /// Loads the partition's state now, so its timers run even if no record ever follows.
    async fn assigned(&self, partition: i32, stop: Stop) {
        let _ = self.0.partition(partition, &stop.draining).await;
    }

    fn durable_below(&self, partition: i32) -> Option<i64> {
        self.0.durable.lock().expect("lock poisoned").get(&partition).copied()
    }

    async fn released(&self, partition: i32) {
        let Some(part) = self.0.partitions.lock().expect("lock poisoned").remove(&partition) else { return };
        part.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = part.tasks.lock().expect("lock poisoned").drain(..).collect();
        for mut task in tasks {
            if tokio::time::timeout(TICKER_DRAIN, &mut task).await.is_err() {
                part.abort.cancel();
                let _ = task.await;
            }
        }
        let written = self.0.flush(&part).await;
        let loaded = part.state.lock().await;
        self.0.parts.metrics.manager_open_groups(-(loaded.open_groups as i64));
        self.0.parts.metrics.manager_pending(-(loaded.pending.groups_awaiting_first_notice as i64), -(loaded.pending.held_transitions as i64));
        tracing::info!(scope = %part.scope, written, open_groups = loaded.open_groups, "alarm-manager partition released");
    }
}
