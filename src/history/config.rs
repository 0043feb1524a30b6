//! `[history]`: whether outcomes are recorded, where their events go, and how long rows are kept.

use crate::config::{Error, Reader};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HistoryConfig {
    /// Records outcomes (the engines publish events) and runs the history engine.
    pub enabled: bool,
    /// Consumer-group prefix of the history engine; one group per topic it reads.
    pub group: String,
    /// Where outcomes without a notification record (skipped, silenced, inhibited, grouped) go.
    pub topic: String,
    /// Rows older than this are deleted.
    pub retention: Duration,
    /// Rows written per transaction, at most.
    pub batch_size: usize,
    /// How long a row waits for others to share its transaction.
    pub batch_wait: Duration,
    /// How long a batch may wait, at most, for the notification path to catch up before it is
    /// written; zero writes at once.
    pub defer_while_busy: Duration,
}

impl HistoryConfig {
    /// `kafka_group` names the default consumer group, `<group>-history`.
    pub fn read(r: &Reader, kafka_group: &str) -> Result<HistoryConfig, Error> {
        const SECTION: &str = "history";
        let retention = r.duration(SECTION, "retention", Duration::from_secs(7 * 24 * 3600))?;
        if retention < Duration::from_secs(60) {
            return Err(r.invalid(SECTION, "retention", "must be at least 1m"));
        }
        let defer_while_busy = r.duration(SECTION, "defer_while_busy", Duration::from_secs(30))?;
        if defer_while_busy > Duration::from_secs(3600) {
            return Err(r.invalid(SECTION, "defer_while_busy", "must be at most 1h: the history lags by up to this much"));
        }
        Ok(HistoryConfig {
            enabled: r.bool(SECTION, "enabled", true)?,
            group: r.string(SECTION, "group", &format!("{kafka_group}-history")),
            topic: r.string(SECTION, "topic", "tocsin-history"),
            retention,
            batch_size: r.int(SECTION, "batch_size", 500, 1)?.min(10_000) as usize,
            batch_wait: r.duration(SECTION, "batch_wait", Duration::from_millis(200))?,
            defer_while_busy,
        })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![
            ("enabled".into(), self.enabled.to_string()),
            ("group".into(), self.group.clone()),
            ("topic".into(), self.topic.clone()),
            ("retention".into(), format!("{:?}", self.retention)),
            ("batch_size".into(), self.batch_size.to_string()),
            ("batch_wait".into(), format!("{:?}", self.batch_wait)),
            ("defer_while_busy".into(), format!("{:?}", self.defer_while_busy)),
        ]
    }
}
