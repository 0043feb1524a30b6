//! The notification engine: for each record of the alarm topic, decode the transition
//! (`ingest`), find its methods (`db::MethodLookup`), send them and publish each outcome, sent
//! or failed (`outcomes`). A record is finished, and so committable, only when all of that is
//! confirmed by the broker.
//!
//! Transitions of tenants with alarm-manager rules are not sent here: they are handed, whole,
//! to the alarm manager through the filtered-transitions topic (`engines::manager`), keyed so
//! that each of the tenant's groups lands on one partition (`rules::index::Spread`) and stamped
//! with their record's time. Their inhibition sources go to the sources topic first, and with
//! them how far each alarm partition has come (`engines::manager::sources`), so that a held
//! target on any partition waits for every source that arrived before its wait ended.
//!
//! It never drops a record silently: malformed ones are counted, logged with partition and
//! offset and dead-lettered (by the consumer's shared path, `kafka::Discard`); skipped ones
//! (actions disabled, too old, no methods) are counted.

mod config;

pub use config::NotificationConfig;

use super::manager::sources::{self, SourceRecord};
use super::manager::ManagerConfig;
use super::Parts;
use crate::ingest::{self, Verdict};
use crate::kafka::producer::Placement;
use crate::kafka::{Discard, Handler, Record, Rejected, Stop};
use crate::model::{AlarmTransition, Notification};
use crate::publish::Publisher;
use crate::rules::live::LiveRules;
use crate::supervise::Cancelled;
use crate::telemetry::{ManagerStage, NoNotification};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Transitions of tenants that have alarm-manager rules go to the manager instead.
struct Routing {
    rules: LiveRules,
    filtered_topic: String,
    sources_topic: String,
    /// How far behind the present a record may still arrive (`[alarm_manager] input_delay`).
    input_delay_ms: i64,
    /// The latest progress of each assigned alarm partition, for [`report_progress`].
    progress: Arc<Mutex<BTreeMap<i32, i64>>>,
    reported: Arc<Notify>,
    /// Stops [`report_progress`] with the engine.
    _stop: DropGuard,
}

pub struct NotificationEngine {
    /// Transitions older than this are skipped; `None` keeps all.
    ttl: Option<Duration>,
    parts: Parts,
    /// Present when the alarm manager runs.
    routing: Option<Routing>,
}

/// One record of the alarm topic, decoded.
pub struct Job {
    partition: i32,
    offset: i64,
    /// When its input became available (`Record::time_ms`).
    arrived_ms: i64,
    alarm: Arc<AlarmTransition>,
}

impl NotificationEngine {
    /// `alarm_topic` is the topic it reads, named in its progress reports.
    pub fn new(config: &NotificationConfig, manager: &ManagerConfig, alarm_topic: &str, parts: &Parts) -> NotificationEngine {
        let routing = manager.enabled.then(|| {
            let stop = CancellationToken::new();
            let routing = Routing {
                rules: parts.rules.clone(),
                filtered_topic: manager.filtered_topic.clone(),
                sources_topic: manager.sources_topic.clone(),
                input_delay_ms: i64::try_from(manager.input_delay.as_millis()).unwrap_or(i64::MAX),
                progress: Arc::default(),
                reported: Arc::default(),
                _stop: stop.clone().drop_guard(),
            };
            tokio::spawn(report_progress(parts.publisher.clone(), routing.sources_topic.clone(), alarm_topic.to_owned(), routing.progress.clone(), routing.reported.clone(), stop));
            routing
        });
        NotificationEngine { ttl: config.ttl, parts: parts.clone(), routing }
    }

    async fn transition(&self, Job { partition, offset, arrived_ms, alarm }: Job, cancel: CancellationToken) -> Result<(), Cancelled> {
        match ingest::verdict(&alarm, self.ttl, crate::clock::unix_secs() * 1000.0) {
            Verdict::Act => {}
            Verdict::ActionsDisabled => {
                tracing::debug!(alarm_id = %alarm.alarm_id, partition, offset, "Actions are disabled for this alarm.");
                self.parts.metrics.alarm_no_notification(NoNotification::ActionsDisabled);
                self.parts.history.skipped(&alarm, "actions disabled", &cancel).await?;
                self.parts.metrics.alarm_finished();
                return Ok(());
            }
            Verdict::Expired(age) => {
                tracing::warn!(alarm_id = %alarm.alarm_id, partition, offset, age_secs = age.as_secs(), "Received alarm older than the ttl, skipping.");
                self.parts.metrics.alarm_no_notification(NoNotification::Expired);
                let reason = format!("older than the TTL ({} s old)", age.as_secs());
                self.parts.history.skipped(&alarm, &reason, &cancel).await?;
                self.parts.metrics.alarm_finished();
                return Ok(());
            }
        }
        if let Some(routing) = &self.routing {
            tokio::select! {
                _ = routing.rules.loaded() => {}
                _ = cancel.cancelled() => return Err(Cancelled),
            }
            if routing.rules.current().has_tenant(&alarm.tenant_id) {
                return self.route(routing, &alarm, arrived_ms, &cancel).await;
            }
        }
        let methods = self.parts.lookup.methods(&alarm.alarm_definition_id, alarm.new_state, &cancel).await?;
        if methods.is_empty() {
            tracing::debug!(alarm_id = %alarm.alarm_id, definition_id = %alarm.alarm_definition_id, state = %alarm.new_state, "no notification methods for this alarm state");
            self.parts.metrics.alarm_no_notification(NoNotification::NoMethods);
            self.parts.metrics.alarm_finished();
            return Ok(());
        }
        let notifications = methods.iter().map(|m| Notification::new(m.clone(), alarm.clone())).collect();
        self.parts.outcomes.send_and_publish(notifications, &cancel).await?;
        self.parts.metrics.alarm_finished();
        Ok(())
    }

