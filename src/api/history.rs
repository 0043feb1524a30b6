//! What happened and what is pending, per tenant: `GET /v2.0/notifications` (the history,
//! filtered, newest first), `GET /v2.0/notifications/summary` (counts by outcome),
//! `GET /v2.0/muted` (alarms whose newest transition a rule muted) and `GET /v2.0/alarm-groups`
//! (open groups as the alarm manager last persisted them). Read only.

use super::auth::Tenant;
use super::error::{ApiError, ApiResult};
use super::{parse_start_time, ApiState};
use crate::engines::manager::state::group_notification_name;
use crate::history::store::{Filter, KnownAlarm, StoredEntry};
use crate::history::Outcome;
use crate::model::AlarmState;
use crate::rules::matching::silence_active;
use crate::rules::Rule;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.0/notifications", get(list))
        .route("/v2.0/notifications/summary", get(summary))
        .route("/v2.0/muted", get(muted))
        .route("/v2.0/alarm-groups", get(groups))
}

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// Known alarms a muted list or a silence preview looks at, most recently seen first.
pub const KNOWN_ALARMS_LOOKED_AT: u64 = 10_000;
/// Members shown per group.
const MEMBERS_SHOWN: usize = 100;

/// Every filter as text, so a bad value gets a 422 that names it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    alarm_id: Option<String>,
    definition_id: Option<String>,
    method_id: Option<String>,
    state: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

pub fn rfc3339(ms: i64) -> Value {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

fn time_filter(field: &str, value: &Option<String>) -> ApiResult<Option<i64>> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| parse_start_time(v).map(|t| t.timestamp_millis()).map_err(|e| ApiError::unprocessable(format!("{field}: {}", e.description))))
        .transpose()
}

fn whole(field: &str, value: &Option<String>, default: u64) -> ApiResult<u64> {
    match value.as_deref() {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| ApiError::unprocessable(format!("{field} must be a whole number, not {text:?}."))),
    }
}

fn filter(query: &HistoryQuery) -> ApiResult<Filter> {
    let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let state = match nonempty(&query.state) {
        None => None,
        Some(s) => Some(
            AlarmState::parse(&s.to_ascii_uppercase())
                .ok_or_else(|| ApiError::unprocessable(format!("state must be ALARM, OK or UNDETERMINED, not {s:?}.")))?
                .as_str()
                .to_owned(),
        ),
    };
    let outcome = match nonempty(&query.outcome) {
        None => None,
        Some(o) => Some(Outcome::parse(&o).ok_or_else(|| {
            let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
            ApiError::unprocessable(format!("outcome must be one of {}, not {o:?}.", known.join(", ")))
        })?),
    };
    Ok(Filter {
        alarm_id: nonempty(&query.alarm_id),
        definition_id: nonempty(&query.definition_id),
        method_id: nonempty(&query.method_id),
        state,
        outcome,
        since_ms: time_filter("since", &query.since)?,
        until_ms: time_filter("until", &query.until)?,
    })
}

