//! Runs one consumer-group member on one topic and hands every record to a [`Handler`].
//!
//! - A dedicated thread polls librdkafka, so rebalance callbacks can block while revoked
//!   partitions drain without stalling the async runtime.
//! - Each assigned partition gets a worker task fed by a bounded queue. When the queue is full
//!   the partition is paused rather than buffered without limit.
//! - A worker runs up to `max_in_flight_per_partition` records at once, except that records with
//!   the same ordering key (an alarm) run one after another in offset order.
//! - An offset is committed only when every earlier record of its partition has finished
//!   ([`Ledger`]): periodically (async), and synchronously on revoke and at shutdown, after
//!   in-flight work has drained or the drain deadline passed.
//! - For a handler that asks ([`Handler::TRACKS_PROGRESS`]), each partition's progress in record
//!   time ([`Progress`]) is reported to it at every commit tick.
//! - No record can stall its partition: one the handler's `decode` rejects, or whose decoding
//!   or handling panics, goes down one shared path ([`Discard`]): logged with its partition and
//!   offset, counted, copied to the engine's dead-letter topic, then finished like any other.
//!
//! - How far behind its members are, the records read and not yet started, is counted on
//!   demand from their queues in a shared [`Backlog`] (the history engine yields to it).
//!
//! Auto-commit is off. This module never interprets a record.

use super::ledger::Ledger;
use super::progress::Progress;
use super::{client_config, Error};
use futures::FutureExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use crate::supervise::{panic_text, Cancelled};
use crate::telemetry::Metrics;
use futures::future::BoxFuture;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One consumed record, detached from librdkafka's buffers.
#[derive(Clone, Debug)]
pub struct Record {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// Record headers, in order; values that are not UTF-8 are replaced lossily.
    pub headers: Vec<(String, String)>,
    /// The record's Kafka timestamp (creation or log-append time), in Unix milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// When the record's input became available: its timestamp, never later than `now_ms` (a
    /// producer clock ahead of ours must not put it in the future) nor before 1970; `now_ms`
    /// when it has none.
    pub fn time_ms(&self, now_ms: i64) -> i64 {
        self.timestamp_ms.map_or(now_ms, |at| at.clamp(0, now_ms))
    }
}

/// Why a record is not input its handler can work on. The text is what an operator needs to fix
/// the producer; it goes to the log and to the dead-letter record's `tocsin.error` header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejected {
    pub reason: String,
}

impl Rejected {
    pub fn new(reason: impl Into<String>) -> Rejected {
        Rejected { reason: reason.into() }
    }
}

/// Why a record was kept on the dead-letter topic instead of being worked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discard {
    /// [`Handler::decode`] rejected it.
    Rejected(Rejected),
    /// Decoding or handling it panicked: a bug, reported as `internal error: <panic message>`.
    Panicked(String),
}

impl Discard {
    /// The `tocsin.error` text of the dead-letter record.
    pub fn reason(&self) -> String {
        match self {
            Discard::Rejected(rejected) => rejected.reason.clone(),
            Discard::Panicked(message) => format!("internal error: {message}"),
        }
    }

    /// A fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Discard::Rejected(_) => "rejected",
            Discard::Panicked(_) => "internal_error",
        }
    }
}

/// Where discarded records are kept: the record's bytes unchanged, with the reason and where it
/// came from. Implemented by `publish::Publisher`, which owns the dead-letter wire format.
pub trait DeadLetters: Send + Sync + 'static {
    /// Returns once the broker confirmed the copy, or `Err(Cancelled)` when `cancel` fired first.
    fn keep<'a>(&'a self, topic: &'a str, record: &'a Record, reason: &'a str, cancel: &'a CancellationToken) -> BoxFuture<'a, Result<(), Cancelled>>;
}

