//! Each engine's start: its handler built from its section and the shared [`Parts`], its
//! consumer-group member created (so a bad librdkafka property fails the start) but not yet
//! joined, and, once every member of the process exists, joined and kept running under
//! `supervise`. Also which topics the enabled engines need.

use super::Config;
use crate::engines::manager::sources::{self, Follow};
use crate::engines::manager::{ManagerEngine, ManagerHandler};
use crate::engines::notification::NotificationEngine;
use crate::engines::periodic::PeriodicEngine;
use crate::engines::history::{Background, HistoryEngine, Writer};
use crate::engines::retry::RetryEngine;
use crate::history::store::HistoryStore;
use crate::history::Feed;
use crate::engines::Parts;
use crate::kafka::consumer::Prepared;
use crate::kafka::topics::Needed;
use crate::kafka::{self, ConsumerConfig, ConsumerGroup, ConsumingEngine, DeadLetters, Handler};
use crate::supervise::{supervise, EngineFailed};
use crate::telemetry::Metrics;
use anyhow::Context as _;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every enabled engine's member, in the order they start.
pub async fn members(config: &Config, parts: &Parts) -> anyhow::Result<Vec<Member>> {
    let mut members = Vec::new();
    if config.engine.enabled {
        members.push(notification(config, parts)?);
    }
    if config.manager.enabled {
        members.push(manager(config, parts).await?);
    }
    if config.retry.enabled {
        members.push(retry(config, parts)?);
    }
    if config.periodic.enabled {
        for (period, topic) in &config.kafka.periodic {
            members.push(periodic(config, parts, *period as i64, topic)?);
        }
    }
    Ok(members)
}

/// The history engine's members, created on the background runtime (their threads inherit its
/// priority) and joined there ([`Member::join`]).
pub async fn history_members(config: &Config, parts: &Parts, background: &Background) -> anyhow::Result<Vec<Member>> {
    if !config.history.enabled {
        return Ok(Vec::new());
    }
    let (config, parts, runtime) = (config.clone(), parts.clone(), background.handle());
    let mut members = runtime.spawn(async move { history(&config, &parts).await }).await.context("creating the history engine")??;
    for member in &mut members {
        member.runtime = Some(runtime.clone());
    }
    Ok(members)
}

fn notification(config: &Config, parts: &Parts) -> anyhow::Result<Member> {
    let engine = NotificationEngine::new(&config.engine, &config.manager, &config.kafka.alarm_topic, parts);
    let consumer = consumer(config, "notification", ConsumingEngine::Notification, &config.kafka.group, &config.kafka.alarm_topic, config.engine.max_in_flight_per_partition, &config.engine.dead_letter_topic)
        .counted_in(&parts.backlog);
    Member::prepare(consumer, Arc::new(engine), parts)
}

async fn manager(config: &Config, parts: &Parts) -> anyhow::Result<Member> {
    let m = &config.manager;
    // Ends with the engine (its drop guard), which outlives every restart of its consumer.
    let stop = CancellationToken::new();
    let follow = Follow {
        brokers: config.kafka.brokers.clone(),
        properties: config.kafka.consumer_properties.every.clone(),
        sources_topic: m.sources_topic.clone(),
        alarm_topic: config.kafka.alarm_topic.clone(),
        progress_timeout: m.progress_timeout,
    };
    let sources = sources::follow(follow, stop.clone()).context("the alarm manager's reader of inhibition sources")?;
    let engine = ManagerEngine::new(m, parts, sources, stop);
    if let Err(e) = engine.store().init_schema().await {
        tracing::warn!(error = %e, "cannot create the alarm-manager state tables yet; loading a partition retries");
    }
    // One partition's records apply to its state in order: one in flight per partition.
    let consumer = consumer(config, "alarm-manager", ConsumingEngine::Manager, &m.group, &m.filtered_topic, 1, &config.engine.dead_letter_topic).counted_in(&parts.backlog);
    Member::prepare(consumer, Arc::new(ManagerHandler(engine)), parts)
}

