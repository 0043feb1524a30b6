//! PLACEHOLDER: the jira plugin (Monasca type `JIRA`); its session replaces this file.

mod config;

pub use config::JiraConfig;

use super::{BuildError, Plugin, Reason, Receipt, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct Jira {
    timeout: Duration,
}

impl Jira {
    pub fn new(config: &JiraConfig, _connections_per_host: usize) -> Result<Jira, BuildError> {
        Ok(Jira { timeout: config.timeout })
    }
}

#[async_trait::async_trait]
impl Plugin for Jira {
    fn kind(&self) -> &'static str {
        "jira"
    }

    fn statsd_name(&self) -> &'static str {
        "jira_notifier"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _notification: &Notification) -> Result<Receipt, SendError> {
        Err(SendError::new(Reason::Invalid, "the jira plugin is not built yet"))
    }
}
