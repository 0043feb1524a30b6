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
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::Row;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.0/notification-methods", get(list).post(create))
        .route("/v2.0/notification-methods/{id}", get(read).put(put).patch(patch).delete(remove))
}

#[derive(Clone, Debug)]
struct Method {
    id: String,
    name: String,
    kind: String,
    address: String,
    period: i64,
}

fn method_json(m: &Method, headers: &HeaderMap) -> Value {
    json!({
        "id": m.id, "links": links(headers, &format!("/v2.0/notification-methods/{}", m.id)),
        "name": m.name, "type": m.kind, "address": m.address, "period": m.period,
    })
}

const COLUMNS: &str = "SELECT id, name, type, address, period FROM notification_method";

async fn fetch(state: &ApiState, tenant: &str, id: &str) -> ApiResult<Method> {
    let sql = state.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND id = ?"));
    let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(state.db.pool()).await?.ok_or_else(|| ApiError::not_found("notification method", id))?;
    from_row(&row)
}

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<Method> {
    Ok(Method {
        id: row.try_get(0)?,
        name: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        kind: row.try_get(2)?,
        address: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
        period: row.try_get::<i32, _>(4).map(i64::from).or_else(|_| row.try_get::<i64, _>(4))?,
    })
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
    let sql = state.db.sql("SELECT id FROM notification_method WHERE tenant_id = ? AND name = ? AND id <> ?");
    if sqlx::query(&sql).bind(tenant).bind(&method.name).bind(&method.id).fetch_optional(state.db.pool()).await?.is_some() {
        return Err(ApiError::conflict(format!("A notification method with the name {} already exists", method.name)));
    }
    Ok(())
}

async fn create(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Body::parse(&body)?;
    let count = sqlx::query(&state.db.sql("SELECT COUNT(*) FROM notification_method WHERE tenant_id = ?")).bind(&tenant).fetch_one(state.db.pool()).await?;
    super::within_quota("notification methods", count.try_get::<i64, _>(0)? as usize, state.limits.max_methods_per_tenant, "max_methods_per_tenant")?;
    let method = from_body(&state, &super::new_id(), &body, None, false).await?;
    name_taken(&state, &tenant, &method).await?;
    let sql = state.db.sql(&format!(
        "INSERT INTO notification_method (id, tenant_id, name, type, address, period, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        method.period
    ));
    sqlx::query(&sql).bind(&method.id).bind(&tenant).bind(&method.name).bind(&method.kind).bind(&method.address).execute(state.db.pool()).await?;
    Ok((StatusCode::CREATED, Json(method_json(&method, &headers))))
}

async fn list(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<Page>) -> ApiResult<Json<Value>> {
    let (offset, limit) = page(&query)?;
    // The name filter is part of the query, so LIMIT and OFFSET count matching methods.
    let named = if query.name.is_some() { " AND name = ?" } else { "" };
    let sql = state.db.sql(&format!("{COLUMNS} WHERE tenant_id = ?{named} ORDER BY name, id LIMIT {limit} OFFSET {offset}"));
    let mut select = sqlx::query(&sql).bind(&tenant);
    if let Some(name) = &query.name {
        select = select.bind(name);
    }
    let rows = select.fetch_all(state.db.pool()).await?;
    let elements = rows.iter().map(|row| Ok(method_json(&from_row(row)?, &headers))).collect::<ApiResult<Vec<_>>>()?;
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
    let sql = state.db.sql(&format!(
        "UPDATE notification_method SET name = ?, type = ?, address = ?, period = {}, updated_at = CURRENT_TIMESTAMP WHERE tenant_id = ? AND id = ?",
        method.period
    ));
    sqlx::query(&sql).bind(&method.name).bind(&method.kind).bind(&method.address).bind(tenant).bind(id).execute(state.db.pool()).await?;
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
    for statement in [
        "DELETE FROM alarm_action WHERE action_id = ?",
        "DELETE FROM group_rule_action WHERE action_id = ?",
        "DELETE FROM notification_method WHERE id = ?",
    ] {
        sqlx::query(&state.db.sql(statement)).bind(&id).execute(&mut *tx).await?;
    }
    // The tenant's group rules may have lost an action.
    state.store.bump(&mut tx, &tenant).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
