//! The notification engine's view of the database: methods per (definition, state), cached for
//! a short time and fetched once however many transitions ask at the same moment. A database
//! outage never fails a lookup: it is retried with backoff, counted and logged once per change,
//! until it succeeds or the caller's work is cancelled.

use super::{Database, QUERY_BACKOFF};
use crate::backoff;
use crate::model::{AlarmState, NotificationMethod};
use crate::supervise::{Cancelled, Fatal};
use crate::telemetry::Metrics;
use moka::future::Cache;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

type Methods = Arc<Vec<NotificationMethod>>;

#[derive(Clone)]
pub struct MethodLookup {
    db: Database,
    /// `None` when the configured TTL is zero: every lookup queries.
    cache: Option<Cache<(String, AlarmState), Methods>>,
    metrics: Metrics,
    fatal: Fatal,
    /// The text of the last database error logged, so an outage is logged once, not per query.
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}


impl MethodLookup {
    pub fn new(db: Database, ttl: Duration, metrics: Metrics, fatal: Fatal) -> MethodLookup {
        let cache = (!ttl.is_zero()).then(|| Cache::builder().max_capacity(100_000).time_to_live(ttl).build());
        MethodLookup { db, cache, metrics, fatal, last_error: Default::default() }
    }

    /// The methods for a transition; `Err` only when `cancel` fired first.
    pub async fn methods(&self, definition_id: &str, state: AlarmState, cancel: &CancellationToken) -> Result<Methods, Cancelled> {
        let methods = backoff::retry(QUERY_BACKOFF, cancel, || self.lookup(definition_id, state), |error, retry_in| {
            self.metrics.db_error();
            if error.refused_credentials() {
                self.fatal.raise(format!("the config database refused Tocsin's credentials: {error}"));
            }
            self.note_error(&error.to_string(), retry_in);
        })
        .await?;
        self.note_recovered();
        Ok(methods)
    }

    /// One try: from the cache, or one query for all callers asking at the same moment.
    async fn lookup(&self, definition_id: &str, state: AlarmState) -> Result<Methods, Arc<super::Error>> {
        let started = Instant::now();
        let queried = AtomicBool::new(false);
        let query = async {
            queried.store(true, Ordering::Relaxed);
            self.db.fetch_methods(definition_id, state).await.map(Arc::new)
        };
        let methods = match &self.cache {
            Some(cache) => cache.try_get_with((definition_id.to_owned(), state), query).await?,
            None => query.await.map_err(Arc::new)?,
        };
        self.metrics.db_lookup(!queried.load(Ordering::Relaxed), started.elapsed());
        Ok(methods)
    }

    fn note_error(&self, error: &str, retry_in: Duration) {
        let mut last = self.last_error.lock().expect("lock poisoned");
        if last.as_deref() != Some(error) {
            tracing::error!(error, retry_in = ?retry_in, "config database lookup failed; retrying until it answers");
            *last = Some(error.to_owned());
        }
    }

    fn note_recovered(&self) {
        let mut last = self.last_error.lock().expect("lock poisoned");
        if last.take().is_some() {
            tracing::info!("config database answers again");
        }
    }
}
