//! Notification plugins: the [`Plugin`] trait, the outcome of a send ([`SendError`]), the
//! [`Registry`] of enabled plugins, and what the plugins share (the Monasca "standard body",
//! HTTP status classification, URL redaction).
//!
//! A plugin turns one [`Notification`] into one request to one remote system and says whether
//! it worked and whether a failure is worth retrying. It knows nothing of Kafka, the database or
//! retries: the caller bounds each send with the plugin's timeout, counts and logs the outcome,
//! and decides what happens to failures.

pub mod email;
pub mod hipchat;
pub mod http;
pub mod jinja;
pub mod jira;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use crate::config::{Error as ConfigError, Reader};
use crate::model::Notification;
use crate::netguard::Guard;
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
    /// Where a send goes, as the key of its concurrency limit (`send::adaptive`): by default
    /// the plugin's one configured endpoint; plugins sending to the method's address key by
    /// its host and port (Slack by the webhook URL, which Slack limits on its own).
    fn destination<'a>(&self, _notification: &'a Notification) -> &'a str {
        self.kind()
    }
    /// What a send would transmit, built exactly as `send` builds it, without sending
    /// (`tocsin template render`); `Err` where `send` would refuse before sending.
    fn render(&self, notification: &Notification) -> Result<Rendered, SendError>;
    /// Sends one notification; on success, says what the remote end answered.
    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError>;
}

/// A notification's payload as its plugin would send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The media type of `body` (`application/json`, `message/rfc822`, …).
    pub content_type: &'static str,
    pub body: String,
}

/// What the remote end answered to a successful send, for `tocsin send-test` and debug logs
/// (never containing a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub answer: String,
}

impl Receipt {
    pub fn new(answer: impl Into<String>) -> Receipt {
        Receipt { answer: answer.into() }
    }
}

/// Why a send failed: a fixed reason for metric labels, whether trying again may help, and a
/// detail for logs that never contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct SendError {
    pub reason: Reason,
    pub retryable: bool,
    pub detail: String,
    /// The receiver said it is overloaded (429, 503) or could not be reached in time: fewer
    /// sends go to it for a while (`send::adaptive`).
    pub overloaded: bool,
    /// How long the receiver asked to be left alone (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// Nothing was sent: the receiver had asked to be left alone for longer than a send may
    /// wait. Not an attempt; the retry engine tries again without counting it.
    pub deferred: bool,
}

