//! The history engine: one consumer per topic that says what became of notifications (the sent,
//! retry and given-up topics, and the history topic's events), each in a consumer group of its
//! own, so that recording lags, never slows, the notification path.
//!
//! Each record becomes rows (`history::entries_of`); a [`Writer`] gathers the rows of many
//! records into one transaction (`[history] batch_size`, `batch_wait`), and a record counts as
//! handled, its offset committable, only once its rows are written. While the notification path
//! is behind (its [`Backlog`]), a batch waits for it, up to `[history] defer_while_busy`, so
//! that the database's share of the work comes after the burst. Rows older than
//! `[history] retention` are deleted every ten minutes. It must not send or publish anything.

use crate::db;
use crate::history::store::HistoryStore;
use crate::history::{entries_of, Entry, Feed, HistoryConfig};
use crate::ingest::Rejected;
use crate::kafka::{Backlog, Handler, Record, Stop};
use crate::supervise::{Cancelled, Fatal};
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often old rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Records waiting in the notification path that make it busy: at the pipeline's rate, some
/// tens of milliseconds of work, more than a fetch at a steady few thousand a second leaves.
const BUSY_BACKLOG: usize = 256;
/// How often a deferred batch looks at the backlog again.
const DEFER_POLL: Duration = Duration::from_millis(50);

/// Where the history engine runs: a runtime of its own whose threads run at the lowest CPU
/// priority (nice 19), as do the threads they start (librdkafka's for the history consumers,
/// the poll threads, SQLite's connection threads). The history then takes only CPU the
/// notification path leaves: during a burst it falls behind, and catches up once the burst is
/// over (measured in BENCHMARKS.md, history).
pub struct Background {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Background {
    pub fn start() -> std::io::Result<Background> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tocsin-history")
            .on_thread_start(lowest_priority)
            .enable_all()
            .build()?;
        Ok(Background { runtime: Some(runtime) })
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.as_ref().expect("present until dropped").handle().clone()
    }
}

impl Drop for Background {
    /// Its tasks are the writer's and the retention's, whose work is idempotent; the consumers
    /// were drained before.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Linux keeps a nice value per thread, and a thread starts with its creator's.
fn lowest_priority() {
    // SAFETY: setpriority has no memory effects; who = 0 names the calling thread.
    let changed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if changed != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the history engine's CPU priority; it runs at the normal one");
    }
}

/// Gathers rows into batched transactions; shared by every history consumer of the process.
pub struct Writer {
    queue: mpsc::Sender<(Vec<Entry>, oneshot::Sender<()>)>,
    /// Ends the retention task with the last consumer; the writing task ends when its queue
    /// closes, after the rows still queued.
    _stop: tokio_util::sync::DropGuard,
}

impl Writer {
    /// Starts the writing task and the retention task, which end when the writer is dropped.
    pub fn start(config: &HistoryConfig, store: HistoryStore, backlog: Backlog, metrics: Metrics, fatal: Fatal) -> Arc<Writer> {
        let stop = CancellationToken::new();
        let (queue, receiver) = mpsc::channel(config.batch_size.max(64));
        let batches = Batches { size: config.batch_size, wait: config.batch_wait, defer_while_busy: config.defer_while_busy, backlog };
        tokio::spawn(write_batches(receiver, store.clone(), batches, metrics.clone(), fatal.clone()));
        tokio::spawn(purge_periodically(store, config.retention, metrics, fatal, stop.clone()));
        Arc::new(Writer { queue, _stop: stop.drop_guard() })
    }

    /// Returns once `entries` are written, or `Err` when `cancel` fired first (they may still be
    /// written: writes are idempotent).
    pub async fn write(&self, entries: Vec<Entry>, cancel: &CancellationToken) -> Result<(), Cancelled> {
        if entries.is_empty() {
            return Ok(());
        }
        let (done, written) = oneshot::channel();
        tokio::select! {
            sent = self.queue.send((entries, done)) => sent.map_err(|_| Cancelled)?,
            _ = cancel.cancelled() => return Err(Cancelled),
        }
        tokio::select! {
            result = written => result.map_err(|_| Cancelled),
            _ = cancel.cancelled() => Err(Cancelled),
        }
    }
}

