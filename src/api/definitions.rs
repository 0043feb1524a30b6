//! `/v2.0/alarm-definitions`: enough of monasca-api's resource (§10) to use Tocsin without it:
//! create a definition (its threshold expression is stored as text; Tocsin evaluates no
//! thresholds), read it, and read or replace which notification methods its ALARM, OK and
//! UNDETERMINED transitions go to (`/{id}/actions`, the `alarm_action` rows the notification
//! engine looks up). Tenant-scoped like every resource.

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::rules::check_actions;
use super::{links, page, ApiState, Page};
use crate::api::auth::Tenant;
use crate::model::AlarmState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.0/alarm-definitions", get(list).post(create))
        .route("/v2.0/alarm-definitions/{id}", get(read))
        .route("/v2.0/alarm-definitions/{id}/actions", get(read_actions).put(replace_actions))
}

const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const ACTION_FIELDS: [(&str, AlarmState); 3] = [("alarm_actions", AlarmState::Alarm), ("ok_actions", AlarmState::Ok), ("undetermined_actions", AlarmState::Undetermined)];

struct Definition {
    id: String,
    name: String,
    description: String,
    expression: String,
    severity: String,
    match_by: Vec<String>,
    actions_enabled: bool,
}

/// The action lists of the given definitions, read in one query per thousand definitions (a
/// listed page holds up to 10,000): definition id → (state, method id) in method-id order.
async fn actions_of(state: &ApiState, ids: &[&str]) -> ApiResult<HashMap<String, Vec<(String, String)>>> {
    let mut by_definition: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = state.db.sql(&format!(
            "SELECT alarm_definition_id, alarm_state, action_id FROM alarm_action WHERE alarm_definition_id IN ({marks}) ORDER BY action_id"
        ));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(state.db.pool()).await? {
            by_definition.entry(row.try_get(0)?).or_default().push((row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(by_definition)
}

/// The three action lists of one definition, from [`actions_of`]'s rows.
fn actions_json(rows: &[(String, String)]) -> serde_json::Map<String, Value> {
    ACTION_FIELDS
        .iter()
        .map(|(field, alarm_state)| {
            let ids: Vec<&str> = rows.iter().filter(|(s, _)| s == alarm_state.as_str()).map(|(_, id)| id.as_str()).collect();
            ((*field).to_owned(), json!(ids))
        })
        .collect()
}

fn definition_json(d: &Definition, actions: &[(String, String)], headers: &HeaderMap) -> Value {
    let mut out = json!({
        "id": d.id, "links": links(headers, &format!("/v2.0/alarm-definitions/{}", d.id)), "name": d.name,
        "description": d.description, "expression": d.expression, "severity": d.severity,
        "match_by": d.match_by, "actions_enabled": d.actions_enabled,
    });
    if let Value::Object(out) = &mut out {
        out.extend(actions_json(actions));
    }
    out
}

/// One definition as the API shows it, its actions read.
async fn one_definition_json(state: &ApiState, d: &Definition, headers: &HeaderMap) -> ApiResult<Value> {
    let actions = actions_of(state, &[&d.id]).await?;
    Ok(definition_json(d, actions.get(&d.id).map_or(&[][..], Vec::as_slice), headers))
}

const COLUMNS: &str = "SELECT id, name, description, expression, severity, match_by, CASE WHEN actions_enabled THEN 1 ELSE 0 END FROM alarm_definition";

async fn fetch(state: &ApiState, tenant: &str, id: &str) -> ApiResult<Definition> {
    let sql = state.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL"));
    let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(state.db.pool()).await?.ok_or_else(|| ApiError::not_found("alarm definition", id))?;
    from_row(&row)
}

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<Definition> {
    let enabled = row.try_get::<i64, _>(6).or_else(|_| row.try_get::<i32, _>(6).map(i64::from))?;
    Ok(Definition {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        // LONGTEXT on MySQL, which arrives as a BLOB.
        expression: crate::db::text(row, 3)?,
        severity: row.try_get(4)?,
        match_by: row.try_get::<Option<String>, _>(5)?.unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        actions_enabled: enabled != 0,
    })
}

/// Validated action lists of a body, every list present (missing ones empty).
async fn action_lists(state: &ApiState, tenant: &str, body: &Body) -> ApiResult<Vec<(AlarmState, Vec<String>)>> {
    let mut lists = Vec::new();
    for (field, alarm_state) in ACTION_FIELDS {
        let ids = body.string_list(field)?.unwrap_or_default();
        lists.push((alarm_state, check_actions(state, tenant, alarm_state, field, ids).await?));
    }
    Ok(lists)
}

async fn write_actions(tx: &mut sqlx::Transaction<'static, sqlx::Any>, state: &ApiState, id: &str, lists: &[(AlarmState, Vec<String>)]) -> ApiResult<()> {
    sqlx::query(&state.db.sql("DELETE FROM alarm_action WHERE alarm_definition_id = ?")).bind(id).execute(&mut **tx).await?;
    let insert = state.db.sql("INSERT INTO alarm_action (alarm_definition_id, alarm_state, action_id) VALUES (?, ?, ?)");
    for (alarm_state, ids) in lists {
        for action in ids {
            sqlx::query(&insert).bind(id).bind(alarm_state.as_str()).bind(action).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

async fn create(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Body::parse(&body)?;
    let count = sqlx::query(&state.db.sql("SELECT COUNT(*) FROM alarm_definition WHERE tenant_id = ? AND deleted_at IS NULL"))
        .bind(&tenant)
        .fetch_one(state.db.pool())
        .await?;
    super::within_quota("alarm definitions", count.try_get::<i64, _>(0)? as usize, state.limits.max_definitions_per_tenant, "max_definitions_per_tenant")?;
    body.only(&["name", "expression", "description", "severity", "match_by", "alarm_actions", "ok_actions", "undetermined_actions", "actions_enabled"])?;
    let severity = body.string("severity", 20)?.unwrap_or_else(|| "LOW".into()).to_ascii_uppercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        return Err(ApiError::unprocessable(format!("severity must be one of {}, not {severity:?}.", SEVERITIES.join(", "))));
    }
    let actions_enabled = match body.get("actions_enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(ApiError::unprocessable(format!("actions_enabled must be true or false, not {other}."))),
    };
    let definition = Definition {
        id: super::new_id(),
        name: body.required_string("name", 255)?,
        description: body.string("description", 255)?.unwrap_or_default(),
        expression: body.required_string("expression", 4096)?,
        severity,
        match_by: body.string_list("match_by")?.unwrap_or_default(),
        actions_enabled,
    };
    let lists = action_lists(&state, &tenant, &body).await?;
    let taken = state.db.sql("SELECT id FROM alarm_definition WHERE tenant_id = ? AND name = ? AND deleted_at IS NULL");
    if sqlx::query(&taken).bind(&tenant).bind(&definition.name).fetch_optional(state.db.pool()).await?.is_some() {
        return Err(ApiError::conflict(format!("An alarm definition with the name {} already exists", definition.name)));
    }
    let mut tx = state.db.begin_write().await?;
    let sql = state.db.sql(&format!(
        "INSERT INTO alarm_definition (id, tenant_id, name, description, expression, severity, match_by, actions_enabled, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        if definition.actions_enabled { "TRUE" } else { "FALSE" }
    ));
    sqlx::query(&sql)
        .bind(&definition.id)
        .bind(&tenant)
        .bind(&definition.name)
        .bind(&definition.description)
        .bind(&definition.expression)
        .bind(&definition.severity)
        .bind(definition.match_by.join(","))
        .execute(&mut *tx)
        .await?;
    write_actions(&mut tx, &state, &definition.id, &lists).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(one_definition_json(&state, &definition, &headers).await?)))
}

async fn list(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<Page>) -> ApiResult<Json<Value>> {
    let (offset, limit) = page(&query)?;
    // The name filter is part of the query, so LIMIT and OFFSET count matching definitions.
    let named = if query.name.is_some() { " AND name = ?" } else { "" };
    let sql = state.db.sql(&format!("{COLUMNS} WHERE tenant_id = ? AND deleted_at IS NULL{named} ORDER BY name, id LIMIT {limit} OFFSET {offset}"));
    let mut select = sqlx::query(&sql).bind(&tenant);
    if let Some(name) = &query.name {
        select = select.bind(name);
    }
    let definitions = select.fetch_all(state.db.pool()).await?.iter().map(from_row).collect::<ApiResult<Vec<_>>>()?;
    let actions = actions_of(&state, &definitions.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()).await?;
    let elements: Vec<Value> = definitions.iter().map(|d| definition_json(d, actions.get(&d.id).map_or(&[][..], Vec::as_slice), &headers)).collect();
    Ok(Json(json!({ "links": links(&headers, "/v2.0/alarm-definitions"), "elements": elements })))
}

async fn read(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let definition = fetch(&state, &tenant, &id).await?;
    Ok(Json(one_definition_json(&state, &definition, &headers).await?))
}

async fn read_actions(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    fetch(&state, &tenant, &id).await?;
    let actions = actions_of(&state, &[&id]).await?;
    Ok(Json(Value::Object(actions_json(actions.get(&id).map_or(&[][..], Vec::as_slice)))))
}

/// Replaces all three lists (a list left out becomes empty).
async fn replace_actions(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = Body::parse(&body)?;
    body.only(&["alarm_actions", "ok_actions", "undetermined_actions"])?;
    fetch(&state, &tenant, &id).await?;
    let lists = action_lists(&state, &tenant, &body).await?;
    let mut tx = state.db.begin_write().await?;
    write_actions(&mut tx, &state, &id, &lists).await?;
    tx.commit().await?;
    let actions = actions_of(&state, &[&id]).await?;
    Ok(Json(Value::Object(actions_json(actions.get(&id).map_or(&[][..], Vec::as_slice)))))
}
