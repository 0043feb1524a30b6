//! The HipChat plugin (Monasca type `HIPCHAT`): posts a room notification as a form (`color` by
//! severity, `message_format=text`, `message` = the standard body as indented JSON) to an
//! address like `https://hipchat.example/v2/room/42/notification?auth_token=…`. Any 2xx answer
//! is success.
//!
//! The query (the room's `auth_token`) is re-sent as parameters as Monasca did, and is a secret:
//! no log, error or receipt shows it. Certificates are verified unless `insecure = true`
//! (Monasca's default skipped verification). HipChat itself is end-of-life; the plugin stays for
//! self-hosted, API-compatible servers.

mod config;

pub use config::HipChatConfig;

use super::slack::split_query;
use super::{http, standard_body, BuildError, Plugin, Receipt, Rendered, SendError};
use crate::model::Notification;
use crate::netguard::Guard;
use crate::pyjson;
use std::time::Duration;

pub struct HipChat {
    /// Built once so connections to the server are reused across sends; guarded.
    client: reqwest::Client,
    guard: Guard,
    timeout: Duration,
    notify: bool,
}

impl HipChat {
    pub fn new(config: &HipChatConfig, connections_per_host: usize, guard: &Guard) -> Result<HipChat, BuildError> {
        Ok(HipChat {
            client: config.transport.client("hipchat", connections_per_host, guard)?,
            guard: guard.clone(),
            timeout: config.transport.timeout,
            notify: config.notify,
        })
    }

    /// The form fields, in Monasca's order (`notify` only when enabled).
    pub fn form(&self, notification: &Notification) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("color", color(&notification.alarm.severity).to_owned()),
            ("message_format", "text".to_owned()),
            ("message", pyjson::to_string_indented(&standard_body(notification), 3)),
        ];
        if self.notify {
            form.push(("notify", "true".to_owned()));
        }
        form
    }
}

/// Monasca's `SEVERITY_COLORS`, purple for anything else.
pub fn color(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "low" => "green",
        "medium" => "gray",
        "high" => "yellow",
        "critical" => "red",
        _ => "purple",
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

    fn validate_address(&self, address: &str) -> Result<(), String> {
        let url = url::Url::parse(address)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| format!("{} is not an http:// or https:// URL", http::redact_url(address)))?;
        let (url, query) = split_query(url);
        if !url.path().ends_with("/notification") {
            return Err("a HipChat address looks like https://<server>/v2/room/<room id>/notification?auth_token=<token>".into());
        }
        if !query.iter().any(|(k, _)| k == "auth_token") {
            return Err("a HipChat address needs ?auth_token=<token>".into());
        }
        Ok(())
    }

    fn destination<'a>(&self, notification: &'a Notification) -> &'a str {
        http::authority(notification.address())
    }

    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(self.form(notification)).finish();
        Ok(Rendered { content_type: "application/x-www-form-urlencoded", body })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let address = notification.address();
        let redacted = http::redact_url(address);
        let url = url::Url::parse(address)
            .map_err(|_| SendError::new(super::Reason::Invalid, format!("{redacted} is not a URL")))?;
        let (url, query) = split_query(url);
        http::preflight(&self.guard, &url, || redacted.clone()).await?;
        let response = self
            .client
            .post(url)
            .query(&query)
            .form(&self.form(notification))
            .send()
            .await
            .map_err(|e| http::transport_error(e, &redacted))?;
        let read = http::read_answer(response, http::ANSWER_LIMIT, &redacted).await?;
        let (status, mut answer) = (read.status, read.body);
        // An answer quoting the request must not leak the token.
        for (_, token) in query.iter().filter(|(k, v)| k == "auth_token" && !v.is_empty()) {
            answer = answer.replace(token.as_str(), "****");
        }
        if (200..300).contains(&status) {
            return Ok(http::receipt(status, &answer));
        }
        let mut error = http::status_error(status, &redacted).with_retry_after(read.retry_after);
        if !answer.is_empty() {
            error.detail.push_str(&format!(" with response {}", http::receipt(status, &answer).answer));
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests;
