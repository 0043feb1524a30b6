//! `[periodic_engine]`: the engines of the `[kafka] periodic` topics (Tocsin's section).

use crate::config::{Error, Reader};

#[derive(Clone, Debug)]
pub struct PeriodicConfig {
    pub enabled: bool,
    /// Consumer groups are `{group_prefix}-{period}`.
    pub group_prefix: String,
    /// Where records of a periodic topic that are not notifications are kept.
    pub dead_letter_topic: String,
    /// Chains of one partition held in memory while they wait; the rest stays in Kafka.
    pub max_waiting_per_partition: usize,
}

impl PeriodicConfig {
    /// `kafka_group` names the default group prefix, `<group>-periodic`.
    pub fn read(r: &Reader, kafka_group: &str) -> Result<PeriodicConfig, Error> {
        const SECTION: &str = "periodic_engine";
        Ok(PeriodicConfig {
            enabled: r.bool(SECTION, "enabled", true)?,
            group_prefix: r.string(SECTION, "group_prefix", &format!("{kafka_group}-periodic")),
            dead_letter_topic: r.string(SECTION, "dead_letter_topic", "periodic-notifications-dead"),
            max_waiting_per_partition: r.int(SECTION, "max_waiting_per_partition", 4096, 1)? as usize,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enabled".into(), self.enabled.to_string()),
            ("group_prefix".into(), self.group_prefix.clone()),
            ("dead_letter_topic".into(), self.dead_letter_topic.clone()),
            ("max_waiting_per_partition".into(), self.max_waiting_per_partition.to_string()),
        ]
    }
}
