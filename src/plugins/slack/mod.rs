//! The Slack plugin (Monasca type `SLACK`): posts `{"text": T}` to an incoming-webhook URL or to
//! the legacy `chat.postMessage` API, where T is the standard body as indented JSON or the
//! operator's Jinja template rendered with it.
//!
//! Wire behaviour follows Monasca: `#` in the address is sent as `%23` (channel names), the
//! address's query is re-sent as parameters, the message is tried as JSON and then as a form
//! (`text=…`), and a URL that only accepted the form is remembered (at most 100 URLs, never
//! evicted) so later sends go straight to the form. Success is a 2xx answer that says so: a JSON
//! answer with a truthy `ok`, or the text `ok`. Unlike Monasca, certificates are verified unless
//! `insecure = true`, a transport failure is not repeated in the other encoding, and no log or
//! error shows the webhook URL's path or query (they hold its secret). Since a send may make
//! two requests, the plugin asks the dispatcher for twice the configured `timeout`.

mod config;
mod template;
pub(crate) mod transport;

pub use config::SlackConfig;
pub use template::MessageTemplate;
pub use transport::{mask_password, TransportOptions, Verification};

use super::{http, standard_body, BuildError, Plugin, Reason, Receipt, Rendered, SendError};
use crate::model::Notification;
use crate::netguard::Guard;
use crate::pyjson;
use std::sync::Mutex;
use std::time::Duration;

/// Monasca's `MAX_CACHE_SIZE`: beyond it, new raw-data URLs are not remembered (older entries
/// are trusted more than newer ones, which may come from someone registering many URLs).
pub const RAW_DATA_CACHE_SIZE: usize = 100;

pub struct Slack {
    /// Built once so connections to Slack are reused across sends; guarded.
    client: reqwest::Client,
    guard: Guard,
    /// Bound on one request; a send may make two.
    request_timeout: Duration,
    template: Option<MessageTemplate>,
    /// URLs (without query) that accepted only the form encoding. Monasca kept this per
    /// process; here one plugin instance serves the whole process, so it is shared. A std mutex:
    /// it is never held across an await.
    raw_data_urls: Mutex<Vec<String>>,
}

/// The two encodings of `{"text": T}`, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
}

impl Encoding {
    fn as_str(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Form => "data",
        }
    }
}

/// Why one attempt failed: an answer (worth trying the other encoding) or no answer at all.
enum Failure {
    Answered(SendError),
    Transport(SendError),
}

impl Slack {
    pub fn new(config: &SlackConfig, connections_per_host: usize, guard: &Guard) -> Result<Slack, BuildError> {
        Ok(Slack {
            client: config.transport.client("slack", connections_per_host, guard)?,
            guard: guard.clone(),
            request_timeout: config.transport.timeout,
            template: config.message_template.clone(),
            raw_data_urls: Mutex::new(Vec::new()),
        })
    }

    /// The message text: the template's output, or `json.dumps(standard_body, indent=3)`.
    pub fn text(&self, notification: &Notification) -> Result<String, SendError> {
        let body = standard_body(notification);
        match &self.template {
            None => Ok(pyjson::to_string_indented(&body, 3)),
            Some(template) => template
                .render(&body)
                .map_err(|e| SendError::new(Reason::Invalid, format!("cannot render message_template: {e}"))),
        }
    }

    fn cached(&self, url: &str) -> bool {
        self.raw_data_urls.lock().expect("no panic while holding the lock").iter().any(|u| u == url)
    }

    fn remember_raw_data_url(&self, url: &str) {
        let mut urls = self.raw_data_urls.lock().expect("no panic while holding the lock");
        if urls.len() < RAW_DATA_CACHE_SIZE && !urls.iter().any(|u| u == url) {
            urls.push(url.to_owned());
        }
    }

