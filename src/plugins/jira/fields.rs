//! What the Jira plugin sends, as pure functions: the method address taken apart, Monasca's
//! default summary/description/comment, the fields of a new issue and the JQL that finds the
//! issue of an alarm. No I/O here.
//!
//! The JQL is Monasca's string, `project=P and reporter='user' and summary ~ 'alarm id'`, but
//! its values are escaped (Monasca formatted them in raw), so an alarm id, user or project
//! cannot change the query. Plain values give exactly Monasca's text.

use super::super::standard_body;
use crate::model::Notification;
use crate::pyjson;
use serde_json::{json, Value};
use url::Url;

/// The texts of an issue for one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields {
    pub summary: String,
    pub description: String,
    /// Added as a comment when present and not empty.
    pub comments: Option<String>,
}

/// Monasca's fields when no custom formatter is configured (the typo "defintion" is Monasca's).
pub fn default_fields(n: &Notification) -> Fields {
    let alarm = &n.alarm;
    Fields {
        summary: format!(
            "Monasca alarm for alarm_defintion {} status changed to {} for the alarm_id {}",
            alarm.alarm_name, alarm.new_state, alarm.alarm_id
        ),
        description: "Monasca alarm".into(),
        comments: Some(format!("{{code}}{}{{code}}", pyjson::to_string_indented(&standard_body(n), 3))),
    }
}

/// A method address, `https://<jira>/?project=<KEY>[&component=<Name>]`, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The Jira server: the address without query, fragment or credentials.
    pub server: Url,
    pub project: String,
    pub component: Option<String>,
}

impl Target {
    /// The message says what to fix and never repeats the address (it may hold credentials).
    pub fn parse(address: &str) -> Result<Target, String> {
        let url = Url::parse(address).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err("not an http:// or https:// URL".into());
        }
        // Python's parse_qs: the first non-empty value counts, blank values are dropped.
        let param = |name: &str| url.query_pairs().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.into_owned());
        let project = param("project").ok_or("no project: add ?project=<KEY> to the Jira URL")?;
        let component = param("component");
        let mut server = url.clone();
        server.set_query(None);
        server.set_fragment(None);
        let _ = server.set_username("");
        let _ = server.set_password(None);
        Ok(Target { server, project, component })
    }

    /// `<server>/rest/api/2/<segments…>`, each segment percent-encoded.
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.server.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(["rest", "api", "2"])
            .extend(segments);
        url
    }
}

/// The `fields` of a new issue, keys in Monasca's order.
pub fn issue_fields(target: &Target, fields: &Fields, issue_type: &str) -> Value {
    let mut issue = json!({
        "project": {"key": target.project},
        "summary": fields.summary,
        "description": fields.description,
        "issuetype": {"name": issue_type},
    });
    if let Some(component) = &target.component {
        issue["components"] = json!([{"name": component}]);
    }
    issue
}

/// The JQL that finds the issue of an alarm: Monasca's query with escaped values.
pub fn search_jql(project: &str, user: &str, alarm_id: &str) -> String {
    format!("project={} and reporter={} and summary ~ {}", jql_bare_or_quoted(project), jql_string(user), jql_string(alarm_id))
}

/// A JQL string literal in single quotes; `'`, `"`, `\` and control characters escaped.
pub fn jql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' | '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A project key as Monasca wrote it (bare) when that is safe, otherwise a string literal.
fn jql_bare_or_quoted(value: &str) -> String {
    let bare = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !JQL_RESERVED.contains(&value.to_ascii_lowercase().as_str());
    if bare {
        value.to_owned()
    } else {
        jql_string(value)
    }
}

/// Words JQL refuses as bare values (Atlassian's list of reserved words).
const JQL_RESERVED: &[&str] = &[
    "a", "abort", "access", "add", "after", "alias", "all", "alter", "an", "and", "any", "are", "as", "asc", "at",
    "audit", "avg", "be", "before", "begin", "between", "boolean", "break", "but", "by", "byte", "catch", "cf", "char",
    "character", "check", "checkpoint", "collate", "collation", "column", "commit", "connect", "continue", "count",
    "create", "current", "date", "decimal", "declare", "decrement", "default", "defaults", "define", "delete",
    "delimiter", "desc", "difference", "distinct", "divide", "do", "double", "drop", "else", "empty", "encoding", "end",
    "equals", "escape", "exclusive", "exec", "execute", "exists", "explain", "false", "fetch", "file", "field", "first",
    "float", "for", "from", "function", "go", "goto", "grant", "greater", "group", "having", "identified", "if",
    "immediate", "in", "increment", "index", "initial", "inner", "inout", "input", "insert", "int", "integer",
    "intersect", "intersection", "into", "is", "isempty", "isnull", "join", "last", "left", "less", "like", "limit",
    "lock", "long", "max", "min", "minus", "mode", "modify", "modulo", "more", "multiply", "next", "noaudit", "not",
    "notin", "nowait", "null", "number", "object", "of", "on", "option", "or", "order", "outer", "output", "power",
    "previous", "prior", "privileges", "public", "raise", "raw", "remainder", "rename", "resource", "return",
    "returns", "revoke", "right", "row", "rowid", "rownum", "rows", "select", "session", "set", "share", "size", "sqrt",
    "start", "strict", "string", "subtract", "sum", "synonym", "table", "then", "to", "trans", "transaction", "trigger",
    "true", "uid", "union", "unique", "update", "user", "validate", "values", "view", "was", "when", "whenever", "where",
    "while", "with",
];
