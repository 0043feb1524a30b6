//! What the HTTP plugins share: one rule for turning a status or a transport error into a
//! [`SendError`], URL redaction so a token in a query string never reaches a log, the network
//! guard on every client that sends to tenant-chosen addresses (its resolver, its redirect
//! rule, the check of literal addresses before a request), and a bounded read of answers.

use super::{Reason, Receipt, SendError};
use crate::netguard::{self, Guard, Refused};

/// The most of an answer Tocsin reads: receipts, Slack's verdict and Jira's JSON are far
/// smaller. A longer answer is cut here and its connection dropped, so a receiver cannot
/// stream gigabytes into hundreds of concurrent sends.
pub const ANSWER_LIMIT: usize = 64 * 1024;

/// Redirects followed at most, each hop checked like the first request.
const MAX_REDIRECTS: usize = 5;

/// Makes a client safe for tenant-chosen addresses: names resolve only to addresses the guard
/// admits (`trusted` hosts are the operator's, such as the plugin's proxy), and redirects are
/// checked hop by hop. A client whose requests carry the operator's credentials
/// (`credentials`) follows no redirect to another host: the redirect answer is the result.
pub fn guarded(builder: reqwest::ClientBuilder, guard: &Guard, trusted: &[String], credentials: bool) -> reqwest::ClientBuilder {
    let hops = guard.clone();
    builder.dns_resolver(guard.resolver(trusted)).redirect(reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        if let Err(refused) = hops.check_literal(attempt.url()) {
            return attempt.error(refused);
        }
        let first = &attempt.previous()[0];
        let same_host = first.host_str() == attempt.url().host_str() && first.port_or_known_default() == attempt.url().port_or_known_default();
        if credentials && !same_host {
            return attempt.stop();
        }
        attempt.follow()
    }))
}

/// Checks a tenant-chosen URL before a request: a literal address never reaches the guarded
/// resolver, and Tocsin's own listeners are only known with their port.
pub async fn preflight(guard: &Guard, url: &url::Url, redacted: &str) -> Result<(), SendError> {
    guard.check_destination(url).await.map_err(|refused| refused_error(&refused, redacted))
}

/// A refused destination: permanent, since the address itself is the problem.
pub fn refused_error(refused: &Refused, redacted: &str) -> SendError {
    SendError::new(Reason::Invalid, format!("refused to send to {redacted}: {refused}"))
}

/// Hosts the operator named to receive its credentials (`[jira_notifier] servers`,
/// `[keystone] webhook_hosts`): `host`, `host:port`, or a URL whose scheme, host and port count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destinations {
    /// (scheme if given, lower-case host, port if given).
    entries: Vec<(Option<String>, String, Option<u16>)>,
}

impl Destinations {
    pub fn parse(entries: &[String]) -> Result<Destinations, String> {
        let mut parsed = Vec::new();
        for entry in entries {
            let as_url = if entry.contains("://") { url::Url::parse(entry).ok() } else { url::Url::parse(&format!("any://{entry}")).ok() };
            let Some(url) = as_url.filter(|u| u.host_str().is_some_and(|h| !h.is_empty()) && matches!(u.path(), "" | "/")) else {
                return Err(format!("{entry:?} is not a host, host:port or http(s):// URL"));
            };
            let scheme = (url.scheme() != "any").then(|| url.scheme().to_owned());
            if scheme.as_deref().is_some_and(|s| s != "http" && s != "https") {
                return Err(format!("{entry:?}: only http and https URLs name a destination"));
            }
            let port = if scheme.is_some() { url.port_or_known_default() } else { url.port() };
            parsed.push((scheme, url.host_str().unwrap_or_default().to_ascii_lowercase(), port));
        }
        Ok(Destinations { entries: parsed })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a request to `url` may carry the credentials.
    pub fn admits(&self, url: &url::Url) -> bool {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        self.entries.iter().any(|(scheme, h, port)| {
            *h == host && scheme.as_deref().is_none_or(|s| s == url.scheme()) && port.is_none_or(|p| Some(p) == url.port_or_known_default())
        })
    }

    /// The entries as written back, for `check-config`.
    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(scheme, host, port)| {
                let mut text = scheme.as_ref().map(|s| format!("{s}://")).unwrap_or_default() + host;
                if let Some(port) = port {
                    text.push_str(&format!(":{port}"));
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An answer's status and (the start of) its body.
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// The body was longer than [`ANSWER_LIMIT`]; the rest was not read.
    pub truncated: bool,
}

/// Reads at most `limit` bytes of the answer. Dropping the rest closes the connection.
pub async fn read_answer(mut response: reqwest::Response, limit: usize, url: &str) -> Result<Answer, SendError> {
    let status = response.status().as_u16();
    let mut body: Vec<u8> = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(e, url))? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned(), truncated })
}

