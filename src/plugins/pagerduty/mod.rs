//! The PagerDuty plugin (Monasca type `PAGERDUTY`): the method's address is the integration
//! key, and each notification becomes one event posted to the Events API.
//!
//! By default it speaks Monasca's v1 API byte for byte (always `trigger`, success only on
//! 200/201/204). With `api_version = 2` it sends v2 events that trigger on ALARM/UNDETERMINED and
//! resolve on OK, deduplicated by alarm id, and treats PagerDuty's 202 as success. The
//! integration key is a secret: it never appears in a log, an error or a receipt (Monasca logged
//! it as `key=<…>`; here that reads `key=<****>`).

mod config;
mod events;

pub use config::{ApiVersion, PagerDutyConfig, V1_URL, V2_URL};
pub use events::{severity, v1_body, v2_body};

use super::{http, BuildError, Plugin, Receipt, Rendered, SendError};
use crate::model::Notification;
use std::time::Duration;

pub struct PagerDuty {
    /// Built once so the connection to PagerDuty is reused across sends.
    client: reqwest::Client,
    timeout: Duration,
    api_version: ApiVersion,
    url: String,
}

impl PagerDuty {
    pub fn new(config: &PagerDutyConfig, connections_per_host: usize) -> Result<PagerDuty, BuildError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_max_idle_per_host(connections_per_host)
            .tcp_nodelay(true)
            .build()
            .map_err(|source| BuildError::HttpClient { plugin: "pagerduty", source })?;
        Ok(PagerDuty { client, timeout: config.timeout, api_version: config.api_version, url: config.url.clone() })
    }

    fn body(&self, notification: &Notification) -> String {
        match self.api_version {
            ApiVersion::V1 => v1_body(notification),
            ApiVersion::V2 => v2_body(notification),
        }
    }

    fn is_success(&self, status: u16) -> bool {
        match self.api_version {
            // Monasca's VALID_HTTP_CODES; its tests assert that 202 fails.
            ApiVersion::V1 => matches!(status, 200 | 201 | 204),
            // PagerDuty answers 202 Accepted; any other 2xx is success too.
            ApiVersion::V2 => (200..300).contains(&status),
        }
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

    /// An integration (routing) key: PagerDuty's are 32 characters; Monasca accepted any text,
    /// so any run of letters, digits, `-` and `_` up to 128 characters passes.
    fn validate_address(&self, address: &str) -> Result<(), String> {
        let valid = !address.is_empty()
            && address.len() <= 128
            && address.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(())
        } else {
            Err("a PagerDuty address is the integration key: letters and digits, usually 32 of them".into())
        }
    }

    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        Ok(Rendered { content_type: "application/json", body: self.body(notification) })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let key = notification.address();
        let body = self.body(notification);
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| with_key("Exception on pagerduty request.", http::transport_error(e, &self.url)))?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let answer = scrub(&response.text().await.unwrap_or_default(), key);
        if self.is_success(status) {
            return Ok(http::receipt(status, &answer));
        }
        let mut error = with_key("Error with pagerduty request.", http::status_error(status, &self.url).with_retry_after(retry_after));
        if !answer.is_empty() {
            error.detail.push_str(&format!(": {}", http::receipt(status, &answer).answer));
        }
        Err(error)
    }
}

/// Monasca's log text (`… key=<…>`), the key masked.
fn with_key(what: &str, mut error: SendError) -> SendError {
    error.detail = format!("{what} key=<****> {}", error.detail);
    error
}

/// The answer with any echo of the integration key removed.
fn scrub(answer: &str, key: &str) -> String {
    if key.is_empty() {
        answer.to_owned()
    } else {
        answer.replace(key, "****")
    }
}

#[cfg(test)]
mod tests;
