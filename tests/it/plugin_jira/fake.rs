//! A fake Jira server on 127.0.0.1:0 speaking the part of the REST API v2 the plugin uses, the
//! way Jira does: basic auth checked on every call, JQL parsed (string literals with escapes,
//! `and`/`or`, reserved words refused), issues kept in memory with Jira's classic workflow,
//! create bodies and transitions validated, errors answered in Jira's JSON shape. It can be told
//! to fail every call with a status, to answer slowly, to retire `/search` (410, as Jira Cloud
//! did) and to offer no "reopen" transition.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An issue as the fake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub key: String,
    pub project: String,
    pub summary: String,
    pub description: String,
    pub issue_type: String,
    pub components: Vec<String>,
    pub reporter: String,
    pub status: String,
    pub comments: Vec<String>,
}

/// A request the fake received (after authentication).
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `jql` query parameter of searches, decoded.
    pub jql: Option<String>,
    pub body: String,
}

/// Projects and their components.
const PROJECTS: &[(&str, &[&str])] = &[("OPS", &["Web", "Database"]), ("MyProject", &["MyComponent"])];
const ISSUE_TYPES: &[&str] = &["Bug", "Task", "Incident"];

struct Behaviour {
    fail_with: Option<u16>,
    delay: Duration,
    search_retired: bool,
    reopen_allowed: bool,
}

struct Shared {
    user: String,
    password: String,
    issues: Mutex<Vec<Issue>>,
    seen: Mutex<Vec<Seen>>,
    behaviour: Mutex<Behaviour>,
}

