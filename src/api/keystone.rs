//! Keystone authentication for the REST API (`[api] auth = keystone`), as monasca-api does it:
//! the caller's `X-Auth-Token` is validated with Keystone (`GET /v3/auth/tokens`, the token in
//! `X-Subject-Token`, Tocsin's own service token from `[keystone]` in `X-Auth-Token`); the tenant
//! is the token's project; writing needs one of `default_authorized_roles`, reading one of those
//! or of `read_only_authorized_roles`.
//!
//! Validated tokens are remembered for `token_cache_ttl` (never past their expiry), so a burst of
//! requests costs Keystone one validation; tokens Keystone refused are remembered for
//! `invalid_token_cache_ttl`, so a flood of bad tokens does not become a flood of validations;
//! and at most `max_concurrent_validations` are sent at once. Both caches are keyed by the
//! token's SHA-256 digest. It never lets a request through when Keystone cannot be asked: that
//! is a 503, not a guess.

use super::auth::{invalid_token, Access, Authenticator};
use super::error::ApiError;
use super::config::KeystoneAuthConfig;
use crate::keystone::{remaining_lifetime, TokenSource, KEYSTONE_ANSWER_LIMIT};
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Semaphore;
use std::time::{Duration, Instant};

/// What Keystone said about a token.
#[derive(Clone, Debug)]
struct Identity {
    project_id: Option<String>,
    roles: Vec<String>,
}

pub struct KeystoneTokens {
    settings: KeystoneAuthConfig,
    client: reqwest::Client,
    service_token: TokenSource,
    /// Token digest → what Keystone said, and until when that is trusted.
    validated: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
    /// Token digest → until when it is answered 401 without asking Keystone.
    refused: Mutex<HashMap<[u8; 32], Instant>>,
    validations: Semaphore,
}

/// How long a request waits for a validation slot before it is answered 503.
const VALIDATION_QUEUE: Duration = Duration::from_secs(5);

/// Distinct tokens remembered; past it the cache starts over, which only costs validations.
const CACHE_CAPACITY: usize = 10_000;

impl KeystoneTokens {
    pub fn new(settings: KeystoneAuthConfig) -> Result<KeystoneTokens, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let service_token = TokenSource::new(settings.service.clone(), client.clone());
        let validations = Semaphore::new(settings.max_concurrent_validations);
        Ok(KeystoneTokens { settings, client, service_token, validated: Mutex::default(), refused: Mutex::default(), validations })
    }

    async fn identity(&self, token: &str) -> Result<Identity, ApiError> {
        if token.is_empty() {
            return Err(invalid_token());
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(found) = self.cached(&digest) {
            return found;
        }
        let _slot = tokio::time::timeout(VALIDATION_QUEUE, self.validations.acquire())
            .await
            .map_err(|_| unavailable("too many token validations are in progress"))?
            .expect("the semaphore is never closed");
        // Another request may have validated the same token while this one waited.
        if let Some(found) = self.cached(&digest) {
            return found;
        }
        // A refused service token is renewed once (it may have expired or been revoked).
        let mut validation = match self.validate(token).await {
            Err(refused) if refused.status == StatusCode::UNAUTHORIZED => {
                let mut refused_tokens = self.refused.lock().expect("lock poisoned");
                if refused_tokens.len() >= CACHE_CAPACITY {
                    refused_tokens.clear();
                }
                refused_tokens.insert(digest, Instant::now() + self.settings.invalid_token_cache_ttl);
                return Err(refused);
            }
            other => other?,
        };
        if matches!(validation, Validation::ServiceTokenRefused) {
            self.service_token.invalidate().await;
            validation = self.validate(token).await?;
        }
        let Validation::Valid(identity, lifetime) = validation else {
            return Err(unavailable("Keystone refuses Tocsin's service token; check [keystone] username, password and project_name"));
        };
        let until = Instant::now() + lifetime.min(self.settings.token_cache_ttl);
        let mut validated = self.validated.lock().expect("lock poisoned");
        if validated.len() >= CACHE_CAPACITY {
            validated.clear();
        }
        validated.insert(digest, (identity.clone(), until));
        Ok(identity)
    }

    /// What the caches still say about a token: its identity, or that it was refused.
    fn cached(&self, digest: &[u8; 32]) -> Option<Result<Identity, ApiError>> {
        let now = Instant::now();
        if let Some((identity, until)) = self.validated.lock().expect("lock poisoned").get(digest) {
            if now < *until {
                return Some(Ok(identity.clone()));
            }
        }
        match self.refused.lock().expect("lock poisoned").get(digest) {
            Some(until) if now < *until => Some(Err(invalid_token())),
            _ => None,
        }
    }

    async fn validate(&self, token: &str) -> Result<Validation, ApiError> {
        let service_token = self.service_token.token().await.map_err(|e| unavailable(&format!("cannot get Tocsin's service token from Keystone: {}", e)))?;
        let url = format!("{}/auth/tokens", self.settings.service.auth_url.trim_end_matches('/'));
        let response = self
            .client
            .get(&url)
            .header("X-Auth-Token", service_token)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| unavailable(&format!("Keystone cannot be reached: {}", e.without_url())))?;
        match response.status().as_u16() {
            200 => {}
            401 => return Ok(Validation::ServiceTokenRefused),
            // Keystone answers 404 for an unknown or expired token.
            404 => return Err(invalid_token()),
            status => return Err(unavailable(&format!("Keystone answered HTTP {status} to a token validation"))),
        }
        let answer = crate::outbound::read_answer(response, KEYSTONE_ANSWER_LIMIT)
            .await
            .map_err(|e| unavailable(&format!("Keystone's answer could not be read: {}", e.without_url())))?;
        let body: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| unavailable(&format!("Keystone's answer is not JSON: {e}")))?;
        let token = &body["token"];
        let identity = Identity {
            project_id: token["project"]["id"].as_str().map(str::to_owned),
            roles: token["roles"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect(),
        };
        // Without a readable expiry the answer is used once, not cached.
        let lifetime = remaining_lifetime(token).unwrap_or(Duration::ZERO);
        Ok(Validation::Valid(identity, lifetime))
    }
}

enum Validation {
    Valid(Identity, Duration),
    ServiceTokenRefused,
}

fn unavailable(why: &str) -> ApiError {
    tracing::warn!(error = why, "cannot validate an API token");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("The X-Auth-Token cannot be validated now ({why}); try again later."))
}

#[async_trait::async_trait]
impl Authenticator for KeystoneTokens {
    async fn tenant(&self, token: &str, access: Access) -> Result<String, ApiError> {
        let identity = self.identity(token).await?;
        let s = &self.settings;
        let allowed: Vec<&String> = match access {
            Access::Write => s.default_authorized_roles.iter().collect(),
            Access::Read => s.default_authorized_roles.iter().chain(&s.read_only_authorized_roles).collect(),
        };
        if !identity.roles.iter().any(|role| allowed.contains(&role)) {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            let what = if access == Access::Write { "change" } else { "read" };
            return Err(ApiError::new(StatusCode::FORBIDDEN, format!("To {what} this resource the token needs one of the roles: {}.", names.join(", "))));
        }
        identity
            .project_id
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token is not scoped to a project; request a project-scoped token."))
    }
}
