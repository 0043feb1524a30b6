//! What the Slack, HipChat and PagerDuty tests share: plugins built the way Tocsin builds them
//! (an INI file through `Config::load` and `Registry::build`), notifications made from the
//! harness's alarm message, and a check that error text holds no secret.

use crate::support::alarm_message;
use std::sync::Arc;
use tocsin::app::Config;
use tocsin::model::{Notification, NotificationMethod};
use tocsin::plugins::{Plugin, Registry, SendError};

/// The enabled plugin `kind`, configured by `sections` (INI text with its own section header).
pub fn plugin(kind: &str, sections: &str) -> Arc<dyn Plugin> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.conf");
    std::fs::write(&file, format!("[notification_types]\nenabled = {kind}\n\n{sections}\n")).unwrap();
    let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::build(&config.plugins, 4, &crate::support::loopback_guard()).unwrap_or_else(|e| panic!("{e}"));
    registry.get(kind).expect("the plugin is enabled").clone()
}

/// The harness's alarm (`alarm_message`) for a method of `kind` at `address`.
pub fn notification(kind: &str, address: &str, alarm_id: &str, state: &str) -> Notification {
    let message = alarm_message(alarm_id, "def-1", state).to_string();
    let alarm = tocsin::ingest::decode(Some(message.as_bytes()), 1 << 20).unwrap();
    let method = NotificationMethod { id: "m-1".into(), kind: kind.into(), name: Some("test".into()), address: Some(address.into()), period: 0 };
    Notification::new(method, Arc::new(alarm))
}

/// The alarm's timestamp in whole seconds, as the standard body carries it.
pub fn alarm_seconds(notification: &Notification) -> i64 {
    notification.alarm.timestamp_secs()
}

/// Fails when any secret shows in the error's text or debug form.
pub fn assert_no_secret(error: &SendError, secrets: &[&str]) {
    let text = format!("{error} {error:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked into {text}");
    }
}

/// `json.dumps(standard_body, indent=3)` for the harness's alarm.
pub fn indented_standard_body(alarm_id: &str, definition_id: &str, state: &str, seconds: i64) -> String {
    format!(
        r#"{{
   "alarm_id": "{alarm_id}",
   "alarm_definition_id": "{definition_id}",
   "alarm_name": "dummy_alarm",
   "alarm_description": "Dummy alarm",
   "alarm_timestamp": {seconds},
   "state": "{state}",
   "old_state": "OK",
   "message": "Thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]",
   "tenant_id": "62f7a7a314904aa3ab137d569d6b4fde",
   "metrics": [
      {{
         "id": null,
         "name": "cpu.user_perc",
         "dimensions": {{
            "hostname": "operator",
            "service": "monitoring"
         }}
      }}
   ]
}}"#
    )
}
