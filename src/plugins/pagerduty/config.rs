//! `[pagerduty_notifier]`: timeout, Events API version and endpoint. Integration keys are the
//! methods' addresses, so this section holds no secret. Reading only; nothing here sends.

use crate::config::{Error as ConfigError, Reader};
use std::time::Duration;

const SECTION: &str = "pagerduty_notifier";

/// Monasca's default: the Events API v1 endpoint.
pub const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
/// The Events API v2 endpoint, the default when `api_version = 2`.
pub const V2_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Which PagerDuty Events API the plugin speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// Monasca's: `service_key`, always `trigger`, success on 200/201/204.
    V1,
    /// `routing_key`, `trigger`/`resolve` by state, `dedup_key` = alarm id, success on 202.
    V2,
}

/// `[pagerduty_notifier]`.
#[derive(Clone, Debug)]
pub struct PagerDutyConfig {
    /// Bound on one post, connection included (seconds, default 5, at least 1).
    pub timeout: Duration,
    /// `api_version`: `1` (default, as Monasca) or `2`.
    pub api_version: ApiVersion,
    /// Where events go; defaults to PagerDuty's endpoint of the chosen version.
    pub url: String,
}

impl PagerDutyConfig {
    pub fn read(r: &Reader) -> Result<PagerDutyConfig, ConfigError> {
        let api_version = match r.opt_string(SECTION, "api_version").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("1" | "v1") => ApiVersion::V1,
            Some("2" | "v2") => ApiVersion::V2,
            Some(other) => {
                return Err(r.invalid(SECTION, "api_version", format!("expected 1 or 2, found {other:?}")));
            }
        };
        let default_url = match api_version {
            ApiVersion::V1 => V1_URL,
            ApiVersion::V2 => V2_URL,
        };
        let url = r.string(SECTION, "url", default_url);
        if !url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
            return Err(r.invalid(SECTION, "url", "expected an http:// or https:// URL"));
        }
        Ok(PagerDutyConfig { timeout: r.seconds(SECTION, "timeout", 5)?, api_version, url })
    }

    /// `(key, value)` pairs for `tocsin check-config`. Integration keys live in the methods'
    /// addresses, not here, so nothing needs masking beyond the URL's own credentials.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        let version = match self.api_version {
            ApiVersion::V1 => "1",
            ApiVersion::V2 => "2",
        };
        vec![
            ("timeout".into(), self.timeout.as_secs().to_string()),
            ("api_version".into(), version.into()),
            ("url".into(), crate::plugins::http::redact_url(&self.url)),
        ]
    }
}
