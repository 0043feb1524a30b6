//! The one client of Tocsin's REST API the tests use: requests as the tenant of a token,
//! answers as (status, JSON), whether the API is served by a running Tocsin or by a router a
//! test serves itself.

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct ApiClient {
    /// `http://host:port`; paths start with `/v2.0`.
    pub base: String,
    client: reqwest::Client,
}

impl ApiClient {
    pub fn new(http_addr: &str) -> ApiClient {
        let base = if http_addr.starts_with("http") { http_addr.to_owned() } else { format!("http://{http_addr}") };
        ApiClient { base, client: reqwest::Client::new() }
    }

    /// Sends a request as the tenant of `token` (no header when `None`); the status and the
    /// JSON answer (`null` for an empty one, a string for one that is not JSON).
    pub async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(token, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    /// A request to finish by hand (a raw body, the answer's headers).
    pub fn request(&self, token: Option<&str>, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => request.header("X-Auth-Token", token),
            None => request,
        }
    }

    /// POSTs `body` and asserts it was created; the created resource.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(Some(token), Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path} {body} answered {status}: {answer}");
        answer
    }
}
