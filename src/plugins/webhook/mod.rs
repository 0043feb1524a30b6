//! The webhook plugin (Monasca type `WEBHOOK`): posts the standard body as JSON, serialized as
//! Python's `json.dumps` did, with `Content-Type: application/json` and, when Keystone auth is
//! required, an `X-Auth-Token`. Any 2xx answer is success.

mod config;

pub use config::WebhookConfig;

use super::keystone::{KeystoneConfig, TokenSource};
use super::{http, standard_body, BuildError, Plugin, Receipt, SendError};
use crate::model::Notification;
use crate::pyjson;
use std::time::Duration;

pub struct Webhook {
    /// Built once so connections to a receiver are reused across sends.
    client: reqwest::Client,
    timeout: Duration,
    /// Present when `[keystone] auth_required` is set.
    tokens: Option<TokenSource>,
}

impl Webhook {
    pub fn new(config: &WebhookConfig, keystone: &KeystoneConfig, connections_per_host: usize) -> Result<Webhook, BuildError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_max_idle_per_host(connections_per_host)
            .tcp_nodelay(true)
            .build()
            .map_err(|source| BuildError::HttpClient { plugin: "webhook", source })?;
        let tokens = keystone.auth_required.then(|| TokenSource::new(keystone.clone(), client.clone()));
        Ok(Webhook { client, timeout: config.timeout, tokens })
    }
}

#[async_trait::async_trait]
impl Plugin for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_webhook_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, address: &str) -> Result<(), String> {
        match url::Url::parse(address) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
            _ => Err(format!("{address:?} is not an http:// or https:// URL")),
        }
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let url = notification.address();
        let body = pyjson::to_string(&standard_body(notification));
        let mut request = self.client.post(url).header("content-type", "application/json").body(body);
        if let Some(tokens) = &self.tokens {
            request = request.header("X-Auth-Token", tokens.token().await?);
        }
        let response = request.send().await.map_err(|e| http::transport_error(e, url))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let body = response.text().await.unwrap_or_default();
            return Ok(http::receipt(status, &body));
        }
        if status == 401 {
            if let Some(tokens) = &self.tokens {
                tokens.invalidate().await;
            }
        }
        Err(http::status_error(status, url))
    }
}