/// What a consumer does with its records.
pub trait Handler: Send + Sync + 'static {
    type Job: Send + 'static;
    /// Names the input in the log line of a rejected record, as Monasca words it: "Invalid
    /// {INPUT} format skipping partition {p}, offset {o}".
    const INPUT: &'static str;
    /// Decodes a record. Cheap and synchronous; bad input is a [`Rejected`], which the consumer
    /// counts, logs and dead-letters, so the handler never sees it.
    fn decode(&self, record: &Record) -> Result<Self::Job, Rejected>;
    /// Jobs with the same key run one at a time, in offset order; `None` runs freely.
    fn ordering_key(&self, job: &Self::Job) -> Option<u64>;
    /// Does the work, until done or told to stop (see [`Stop`]). `Ok` means every consequence
    /// of the record is durable and its offset may be committed.
    fn handle(&self, job: Self::Job, stop: Stop) -> impl Future<Output = Result<(), Cancelled>> + Send;
    /// Called once a discarded record's dead-letter copy was confirmed, before its offset
    /// counts as finished: the moment for engine-specific counters.
    fn dead_lettered(&self, _record: &Record, _discard: &Discard) {}
    /// For a handler that keeps part of its records' consequences in memory and persists them
    /// in batches: the offset below which everything of `partition` is durable. Commits never
    /// pass it. `None`: no limit beyond finished records.
    fn durable_below(&self, _partition: i32) -> Option<i64> {
        None
    }
    /// Called when the partition is assigned, before its first record is handled: the moment to
    /// load what the handler keeps for it, so work that is due without any new record (timers
    /// of restored state) starts at once. Gives up when `stop.draining` fires.
    fn assigned(&self, _partition: i32, _stop: Stop) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Called when the partition is released (revoke, shutdown) after its jobs drained and
    /// before its final commit: the moment to persist what is still in memory and let go of it.
    fn released(&self, _partition: i32) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Whether the consumer keeps each partition's [`Progress`] and reports it through
    /// [`Handler::progress`] (it then also asks the broker to say when a partition's end is
    /// reached).
    const TRACKS_PROGRESS: bool = false;
    /// At every commit tick, for each assigned partition whose progress is known: every record
    /// with a timestamp below `low_watermark_ms` has been handled. Must not block.
    fn progress(&self, _partition: i32, _low_watermark_ms: i64) {}
}

/// How a running job is told to stop. A job that gives up returns `Err(Cancelled)` and its record
/// is read again by whoever owns the partition next.
#[derive(Clone, Debug)]
pub struct Stop {
    /// Fires as soon as the partition is revoked or the process stops. Work in progress should
    /// finish; a job that is only waiting (for a retry or a period to come due) gives up now,
    /// so a rebalance is not held up by timers.
    pub draining: CancellationToken,
    /// Fires when the drain deadline has passed: every job gives up, even mid-way.
    pub abort: CancellationToken,
}

/// Its `Debug` masks the properties that carry credentials.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// The engine's name, for logs and metric labels.
    pub engine: &'static str,
    pub brokers: Vec<String>,
    pub group: String,
    pub topic: String,
    /// `[kafka_consumer]` and `[kafka_consumer_<engine>]` pass-through properties, in that order.
    pub properties: Vec<(String, String)>,
    pub max_in_flight_per_partition: usize,
    /// Records buffered per partition before the partition is paused.
    pub partition_queue: usize,
    pub commit_interval: Duration,
    /// How long a revoke or shutdown waits for in-flight jobs before cancelling them.
    pub drain_timeout: Duration,
    /// Where records that are not input, or that broke their handler, are kept.
    pub dead_letter_topic: String,
    /// Where the member's records waiting to start are counted, if anywhere.
    pub backlog: Option<Backlog>,
}

impl ConsumerConfig {
    /// The member's waiting records count in `backlog`.
    pub fn counted_in(mut self, backlog: &Backlog) -> ConsumerConfig {
        self.backlog = Some(backlog.clone());
        self
    }
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("engine", &self.engine)
            .field("brokers", &self.brokers)
            .field("group", &self.group)
            .field("topic", &self.topic)
            .field("properties", &crate::config::masked_properties(&self.properties))
            .field("max_in_flight_per_partition", &self.max_in_flight_per_partition)
            .field("partition_queue", &self.partition_queue)
            .field("commit_interval", &self.commit_interval)
            .field("drain_timeout", &self.drain_timeout)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("backlog", &self.backlog.is_some())
            .finish()
    }
}

/// Tocsin's consumer defaults, from monasca-common where they matter (session timeout, reset to
/// earliest) and without its 1 MiB `fetch.min.bytes`, which only adds latency. A broker that
/// holds a fetch for its whole wait even when records arrive (tansu does) delays pick-up by up
/// to `fetch.wait.max.ms`; 100 ms instead of librdkafka's 500 bounds that at a small idle cost.
const DEFAULTS: &[(&str, &str)] = &[
    ("fetch.wait.max.ms", "100"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "earliest"),
    ("session.timeout.ms", "10000"),
    ("client.id", "tocsin"),
];

