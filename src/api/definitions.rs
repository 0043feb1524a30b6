//! `/v2.0/alarm-definitions`: enough of monasca-api's resource to use Tocsin without it:
//! create a definition (its threshold expression is stored as text; Tocsin evaluates no
//! thresholds), read it, and read or replace which notification methods its ALARM, OK and
//! UNDETERMINED transitions go to (`/{id}/actions`, the `alarm_action` rows the notification
//! engine looks up). Tenant-scoped like every resource.

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::rules::check_actions;
use super::{links, page, ApiState, Page};
use crate::api::auth::Tenant;
use crate::db::StoredDefinition;
use crate::model::AlarmState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.0/alarm-definitions", get(list).post(create))
        .route("/v2.0/alarm-definitions/{id}", get(read))
        .route("/v2.0/alarm-definitions/{id}/actions", get(read_actions).put(replace_actions))
}

const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const ACTION_FIELDS: [(&str, AlarmState); 3] = [("alarm_actions", AlarmState::Alarm), ("ok_actions", AlarmState::Ok), ("undetermined_actions", AlarmState::Undetermined)];

type Definition = StoredDefinition;

/// The three action lists of one definition, from the store's rows.
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

/// One definition's actions as the API shows them.
async fn actions_of(state: &ApiState, id: &str) -> ApiResult<serde_json::Map<String, Value>> {
    let actions = state.definitions.actions(&[id]).await?;
    Ok(actions_json(actions.get(id).map_or(&[][..], Vec::as_slice)))
}

/// One definition as the API shows it, its actions read.
async fn one_definition_json(state: &ApiState, d: &Definition, headers: &HeaderMap) -> ApiResult<Value> {
    let mut out = definition_json(d, &[], headers);
    if let Value::Object(out) = &mut out {
        out.extend(actions_of(state, &d.id).await?);
    }
    Ok(out)
}

async fn fetch(state: &ApiState, tenant: &str, id: &str) -> ApiResult<Definition> {
    state.definitions.get(tenant, id).await?.ok_or_else(|| ApiError::not_found("alarm definition", id))
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

async fn create(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Body::parse(&body)?;
    super::within_quota("alarm definitions", state.definitions.count(&tenant).await?, state.limits.max_definitions_per_tenant, "max_definitions_per_tenant")?;
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
    if state.definitions.name_taken(&tenant, &definition.name).await? {
        return Err(ApiError::conflict(format!("An alarm definition with the name {} already exists", definition.name)));
    }
    state.definitions.insert(&tenant, &definition, &lists).await?;
    Ok((StatusCode::CREATED, Json(one_definition_json(&state, &definition, &headers).await?)))
}

async fn list(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<Page>) -> ApiResult<Json<Value>> {
    let (offset, limit) = page(&query)?;
    let definitions = state.definitions.list(&tenant, query.name.as_deref(), offset, limit).await?;
    let actions = state.definitions.actions(&definitions.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()).await?;
    let elements: Vec<Value> = definitions.iter().map(|d| definition_json(d, actions.get(&d.id).map_or(&[][..], Vec::as_slice), &headers)).collect();
    Ok(Json(json!({ "links": links(&headers, "/v2.0/alarm-definitions"), "elements": elements })))
}

async fn read(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let definition = fetch(&state, &tenant, &id).await?;
    Ok(Json(one_definition_json(&state, &definition, &headers).await?))
}

async fn read_actions(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    fetch(&state, &tenant, &id).await?;
    Ok(Json(Value::Object(actions_of(&state, &id).await?)))
}

/// Replaces all three lists (a list left out becomes empty).
async fn replace_actions(State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = Body::parse(&body)?;
    body.only(&["alarm_actions", "ok_actions", "undetermined_actions"])?;
    fetch(&state, &tenant, &id).await?;
    let lists = action_lists(&state, &tenant, &body).await?;
    state.definitions.replace_actions(&id, &lists).await?;
    Ok(Json(Value::Object(actions_of(&state, &id).await?)))
}