async fn list(State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(format!("{}; the filters are alarm_id, definition_id, method_id, state, outcome, since, until, offset and limit.", e.body_text())))?;
    let filter = filter(&query)?;
    let offset = whole("offset", &query.offset, 0)?;
    let limit = whole("limit", &query.limit, DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::unprocessable(format!("limit must be between 1 and {MAX_LIMIT}.")));
    }
    // The databases take a signed 64-bit offset.
    if offset > i64::MAX as u64 {
        return Err(ApiError::unprocessable(format!("offset must be at most {}.", i64::MAX)));
    }
    let rows = state.history.list(&tenant, &filter, offset, limit).await?;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let href = |offset: u64| {
        let mut params: Vec<(&str, String)> = [
            ("alarm_id", &query.alarm_id),
            ("definition_id", &query.definition_id),
            ("method_id", &query.method_id),
            ("state", &query.state),
            ("outcome", &query.outcome),
            ("since", &query.since),
            ("until", &query.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        params.push(("offset", offset.to_string()));
        params.push(("limit", limit.to_string()));
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        format!("http://{host}/v2.0/notifications?{query}")
    };
    let mut links = vec![json!({"rel": "self", "href": href(offset)})];
    if rows.len() as u64 == limit {
        links.push(json!({"rel": "next", "href": href(offset + limit)}));
    }
    let rules = state.rules.current();
    let elements: Vec<Value> = rows
        .iter()
        .map(|row| {
            // The rule's current name, if it still exists and is the tenant's.
            let rule = row.entry.rule_id.as_deref().and_then(|id| rules.get(id)).filter(|r| r.meta().tenant_id == tenant);
            entry_json(row, rule.map(|r| r.meta().name.as_str()))
        })
        .collect();
    Ok(Json(json!({ "links": links, "elements": elements })))
}

fn entry_json(row: &StoredEntry, rule_name: Option<&str>) -> Value {
    let e = &row.entry;
    json!({
        "id": row.id,
        "time": rfc3339(e.time_ms),
        "outcome": e.outcome.as_str(),
        "tenant_id": e.tenant_id,
        "alarm_id": e.alarm_id,
        "alarm_name": e.alarm_name,
        "alarm_definition_id": e.alarm_definition_id,
        "state": e.state,
        "alarm_timestamp": rfc3339(e.alarm_timestamp_ms),
        "method": e.method.as_ref().map(|m| json!({"id": m.id, "name": m.name, "type": m.kind.to_ascii_uppercase(), "address": m.address})),
        "attempt": e.attempt,
        "reason": e.reason,
        "rule_id": e.rule_id,
        "rule_name": rule_name,
        "source_alarm_id": e.source_alarm_id,
        "notice": e.notice,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    since: Option<String>,
}

async fn summary(State(state): State<ApiState>, Tenant(tenant): Tenant, query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(format!("{}; the only filter is since.", e.body_text())))?;
    let since_ms = time_filter("since", &query.since)?.unwrap_or_else(|| crate::clock::unix_ms() - 24 * 3600 * 1000);
    let counts = state.history.counts(&tenant, since_ms).await?;
    let mut by_outcome = serde_json::Map::new();
    for outcome in Outcome::ALL {
        let n = counts.iter().find(|(o, _)| *o == outcome).map_or(0, |(_, n)| *n);
        by_outcome.insert(outcome.as_str().into(), json!(n));
    }
    Ok(Json(json!({ "since": rfc3339(since_ms), "counts": by_outcome })))
}

/// Alarms whose newest transition a rule muted, while that rule still holds: a silence that
/// expired or a rule that was deleted mutes nothing any more.
async fn muted(State(state): State<ApiState>, Tenant(tenant): Tenant) -> ApiResult<Json<Value>> {
    let alarms = state.history.known_alarms(&tenant, true, KNOWN_ALARMS_LOOKED_AT).await?;
    let rules = state.rules.current();
    let now = crate::clock::unix_ms();
    let elements: Vec<Value> = alarms
        .iter()
        .filter_map(|alarm| {
            let rule = rules.get(alarm.rule_id.as_deref()?)?;
            let still = match rule {
                Rule::Silence(silence) => silence_active(silence, now),
                Rule::Inhibit(_) => true,
                Rule::Group(_) => false,
            };
            (still && rule.meta().tenant_id == tenant).then(|| muted_json(alarm, rule))
        })
        .collect();
    Ok(Json(json!({ "elements": elements })))
}

fn muted_json(alarm: &KnownAlarm, rule: &Rule) -> Value {
    json!({
        "alarm_id": alarm.alarm_id,
        "alarm_name": alarm.alarm_name,
        "alarm_definition_id": alarm.alarm_definition_id,
        "state": alarm.state,
        "since": rfc3339(alarm.alarm_timestamp_ms),
        "muted_by": if alarm.outcome == Outcome::Silenced { "silence" } else { "inhibit" },
        "rule_id": rule.meta().id,
        "rule_name": rule.meta().name,
        "source_alarm_id": alarm.source_alarm_id,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupsQuery {
    offset: Option<String>,
    limit: Option<String>,
}

/// Open groups, ordered by rule name, values and state.
async fn groups(State(state): State<ApiState>, Tenant(tenant): Tenant, query: Result<Query<GroupsQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::unprocessable(format!("{}; the parameters are offset and limit.", e.body_text())))?;
    let offset = whole("offset", &query.offset, 0)? as usize;
    let limit = whole("limit", &query.limit, DEFAULT_LIMIT)? as usize;
    if limit == 0 || limit as u64 > MAX_LIMIT {
        return Err(ApiError::unprocessable(format!("limit must be between 1 and {MAX_LIMIT}.")));
    }
    let rules = state.rules.current();
    let rule_name = |id: &str| rules.group(id).map(|r| r.meta.name.clone()).unwrap_or_else(|| id.to_owned());
    let mut keys = state.manager_state.tenant_groups(&tenant).await?;
    keys.sort_by_cached_key(|g| (rule_name(&g.key.rule_id), g.key.values.clone(), g.key.state.as_str()));
    let total = keys.len();
    let page: Vec<_> = keys.iter().skip(offset).take(limit).collect();
    let bodies = state.manager_state.group_bodies(&page).await?;
    let elements: Vec<Value> = bodies
        .iter()
        .map(|(key, group)| {
            let rule = rules.group(&key.rule_id);
            let name = rule.map(|r| r.meta.name.clone()).unwrap_or_else(|| key.rule_id.clone());
            let values: serde_json::Map<String, Value> = match rule {
                Some(rule) => rule.spec.group_by.iter().zip(&key.values).map(|(k, v)| (k.canonical().to_owned(), json!(v))).collect(),
                None => key.values.iter().enumerate().map(|(i, v)| (i.to_string(), json!(v))).collect(),
            };
            let first_ms = group.members.values().map(|m| m.timestamp_ms as i64).min();
            json!({
                "rule_id": key.rule_id,
                "rule_name": name,
                "values": values,
                "state": key.state.as_str(),
                "member_count": group.members.len(),
                "members": group.members.values().take(MEMBERS_SHOWN).map(|m| json!({"alarm_id": &*m.alarm_id, "alarm_name": &*m.alarm_name, "state": m.state.as_str(), "severity": &*m.severity})).collect::<Vec<_>>(),
                "opened_at": first_ms.map_or(Value::Null, rfc3339),
                "next_notification_at": rfc3339(group.due_ms),
                "notices_sent": group.sent,
                "notice": group_notification_name(&name, &key.values, key.state, group.members.len()),
            })
        })
        .collect();
    Ok(Json(json!({ "total": total, "elements": elements })))
}
