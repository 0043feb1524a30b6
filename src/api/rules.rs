//! `/v2.0/group-rules`, `/v2.0/inhibit-rules`, `/v2.0/silence-rules`: create (201), list and
//! read (200), replace (PUT, every field), patch (PATCH, given fields), delete (204), for the
//! calling tenant only (another tenant's rule is a 404). A body gives its selectors either as an
//! AQL `expression` or in the blueprint's JSON shape (`matchers`/`exclusions`, inhibit
//! `source_match`/`target_match`/`equal`); both become one parsed rule and responses show both.
//! The expression of a stored rule cannot change (422): a different rule is a new rule.
//!
//! Everything is validated before anything is written (`docs/rules.md`, Fields).

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::{links, page, ApiState, Page};
use crate::api::auth::Tenant;
use crate::model::AlarmState;
use crate::rules::store::{Error as StoreError, Kind};
use crate::rules::{aql, duration, GroupRule, GroupSpec, InhibitRule, InhibitSpec, Key, Rule, RuleMeta, Selector, SilenceRule, SilenceSpec};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub fn routes() -> Router<ApiState> {
    let mut router = Router::new();
    for kind in [Kind::Group, Kind::Inhibit, Kind::Silence] {
        router = router
            .route(
                &format!("/v2.0/{}", path(kind)),
                get(move |s: State<ApiState>, t: Tenant, h: HeaderMap, q: Query<Page>| list(kind, s, t, h, q))
                    .post(move |s: State<ApiState>, t: Tenant, h: HeaderMap, q: Query<CreateQuery>, b: Bytes| create(kind, s, t, h, q, b)),
            )
            .route(
                &format!("/v2.0/{}/{{id}}", path(kind)),
                get(move |s: State<ApiState>, t: Tenant, h: HeaderMap, id: Path<String>| read(kind, s, t, h, id))
                    .put(move |s: State<ApiState>, t: Tenant, h: HeaderMap, id: Path<String>, b: Bytes| replace(kind, s, t, h, id, b, Mode::Put))
                    .patch(move |s: State<ApiState>, t: Tenant, h: HeaderMap, id: Path<String>, b: Bytes| replace(kind, s, t, h, id, b, Mode::Patch))
                    .delete(move |s: State<ApiState>, t: Tenant, id: Path<String>| remove(kind, s, t, id)),
            );
    }
    router
}

fn path(kind: Kind) -> &'static str {
    match kind {
        Kind::Group => "group-rules",
        Kind::Inhibit => "inhibit-rules",
        Kind::Silence => "silence-rules",
    }
}

fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Group => "group rule",
        Kind::Inhibit => "inhibit rule",
        Kind::Silence => "silence rule",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Post,
    Put,
    Patch,
}

fn store_error(kind: Kind, id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(noun(kind), id),
        StoreError::Conflict(name) => ApiError::conflict(format!("A {} with the name {name} already exists.", noun(kind))),
        StoreError::Unreadable { .. } => {
            tracing::error!(error = %e, "stored rule unreadable");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("The stored {} {id} cannot be read; see the server log.", noun(kind)))
        }
        StoreError::Db(e) => ApiError::from(e),
    }
}

/// `?dry_run=true` on a silence: validate and preview, store nothing.
#[derive(Debug, Default, Deserialize)]
pub struct CreateQuery {
    dry_run: Option<String>,
}

async fn create(kind: Kind, State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<CreateQuery>, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Body::parse(&body)?;
    let dry_run = match query.dry_run.as_deref() {
        None | Some("false") => false,
        Some("true") if kind == Kind::Silence => true,
        Some("true") => return Err(ApiError::unprocessable("dry_run is supported for silence rules only.")),
        Some(other) => return Err(ApiError::unprocessable(format!("dry_run must be true or false, not {other:?}."))),
    };
    if !dry_run {
        let count = state.store.count(&tenant).await?;
        super::within_quota("rules", count, state.limits.max_rules_per_tenant, "max_rules_per_tenant")?;
    }
    let rule = rule_from_body(&state, kind, &tenant, &super::new_id(), &body, None, Mode::Post).await?;
    if let (true, Rule::Silence(silence)) = (dry_run, &rule) {
        let would_mute = super::explain::would_mute(&state, &tenant, silence).await?;
        return Ok((StatusCode::OK, Json(json!({ "dry_run": true, "rule": rule_json(&rule, &headers), "would_mute": would_mute }))));
    }
    state.store.insert(&rule).await.map_err(|e| store_error(kind, &rule.meta().id, e))?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule, &headers))))
}