    /// Hands a transition of a tenant with rules to the alarm manager: first the inhibition
    /// sources it is (on the sources topic's one partition), then the transition itself, keyed
    /// by its tenant's spread and stamped with its record time.
    async fn route(&self, routing: &Routing, alarm: &AlarmTransition, arrived_ms: i64, cancel: &CancellationToken) -> Result<(), Cancelled> {
        let started = std::time::Instant::now();
        let (key, sources) = {
            let rules = routing.rules.current();
            (rules.spread(&alarm.tenant_id).key(alarm), sources::records_for(&rules, alarm, arrived_ms))
        };
        for source in sources {
            let placement = Placement { partition: Some(0), timestamp_ms: None };
            self.parts.publisher.raw(&routing.sources_topic, source.key().as_bytes(), &source.encode(), placement, cancel).await?;
        }
        // The object's text as received: nothing is parsed or serialised again on this hop.
        let payload = format!("{{\"alarm-transitioned\":{}}}", alarm.raw.to_json());
        let placement = Placement { partition: None, timestamp_ms: Some(arrived_ms) };
        self.parts.publisher.raw(&routing.filtered_topic, key.as_bytes(), payload.as_bytes(), placement, cancel).await?;
        self.parts.metrics.manager_stage(ManagerStage::Route, started.elapsed());
        self.parts.metrics.alarm_routed_to_manager();
        self.parts.metrics.alarm_finished();
        Ok(())
    }
}

impl Handler for NotificationEngine {
    type Job = Job;
    const INPUT: &'static str = "Alarm";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        // With no rule anywhere every transition is sent, so its object is built at once.
        let routed_somewhere = self.routing.as_ref().is_some_and(|routing| routing.rules.current().has_tenants());
        let decode = if routed_somewhere { ingest::decode } else { ingest::decode_for_sending };
        let alarm = decode(record.payload.as_deref(), self.parts.max_message_bytes)?;
        let arrived_ms = record.time_ms(crate::clock::unix_ms());
        Ok(Job { partition: record.partition, offset: record.offset, arrived_ms, alarm: Arc::new(alarm) })
    }

    /// Transitions of one alarm are handled in order, so an ALARM notice never overtakes the OK
    /// that followed it.
    fn ordering_key(&self, job: &Job) -> Option<u64> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        job.alarm.alarm_id.hash(&mut hasher);
        Some(hasher.finish())
    }

    async fn handle(&self, job: Job, stop: Stop) -> Result<(), Cancelled> {
        self.transition(job, stop.abort).await
    }

    /// Monasca's counters for a message it could not parse.
    fn dead_lettered(&self, _record: &Record, discard: &Discard) {
        if let Discard::Rejected(_) = discard {
            self.parts.metrics.alarm_failed_parse();
        }
        self.parts.metrics.alarm_dead_lettered();
        self.parts.metrics.alarm_finished();
    }

    /// The alarm manager's holds wait for this engine's progress.
    const TRACKS_PROGRESS: bool = true;

    fn progress(&self, partition: i32, low_watermark_ms: i64) {
        let Some(routing) = &self.routing else { return };
        let below_ms = low_watermark_ms.saturating_sub(routing.input_delay_ms);
        routing.progress.lock().expect("lock poisoned").insert(partition, below_ms);
        routing.reported.notify_one();
    }

    /// Its new owner reports the partition from now on.
    async fn released(&self, partition: i32) {
        if let Some(routing) = &self.routing {
            routing.progress.lock().expect("lock poisoned").remove(&partition);
        }
    }
}

/// How often progress is written at most. Each report is a record per partition on the
/// sources topic, read by every instance: at the 100 ms commit interval an idle instance cost
/// the test broker 16 % of a core against 6 % at this pace (BENCHMARKS.md), and holds only need
/// progress well within `input_delay` (1 s).
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Writes the latest progress of every partition this instance routes to the sources topic,
/// after the sources of the records it covers (each was confirmed before its record finished).
/// Reports follow the commit ticks, at most every [`REPORT_EVERY`], so a partition whose engine
/// is alive is never taken for silent.
async fn report_progress(publisher: Publisher, topic: String, alarm_topic: String, progress: Arc<Mutex<BTreeMap<i32, i64>>>, reported: Arc<Notify>, stop: CancellationToken) {
    let mut pace = tokio::time::interval(REPORT_EVERY);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = pace.tick() => {}
            _ = stop.cancelled() => return,
        }
        tokio::select! {
            _ = reported.notified() => {}
            _ = stop.cancelled() => return,
        }
        let latest: Vec<(i32, i64)> = progress.lock().expect("lock poisoned").iter().map(|(p, below)| (*p, *below)).collect();
        for (partition, below_ms) in latest {
            let record = SourceRecord::Progress { topic: alarm_topic.clone(), partition, below_ms };
            let placement = Placement { partition: Some(0), timestamp_ms: None };
            if publisher.raw(&topic, record.key().as_bytes(), &record.encode(), placement, &stop).await.is_err() {
                return;
            }
        }
    }
}
