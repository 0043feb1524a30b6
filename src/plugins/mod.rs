//! Notification plugins: the [`Plugin`] trait, the outcome of a send ([`SendError`]), the
//! [`Registry`] of enabled plugins, and what the plugins share (the Monasca "standard body",
//! HTTP status classification, URL redaction).
//!
//! A plugin turns one [`Notification`] into one request to one remote system and says whether
//! it worked and whether a failure is worth retrying. It knows nothing of Kafka, the database or
//! retries: the caller bounds each send with the plugin's timeout, counts and logs the outcome,
//! and decides what happens to failures.

pub mod http;
pub mod keystone;
pub mod webhook;

use crate::config::{Error as ConfigError, Reader};
use crate::model::Notification;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One kind of notification method.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync {
    /// The plugin key, lower case as in Monasca's notification JSON (`webhook`, `email`, …).
    fn kind(&self) -> &'static str;
    /// The StatsD counter incremented per successful send (Monasca's `statsd_name`).
    fn statsd_name(&self) -> &'static str;
    /// The bound the caller puts around one [`Plugin::send`].
    fn timeout(&self) -> Duration;
    /// Checks a method address before it is stored; the message says what to fix.
    fn validate_address(&self, address: &str) -> Result<(), String>;
    /// Sends one notification.
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}

/// Why a send failed: a fixed reason for metric labels, whether trying again may help, and a
/// detail for logs that never contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct SendError {
    pub reason: Reason,
    pub retryable: bool,
    pub detail: String,
}

impl SendError {
    pub fn new(reason: Reason, detail: impl Into<String>) -> SendError {
        SendError { reason, retryable: reason.is_retryable(), detail: detail.into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Timeout,
    Connect,
    RateLimited,
    Server,
    Auth,
    Client,
    /// The remote end answered but refused the content (e.g. Slack's `ok: false`).
    Rejected,
    /// The method itself is unusable (bad address, bad template output).
    Invalid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::RateLimited => "rate_limited",
            Reason::Server => "server",
            Reason::Auth => "auth",
            Reason::Client => "client",
            Reason::Rejected => "rejected",
            Reason::Invalid => "invalid",
        }
    }

