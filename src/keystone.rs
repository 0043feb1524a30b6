//! The Keystone client: `[keystone]` (Tocsin's service user, and whether webhook posts carry its
//! token) and [`TokenSource`], a project-scoped token kept until shortly before it expires, or
//! until someone refuses it. monasca-notification fetched a new token for every post. Used by the
//! webhook plugin (the token it posts with) and by the API (the token it validates callers'
//! tokens with); each turns this module's [`Error`] into its own kind of failure.

use crate::config::{Error as ConfigError, Reader, Secret};
use crate::outbound::{self, Destinations};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// `[keystone]`, with monasca-notification's defaults.
#[derive(Clone, Debug)]
pub struct KeystoneConfig {
    /// Whether webhook posts carry an `X-Auth-Token`.
    pub auth_required: bool,
    /// The webhook hosts that may receive that token (Tocsin's option). Monasca sent it to
    /// every webhook address, that is to any host a tenant names; empty withholds it.
    pub webhook_hosts: Destinations,
    pub auth_url: String,
    pub username: String,
    pub password: Secret,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl Default for KeystoneConfig {
    fn default() -> Self {
        KeystoneConfig {
            auth_required: false,
            webhook_hosts: Destinations::default(),
            auth_url: "http://127.0.0.1/identity/v3".into(),
            username: "admin".into(),
            password: Secret::new("password"),
            project_name: "admin".into(),
            user_domain_name: "default".into(),
            project_domain_name: "default".into(),
        }
    }
}

impl KeystoneConfig {
    pub fn read(r: &Reader) -> Result<KeystoneConfig, ConfigError> {
        let d = KeystoneConfig::default();
        Ok(KeystoneConfig {
            auth_required: r.bool("keystone", "auth_required", d.auth_required)?,
            webhook_hosts: Destinations::parse(&r.list("keystone", "webhook_hosts", &[]))
                .map_err(|e| r.invalid("keystone", "webhook_hosts", e))?,
            auth_url: r.string("keystone", "auth_url", &d.auth_url),
            username: r.string("keystone", "username", &d.username),
            password: Secret::new(r.string("keystone", "password", d.password.expose())),
            project_name: r.string("keystone", "project_name", &d.project_name),
            user_domain_name: r.string("keystone", "user_domain_name", &d.user_domain_name),
            project_domain_name: r.string("keystone", "project_domain_name", &d.project_domain_name),
        })
    }

    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![
            ("auth_required".into(), self.auth_required.to_string()),
            ("webhook_hosts".into(), self.webhook_hosts.render()),
            ("auth_url".into(), self.auth_url.clone()),
            ("username".into(), self.username.clone()),
            ("password".into(), "****".into()),
            ("project_name".into(), self.project_name.clone()),
            ("user_domain_name".into(), self.user_domain_name.clone()),
            ("project_domain_name".into(), self.project_domain_name.clone()),
        ]
    }
}

/// Why Keystone gave no token. The texts never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("keystone at {url} cannot be reached: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("keystone at {url} refused the service user's login: HTTP {status}")]
    Refused { url: String, status: u16 },
    #[error("keystone at {url} answered without an X-Subject-Token header")]
    NoToken { url: String },
}

/// A cached project-scoped token.
pub struct TokenSource {
    config: KeystoneConfig,
    client: reqwest::Client,
    /// One fetch at a time; waiters reuse its result.
    cached: Mutex<Option<(String, Instant)>>,
}

/// Tokens are renewed this long before Keystone says they expire.
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// Keystone's token answer carries the service catalog: larger than a receiver's answer, still
/// bounded.
pub const KEYSTONE_ANSWER_LIMIT: usize = 1 << 20;
/// Lifetime assumed when Keystone's answer has no readable `expires_at`.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);

impl TokenSource {
    pub fn new(config: KeystoneConfig, client: reqwest::Client) -> TokenSource {
        TokenSource { config, client, cached: Mutex::new(None) }
    }

    pub async fn token(&self) -> Result<String, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((token, valid_until)) = cached.as_ref() {
            if Instant::now() < *valid_until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(RENEW_MARGIN)));
        Ok(token)
    }

    /// Forgets the token, after a receiver refused it.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), Error> {
        let c = &self.config;
        let url = format!("{}/auth/tokens", c.auth_url.trim_end_matches('/'));
        let unreachable = |e: reqwest::Error| Error::Unreachable { url: outbound::redact_url(&url), source: e.without_url() };
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password.expose()}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}}});
        let response = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Error::Refused { url: outbound::redact_url(&url), status });
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::NoToken { url: outbound::redact_url(&url) })?;
        let answer = outbound::read_answer(response, KEYSTONE_ANSWER_LIMIT).await.map_err(unreachable)?;
        let body = serde_json::from_str::<serde_json::Value>(&answer.body).ok();
        let lifetime = body.as_ref().and_then(|v| remaining_lifetime(&v["token"])).unwrap_or(ASSUMED_LIFETIME);
        Ok((token, lifetime))
    }
}

/// How long a token Keystone described (`{"expires_at": "…", …}`) has left; `None` when the time
/// is missing, unreadable or past.
pub fn remaining_lifetime(token: &serde_json::Value) -> Option<Duration> {
    let expires_at = chrono::DateTime::parse_from_rfc3339(token["expires_at"].as_str()?).ok()?;
    (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}
