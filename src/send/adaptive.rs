//! Adaptive concurrency per destination: how many sends to one receiver (a webhook host, the
//! SMTP server, PagerDuty's endpoint) may be in progress at once, learned from how it answers.
//!
//! Each destination has a [`Limiter`] whose limit moves by AIMD, the rule TCP uses for its
//! congestion window and Vector uses for its adaptive request concurrency:
//!
//! - Sends are measured in windows of one round trip (the previous window's mean), counting
//!   only sends made within the window, so that each window judges the limit it set. A window
//!   in which the limit was reached and answers came back as fast as the destination's best
//!   recent round trip raises the limit: doubled while the limit has never been cut (slow
//!   start, so a receiver that answers in 200 ms reaches the maximum within about a second),
//!   by one afterwards.
//! - A window whose answers took more than twice the best recent round trip (plus
//!   [`LATENCY_SLACK`], so that scheduling noise on a sub-millisecond loopback receiver is not
//!   read as queueing) cuts the limit by a tenth: the receiver is queueing, more in flight only
//!   adds latency. The first such window ends slow start and halves the limit, since a
//!   doubling overshoots by up to its own size before its answers come back.
//! - An answer saying "too much" (HTTP 429 or 503, a timeout, a refused connection) halves the
//!   limit at once, and a `Retry-After` on it stops new sends to the destination until then.
//!
//! The limit starts at [`INITIAL_LIMIT`] and stays within 1 and the configured maximum per
//! destination. What this module must not do is hold a partition: a destination that asked for
//! a pause longer than a send may take answers [`Busy`] at once, and the caller fails the send
//! (to the retry topic) instead of waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The limit a destination starts with, as TCP's initial window (RFC 6928): ten at once is
/// harmless to any receiver worth the name, and saves a slow one three round trips of slow start.
const INITIAL_LIMIT: usize = 10;
/// Answers slower than `LATENCY_FACTOR` × the best recent window, plus this, mean queueing.
pub const LATENCY_SLACK: Duration = Duration::from_millis(2);
const LATENCY_FACTOR: u32 = 2;
/// The best recent window is the best of the current and the previous epoch of this length, so
/// a destination that became slower for good is judged by its new speed after at most two.
const EPOCH: Duration = Duration::from_secs(10);
/// A window lasts at least this long, so a limit does not move on every answer of a fast receiver.
const MIN_WINDOW: Duration = Duration::from_millis(5);
/// Destinations tracked before idle ones are forgotten (their limits start over when seen again).
const MAX_DESTINATIONS: usize = 10_000;
/// A `Retry-After` longer than this is honoured for this long: the value is the receiver's,
/// hence the tenant's, and must not silence a destination for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// `[notification_engine]` settings of the limiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// When off, every destination may have `max_per_destination` sends in progress.
    pub adaptive: bool,
    pub max_per_destination: usize,
}

/// How one send through a [`Permit`] went, as far as the limiter cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An answer (success or a refusal that says nothing about load, such as 404).
    Answered,
    /// The destination is overloaded or unreachable (429, 503, timeout, refused connection);
    /// with the pause it asked for, if any.
    Overloaded { retry_after: Option<Duration> },
    /// Nothing reached the destination (the address was refused before a request): no
    /// measurement.
    NotSent,
}

/// The destination asked not to be sent to until `until`, further away than the caller would wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    pub until: Instant,
}

/// The limiters of every destination seen recently.
pub struct Limiters {
    settings: Settings,
    by_destination: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl Limiters {
    pub fn new(settings: Settings) -> Limiters {
        Limiters { settings, by_destination: Mutex::new(HashMap::new()) }
    }

    /// The limiter of `destination`, created on first use.
    pub fn get(&self, destination: &str) -> Arc<Limiter> {
        let mut map = self.by_destination.lock().expect("limiter map lock poisoned");
        if let Some(limiter) = map.get(destination) {
            return limiter.clone();
        }
        if map.len() >= MAX_DESTINATIONS {
            map.retain(|_, limiter| limiter.is_busy());
        }
        let limiter = Arc::new(Limiter::new(self.settings));
        map.insert(destination.to_owned(), limiter.clone());
        limiter
    }
}

/// One destination's limit and the sends in progress to it.
pub struct Limiter {
    /// As many permits as the limit allows sends beyond those in progress. A cut is paid back
    /// by forgetting permits as sends finish (`State::owed`), so no send is interrupted.
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    adaptive: bool,
    max: usize,
    limit: usize,
    /// Permits still to be forgotten after a cut.
    owed: usize,
    in_flight: usize,
    /// The limit has never been cut: raises double it.
    slow_start: bool,
    paused_until: Option<Instant>,
    window: Window,
    /// The last window's mean round trip: the next window lasts as long, so that it measures
    /// sends made at the limit it set.
    last_mean: Option<Duration>,
    /// Best window mean round trip in the current and the previous epoch.
    best_now: Option<Duration>,
    best_before: Option<Duration>,
    epoch_started: Instant,
}

struct Window {
    started: Instant,
    answers: u32,
    total: Duration,
    reached_limit: bool,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window { started: now, answers: 0, total: Duration::ZERO, reached_limit: false }
    }
}

