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
    let keys: Vec<&str> = alarm.raw.object().keys().map(String::as_str).collect();
    assert_eq!(keys[..3], ["tenantId", "alarmId", "alarmDefinitionId"], "wire order is kept");
}

/// The typed path takes what thresh writes (escapes, extra fields and all) and keeps the object
/// as text; what it does not take exactly as the object path would goes to the object path.
#[test]
fn the_typed_path_takes_thresh_messages_and_leaves_the_rest() {
    let mut message = thresh_example();
    message["alarm-transitioned"]["alarmName"] = json!("cpu \"high\" on host\u{e9}\n");
    message["alarm-transitioned"]["extra"] = json!({"nested": [1.5, -2, null, "x"]});
    let text = message.to_string();
    let typed = typed::decode(&text).expect("the typed path takes it");
    assert_eq!(typed, decode_document(&text).expect("valid"));
    assert_eq!(typed.alarm_name, "cpu \"high\" on host\u{e9}\n");
    assert_eq!(typed.raw.to_json(), message["alarm-transitioned"].to_string(), "the object is kept as received");
    let object_path_only: [(&str, Value); 5] = [
        ("actionsEnabled", json!(1)),
        ("metrics", json!([[]])),
        ("alarmId", json!(42)),
        ("metrics", json!([{"name": "cpu", "dimensions": {"hostname": 7}}])),
        ("link", json!(3)),
    ];
    for (field, value) in object_path_only {
        let mut message = thresh_example();
        message["alarm-transitioned"][field] = value;
        assert!(typed::decode(&message.to_string()).is_none(), "{field}");
    }
    let out_of_range = text.replacen("\"nested\":[", "\"nested\":[1e400,", 1);
    assert!(typed::decode(&out_of_range).is_none(), "a number the object path cannot hold");
    assert!(decode(Some(out_of_range.as_bytes()), 1 << 20).unwrap_err().reason.starts_with("message is not JSON"));
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
    assert_eq!(alarm.raw.object()["metrics"], json!("cpu_util"));
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

/// Property tests: no input makes [`decode`] panic, a rejection always says why, and what it
/// accepts stays within the bounds the rest of Tocsin relies on (the timestamp bound above all).
/// Beyond random bytes, the generators start from a valid message and remove fields, replace
/// them with extreme or wrongly typed values, or splice in raw number literals that no
/// `serde_json::Value` can hold, so most cases get past the JSON parser into the field checks.
/// The generators are shared with the stored-notification properties (`crate::stored`).
/// Cases per property come from `PROPTEST_CASES` (proptest's default, 256, when unset);
/// `scripts/fuzz.sh` runs them long.
pub(crate) mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::Number;

    /// Numbers at and past the edges of what f64, i64 and u64 hold, and arbitrary ones.
    fn extreme_number() -> impl Strategy<Value = Value> {
        let edges = [
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(0),
            json!(-1),
            json!(-0.0),
            json!(1e23),
            json!(-1e23),
            json!(1e300),
            json!(-1e308),
            json!(f64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(5e-324),
            json!(TIMESTAMP_LIMIT_MS),
            json!(TIMESTAMP_LIMIT_MS - 0.5),
            json!(TIMESTAMP_LIMIT_MS / 1000.0),
        ];
        prop_oneof![
            select(edges.to_vec()),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // JSON has no NaN or infinity; `from_f64` refuses them.
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        ]
    }

    /// Text that is empty, huge, control characters, non-BMP unicode, state names or numerals.
    fn extreme_string() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<String>(),
            2 => select(vec!["", "ALARM", "OK", "UNDETERMINED", "alarm", "0", "null", "true", "alarm-transitioned"]).prop_map(str::to_owned),
            2 => "[\\x00-\\x1f\\x7f\"\\\\\u{2028}\u{feff}\u{10ffff}é日🦀]{0,12}",
            1 => "-?[0-9]{1,30}(\\.[0-9]{1,10})?([eE][+-]?[0-9]{1,4})?",
            1 => (1usize..200_000).prop_map(|n| "x".repeat(n)),
        ]
    }

    /// Any JSON value, leaves biased to the extremes, nested at most 6 deep.
    pub fn extreme_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            extreme_number(),
            extreme_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// An object key: a field name the decoders know, or anything.
    fn key() -> impl Strategy<Value = String> + Clone {
        let known: Vec<&str> = REQUIRED_FIELDS.iter().copied().chain(["metrics", "name", "dimensions", "raw_alarm", "alarm-transitioned"]).collect();
        prop_oneof![select(known).prop_map(str::to_owned), "\\PC{0,10}"]
    }

    /// A `metrics` list whose items are mostly metric-shaped, with any name and dimensions.
    fn metrics() -> impl Strategy<Value = Value> {
        let metric = (extreme_value(), prop::collection::vec((key(), extreme_value()), 0..4))
            .prop_map(|(name, dims)| json!({"name": name, "dimensions": Value::Object(dims.into_iter().collect())}));
        prop::collection::vec(prop_oneof![3 => metric, 1 => extreme_value()], 0..4).prop_map(Value::Array)
    }

    /// One change to an object: a field removed, or set to a value.
    #[derive(Clone, Debug)]
    pub enum Edit {
        Remove(String),
        Set(String, Value),
    }

    /// Up to four edits of the fields named in `fields` (or of any other key).
    pub fn edits(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<Edit>> {
        let field = prop_oneof![4 => select(fields).prop_map(str::to_owned), 1 => key()];
        let edit = prop_oneof![
            1 => field.clone().prop_map(Edit::Remove),
            4 => (field, extreme_value()).prop_map(|(f, v)| Edit::Set(f, v)),
            1 => metrics().prop_map(|m| Edit::Set("metrics".into(), m)),
        ];
        prop::collection::vec(edit, 0..5)
    }

    /// Makes the edits, in order.
    pub fn apply(object: &mut Map<String, Value>, edits: &[Edit]) {
        for edit in edits {
            match edit {
                Edit::Remove(field) => object.shift_remove(field),
                Edit::Set(field, value) => object.insert(field.clone(), value.clone()),
            };
        }
    }

    /// A value spelled directly in the text, where `Value` cannot take it: numbers beyond f64
    /// (`1e400`), integers beyond u64, `-0`, lone surrogates, nesting past serde_json's limit.
    pub fn raw_literal() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec!["1e400", "-1e400", "1E+23", "-0", "0e0", "18446744073709551616", "-9223372036854775809", "\"\\ud800\"", "\"\\u0000\"", "NaN", "Infinity", "01", "1.", ".5", "\"\\x\""])
                .prop_map(str::to_owned),
            "-?[0-9]{1,40}(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,5})?",
            (100usize..300).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
            (100usize..300).prop_map(|depth| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))),
        ]
    }

    /// The text of `document` with the value of `field` in `object_of(document)` replaced by a
    /// raw literal (added if missing).
    pub fn splice(document: &mut Value, object_of: impl Fn(&mut Value) -> Option<&mut Map<String, Value>>, field: &str, literal: &str) -> String {
        const MARK: &str = "\u{1}raw literal\u{1}";
        if let Some(object) = object_of(document) {
            object.insert(field.to_owned(), json!(MARK));
        }
        document.to_string().replacen(&json!(MARK).to_string(), literal, 1)
    }

    /// A `max_bytes` limit: the engine's default, tiny, or anything.
    pub fn max_bytes() -> impl Strategy<Value = usize> {
        prop_oneof![8 => Just(1usize << 20), 1 => 0usize..256, 1 => any::<usize>()]
    }

    /// Bytes shaped like JSON: its punctuation, literals and the message's own keys, in any order.
    pub fn json_soup() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            select(vec!["{", "}", "[", "]", ":", ",", "\"", "\\", " ", "null", "true", "1e400", "-0", "\"alarm-transitioned\"", "\"timestamp\"", "\"newState\"", "\"ALARM\""]).prop_map(str::to_owned),
            key().prop_map(|k| json!(k).to_string()),
            extreme_number().prop_map(|n| n.to_string()),
        ];
        prop::collection::vec(token, 0..64).prop_map(|tokens| tokens.concat().into_bytes())
    }

    /// What every accepted transition guarantees.
    pub fn assert_bounded(alarm: &AlarmTransition) -> Result<(), TestCaseError> {
        prop_assert!(alarm.timestamp_ms.is_finite() && (0.0..TIMESTAMP_LIMIT_MS).contains(&alarm.timestamp_ms), "timestamp_ms {}", alarm.timestamp_ms);
        prop_assert!((0..(TIMESTAMP_LIMIT_MS / 1000.0) as i64).contains(&alarm.timestamp_secs()));
        prop_assert!(!alarm.tenant_id.is_empty() && !alarm.alarm_id.is_empty() && !alarm.alarm_definition_id.is_empty());
        for field in REQUIRED_FIELDS {
            prop_assert!(alarm.raw.object().contains_key(field), "raw lacks {}", field);
        }
        Ok(())
    }

    /// `decode`, checked against the object path alone (and `decode_for_sending`, which takes
    /// it): the typed path may only take a message the object path accepts, and must decode it
    /// to the same transition.
    fn decoded(bytes: &[u8], max: usize) -> Result<Result<AlarmTransition, Rejected>, TestCaseError> {
        let outcome = decode(Some(bytes), max);
        same_outcome(&outcome, &decode_for_sending(Some(bytes), max), "decode_for_sending")?;
        if let Ok(text) = std::str::from_utf8(bytes) {
            if bytes.len() <= max {
                same_outcome(&outcome, &decode_document(text), "the object path")?;
            }
        }
        Ok(outcome)
    }

    /// The same transition, or a rejection for the same reason.
    fn same_outcome(decoded: &Result<AlarmTransition, Rejected>, other: &Result<AlarmTransition, Rejected>, other_name: &str) -> Result<(), TestCaseError> {
        match (decoded, other) {
            (Ok(decoded), Ok(other)) => prop_assert_eq!(decoded, other),
            (Err(decoded), Err(other)) => prop_assert_eq!(&decoded.reason, &other.reason),
            (decoded, other) => prop_assert!(false, "decode gave {:?}, {} {:?}", decoded, other_name, other),
        }
        Ok(())
    }

    /// The outcome's contract, and the verdict (an age in seconds) computable at any clock.
    fn check_outcome(outcome: Result<AlarmTransition, Rejected>, ttl_secs: u64, now_ms: f64) -> Result<(), TestCaseError> {
        match outcome {
            Ok(alarm) => {
                assert_bounded(&alarm)?;
                verdict(&alarm, Some(Duration::from_secs(ttl_secs)), now_ms);
            }
            Err(rejected) => prop_assert!(!rejected.reason.is_empty()),
        }
        Ok(())
    }

    fn inner(document: &mut Value) -> Option<&mut Map<String, Value>> {
        document.get_mut("alarm-transitioned")?.as_object_mut()
    }

    const FIELDS: &[&str] = &[
        "actionsEnabled", "alarmId", "alarmDefinitionId", "alarmName", "newState", "oldState", "stateChangeReason", "severity",
        "link", "lifecycleState", "tenantId", "timestamp", "metrics", "subAlarms",
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_are_rejected_or_bounded(bytes in prop::collection::vec(any::<u8>(), 0..2048), max in max_bytes(), ttl in any::<u64>(), now in 0.0..TIMESTAMP_LIMIT_MS) {
            check_outcome(decoded(&bytes, max)?, ttl, now)?;
        }

        #[test]
        fn json_shaped_text_is_rejected_or_bounded(bytes in prop_oneof![json_soup(), any::<String>().prop_map(String::into_bytes)], ttl in any::<u64>(), now in 0.0..TIMESTAMP_LIMIT_MS) {
            check_outcome(decoded(&bytes, 1 << 20)?, ttl, now)?;
        }

        #[test]
        fn edited_messages_are_rejected_or_bounded(
            edits in edits(FIELDS),
            root_edits in prop::option::weighted(0.1, edits(&["alarm-transitioned"])),
            literal in prop::option::weighted(0.2, (select(FIELDS), raw_literal())),
            max in max_bytes(),
            ttl in any::<u64>(),
            now in 0.0..TIMESTAMP_LIMIT_MS,
        ) {
            let mut document = thresh_example();
            if let Some(object) = inner(&mut document) {
                apply(object, &edits);
            }
            apply(document.as_object_mut().expect("an object"), root_edits.as_deref().unwrap_or_default());
            let text = match &literal {
                Some((field, literal)) => splice(&mut document, inner, field, literal),
                None => document.to_string(),
            };
            let outcome = decoded(text.as_bytes(), max)?;
            if text.len() > max {
                prop_assert!(outcome.as_ref().is_err_and(|e| e.reason.contains("exceeds the limit")));
            }
            check_outcome(outcome, ttl, now)?;
        }

        #[test]
        fn any_timestamp_is_rejected_or_bounded(timestamp in prop_oneof![extreme_number().prop_map(|n| n.to_string()), raw_literal()]) {
            let mut document = thresh_example();
            let text = splice(&mut document, inner, "timestamp", &timestamp);
            check_outcome(decoded(text.as_bytes(), 1 << 20)?, 0, 0.0)?;
        }
    }
}