/// A running group member. Dropping it does not stop it; cancel the token given to
/// [`ConsumerGroup::start`] and await [`ConsumerGroup::wait`].
pub struct ConsumerGroup {
    poll_thread: std::thread::JoinHandle<()>,
}

impl ConsumerGroup {
    /// Creates the member and joins the group: [`ConsumerGroup::prepare`], then [`Prepared::join`].
    pub fn start<H: Handler>(
        settings: ConsumerConfig,
        handler: Arc<H>,
        dead_letters: Arc<dyn DeadLetters>,
        metrics: Metrics,
        stop: CancellationToken,
    ) -> Result<ConsumerGroup, Error> {
        ConsumerGroup::prepare(settings, handler, dead_letters, metrics)?.join(stop)
    }

    /// Creates the member's client (checking its properties) without joining the group, so a
    /// start can fail before any of its consumers has been assigned a partition.
    pub fn prepare<H: Handler>(settings: ConsumerConfig, handler: Arc<H>, dead_letters: Arc<dyn DeadLetters>, metrics: Metrics) -> Result<Prepared, Error> {
        let runtime = Handle::current();
        let topic: Arc<str> = settings.topic.clone().into();
        let spawner: Arc<dyn WorkerSpawner> = Arc::new(TypedSpawner {
            handler,
            runtime: runtime.clone(),
            max_in_flight: settings.max_in_flight_per_partition,
            queue: settings.partition_queue,
            topic: topic.clone(),
            engine: settings.engine,
            dead_letters,
            dead_letter_topic: settings.dead_letter_topic.clone().into(),
            metrics: metrics.clone(),
        });
        let shared = Arc::new(Shared {
            topic,
            partitions: Arc::default(),
            spawner,
            parked: Mutex::default(),
            failed_commits: Mutex::default(),
            runtime,
            drain_timeout: settings.drain_timeout,
            metrics,
        });
        if let Some(backlog) = &settings.backlog {
            backlog.register(&shared);
        }
        let context = GroupContext { shared };
        let mut config = client_config(&settings.brokers, DEFAULTS, &settings.properties);
        config.set("group.id", &settings.group);
        if H::TRACKS_PROGRESS {
            config.set("enable.partition.eof", "true");
        }
        let consumer: BaseConsumer<GroupContext> = config
            .create_with_context(context)
            .map_err(|source| Error::Create { role: "consumer", source })?;
        Ok(Prepared { consumer: Arc::new(consumer), settings })
    }

    /// Waits until the member has drained, committed and left the group.
    pub async fn wait(self) -> Result<(), crate::supervise::EngineFailed> {
        let thread = self.poll_thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(crate::supervise::EngineFailed("the consumer's poll thread panicked".into())),
        }
    }
}

/// A member whose client exists but who has not joined its group yet.
pub struct Prepared {
    consumer: Arc<BaseConsumer<GroupContext>>,
    settings: ConsumerConfig,
}

impl Prepared {
    /// Subscribes and starts polling: from here on the member takes part in rebalances.
    pub fn join(self, stop: CancellationToken) -> Result<ConsumerGroup, Error> {
        let Prepared { consumer, settings } = self;
        consumer
            .subscribe(&[&settings.topic])
            .map_err(|source| Error::Subscribe { topic: settings.topic.clone(), source })?;
        consumer.context().shared.runtime.spawn(commit_periodically(consumer.clone(), settings.commit_interval, stop.clone()));
        let poll_thread = std::thread::Builder::new()
            .name(format!("poll-{}", settings.topic))
            .spawn(move || poll_loop(consumer, stop))
            .expect("spawning a thread only fails when the OS is out of resources");
        Ok(ConsumerGroup { poll_thread })
    }
}

