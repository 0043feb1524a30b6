//! How a template value prints under Jinja2 as Monasca's plugins ran it: Python's `str()` of the
//! value (`None`, `True`, `nan`, `['a', 'b']`, `{'k': 1.5}`), for minijinja formatters to write.
//! Shared by the Slack message template and the Jira custom formatter; it decides nothing about
//! escaping, which each of them sets as Monasca did.

use crate::pyjson::python_float_repr;
use minijinja::value::{Value, ValueKind};
use std::fmt::Write as _;

/// Python's `str(value)`: strings as they are, an undefined value empty, everything else as
/// `repr`.
pub fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => python_repr(value),
    }
}

/// Python's `repr(value)`: what `str()` of a list or dict prints for its members.
fn python_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::String => python_string_repr(value.as_str().unwrap_or_default()),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if f.is_finite() => python_float_repr(f),
            Ok(f) if f.is_nan() => "nan".into(),
            Ok(f) => if f > 0.0 { "inf" } else { "-inf" }.into(),
            Err(_) => value.to_string(),
        },
        ValueKind::Seq => {
            let items: Vec<String> = value.try_iter().map(|it| it.map(|v| python_repr(&v)).collect()).unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = value
                .try_iter()
                .map(|keys| keys.map(|k| format!("{}: {}", python_repr(&k), python_repr(&value.get_item(&k).unwrap_or_default()))).collect())
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => value.to_string(),
    }
}

/// Python's `repr(str)`: single quotes unless the text holds a single quote and no double one;
/// control characters, DEL, the C1 controls, no-break space and soft hyphen as `\xNN` (Python
/// escapes what `str.isprintable` rejects).
fn python_string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || ('\u{7f}'..='\u{a0}').contains(&c) || c == '\u{ad}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::python_str;
    use minijinja::Value;
    use serde_json::json;

    fn printed(value: serde_json::Value) -> String {
        python_str(&Value::from(minijinja::value::Serde(&value)))
    }

    #[test]
    fn values_print_as_python_str() {
        assert_eq!(printed(json!("it's")), "it's");
        assert_eq!(printed(json!(null)), "None");
        assert_eq!(printed(json!(true)), "True");
        assert_eq!(printed(json!(1.5e-5)), "1.5e-05");
        assert_eq!(printed(json!(["it's", "a\u{a0}b\n", 3])), r#"["it's", 'a\xa0b\n', 3]"#);
        assert_eq!(printed(json!({"k": [1.0, false]})), "{'k': [1.0, False]}");
        assert_eq!(python_str(&Value::from(f64::NAN)), "nan");
        assert_eq!(python_str(&Value::from(f64::NEG_INFINITY)), "-inf");
    }
}
