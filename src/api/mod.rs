//! The REST API (`[api] enabled`), on the same HTTP listener as `/metrics` and `/healthz`:
//! alarm-manager rules ([`rules`]), notification methods ([`methods`]) and alarm definitions
//! with their actions ([`definitions`]), shaped as monasca-api's `/v2.0` resources.
//!
//! Every request names its tenant through `X-Auth-Token` ([`auth`]); every query is scoped to
//! that tenant, so a tenant can neither see nor change nor be affected by another's resources.
//! Every bad request is a 4xx whose description says what to fix ([`error`]), and nothing is
//! written before the whole request was validated. It must not apply rules: the engines read
//! what it writes (rule changes reach them through the store's revision).

pub mod auth;
mod body;
mod config;
mod definitions;
pub mod error;
pub mod keystone;
pub mod limits;
mod explain;
mod history;
mod methods;
mod rules;

use crate::db::definitions::DefinitionStore;
use crate::db::methods::MethodStore;
use crate::db::Database;
use crate::netguard::Guard;
use crate::plugins::Registry;
use crate::engines::manager::persist::StateStore;
use crate::history::store::HistoryStore;
use crate::rules::live::LiveRules;
use crate::rules::store::RuleStore;
use auth::Authenticator;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::Router;
use error::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub use config::{ApiConfig, ApiLimits, KeystoneAuthConfig, MIN_TOKEN_LENGTH};
pub use rules::parse_start_time;

#[derive(Clone)]
pub struct ApiState {
    pub store: RuleStore,
    pub methods: MethodStore,
    pub definitions: DefinitionStore,
    pub db: Database,
    pub auth: Arc<dyn Authenticator>,
    /// `[api] valid_notification_periods`.
    pub valid_periods: Vec<i64>,
    /// The enabled plugins, which validate method addresses (and refuse the ones their
    /// operator's credentials may not go to).
    pub plugins: Registry,
    /// The network guard the plugins send through, applied before an address is stored.
    pub guard: Guard,
    pub limits: ApiLimits,
    pub writes: Arc<limits::WriteLimiter>,
    /// The notification history and the known alarms (`[history]`).
    pub history: HistoryStore,
    /// The alarm manager's persisted state, for its open groups.
    pub manager_state: StateStore,
    /// The rules in force, as the engines apply them.
    pub rules: LiveRules,
}

/// Request bodies are small JSON documents.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: ApiState) -> Router {
    let in_progress = Arc::new(tokio::sync::Semaphore::new(state.limits.max_concurrent_requests));
    Router::new()
        .merge(rules::routes())
        .merge(methods::routes())
        .merge(definitions::routes())
        .merge(history::routes())
        .merge(explain::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unsupported_method)
        .layer(axum::middleware::from_fn_with_state(in_progress, limits::bounded))
        .with_state(state)
}

/// A quota check before something new is stored: `count` is what the tenant owns now.
fn within_quota(what: &str, count: usize, max: usize, option: &str) -> ApiResult<()> {
    if count >= max {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("This tenant already has {count} {what}, the most allowed ([api] {option} = {max}); delete some first."),
        ));
    }
    Ok(())
}

/// A wrong path or method gets the same `{"title", "description"}` answer as every other error.
async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "No resource at {}; the API's resources are /v2.0/group-rules, /v2.0/silence-rules, /v2.0/inhibit-rules, \
             /v2.0/notification-methods, /v2.0/alarm-definitions, /v2.0/notifications, /v2.0/alarm-groups, /v2.0/muted \
             and /v2.0/rules/test.",
            uri.path()
        ),
    )
}

async fn unsupported_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not supported on {}.", uri.path()))
}

/// `?name=&offset=&limit=` of list requests, as text so a bad number gets a clear 422.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    name: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

const MAX_LIMIT: usize = 10_000;

fn page(query: &Page) -> ApiResult<(usize, usize)> {
    let number = |field: &str, value: &Option<String>, default: usize| -> ApiResult<usize> {
        match value {
            None => Ok(default),
            Some(text) => text.parse::<usize>().map_err(|_| ApiError::unprocessable(format!("{field} must be a whole number, not {text:?}."))),
        }
    };
    let offset = number("offset", &query.offset, 0)?;
    let limit = number("limit", &query.limit, MAX_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::unprocessable(format!("limit must be between 1 and {MAX_LIMIT}.")));
    }
    Ok((offset, limit))
}

/// `[{"rel": "self", "href": …}]`, absolute from the request's Host.
fn links(headers: &HeaderMap, path: &str) -> Value {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    json!([{ "rel": "self", "href": format!("http://{host}{path}") }])
}

/// A random (version 4) UUID, as monasca-api makes ids.
pub fn new_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