/// State shared by the poll thread, the rebalance callbacks and the commit task.
struct Shared {
    topic: Arc<str>,
    /// std mutex: held only for map updates and to build a commit list, never across an await
    /// or a poll (rebalance callbacks run inside poll and take it).
    partitions: Arc<Mutex<HashMap<i32, Worker>>>,
    spawner: Arc<dyn WorkerSpawner>,
    /// Records a full worker queue could not take, by partition; the partition is paused until
    /// they fit. Only the poll thread (and the rebalance callbacks it runs) touches it.
    parked: Mutex<HashMap<i32, VecDeque<Record>>>,
    /// (partition, offset) of asynchronous commits that failed, for the next tick to send again.
    /// A lock of its own: the commit callback runs inside poll and must not wait for
    /// `partitions`, which the tick holds while it queues a commit.
    failed_commits: Mutex<Vec<(i32, i64)>>,
    runtime: Handle,
    drain_timeout: Duration,
    metrics: Metrics,
}

impl Shared {
    /// Records read but not started: in the partitions' queues, and parked.
    fn waiting(&self) -> usize {
        let queued: usize = self.partitions.lock().expect("lock poisoned").values().map(|w| w.queue.max_capacity() - w.queue.capacity()).sum();
        let parked: usize = self.parked.lock().expect("lock poisoned").values().map(VecDeque::len).sum();
        queued + parked
    }
}

/// How many records the members registered with it have read and not yet started, over all
/// their partitions: how far behind the work they do is. Counted when asked, from the queues
/// themselves, so records dropped with a revoked partition leave no stale count.
#[derive(Clone, Default)]
pub struct Backlog {
    members: Arc<Mutex<Vec<Weak<Shared>>>>,
}

impl Backlog {
    fn register(&self, shared: &Arc<Shared>) {
        let mut members = self.members.lock().expect("lock poisoned");
        members.retain(|member| member.strong_count() > 0);
        members.push(Arc::downgrade(shared));
    }

    pub fn waiting(&self) -> usize {
        let members: Vec<Arc<Shared>> = self.members.lock().expect("lock poisoned").iter().filter_map(Weak::upgrade).collect();
        members.iter().map(|member| member.waiting()).sum()
    }
}

/// One assigned partition.
struct Worker {
    queue: mpsc::Sender<Record>,
    ledger: Arc<Mutex<Ledger>>,
    /// Stops the worker from starting records (revoke, shutdown).
    intake: CancellationToken,
    /// Tells running jobs to give up (after the drain deadline).
    abort: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    committed: LastCommit,
    /// Present when the handler tracks progress.
    progress: Option<Arc<Mutex<Progress>>>,
}

/// The offset last sent to the broker for a partition, so an unchanged partition is not committed
/// again at every tick, unless that commit failed: then the next tick sends it again. Otherwise a
/// partition whose last commit failed (the broker restarting, the group rejoining) would stay
/// uncommitted for as long as no further record of it finished.
#[derive(Debug, Default)]
struct LastCommit(Option<i64>);

impl LastCommit {
    /// Whether `offset` is to be committed now; it counts as sent from here on.
    fn take(&mut self, offset: i64) -> bool {
        if self.0 == Some(offset) {
            return false;
        }
        self.0 = Some(offset);
        true
    }

    /// The commit of `offset` failed. A later offset sent since then stands.
    fn failed(&mut self, offset: i64) {
        if self.0 == Some(offset) {
            self.0 = None;
        }
    }
}

/// Spawns partition workers; erases the handler type so the librdkafka context is not generic.
trait WorkerSpawner: Send + Sync {
    fn spawn(&self, partition: i32) -> Worker;
    fn durable_below(&self, partition: i32) -> Option<i64>;
    fn released(&self, partition: i32) -> BoxFuture<'static, ()>;
    fn progress(&self, partition: i32, low_watermark_ms: i64);
}

struct TypedSpawner<H: Handler> {
    handler: Arc<H>,
    runtime: Handle,
    max_in_flight: usize,
    queue: usize,
    topic: Arc<str>,
    engine: &'static str,
    dead_letters: Arc<dyn DeadLetters>,
    dead_letter_topic: Arc<str>,
    metrics: Metrics,
}

