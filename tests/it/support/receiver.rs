//! A real HTTP server on 127.0.0.1:0 standing in for a webhook endpoint. It records every
//! request and answers with the status the test sets, optionally after a delay.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// When the request arrived.
    pub at: Instant,
    /// Requests in progress when it arrived, itself included.
    pub at_once: usize,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    /// Requests still to be answered with `failing_status` before `status` applies.
    failures_left: AtomicU64,
    failing_status: AtomicU16,
    /// Sent as `Retry-After` with every answer that is not a 2xx.
    retry_after: Mutex<Option<String>>,
    in_progress: AtomicUsize,
    most_at_once: AtomicUsize,
    /// Set while the endpoint is down ([`Receiver::go_down`]).
    down: std::sync::atomic::AtomicBool,
    /// The server task, aborted to stop listening.
    server: Mutex<Option<tokio::task::AbortHandle>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared { status: AtomicU16::new(200), ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver { addr: listener.local_addr().unwrap(), shared };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new().fallback(record).with_state(self.shared.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        *self.shared.server.lock().unwrap() = Some(task.abort_handle());
    }

    /// The endpoint goes away: new connections are refused, and a request on a connection
    /// that was already open is answered 503 and the connection closed.
    pub fn go_down(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        if let Some(server) = self.shared.server.lock().unwrap().take() {
            server.abort();
        }
    }

    /// The endpoint is back, on the same address.
    pub async fn come_up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.shared.down.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status`, then as before.
    pub fn fail_first(&self, n: u64, status: u16) {
        self.shared.failing_status.store(status, Ordering::SeqCst);
        self.shared.failures_left.store(n, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Answers that are not a 2xx carry `Retry-After: {value}`.
    pub fn retry_after(&self, value: &str) {
        *self.shared.retry_after.lock().unwrap() = Some(value.to_owned());
    }

    /// The most requests that were in progress at once.
    pub fn most_at_once(&self) -> usize {
        self.shared.most_at_once.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }
}

async fn record(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    if shared.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::CONNECTION, "close")]).into_response();
    }
    let at_once = shared.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_at_once.fetch_max(at_once, Ordering::SeqCst);
    let at = Instant::now();
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    shared.in_progress.fetch_sub(1, Ordering::SeqCst);
    shared.requests.lock().unwrap().push(Request { path: uri.path().to_owned(), headers, body: String::from_utf8_lossy(&body).into_owned(), at, at_once });
    let failing = shared.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = StatusCode::from_u16(if failing { &shared.failing_status } else { &shared.status }.load(Ordering::SeqCst)).unwrap();
    match shared.retry_after.lock().unwrap().clone() {
        Some(wait) if !status.is_success() => (status, [(axum::http::header::RETRY_AFTER, wait)]).into_response(),
        _ => status.into_response(),
    }
}
