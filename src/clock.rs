//! The one clock: wall-clock time since the epoch, as alarms, records and rules carry it. Due
//! times written before a restart hold after it, so waits are computed from this clock, not from
//! a monotonic one; every part of Tocsin reads it here, so tests and code agree on what "now" is.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, with fractions (Monasca's `time.time()`).
pub fn unix_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// Milliseconds since the epoch (thresh's transition timestamps, the alarm manager's timers).
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, as a UTC date and time (rule start times, token expiries).
pub fn utc() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