async fn list(kind: Kind, State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Query(query): Query<Page>) -> ApiResult<Json<Value>> {
    let (offset, limit) = page(&query)?;
    let rules = state.store.list(kind, &tenant, query.name.as_deref(), offset, limit).await.map_err(|e| store_error(kind, "", e))?;
    let elements: Vec<Value> = rules.iter().map(|r| rule_json(r, &headers)).collect();
    Ok(Json(json!({ "links": links(&headers, &format!("/v2.0/{}", path(kind))), "elements": elements })))
}

async fn read(kind: Kind, State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let rule = state.store.get(kind, &tenant, &id).await.map_err(|e| store_error(kind, &id, e))?;
    Ok(Json(rule_json(&rule, &headers)))
}

async fn replace(kind: Kind, State(state): State<ApiState>, Tenant(tenant): Tenant, headers: HeaderMap, Path(id): Path<String>, body: Bytes, mode: Mode) -> ApiResult<Json<Value>> {
    let body = Body::parse(&body)?;
    let stored = state.store.get(kind, &tenant, &id).await.map_err(|e| store_error(kind, &id, e))?;
    let rule = rule_from_body(&state, kind, &tenant, &id, &body, Some(&stored), mode).await?;
    state.store.update(&rule).await.map_err(|e| store_error(kind, &id, e))?;
    Ok(Json(rule_json(&rule, &headers)))
}

async fn remove(kind: Kind, State(state): State<ApiState>, Tenant(tenant): Tenant, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.store.delete(kind, &tenant, &id).await.map_err(|e| store_error(kind, &id, e))?;
    Ok(StatusCode::NO_CONTENT)
}

const COMMON: [&str; 3] = ["name", "description", "expression"];

fn fields(kind: Kind) -> Vec<&'static str> {
    let own: &[&str] = match kind {
        Kind::Group => &["matchers", "exclusions", "group_wait", "repeat_interval", "alarm_actions", "ok_actions", "undetermined_actions"],
        Kind::Inhibit => &["source_match", "target_match", "equal", "exclusions", "wait_time"],
        Kind::Silence => &["matchers", "start_time", "silence_duration", "duration"],
    };
    COMMON.iter().chain(own).copied().collect()
}

/// The fields that give the selectors in the blueprint's JSON shape.
fn json_form(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Group => &["matchers", "exclusions"],
        Kind::Inhibit => &["source_match", "target_match", "equal", "exclusions"],
        Kind::Silence => &["matchers"],
    }
}

/// The fields PUT must give (it replaces the whole rule), besides the selectors.
fn required_on_put(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Group => &["name", "group_wait", "repeat_interval", "alarm_actions", "ok_actions", "undetermined_actions"],
        Kind::Inhibit => &["name", "wait_time"],
        Kind::Silence => &["name", "start_time", "silence_duration"],
    }
}

