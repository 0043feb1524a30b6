//! A fake PagerDuty Events API on 127.0.0.1:0, validating events as PagerDuty does:
//! - v1, `POST /generic/2010-04-15/create_event.json`: JSON with a 32-character `service_key`,
//!   `event_type` trigger/acknowledge/resolve and, for triggers, a `description` of at most
//!   1024 characters; 200 `{"status": "success", …}` or 400 `invalid event` with `errors`;
//! - v2, `POST /v2/enqueue`: JSON with a 32-character `routing_key`, `event_action`, a
//!   `dedup_key` of at most 255 characters (needed to acknowledge or resolve) and, for triggers,
//!   a `payload` with `summary` (≤1024), `source` and `severity` (critical/error/warning/info);
//!   202 or 400.
//!
//! It keeps incidents by deduplication key (v2) so tests can see trigger then resolve, and can
//! be told to answer with a status (429 with PagerDuty's throttle body, 5xx) or slowly.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const V1_PATH: &str = "/generic/2010-04-15/create_event.json";
pub const V2_PATH: &str = "/v2/enqueue";

/// One event PagerDuty accepted: the request body exactly as received.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub path: String,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    accepted: Mutex<Vec<Accepted>>,
    /// Requests answered, accepted or not.
    requests: AtomicU64,
    /// v2 incidents by dedup key: `true` while open.
    incidents: Mutex<BTreeMap<String, bool>>,
    forced_status: AtomicU16,
    delay_ms: AtomicU64,
}

#[derive(Clone)]
pub struct FakePagerDuty {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakePagerDuty {
    pub async fn start() -> FakePagerDuty {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakePagerDuty { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.accepted.lock().unwrap().clone()
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Open (`true`) or resolved (`false`) incidents by dedup key.
    pub fn incidents(&self) -> BTreeMap<String, bool> {
        self.shared.incidents.lock().unwrap().clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.forced_status.store(status, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn invalid(errors: &[String]) -> Response {
    answer(StatusCode::BAD_REQUEST, json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}))
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match shared.forced_status.load(Ordering::SeqCst) {
        0 => {}
        429 => {
            let throttle = json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly.  Please retry later."});
            return answer(StatusCode::TOO_MANY_REQUESTS, throttle);
        }
        status => return answer(StatusCode::from_u16(status).unwrap(), json!({"status": "error"})),
    }
    let is_json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let event: Option<Value> = serde_json::from_slice(&body).ok().filter(Value::is_object);
    let (true, Some(event)) = (is_json, event) else {
        return invalid(&["Event object is not valid JSON".into()]);
    };
    let result = match uri.path() {
        V1_PATH => v1(&event).map(|()| (StatusCode::OK, json!({"status": "success", "message": "Event processed", "incident_key": "0f9ae1b2"}))),
        V2_PATH => v2(&event, &shared).map(|key| (StatusCode::ACCEPTED, json!({"status": "success", "message": "Event processed", "dedup_key": key}))),
        _ => return answer(StatusCode::NOT_FOUND, json!({"status": "not found"})),
    };
    match result {
        Ok((status, reply)) => {
            let received = String::from_utf8_lossy(&body).into_owned();
            shared.accepted.lock().unwrap().push(Accepted { path: uri.path().to_owned(), body: received });
            answer(status, reply)
        }
        Err(errors) => invalid(&errors),
    }
}

fn text<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn v1(event: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    match text(event, "service_key") {
        None => errors.push("Service key is missing".to_owned()),
        Some(key) if key.len() != 32 => errors.push("Service key is the wrong length (Should be 32 characters)".to_owned()),
        Some(_) => {}
    }
    match text(event, "event_type") {
        Some("trigger") => match text(event, "description") {
            None => errors.push("Description is missing or blank".to_owned()),
            Some(d) if d.chars().count() > 1024 => errors.push("Description is too long".to_owned()),
            Some(_) => {}
        },
        Some("acknowledge" | "resolve") => {
            if text(event, "incident_key").is_none() {
                errors.push("Incident key is missing or blank".to_owned());
            }
        }
        _ => errors.push("Event type is invalid (must be trigger, acknowledge or resolve)".to_owned()),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn v2(event: &Value, shared: &Shared) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    match text(event, "routing_key") {
        None => errors.push("'routing_key' is missing or blank".to_owned()),
        Some(key) if key.len() != 32 => errors.push("'routing_key' is invalid".to_owned()),
        Some(_) => {}
    }
    let dedup_key = text(event, "dedup_key");
    if dedup_key.is_some_and(|k| k.chars().count() > 255) {
        errors.push("'dedup_key' is too long".to_owned());
    }
    let action = text(event, "event_action");
    match action {
        Some("trigger") => match event.get("payload").filter(|p| p.is_object()) {
            None => errors.push("'payload' is missing".to_owned()),
            Some(payload) => {
                match text(payload, "summary") {
                    None => errors.push("'payload.summary' is missing or blank".to_owned()),
                    Some(s) if s.chars().count() > 1024 => errors.push("'payload.summary' is too long".to_owned()),
                    Some(_) => {}
                }
                if text(payload, "source").is_none() {
                    errors.push("'payload.source' is missing or blank".to_owned());
                }
                if !matches!(text(payload, "severity"), Some("critical" | "error" | "warning" | "info")) {
                    errors.push("'payload.severity' is invalid (must be critical, error, warning or info)".to_owned());
                }
                if let Some(timestamp) = payload.get("timestamp") {
                    if timestamp.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_none() {
                        errors.push("'payload.timestamp' is invalid".to_owned());
                    }
                }
            }
        },
        Some("acknowledge" | "resolve") => {
            if dedup_key.is_none() {
                errors.push("'dedup_key' is missing or blank".to_owned());
            }
        }
        _ => errors.push("'event_action' is invalid (must be trigger, acknowledge or resolve)".to_owned()),
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let key = dedup_key.map_or_else(|| "generated-0001".to_owned(), str::to_owned);
    let mut incidents = shared.incidents.lock().unwrap();
    match action {
        Some("trigger") => {
            incidents.insert(key.clone(), true);
        }
        Some("resolve") => {
            if let Some(open) = incidents.get_mut(&key) {
                *open = false;
            }
        }
        _ => {}
    }
    Ok(key)
}
