//! PLACEHOLDER: the pagerduty plugin (Monasca type `PAGERDUTY`); its session replaces this file.

mod config;

pub use config::PagerDutyConfig;

use super::{BuildError, Plugin, Reason, Receipt, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct PagerDuty {
    timeout: Duration,
}

impl PagerDuty {
    pub fn new(config: &PagerDutyConfig, _connections_per_host: usize) -> Result<PagerDuty, BuildError> {
        Ok(PagerDuty { timeout: config.timeout })
    }
}

#[async_trait::async_trait]
impl Plugin for PagerDuty {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_pagerduty_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _notification: &Notification) -> Result<Receipt, SendError> {
        Err(SendError::new(Reason::Invalid, "the pagerduty plugin is not built yet"))
    }
}
