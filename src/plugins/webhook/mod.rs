//! The webhook plugin (Monasca type `WEBHOOK`): posts the standard body as JSON, serialized as
//! Python's `json.dumps` did, with `Content-Type: application/json` and, when Keystone auth is
//! required, an `X-Auth-Token`. Any 2xx answer is success.
//!
//! The address is the tenant's, so the network guard applies to it (every connection and
//! redirect hop), and the operator's Keystone token goes only to `[keystone] webhook_hosts`: a
//! method pointing elsewhere fails permanently while auth is required. Without that list the
//! token is withheld from every post (said once at start), since Monasca's rule, send it to
//! whatever host a method names, hands it to anyone who can write a method.

mod config;

pub use config::WebhookConfig;

use super::{http, standard_body, BuildError, Plugin, Reason, Receipt, Rendered, SendError};
use crate::keystone::{self, KeystoneConfig, TokenSource};
use crate::outbound::Destinations;
use crate::model::Notification;
use crate::netguard::Guard;
use crate::pyjson;
use std::time::Duration;

pub struct Webhook {
    /// Built once so connections to a receiver are reused across sends; guarded.
    client: reqwest::Client,
    timeout: Duration,
    guard: Guard,
    /// Present when `[keystone] auth_required` is set and `webhook_hosts` names who may get it.
    tokens: Option<(TokenSource, Destinations)>,
    urls: http::ParsedUrls,
}

impl Webhook {
    pub fn new(config: &WebhookConfig, keystone: &KeystoneConfig, connections_per_host: usize, guard: &Guard) -> Result<Webhook, BuildError> {
        let failed = |source| BuildError::HttpClient { plugin: "webhook", source };
        let builder = reqwest::Client::builder().timeout(config.timeout).pool_max_idle_per_host(connections_per_host).tcp_nodelay(true);
        let credentials = keystone.auth_required && !keystone.webhook_hosts.is_empty();
        let client = http::guarded(builder, guard, &[], credentials).build().map_err(failed)?;
        if keystone.auth_required && keystone.webhook_hosts.is_empty() {
            tracing::warn!(
                "[keystone] auth_required is set but [keystone] webhook_hosts is empty: webhook posts carry no X-Auth-Token. \
                 monasca-notification sent the service token to every webhook address, so anyone who can write a notification \
                 method could receive it; list the hosts that may (webhook_hosts = hooks.example.com, https://alerts.example:8443)"
            );
        }
        // The token comes from the operator's Keystone, on a client of its own: the network
        // guard is for tenant addresses.
        let keystone_client = reqwest::Client::builder().timeout(config.timeout).build().map_err(failed)?;
        let tokens = credentials.then(|| (TokenSource::new(keystone.clone(), keystone_client), keystone.webhook_hosts.clone()));
        Ok(Webhook { client, timeout: config.timeout, guard: guard.clone(), tokens, urls: http::ParsedUrls::default() })
    }

    /// Whether a post to `url` would carry the operator's token and may not: the method points
    /// at a host the operator did not list.
    fn refuses_credentials(&self, url: &url::Url) -> Option<String> {
        let (_, hosts) = self.tokens.as_ref()?;
        (!hosts.admits(url)).then(|| {
            format!(
                "{} is not one of [keystone] webhook_hosts ({}); with auth_required the Keystone token goes only there",
                http::redact_url(url.as_str()),
                hosts.render()
            )
        })
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
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => self.refuses_credentials(&url).map_or(Ok(()), Err),
            _ => Err(format!("{address:?} is not an http:// or https:// URL")),
        }
    }

    fn destination<'a>(&self, notification: &'a Notification) -> &'a str {
        http::authority(notification.address())
    }

    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        Ok(Rendered { content_type: "application/json", body: pyjson::to_string(&standard_body(notification)) })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let address = notification.address();
        let url = self.urls.parse(address).map_err(|_| SendError::new(Reason::Invalid, format!("{} is not a URL", http::redact_url(address))))?;
        if let Some(refused) = self.refuses_credentials(&url) {
            return Err(SendError::new(Reason::Invalid, refused));
        }
        http::preflight(&self.guard, &url, || http::redact_url(address)).await?;
        let body = pyjson::to_string(&standard_body(notification));
        let mut request = self.client.post(url).header("content-type", "application/json").body(body);
        if let Some((tokens, _)) = &self.tokens {
            request = request.header("X-Auth-Token", tokens.token().await.map_err(token_failure)?);
        }
        let response = request.send().await.map_err(|e| http::transport_error(e, address))?;
        let answer = http::read_answer(response, http::ANSWER_LIMIT, address).await?;
        if (200..300).contains(&answer.status) {
            return Ok(http::receipt(answer.status, &answer.body));
        }
        if answer.status == 401 {
            if let Some((tokens, _)) = &self.tokens {
                tokens.invalidate().await;
            }
        }
        Err(http::status_error(answer.status, address).with_retry_after(answer.retry_after))
    }
}

/// No Keystone token, no post: an unreachable or failing Keystone is worth retrying, refused
/// service credentials are not.
fn token_failure(error: keystone::Error) -> SendError {
    let reason = match &error {
        keystone::Error::Unreachable { source, .. } if source.is_timeout() => Reason::Timeout,
        keystone::Error::Unreachable { .. } => Reason::Connect,
        keystone::Error::Refused { status, .. } if *status >= 500 => Reason::Server,
        keystone::Error::Refused { .. } | keystone::Error::NoToken { .. } => Reason::Auth,
    };
    SendError::new(reason, format!("no Keystone token for the post: {error}"))
}
