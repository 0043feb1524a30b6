//! What keeps one caller from crowding out the others: a per-tenant budget of writes (a token
//! bucket: `writes_per_minute`, in bursts of as many) and a bound on requests served at once,
//! beyond which a request is answered 503 at once instead of queueing. Quotas on what a tenant
//! owns are checked by the routes that create things (`ApiLimits`).

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Per-tenant write budgets.
pub struct WriteLimiter {
    per_minute: f64,
    /// Tenant → (writes left, when last refilled). A std mutex: never held across an await.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Tenants remembered before idle buckets (full again anyway) are dropped.
const BUCKETS_KEPT: usize = 10_000;

impl WriteLimiter {
    pub fn new(writes_per_minute: u32) -> WriteLimiter {
        WriteLimiter { per_minute: f64::from(writes_per_minute), buckets: Mutex::default() }
    }

    /// Takes one write from the tenant's budget, or says when the next one is available.
    pub fn take(&self, tenant: &str) -> Result<(), ApiError> {
        self.take_at(tenant, Instant::now())
    }

    fn take_at(&self, tenant: &str, now: Instant) -> Result<(), ApiError> {
        let rate = self.per_minute / 60.0;
        let mut buckets = self.buckets.lock().expect("lock poisoned");
        if buckets.len() >= BUCKETS_KEPT && !buckets.contains_key(tenant) {
            let full_after = Duration::from_secs_f64(60.0);
            buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < full_after);
        }
        let (left, at) = buckets.entry(tenant.to_owned()).or_insert((self.per_minute, now));
        *left = (*left + now.saturating_duration_since(*at).as_secs_f64() * rate).min(self.per_minute);
        *at = now;
        if *left >= 1.0 {
            *left -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *left) / rate).ceil().max(1.0);
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("This tenant may make {} writes per minute; try again in {wait} s.", self.per_minute),
        )
        .retry_after(wait as u64))
    }
}

/// Serves a request only if fewer than the limit are in progress; otherwise 503 at once, so
/// a flood queues nowhere (in Keystone mode every request may cost a validation).
pub async fn bounded(State(permits): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Too many requests are in progress; try again shortly.").retry_after(1).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_burst_then_one_write_per_refill_and_others_are_unaffected() {
        let limiter = WriteLimiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            limiter.take_at("a", start).unwrap();
        }
        let refused = limiter.take_at("a", start).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.description.contains("60 writes per minute"), "{}", refused.description);
        limiter.take_at("b", start).expect("another tenant has its own budget");
        limiter.take_at("a", start + Duration::from_secs(1)).expect("one write back after a second");
        assert!(limiter.take_at("a", start + Duration::from_secs(1)).is_err());
    }
}
