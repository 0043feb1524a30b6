//! The shared vocabulary of the pipeline: alarm transitions, notification methods and the
//! notifications built from them. Plain data; no I/O, no wire formats (those belong to `ingest`,
//! `publish` and each plugin).

use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// The three alarm states of Monasca, spelled as they are on the wire and in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlarmState {
    Undetermined,
    Ok,
    Alarm,
}

impl AlarmState {
    pub const ALL: [AlarmState; 3] = [AlarmState::Undetermined, AlarmState::Ok, AlarmState::Alarm];

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Undetermined => "UNDETERMINED",
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmState> {
        AlarmState::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `alarm-transitioned` event. The typed fields are the ones Tocsin acts on; `raw` is the
/// whole object as received, key order included, because it is republished as `raw_alarm` and
/// plugins copy some of its fields (`alarmDefinitionId`, `oldState`, `metrics`) untouched.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmTransition {
    pub tenant_id: String,
    pub alarm_id: String,
    pub alarm_definition_id: String,
    pub alarm_name: String,
    pub new_state: AlarmState,
    pub actions_enabled: bool,
    pub state_change_reason: String,
    pub severity: String,
    pub link: Option<String>,
    pub lifecycle_state: Option<String>,
    /// Milliseconds since the epoch, as monasca-thresh writes it.
    pub timestamp_ms: f64,
    pub metrics: Vec<Metric>,
    pub raw: Map<String, Value>,
}

impl AlarmTransition {
    /// Whole seconds, truncated: Monasca's `int(timestamp / 1000.0)`.
    pub fn timestamp_secs(&self) -> i64 {
        (self.timestamp_ms / 1000.0) as i64
    }

    /// A raw field as received, `null` when absent.
    pub fn raw_field(&self, key: &str) -> &Value {
        self.raw.get(key).unwrap_or(&Value::Null)
    }
}

/// A metric the alarm was evaluated on. Dimensions keep their wire order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metric {
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl Metric {
    pub fn dimension(&self, key: &str) -> Option<&str> {
        self.dimensions.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A row of `notification_method`, as the lookup returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationMethod {
    pub id: String,
    /// The plugin key: the database `type` lower-cased, as monasca-notification does.
    pub kind: String,
    pub name: Option<String>,
    pub address: Option<String>,
    /// Re-send period in seconds; 0 means none.
    pub period: i64,
}

/// One message to send: a method applied to a transition.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub method: NotificationMethod,
    pub alarm: Arc<AlarmTransition>,
    /// How many retries came before this attempt (0 for the first send).
    pub retry_count: u32,
    /// Seconds since the epoch of the last send attempt; `None` before the first.
    pub notification_timestamp: Option<f64>,
}

impl Notification {
    pub fn new(method: NotificationMethod, alarm: Arc<AlarmTransition>) -> Notification {
        Notification { method, alarm, retry_count: 0, notification_timestamp: None }
    }

    pub fn address(&self) -> &str {
        self.method.address.as_deref().unwrap_or("")
    }
}
