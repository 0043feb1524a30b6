//! `[alarm_manager]`: the engine that applies grouping, silencing and inhibition rules.

use crate::config::{Error, Reader};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ManagerConfig {
    pub enabled: bool,
    /// Consumer group of the filtered-transitions topic.
    pub group: String,
    /// Where transitions of tenants with rules go, keyed so that a group's members share a
    /// partition.
    pub filtered_topic: String,
    /// Where the notification engine writes inhibition sources and its progress, for every
    /// manager instance to read whole.
    pub sources_topic: String,
    /// How long after its timestamp a record may still reach the alarm topic (producer
    /// batching, clock skew): sources are taken as complete only this far behind the present.
    pub input_delay: Duration,
    /// An alarm-topic partition that reports no progress for this long is taken to have no
    /// notification engine; it then holds no inhibition decision back.
    pub progress_timeout: Duration,
    /// How often the manager logs one summary line (instead of a line per group).
    pub summary_interval: Duration,
    /// How often the rules revision is checked (rule changes take effect within this).
    pub rules_poll_interval: Duration,
    /// How often changed state is written to the config database (and offsets may advance).
    pub persist_interval: Duration,
    /// Notify the OK of an alarm whose firing was notified, even if a silence or inhibition
    /// would now suppress it.
    pub notify_resolved_if_notified: bool,
}

impl ManagerConfig {
    /// `kafka_group` names the default consumer group, `<group>-manager`.
    pub fn read(r: &Reader, kafka_group: &str) -> Result<ManagerConfig, Error> {
        const SECTION: &str = "alarm_manager";
        Ok(ManagerConfig {
            enabled: r.bool(SECTION, "enabled", true)?,
            group: r.string(SECTION, "group", &format!("{kafka_group}-manager")),
            filtered_topic: r.string(SECTION, "filtered_topic", "filtered-alarm-transitions"),
            sources_topic: r.string(SECTION, "sources_topic", "alarm-manager-sources"),
            input_delay: r.duration(SECTION, "input_delay", Duration::from_secs(1))?,
            progress_timeout: r.duration(SECTION, "progress_timeout", Duration::from_secs(60))?,
            summary_interval: r.interval(SECTION, "summary_interval", Duration::from_secs(60))?,
            rules_poll_interval: r.interval(SECTION, "rules_poll_interval", Duration::from_secs(2))?,
            persist_interval: r.interval(SECTION, "persist_interval", Duration::from_millis(500))?,
            notify_resolved_if_notified: r.bool(SECTION, "notify_resolved_if_notified", true)?,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enabled".into(), self.enabled.to_string()),
            ("group".into(), self.group.clone()),
            ("filtered_topic".into(), self.filtered_topic.clone()),
            ("sources_topic".into(), self.sources_topic.clone()),
            ("input_delay".into(), format!("{:?}", self.input_delay)),
            ("progress_timeout".into(), format!("{:?}", self.progress_timeout)),
            ("summary_interval".into(), format!("{:?}", self.summary_interval)),
            ("rules_poll_interval".into(), format!("{:?}", self.rules_poll_interval)),
            ("persist_interval".into(), format!("{:?}", self.persist_interval)),
            ("notify_resolved_if_notified".into(), self.notify_resolved_if_notified.to_string()),
        ]
    }
}
