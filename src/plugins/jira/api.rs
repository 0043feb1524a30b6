//! The few Jira REST API v2 calls the plugin makes (search, create, transitions, comment), each
//! bounded by what is left of the send's time and turned into a [`SendError`] on failure.
//!
//! Error details name the step, the status and Jira's own error messages, with the URL redacted;
//! they never contain the password (it only travels in the `Authorization` header).

use super::super::{Reason, SendError};
use super::fields::Target;
use crate::plugins::http;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Longest part of Jira's error messages kept in an error detail.
const MESSAGE_EXCERPT: usize = 300;

/// What one send uses to talk to one Jira server.
pub struct Api<'a> {
    pub client: &'a reqwest::Client,
    pub target: &'a Target,
    pub user: &'a str,
    pub password: &'a str,
    /// When the send's time runs out; each request gets what is left.
    pub deadline: Instant,
    /// The bound the deadline came from, for error details.
    pub timeout: Duration,
    /// Set once the server answered 410 Gone to `/search` (Jira Cloud removed it for
    /// `/search/jql`); shared by all sends of the plugin.
    pub enhanced_search: &'a AtomicBool,
}

/// An issue the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundIssue {
    pub key: String,
    /// The status name (`Open`, `Resolved`, …), empty when Jira did not say.
    pub status: String,
}

/// A workflow transition of an issue; the id is kept as Jira wrote it.
#[derive(Clone, Debug, Deserialize)]
pub struct Transition {
    pub id: Value,
    pub name: String,
}

impl Api<'_> {
    /// The first issue the JQL finds (Monasca took the first of the result page).
    pub async fn search(&self, jql: &str) -> Result<Option<FoundIssue>, SendError> {
        const STEP: &str = "searching for the alarm's issue";
        if !self.enhanced_search.load(Ordering::Relaxed) {
            let (url, answer) = self.search_at("search", jql).await?;
            if answer.status != 410 {
                return parse_search(STEP, &url, answer);
            }
            tracing::info!(plugin = "jira", "the Jira server retired /rest/api/2/search (410 Gone); using /rest/api/2/search/jql");
            self.enhanced_search.store(true, Ordering::Relaxed);
        }
        let (url, answer) = self.search_at("search/jql", jql).await?;
        parse_search(STEP, &url, answer)
    }

    async fn search_at(&self, path: &str, jql: &str) -> Result<(url::Url, Answer), SendError> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut url = self.target.endpoint(&segments);
        url.query_pairs_mut().append_pair("jql", jql).append_pair("maxResults", "1").append_pair("fields", "status");
        let answer = self.request("searching for the alarm's issue", Method::GET, &url, None).await?;
        Ok((url, answer))
    }

    /// Creates an issue and returns its key.
    pub async fn create(&self, fields: &Value) -> Result<String, SendError> {
        const STEP: &str = "creating the issue";
        #[derive(Deserialize)]
        struct Created {
            key: String,
        }
        let url = self.target.endpoint(&["issue"]);
        let answer = self.request(STEP, Method::POST, &url, Some(&json!({"fields": fields}))).await?;
        let answer = success(STEP, &url, answer)?;
        parse::<Created>(STEP, &answer).map(|c| c.key)
    }

    pub async fn transitions(&self, key: &str) -> Result<Vec<Transition>, SendError> {
        const STEP: &str = "listing the issue's transitions";
        #[derive(Deserialize)]
        struct Transitions {
            #[serde(default)]
            transitions: Vec<Transition>,
        }
        let url = self.target.endpoint(&["issue", key, "transitions"]);
        let answer = success(STEP, &url, self.request(STEP, Method::GET, &url, None).await?)?;
        parse::<Transitions>(STEP, &answer).map(|t| t.transitions)
    }

    pub async fn transition(&self, key: &str, id: &Value) -> Result<(), SendError> {
        const STEP: &str = "reopening the issue";
        let url = self.target.endpoint(&["issue", key, "transitions"]);
        let body = json!({"transition": {"id": id}});
        success(STEP, &url, self.request(STEP, Method::POST, &url, Some(&body)).await?).map(drop)
    }

    pub async fn comment(&self, key: &str, text: &str) -> Result<(), SendError> {
        const STEP: &str = "adding the comment";
        let url = self.target.endpoint(&["issue", key, "comment"]);
        let body = json!({"body": text});
        success(STEP, &url, self.request(STEP, Method::POST, &url, Some(&body)).await?).map(drop)
    }

    async fn request(&self, step: &str, method: Method, url: &url::Url, body: Option<&Value>) -> Result<Answer, SendError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SendError::new(Reason::Timeout, format!("{step}: the send took longer than {:?}", self.timeout)));
        }
        let mut request = self
            .client
            .request(method, url.clone())
            .basic_auth(self.user, Some(self.password))
            .header(reqwest::header::ACCEPT, "application/json")
            // What Jira's XSRF check wants from API clients (the Python library sent it too).
            .header("X-Atlassian-Token", "no-check")
            .timeout(left);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport_error(step, e, url))?;
        let answer = http::read_answer(response, http::ANSWER_LIMIT, url.as_str()).await?;
        if answer.truncated {
            return Err(SendError::new(
                Reason::Server,
                format!("{step}: Jira at {} answered more than {} bytes; the answer was not read", http::redact_url(url.as_str()), http::ANSWER_LIMIT),
            ));
        }
        Ok(Answer { status: answer.status, body: answer.body, retry_after: answer.retry_after })
    }
}

