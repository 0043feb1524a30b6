//! `[notification_engine]` (Tocsin's) and `[alarm_processor] ttl` (Monasca's): how the
//! notification engine consumes and processes transitions, and the bounds every engine of the
//! process shares (concurrent sends, partition queues, commit interval, lookup cache).

use crate::config::{Error, Reader};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct NotificationConfig {
    /// Whether this process consumes the alarm topic (`[notification_engine] enabled`).
    pub enabled: bool,
    /// Transitions older than this are skipped (`[alarm_processor] ttl`); `None` keeps all.
    pub ttl: Option<Duration>,
    /// Where malformed alarm messages are copied.
    pub dead_letter_topic: String,
    /// Larger alarm messages are rejected unparsed.
    pub max_message_bytes: usize,
    /// Transitions of one partition processed at once (those of one alarm stay in order).
    pub max_in_flight_per_partition: usize,
    /// Records buffered per partition before the partition is paused (every engine).
    pub partition_queue: usize,
    /// Sends in progress at once across all engines; also the connections kept per host.
    pub max_concurrent_sends: usize,
    /// Sends in progress to one destination, and whether that bound adapts to its answers.
    pub per_destination: crate::send::adaptive::Settings,
    /// How often finished offsets are committed (every engine).
    pub commit_interval: Duration,
    /// How long a notification-method lookup is reused.
    pub lookup_cache_ttl: Duration,
}

impl NotificationConfig {
    pub fn read(r: &Reader) -> Result<NotificationConfig, Error> {
        const SECTION: &str = "notification_engine";
        Ok(NotificationConfig {
            ttl: match r.entry("alarm_processor", "ttl") {
                Some(e) if e.value.is_empty() || e.value.eq_ignore_ascii_case("none") => None,
                _ => Some(Duration::from_secs(r.int("alarm_processor", "ttl", 14400, 0)? as u64)),
            },
            enabled: r.bool(SECTION, "enabled", true)?,
            dead_letter_topic: r.string(SECTION, "dead_letter_topic", "alarm-state-transitions-dead"),
            max_message_bytes: r.int(SECTION, "max_message_bytes", 1 << 20, 1)? as usize,
            max_in_flight_per_partition: r.int(SECTION, "max_in_flight_per_partition", 256, 1)? as usize,
            partition_queue: r.int(SECTION, "partition_queue", 1024, 1)? as usize,
            max_concurrent_sends: r.int(SECTION, "max_concurrent_sends", 256, 1)? as usize,
            per_destination: crate::send::adaptive::Settings {
                adaptive: r.bool(SECTION, "adaptive_concurrency", true)?,
                max_per_destination: r.int(SECTION, "max_concurrent_sends_per_destination", 256, 1)? as usize,
            },
            commit_interval: r.interval(SECTION, "commit_interval", Duration::from_millis(100))?,
            lookup_cache_ttl: r.duration(SECTION, "lookup_cache_ttl", Duration::from_secs(5))?,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enabled".into(), self.enabled.to_string()),
            ("ttl".into(), self.ttl.map_or("none".into(), |t| t.as_secs().to_string())),
            ("dead_letter_topic".into(), self.dead_letter_topic.clone()),
            ("max_message_bytes".into(), self.max_message_bytes.to_string()),
            ("max_in_flight_per_partition".into(), self.max_in_flight_per_partition.to_string()),
            ("partition_queue".into(), self.partition_queue.to_string()),
            ("max_concurrent_sends".into(), self.max_concurrent_sends.to_string()),
            ("adaptive_concurrency".into(), self.per_destination.adaptive.to_string()),
            ("max_concurrent_sends_per_destination".into(), self.per_destination.max_per_destination.to_string()),
            ("commit_interval".into(), format!("{:?}", self.commit_interval)),
            ("lookup_cache_ttl".into(), format!("{:?}", self.lookup_cache_ttl)),
        ]
    }
}