fn retry(config: &Config, parts: &Parts) -> anyhow::Result<Member> {
    let r = &config.retry;
    let engine = RetryEngine::new(r, &config.kafka, parts);
    let consumer = consumer(config, "retry", ConsumingEngine::Retry, &r.group, &config.kafka.notification_retry_topic, r.max_waiting_per_partition, &r.dead_letter_topic);
    Member::prepare(consumer, Arc::new(engine), parts)
}

fn periodic(config: &Config, parts: &Parts, period: i64, topic: &str) -> anyhow::Result<Member> {
    let p = &config.periodic;
    let engine = PeriodicEngine::new(period, topic, &config.kafka, parts);
    let group = format!("{}-{period}", p.group_prefix);
    let consumer = consumer(config, "periodic", ConsumingEngine::Periodic, &group, topic, p.max_waiting_per_partition, &p.dead_letter_topic);
    Member::prepare(consumer, Arc::new(engine), parts)
}

/// One consumer per topic that tells what became of notifications, sharing one batched writer.
async fn history(config: &Config, parts: &Parts) -> anyhow::Result<Vec<Member>> {
    let h = &config.history;
    // A pool of its own, whose connections (SQLite's threads) are made on this runtime.
    let store = HistoryStore::new(crate::db::Database::connect_lazy(&config.database.url).context("the history's config database")?);
    if let Err(e) = store.init_schema().await {
        tracing::warn!(error = %e, "cannot create the notification history tables yet; writes retry until they exist");
    }
    let writer = Writer::start(h, store, parts.backlog.clone(), parts.metrics.clone(), parts.fatal.clone());
    let feeds = [
        (Feed::Sent, &config.kafka.notification_topic),
        (Feed::Retry, &config.kafka.notification_retry_topic),
        (Feed::GivenUp, &config.retry.dead_letter_topic),
        (Feed::Events, &h.topic),
    ];
    let mut members = Vec::new();
    for (feed, topic) in feeds {
        let engine = HistoryEngine::new(feed, writer.clone(), parts.max_message_bytes);
        // As many records in flight as a batch holds, so that one partition fills a batch.
        let consumer = consumer(config, "history", ConsumingEngine::History, &format!("{}-{topic}", h.group), topic, h.batch_size, &history_dead_letter_topic(config));
        members.push(Member::prepare(consumer, Arc::new(engine), parts)?);
    }
    Ok(members)
}

/// Where the history engine keeps records it cannot read.
fn history_dead_letter_topic(config: &Config) -> String {
    format!("{}-dead", config.history.topic)
}

/// One engine's consumer: its group, topic and in-flight window, and what every consumer of
/// the process shares (brokers and properties, queue, commit interval, drain deadline).
fn consumer(config: &Config, engine: &'static str, properties: ConsumingEngine, group: &str, topic: &str, max_in_flight: usize, dead_letter_topic: &str) -> ConsumerConfig {
    ConsumerConfig {
        engine,
        brokers: config.kafka.brokers.clone(),
        group: group.to_owned(),
        topic: topic.to_owned(),
        properties: config.kafka.consumer_properties.of(properties),
        max_in_flight_per_partition: max_in_flight,
        partition_queue: config.engine.partition_queue,
        commit_interval: config.engine.commit_interval,
        drain_timeout: config.service.shutdown_timeout,
        dead_letter_topic: dead_letter_topic.to_owned(),
        backlog: None,
    }
}

/// An engine's consumer-group member, created but not yet in its group.
pub struct Member {
    name: &'static str,
    topic: String,
    group: String,
    first: Prepared,
    /// Creates and joins a fresh member, for restarts after a failure.
    restart: Box<dyn FnMut(CancellationToken) -> Result<ConsumerGroup, kafka::Error> + Send>,
    metrics: Metrics,
    /// Where it runs when not on the caller's runtime (the history engine's [`Background`]).
    runtime: Option<tokio::runtime::Handle>,
}

