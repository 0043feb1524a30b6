use super::*;
use crate::plugins::tests::monasca_test_notification;

#[test]
fn notification_json_has_monascas_keys_order_and_types() {
    let mut n = monasca_test_notification("webhook", "http://mock:3333/");
    n.notification_timestamp = Some(1556703552.918301);
    let text = notification_json(&n);
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&text).unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["id", "type", "name", "address", "retry_count", "raw_alarm", "alarm_id", "alarm_name", "alarm_timestamp", "message",
         "notification_timestamp", "state", "severity", "link", "lifecycle_state", "tenant_id", "period"]
    );
    assert!(text.starts_with(r#"{"id": "1", "type": "webhook", "name": "test", "address": "http://mock:3333/", "retry_count": 0, "raw_alarm": {"tenantId": "0", "alarmId": "0", "alarmDefinitionId": 0, "#), "{text}");
    assert!(text.ends_with(r#""alarm_id": "0", "alarm_name": "test Alarm", "alarm_timestamp": 1429023453, "message": "I am alarming!", "notification_timestamp": 1556703552.918301, "state": "ALARM", "severity": "CRITICAL", "link": "some-link", "lifecycle_state": "OPEN", "tenant_id": "0", "period": 0}"#), "{text}");
}