impl<H: Handler> WorkerSpawner for TypedSpawner<H> {
    fn spawn(&self, partition: i32) -> Worker {
        let (queue, records) = mpsc::channel(self.queue);
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let intake = CancellationToken::new();
        let abort = CancellationToken::new();
        let progress = H::TRACKS_PROGRESS.then(Arc::default);
        let context = Arc::new(PartitionContext {
            handler: self.handler.clone(),
            ledger: ledger.clone(),
            progress: progress.clone(),
            stop: Stop { draining: intake.clone(), abort: abort.clone() },
            topic: self.topic.clone(),
            partition,
            engine: self.engine,
            dead_letters: self.dead_letters.clone(),
            dead_letter_topic: self.dead_letter_topic.clone(),
            metrics: self.metrics.clone(),
        });
        let task = self.runtime.spawn(run_partition(context, records, self.max_in_flight));
        Worker { queue, ledger, intake, abort, task, committed: LastCommit::default(), progress }
    }

    fn progress(&self, partition: i32, low_watermark_ms: i64) {
        self.handler.progress(partition, low_watermark_ms);
    }

    fn durable_below(&self, partition: i32) -> Option<i64> {
        self.handler.durable_below(partition)
    }

    fn released(&self, partition: i32) -> BoxFuture<'static, ()> {
        let handler = self.handler.clone();
        let (topic, engine) = (self.topic.clone(), self.engine);
        Box::pin(async move {
            // The handler's code: a panic here must not take the poll thread (and so every
            // partition of this member) down with it.
            if let Err(panic) = AssertUnwindSafe(handler.released(partition)).catch_unwind().await {
                tracing::error!(engine, %topic, partition, error = %panic_text(&panic), "releasing the partition panicked (a bug); its in-memory state is dropped");
            }
        })
    }
}

/// What may be committed for a partition: what its jobs finished, capped by what its handler
/// made durable.
fn committable(spawner: &dyn WorkerSpawner, partition: i32, ledger: &Mutex<Ledger>) -> Option<i64> {
    let finished = ledger.lock().expect("lock poisoned").committable()?;
    match spawner.durable_below(partition) {
        Some(durable) => Some(finished.min(durable)),
        None => Some(finished),
    }
}

struct GroupContext {
    shared: Arc<Shared>,
}

impl ClientContext for GroupContext {
    /// librdkafka also reports reaching the end of a partition as a global error, which
    /// rdkafka's default logs at ERROR; with `enable.partition.eof` (how progress is tracked)
    /// that is an ordinary event, so it stays out of the operator's log.
    fn error(&self, error: KafkaError, reason: &str) {
        if let KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_) = error {
            tracing::trace!(topic = %self.shared.topic, "librdkafka: {error}: {reason}");
            return;
        }
        tracing::error!(topic = %self.shared.topic, "librdkafka: {error}: {reason}");
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = self.shared.partitions_of(list);
            tracing::info!(topic = %self.shared.topic, partitions = ?revoked, "partitions revoked");
            self.shared.release(consumer, &revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = self.shared.partitions_of(list);
                tracing::info!(topic = %self.shared.topic, partitions = ?assigned, "partitions assigned");
                // librdkafka keeps an application pause across a revoke and a new assignment.
                if let Err(e) = consumer.resume(list) {
                    tracing::warn!(topic = %self.shared.topic, error = %e, "cannot resume newly assigned partitions");
                }
                let mut partitions = self.shared.partitions.lock().expect("lock poisoned");
                for partition in assigned {
                    partitions.entry(partition).or_insert_with(|| self.shared.spawner.spawn(partition));
                }
            }
            Rebalance::Error(e) => tracing::error!(topic = %self.shared.topic, error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let failed: Vec<(i32, i64)> = offsets
            .elements()
            .iter()
            .filter(|e| e.topic() == &*self.shared.topic && (result.is_err() || e.error().is_err()))
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some((e.partition(), offset)),
                _ => None,
            })
            .collect();
        self.shared.metrics.commit(result.is_ok() && failed.is_empty());
        if failed.is_empty() && result.is_ok() {
            tracing::debug!(topic = %self.shared.topic, offsets = ?offsets.to_topic_map(), "offsets committed");
            return;
        }
        let error = match &result {
            Err(e) => e.to_string(),
            Ok(()) => offsets.elements().iter().find_map(|e| e.error().err()).map_or_else(String::new, |e| e.to_string()),
        };
        tracing::warn!(topic = %self.shared.topic, error, failed = ?failed, "offset commit failed; sending it again at the next commit tick");
        self.shared.failed_commits.lock().expect("lock poisoned").extend(failed);
    }
}

