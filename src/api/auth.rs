//! Who is calling: `X-Auth-Token` mapped to a tenant by an [`Authenticator`]. The one shipped
//! maps configured tokens (`[api] tokens = token:tenant, …`); Keystone validation can be added
//! behind the same trait. It must not authorise anything beyond naming the tenant: every query
//! of the API is then scoped to it.

use super::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

pub trait Authenticator: Send + Sync {
    /// The tenant a token belongs to; `None` for an unknown token.
    fn tenant(&self, token: &str) -> Option<String>;
}

/// Tokens from the configuration.
pub struct ConfiguredTokens(pub HashMap<String, String>);

impl Authenticator for ConfiguredTokens {
    fn tenant(&self, token: &str) -> Option<String> {
        self.0.get(token).cloned()
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
        auth.tenant(token)
            .map(Tenant)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "The X-Auth-Token is not valid."))
    }
}
