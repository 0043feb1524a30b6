//! A fake Slack on 127.0.0.1:0 speaking both APIs Monasca's plugin targets, and validating
//! requests as Slack does:
//! - incoming webhooks, `POST /services/T…/B…/<secret>`: a JSON body `{"text": …}` or a form
//!   with a `payload` field holding that JSON; answers `text/html` `ok`, or 400
//!   `invalid_payload`/`no_text`, or 404 `no_service` for an unknown hook;
//! - `POST /api/chat.postMessage`: a JSON body needs an `Authorization: Bearer` token (a token
//!   in the query does not count: `not_authed`); a form takes `token`, `channel` and `text` from
//!   the query or the body; answers `application/json` `{"ok": …}` with Slack's error codes.
//!
//! Tests can make it answer with a status, drop the Content-Type, or answer slowly.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const HOOK: &str = "/services/T0001/B0001/SECRETHOOK1234";
pub const TOKEN: &str = "xoxb-SECRETTOKEN";
pub const CHANNEL: &str = "#ops";

/// One message Slack accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// `webhook` or `api`.
    pub api: &'static str,
    /// `json` or `form`: how the request carried it.
    pub encoding: &'static str,
    pub channel: Option<String>,
    pub text: String,
}

/// One request, accepted or not.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub content_type: String,
}

#[derive(Default)]
struct Shared {
    posted: Mutex<Vec<Posted>>,
    seen: Mutex<Vec<Seen>>,
    /// 0: behave; otherwise answer this status with `text/html` `error`.
    forced_status: AtomicU16,
    /// Answer `ok` without any Content-Type.
    no_content_type: std::sync::atomic::AtomicBool,
    delay_ms: AtomicU64,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack { addr, shared }
    }

    pub fn webhook_url(&self) -> String {
        format!("http://{}{HOOK}", self.addr)
    }

    /// The legacy address form, `#` unescaped as operators write it.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/chat.postMessage?token={TOKEN}&channel={CHANNEL}", self.addr)
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.shared.posted.lock().unwrap().clone()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.forced_status.store(status, Ordering::SeqCst);
    }

    pub fn without_content_type(&self) {
        self.shared.no_content_type.store(true, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

fn html(status: StatusCode, text: &'static str) -> Response {
    (status, [("content-type", "text/html")], text).into_response()
}

fn api(answer: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json; charset=utf-8")], answer.to_string()).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    shared.seen.lock().unwrap().push(Seen { path: uri.path().to_owned(), content_type: content_type.clone() });
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let forced = shared.forced_status.load(Ordering::SeqCst);
    if forced != 0 {
        return html(StatusCode::from_u16(forced).unwrap(), "error");
    }
    let is_json = content_type.starts_with("application/json");
    let form: Vec<(String, String)> = if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let posted = match uri.path() {
        HOOK => match webhook(is_json, &form, &body) {
            Ok(posted) => posted,
            Err(error) => return html(StatusCode::BAD_REQUEST, error),
        },
        path if path.starts_with("/services/") => return html(StatusCode::NOT_FOUND, "no_service"),
        "/api/chat.postMessage" => match post_message(is_json, &headers, query.as_deref(), &form, &body) {
            Ok(posted) => posted,
            Err(error) => return api(json!({"ok": false, "error": error})),
        },
        _ => return html(StatusCode::NOT_FOUND, "not found"),
    };
    let api_call = posted.api == "api";
    shared.posted.lock().unwrap().push(posted);
    if shared.no_content_type.load(Ordering::SeqCst) {
        let mut response = Response::new(axum::body::Body::from("ok"));
        *response.status_mut() = StatusCode::OK;
        return response;
    }
    if api_call {
        api(json!({"ok": true, "channel": "C024BE91L", "ts": "1401383885.000061"}))
    } else {
        html(StatusCode::OK, "ok")
    }
}

/// The message of an incoming-webhook post, or Slack's 400 answer text.
fn webhook(is_json: bool, form: &[(String, String)], body: &[u8]) -> Result<Posted, &'static str> {
    let (encoding, message) = if is_json {
        ("json", serde_json::from_slice::<Value>(body).ok())
    } else {
        let payload = form.iter().find(|(k, _)| k == "payload").map(|(_, v)| v.as_str());
        ("form", payload.and_then(|p| serde_json::from_str::<Value>(p).ok()))
    };
    let message = message.filter(Value::is_object).ok_or("invalid_payload")?;
    match message.get("text").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => Ok(Posted { api: "webhook", encoding, channel: None, text: text.to_owned() }),
        _ => Err("no_text"),
    }
}

fn post_message(
    is_json: bool,
    headers: &HeaderMap,
    query: Option<&str>,
    form: &[(String, String)],
    body: &[u8],
) -> Result<Posted, &'static str> {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let (token, fields): (Option<String>, Vec<(String, String)>) = if is_json {
        // Slack reads a JSON body's token from the Authorization header only, never the query.
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let message: Value = serde_json::from_slice(body).map_err(|_| "invalid_json")?;
        let fields = message
            .as_object()
            .ok_or("invalid_json")?
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect();
        (bearer.map(str::to_owned), fields)
    } else {
        let field = query.iter().chain(form).find(|(k, _)| k == "token").map(|(_, v)| v.clone());
        (field, query.iter().chain(form).cloned().collect())
    };
    match token.as_deref() {
        None => return Err("not_authed"),
        Some(TOKEN) => {}
        Some(_) => return Err("invalid_auth"),
    }
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let channel = field("channel").ok_or("channel_not_found")?;
    if channel != CHANNEL {
        return Err("channel_not_found");
    }
    let text = field("text").filter(|t| !t.is_empty()).ok_or("no_text")?;
    Ok(Posted { api: "api", encoding: if is_json { "json" } else { "form" }, channel: Some(channel), text })
}
