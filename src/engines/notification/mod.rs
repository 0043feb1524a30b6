//! The notification engine: for each record of the alarm topic, decode the transition
//! (`ingest`), find its methods (`db::MethodLookup`), send them and publish each outcome, sent
//! or failed (`outcomes`). A record is finished, and so committable, only when all of that is
//! confirmed by the broker.
//!
//! Transitions of tenants with alarm-manager rules are not sent here: they are handed, whole,
//! to the alarm manager through the filtered-transitions topic (`engines::manager`).
//!
//! It never drops a record silently: malformed ones are counted, logged with partition and
//! offset and dead-lettered (by the consumer's shared path, `kafka::Discard`); skipped ones
//! (actions disabled, too old, no methods) are counted.

mod config;

pub use config::NotificationConfig;

use super::manager::ManagerConfig;
use super::Parts;
use crate::ingest::{self, Verdict};
use crate::kafka::{Discard, Handler, Record, Rejected, Stop};
use crate::model::{AlarmTransition, Notification};
use crate::rules::live::LiveRules;
use crate::supervise::Cancelled;
use crate::telemetry::NoNotification;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Transitions of tenants that have alarm-manager rules go to the manager instead.
struct Routing {
    rules: LiveRules,
    filtered_topic: String,
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
    alarm: Arc<AlarmTransition>,
}

impl NotificationEngine {
    pub fn new(config: &NotificationConfig, manager: &ManagerConfig, parts: &Parts) -> NotificationEngine {
        let routing = manager.enabled.then(|| Routing { rules: parts.rules.clone(), filtered_topic: manager.filtered_topic.clone() });
        NotificationEngine { ttl: config.ttl, parts: parts.clone(), routing }
    }

    async fn transition(&self, Job { partition, offset, alarm }: Job, cancel: CancellationToken) -> Result<(), Cancelled> {
        match ingest::verdict(&alarm, self.ttl, crate::clock::unix_secs() * 1000.0) {
            Verdict::Act => {}
            Verdict::ActionsDisabled => {
                tracing::debug!(alarm_id = %alarm.alarm_id, partition, offset, "Actions are disabled for this alarm.");
                self.parts.metrics.alarm_no_notification(NoNotification::ActionsDisabled);
                self.parts.metrics.alarm_finished();
                return Ok(());
            }
            Verdict::Expired(age) => {
                tracing::warn!(alarm_id = %alarm.alarm_id, partition, offset, age_secs = age.as_secs(), "Received alarm older than the ttl, skipping.");
                self.parts.metrics.alarm_no_notification(NoNotification::Expired);
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
                return self.route(routing, &alarm, &cancel).await;
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
        self.parts.publisher.raw(&routing.filtered_topic, alarm.tenant_id.as_bytes(), payload.as_bytes(), cancel).await?;
        self.parts.metrics.alarm_routed_to_manager();
        self.parts.metrics.alarm_finished();
        Ok(())
    }
}

impl Handler for NotificationEngine {
    type Job = Job;
    const INPUT: &'static str = "Alarm";

    fn decode(&self, record: &Record) -> Result<Job, Rejected> {
        let alarm = ingest::decode(record.payload.as_deref(), self.parts.max_message_bytes)?;
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
            self.parts.metrics.alarm_failed_parse();
        }
        self.parts.metrics.alarm_dead_lettered();
        self.parts.metrics.alarm_finished();
    }
}
