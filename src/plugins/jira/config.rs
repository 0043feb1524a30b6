use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

/// `[jira_notifier]`. PLACEHOLDER: the jira plugin's session replaces this file.
#[derive(Clone, Debug)]
pub struct JiraConfig {
    pub timeout: Duration,
}

impl JiraConfig {
    pub fn read(r: &Reader) -> Result<JiraConfig, ConfigError> {
        Ok(JiraConfig { timeout: Duration::from_secs(r.int("jira_notifier", "timeout", 5, 1)? as u64) })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![("timeout".into(), self.timeout.as_secs().to_string())]
    }
}
