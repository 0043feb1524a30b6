use super::*;
use crate::model::{AlarmTransition, NotificationMethod};
use serde_json::json;

/// The alarm of monasca-notification's webhook test (`alarmDefinitionId` is the integer 0 there).
pub fn monasca_test_notification(kind: &str, address: &str) -> Notification {
    let raw = json!({"alarm-transitioned": {
        "tenantId": "0", "alarmId": "0", "alarmDefinitionId": 0, "alarmName": "test Alarm",
        "alarmDescription": "test Alarm description", "oldState": "OK", "newState": "ALARM",
        "severity": "CRITICAL", "link": "some-link", "lifecycleState": "OPEN",
        "stateChangeReason": "I am alarming!", "timestamp": 1429023453632u64,
        "metrics": [{"dimensions": {"hostname": "foo1", "service": "bar1"}}], "actionsEnabled": true}});
    let alarm: AlarmTransition = crate::ingest::decode(Some(raw.to_string().as_bytes()), 1 << 20).unwrap();
    let method = NotificationMethod { id: "1".into(), kind: kind.into(), name: Some("test".into()), address: Some(address.into()), period: 0 };
    Notification::new(method, std::sync::Arc::new(alarm))
}

#[test]
fn standard_body_matches_monascas_webhook_test() {
    let n = monasca_test_notification("webhook", "http://mock:3333/");
    assert_eq!(
        crate::pyjson::to_string(&standard_body(&n)),
        r#"{"alarm_id": "0", "alarm_definition_id": 0, "alarm_name": "test Alarm", "alarm_description": "test Alarm description", "alarm_timestamp": 1429023453, "state": "ALARM", "old_state": "OK", "message": "I am alarming!", "tenant_id": "0", "metrics": [{"dimensions": {"hostname": "foo1", "service": "bar1"}}]}"#
    );
}

#[test]
fn plugin_names_in_any_monasca_spelling() {
    let cases = [
        ("webhook", "webhook"),
        ("WEBHOOK", "webhook"),
        ("monasca_notification.plugins.webhook_notifier:WebhookNotifier", "webhook"),
        ("monasca_notification.plugins.email_notifier.EmailNotifier", "email"),
        ("mycompany.plugins:Custom", "mycompany.plugins:Custom"),
    ];
    for (name, kind) in cases {
        assert_eq!(plugin_kind(name), kind, "{name}");
    }
}

/// The guard of plugin tests: their fake servers listen on loopback.
pub fn loopback_guard() -> crate::netguard::Guard {
    let policy = crate::netguard::NetworkPolicy { allow_networks: vec!["127.0.0.0/8".parse().unwrap()], ..Default::default() };
    crate::netguard::Guard::new(policy, Vec::new())
}
