use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[pagerduty_notifier]`. PLACEHOLDER: the pagerduty plugin's session replaces this file.
#[derive(Clone, Debug)]
pub struct PagerDutyConfig {
    pub timeout: Duration,
}

impl PagerDutyConfig {
    pub fn read(r: &Reader) -> Result<PagerDutyConfig, ConfigError> {
        Ok(PagerDutyConfig { timeout: Duration::from_secs(r.int("pagerduty_notifier", "timeout", 5, 1)? as u64) })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
