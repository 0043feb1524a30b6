//! `/v2.0/notification-methods`: monasca-api's resource with its shapes, validation order and
//! messages: schema, then period (0 or one of `[api] valid_notification_periods`), then the type
//! (a row of `notification_method_type`, so an enabled plugin), then the address of EMAIL and
//! WEBHOOK methods. Validation errors are 400, a duplicate name 409. Deleting a method detaches
//! it from definitions and group rules.
//!
//! Beyond monasca-api, every address also goes through its plugin's own check (a Slack, Jira,
//! HipChat or PagerDuty address too, and hosts the operator's credentials may not go to) and
//! through the network guard (no address that resolves to loopback, link-local, this machine or
//! Tocsin itself), so nothing a send would refuse is stored. A tenant owns at most
//! `[api] max_methods_per_tenant` methods.

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::{links, page, ApiState, Page};
use crate::api::auth::Tenant;
use crate::db::StoredMethod;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.0/notification-methods", get(list).post(create))
        .route("/v2.0/notification-methods/{id}", get(read).put(put).patch(patch).delete(remove))
        .route("/v2.0/notification-methods/{id}/test", axum::routing::post(send_test))
}

type Method = StoredMethod;

fn method_json(m: &Method, headers: &HeaderMap) -> Value {
    json!({
        "id": m.id, "links": links(headers, &format!("/v2.0/notification-methods/{}", m.id)),
        "name": m.name, "type": m.kind, "address": m.address, "period": m.period,
    })
}

async fn fetch(state: &ApiState, tenant: &str, id: &str) -> ApiResult<Method> {
    state.methods.get(tenant, id).await?.ok_or_else(|| ApiError::not_found("notification method", id))
}

/// The period as monasca-api accepts it: an integer or a string of one.
fn period(body: &Body) -> ApiResult<Option<i64>> {
    match body.get("period") {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ApiError::bad_request(format!("Period {n} must be a valid integer"))),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| ApiError::bad_request(format!("Period {s} must be a valid integer"))),
        Some(other) => Err(ApiError::bad_request(format!("Period {other} must be a valid integer"))),
    }
}

fn schema_string(body: &Body, field: &str, max: usize) -> ApiResult<Option<String>> {
    body.string(field, max).map_err(|e| ApiError::bad_request(e.description))
}

/// Validates a complete method in monasca-api's order.
async fn validate(state: &ApiState, method: &Method) -> ApiResult<()> {
    if method.period != 0 && !state.valid_periods.contains(&method.period) {
        let list: Vec<String> = state.valid_periods.iter().map(i64::to_string).collect();
        return Err(ApiError::bad_request(format!("{} is not in the configured list of valid periods: [{}]", method.period, list.join(", "))));
    }
    let types = state.db.notification_types().await?;
    if !types.contains(&method.kind) {
        return Err(ApiError::bad_request(format!("Not a valid notification method type {}", method.kind)));
    }
    monasca_address_checks(method)?;
    if let Some(plugin) = state.plugins.get(&method.kind.to_ascii_lowercase()) {
        plugin.validate_address(&method.address).map_err(|why| ApiError::bad_request(format!("Address is not usable: {why}")))?;
    }
    if matches!(method.kind.as_str(), "WEBHOOK" | "SLACK" | "HIPCHAT" | "JIRA") {
        if let Ok(url) = url::Url::parse(&method.address.replace('#', "%23")) {
            state.guard.check_url(&url).await.map_err(|refused| ApiError::bad_request(format!("Address is not allowed: {refused}")))?;
        }
    }
    Ok(())
}

/// monasca-api's own checks of EMAIL and WEBHOOK addresses, with its messages.
fn monasca_address_checks(method: &Method) -> ApiResult<()> {
    match method.kind.as_str() {
        "EMAIL" => {
            let (local, domain) = method.address.split_once('@').unwrap_or(("", ""));
            if local.is_empty() || domain.is_empty() {
                return Err(ApiError::bad_request(format!("Address {} is not of correct format", method.address)));
            }
        }
        "WEBHOOK" => match url::Url::parse(&method.address) {
            Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
                return Err(ApiError::bad_request(format!("Address {} scheme is not in ['http', 'https']", method.address)));
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                return Err(ApiError::bad_request(format!("Address {} does not have network location", method.address)));
            }
            Ok(_) => {}
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err(ApiError::bad_request(format!("Address {} does not have URL scheme", method.address)));
            }
            Err(url::ParseError::EmptyHost) => {
                return Err(ApiError::bad_request(format!("Address {} does not have network location", method.address)));
            }
            Err(e) => return Err(ApiError::bad_request(format!("Address {} is not a valid URL: {e}", method.address))),
        },
        _ => {}
    }
    Ok(())
}