impl Member {
    fn prepare<H: Handler>(consumer: ConsumerConfig, handler: Arc<H>, parts: &Parts) -> anyhow::Result<Member> {
        let (name, topic, group) = (consumer.engine, consumer.topic.clone(), consumer.group.clone());
        let dead_letters: Arc<dyn DeadLetters> = Arc::new(parts.publisher.clone());
        let metrics = parts.metrics.clone();
        let first = ConsumerGroup::prepare(consumer.clone(), handler.clone(), dead_letters.clone(), metrics.clone())
            .with_context(|| format!("kafka consumer of the {name} engine (topic {topic})"))?;
        let restart = {
            let metrics = metrics.clone();
            Box::new(move |stop| ConsumerGroup::start(consumer.clone(), handler.clone(), dead_letters.clone(), metrics.clone(), stop))
        };
        Ok(Member { name, topic, group, first, restart, metrics, runtime: None })
    }

    /// Joins the group and keeps the member running under [`supervise`], on its own runtime if
    /// it has one: joined from one of that runtime's threads, its poll thread inherits their
    /// priority.
    pub fn join(mut self, stop: &CancellationToken) -> anyhow::Result<JoinHandle<()>> {
        let Some(runtime) = self.runtime.take() else { return self.join_here(stop) };
        let (joined, result) = std::sync::mpsc::channel();
        let stop = stop.clone();
        runtime.spawn(async move {
            let _ = joined.send(self.join_here(&stop));
        });
        result.recv().map_err(|_| anyhow::anyhow!("the history engine's runtime stopped"))?
    }

    fn join_here(self, stop: &CancellationToken) -> anyhow::Result<JoinHandle<()>> {
        let Member { name, topic, group, first, mut restart, metrics, .. } = self;
        let first = first.join(stop.clone()).with_context(|| format!("kafka consumer of the {name} engine (topic {topic})"))?;
        tracing::info!(engine = name, %topic, %group, "engine started");
        let mut first = Some(first);
        Ok(tokio::spawn(supervise(name, metrics, stop.clone(), move |stop| {
            let member = match first.take() {
                Some(member) => Ok(member),
                None => restart(stop),
            };
            async move { member.map_err(|e| EngineFailed(e.to_string()))?.wait().await }
        })))
    }
}

/// The topics the enabled engines read and write, each with who uses it.
pub fn needed_topics(config: &Config) -> Vec<Needed> {
    let kafka = &config.kafka;
    let mut needed = Vec::new();
    let mut need = |name: &str, role: &str| needed.push(Needed { name: name.to_owned(), role: role.to_owned() });
    let manager = config.manager.enabled;
    if config.engine.enabled {
        need(&kafka.alarm_topic, "alarm transitions, read by the notification engine");
        need(&config.engine.dead_letter_topic, "malformed alarm transitions");
        if manager {
            need(&config.manager.filtered_topic, "transitions of tenants with rules, for the alarm manager");
        }
    }
    if manager {
        need(&config.manager.filtered_topic, "read by the alarm manager");
        need(&config.manager.sources_topic, "inhibition sources and routing progress, written by the notification engine and read whole by the alarm manager");
        need(&config.engine.dead_letter_topic, "malformed alarm transitions");
    }
    if config.engine.enabled || manager || config.retry.enabled || config.periodic.enabled {
        need(&kafka.notification_topic, "sent notifications");
        need(&kafka.notification_retry_topic, "failed notifications, for the retry engine");
        for (_, topic) in &kafka.periodic {
            need(topic, "periodic notifications");
        }
    }
    if config.retry.enabled {
        need(&config.retry.dead_letter_topic, "notifications the retry engine gave up");
    }
    if config.periodic.enabled {
        need(&config.periodic.dead_letter_topic, "malformed periodic notifications");
    }
    if config.history.enabled {
        need(&config.history.topic, "outcomes without a notification record (skipped, silenced, inhibited, grouped), for the history engine");
        need(&kafka.notification_topic, "sent notifications, read by the history engine");
        need(&kafka.notification_retry_topic, "failed notifications, read by the history engine");
        need(&config.retry.dead_letter_topic, "notifications the retry engine gave up, read by the history engine");
        need(&history_dead_letter_topic(config), "records the history engine could not read");
    }
    needed
}