/// Builds the rule a request describes, on top of the stored one for PUT/PATCH, validating every
/// field (422 naming it) and the action ids (which must be the tenant's own methods).
async fn rule_from_body(state: &ApiState, kind: Kind, tenant: &str, id: &str, body: &Body, stored: Option<&Rule>, mode: Mode) -> ApiResult<Rule> {
    body.only(&fields(kind))?;
    if mode == Mode::Put {
        for field in required_on_put(kind) {
            let alias = *field == "silence_duration" && body.has("duration");
            if !body.has(field) && !alias {
                return Err(ApiError::unprocessable(format!("{field} is required: PUT replaces the whole {}.", noun(kind))));
            }
        }
    }
    let name = match body.string("name", 255)? {
        Some(name) if name.trim().is_empty() => return Err(ApiError::unprocessable("name must not be empty.")),
        Some(name) => name,
        None => match stored {
            Some(rule) => rule.meta().name.clone(),
            None => return Err(ApiError::unprocessable("name is required.")),
        },
    };
    let description = match body.string("description", 255)? {
        Some(d) => d,
        None if mode == Mode::Patch => stored.map(|r| r.meta().description.clone()).unwrap_or_default(),
        None => String::new(),
    };
    let meta = RuleMeta { id: id.to_owned(), tenant_id: tenant.to_owned(), name, description };
    let selectors_given = body.has("expression") || json_form(kind).iter().any(|f| body.has(f));
    if !selectors_given && (mode == Mode::Post || mode == Mode::Put) {
        return Err(ApiError::unprocessable(format!(
            "expression is required (an AQL expression, e.g. {}), or the JSON form: {}.",
            match kind {
                Kind::Group => "\"group by hostname\"",
                Kind::Inhibit => "\"source {severity=CRITICAL} targets {severity=LOW} group by hostname\"",
                Kind::Silence => "\"targets {hostname=host1}\"",
            },
            json_form(kind).join(", ")
        )));
    }
    let rule = match kind {
        Kind::Group => {
            let base = match stored {
                Some(Rule::Group(r)) => Some(r),
                _ => None,
            };
            let spec = if selectors_given { group_spec(body)? } else { base.map(|r| r.spec.clone()).unwrap_or_default() };
            Rule::Group(GroupRule {
                spec,
                group_wait: duration_field(body, "group_wait", base.map(|r| r.group_wait), "30s")?,
                repeat_interval: duration_field(body, "repeat_interval", base.map(|r| r.repeat_interval), "2h")?,
                alarm_actions: actions_field(state, tenant, body, "alarm_actions", AlarmState::Alarm, base.map(|r| &r.alarm_actions)).await?,
                ok_actions: actions_field(state, tenant, body, "ok_actions", AlarmState::Ok, base.map(|r| &r.ok_actions)).await?,
                undetermined_actions: actions_field(state, tenant, body, "undetermined_actions", AlarmState::Undetermined, base.map(|r| &r.undetermined_actions))
                    .await?,
                meta,
            })
        }
        Kind::Inhibit => {
            let base = match stored {
                Some(Rule::Inhibit(r)) => Some(r),
                _ => None,
            };
            let spec = if selectors_given { inhibit_spec(body)? } else { base.map(|r| r.spec.clone()).unwrap_or_default() };
            Rule::Inhibit(InhibitRule { spec, wait: duration_field(body, "wait_time", base.map(|r| r.wait), "30s")?, meta })
        }
        Kind::Silence => {
            let base = match stored {
                Some(Rule::Silence(r)) => Some(r),
                _ => None,
            };
            let spec = if selectors_given { silence_spec(body)? } else { base.map(|r| r.spec.clone()).unwrap_or_default() };
            let duration_name = if body.has("silence_duration") || !body.has("duration") { "silence_duration" } else { "duration" };
            let start_time = match body.string("start_time", 255)? {
                Some(text) => parse_start_time(&text)?,
                None => base.map(|r| r.start_time).unwrap_or_else(Utc::now),
            };
            Rule::Silence(SilenceRule { spec, start_time, duration: duration_field(body, duration_name, base.map(|r| r.duration), "10m")?, meta })
        }
    };
    // Stored as its canonical expression: the JSON form or quoting can make that longer than
    // what was sent, and longer than the column holds (a database error, or a silent truncation
    // on a lenient MySQL that would drop the rule at its next load).
    let stored_expression = expression_of(&rule);
    let length = stored_expression.chars().count();
    if length > crate::rules::store::EXPRESSION_COLUMN {
        return Err(ApiError::unprocessable(format!(
            "The rule's expression, as stored ({}…), is {length} characters long; at most {} fit: use fewer or shorter keys and values.",
            stored_expression.chars().take(60).collect::<String>(),
            crate::rules::store::EXPRESSION_COLUMN
        )));
    }
    if let Some(stored) = stored {
        if !same_selectors(stored, &rule) {
            return Err(ApiError::unprocessable(format!(
                "The expression must not change (it is {:?}); create a new {} instead.",
                expression_of(stored),
                noun(kind)
            )));
        }
    }
    Ok(rule)
}

