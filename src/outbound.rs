//! What every client that calls out of Tocsin shares, whoever chose the address: answers read
//! only up to a bound, URLs redacted before they reach a log or an error, and the lists of hosts
//! an operator names as the only ones its credentials may go to ([`Destinations`]). It makes no
//! request and classifies no outcome; the plugins and the Keystone client do.

/// The most of an answer Tocsin reads: receipts, Slack's verdict and Jira's JSON are far
/// smaller. A longer answer is cut here and its connection dropped, so a receiver cannot
/// stream gigabytes into hundreds of concurrent sends.
pub const ANSWER_LIMIT: usize = 64 * 1024;

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
    /// The answer's `Retry-After`, as a wait from now.
    pub retry_after: Option<std::time::Duration>,
}

/// Reads at most `limit` bytes of the answer. Dropping the rest closes the connection.
pub async fn read_answer(mut response: reqwest::Response, limit: usize) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let mut body: Vec<u8> = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned(), truncated, retry_after })
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110, 10.2.3); a date in the past is no wait.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
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
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let headers = |value: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, value.parse().unwrap());
            h
        };
        assert_eq!(retry_after(&headers("120")), Some(std::time::Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(60));
        let wait = retry_after(&headers(&later)).unwrap();
        assert!((58..=60).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), Some(std::time::Duration::ZERO));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
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