/// A method from a body; `stored` fills what PATCH leaves out, `require_period` is PUT's rule.
async fn from_body(state: &ApiState, id: &str, body: &Body, stored: Option<&Method>, require_period: bool) -> ApiResult<Method> {
    body.only(&["name", "type", "address", "period"]).map_err(|e| ApiError::bad_request(e.description))?;
    let field = |name: &str, max: usize, current: Option<&String>| -> ApiResult<String> {
        match schema_string(body, name, max)? {
            Some(value) => Ok(value),
            None => current.cloned().ok_or_else(|| ApiError::bad_request(format!("{name} is required"))),
        }
    };
    let name = field("name", 250, stored.map(|m| &m.name))?;
    let kind = field("type", 20, stored.map(|m| &m.kind))?.to_ascii_uppercase();
    let address = field("address", 512, stored.map(|m| &m.address))?;
    let period = match period(body)? {
        Some(p) => p,
        None if require_period => return Err(ApiError::bad_request("Period is required")),
        None => stored.map_or(0, |m| m.period),
    };
    let method = Method { id: id.to_owned(), name, kind, address, period };
    validate(state, &method).await?;
    Ok(method)
}

async fn name_taken(state: &ApiState, tenant: &str, method: &Method) -> ApiResult<()> {
    if state.methods.name_taken(tenant, &method.name, &method.id).await? {
        return Err(ApiError::conflict(format!("A notification method with the name {} already exists", method.name)));
    }
    Ok(())
}

async fn create(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Body::parse(&body)?;
    super::within_quota("notification methods", state.methods.count(&tenant).await?, state.limits.max_methods_per_tenant, "max_methods_per_tenant")?;
    let method = from_body(&state, &super::new_id(), &body, None, false).await?;
    name_taken(&state, &tenant, &method).await?;
    state.methods.insert(&tenant, &method).await?;
    Ok((StatusCode::CREATED, Json(method_json(&method, &headers))))
}

async fn list(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<Page>) -> ApiResult<Json<Value>> {
    let (offset, limit) = page(&query)?;
    let methods = state.methods.list(&tenant, query.name.as_deref(), offset, limit).await?;
    let elements: Vec<Value> = methods.iter().map(|m| method_json(m, &headers)).collect();
    Ok(Json(json!({ "links": links(&headers, "/v2.0/notification-methods"), "elements": elements })))
}

async fn read(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(method_json(&fetch(&state, &tenant, &id).await?, &headers)))
}

async fn update(state: &ApiState, tenant: &str, id: &str, body: Bytes, require_all: bool, headers: &HeaderMap) -> ApiResult<Json<Value>> {
    let body = Body::parse(&body)?;
    let stored = fetch(state, tenant, id).await?;
    let method = from_body(state, id, &body, (!require_all).then_some(&stored), require_all).await?;
    name_taken(state, tenant, &method).await?;
    state.methods.update(tenant, &method).await?;
    Ok(Json(method_json(&method, headers)))
}

async fn put(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    update(&state, &tenant, &id, body, true, &headers).await
}

async fn patch(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    update(&state, &tenant, &id, body, false, &headers).await
}

async fn remove(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>) -> ApiResult<StatusCode> {
    fetch(&state, &tenant, &id).await?;
    let mut tx = state.db.begin_write().await?;
    state.methods.delete(&mut tx, &tenant, &id).await?;
    state.store.forget_method(&mut tx, &tenant, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a sample ALARM notification through one of the tenant's methods, as `tocsin
/// send-test` does, and says what the remote end answered. Counts as a write (the tenant's
/// write budget bounds how often it makes Tocsin send).
async fn send_test(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let stored = fetch(&state, &tenant, &id).await?;
    let kind = stored.kind.to_ascii_lowercase();
    let plugin = state.plugins.get(&kind).ok_or_else(|| ApiError::unprocessable(format!("Notification type {} is not enabled on this server.", stored.kind)))?;
    let alarm = crate::ingest::SampleAlarm::new("tocsin-send-test", "ALARM", "tocsin-send-test", "tocsin send-test", &tenant)
        .transition()
        .map_err(|r| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, r.reason))?;
    let method = crate::model::NotificationMethod { id: stored.id, kind, name: Some(stored.name), address: Some(stored.address), period: stored.period };
    let notification = crate::model::Notification::new(method, std::sync::Arc::new(alarm));
    let timeout = plugin.timeout();
    Ok(Json(match tokio::time::timeout(timeout, plugin.send(&notification)).await {
        Ok(Ok(receipt)) => json!({"outcome": "sent", "answer": receipt.answer}),
        Ok(Err(error)) => json!({"outcome": "failed", "reason": error.to_string(), "retryable": error.retryable}),
        Err(_) => json!({"outcome": "failed", "reason": format!("timeout: no answer within {timeout:?}"), "retryable": true}),
    }))
}