/// A group rule's action list: the given one, validated, or the stored one.
async fn actions_field(state: &ApiState, tenant: &str, body: &Body, field: &str, alarm_state: AlarmState, current: Option<&Vec<String>>) -> ApiResult<Vec<String>> {
    match body.string_list(field)? {
        Some(list) => check_actions(state, tenant, alarm_state, field, list).await,
        None => Ok(current.cloned().unwrap_or_default()),
    }
}

fn same_selectors(a: &Rule, b: &Rule) -> bool {
    match (a, b) {
        (Rule::Group(a), Rule::Group(b)) => a.spec == b.spec,
        (Rule::Inhibit(a), Rule::Inhibit(b)) => a.spec == b.spec,
        (Rule::Silence(a), Rule::Silence(b)) => a.spec == b.spec,
        _ => false,
    }
}

fn expression_of(rule: &Rule) -> String {
    match rule {
        Rule::Group(r) => aql::render_group(&r.spec),
        Rule::Inhibit(r) => aql::render_inhibit(&r.spec),
        Rule::Silence(r) => aql::render_silence(&r.spec),
    }
}

/// The expression, or the JSON form, but not both.
fn expression(body: &Body, kind: Kind) -> ApiResult<Option<String>> {
    let expression = body.string("expression", 1024)?;
    if expression.is_some() {
        if let Some(field) = json_form(kind).iter().find(|f| body.has(f)) {
            return Err(ApiError::unprocessable(format!("Give either expression or the JSON form, not both (found expression and {field}).")));
        }
    }
    Ok(expression)
}

fn aql_error(e: aql::AqlError) -> ApiError {
    ApiError::unprocessable(format!("expression: {e}."))
}

fn keys(body: &Body, field: &str) -> ApiResult<Vec<Key>> {
    let mut keys = Vec::new();
    for raw in body.string_list(field)?.unwrap_or_default() {
        let key = Key::parse(raw.trim());
        if raw.trim().is_empty() {
            return Err(ApiError::unprocessable(format!("{field} must not contain an empty key.")));
        }
        if keys.contains(&key) {
            return Err(ApiError::unprocessable(format!("{field} lists the key {:?} twice.", key.canonical())));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn selector(body: &Body, field: &str) -> ApiResult<Selector> {
    let mut selector: Selector = Vec::new();
    for (raw, value) in body.string_map(field)?.unwrap_or_default() {
        let key = Key::parse(raw.trim());
        if selector.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::unprocessable(format!("{field} gives the key {:?} twice (aliases count as the same key).", key.canonical())));
        }
        selector.push((key, value.trim().to_owned()));
    }
    Ok(selector)
}

fn group_spec(body: &Body) -> ApiResult<GroupSpec> {
    match expression(body, Kind::Group)? {
        Some(text) => aql::parse_group(&text).map_err(aql_error),
        None => Ok(GroupSpec { group_by: keys(body, "matchers")?, exclusions: selector(body, "exclusions")? }),
    }
}

fn inhibit_spec(body: &Body) -> ApiResult<InhibitSpec> {
    match expression(body, Kind::Inhibit)? {
        Some(text) => aql::parse_inhibit(&text).map_err(aql_error),
        None => Ok(InhibitSpec {
            source: selector(body, "source_match")?,
            target: selector(body, "target_match")?,
            equal: keys(body, "equal")?,
            exclusions: selector(body, "exclusions")?,
        }),
    }
}

fn silence_spec(body: &Body) -> ApiResult<SilenceSpec> {
    match expression(body, Kind::Silence)? {
        Some(text) => aql::parse_silence(&text).map_err(aql_error),
        None => Ok(SilenceSpec { matchers: selector(body, "matchers")? }),
    }
}

fn duration_field(body: &Body, field: &str, current: Option<Duration>, default: &str) -> ApiResult<Duration> {
    match body.string(field, crate::rules::store::DURATION_COLUMN)? {
        Some(text) => duration::parse(&text).map_err(|e| ApiError::unprocessable(format!("{field}: {e}."))),
        None => Ok(current.unwrap_or_else(|| duration::parse(default).expect("defaults are valid durations"))),
    }
}

/// ISO 8601 in UTC (`2017-04-10T10:42:10.685Z`), also `2017-02-21 20:00:00` (read as UTC) and
/// epoch milliseconds as a string, the three forms the blueprint's examples use.
pub fn parse_start_time(text: &str) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Some(t) = text.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis) {
        return Ok(t);
    }
    Err(ApiError::unprocessable(format!("start_time {text:?} is not a time: use ISO 8601 in UTC, e.g. 2017-04-10T10:42:10.685Z.")))
}

