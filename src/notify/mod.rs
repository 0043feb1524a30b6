//! The notification engine: for each record of the alarm topic, decode the transition
//! (`ingest`), find its methods (`db::MethodLookup`), send them (`dispatch`), and publish what
//! was sent to the sent topic and what failed to the retry topic (`publish`). A record is
//! finished, and so committable, only when all of that is confirmed by the broker.
//!
//! Transitions of tenants with alarm-manager rules are not sent here: they are handed, whole,
//! to the alarm manager through the filtered-transitions topic (`crate::manager`).
//!
//! It never drops a record silently: malformed ones are counted, logged with partition and
//! offset and dead-lettered (by the consumer's shared path, `kafka::Discard`); skipped ones
//! (actions disabled, too old, no methods) are counted.

use crate::db::MethodLookup;
use crate::deliver::Delivery;
use crate::dispatch::unix_now_secs;
use crate::ingest::{self, Verdict};
use crate::kafka::{Discard, Handler, Record, Rejected, Stop};
use crate::supervise::Cancelled;
use crate::model::{AlarmTransition, Notification};
use crate::rules::live::LiveRules;
use crate::telemetry::{Metrics, NoNotification};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The engine's own limits (where notifications go is the [`Delivery`]'s business).
#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub ttl: Option<Duration>,
    pub max_message_bytes: usize,
}

/// Transitions of tenants that have alarm-manager rules go to the manager instead.
pub struct Routing {
    pub rules: LiveRules,
    pub filtered_topic: String,
}

pub struct NotificationEngine {
    settings: EngineSettings,
    lookup: MethodLookup,
    delivery: Arc<Delivery>,
    routing: Option<Routing>,
    metrics: Metrics,
}

/// One record of the alarm topic, decoded.
pub struct Job {
    partition: i32,
    offset: i64,
    alarm: Arc<AlarmTransition>,
}

impl NotificationEngine {
    pub fn new(settings: EngineSettings, lookup: MethodLookup, delivery: Arc<Delivery>, routing: Option<Routing>, metrics: Metrics) -> NotificationEngine {
        NotificationEngine { settings, lookup, delivery, routing, metrics }
    }

    async fn transition(&self, Job { partition, offset, alarm }: Job, cancel: CancellationToken) -> Result<(), Cancelled> {
        match ingest::verdict(&alarm, self.settings.ttl, unix_now_secs() * 1000.0) {
            Verdict::Act => {}
            Verdict::ActionsDisabled => {
                tracing::debug!(alarm_id = %alarm.alarm_id, partition, offset, "Actions are disabled for this alarm.");
                self.metrics.alarm_no_notification(NoNotification::ActionsDisabled);
                self.metrics.alarm_finished();
                return Ok(());
            }
            Verdict::Expired(age) => {
                tracing::warn!(alarm_id = %alarm.alarm_id, partition, offset, age_secs = age.as_secs(), "Received alarm older than the ttl, skipping.");
                self.metrics.alarm_no_notification(NoNotification::Expired);
                self.metrics.alarm_finished();
                return Ok(());
            }
        }
        if let Some(routing) = &self.routing {
            tokio::select! {
                _ = routing.rules.loaded() => {}
                _ = cancel.cancelled() => return Err(Cancelled),
            }
            if routing.rules.current().has_tenant(&alarm.tenant_id) {
                return self.route(routing, &alarm, &cancel).await;
            }
        }
        let methods = self.lookup.methods(&alarm.alarm_definition_id, alarm.new_state, &cancel).await?;
        if methods.is_empty() {
            tracing::debug!(alarm_id = %alarm.alarm_id, definition_id = %alarm.alarm_definition_id, state = %alarm.new_state, "no notification methods for this alarm state");
            self.metrics.alarm_no_notification(NoNotification::NoMethods);
            self.metrics.alarm_finished();
            return Ok(());
        }
        let notifications = methods.iter().map(|m| Notification::new(m.clone(), alarm.clone())).collect();
        self.delivery.deliver(notifications, &cancel).await?;
        self.metrics.alarm_finished();
        Ok(())
    }

    /// Hands a transition of a tenant with rules to the alarm manager, keyed by tenant so all of
    /// a tenant's transitions (and so each of its groups) land on one partition.
    async fn route(&self, routing: &Routing, alarm: &AlarmTransition, cancel: &CancellationToken) -> Result<(), Cancelled> {
        /// The record as received, serialised from the borrowed object (no copy of it).
        #[derive(serde::Serialize)]
        struct Routed<'a> {
            #[serde(rename = "alarm-transitioned")]
            alarm: &'a serde_json::Map<String, serde_json::Value>,
        }
        let payload = serde_json::to_string(&Routed { alarm: &alarm.raw }).expect("a JSON object serialises");
        self.delivery.publisher().raw(&routing.filtered_topic, alarm.tenant_id.as_bytes(), payload.as_bytes(), cancel).await?;
        self.metrics.alarm_routed_to_manager();
        self.metrics.alarm_finished();
        Ok(())
    }
}

impl Handler for NotificationEngine {
    type Job = Job;
    const INPUT: &'static str = "Alarm";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        let alarm = ingest::decode(record.payload.as_deref(), self.settings.max_message_bytes)?;
        Ok(Job { partition: record.partition, offset: record.offset, alarm: Arc::new(alarm) })
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
            self.metrics.alarm_failed_parse();
        }
        self.metrics.alarm_dead_lettered();
        self.metrics.alarm_finished();
    }
}