impl Shared {
    fn partitions_of(&self, list: &TopicPartitionList) -> Vec<i32> {
        list.elements().iter().filter(|e| e.topic() == &*self.topic).map(|e| e.partition()).collect()
    }

    /// Stops the workers of `partitions`, waits for their jobs within the drain deadline, and
    /// commits what finished, synchronously.
    fn release(&self, consumer: &BaseConsumer<GroupContext>, partitions: &[i32]) {
        let mut workers: Vec<(i32, Worker)> = {
            let mut map = self.partitions.lock().expect("lock poisoned");
            partitions.iter().filter_map(|p| map.remove(p).map(|w| (*p, w))).collect()
        };
        // Never started, so never committed: whoever owns the partition next reads them again.
        let mut parked = self.parked.lock().expect("lock poisoned");
        for partition in partitions {
            parked.remove(partition);
        }
        drop(parked);
        if workers.is_empty() {
            return;
        }
        for (_, worker) in &workers {
            worker.intake.cancel();
        }
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        self.runtime.block_on(async {
            for (partition, worker) in workers.iter_mut() {
                // A JoinHandle is Unpin, so a timed-out wait can be resumed on the same handle.
                if tokio::time::timeout_at(deadline, &mut worker.task).await.is_err() {
                    tracing::warn!(topic = %self.topic, partition, "drain deadline passed; abandoning in-flight records, they will be read again");
                    worker.abort.cancel();
                    let _ = (&mut worker.task).await;
                }
                self.spawner.released(*partition).await;
            }
        });
        let mut list = TopicPartitionList::new();
        for (partition, worker) in &workers {
            // Committed even when unchanged: an earlier asynchronous commit may have failed.
            if let Some(offset) = committable(&*self.spawner, *partition, &worker.ledger) {
                let _ = list.add_partition_offset(&self.topic, *partition, Offset::Offset(offset));
            }
        }
        if list.count() > 0 {
            match consumer.commit(&list, CommitMode::Sync) {
                Ok(()) => tracing::info!(topic = %self.topic, offsets = ?list.to_topic_map(), "committed released partitions"),
                Err(e) => tracing::warn!(topic = %self.topic, error = %e, "final commit of released partitions failed; their records will be read again"),
            }
        }
    }
}

fn poll_loop(consumer: Arc<BaseConsumer<GroupContext>>, stop: CancellationToken) {
    let shared = consumer.context().shared.clone();
    let mut last_error: Option<String> = None;
    while !stop.is_cancelled() {
        unpark(&consumer, &shared);
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if let Some(progress) = shared.partitions.lock().expect("lock poisoned").get(&partition).and_then(|w| w.progress.clone()) {
                    progress.lock().expect("lock poisoned").reached_end();
                }
                continue;
            }
            Some(Err(e)) => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    tracing::warn!(topic = %shared.topic, error = %text, "consumer error");
                    last_error = Some(text);
                }
                continue;
            }
            Some(Ok(message)) => message,
        };
        last_error = None;
        let record = Record {
            topic: shared.topic.clone(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default(),
            timestamp_ms: message.timestamp().to_millis(),
        };
        drop(message);
        let partition = record.partition;
        let worker = shared.partitions.lock().expect("lock poisoned").get(&partition).map(|w| (w.queue.clone(), w.progress.clone()));
        let Some((sender, progress)) = worker else {
            // Not ours (any more): not started, so never committed; its new owner reads it.
            continue;
        };
        if let Some(progress) = progress {
            progress.lock().expect("lock poisoned").fetched(record.offset, record.time_ms(crate::clock::unix_ms()));
        }
        if let Some(queue) = shared.parked.lock().expect("lock poisoned").get_mut(&partition) {
            queue.push_back(record);
            continue;
        }
        if let Err(mpsc::error::TrySendError::Full(record)) = sender.try_send(record) {
            set_paused(&consumer, &shared.topic, partition, true);
            shared.parked.lock().expect("lock poisoned").entry(partition).or_default().push_back(record);
        }
    }
    tracing::info!(topic = %shared.topic, "stopping consumer: draining partitions");
    let all: Vec<i32> = shared.partitions.lock().expect("lock poisoned").keys().copied().collect();
    shared.release(&consumer, &all);
    consumer.unsubscribe();
    tracing::info!(topic = %shared.topic, "consumer stopped");
}

