use super::*;
use serde_json::json;

#[test]
fn one_line_form_uses_python_separators_and_escapes_non_ascii() {
    let value = json!({"a": [1, 2.5, null, true], "b": "n\u{0928}é\u{1F600}\"\n", "c": {}, "d": []});
    assert_eq!(
        to_string(&value),
        r#"{"a": [1, 2.5, null, true], "b": "n\u0928\u00e9\ud83d\ude00\"\n", "c": {}, "d": []}"#
    );
}

#[test]
fn indented_form_matches_python_indent_3() {
    let value = json!({"alarm_id": "0", "metrics": [{"dimensions": {"hostname": "foo1"}}], "empty": []});
    let expected = "{\n   \"alarm_id\": \"0\",\n   \"metrics\": [\n      {\n         \"dimensions\": {\n            \"hostname\": \"foo1\"\n         }\n      }\n   ],\n   \"empty\": []\n}";
    assert_eq!(to_string_indented(&value, 3), expected);
}

#[test]
fn floats_follow_python_repr() {
    let cases = [
        (1.0, "1.0"),
        (1556703552.918301, "1556703552.918301"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-5, "1.5e-05"),
        (1e16, "1e+16"),
        (123456789012345680.0, "1.2345678901234568e+17"),
        (9999999999999998.0, "9999999999999998.0"),
        (-2.5, "-2.5"),
        (0.0, "0.0"),
        (93.1, "93.1"),
    ];
    for (value, expected) in cases {
        assert_eq!(python_float_repr(value), expected, "repr of {value:e}");
    }
}

#[test]
fn control_characters_and_delete_are_escaped_like_python() {
    assert_eq!(to_string(&json!("\u{1}\u{7f}/")), r#""\u0001\u007f/""#);
}

#[test]
fn printable_runs_between_escapes_are_kept_whole() {
    assert_eq!(to_string(&json!("ab é cd\u{1F600}ef\u{7f}gh")), r#""ab \u00e9 cd\ud83d\ude00ef\u007fgh""#);
}
