//! Retrying with backoff, written once: an attempt is repeated, after waits that double up to a
//! cap, until it succeeds or the caller's work is cancelled. What a failure means (counted,
//! logged once per change, fatal) is the caller's, told through `on_failure`.

use crate::supervise::Cancelled;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Waits that start at `first` and double up to `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The same wait every time.
    pub const fn fixed(wait: Duration) -> Backoff {
        Backoff { first: wait, max: wait }
    }
}

/// Runs `attempt` until it returns `Ok`, waiting between tries; `Err(Cancelled)` when `cancel`
/// fires first. `on_failure` sees each failure and the wait before the next try.
pub async fn retry<T, E, F, Fut>(backoff: Backoff, cancel: &CancellationToken, mut attempt: F, mut on_failure: impl FnMut(E, Duration)) -> Result<T, Cancelled>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut wait = backoff.first;
    loop {
        let result = tokio::select! {
            result = attempt() => result,
            _ = cancel.cancelled() => return Err(Cancelled),
        };
        match result {
            Ok(value) => return Ok(value),
            Err(error) => on_failure(error, wait),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Err(Cancelled),
        }
        wait = (wait * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn waits_double_to_the_cap_until_success() {
        let tries = AtomicU32::new(0);
        let mut waits = Vec::new();
        let never = CancellationToken::new();
        let value = retry(
            Backoff::new(Duration::from_millis(100), Duration::from_millis(300)),
            &never,
            || async { if tries.fetch_add(1, Ordering::SeqCst) < 4 { Err("not yet") } else { Ok(7) } },
            |_, wait| waits.push(wait.as_millis()),
        )
        .await;
        assert_eq!(value, Ok(7));
        assert_eq!(waits, [100, 200, 300, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_ends_the_retries() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let result: Result<(), Cancelled> = retry(Backoff::fixed(Duration::from_secs(1)), &cancel, || async { Err::<(), _>("down") }, |_, _| {}).await;
        assert_eq!(result, Err(Cancelled));
    }
}