/// Moves parked records into their workers' queues; resumes partitions whose backlog cleared.
fn unpark(consumer: &BaseConsumer<GroupContext>, shared: &Shared) {
    let mut parked = shared.parked.lock().expect("lock poisoned");
    if parked.is_empty() {
        return;
    }
    let partitions = shared.partitions.lock().expect("lock poisoned");
    parked.retain(|partition, queue| {
        let Some(worker) = partitions.get(partition) else { return false };
        while let Some(record) = queue.pop_front() {
            match worker.queue.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(record)) => {
                    queue.push_front(record);
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        set_paused(consumer, &shared.topic, *partition, false);
        false
    });
}

fn set_paused(consumer: &BaseConsumer<GroupContext>, topic: &str, partition: i32, paused: bool) {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let result = if paused { consumer.pause(&list) } else { consumer.resume(&list) };
    if let Err(e) = result {
        tracing::warn!(topic, partition, paused, error = %e, "cannot change the paused state of a partition");
    }
}

async fn commit_periodically(consumer: Arc<BaseConsumer<GroupContext>>, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let shared = &consumer.context().shared;
        let mut list = TopicPartitionList::new();
        let mut watermarks = Vec::new();
        {
            let mut partitions = shared.partitions.lock().expect("lock poisoned");
            let now_ms = crate::clock::unix_ms();
            for (partition, worker) in partitions.iter() {
                if let Some(watermark) = worker.progress.as_ref().and_then(|p| p.lock().expect("lock poisoned").low_watermark(now_ms)) {
                    watermarks.push((*partition, watermark));
                }
            }
            for (partition, offset) in shared.failed_commits.lock().expect("lock poisoned").drain(..) {
                if let Some(worker) = partitions.get_mut(&partition) {
                    worker.committed.failed(offset);
                }
            }
            let mut sent = Vec::new();
            for (partition, worker) in partitions.iter_mut() {
                let Some(offset) = committable(&*shared.spawner, *partition, &worker.ledger) else { continue };
                if worker.committed.take(offset) {
                    let _ = list.add_partition_offset(&shared.topic, *partition, Offset::Offset(offset));
                    sent.push((*partition, offset));
                }
            }
            if list.count() > 0 {
                // Queued under the lock so a revoke's synchronous commit cannot be overtaken by
                // an older asynchronous one.
                if let Err(e) = consumer.commit(&list, CommitMode::Async) {
                    for (partition, offset) in sent {
                        if let Some(worker) = partitions.get_mut(&partition) {
                            worker.committed.failed(offset);
                        }
                    }
                    tracing::warn!(topic = %shared.topic, error = %e, "cannot queue an offset commit; trying again at the next tick");
                }
            }
        }
        for (partition, watermark) in watermarks {
            shared.spawner.progress(partition, watermark);
        }
    }
}

/// What every job of one partition shares.
struct PartitionContext<H: Handler> {
    handler: Arc<H>,
    ledger: Arc<Mutex<Ledger>>,
    progress: Option<Arc<Mutex<Progress>>>,
    stop: Stop,
    topic: Arc<str>,
    partition: i32,
    engine: &'static str,
    dead_letters: Arc<dyn DeadLetters>,
    dead_letter_topic: Arc<str>,
    metrics: Metrics,
}

/// What a started record does: its handler's job, or the shared discard path.
enum Work<J> {
    Job(J),
    Discard(Discard),
}

