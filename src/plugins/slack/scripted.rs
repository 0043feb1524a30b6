//! For unit tests of the HTTP plugins: a real HTTP server on 127.0.0.1:0 that answers each
//! request with the next scripted answer (like the `side_effect` lists of Monasca's mocked
//! `requests.post`) and records what it received. Integration tests use fuller fakes that speak
//! each service's protocol; this one only replays.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer: status, Content-Type (or none at all), body, delay before answering.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn new(status: u16, content_type: Option<&'static str>, body: &str) -> Answer {
        Answer { status, content_type, body: body.to_owned(), delay: Duration::ZERO }
    }

    pub fn json(status: u16, body: &str) -> Answer {
        Answer::new(status, Some("application/json"), body)
    }

    pub fn text(status: u16, body: &str) -> Answer {
        Answer::new(status, Some("application/text"), body)
    }

    pub fn delayed(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The decoded pairs of a form body.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes()).into_owned().collect()
    }
}

#[derive(Default)]
struct Shared {
    answers: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Recorded>>,
}

#[derive(Clone)]
pub struct Scripted {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl Scripted {
    pub async fn start(answers: Vec<Answer>) -> Scripted {
        let shared = Arc::new(Shared { answers: Mutex::new(answers.into()), ..Default::default() });
        let app = axum::Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Scripted { addr, shared }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    shared.received.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let next = shared.answers.lock().unwrap().pop_front();
    let Some(answer) = next else {
        return (StatusCode::IM_A_TEAPOT, "no answer scripted").into_response();
    };
    tokio::time::sleep(answer.delay).await;
    let mut response = Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    if let Some(content_type) = answer.content_type {
        response.headers_mut().insert("content-type", content_type.parse().unwrap());
    }
    response
}
