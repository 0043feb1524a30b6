//! PLACEHOLDER: the hipchat plugin (Monasca type `HIPCHAT`); its session replaces this file.

mod config;

pub use config::HipChatConfig;

use super::{BuildError, Plugin, Reason, Receipt, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct HipChat {
    timeout: Duration,
}

impl HipChat {
    pub fn new(config: &HipChatConfig, _connections_per_host: usize) -> Result<HipChat, BuildError> {
        Ok(HipChat { timeout: config.timeout })
    }
}

#[async_trait::async_trait]
impl Plugin for HipChat {
    fn kind(&self) -> &'static str {
        "hipchat"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_hipchat_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _notification: &Notification) -> Result<Receipt, SendError> {
        Err(SendError::new(Reason::Invalid, "the hipchat plugin is not built yet"))
    }
}