impl Limiter {
    fn new(settings: Settings) -> Limiter {
        let max = settings.max_per_destination.max(1);
        let limit = if settings.adaptive { INITIAL_LIMIT.min(max) } else { max };
        let now = Instant::now();
        Limiter {
            permits: Arc::new(Semaphore::new(limit)),
            state: Mutex::new(State {
                adaptive: settings.adaptive,
                max,
                limit,
                owed: 0,
                in_flight: 0,
                slow_start: true,
                paused_until: None,
                window: Window::new(now),
                last_mean: None,
                best_now: None,
                best_before: None,
                epoch_started: now,
            }),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("limiter lock poisoned")
    }

    /// Sends in progress, or a pause asked for: forgetting it would lose what was learnt.
    fn is_busy(&self) -> bool {
        let state = self.lock();
        state.in_flight > 0 || state.paused_until.is_some_and(|until| until > Instant::now())
    }

    /// Waits for a slot. A pause the destination asked for is waited out if it ends within
    /// `patience`; otherwise the answer is [`Busy`] at once.
    pub async fn acquire(self: &Arc<Self>, patience: Duration) -> Result<Permit, Busy> {
        loop {
            let paused_until = self.lock().paused_until;
            match paused_until {
                Some(until) if until > Instant::now() + patience => return Err(Busy { until }),
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => {}
            }
            let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
            let mut state = self.lock();
            // A pause may have begun while this send waited for its slot.
            if state.paused_until.is_some_and(|until| until > Instant::now()) {
                drop(state);
                drop(permit);
                continue;
            }
            state.in_flight += 1;
            if state.in_flight >= state.limit {
                state.window.reached_limit = true;
            }
            return Ok(Permit { limiter: self.clone(), permit: Some(permit), started: Instant::now(), signal: Signal::NotSent });
        }
    }

    fn finish(&self, permit: OwnedSemaphorePermit, signal: Signal, started: Instant) {
        let mut state = self.lock();
        state.in_flight -= 1;
        let now = Instant::now();
        let round_trip = now - started;
        match signal {
            Signal::NotSent => {}
            // An answer to a send made before the window began says nothing about its limit.
            Signal::Answered if started < state.window.started => {}
            Signal::Answered => {
                if let Some(target) = state.measure(now, round_trip) {
                    self.set_limit(&mut state, target);
                }
            }
            Signal::Overloaded { retry_after } => {
                if let Some(pause) = retry_after {
                    let until = now + pause.min(MAX_RETRY_AFTER);
                    state.paused_until = Some(state.paused_until.map_or(until, |old| old.max(until)));
                }
                if state.adaptive {
                    let halved = (state.limit / 2).max(1);
                    self.set_limit(&mut state, halved);
                    state.window = Window::new(now);
                }
            }
        }
        if state.owed > 0 {
            state.owed -= 1;
            permit.forget();
        }
    }

    fn set_limit(&self, state: &mut State, limit: usize) {
        let limit = limit.clamp(1, state.max);
        if limit < state.limit {
            state.owed += state.limit - limit;
            state.slow_start = false;
        } else if limit > state.limit {
            let mut added = limit - state.limit;
            let repaid = added.min(state.owed);
            state.owed -= repaid;
            added -= repaid;
            self.permits.add_permits(added);
        }
        state.limit = limit;
    }
}

impl State {
    /// Adds an answer's round trip to the window; at the window's end, says the new limit.
    fn measure(&mut self, now: Instant, round_trip: Duration) -> Option<usize> {
        self.window.answers += 1;
        self.window.total += round_trip;
        if !self.adaptive {
            return None;
        }
        let mean = self.window.total / self.window.answers;
        let best = match (self.best_now, self.best_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let length = self.last_mean.unwrap_or(mean).max(MIN_WINDOW);
        if now.duration_since(self.window.started) < length {
            return None;
        }
        self.last_mean = Some(mean);
        let queueing = best.is_some_and(|best| mean > best * LATENCY_FACTOR + LATENCY_SLACK);
        if now.duration_since(self.epoch_started) >= EPOCH {
            self.best_before = self.best_now.take();
            self.epoch_started = now;
        }
        self.best_now = Some(self.best_now.map_or(mean, |b| b.min(mean)));
        let target = if queueing && self.slow_start {
            // Slow start overshoots by up to one doubling before its measurements show it.
            self.limit / 2
        } else if queueing {
            self.limit - (self.limit / 10).max(1)
        } else if self.window.reached_limit {
            if self.slow_start { self.limit * 2 } else { self.limit + 1 }
        } else {
            self.limit
        };
        self.window = Window::new(now);
        self.window.reached_limit = self.in_flight >= target.min(self.max);
        Some(target)
    }
}

/// A slot for one send; give back how it went with [`Permit::finish`]. Dropped unfinished (the
/// send was cancelled), it frees the slot without a measurement.
pub struct Permit {
    limiter: Arc<Limiter>,
    permit: Option<OwnedSemaphorePermit>,
    started: Instant,
    signal: Signal,
}

impl Permit {
    /// The send starts now (after waiting for other bounds): its round trip is measured from here.
    pub fn begin(&mut self) {
        self.started = Instant::now();
    }

    pub fn finish(mut self, signal: Signal) {
        self.signal = signal;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.limiter.finish(permit, self.signal, self.started);
        }
    }
}

#[cfg(test)]
mod tests;
