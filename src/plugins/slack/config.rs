use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[slack_notifier]`. PLACEHOLDER: the slack plugin's session replaces this file.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    pub timeout: Duration,
}

impl SlackConfig {
    pub fn read(r: &Reader) -> Result<SlackConfig, ConfigError> {
        Ok(SlackConfig { timeout: Duration::from_secs(r.int("slack_notifier", "timeout", 5, 1)? as u64) })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
