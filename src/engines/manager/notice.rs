//! Turns a [`GroupNotice`] into the transition the plugins send, so a grouped notification goes
//! through the same plugins, sent/retry topics and retry engine as any other.
//!
//! The synthetic transition keeps the `alarm-transitioned` shape (every field plugins read is
//! present) and adds `members` (one object per alarm: name, id, state, severity, reason,
//! metrics) and `groupRule`. Its alarm id is stable per group, so Jira comments on one issue
//! and PagerDuty deduplicates repeats. It must not decide anything about the group.

use super::state::{GroupNotice, Member, MemberMetric};
use crate::model::{AlarmTransition, Metric, RawAlarm};
use serde_json::{Map, Value};
use std::sync::Arc;

/// How many members the reason text lists before it summarises the rest; the full list is in
/// `members`.
const LISTED_IN_REASON: usize = 50;

pub fn to_transition(notice: &GroupNotice, now_ms: f64) -> AlarmTransition {
    let severity = highest_severity(&notice.members);
    let reason = reason(notice);
    // Distinct metrics in order of first appearance; members of a group often share them.
    let mut distinct: Vec<&MemberMetric> = Vec::new();
    for metric in notice.members.iter().flat_map(|member| member.metrics.iter()) {
        if !distinct.contains(&metric) {
            distinct.push(metric);
        }
    }
    let metrics: Vec<Metric> = distinct
        .iter()
        .map(|m| Metric { name: m.name.to_string(), dimensions: m.dimensions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() })
        .collect();
    let alarm_id = group_alarm_id(notice);
    let description = format!(
        "{} alarm(s) in state {} grouped by rule {}{}",
        notice.members.len(),
        notice.state,
        notice.rule_name,
        if notice.values.is_empty() { String::new() } else { format!(" ({})", notice.values.join(", ")) }
    );
    // Built by moving values into place: `json!` would serialise every nested value into a
    // copy (the members twice over), which made this 55 µs for ten members.
    let text = |s: &str| Value::String(s.to_owned());
    let mut group_rule = Map::with_capacity(4);
    group_rule.insert("id".into(), text(&notice.rule_id));
    group_rule.insert("name".into(), text(&notice.rule_name));
    group_rule.insert("values".into(), Value::Array(notice.values.iter().map(|v| text(v)).collect()));
    group_rule.insert("sequence".into(), Value::from(notice.sequence));
    let mut raw = Map::with_capacity(17);
    raw.insert("tenantId".into(), text(&notice.tenant_id));
    raw.insert("alarmId".into(), text(&alarm_id));
    raw.insert("alarmDefinitionId".into(), text(&notice.rule_id));
    raw.insert("metrics".into(), Value::Array(distinct.iter().map(|m| metric_json(m, true)).collect()));
    raw.insert("alarmName".into(), text(&notice.name));
    raw.insert("alarmDescription".into(), Value::String(description));
    raw.insert("oldState".into(), Value::Null);
    raw.insert("newState".into(), text(notice.state.as_str()));
    raw.insert("actionsEnabled".into(), Value::Bool(true));
    raw.insert("stateChangeReason".into(), text(&reason));
    raw.insert("severity".into(), text(&severity));
    raw.insert("link".into(), Value::Null);
    raw.insert("lifecycleState".into(), Value::Null);
    raw.insert("subAlarms".into(), Value::Array(Vec::new()));
    raw.insert("timestamp".into(), Value::from(now_ms));
    raw.insert("members".into(), Value::Array(notice.members.iter().map(|m| member_json(m)).collect()));
    raw.insert("groupRule".into(), Value::Object(group_rule));
    AlarmTransition {
        tenant_id: notice.tenant_id.clone(),
        alarm_id,
        alarm_definition_id: notice.rule_id.clone(),
        alarm_name: notice.name.clone(),
        new_state: notice.state,
        actions_enabled: true,
        state_change_reason: reason,
        severity,
        link: None,
        lifecycle_state: None,
        timestamp_ms: now_ms,
        metrics,
        raw: RawAlarm::from_object(raw),
    }
}

/// A metric as the transition's `metrics` list has it (`with_id`: Monasca's `"id": null`
/// first) or as a member lists it.
fn metric_json(metric: &MemberMetric, with_id: bool) -> Value {
    let mut object = Map::with_capacity(3);
    if with_id {
        object.insert("id".into(), Value::Null);
    }
    object.insert("name".into(), Value::String(metric.name.to_string()));
    object.insert("dimensions".into(), Value::Object(metric.dimensions.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()));
    Value::Object(object)
}

fn member_json(member: &Member) -> Value {
    let mut object = Map::with_capacity(8);
    object.insert("alarm_id".into(), Value::String(member.alarm_id.to_string()));
    object.insert("alarm_name".into(), Value::String(member.alarm_name.to_string()));
    object.insert("alarm_definition_id".into(), Value::String(member.alarm_definition_id.to_string()));
    object.insert("state".into(), Value::String(member.state.as_str().to_owned()));
    object.insert("severity".into(), Value::String(member.severity.to_string()));
    object.insert("reason".into(), Value::String(member.reason.to_string()));
    object.insert("timestamp".into(), Value::from(member.timestamp_ms));
    object.insert("metrics".into(), Value::Array(member.metrics.iter().map(|m| metric_json(m, false)).collect()));
    Value::Object(object)
}