#[derive(Clone)]
pub struct FakeJira {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeJira {
    pub async fn start(user: &str, password: &str) -> FakeJira {
        let shared = Arc::new(Shared {
            user: user.into(),
            password: password.into(),
            issues: Mutex::default(),
            seen: Mutex::default(),
            behaviour: Mutex::new(Behaviour { fail_with: None, delay: Duration::ZERO, search_retired: false, reopen_allowed: true }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeJira { addr, shared }
    }

    /// A method address for this server, e.g. `address("?project=OPS")`.
    pub fn address(&self, query: &str) -> String {
        format!("http://{}/{query}", self.addr)
    }

    /// Adds an issue reported by the configured user; returns its key.
    pub fn add_issue(&self, project: &str, summary: &str, status: &str) -> String {
        let mut issues = self.shared.issues.lock().unwrap();
        let key = format!("{project}-{}", issues.len() + 1);
        issues.push(Issue {
            key: key.clone(),
            project: project.into(),
            summary: summary.into(),
            description: String::new(),
            issue_type: "Bug".into(),
            components: Vec::new(),
            reporter: self.shared.user.clone(),
            status: status.into(),
            comments: Vec::new(),
        });
        key
    }

    pub fn fail_with(&self, status: Option<u16>) {
        self.shared.behaviour.lock().unwrap().fail_with = status;
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// `/rest/api/2/search` answers 410 Gone and `/rest/api/2/search/jql` works, as on Jira Cloud.
    pub fn retire_search(&self) {
        self.shared.behaviour.lock().unwrap().search_retired = true;
    }

    /// Resolved and closed issues offer only transitions whose names lack "reopen".
    pub fn without_reopen(&self) {
        self.shared.behaviour.lock().unwrap().reopen_allowed = false;
    }

    pub fn issues(&self) -> Vec<Issue> {
        self.shared.issues.lock().unwrap().clone()
    }

    pub fn issue(&self, key: &str) -> Issue {
        self.issues().into_iter().find(|i| i.key == key).unwrap_or_else(|| panic!("no issue {key}"))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// `(method, path)` of every authenticated request, in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.seen().into_iter().map(|s| (s.method, s.path)).collect()
    }
}

fn error(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    (status, axum::Json(json!({"errorMessages": messages, "errors": errors}))).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let (fail_with, delay) = {
        let b = shared.behaviour.lock().unwrap();
        (b.fail_with, b.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !authenticated(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, &["You are not authenticated. Authentication required to perform this operation."], json!({}));
    }
    let jql = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).find(|(k, _)| k == "jql").map(|(_, v)| v.into_owned());
    let body = String::from_utf8_lossy(&body).into_owned();
    shared.seen.lock().unwrap().push(Seen { method: method.to_string(), path: uri.path().into(), jql: jql.clone(), body: body.clone() });
    if let Some(status) = fail_with {
        return error(StatusCode::from_u16(status).unwrap(), &["the fake was told to fail"], json!({}));
    }
    if method == Method::POST && headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &["Content-Type must be application/json"], json!({}));
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let retired = shared.behaviour.lock().unwrap().search_retired;
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["rest", "api", "2", "search"]) if retired => error(
            StatusCode::GONE,
            &["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."],
            json!({}),
        ),
        ("GET", ["rest", "api", "2", "search"]) => search(&shared, jql.as_deref()),
        ("GET", ["rest", "api", "2", "search", "jql"]) if retired => search(&shared, jql.as_deref()),
        ("POST", ["rest", "api", "2", "issue"]) => create(&shared, &body),
        ("GET", ["rest", "api", "2", "issue", key, "transitions"]) => transitions(&shared, key),
        ("POST", ["rest", "api", "2", "issue", key, "transitions"]) => transition(&shared, key, &body),
        ("POST", ["rest", "api", "2", "issue", key, "comment"]) => comment(&shared, key, &body),
        _ => error(StatusCode::NOT_FOUND, &["null for uri"], json!({})),
    }
}

fn authenticated(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(encoded) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return false };
    String::from_utf8(decoded).ok() == Some(format!("{}:{}", shared.user, shared.password))
}

fn search(shared: &Shared, jql: Option<&str>) -> Response {
    let query = match jql.map(parse_jql) {
        Some(Ok(query)) => query,
        Some(Err(message)) => return error(StatusCode::BAD_REQUEST, &[&format!("Error in the JQL Query: {message}")], json!({})),
        None => return error(StatusCode::BAD_REQUEST, &["the jql parameter is required"], json!({})),
    };
    let issues = shared.issues.lock().unwrap();
    let found: Vec<Value> = issues
        .iter()
        .filter(|issue| query.matches(issue))
        .map(|issue| json!({"id": "1", "key": issue.key, "fields": {"status": {"name": issue.status}}}))
        .collect();
    axum::Json(json!({"startAt": 0, "maxResults": 50, "total": found.len(), "issues": found})).into_response()
}

fn create(shared: &Shared, body: &str) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, &["Can not deserialize the request body"], json!({}));
    };
    let Some(fields) = body.get("fields").and_then(Value::as_object) else {
        return error(StatusCode::BAD_REQUEST, &["fields are required"], json!({}));
    };
    let mut errors = serde_json::Map::new();
    for name in fields.keys() {
        if !["project", "summary", "description", "issuetype", "components"].contains(&name.as_str()) {
            errors.insert(name.clone(), json!(format!("Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")));
        }
    }
    let project = fields.get("project").and_then(|p| p["key"].as_str()).and_then(|k| PROJECTS.iter().find(|(p, _)| *p == k));
    if project.is_none() {
        errors.insert("project".into(), json!("valid project is required"));
    }
    let summary = fields.get("summary").and_then(Value::as_str).unwrap_or_default();
    if summary.is_empty() {
        errors.insert("summary".into(), json!("You must specify a summary of the issue."));
    } else if summary.contains('\n') || summary.chars().count() > 255 {
        errors.insert("summary".into(), json!("The summary is invalid because it contains newline characters or is too long."));
    }
    let issue_type = fields.get("issuetype").and_then(|t| t["name"].as_str()).unwrap_or_default();
    if !ISSUE_TYPES.contains(&issue_type) {
        errors.insert("issuetype".into(), json!("The issue type selected is invalid."));
    }
    let mut components = Vec::new();
    if let Some(list) = fields.get("components") {
        for c in list.as_array().into_iter().flatten() {
            match (c["name"].as_str(), project) {
                (Some(name), Some((_, known))) if known.contains(&name) => components.push(name.to_owned()),
                (name, _) => {
                    errors.insert("components".into(), json!(format!("Component name '{}' is not valid", name.unwrap_or_default())));
                }
            }
        }
    }
    if !errors.is_empty() {
        return error(StatusCode::BAD_REQUEST, &[], Value::Object(errors));
    }
    let (project, _) = project.expect("checked above");
    let mut issues = shared.issues.lock().unwrap();
    let key = format!("{project}-{}", issues.len() + 1);
    issues.push(Issue {
        key: key.clone(),
        project: (*project).into(),
        summary: summary.into(),
        description: fields.get("description").and_then(Value::as_str).unwrap_or_default().into(),
        issue_type: issue_type.into(),
        components,
        reporter: shared.user.clone(),
        status: "Open".into(),
        comments: Vec::new(),
    });
    (StatusCode::CREATED, axum::Json(json!({"id": issues.len().to_string(), "key": key, "self": format!("/rest/api/2/issue/{key}")}))).into_response()
}

