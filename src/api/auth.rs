//! Who is calling: `X-Auth-Token` mapped to a tenant by an [`Authenticator`]: configured tokens
//! (`[api] auth = tokens`, `tokens = token:tenant, …`) or Keystone (`[api] auth = keystone`,
//! [`super::keystone`]). It decides only whether the caller may read or write, and as which
//! tenant: every query of the API is then scoped to that tenant.

use super::error::ApiError;
use crate::config::Secret;
use sha2::{Digest, Sha256};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use super::ApiState;
use std::collections::HashMap;

/// What a request does: GET and HEAD read, every other method writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// The tenant the token may act for with this access, or the error to answer with (401 for
    /// an unknown token, 403 for a missing role, 503 when the token cannot be checked now).
    async fn tenant(&self, token: &str, access: Access) -> Result<String, ApiError>;
}

pub fn invalid_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token is not valid.")
}

/// Tokens from the configuration; each may read and write for its tenant. Only their SHA-256
/// digests are kept, and a request's token is looked up by its digest: comparing digests
/// leaks nothing about a token through timing, and a memory dump holds no token.
pub struct ConfiguredTokens {
    tenants: HashMap<[u8; 32], String>,
}

impl ConfiguredTokens {
    pub fn new(tokens: &[(Secret, String)]) -> ConfiguredTokens {
        ConfiguredTokens { tenants: tokens.iter().map(|(token, tenant)| (digest(token.expose()), tenant.clone())).collect() }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[async_trait::async_trait]
impl Authenticator for ConfiguredTokens {
    async fn tenant(&self, token: &str, _access: Access) -> Result<String, ApiError> {
        if token.is_empty() {
            return Err(invalid_token());
        }
        self.tenants.get(&digest(token)).cloned().ok_or_else(invalid_token)
    }
}

/// The calling tenant, extracted from the request; a write also takes one from the tenant's
/// write budget ([`super::limits::WriteLimiter`]).
pub struct Tenant(pub String);

impl FromRequestParts<ApiState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("x-auth-token")
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token header is required."))?
            .to_str()
            .map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token header is not valid text."))?;
        // Dry runs change nothing: they read, and take nothing from the write budget.
        let dry_run = parts.uri.path() == "/v2.0/rules/test" || parts.uri.query().is_some_and(|q| q.split('&').any(|pair| pair == "dry_run=true"));
        let access = if parts.method == Method::GET || parts.method == Method::HEAD || dry_run { Access::Read } else { Access::Write };
        let tenant = state.auth.tenant(token, access).await?;
        if access == Access::Write {
            state.writes.take(&tenant)?;
        }
        Ok(Tenant(tenant))
    }
}