    fn is_retryable(self) -> bool {
        matches!(self, Reason::Timeout | Reason::Connect | Reason::RateLimited | Reason::Server | Reason::Rejected)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The plugin names monasca-notification knows, short form.
const KNOWN_KINDS: [&str; 6] = ["email", "pagerduty", "webhook", "hipchat", "slack", "jira"];

/// `[notification_types]` and each plugin's own section.
#[derive(Clone, Debug)]
pub struct PluginSettings {
    /// Enabled plugin keys that this build provides, in configuration order.
    pub enabled: Vec<String>,
    /// Enabled names this build has no plugin for; notifications of these types count as invalid.
    pub unavailable: Vec<String>,
    pub webhook: webhook::WebhookConfig,
    pub keystone: keystone::KeystoneConfig,
}

impl PluginSettings {
    pub fn read(r: &Reader) -> Result<PluginSettings, ConfigError> {
        let mut enabled = Vec::new();
        let mut unavailable = Vec::new();
        for name in r.list("notification_types", "enabled", &["email", "pagerduty", "webhook"]) {
            let kind = plugin_kind(&name);
            let provided = matches!(kind.as_str(), "webhook");
            match (provided, enabled.contains(&kind)) {
                (true, false) => enabled.push(kind),
                (true, true) => {}
                (false, _) => unavailable.push(name),
            }
        }
        let webhook_enabled = enabled.iter().any(|k| k == "webhook");
        Ok(PluginSettings {
            webhook: if webhook_enabled { webhook::WebhookConfig::read(r)? } else { Default::default() },
            keystone: if webhook_enabled { keystone::KeystoneConfig::read(r)? } else { Default::default() },
            enabled,
            unavailable,
        })
    }

    pub fn render_masked(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut sections = vec![(
            "notification_types".to_owned(),
            vec![
                ("enabled".to_owned(), self.enabled.join(",")),
                ("unavailable".to_owned(), self.unavailable.join(",")),
            ],
        )];
        if self.enabled.iter().any(|k| k == "webhook") {
            sections.push(("webhook_notifier".into(), self.webhook.render()));
            sections.push(("keystone".into(), self.keystone.render_masked()));
        }
        sections
    }
}

/// `webhook` from `webhook`, `WEBHOOK` or `monasca_notification.plugins.webhook_notifier:WebhookNotifier`.
pub fn plugin_kind(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if KNOWN_KINDS.contains(&lower.as_str()) {
        return lower;
    }
    // Monasca accepts `module:Class` and `module.Class`; the module names the plugin.
    lower
        .split([':', '.'])
        .find_map(|segment| segment.strip_suffix("_notifier"))
        .filter(|kind| KNOWN_KINDS.contains(kind))
        .map_or_else(|| name.to_owned(), str::to_owned)
}

/// The enabled plugins, by key.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: BTreeMap<&'static str, Arc<dyn Plugin>>,
}

impl Registry {
    /// Builds the enabled plugins; HTTP plugins keep up to `connections_per_host` idle
    /// connections, matching the dispatcher's bound on concurrent sends.
    pub fn build(settings: &PluginSettings, connections_per_host: usize) -> Result<Registry, BuildError> {
        let mut registry = Registry::default();
        for kind in &settings.enabled {
            let plugin: Arc<dyn Plugin> = match kind.as_str() {
                "webhook" => Arc::new(webhook::Webhook::new(&settings.webhook, &settings.keystone, connections_per_host)?),
                other => unreachable!("PluginSettings only enables provided plugins, not {other}"),
            };
            registry.plugins.insert(plugin.kind(), plugin);
        }
        Ok(registry)
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Plugin>> {
        self.plugins.get(kind)
    }

    /// Upper-case type names, as `notification_method_type` stores them.
    pub fn type_names(&self) -> Vec<String> {
        self.plugins.keys().map(|k| k.to_ascii_uppercase()).collect()
    }
}

/// A plugin that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build the HTTP client of the {plugin} plugin: {source}")]
    HttpClient { plugin: &'static str, source: reqwest::Error },
}

/// Monasca's common message body, used by the webhook, Slack, Jira and HipChat plugins, with
/// its keys in Monasca's order. Fields come from the raw alarm as received, so their JSON types
/// are whatever the producer wrote; a missing description or metrics list becomes `null`/`[]`
/// instead of failing the send as in Monasca. It borrows from the notification.
#[derive(Debug, Serialize)]
pub struct StandardBody<'a> {
    pub alarm_id: &'a Value,
    pub alarm_definition_id: &'a Value,
    pub alarm_name: &'a Value,
    pub alarm_description: &'a Value,
    pub alarm_timestamp: i64,
    pub state: &'a Value,
    pub old_state: &'a Value,
    pub message: &'a Value,
    pub tenant_id: &'a Value,
    pub metrics: &'a Value,
}

static NO_METRICS: Value = Value::Array(Vec::new());

pub fn standard_body(notification: &Notification) -> StandardBody<'_> {
    let alarm = &notification.alarm;
    StandardBody {
        alarm_id: alarm.raw_field("alarmId"),
        alarm_definition_id: alarm.raw_field("alarmDefinitionId"),
        alarm_name: alarm.raw_field("alarmName"),
        alarm_description: alarm.raw_field("alarmDescription"),
        alarm_timestamp: alarm.timestamp_secs(),
        state: alarm.raw_field("newState"),
        old_state: alarm.raw_field("oldState"),
        message: alarm.raw_field("stateChangeReason"),
        tenant_id: alarm.raw_field("tenantId"),
        metrics: alarm.raw.get("metrics").unwrap_or(&NO_METRICS),
    }
}

#[cfg(test)]
pub(crate) mod tests;
