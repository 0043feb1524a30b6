use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[email_notifier]`. PLACEHOLDER: the email plugin's session replaces this file.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub timeout: Duration,
}

impl EmailConfig {
    pub fn read(r: &Reader) -> Result<EmailConfig, ConfigError> {
        Ok(EmailConfig { timeout: Duration::from_secs(r.int("email_notifier", "timeout", 5, 1)? as u64) })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
