//! Who is calling: `X-Auth-Token` mapped to a tenant by an [`Authenticator`]: configured tokens
//! (`[api] auth = tokens`, `tokens = token:tenant, …`) or Keystone (`[api] auth = keystone`,
//! [`super::keystone`]). It decides only whether the caller may read or write, and as which
//! tenant: every query of the API is then scoped to that tenant.

use super::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;

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

/// Tokens from the configuration; each may read and write for its tenant.
pub struct ConfiguredTokens(pub HashMap<String, String>);

#[async_trait::async_trait]
impl Authenticator for ConfiguredTokens {
    async fn tenant(&self, token: &str, _access: Access) -> Result<String, ApiError> {
        self.0.get(token).cloned().ok_or_else(invalid_token)
    }
}

/// The calling tenant, extracted from the request.
pub struct Tenant(pub String);

impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    Arc<dyn Authenticator>: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth: Arc<dyn Authenticator> = axum::extract::FromRef::from_ref(state);
        let token = parts
            .headers
            .get("x-auth-token")
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token header is required."))?
            .to_str()
            .map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token header is not valid text."))?;
        let access = if parts.method == Method::GET || parts.method == Method::HEAD { Access::Read } else { Access::Write };
        auth.tenant(token, access).await.map(Tenant)
    }
}
