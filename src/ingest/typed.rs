//! The fast path of [`super::decode`]: types the fields Tocsin acts on straight from the text and
//! keeps the `alarm-transitioned` object as text ([`RawAlarm`]), instead of building a
//! `serde_json::Value` for every field and string of the message first (about 3 µs against
//! 8 µs for a Monasca transition of 600 bytes).
//!
//! It only ever accepts: anything it does not take exactly as the object path would (a number
//! as an identifier, `actionsEnabled` as 0/1, a non-string dimension, a duplicate key, …) gives
//! `None`, and the object path decides, so every rejection and its message come from one place.
//! The property tests of `ingest` (`decoded` in its tests) check the two agree on every message
//! they generate.

use super::TIMESTAMP_LIMIT_MS;
use crate::model::{AlarmState, AlarmTransition, Metric, RawAlarm};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A whole message, `{"alarm-transitioned": {…}}`.
pub(super) fn decode(text: &str) -> Option<AlarmTransition> {
    // The typed passes skip what they do not read without checking it (a number out of range,
    // an invalid escape); this pass checks all of it, as building the object would, so that the
    // text kept parses later.
    serde_json::from_str::<Checked>(text).ok()?;
    let Envelope { inner } = serde_json::from_str(object_text(text)?).ok()?;
    typed_object(inner.get())
}

/// `text` if it is an object: a derived struct is also read from an array, by position.
fn object_text(text: &str) -> Option<&str> {
    text.trim_start().starts_with('{').then_some(text)
}

/// The `alarm-transitioned` object alone.
pub(super) fn decode_object(text: &str) -> Option<AlarmTransition> {
    serde_json::from_str::<Checked>(text).ok()?;
    typed_object(text)
}

/// `text` is checked JSON.
fn typed_object(text: &str) -> Option<AlarmTransition> {
    let fields: Fields = serde_json::from_str(object_text(text)?).ok()?;
    let mut metrics = Vec::new();
    for metric in fields.metrics.unwrap_or_default() {
        let metric: TypedMetric = serde_json::from_str(object_text(metric.get())?).ok()?;
        metrics.push(Metric { name: metric.name.map(Cow::into_owned).unwrap_or_default(), dimensions: metric.dimensions.map(|d| d.0).unwrap_or_default() });
    }
    let new_state = AlarmState::parse(&fields.new_state)?;
    let nonempty = |id: Cow<'_, str>| (!id.is_empty()).then(|| id.into_owned());
    if !(0.0..TIMESTAMP_LIMIT_MS).contains(&fields.timestamp) {
        return None;
    }
    Some(AlarmTransition {
        tenant_id: nonempty(fields.tenant_id)?,
        alarm_id: nonempty(fields.alarm_id)?,
        alarm_definition_id: nonempty(fields.alarm_definition_id)?,
        alarm_name: fields.alarm_name.into_owned(),
        new_state,
        actions_enabled: fields.actions_enabled,
        state_change_reason: fields.state_change_reason.into_owned(),
        severity: fields.severity.into_owned(),
        link: fields.link.0.map(Cow::into_owned),
        lifecycle_state: fields.lifecycle_state.0.map(Cow::into_owned),
        timestamp_ms: fields.timestamp,
        metrics,
        raw: RawAlarm::from_text(text),
    })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "alarm-transitioned", borrow)]
    inner: &'a RawValue,
}

/// The fields of [`super::REQUIRED_FIELDS`], each required (`oldState` only to be present).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    actions_enabled: bool,
    #[serde(borrow)]
    alarm_id: Cow<'a, str>,
    #[serde(borrow)]
    alarm_definition_id: Cow<'a, str>,
    #[serde(borrow)]
    alarm_name: Cow<'a, str>,
    #[serde(borrow)]
    new_state: Cow<'a, str>,
    #[serde(rename = "oldState")]
    _old_state: IgnoredAny,
    #[serde(borrow)]
    state_change_reason: Cow<'a, str>,
    #[serde(borrow)]
    severity: Cow<'a, str>,
    #[serde(borrow)]
    link: NullableText<'a>,
    #[serde(borrow)]
    lifecycle_state: NullableText<'a>,
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
    timestamp: f64,
    #[serde(default, borrow)]
    metrics: Option<Vec<&'a RawValue>>,
}

/// Text that must be present and may be `null` (serde takes a missing `Option` for `None`).
struct NullableText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for NullableText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NullableVisitor<'a>(std::marker::PhantomData<&'a str>);
        impl<'de: 'a, 'a> Visitor<'de> for NullableVisitor<'a> {
            type Value = NullableText<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_unit<E>(self) -> Result<NullableText<'a>, E> {
                Ok(NullableText(None))
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<NullableText<'a>, E> {
                Ok(NullableText(Some(Cow::Borrowed(text))))
            }
            fn visit_str<E>(self, text: &str) -> Result<NullableText<'a>, E> {
                Ok(NullableText(Some(Cow::Owned(text.to_owned()))))
            }
        }
        // `deserialize_any`, so that a missing field is an error, not `None`.
        deserializer.deserialize_any(NullableVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct TypedMetric<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    dimensions: Option<Dimensions>,
}

/// String-valued dimensions in wire order; a duplicate key is left to the object path (whose
/// object keeps the last value at the first key's place).
struct Dimensions(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DimensionsVisitor;
        impl<'de> Visitor<'de> for DimensionsVisitor {
            type Value = Dimensions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dimensions, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<Cow<'de, str>, Cow<'de, str>>()? {
                    if pairs.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom("duplicate dimension"));
                    }
                    pairs.push((key.into_owned(), value.into_owned()));
                }
                Ok(Dimensions(pairs))
            }
        }
        deserializer.deserialize_map(DimensionsVisitor)
    }
}

/// Any JSON value, checked as `serde_json::Value` would parse it, without keeping it.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Checked, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}
