//! `[jira_notifier]`: Monasca's options (`timeout`, `user`, `password`, `custom_formatter`,
//! `proxy`) plus `issue_type` and `servers`. Everything is checked here, at start: the credentials must be set,
//! the proxy must be a URL and the custom formatter file must exist and parse, templates
//! included, so a bad file stops the start instead of failing every send. It opens no connection.

use super::formatter::Formatter;
use crate::config::{Error as ConfigError, Reader, Secret};
use crate::outbound::Destinations;
use std::path::PathBuf;
use std::time::Duration;

const SECTION: &str = "jira_notifier";

#[derive(Clone, Debug)]
pub struct JiraConfig {
    /// Bound on one whole send (search, create or reopen, comment), connections included.
    /// Monasca registered `timeout` (default 5) and ignored it.
    pub timeout: Duration,
    /// The Jira account issues are created with; also the `reporter` the search looks for.
    pub user: String,
    /// Its password or API token, sent as HTTP basic auth; never logged.
    pub password: Secret,
    /// The Jira servers these credentials may go to (Tocsin's option): a method's address
    /// names its server, and Monasca sent the credentials to whatever server that was.
    pub servers: Destinations,
    /// Path of the YAML file with `jira_format` templates, as configured (for `check-config`).
    pub custom_formatter: Option<PathBuf>,
    /// The templates of that file, read once here (Monasca re-read the file on every send).
    pub formatter: Option<Formatter>,
    /// Proxy for `https://` Jira addresses only, as Monasca's `proxies={'https': proxy}`;
    /// may hold credentials.
    pub proxy: Option<Secret>,
    /// The type of created issues (Monasca: always `Bug`).
    pub issue_type: String,
}

impl JiraConfig {
    pub fn read(r: &Reader) -> Result<JiraConfig, ConfigError> {
        let timeout = r.seconds(SECTION, "timeout", 5)?;
        let required = |key: &str| {
            r.opt_string(SECTION, key)
                .ok_or_else(|| r.invalid(SECTION, key, "required when the jira plugin is enabled"))
        };
        let user = required("user")?;
        let password = Secret::new(required("password")?);
        let servers = Destinations::parse(&r.list(SECTION, "servers", &[])).map_err(|e| r.invalid(SECTION, "servers", e))?;
        let (custom_formatter, formatter) = match r.opt_string(SECTION, "custom_formatter") {
            None => (None, None),
            Some(path) => {
                let path = PathBuf::from(path);
                let formatter = Formatter::load(&path).map_err(|message| r.invalid(SECTION, "custom_formatter", message))?;
                (Some(path), Some(formatter))
            }
        };
        let proxy = r.opt_string(SECTION, "proxy");
        if let Some(proxy) = &proxy {
            let valid = url::Url::parse(proxy).is_ok_and(|u| u.has_host()) && reqwest::Proxy::https(proxy.as_str()).is_ok();
            if !valid {
                // The value may hold a password: the message does not repeat it.
                return Err(r.invalid(SECTION, "proxy", "expected a proxy URL like http://proxy.example:8080"));
            }
        }
        let issue_type = r.string(SECTION, "issue_type", "Bug");
        Ok(JiraConfig { timeout, user, password, servers, custom_formatter, formatter, proxy: proxy.map(Secret::new), issue_type })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![
            ("timeout".into(), self.timeout.as_secs().to_string()),
            ("user".into(), self.user.clone()),
            ("password".into(), "****".into()),
            ("servers".into(), self.servers.render()),
            ("custom_formatter".into(), self.custom_formatter.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
            ("proxy".into(), self.proxy.as_ref().map(|p| masked_proxy(p.expose())).unwrap_or_default()),
            ("issue_type".into(), self.issue_type.clone()),
        ]
    }
}

/// The proxy URL with its password, if any, replaced by `****`.
pub(super) fn masked_proxy(proxy: &str) -> String {
    match url::Url::parse(proxy) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable URL>".into(),
    }
}
