use super::*;
use serde_json::json;

fn thresh_example() -> Value {
    json!({"alarm-transitioned": {
        "tenantId": "62f7a7a314904aa3ab137d569d6b4fde",
        "alarmId": "20a54a65-44b8-4ac9-a398-1f2d888827d2",
        "alarmDefinitionId": "78ce7b53-f7e6-4b51-88d0-cb741e7dc906",
        "metrics": [{"id": null, "name": "cpu.user_perc", "dimensions": {"hostname": "operator", "service": "monitoring"}}],
        "alarmName": "dummy_alarm",
        "alarmDescription": "Dummy alarm",
        "oldState": "OK",
        "newState": "ALARM",
        "actionsEnabled": true,
        "stateChangeReason": "Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]",
        "severity": "LOW",
        "link": null,
        "lifecycleState": null,
        "subAlarms": [],
        "timestamp": 1556703552123u64}})
}

fn check(value: &Value) -> Result<AlarmTransition, Rejected> {
    decode(Some(value.to_string().as_bytes()), 1 << 20)
}

#[test]
fn decodes_the_thresh_example() {
    let alarm = check(&thresh_example()).expect("valid");
    assert_eq!(alarm.alarm_id, "20a54a65-44b8-4ac9-a398-1f2d888827d2");
    assert_eq!(alarm.new_state, AlarmState::Alarm);
    assert_eq!(alarm.timestamp_secs(), 1556703552);
    assert_eq!(alarm.metrics[0].dimension("hostname"), Some("operator"));
    let keys: Vec<&str> = alarm.raw.keys().map(String::as_str).collect();
    assert_eq!(keys[..3], ["tenantId", "alarmId", "alarmDefinitionId"], "wire order is kept");
}

#[test]
fn reports_the_first_missing_field_in_monascas_order() {
    let err = check(&json!({"alarm-transitioned": {"invalid": "invalid_alarm"}})).unwrap_err();
    assert_eq!(err.reason, "Alarm data missing field actionsEnabled");
    let mut alarm = thresh_example();
    alarm["alarm-transitioned"].as_object_mut().unwrap().remove("link");
    assert_eq!(check(&alarm).unwrap_err().reason, "Alarm data missing field link");
}

#[test]
fn rejects_wrong_types_and_unparseable_input() {
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        ("timestamp as text", Box::new(|v| v["alarm-transitioned"]["timestamp"] = json!("now")), "field timestamp must be a number of milliseconds, found a string"),
        ("unknown state", Box::new(|v| v["alarm-transitioned"]["newState"] = json!("BROKEN")), "field newState must be one of \"UNDETERMINED\", \"OK\", \"ALARM\", found a string"),
        ("id as object", Box::new(|v| v["alarm-transitioned"]["alarmId"] = json!({})), "field alarmId must be a non-empty string, found an object"),
        ("link as number", Box::new(|v| v["alarm-transitioned"]["link"] = json!(3)), "field link must be a string or null, found a number"),
        ("no root key", Box::new(|v| *v = json!({"other": {}})), "message has no \"alarm-transitioned\" object"),
        ("array root", Box::new(|v| *v = json!([1])), "message is not a JSON object"),
    ];
    for (name, mutate, expected) in cases {
        let mut value = thresh_example();
        mutate(&mut value);
        assert_eq!(check(&value).unwrap_err().reason, expected, "{name}");
    }
    assert!(decode(Some(b"{not json"), 1024).unwrap_err().reason.starts_with("message is not JSON"));
    assert!(decode(Some(&[0xff, 0xfe]), 1024).unwrap_err().reason.starts_with("message is not UTF-8"));
    assert_eq!(decode(None, 1024).unwrap_err().reason, "message has no value");
    assert_eq!(
        decode(Some(&[b' '; 2048]), 1024).unwrap_err().reason,
        "message of 2048 bytes exceeds the limit of 1024 bytes"
    );
}

#[test]
fn accepts_what_monasca_accepts() {
    let mut value = thresh_example();
    let inner = value["alarm-transitioned"].as_object_mut().unwrap();
    inner.insert("actionsEnabled".into(), json!(1));
    inner.insert("alarmDefinitionId".into(), json!(0));
    inner.insert("metrics".into(), json!("cpu_util"));
    inner.remove("alarmDescription");
    let alarm = check(&value).expect("Monasca's own test alarms are accepted");
    assert!(alarm.actions_enabled);
    assert_eq!(alarm.alarm_definition_id, "0");
    assert!(alarm.metrics.is_empty());
    assert_eq!(alarm.raw["metrics"], json!("cpu_util"));
}

#[test]
fn verdict_applies_actions_enabled_and_a_strict_ttl() {
    let alarm = check(&thresh_example()).unwrap();
    let ttl = Some(Duration::from_secs(14400));
    assert_eq!(verdict(&alarm, ttl, alarm.timestamp_ms + 14_400_000.0), Verdict::Act, "equal age is not too old");
    assert!(matches!(verdict(&alarm, ttl, alarm.timestamp_ms + 14_400_001.0), Verdict::Expired(_)));
    assert_eq!(verdict(&alarm, None, 1e15), Verdict::Act, "no TTL configured");
    let disabled = AlarmTransition { actions_enabled: false, ..alarm };
    assert_eq!(verdict(&disabled, ttl, disabled.timestamp_ms), Verdict::ActionsDisabled);
}
