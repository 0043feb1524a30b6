//! Dry runs: `POST /v2.0/rules/test` answers what Tocsin would do with a transition arriving
//! now (which silences and inhibitions match and whether they apply, the groups it would join
//! with their notice names, the methods it would be sent to), and [`would_mute`] lists the
//! known alarms a silence not yet stored would mute (`POST /v2.0/silence-rules?dry_run=true`).
//!
//! Both read the tenant's rules as the engines apply them (`rules::live`) and the known alarms
//! of the history (their newest transitions); they change nothing and send nothing. Inhibition
//! sources are looked for among the known alarms in ALARM, which is what the alarm manager's
//! sources are made of.

use super::auth::Tenant;
use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::history::{rfc3339, KNOWN_ALARMS_LOOKED_AT};
use super::ApiState;
use crate::engines::manager::state::group_notification_name;
use crate::history::store::KnownAlarm;
use crate::model::{AlarmState, AlarmTransition};
use crate::rules::matching::{excluded, group_values, has_action_pairs, selector_matches, selector_matches_action, silence_active, silence_end_ms};
use crate::rules::{InhibitRule, SilenceRule};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

pub fn routes() -> Router<ApiState> {
    Router::new().route("/v2.0/rules/test", post(test))
}

/// Largest transition accepted for a test (the body limit bounds it anyway).
const TRANSITION_BYTES: usize = 64 * 1024;

async fn test(State(state): State<ApiState>, Tenant(tenant): Tenant, body: Bytes) -> ApiResult<Json<Value>> {
    let body = Body::parse(&body)?;
    body.only(&["transition", "alarm_id"])?;
    let mut alarm = match (body.get("transition"), body.string("alarm_id", 255)?) {
        (Some(_), Some(_)) => return Err(ApiError::unprocessable("Give either transition or alarm_id, not both.")),
        (None, None) => return Err(ApiError::unprocessable("Give transition (an alarm-transitioned object) or alarm_id (an alarm in the history).")),
        (Some(transition), None) => transition_from(transition)?,
        (None, Some(alarm_id)) => {
            let text = state.history.known_alarm(&tenant, &alarm_id).await?.ok_or_else(|| ApiError::not_found("alarm in the notification history", &alarm_id))?;
            crate::ingest::decode_object(&text).map_err(|e| ApiError::unprocessable(format!("The stored transition of alarm {alarm_id} cannot be read: {}", e.reason)))?
        }
    };
    // A tenant tests against its own rules, whatever tenant the transition names.
    alarm.tenant_id = tenant.clone();
    let now = crate::clock::unix_ms();
    let rules = state.rules.current();

    let mut muting_selectors = Vec::new();
    let mut silenced_by = Vec::new();
    let mut suppressed: Option<&'static str> = None;
    for rule in rules.silences_for(&alarm) {
        let active = silence_active(rule, now);
        let actions_only = has_action_pairs(&rule.spec.matchers);
        if active && actions_only {
            muting_selectors.push((rule.meta.id.clone(), rule.spec.matchers.clone()));
        } else if active {
            suppressed.get_or_insert("silenced");
        }
        silenced_by.push(json!({"rule_id": rule.meta.id, "name": rule.meta.name, "active": active, "actions_only": actions_only, "ends": rfc3339(silence_end_ms(rule))}));
    }
    let targeted = rules.inhibits_as_target(&alarm);
    let known = if targeted.is_empty() { Vec::new() } else { state.history.known_alarms(&tenant, false, KNOWN_ALARMS_LOOKED_AT).await? };
    let mut inhibited_by = Vec::new();
    for rule in targeted {
        let source = firing_source(rule, &alarm, &known);
        let actions_only = has_action_pairs(&rule.spec.target);
        if source.is_some() && actions_only {
            muting_selectors.push((rule.meta.id.clone(), rule.spec.target.clone()));
        } else if source.is_some() {
            suppressed.get_or_insert("inhibited");
        }
        inhibited_by.push(json!({"rule_id": rule.meta.id, "name": rule.meta.name, "source_alarm_id": source, "actions_only": actions_only, "wait_time": crate::rules::duration::format(rule.wait)}));
    }

    let mut groups = Vec::new();
    let mut group_methods = 0;
    if suppressed.is_none() {
        let open = state.manager_state.tenant_groups(&tenant).await?;
        for rule in rules.groups_for(&alarm) {
            let Some(values) = group_values(&rule.spec.group_by, &alarm) else { continue };
            let existing = open.iter().find(|g| g.key.rule_id == rule.meta.id && g.key.values == values && g.key.state == alarm.new_state);
            let members = match existing {
                Some(group) => state.manager_state.group_bodies(&[group]).await?.first().map_or(0, |(_, g)| g.members.len() + usize::from(!g.members.contains_key(alarm.alarm_id.as_str()))),
                None => 1,
            };
            let actions = match alarm.new_state {
                AlarmState::Alarm => &rule.alarm_actions,
                AlarmState::Ok => &rule.ok_actions,
                AlarmState::Undetermined => &rule.undetermined_actions,
            };
            group_methods += actions.len();
            let named: Map<String, Value> = rule.spec.group_by.iter().zip(&values).map(|(k, v)| (k.canonical().to_owned(), json!(v))).collect();
            groups.push(json!({
                "rule_id": rule.meta.id,
                "name": rule.meta.name,
                "values": named,
                "notice": group_notification_name(&rule.meta.name, &values, alarm.new_state, members),
                "group_open": existing.is_some(),
                "group_wait": crate::rules::duration::format(rule.group_wait),
                "methods": methods_json(&state, &tenant, actions).await?,
            }));
        }
    }

    let mut methods = Vec::new();
    if suppressed.is_none() {
        let attached = state.db.fetch_methods(&alarm.alarm_definition_id, alarm.new_state).await?;
        let ids: Vec<String> = attached.iter().map(|m| m.id.clone()).collect();
        let owned = state.methods.owned(&tenant, &ids).await?;
        for method in attached.iter().filter(|m| owned.contains(&m.id)) {
            let muted_by = muting_selectors.iter().find(|(_, selector)| selector_matches_action(selector, method)).map(|(id, _)| id.clone());
            methods.push(json!({
                "id": method.id, "name": method.name, "type": method.kind.to_ascii_uppercase(),
                "address": method.address.as_deref().map(crate::engines::stored::loggable_address), "muted_by": muted_by,
            }));
        }
    }
    let sent = methods.iter().filter(|m| m["muted_by"].is_null()).count();
    let verdict = match suppressed {
        Some(verdict) => verdict,
        None if sent > 0 => "notify",
        None if group_methods > 0 => "grouped_only",
        None => "no_methods",
    };
    Ok(Json(json!({
        "verdict": verdict,
        "alarm": {"alarm_id": alarm.alarm_id, "alarm_name": alarm.alarm_name, "alarm_definition_id": alarm.alarm_definition_id, "state": alarm.new_state.as_str(), "severity": alarm.severity},
        "silenced_by": silenced_by,
        "inhibited_by": inhibited_by,
        "groups": groups,
        "methods": methods,
    })))
}