impl SendError {
    pub fn new(reason: Reason, detail: impl Into<String>) -> SendError {
        let overloaded = matches!(reason, Reason::Timeout | Reason::Connect | Reason::RateLimited);
        SendError { reason, retryable: reason.is_retryable(), detail: detail.into(), overloaded, retry_after: None, deferred: false }
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> SendError {
        self.retry_after = retry_after;
        self
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

/// `[notification_types]` and each enabled plugin's own section. As in Monasca, a plugin's
/// options are only read when the plugin is enabled.
#[derive(Clone, Debug, Default)]
pub struct PluginsConfig {
    /// Enabled plugin keys that this build provides, in configuration order.
    pub enabled: Vec<String>,
    /// Enabled names this build has no plugin for; notifications of these types count as invalid.
    pub unavailable: Vec<String>,
    pub webhook: Option<webhook::WebhookConfig>,
    /// Read with the webhook plugin, the only one that authenticates with Keystone.
    pub keystone: Option<crate::keystone::KeystoneConfig>,
    pub email: Option<email::EmailConfig>,
    pub pagerduty: Option<pagerduty::PagerDutyConfig>,
    pub slack: Option<slack::SlackConfig>,
    pub jira: Option<jira::JiraConfig>,
    pub hipchat: Option<hipchat::HipChatConfig>,
}

impl PluginsConfig {
    pub fn read(r: &Reader) -> Result<PluginsConfig, ConfigError> {
        let mut settings = PluginsConfig::default();
        for name in r.list("notification_types", "enabled", &["email", "pagerduty", "webhook"]) {
            let kind = plugin_kind(&name);
            if !KNOWN_KINDS.contains(&kind.as_str()) {
                settings.unavailable.push(name);
            } else if !settings.enabled.contains(&kind) {
                settings.enabled.push(kind);
            }
        }
        for kind in &settings.enabled {
            match kind.as_str() {
                "webhook" => {
                    settings.webhook = Some(webhook::WebhookConfig::read(r)?);
                    settings.keystone = Some(crate::keystone::KeystoneConfig::read(r)?);
                }
                "email" => settings.email = Some(email::EmailConfig::read(r)?),
                "pagerduty" => settings.pagerduty = Some(pagerduty::PagerDutyConfig::read(r)?),
                "slack" => settings.slack = Some(slack::SlackConfig::read(r)?),
                "jira" => settings.jira = Some(jira::JiraConfig::read(r)?),
                "hipchat" => settings.hipchat = Some(hipchat::HipChatConfig::read(r)?),
                other => unreachable!("{other} is not in KNOWN_KINDS"),
            }
        }
        Ok(settings)
    }

    /// Each enabled plugin's section, secrets masked, for `tocsin check-config`.
    pub fn render_masked(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut sections = vec![(
            "notification_types".to_owned(),
            vec![
                ("enabled".to_owned(), self.enabled.join(",")),
                ("unavailable".to_owned(), self.unavailable.join(",")),
            ],
        )];
        let mut add = |name: &str, entries: Option<Vec<(String, String)>>| {
            if let Some(entries) = entries {
                sections.push((name.to_owned(), entries));
            }
        };
        add("webhook_notifier", self.webhook.as_ref().map(|c| c.render()));
        add("keystone", self.keystone.as_ref().map(|c| c.render_masked()));
        add("email_notifier", self.email.as_ref().map(|c| c.render_masked()));
        add("pagerduty_notifier", self.pagerduty.as_ref().map(|c| c.render_masked()));
        add("slack_notifier", self.slack.as_ref().map(|c| c.render_masked()));
        add("jira_notifier", self.jira.as_ref().map(|c| c.render_masked()));
        add("hipchat_notifier", self.hipchat.as_ref().map(|c| c.render_masked()));
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
    /// connections, matching the dispatcher's bound on concurrent sends, and reach tenant
    /// addresses only where `guard` admits them.
    pub fn build(settings: &PluginsConfig, connections_per_host: usize, guard: &Guard) -> Result<Registry, BuildError> {
        let mut registry = Registry::default();
        fn built<P: Plugin + 'static>(plugin: P) -> Arc<dyn Plugin> {
            Arc::new(plugin)
        }
        let n = connections_per_host;
        let candidates: [Option<Arc<dyn Plugin>>; 6] = [
            match (&settings.webhook, &settings.keystone) {
                (Some(webhook), Some(keystone)) => Some(built(webhook::Webhook::new(webhook, keystone, n, guard)?)),
                _ => None,
            },
            settings.email.as_ref().map(|c| email::Email::new(c, n)).transpose()?.map(built),
            settings.pagerduty.as_ref().map(|c| pagerduty::PagerDuty::new(c, n)).transpose()?.map(built),
            settings.slack.as_ref().map(|c| slack::Slack::new(c, n, guard)).transpose()?.map(built),
            settings.jira.as_ref().map(|c| jira::Jira::new(c, n, guard)).transpose()?.map(built),
            settings.hipchat.as_ref().map(|c| hipchat::HipChat::new(c, n, guard)).transpose()?.map(built),
        ];
        for plugin in candidates.into_iter().flatten() {
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
    /// Anything else a plugin checks when it is built (a CA bundle that cannot be read, …).
    #[error("cannot set up the {plugin} plugin: {message}")]
    Setup { plugin: &'static str, message: String },
}

/// Monasca's common message body, used by the webhook, Slack, Jira and HipChat plugins, with
/// its keys in Monasca's order. Fields come from the raw alarm as received, so their JSON types
/// are whatever the producer wrote; a missing description or metrics list becomes `null`/`[]`
/// instead of failing the send as in Monasca. It borrows from the notification.
/// A grouped notification adds `members` at the end.
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
    /// Only in a grouped notification (Tocsin's alarm manager): one object per alarm of the
    /// group. Absent otherwise, so Monasca's body is unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<&'a Value>,
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
        members: alarm.raw.get("members"),
    }
}

#[cfg(test)]
pub(crate) mod tests;
