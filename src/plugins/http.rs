//! What the HTTP plugins share: one rule for turning a status or a transport error into a
//! [`SendError`], and URL redaction so a token in a query string never reaches a log.

use super::{Reason, Receipt, SendError};

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
    SendError::new(reason, format!("received HTTP code {status} when posting to {}", redact_url(url)))
}

/// Classifies a transport error of reqwest.
pub fn transport_error(error: reqwest::Error, url: &str) -> SendError {
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
    fn redaction_hides_credentials_and_query_values() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example/v2/room/1/notification?auth_token=SECRET&x=1"),
            "https://hooks.example/v2/room/1/notification?auth_token=****&x=****"
        );
        assert_eq!(redact_url("http://mock:3333/"), "http://mock:3333/");
        assert_eq!(redact_url("not a url"), "<unparseable URL>");
    }
}