/// The transition of a test: the `alarm-transitioned` object, or a whole message holding one.
fn transition_from(value: &Value) -> ApiResult<AlarmTransition> {
    let inner = match value.get("alarm-transitioned") {
        Some(inner) => inner,
        None => value,
    };
    if !inner.is_object() {
        return Err(ApiError::unprocessable("transition must be an alarm-transitioned object (or a message holding one)."));
    }
    let text = inner.to_string();
    if text.len() > TRANSITION_BYTES {
        return Err(ApiError::unprocessable(format!("transition is larger than {TRANSITION_BYTES} bytes.")));
    }
    crate::ingest::decode_object(&text).map_err(|e| ApiError::unprocessable(format!("transition: {}", e.reason)))
}

/// A known alarm in ALARM that is a source of `rule` for `target`, if there is one.
fn firing_source(rule: &InhibitRule, target: &AlarmTransition, known: &[KnownAlarm]) -> Option<String> {
    let wanted = group_values(&rule.spec.equal, target)?;
    known.iter().filter(|k| k.state == "ALARM" && k.alarm_id != target.alarm_id).find_map(|k| {
        let source = crate::ingest::decode_object(&k.alarm_json).ok()?;
        let matches = selector_matches(&rule.spec.source, &source) && !excluded(&rule.spec.exclusions, &source) && group_values(&rule.spec.equal, &source).as_ref() == Some(&wanted);
        matches.then(|| k.alarm_id.clone())
    })
}

async fn methods_json(state: &ApiState, tenant: &str, ids: &[String]) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = state.methods.get(tenant, id).await? {
            out.push(json!({"id": m.id, "name": m.name, "type": m.kind, "address": crate::engines::stored::loggable_address(&m.address)}));
        }
    }
    Ok(out)
}

/// The known alarms a silence would mute: those whose newest transition its selector matches.
pub async fn would_mute(state: &ApiState, tenant: &str, rule: &SilenceRule) -> ApiResult<Vec<Value>> {
    let known = state.history.known_alarms(tenant, false, KNOWN_ALARMS_LOOKED_AT).await?;
    Ok(known
        .iter()
        .filter(|k| crate::ingest::decode_object(&k.alarm_json).is_ok_and(|t| selector_matches(&rule.spec.matchers, &t)))
        .map(|k| json!({"alarm_id": k.alarm_id, "alarm_name": k.alarm_name, "alarm_definition_id": k.alarm_definition_id, "state": k.state, "last_seen": rfc3339(k.last_seen_ms)}))
        .collect())
}
