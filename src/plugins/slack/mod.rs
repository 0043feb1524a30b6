//! PLACEHOLDER: the slack plugin (Monasca type `SLACK`); its session replaces this file.

mod config;

pub use config::SlackConfig;

use super::{BuildError, Plugin, Reason, Receipt, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct Slack {
    timeout: Duration,
}

impl Slack {
    pub fn new(config: &SlackConfig, _connections_per_host: usize) -> Result<Slack, BuildError> {
        Ok(Slack { timeout: config.timeout })
    }
}

#[async_trait::async_trait]
impl Plugin for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_slack_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _notification: &Notification) -> Result<Receipt, SendError> {
        Err(SendError::new(Reason::Invalid, "the slack plugin is not built yet"))
    }
}
