//! PLACEHOLDER: the email plugin (Monasca type `EMAIL`); its session replaces this file.

mod config;

pub use config::EmailConfig;

use super::{BuildError, Plugin, Reason, Receipt, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct Email {
    timeout: Duration,
}

impl Email {
    pub fn new(config: &EmailConfig, _connections_per_host: usize) -> Result<Email, BuildError> {
        Ok(Email { timeout: config.timeout })
    }
}

#[async_trait::async_trait]
impl Plugin for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_smtp_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _notification: &Notification) -> Result<Receipt, SendError> {
        Err(SendError::new(Reason::Invalid, "the email plugin is not built yet"))
    }
}