/// Jira's classic workflow: `(id, name, target status)` offered in each status.
fn workflow(status: &str, reopen_allowed: bool) -> Vec<(&'static str, &'static str, &'static str)> {
    let working = vec![("4", "Start Progress", "In Progress"), ("5", "Resolve Issue", "Resolved"), ("2", "Close Issue", "Closed")];
    match status {
        "Resolved" | "Closed" if reopen_allowed => vec![("3", "Reopen Issue", "Reopened"), ("701", "Close Issue", "Closed")],
        "Resolved" | "Closed" => vec![("701", "Close Issue", "Closed"), ("711", "Archive", "Archived")],
        "In Progress" => vec![("301", "Stop Progress", "Open"), ("5", "Resolve Issue", "Resolved"), ("2", "Close Issue", "Closed")],
        _ => working,
    }
}

fn transitions(shared: &Shared, key: &str) -> Response {
    let reopen_allowed = shared.behaviour.lock().unwrap().reopen_allowed;
    let issues = shared.issues.lock().unwrap();
    let Some(issue) = issues.iter().find(|i| i.key == key) else { return no_issue() };
    let list: Vec<Value> =
        workflow(&issue.status, reopen_allowed).into_iter().map(|(id, name, to)| json!({"id": id, "name": name, "to": {"name": to}})).collect();
    axum::Json(json!({"expand": "transitions", "transitions": list})).into_response()
}

fn transition(shared: &Shared, key: &str, body: &str) -> Response {
    let reopen_allowed = shared.behaviour.lock().unwrap().reopen_allowed;
    let body: Value = serde_json::from_str(body).unwrap_or_default();
    let id = match &body["transition"]["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return error(StatusCode::BAD_REQUEST, &["Missing 'transition' identifier"], json!({})),
    };
    let mut issues = shared.issues.lock().unwrap();
    let Some(issue) = issues.iter_mut().find(|i| i.key == key) else { return no_issue() };
    match workflow(&issue.status, reopen_allowed).into_iter().find(|(tid, _, _)| *tid == id) {
        Some((_, _, to)) => {
            issue.status = to.into();
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::BAD_REQUEST, &[&format!("Transition id '{id}' is not valid for this issue.")], json!({})),
    }
}

fn comment(shared: &Shared, key: &str, body: &str) -> Response {
    let body: Value = serde_json::from_str(body).unwrap_or_default();
    let Some(text) = body["body"].as_str().filter(|t| !t.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, &[], json!({"comment": "Comment body can not be empty!"}));
    };
    let mut issues = shared.issues.lock().unwrap();
    let Some(issue) = issues.iter_mut().find(|i| i.key == key) else { return no_issue() };
    issue.comments.push(text.into());
    (StatusCode::CREATED, axum::Json(json!({"id": issue.comments.len().to_string(), "body": text}))).into_response()
}

fn no_issue() -> Response {
    error(StatusCode::NOT_FOUND, &["Issue does not exist or you do not have permission to see it."], json!({}))
}

