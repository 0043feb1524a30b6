//! Supervision of the engines that share the process: each runs as a task that is restarted
//! with backoff when it fails, instead of taking the process down as monasca-notification's
//! children did; and [`Fatal`], the one way for any part to stop the process because going on
//! is pointless (the database refuses our credentials).
//!
//! It does not know what an engine does; it only runs, counts and restarts it.

use crate::telemetry::Metrics;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why an engine run ended before it was asked to stop.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineFailed(pub String);

/// Work that stopped early because it was told to (a partition revoked, the process stopping).
/// Nothing it started is confirmed, so its input is read again by whoever owns it next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run that lasted this long counts as healthy: the next failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(300);

/// Runs `engine` until `stop` fires, restarting it after each failure or panic with a backoff
/// of 1 s doubling to 60 s. `engine` receives `stop` and must return once it fires.
pub async fn supervise<F, Fut>(name: &'static str, metrics: Metrics, stop: CancellationToken, mut engine: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), EngineFailed>>,
{
    let mut backoff = BACKOFF_START;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = AssertUnwindSafe(engine(stop.clone())).catch_unwind().await;
        if stop.is_cancelled() {
            return;
        }
        let why = match outcome {
            Ok(Ok(())) => "it stopped on its own".to_owned(),
            Ok(Err(failed)) => failed.0,
            Err(panic) => format!("it panicked: {}", panic_text(&panic)),
        };
        if started.elapsed() >= HEALTHY_RUN {
            backoff = BACKOFF_START;
        }
        metrics.engine_restart(name);
        tracing::error!(engine = name, error = %why, restart_in = ?backoff, "engine failed; restarting it");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The message of a caught panic (`panic!` payloads are `&str` or `String`).
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

/// A condition no restart can cure. The first one raised wins; the process shuts down
/// gracefully and exits non-zero with its message.
#[derive(Clone, Default)]
pub struct Fatal {
    raised: CancellationToken,
    message: Arc<Mutex<Option<String>>>,
}

impl Fatal {
    pub fn raise(&self, message: impl Into<String>) {
        let mut slot = self.message.lock().expect("lock poisoned");
        if slot.is_none() {
            let message = message.into();
            tracing::error!(error = %message, "fatal: shutting down");
            *slot = Some(message);
            self.raised.cancel();
        }
    }

    /// Resolves with the message once a fatal condition was raised.
    pub async fn raised(&self) -> String {
        self.raised.cancelled().await;
        self.message.lock().expect("lock poisoned").clone().unwrap_or_default()
    }

    pub fn is_raised(&self) -> bool {
        self.raised.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn failures_and_panics_restart_with_doubling_backoff_until_stopped() {
        let metrics = Metrics::new();
        let stop = CancellationToken::new();
        let runs = Arc::new(AtomicU32::new(0));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let begin = tokio::time::Instant::now();
        let task = tokio::spawn(supervise("test", metrics.clone(), stop.clone(), {
            let (runs, starts) = (runs.clone(), starts.clone());
            move |stop: CancellationToken| {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                starts.lock().unwrap().push(begin.elapsed().as_secs());
                async move {
                    match n {
                        0 => Err(EngineFailed("broker gone".into())),
                        1 => panic!("bug"),
                        2 => Ok(()),
                        _ => {
                            stop.cancelled().await;
                            Ok(())
                        }
                    }
                }
            }
        }));
        while runs.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.cancel();
        task.await.unwrap();
        assert_eq!(*starts.lock().unwrap(), [0, 1, 3, 7], "restarted after 1, 2 and 4 s");
        assert!(metrics.render_prometheus().contains("tocsin_engine_restarts_total{engine=\"test\"} 3"));
    }

    #[tokio::test]
    async fn the_first_fatal_message_wins() {
        let fatal = Fatal::default();
        assert!(!fatal.is_raised());
        fatal.raise("database refused the credentials");
        fatal.raise("later");
        assert_eq!(fatal.raised().await, "database refused the credentials");
    }
}