/// One line per member, so email and Slack bodies that show the reason list the alarms.
fn reason(notice: &GroupNotice) -> String {
    let mut text = format!("{} alarm(s) in {}:", notice.members.len(), notice.state);
    for member in notice.members.iter().take(LISTED_IN_REASON) {
        let dimensions: Vec<String> = member
            .metrics
            .first()
            .map(|m| m.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        text.push_str(&format!(
            "\n- {} ({}) {} {} [{}]: {}",
            member.alarm_name,
            member.alarm_id,
            member.state,
            member.severity,
            dimensions.join(", "),
            member.reason
        ));
    }
    if notice.members.len() > LISTED_IN_REASON {
        text.push_str(&format!("\n… and {} more", notice.members.len() - LISTED_IN_REASON));
    }
    text
}

fn highest_severity(members: &[Arc<Member>]) -> String {
    const ORDER: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
    members
        .iter()
        .map(|m| m.severity.to_ascii_uppercase())
        .max_by_key(|s| ORDER.iter().position(|o| o == s))
        .unwrap_or_else(|| "LOW".to_owned())
}

/// A UUID-shaped id that is the same for every notice of one group (rule, values, state).
fn group_alarm_id(notice: &GroupNotice) -> String {
    let key = format!("{}\u{1f}{}\u{1f}{}\u{1f}{}", notice.tenant_id, notice.rule_id, notice.values.join("\u{1f}"), notice.state);
    let hex = super::persist::stable_hash_hex(&key);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::manager::state::MemberMetric;
    use crate::model::AlarmState;

    fn member(id: &str, severity: &str) -> Member {
        Member {
            alarm_id: id.into(),
            alarm_name: format!("alarm {id}").into(),
            alarm_definition_id: "def".into(),
            state: AlarmState::Alarm,
            severity: severity.into(),
            reason: "threshold exceeded".into(),
            timestamp_ms: 1.0,
            metrics: vec![MemberMetric { name: "cpu".into(), dimensions: vec![("hostname".into(), "host1".into())].into() }].into(),
            notified: false,
        }
    }

    fn notice() -> GroupNotice {
        GroupNotice {
            tenant_id: "t".into(),
            rule_id: "r".into(),
            rule_name: "group_rule_1".into(),
            values: vec!["host1".into()],
            state: AlarmState::Alarm,
            name: "group_notification_rule_1_host1_alarm[2]".into(),
            members: vec![Arc::new(member("a1", "LOW")), Arc::new(member("a2", "HIGH"))],
            actions: vec![],
            sequence: 1,
        }
    }

    #[test]
    fn a_notice_becomes_a_transition_listing_its_members_with_a_stable_id() {
        let notice = notice();
        let t = to_transition(&notice, 5000.0);
        assert_eq!(t.alarm_name, "group_notification_rule_1_host1_alarm[2]");
        assert_eq!(t.severity, "HIGH");
        assert_eq!(t.metrics.len(), 1, "identical metrics are listed once");
        assert_eq!(t.raw.object()["members"].as_array().map(Vec::len), Some(2));
        assert!(t.state_change_reason.contains("alarm a1 (a1) ALARM LOW [hostname=host1]: threshold exceeded"));
        assert_eq!(t.alarm_id, to_transition(&notice, 9000.0).alarm_id);
        assert_eq!(t.alarm_id.len(), 36);
        let reparsed = crate::ingest::transition(t.raw.object().clone()).expect("the synthetic transition is a valid one");
        assert_eq!(reparsed.alarm_id, t.alarm_id);
    }

    /// What people read: the email text (Monasca's templates, fed the reason) and the JSON body
    /// of webhook and Slack both name every member.
    #[test]
    fn email_webhook_and_slack_bodies_list_every_member() {
        let alarm = Arc::new(to_transition(&notice(), 5000.0));
        let method = |kind: &str| crate::model::NotificationMethod { id: "m".into(), kind: kind.into(), name: None, address: Some("x".into()), period: 0 };
        let email = crate::plugins::email::message::compose(&crate::model::Notification::new(method("email"), alarm.clone()), None);
        assert_eq!(email.subject, "ALARM HIGH \"group_notification_rule_1_host1_alarm[2]\" for Host: host1");
        for id in ["a1", "a2"] {
            assert!(email.body.contains(&format!("- alarm {id} ({id}) alarm")), "{}", email.body);
        }
        let slack = crate::model::Notification::new(method("slack"), alarm);
        let body = crate::plugins::standard_body(&slack);
        let text = crate::pyjson::to_string_indented(&body, 3);
        let members: Value = serde_json::from_str::<Value>(&text).unwrap()["members"].clone();
        let ids: Vec<&str> = members.as_array().unwrap().iter().filter_map(|m| m["alarm_id"].as_str()).collect();
        assert_eq!(ids, ["a1", "a2"]);
    }
}
