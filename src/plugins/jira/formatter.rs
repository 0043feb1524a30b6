//! The custom formatter (`[jira_notifier] custom_formatter`): a YAML file whose `jira_format`
//! mapping holds Jinja templates for `summary`, `description` and `comments`, rendered with a
//! `notification` object that has the attributes of Monasca's `Notification`.
//!
//! The file is read and every template compiled once, at start; errors name the file and line.
//! Templates render as Jinja2's `Template(s).render(notification=...)` did: no autoescaping, an
//! unknown attribute renders empty, the trailing newline of a YAML block is dropped, and values
//! print as Python's `str()` (`None`, `True`, `['a', 'b']`). This module does no network I/O.

use super::fields::Fields;
use crate::model::Notification;
use crate::plugins::jinja::python_str;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// The templates of a formatter file, as text (checked to compile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatter {
    pub summary: String,
    pub description: String,
    /// `None` when absent or empty: then no comment is added.
    pub comments: Option<String>,
}

/// The three templates and the field names they fill, in the order Monasca rendered them.
const FIELDS: [&str; 3] = ["summary", "description", "comments"];

impl Formatter {
    /// Reads and checks a formatter file; the error names the file and, where known, the line.
    pub fn load(path: &Path) -> Result<Formatter, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the custom formatter file {}: {e}", path.display()))?;
        Formatter::parse(&text, path)
    }

    pub fn parse(text: &str, file: &Path) -> Result<Formatter, String> {
        let file = file.display();
        let root: serde_norway::Value = serde_norway::from_str(text).map_err(|e| match e.location() {
            Some(at) => format!("{file}:{}: invalid YAML: {e}", at.line()),
            None => format!("{file}: invalid YAML: {e}"),
        })?;
        let Some(format) = root.get("jira_format").and_then(serde_norway::Value::as_mapping) else {
            return Err(format!("{file}: no `jira_format` mapping at the top level"));
        };
        let mut templates: BTreeMap<&str, String> = BTreeMap::new();
        for field in FIELDS {
            let line = key_line(text, field).map(|l| format!(":{l}")).unwrap_or_default();
            match format.get(field) {
                // Monasca skipped a field whose value is empty or null.
                None | Some(serde_norway::Value::Null) => {}
                Some(serde_norway::Value::String(s)) if s.is_empty() => {}
                Some(serde_norway::Value::String(s)) => {
                    compile(field, s).map_err(|e| format!("{file}{line}: jira_format.{field}: {e}"))?;
                    templates.insert(field, s.clone());
                }
                Some(_) => return Err(format!("{file}{line}: jira_format.{field}: expected a template string")),
            }
        }
        // Monasca failed every send without these (KeyError); an operator learns it here instead.
        for field in ["summary", "description"] {
            if !templates.contains_key(field) {
                return Err(format!("{file}: jira_format.{field} is missing; every issue needs one"));
            }
        }
        Ok(Formatter {
            summary: templates.remove("summary").unwrap_or_default(),
            description: templates.remove("description").unwrap_or_default(),
            comments: templates.remove("comments"),
        })
    }
}

/// A [`Formatter`] compiled for rendering.
pub struct Templates {
    env: Environment<'static>,
    has_comments: bool,
}

impl Templates {
    pub fn new(formatter: &Formatter) -> Result<Templates, String> {
        let mut env = environment();
        for (name, source) in [("summary", Some(&formatter.summary)), ("description", Some(&formatter.description)), ("comments", formatter.comments.as_ref())] {
            if let Some(source) = source {
                env.add_template_owned(name, source.clone()).map_err(|e| format!("jira_format.{name}: {e}"))?;
            }
        }
        Ok(Templates { env, has_comments: formatter.comments.is_some() })
    }

    /// The fields for one notification; a template that fails at run time (an attribute of an
    /// undefined value, a failing filter) fails the send, as in Monasca.
    pub fn render(&self, notification: &Notification) -> Result<Fields, String> {
        let ctx = BTreeMap::from([("notification", notification_value(notification))]);
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| format!("cannot render the custom formatter's {name}: {e}"))
        };
        Ok(Fields {
            summary: render("summary")?,
            description: render("description")?,
            comments: if self.has_comments { Some(render("comments")?) } else { None },
        })
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Jinja2's `Template(s)` does not escape; Jira text is not HTML.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_formatter(|out, _state, value| {
        out.write_str(&python_str(value)).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    env
}

fn compile(name: &str, source: &str) -> Result<(), minijinja::Error> {
    environment().add_template_owned(name.to_owned(), source.to_owned())
}

/// Monasca's `Notification` attributes, named and valued as the Python object had them.
fn notification_value(n: &Notification) -> Value {
    let alarm = &n.alarm;
    let value = json!({
        "id": n.method.id,
        "type": n.method.kind,
        "name": n.method.name,
        "address": n.method.address,
        "period": n.method.period,
        "retry_count": n.retry_count,
        "raw_alarm": alarm.raw.object(),
        "alarm_id": alarm.raw_field("alarmId"),
        "alarm_name": alarm.raw_field("alarmName"),
        "alarm_timestamp": alarm.timestamp_secs(),
        "message": alarm.raw_field("stateChangeReason"),
        "notification_timestamp": n.notification_timestamp,
        "state": alarm.raw_field("newState"),
        "severity": alarm.raw_field("severity"),
        "link": alarm.raw_field("link"),
        "lifecycle_state": alarm.raw_field("lifecycleState"),
        "tenant_id": alarm.raw_field("tenantId"),
        "metrics": alarm.raw.get("metrics").cloned().unwrap_or_else(|| json!([])),
    });
    Value::from(Serde(&value))
}

/// The line (1-based) of `key:` inside the `jira_format` mapping, to point template errors at
/// the file; a best effort, since the parsed YAML value has no positions.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let is_key = |line: &str, key: &str| {
        let trimmed = line.trim_start();
        let rest = trimmed
            .strip_prefix(key)
            .or_else(|| trimmed.strip_prefix(&format!("\"{key}\"")))
            .or_else(|| trimmed.strip_prefix(&format!("'{key}'")));
        rest.is_some_and(|r| r.trim_start().starts_with(':'))
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| is_key(l, "jira_format") && !l.starts_with(char::is_whitespace))?;
    lines[start + 1..].iter().position(|l| is_key(l, key)).map(|i| start + i + 2)
}
