//! A fake HipChat server (API v2 room notifications) on 127.0.0.1:0, validating requests as
//! HipChat did: `POST /v2/room/<room>/notification` with the token in `auth_token` (query) or a
//! Bearer header (401 otherwise), a known room (404), and a form or JSON body with `message`
//! (1–10000 characters), `message_format` html/text, `color` yellow/green/red/purple/gray/random
//! and an optional boolean `notify` (400 otherwise). Success is 204 No Content. Tests can make it
//! answer with a status or slowly.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ROOM: &str = "42";
pub const TOKEN: &str = "SECRETROOMTOKEN";

/// One notification HipChat accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub room: String,
    pub color: Option<String>,
    pub message_format: Option<String>,
    pub message: String,
    pub notify: Option<bool>,
    /// The request's Content-Type.
    pub content_type: String,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    requests: AtomicU64,
    forced_status: AtomicU16,
    delay_ms: AtomicU64,
}

#[derive(Clone)]
pub struct FakeHipChat {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeHipChat {
    pub async fn start() -> FakeHipChat {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeHipChat { addr, shared }
    }

    /// The address of a room, with a token.
    pub fn address(&self, room: &str, token: &str) -> String {
        format!("http://{}/v2/room/{room}/notification?auth_token={token}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.forced_status.store(status, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "type": status.canonical_reason()}});
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let forced = shared.forced_status.load(Ordering::SeqCst);
    if forced != 0 {
        return error(StatusCode::from_u16(forced).unwrap(), "forced failure");
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let token = query
        .iter()
        .find(|(k, _)| k == "auth_token")
        .map(|(_, v)| v.clone())
        .or_else(|| headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned));
    if token.as_deref() != Some(TOKEN) {
        return error(StatusCode::UNAUTHORIZED, "Invalid OAuth session");
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let room = match segments.as_slice() {
        ["v2", "room", room, "notification"] if *room == ROOM => (*room).to_owned(),
        ["v2", "room", _, "notification"] => return error(StatusCode::NOT_FOUND, "Room not found"),
        _ => return error(StatusCode::NOT_FOUND, "Not found"),
    };
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let fields: Vec<(String, Value)> = if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.as_object().cloned()) {
            Some(object) => object.into_iter().collect(),
            None => return error(StatusCode::BAD_REQUEST, "Invalid JSON"),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&body).into_owned().map(|(k, v)| (k, Value::String(v))).collect()
    } else {
        return error(StatusCode::BAD_REQUEST, "Unsupported content type");
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let text = |name: &str| field(name).and_then(|v| v.as_str().map(str::to_owned));
    let message = match text("message") {
        Some(m) if !m.is_empty() && m.chars().count() <= 10000 => m,
        _ => return error(StatusCode::BAD_REQUEST, "message: must be between 1 and 10000 characters"),
    };
    let message_format = text("message_format");
    if message_format.as_deref().is_some_and(|f| !matches!(f, "html" | "text")) {
        return error(StatusCode::BAD_REQUEST, "message_format: must be html or text");
    }
    let color = text("color");
    if color.as_deref().is_some_and(|c| !matches!(c, "yellow" | "green" | "red" | "purple" | "gray" | "random")) {
        return error(StatusCode::BAD_REQUEST, "color: not a valid color");
    }
    let notify = match field("notify") {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s == "true" => Some(true),
        Some(Value::String(s)) if s == "false" => Some(false),
        Some(_) => return error(StatusCode::BAD_REQUEST, "notify: must be a boolean"),
    };
    shared.received.lock().unwrap().push(Received { room, color, message_format, message, notify, content_type });
    StatusCode::NO_CONTENT.into_response()
}
