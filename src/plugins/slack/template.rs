//! The optional Slack message template (`[slack_notifier] message_template`), a Jinja file
//! rendered with the standard body's keys as variables.
//!
//! Monasca rendered it with Jinja2 and HTML autoescape, so a value like `a<b` became `a&lt;b`.
//! Existing templates were written against that output, so it is kept: values are escaped as
//! MarkupSafe does (`&`, `<`, `>`, `"`→`&#34;`, `'`→`&#39;`), and values print as Python
//! would (`None`, `True`, floats in `repr` form, lists and dicts as Python literals). The file is
//! read and parsed once at start; a template that does not parse is a configuration error, one
//! that fails to render fails only that notification. This module never sends anything.

use crate::plugins::jinja::python_str;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A parsed template, cheap to clone.
#[derive(Clone)]
pub struct MessageTemplate {
    pub path: PathBuf,
    env: Arc<Environment<'static>>,
}

/// The name the template is registered under; errors name the file instead.
const NAME: &str = "message_template";

impl MessageTemplate {
    /// Reads and parses the file; the error reads `<file>:<line>: <problem>`.
    pub fn load(path: &Path) -> Result<MessageTemplate, String> {
        let source = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        MessageTemplate::parse(path, source)
    }

    pub fn parse(path: &Path, source: String) -> Result<MessageTemplate, String> {
        let mut env = Environment::new();
        // Jinja2's `autoescape=True` escapes every template, whatever its file name.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_formatter(python_formatter);
        env.add_template_owned(NAME, source).map_err(|e| describe(path, &e))?;
        Ok(MessageTemplate { path: path.to_owned(), env: Arc::new(env) })
    }

    /// Renders with the keys of `context` (a serializable map) as variables.
    pub fn render<C: Serialize>(&self, context: &C) -> Result<String, String> {
        let template = self.env.get_template(NAME).map_err(|e| describe(&self.path, &e))?;
        template.render(Value::from(minijinja::value::Serde(context))).map_err(|e| describe(&self.path, &e))
    }
}

impl std::fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageTemplate").field("path", &self.path).finish_non_exhaustive()
    }
}

/// `<file>:<line>: <problem>` (without the line when minijinja has none).
fn describe(path: &Path, error: &minijinja::Error) -> String {
    let line = error.line().map(|l| format!(":{l}")).unwrap_or_default();
    let problem = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    format!("{}{line}: {problem}", path.display())
}

/// Writes a value as Jinja2 would: Python's `str()` of the value, HTML-escaped as MarkupSafe
/// does unless the value is marked safe.
fn python_formatter(out: &mut minijinja::Output, state: &mut minijinja::State, value: &Value) -> Result<(), minijinja::Error> {
    let text = python_str(value);
    let escape = matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe();
    let result = if escape { out.write_str(&markupsafe_escape(&text)) } else { out.write_str(&text) };
    result.map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "cannot write the output"))
}

/// MarkupSafe's `escape`.
pub fn markupsafe_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