/// How rows are gathered and when a batch is written.
struct Batches {
    size: usize,
    wait: Duration,
    defer_while_busy: Duration,
    backlog: Backlog,
}

impl Batches {
    /// Waits while the notification path is behind, until the batch's oldest row (by the time
    /// of its outcome) or the wait itself reaches `defer_while_busy`: a burst shorter than that
    /// is recorded after it, and under a load that never lets up the history lags by that much
    /// and writes as fast as it can. Returns how long it waited.
    async fn defer_while_busy(&self, rows: &[Entry]) -> Duration {
        let Some(oldest_ms) = rows.iter().map(|e| e.time_ms).min() else { return Duration::ZERO };
        let limit_ms = self.defer_while_busy.as_millis().min(i64::MAX as u128) as i64;
        let started = tokio::time::Instant::now();
        while self.backlog.waiting() >= BUSY_BACKLOG
            && crate::clock::unix_ms().saturating_sub(oldest_ms) < limit_ms
            && started.elapsed() < self.defer_while_busy
        {
            tokio::time::sleep(DEFER_POLL).await;
        }
        started.elapsed()
    }
}

async fn write_batches(mut receiver: mpsc::Receiver<(Vec<Entry>, oneshot::Sender<()>)>, store: HistoryStore, batches: Batches, metrics: Metrics, fatal: Fatal) {
    // A write is retried until the database answers; a process that stops meanwhile drops it.
    let never = CancellationToken::new();
    while let Some(first) = receiver.recv().await {
        let mut rows = first.0;
        let mut waiting = vec![first.1];
        let deadline = tokio::time::Instant::now() + batches.wait;
        while rows.len() < batches.size {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some((more, done))) => {
                    rows.extend(more);
                    waiting.push(done);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let waited = batches.defer_while_busy(&rows).await;
        if !waited.is_zero() {
            metrics.history_deferred(waited);
        }
        let started = std::time::Instant::now();
        if db::until_answered("notification history write", &metrics, &fatal, &never, || store.write(&rows)).await.is_err() {
            return;
        }
        metrics.history_written(rows.len(), started.elapsed());
        for done in waiting {
            let _ = done.send(());
        }
    }
}

async fn purge_periodically(store: HistoryStore, retention: Duration, metrics: Metrics, fatal: Fatal, stop: CancellationToken) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        let before_ms = crate::clock::unix_ms().saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
        match db::until_answered("notification history retention", &metrics, &fatal, &stop, || store.purge(before_ms)).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, retention = ?retention, "notification history: deleted rows past their retention"),
            Err(Cancelled) => return,
        }
    }
}

/// The consumer of one topic.
pub struct HistoryEngine {
    feed: Feed,
    writer: Arc<Writer>,
    max_message_bytes: usize,
}

impl HistoryEngine {
    pub fn new(feed: Feed, writer: Arc<Writer>, max_message_bytes: usize) -> HistoryEngine {
        HistoryEngine { feed, writer, max_message_bytes }
    }
}

impl Handler for HistoryEngine {
    type Job = Vec<Entry>;
    const INPUT: &'static str = "History";

    fn decode(&self, record: &Record) -> Result<Vec<Entry>, Rejected> {
        // A grouped event holds up to a thousand members, each a row.
        entries_of(self.feed, record, self.max_message_bytes.max(4 * 1024 * 1024))
    }

    fn ordering_key(&self, _entries: &Vec<Entry>) -> Option<u64> {
        None
    }

    async fn handle(&self, entries: Vec<Entry>, stop: Stop) -> Result<(), Cancelled> {
        self.writer.write(entries, &stop.abort).await
    }
}
