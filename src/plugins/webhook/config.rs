use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[webhook_notifier]`.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Bound on one post, connection included (Monasca: `timeout`, seconds, default 5).
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { timeout: Duration::from_secs(5) }
    }
}

impl WebhookConfig {
    pub fn read(r: &Reader) -> Result<WebhookConfig, ConfigError> {
        Ok(WebhookConfig { timeout: r.seconds("webhook_notifier", "timeout", 5)? })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