/// Methods one action list may name.
pub const MAX_ACTIONS: usize = 100;

/// Monasca's action-list rules: at most 50 characters each, no duplicates, and each a method
/// of the same tenant; and at most [`MAX_ACTIONS`] of them.
pub async fn check_actions(state: &ApiState, tenant: &str, alarm_state: AlarmState, field: &str, ids: Vec<String>) -> ApiResult<Vec<String>> {
    if ids.len() > MAX_ACTIONS {
        return Err(ApiError::unprocessable(format!("{field} names {} methods; at most {MAX_ACTIONS}.", ids.len())));
    }
    for (n, id) in ids.iter().enumerate() {
        if id.chars().count() > 50 {
            return Err(ApiError::unprocessable(format!("{field}: {id:?} is longer than 50 characters.")));
        }
        if ids[..n].contains(id) {
            return Err(ApiError::unprocessable(format!("Duplicate {alarm_state} notification method {id}.")));
        }
    }
    let owned = state.methods.owned(tenant, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !owned.contains(id)) {
        return Err(ApiError::unprocessable(format!("Non-existent notification id {missing} submitted for {alarm_state} notification action.")));
    }
    Ok(ids)
}

fn selector_json(selector: &Selector) -> Value {
    Value::Object(selector.iter().map(|(k, v)| (k.canonical().to_owned(), Value::String(v.clone()))).collect::<Map<_, _>>())
}

fn keys_json(keys: &[Key]) -> Value {
    keys.iter().map(|k| Value::String(k.canonical().to_owned())).collect()
}

/// A rule as the API shows it: both forms of its selectors, durations in canonical text.
pub fn rule_json(rule: &Rule, headers: &HeaderMap) -> Value {
    let meta = rule.meta();
    let kind = Kind::of(rule);
    let mut out = json!({ "id": meta.id, "name": meta.name, "description": meta.description, "expression": expression_of(rule) });
    let extra = match rule {
        Rule::Group(r) => json!({
            "matchers": keys_json(&r.spec.group_by),
            "exclusions": selector_json(&r.spec.exclusions),
            "group_wait": duration::format(r.group_wait),
            "repeat_interval": duration::format(r.repeat_interval),
            "alarm_actions": r.alarm_actions,
            "ok_actions": r.ok_actions,
            "undetermined_actions": r.undetermined_actions,
        }),
        Rule::Inhibit(r) => json!({
            "source_match": selector_json(&r.spec.source),
            "target_match": selector_json(&r.spec.target),
            "equal": keys_json(&r.spec.equal),
            "exclusions": selector_json(&r.spec.exclusions),
            "wait_time": duration::format(r.wait),
        }),
        Rule::Silence(r) => json!({
            "matchers": selector_json(&r.spec.matchers),
            "start_time": r.start_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "silence_duration": duration::format(r.duration),
        }),
    };
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
        out.insert("links".into(), links(headers, &format!("/v2.0/{}/{}", path(kind), meta.id)));
    }
    out
}