/// Longest part of a response body kept in a [`Receipt`].
const ANSWER_EXCERPT: usize = 512;

/// A receipt for an HTTP answer: the status and the start of the body.
pub fn receipt(status: u16, body: &str) -> Receipt {
    let mut end = body.len().min(ANSWER_EXCERPT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < body.len() { "…" } else { "" };
    Receipt::new(format!("HTTP {status}: {}{ellipsis}", &body[..end]))
}

/// Classifies a status the plugin's own success rule rejected.
pub fn status_error(status: u16, url: &str) -> SendError {
    let reason = match status {
        401 | 403 | 407 => Reason::Auth,
        408 => Reason::Timeout,
        429 => Reason::RateLimited,
        500..=599 => Reason::Server,
        _ => Reason::Client,
    };
    let redirect = if (300..400).contains(&status) { " (a redirect that was not followed)" } else { "" };
    SendError::new(reason, format!("received HTTP code {status} when posting to {}{redirect}", redact_url(url)))
}

/// Classifies a transport error of reqwest; a refusal of the network guard is permanent.
pub fn transport_error(error: reqwest::Error, url: &str) -> SendError {
    if let Some(refused) = netguard::refusal_in(&error) {
        return refused_error(&refused, &redact_url(url));
    }
    let reason = if error.is_timeout() {
        Reason::Timeout
    } else if error.is_connect() || error.is_request() {
        Reason::Connect
    } else if error.is_builder() {
        Reason::Invalid
    } else {
        Reason::Connect
    };
    // reqwest's own text repeats the URL with its query; describe the error without it.
    let error = error.without_url();
    SendError::new(reason, format!("error posting to {}: {error}", redact_url(url)))
}

/// The URL without credentials and with every query value replaced by `****`.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else { return "<unparseable URL>".into() };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, _)| (k.into_owned(), "****".into())).collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_fixed_reasons_and_retryability() {
        let cases = [
            (404, Reason::Client, false),
            (400, Reason::Client, false),
            (401, Reason::Auth, false),
            (403, Reason::Auth, false),
            (407, Reason::Auth, false),
            (408, Reason::Timeout, true),
            (429, Reason::RateLimited, true),
            (500, Reason::Server, true),
            (503, Reason::Server, true),
            (302, Reason::Client, false),
        ];
        for (status, reason, retryable) in cases {
            let err = status_error(status, "http://h/");
            assert_eq!((err.reason, err.retryable), (reason, retryable), "status {status}");
        }
    }

    #[test]
    fn destinations_match_host_port_and_scheme_as_written() {
        let d = Destinations::parse(&["jira.example".into(), "https://hooks.example:8443".into(), "ops.example:8080".into()]).unwrap();
        let admits = |url: &str| d.admits(&url::Url::parse(url).unwrap());
        assert!(admits("https://jira.example/?project=A") && admits("http://JIRA.example:9999/"), "a bare host: any scheme and port");
        assert!(admits("https://hooks.example:8443/x") && !admits("https://hooks.example/x") && !admits("http://hooks.example:8443/"));
        assert!(admits("http://ops.example:8080/") && !admits("http://ops.example/"));
        assert!(!admits("https://jira.example.evil.example/") && !admits("https://evil.example/?jira.example"));
        for bad in ["ftp://x.example", "https://x.example/path", "", "a b"] {
            assert!(Destinations::parse(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn redaction_hides_credentials_and_query_values() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example/v2/room/1/notification?auth_token=SECRET&x=1"),
            "https://hooks.example/v2/room/1/notification?auth_token=****&x=****"
        );
        assert_eq!(redact_url("http://mock:3333/"), "http://mock:3333/");
        assert_eq!(redact_url("not a url"), "<unparseable URL>");
    }
}