async fn run_partition<H: Handler>(cx: Arc<PartitionContext<H>>, mut records: mpsc::Receiver<Record>, max_in_flight: usize) {
    let mut running: JoinSet<Option<u64>> = JoinSet::new();
    // Keys with a running job, and the jobs waiting behind it.
    let mut blocked: HashMap<u64, VecDeque<(Record, H::Job)>> = HashMap::new();
    let mut in_flight = 0usize;
    let start = |running: &mut JoinSet<Option<u64>>, record: Record, work: Work<H::Job>, key: Option<u64>| {
        let cx = cx.clone();
        running.spawn(async move {
            // `run` catches the handler's panics itself; this only keeps the key flowing should
            // the discard path fail in a way nobody foresaw.
            let _ = AssertUnwindSafe(cx.run(record, work)).catch_unwind().await;
            key
        });
    };
    // Records arriving meanwhile wait in the partition's queue (a full queue pauses it).
    if let Err(panic) = AssertUnwindSafe(cx.handler.assigned(cx.partition, cx.stop.clone())).catch_unwind().await {
        tracing::error!(engine = cx.engine, topic = %cx.topic, partition = cx.partition, error = %panic_text(&panic), "preparing the partition panicked (a bug); going on without what it would have loaded");
    }
    loop {
        tokio::select! {
            biased;
            _ = cx.stop.draining.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => {
                in_flight -= 1;
                if let Ok(Some(key)) = done {
                    match blocked.get_mut(&key).and_then(VecDeque::pop_front) {
                        Some((record, job)) => start(&mut running, record, Work::Job(job), Some(key)),
                        None => { blocked.remove(&key); }
                    }
                }
            }
            record = records.recv(), if in_flight < max_in_flight => {
                let Some(record) = record else { break };
                cx.ledger.lock().expect("lock poisoned").begin(record.offset);
                in_flight += 1;
                let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| cx.handler.decode(&record)));
                let job = match decoded {
                    Ok(Ok(job)) => job,
                    Ok(Err(rejected)) => {
                        start(&mut running, record, Work::Discard(Discard::Rejected(rejected)), None);
                        continue;
                    }
                    Err(panic) => {
                        start(&mut running, record, Work::Discard(Discard::Panicked(panic_text(&panic))), None);
                        continue;
                    }
                };
                match cx.handler.ordering_key(&job) {
                    Some(key) => match blocked.get_mut(&key) {
                        Some(waiting) => waiting.push_back((record, job)),
                        None => {
                            blocked.insert(key, VecDeque::new());
                            start(&mut running, record, Work::Job(job), Some(key));
                        }
                    },
                    None => start(&mut running, record, Work::Job(job), None),
                }
            }
        }
    }
    // Jobs queued behind a key never started; only running ones are awaited.
    drop(blocked);
    while running.join_next().await.is_some() {}
}

impl<H: Handler> PartitionContext<H> {
    /// Runs one record to its end and marks it finished, unless it was cancelled. A panic of
    /// the handler is a bug, never a stuck partition: the record is dead-lettered like a
    /// rejected one and the partition goes on.
    async fn run(&self, record: Record, work: Work<H::Job>) {
        let done = match work {
            Work::Job(job) => match AssertUnwindSafe(self.handler.handle(job, self.stop.clone())).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => self.discard(&record, Discard::Panicked(panic_text(&panic))).await,
            },
            Work::Discard(discard) => self.discard(&record, discard).await,
        };
        if done.is_ok() {
            self.ledger.lock().expect("lock poisoned").finish(record.offset);
            if let Some(progress) = &self.progress {
                progress.lock().expect("lock poisoned").finished(record.offset);
            }
        }
    }

    /// The one path of every record that is not worked on: logged with its partition and
    /// offset, counted, copied to the dead-letter topic, and finished once the copy is confirmed.
    async fn discard(&self, record: &Record, discard: Discard) -> Result<(), Cancelled> {
        let (engine, topic, partition, offset) = (self.engine, &*self.topic, record.partition, record.offset);
        let reason = discard.reason();
        match &discard {
            Discard::Rejected(_) => tracing::warn!(
                engine, topic, partition, offset, error = %reason,
                "Invalid {} format skipping partition {partition}, offset {offset}", H::INPUT
            ),
            Discard::Panicked(_) => tracing::error!(
                engine, topic, partition, offset, error = %reason,
                "handling the record panicked (a bug); dead-lettering it so the partition goes on"
            ),
        }
        self.metrics.record_discarded(engine, discard.label());
        self.dead_letters.keep(&self.dead_letter_topic, record, &reason, &self.stop.abort).await?;
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.dead_lettered(record, &discard))) {
            tracing::error!(engine, topic, partition, offset, error = %panic_text(&panic), "counting a dead-lettered record panicked (a bug)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LastCommit;

    #[test]
    fn a_failed_commit_is_sent_again_unless_a_later_one_was_sent() {
        let mut last = LastCommit::default();
        assert!(last.take(5));
        assert!(!last.take(5), "an unchanged offset is not sent again");
        last.failed(5);
        assert!(last.take(5), "a failed commit is sent again at the next tick");
        assert!(last.take(9));
        last.failed(5);
        assert!(!last.take(9), "an older failure leaves the later offset standing");
    }
}
