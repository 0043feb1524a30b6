//! The shared vocabulary of the pipeline: alarm transitions, notification methods and the
//! notifications built from them. Plain data; no I/O, no wire formats (those belong to `ingest`,
//! `publish` and each plugin).

use serde_json::{Map, Value};
use std::fmt;
use std::sync::{Arc, OnceLock};

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
/// Only plugins and published records read `raw`, so a decoded transition keeps it as text
/// until then: routing and the alarm manager never build it.
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
    pub raw: RawAlarm,
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

/// The `alarm-transitioned` object as received: its JSON text, parsed into an object the first
/// time something reads it. Parsing an object of `serde_json::Value`s costs about three times
/// as much as typing the fields Tocsin acts on, and most transitions of an outage are only
/// routed, grouped or held, never read whole.
#[derive(Clone, Debug)]
pub struct RawAlarm {
    /// `None` for an object built in memory (a grouped notice) or changed since.
    text: Option<Box<str>>,
    object: OnceLock<Map<String, Value>>,
}

impl RawAlarm {
    /// `text` must be the text of a JSON object that `serde_json` parses into a `Map` (the
    /// ingest path checked it); anything else is a bug, found at the first read. Only `ingest`
    /// makes one from text, so that no unchecked input can reach that read.
    pub(crate) fn from_text(text: &str) -> RawAlarm {
        RawAlarm { text: Some(text.into()), object: OnceLock::new() }
    }

    pub fn from_object(object: Map<String, Value>) -> RawAlarm {
        RawAlarm { text: None, object: OnceLock::from(object) }
    }

    pub fn object(&self) -> &Map<String, Value> {
        self.object.get_or_init(|| {
            let text = self.text.as_deref().expect("a raw alarm without an object has its text");
            serde_json::from_str(text).expect("the text of a raw alarm was checked to be a JSON object")
        })
    }

    /// The object, to change; its text is dropped since it no longer matches.
    pub fn object_mut(&mut self) -> &mut Map<String, Value> {
        self.object();
        self.text = None;
        self.object.get_mut().expect("parsed above")
    }

    /// A field of the object. An alarm has about fifteen, and comparing that many keys costs a
    /// fraction of hashing one (the sent record and a webhook body read twenty fields), so small
    /// objects are searched in order; a large one, which only hostile input makes, by hash.
    pub fn get(&self, key: &str) -> Option<&Value> {
        const SEARCHED_IN_ORDER: usize = 32;
        let object = self.object();
        if object.len() <= SEARCHED_IN_ORDER {
            object.iter().find_map(|(k, value)| (k == key).then_some(value))
        } else {
            object.get(key)
        }
    }

    /// Its JSON text: as received when it was, otherwise serialised.
    pub fn to_json(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => std::borrow::Cow::Owned(serde_json::to_string(self.object()).expect("a JSON object serialises")),
        }
    }
}

impl PartialEq for RawAlarm {
    fn eq(&self, other: &RawAlarm) -> bool {
        self.object() == other.object()
    }
}

impl serde::Serialize for RawAlarm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.object().serialize(serializer)
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
