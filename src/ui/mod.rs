//! The operator console (`[ui] enabled`): a page, its script and its stylesheet, embedded in the
//! binary and served at `/ui/` on the HTTP listener, beside the API it is a client of.
//!
//! It serves files, nothing else: every action of the console is a request to the REST API
//! (`/v2.0/…`) with the tenant's token, so it can do nothing the API would refuse, and there is
//! no second code path to keep in step. Nothing is fetched from elsewhere at run time, and the
//! Content-Security-Policy forbids the page to load or send anything beyond this origin.

use crate::config::{Error, Reader};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// `[ui]`: whether the console is served.
#[derive(Clone, Debug)]
pub struct UiConfig {
    pub enabled: bool,
}

impl UiConfig {
    /// On by default where the API is, which it needs.
    pub fn read(r: &Reader, api_enabled: bool) -> Result<UiConfig, Error> {
        let enabled = r.bool("ui", "enabled", api_enabled)?;
        if enabled && !api_enabled {
            return Err(r.invalid("ui", "enabled", "the console is a client of the API: set [api] enabled = true as well"));
        }
        Ok(UiConfig { enabled })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![("enabled".into(), self.enabled.to_string())]
    }
}

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Same origin only; no inline script; no framing (clickjacking).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                      base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/ui/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/ui/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // A new build's console is fetched again; the files are small.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