    async fn attempt(&self, target: &Target, encoding: Encoding, text: &str) -> Result<Receipt, Failure> {
        tracing::debug!(plugin = "slack", url = %target.redacted, format = encoding.as_str(), "trying to send message");
        let request = self.client.post(target.url.as_str()).query(&target.query);
        let request = match encoding {
            Encoding::Json => request
                .header("content-type", "application/json")
                .body(pyjson::to_string(&serde_json::json!({ "text": text }))),
            Encoding::Form => request.form(&[("text", text)]),
        };
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(http::transport_error(e, &target.redacted)))?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let answer = http::read_answer(response, http::ANSWER_LIMIT, &target.redacted).await.map_err(Failure::Transport)?;
        let (status, body) = (answer.status, answer.body);
        if !(200..300).contains(&status) {
            return Err(Failure::Answered(http::status_error(status, &target.redacted).with_retry_after(answer.retry_after)));
        }
        if answer.truncated {
            let detail = format!("Slack at {} answered more than {} bytes; the answer was not read", target.redacted, http::ANSWER_LIMIT);
            return Err(Failure::Answered(SendError::new(Reason::Rejected, detail)));
        }
        match check_answer(content_type.as_deref(), &body) {
            Ok(()) => Ok(http::receipt(status, &body)),
            Err(problem) => Err(Failure::Answered(SendError::new(
                Reason::Rejected,
                format!("Slack at {} refused the message: {problem}", target.redacted),
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Plugin for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_slack_count"
    }

    /// Two requests' worth: the JSON attempt and the form attempt.
    fn timeout(&self) -> Duration {
        self.request_timeout * 2
    }

    fn validate_address(&self, address: &str) -> Result<(), String> {
        let target = Target::parse(address)?;
        let url = &target.url;
        if url.host_str() == Some("hooks.slack.com") && !url.path().starts_with("/services/") {
            return Err("a Slack incoming-webhook URL looks like https://hooks.slack.com/services/T…/B…/…".into());
        }
        if url.path().ends_with("/chat.postMessage") {
            for key in ["token", "channel"] {
                if !target.query.iter().any(|(k, _)| k == key) {
                    return Err(format!("a chat.postMessage address needs ?token=…&channel=… (no {key} given)"));
                }
            }
        }
        Ok(())
    }

    /// Slack limits each incoming webhook on its own (and answers 429 with a Retry-After for
    /// it), so one channel's limit must not hold back every other on hooks.slack.com.
    fn destination<'a>(&self, notification: &'a Notification) -> &'a str {
        let address = notification.address();
        address.split(['?', '#']).next().unwrap_or(address)
    }

    /// The JSON form Slack is sent first (a form post follows only if Slack refuses JSON).
    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        Ok(Rendered { content_type: "application/json", body: pyjson::to_string(&serde_json::json!({ "text": self.text(notification)? })) })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let text = self.text(notification)?;
        let target = Target::parse(notification.address()).map_err(|e| SendError::new(Reason::Invalid, e))?;
        http::preflight(&self.guard, &target.url, || target.redacted.clone()).await?;
        let encodings: &[Encoding] =
            if self.cached(target.url.as_str()) { &[Encoding::Form] } else { &[Encoding::Json, Encoding::Form] };
        let mut refusals: Vec<(Encoding, SendError)> = Vec::new();
        for &encoding in encodings {
            match self.attempt(&target, encoding, &text).await {
                Ok(receipt) => {
                    if encoding == Encoding::Form {
                        self.remember_raw_data_url(target.url.as_str());
                    }
                    return Ok(receipt);
                }
                // The other encoding would meet the same unreachable or silent server.
                Err(Failure::Transport(error)) => return Err(error),
                Err(Failure::Answered(error)) => {
                    tracing::debug!(plugin = "slack", url = %target.redacted, format = encoding.as_str(), error = %error.detail, "failed to send message");
                    refusals.push((encoding, error));
                }
            }
        }
        let (_, last) = refusals.last().cloned().expect("at least one encoding is tried");
        let detail = refusals.iter().map(|(e, err)| format!("as {}: {}", e.as_str(), err.detail)).collect::<Vec<_>>().join("; ");
        Err(SendError { detail, ..last })
    }
}

/// Where a Slack address posts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The address without query and fragment, `#` read as `%23`.
    pub url: url::Url,
    /// Monasca's `parse_qs(query)` re-sent as `params`: values decoded, blank ones dropped,
    /// repeated keys grouped in first-seen order.
    pub query: Vec<(String, String)>,
    /// Scheme, host, port and first path segment only: safe for logs.
    pub redacted: String,
}

impl Target {
    pub fn parse(address: &str) -> Result<Target, String> {
        // `#` is how Slack channels start; unescaped it would end the URL and start a fragment.
        let escaped = address.replace('#', "%23");
        let url = url::Url::parse(&escaped)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| "the address is not an http:// or https:// URL".to_owned())?;
        let (url, query) = split_query(url);
        let redacted = redact(&url);
        Ok(Target { url, query, redacted })
    }
}

/// Monasca's `urljoin(address, path)` and `parse_qs(query)`: the URL without query and fragment,
/// and the query's pairs, decoded, blank values dropped, repeated keys grouped in first-seen
/// order (as `requests` re-encodes a dict of lists).
pub fn split_query(mut url: url::Url) -> (url::Url, Vec<(String, String)>) {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in url.query_pairs() {
        if value.is_empty() {
            continue;
        }
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value.into_owned()),
            None => grouped.push((key.into_owned(), vec![value.into_owned()])),
        }
    }
    url.set_query(None);
    url.set_fragment(None);
    let query = grouped.into_iter().flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v))).collect();
    (url, query)
}

/// `https://hooks.slack.com/services/****`: the path after its first segment is the webhook's
/// secret, so it never reaches a log or an error.
fn redact(url: &url::Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let mut segments = url.path_segments().into_iter().flatten().filter(|s| !s.is_empty());
    if let Some(first) = segments.next() {
        out.push('/');
        out.push_str(first);
    }
    if segments.next().is_some() {
        out.push_str("/****");
    }
    out
}

/// Monasca's `_check_response`: a JSON answer needs a truthy `ok`; any other answer must be the
/// text `ok`. An answer without a Content-Type is a failure (Monasca raised on it).
fn check_answer(content_type: Option<&str>, body: &str) -> Result<(), String> {
    let Some(content_type) = content_type else {
        return Err("the answer has no Content-Type".into());
    };
    if content_type.contains("application/json") {
        let answer: serde_json::Value =
            serde_json::from_str(body).map_err(|_| format!("the JSON answer does not parse: {}", excerpt(body)))?;
        let Some(answer) = answer.as_object() else {
            return Err(format!("the JSON answer is not an object: {}", excerpt(body)));
        };
        if answer.get("ok").is_some_and(python_truthy) {
            return Ok(());
        }
        let error = match answer.get("error") {
            None | Some(serde_json::Value::Null) => "None".to_owned(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        return Err(format!("error={}", excerpt(&error)));
    }
    if body == "ok" {
        Ok(())
    } else {
        Err(format!("error={}", excerpt(body)))
    }
}

fn python_truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// At most 200 characters of an answer, for error details.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod scripted;
#[cfg(test)]
mod tests;
