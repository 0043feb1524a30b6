//! What the HTTP plugins share: one rule for turning a status or a transport error into a
//! [`SendError`], the network guard on every client that sends to tenant-chosen addresses (its
//! resolver, its redirect rule, the check of literal addresses before a request), and a bounded
//! read of answers as a send's result (the reading itself is `crate::outbound`'s).

use super::{Reason, Receipt, SendError};
use crate::netguard::{self, Guard, Refused};

pub use crate::outbound::{redact_url, retry_after, Answer, ANSWER_LIMIT};

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
/// `redacted` names the URL in a refusal; it is asked for only then, since redacting costs a
/// parse and most sends are not refused.
pub async fn preflight(guard: &Guard, url: &url::Url, redacted: impl FnOnce() -> String) -> Result<(), SendError> {
    guard.check_destination(url).await.map_err(|refused| refused_error(&refused, &redacted()))
}

/// A refused destination: permanent, since the address itself is the problem.
pub fn refused_error(refused: &Refused, redacted: &str) -> SendError {
    SendError::new(Reason::Invalid, format!("refused to send to {redacted}: {refused}"))
}

/// Reads at most `limit` bytes of the answer (`crate::outbound::read_answer`); a failure to
/// read it is a transport error of the send.
pub async fn read_answer(response: reqwest::Response, limit: usize, url: &str) -> Result<Answer, SendError> {
    crate::outbound::read_answer(response, limit).await.map_err(|e| transport_error(e, url))
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

/// The host and port part of a URL as written (without credentials): the destination of a
/// send to a tenant's address. Anything that is not a URL is its own destination.
pub fn authority(address: &str) -> &str {
    let Some((_, rest)) = address.split_once("://") else { return address };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
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
    let mut error = SendError::new(reason, format!("received HTTP code {status} when posting to {}{redirect}", redact_url(url)));
    error.overloaded |= status == 503;
    error
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

/// Tenant URLs parsed once and kept, since a method's address is the same on every send and
/// parsing one (with its IDNA step) was 5 % of the notification path's CPU (BENCHMARKS.md).
/// Holds at most [`ParsedUrls::CAPACITY`] addresses, forgetting them all when full, so that
/// tenants cannot grow it without bound.
#[derive(Default)]
pub struct ParsedUrls {
    parsed: std::sync::Mutex<std::collections::HashMap<Box<str>, url::Url>>,
}

impl ParsedUrls {
    const CAPACITY: usize = 4096;

    pub fn parse(&self, address: &str) -> Result<url::Url, url::ParseError> {
        if let Some(url) = self.parsed.lock().expect("lock poisoned").get(address) {
            return Ok(url.clone());
        }
        let url = url::Url::parse(address)?;
        let mut parsed = self.parsed.lock().expect("lock poisoned");
        if parsed.len() >= Self::CAPACITY {
            parsed.clear();
        }
        parsed.insert(address.into(), url.clone());
        Ok(url)
    }
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
            assert_eq!(err.overloaded, matches!(status, 408 | 429 | 503), "status {status}");
        }
    }

    #[test]
    fn the_authority_is_host_and_port_without_credentials() {
        assert_eq!(authority("http://127.0.0.1:8080/hook?x=1"), "127.0.0.1:8080");
        assert_eq!(authority("https://user:secret@hooks.example/a"), "hooks.example");
        assert_eq!(authority("https://hooks.example?token=a@b"), "hooks.example");
        assert_eq!(authority("mailto:ops@example.com"), "mailto:ops@example.com");
    }

    #[test]
    fn parsed_urls_are_the_parser_s_and_their_number_is_bounded() {
        let urls = ParsedUrls::default();
        let kept = || urls.parsed.lock().unwrap().len();
        assert_eq!(urls.parse("http://Hooks.Example:80/a?b=1").unwrap().as_str(), "http://hooks.example/a?b=1");
        assert_eq!(urls.parse("http://Hooks.Example:80/a?b=1").unwrap().as_str(), "http://hooks.example/a?b=1");
        assert!(urls.parse("not a url").is_err());
        assert_eq!(kept(), 1, "a failed parse is not kept");
        for n in 0..ParsedUrls::CAPACITY + 10 {
            urls.parse(&format!("http://h{n}.example/")).unwrap();
            assert!(kept() <= ParsedUrls::CAPACITY);
        }
        assert_eq!(urls.parse("http://h5.example/x").unwrap().host_str(), Some("h5.example"));
    }
}