/// A status and body as received.
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<std::time::Duration>,
}

fn success(step: &str, url: &url::Url, answer: Answer) -> Result<String, SendError> {
    if (200..300).contains(&answer.status) {
        return Ok(answer.body);
    }
    let classified = http::status_error(answer.status, url.as_str());
    let said = jira_messages(&answer.body).map(|m| format!(": {m}")).unwrap_or_default();
    let detail = format!("{step}: Jira answered HTTP {} at {}{said}", answer.status, http::redact_url(url.as_str()));
    Err(SendError { detail, retry_after: answer.retry_after, ..classified })
}

fn parse_search(step: &str, url: &url::Url, answer: Answer) -> Result<Option<FoundIssue>, SendError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        issues: Vec<Issue>,
    }
    #[derive(Deserialize)]
    struct Issue {
        key: String,
        #[serde(default)]
        fields: Option<Value>,
    }
    let body = success(step, url, answer)?;
    let page = parse::<Page>(step, &body)?;
    Ok(page.issues.into_iter().next().map(|issue| {
        let status = issue.fields.as_ref().and_then(|f| f["status"]["name"].as_str()).unwrap_or_default().to_owned();
        FoundIssue { key: issue.key, status }
    }))
}

/// A success answer that is not the JSON Jira sends (an SSO login page, a proxy's page):
/// counted as a server fault, since the request itself was fine.
fn parse<T: serde::de::DeserializeOwned>(step: &str, body: &str) -> Result<T, SendError> {
    serde_json::from_str(body).map_err(|e| SendError::new(Reason::Server, format!("{step}: Jira's answer is not the expected JSON ({e})")))
}

fn transport_error(step: &str, error: reqwest::Error, url: &url::Url) -> SendError {
    if let Some(refused) = crate::netguard::refusal_in(&error) {
        let mut refused = http::refused_error(&refused, &http::redact_url(url.as_str()));
        refused.detail = format!("{step}: {}", refused.detail);
        return refused;
    }
    let reason = if error.is_timeout() {
        Reason::Timeout
    } else if error.is_builder() {
        Reason::Invalid
    } else {
        Reason::Connect
    };
    // reqwest's own text repeats the URL with its query; describe the error without it.
    let error = error.without_url();
    SendError::new(reason, format!("{step}: no answer from {}: {error}", http::redact_url(url.as_str())))
}

/// Jira's `errorMessages` and `errors` joined, shortened; `None` when the body has neither.
fn jira_messages(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let mut messages: Vec<String> = value["errorMessages"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if let Some(errors) = value["errors"].as_object() {
        messages.extend(errors.iter().map(|(field, m)| format!("{field}: {}", m.as_str().unwrap_or_default())));
    }
    if messages.is_empty() {
        return None;
    }
    let mut text = messages.join("; ");
    if text.len() > MESSAGE_EXCERPT {
        let mut end = MESSAGE_EXCERPT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    Some(text)
}