/// A parsed JQL query: clauses joined by `or` of clauses joined by `and`.
#[derive(Debug)]
pub struct Query {
    any_of: Vec<Vec<Clause>>,
}

#[derive(Debug)]
struct Clause {
    field: String,
    op: String,
    value: String,
}

impl Query {
    fn matches(&self, issue: &Issue) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|c| c.matches(issue)))
    }
}

impl Clause {
    fn matches(&self, issue: &Issue) -> bool {
        match (self.field.as_str(), self.op.as_str()) {
            ("project", "=") => issue.project.eq_ignore_ascii_case(&self.value),
            ("reporter", "=") => issue.reporter == self.value,
            // Text search: every word of the term is a word of the summary.
            ("summary", "~") => {
                let summary = words(&issue.summary);
                let term = words(&self.value);
                !term.is_empty() && term.iter().all(|w| summary.contains(w))
            }
            ("summary", "=") => issue.summary == self.value,
            _ => false,
        }
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Op(String),
}

/// Parses the JQL subset the plugin may produce, refusing what Jira refuses.
pub fn parse_jql(jql: &str) -> Result<Query, String> {
    let tokens = tokenize(jql)?;
    let mut any_of = vec![Vec::new()];
    let mut i = 0;
    loop {
        let field = match tokens.get(i) {
            Some(Token::Word(w)) if ["project", "reporter", "summary"].contains(&w.to_lowercase().as_str()) => w.to_lowercase(),
            Some(t) => return Err(format!("Field {t:?} does not exist or you do not have permission to view it.")),
            None => return Err("Expecting a field name at the end of the query.".into()),
        };
        let op = match tokens.get(i + 1) {
            Some(Token::Op(op)) => op.clone(),
            other => return Err(format!("Expecting operator but got {other:?}.")),
        };
        let value = match tokens.get(i + 2) {
            Some(Token::Text(t)) => t.clone(),
            Some(Token::Word(w)) if RESERVED.contains(&w.to_lowercase().as_str()) => {
                return Err(format!("'{w}' is a reserved JQL word. You must surround it in quotation marks to use it in a query."))
            }
            Some(Token::Word(w)) => w.clone(),
            other => return Err(format!("Expecting either a value, list or function but got {other:?}.")),
        };
        any_of.last_mut().expect("never empty").push(Clause { field, op, value });
        i += 3;
        match tokens.get(i) {
            None => return Ok(Query { any_of }),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => i += 1,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("or") => {
                any_of.push(Vec::new());
                i += 1;
            }
            Some(t) => return Err(format!("Expecting either 'OR' or 'AND' but got {t:?}.")),
        }
    }
}

/// A few of JQL's reserved words, enough to check that the plugin quotes them.
const RESERVED: &[&str] = &["and", "or", "not", "empty", "null", "order", "by", "in", "is", "was", "select", "user"];

fn tokenize(jql: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = jql.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' | '~' => {
                chars.next();
                tokens.push(Token::Op(c.to_string()));
            }
            '!' => {
                chars.next();
                match chars.next() {
                    Some(o @ ('=' | '~')) => tokens.push(Token::Op(format!("!{o}"))),
                    _ => return Err("'!' must be followed by '=' or '~'.".into()),
                }
            }
            '\'' | '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("The quoted string is not terminated.".into()),
                        Some(q) if q == c => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('\'' | '"' | '\\' | ' ')) => text.push(e),
                            Some('n') => text.push('\n'),
                            Some('r') => text.push('\r'),
                            Some('t') => text.push('\t'),
                            Some('u') => {
                                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).ok_or("Illegal unicode escape.")?;
                                text.push(code);
                            }
                            other => return Err(format!("Illegal escape sequence '\\{}'.", other.map(String::from).unwrap_or_default())),
                        },
                        Some(q) => text.push(q),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&w) = chars.peek() {
                    if w.is_whitespace() || "=~!'\"()".contains(w) {
                        break;
                    }
                    word.push(w);
                    chars.next();
                }
                if word.is_empty() {
                    return Err(format!("The character '{c}' is a reserved JQL character."));
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}
