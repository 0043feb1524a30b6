//! `[retry_engine]`: Monasca's `interval` and `max_attempts`, and the policy Tocsin adds. The
//! defaults give Monasca's behaviour: a fixed interval, no jitter. The delay a retry waits is
//! computed here ([`RetryConfig::delay`]).

use crate::config::{Error, Reader};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RetryConfig {
    pub enabled: bool,
    /// Consumer group of the retry topic.
    pub group: String,
    /// Delay before the first retry, from the failed attempt.
    pub interval: Duration,
    /// Retries after the first attempt; then the notification is dead-lettered.
    pub max_attempts: u32,
    /// Each further retry waits this many times longer than the one before (1 = fixed).
    pub backoff_multiplier: f64,
    /// Upper bound on one delay, whatever the multiplier.
    pub max_interval: Duration,
    /// Each delay is spread by up to this fraction, up or down, so retries of a burst spread out.
    pub jitter: f64,
    /// Where given-up notifications are kept.
    pub dead_letter_topic: String,
    /// Notifications of one partition held in memory while they wait; the rest stays in Kafka.
    pub max_waiting_per_partition: usize,
}

impl RetryConfig {
    /// `kafka_group` names the default consumer group, `<group>-retry`.
    pub fn read(r: &Reader, kafka_group: &str) -> Result<RetryConfig, Error> {
        const SECTION: &str = "retry_engine";
        Ok(RetryConfig {
            enabled: r.bool(SECTION, "enabled", true)?,
            group: r.string(SECTION, "group", &format!("{kafka_group}-retry")),
            interval: r.duration(SECTION, "interval", Duration::from_secs(30))?,
            max_attempts: r.int(SECTION, "max_attempts", 5, 0)?.try_into().unwrap_or(u32::MAX),
            backoff_multiplier: r.float(SECTION, "backoff_multiplier", 1.0, 1.0, 100.0)?,
            max_interval: r.duration(SECTION, "max_interval", Duration::from_secs(3600))?,
            jitter: r.float(SECTION, "jitter", 0.0, 0.0, 1.0)?,
            dead_letter_topic: r.string(SECTION, "dead_letter_topic", "retry-notifications-dead"),
            max_waiting_per_partition: r.int(SECTION, "max_waiting_per_partition", 1024, 1)? as usize,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enabled".into(), self.enabled.to_string()),
            ("group".into(), self.group.clone()),
            ("interval".into(), format!("{:?}", self.interval)),
            ("max_attempts".into(), self.max_attempts.to_string()),
            ("backoff_multiplier".into(), self.backoff_multiplier.to_string()),
            ("max_interval".into(), format!("{:?}", self.max_interval)),
            ("jitter".into(), self.jitter.to_string()),
            ("dead_letter_topic".into(), self.dead_letter_topic.clone()),
            ("max_waiting_per_partition".into(), self.max_waiting_per_partition.to_string()),
        ]
    }

    /// The delay before the retry that follows `retry_count` earlier retries:
    /// `interval × multiplier^retry_count`, capped, then spread by `± jitter`. `spread` is a
    /// uniform sample from [-1, 1].
    pub fn delay(&self, retry_count: u32, spread: f64) -> Duration {
        let base = self.interval.as_secs_f64() * self.backoff_multiplier.powi(retry_count.min(64) as i32);
        let capped = base.min(self.max_interval.as_secs_f64().max(self.interval.as_secs_f64()));
        Duration::try_from_secs_f64((capped * (1.0 + self.jitter * spread.clamp(-1.0, 1.0))).max(0.0)).unwrap_or(Duration::MAX)
    }
}
