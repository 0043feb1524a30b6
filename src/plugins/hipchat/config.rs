use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[hipchat_notifier]`. PLACEHOLDER: the hipchat plugin's session replaces this file.
#[derive(Clone, Debug)]
pub struct HipChatConfig {
    pub timeout: Duration,
}

impl HipChatConfig {
    pub fn read(r: &Reader) -> Result<HipChatConfig, ConfigError> {
        Ok(HipChatConfig { timeout: Duration::from_secs(r.int("hipchat_notifier", "timeout", 5, 1)? as u64) })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
