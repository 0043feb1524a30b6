//! The Jira plugin (Monasca type `JIRA`): keeps one Jira issue per alarm through the REST API v2.
//!
//! As in Monasca, a send searches for the alarm's issue (`project=P and reporter='user' and
//! summary ~ 'alarm id'`); if there is none it creates one (type `issue_type`, component when the
//! address names one), if the issue is resolved or closed it reopens it through the first
//! transition whose name contains "reopen", and then it adds the comment, when there is one.
//! The alarm state is not looked at: an OK transition comments too, and issues are never
//! resolved. The address is `https://<jira>/?project=<KEY>[&component=<Name>]`.
//!
//! Unlike Monasca it honours `timeout` (for the whole send), escapes the JQL, reads the custom
//! formatter once at start, and says which failures are worth retrying. It must never put the
//! password in a log line or an error detail, and never send it to a server the operator did
//! not list in `[jira_notifier] servers`: the address, and so the server, is the tenant's.

mod api;
mod config;
mod fields;
mod formatter;

pub use config::JiraConfig;
pub use formatter::Formatter;

use fields::{default_fields, issue_fields, search_jql, Fields, Target};
use formatter::Templates;

use super::http;
use crate::outbound::Destinations;
use super::{BuildError, Plugin, Reason, Receipt, Rendered, SendError};
use crate::config::Secret;
use crate::model::Notification;
use crate::netguard::Guard;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub struct Jira {
    /// Built once so connections to the Jira server are reused across sends; guarded, and
    /// following no redirect to another host (its requests carry the credentials).
    client: reqwest::Client,
    guard: Guard,
    /// Bound on one whole send; every request gets what is left of it.
    timeout: Duration,
    user: String,
    password: Secret,
    servers: Destinations,
    issue_type: String,
    /// The custom formatter, compiled; `None` for Monasca's default texts.
    templates: Option<Templates>,
    /// Whether the server is known to have retired `/search` for `/search/jql`.
    enhanced_search: AtomicBool,
}

impl Jira {
    pub fn new(config: &JiraConfig, connections_per_host: usize, guard: &Guard) -> Result<Jira, BuildError> {
        let setup = |message: String| BuildError::Setup { plugin: "jira", message };
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_max_idle_per_host(connections_per_host);
        let mut trusted = Vec::new();
        if let Some(proxy) = &config.proxy {
            // Monasca proxied only https (`proxies={'https': proxy}`). The error text of a bad
            // proxy URL could repeat its password, so it is not passed on.
            let proxy_url = reqwest::Proxy::https(proxy.expose())
                .map_err(|_| setup(format!("the proxy {} is not a usable URL", config::masked_proxy(proxy.expose()))))?;
            builder = builder.proxy(proxy_url);
            trusted.extend(url::Url::parse(proxy.expose()).ok().and_then(|u| u.host_str().map(str::to_owned)));
        }
        let client = http::guarded(builder, guard, &trusted, true).build().map_err(|source| BuildError::HttpClient { plugin: "jira", source })?;
        let templates = config.formatter.as_ref().map(Templates::new).transpose().map_err(setup)?;
        if config.servers.is_empty() {
            tracing::warn!(
                "[jira_notifier] servers is empty: Jira notifications fail until it names the Jira servers the configured \
                 credentials may go to (a method's address names its server, and anyone who can write methods could \
                 otherwise receive them)"
            );
        }
        Ok(Jira {
            client,
            guard: guard.clone(),
            timeout: config.timeout,
            user: config.user.clone(),
            password: config.password.clone(),
            servers: config.servers.clone(),
            issue_type: config.issue_type.clone(),
            templates,
            enhanced_search: AtomicBool::new(false),
        })
    }

    /// Why the credentials may not go to the target's server, if they may not.
    fn refuses_credentials(&self, target: &Target) -> Option<String> {
        (!self.servers.admits(&target.server)).then(|| {
            let listed = if self.servers.is_empty() { "none is listed".to_owned() } else { self.servers.render() };
            format!(
                "the Jira server {} is not one of [jira_notifier] servers ({listed}); the Jira credentials go only there",
                http::redact_url(target.server.as_str())
            )
        })
    }

    /// The texts of the issue for one notification: the custom formatter's or Monasca's.
    pub fn fields(&self, notification: &Notification) -> Result<Fields, SendError> {
        match &self.templates {
            Some(templates) => templates.render(notification).map_err(|m| SendError::new(Reason::Invalid, m)),
            None => Ok(default_fields(notification)),
        }
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

    fn validate_address(&self, address: &str) -> Result<(), String> {
        let target =
            Target::parse(address).map_err(|problem| format!("{problem}; a Jira address looks like https://jira.example/?project=KEY&component=Name"))?;
        self.refuses_credentials(&target).map_or(Ok(()), Err)
    }

    fn destination<'a>(&self, notification: &'a Notification) -> &'a str {
        http::authority(notification.address())
    }

    /// The issue a first notification of the alarm creates, and the comment it adds (later
    /// ones find that issue, reopen it if it was resolved, and comment).
    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        let target = Target::parse(notification.address()).map_err(|problem| SendError::new(Reason::Invalid, format!("unusable Jira address: {problem}")))?;
        let fields = self.fields(notification)?;
        let body = serde_json::json!({ "create": { "fields": issue_fields(&target, &fields, &self.issue_type) }, "comment": fields.comments });
        Ok(Rendered { content_type: "application/json", body: serde_json::to_string_pretty(&body).expect("JSON values serialize") })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let target = Target::parse(notification.address())
            .map_err(|problem| SendError::new(Reason::Invalid, format!("unusable Jira address: {problem}")))?;
        if let Some(refused) = self.refuses_credentials(&target) {
            return Err(SendError::new(Reason::Invalid, refused));
        }
        http::preflight(&self.guard, &target.server, || http::redact_url(target.server.as_str())).await?;
        let fields = self.fields(notification)?;
        let api = api::Api {
            client: &self.client,
            target: &target,
            user: &self.user,
            password: self.password.expose(),
            deadline: tokio::time::Instant::now() + self.timeout,
            timeout: self.timeout,
            enhanced_search: &self.enhanced_search,
        };
        let alarm_id = &notification.alarm.alarm_id;
        let mut done = Vec::new();
        let key = match api.search(&search_jql(&target.project, &self.user, alarm_id)).await? {
            None => {
                let key = api.create(&issue_fields(&target, &fields, &self.issue_type)).await?;
                tracing::debug!(plugin = "jira", alarm_id = %alarm_id, issue = %key, "created a Jira issue");
                done.push(format!("created {key}"));
                key
            }
            Some(issue) => {
                tracing::debug!(plugin = "jira", alarm_id = %alarm_id, issue = %issue.key, status = %issue.status, "found the alarm's Jira issue");
                done.push(format!("found {} ({})", issue.key, issue.status));
                if matches!(issue.status.to_lowercase().as_str(), "resolved" | "closed") {
                    let transitions = api.transitions(&issue.key).await?;
                    if let Some(reopen) = transitions.iter().find(|t| t.name.to_lowercase().contains("reopen")) {
                        api.transition(&issue.key, &reopen.id).await?;
                        done.push(format!("reopened by {:?}", reopen.name));
                    }
                }
                issue.key
            }
        };
        if let Some(comment) = fields.comments.as_deref().filter(|c| !c.is_empty()) {
            api.comment(&key, comment).await?;
            done.push("commented".into());
        }
        Ok(Receipt::new(done.join(", ")))
    }
}

#[cfg(test)]
mod tests;
