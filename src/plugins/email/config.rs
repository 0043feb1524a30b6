//! `[email_notifier]`: Monasca's options with Monasca's defaults, plus the TLS options Monasca
//! lacked (`tls`, `ca_certs`, `insecure`). Reading checks the values' shape only; whether a
//! server is configured at all is judged when the plugin is built, because Monasca's default
//! configuration enables email without one and must still start.

use crate::config::{Error as ConfigError, Reader};
use std::path::PathBuf;
use std::time::Duration;

const SECTION: &str = "email_notifier";

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP, as monasca-notification always did (`tls = none`).
    None,
    /// Plain connection upgraded with STARTTLS; a server that does not offer it fails the send
    /// (`tls = starttls`, usually port 587 or 25).
    StartTls,
    /// TLS from the first byte, "SMTPS" (`tls = tls`, usually port 465; the port is not implied).
    Implicit,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "tls",
        }
    }

    fn parse(value: &str) -> Option<TlsMode> {
        [TlsMode::None, TlsMode::StartTls, TlsMode::Implicit]
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

/// `[email_notifier]`. Its `Debug` masks the password.
#[derive(Clone)]
pub struct EmailConfig {
    /// SMTP server host name or address (Monasca: `server`, no default). Without it the plugin
    /// is still registered, so the engine starts, but every send fails as permanent.
    pub server: Option<String>,
    /// SMTP port (Monasca: `port`, default 25).
    pub port: u16,
    /// Login name; the plugin authenticates only when both `user` and `password` are set.
    pub user: Option<String>,
    /// Secret: never rendered, logged or put in an error.
    pub password: Option<String>,
    /// Bound on one send, connecting included (Monasca: `timeout`, seconds, default 5, min 1).
    pub timeout: Duration,
    /// Envelope sender and `From:` header (Monasca: `from_addr`, no default). Either a bare
    /// address or `Name <address>`.
    pub from_addr: Option<String>,
    /// Grafana base URL for the "Link to Grafana" line (Monasca: `grafana_url`, no default;
    /// unset renders `None` as Monasca did).
    pub grafana_url: Option<String>,
    /// Connection protection (`none`, `starttls` or `tls`; default `none`, Monasca's plain SMTP).
    pub tls: TlsMode,
    /// PEM bundle of the CAs trusted for the server's certificate, replacing the built-in roots.
    pub ca_certs: Option<PathBuf>,
    /// Accept any server certificate (`insecure = true`); verification is on otherwise.
    pub insecure: bool,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            server: None,
            port: 25,
            user: None,
            password: None,
            timeout: Duration::from_secs(5),
            from_addr: None,
            grafana_url: None,
            tls: TlsMode::None,
            ca_certs: None,
            insecure: false,
        }
    }
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("EmailConfig");
        for (key, value) in self.render_masked() {
            s.field(&key, &value);
        }
        s.finish()
    }
}

impl EmailConfig {
    pub fn read(r: &Reader) -> Result<EmailConfig, ConfigError> {
        let d = EmailConfig::default();
        let port = r.int(SECTION, "port", i64::from(d.port), 1)?;
        let port = u16::try_from(port).map_err(|_| r.invalid(SECTION, "port", format!("must be at most 65535, found {port}")))?;
        let tls = match r.opt_string(SECTION, "tls") {
            None => d.tls,
            Some(value) => TlsMode::parse(&value).ok_or_else(|| {
                r.invalid(SECTION, "tls", format!("expected none, starttls or tls, found {value:?}"))
            })?,
        };
        let from_addr = r.opt_string(SECTION, "from_addr");
        if let Some(from) = &from_addr {
            super::sender_address(from).map_err(|message| r.invalid(SECTION, "from_addr", message))?;
        }
        let server = r.opt_string(SECTION, "server").map(|s| s.trim().to_owned());
        if let Some(server) = &server {
            if server.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(r.invalid(SECTION, "server", format!("expected a host name or address, found {server:?}")));
            }
        }
        Ok(EmailConfig {
            server,
            port,
            user: r.opt_string(SECTION, "user"),
            password: r.opt_string(SECTION, "password"),
            timeout: r.seconds(SECTION, "timeout", d.timeout.as_secs())?,
            from_addr,
            grafana_url: r.opt_string(SECTION, "grafana_url"),
            tls,
            ca_certs: r.opt_string(SECTION, "ca_certs").map(PathBuf::from),
            insecure: r.bool(SECTION, "insecure", d.insecure)?,
        })
    }

    /// `(key, value)` pairs for `tocsin check-config`, the password masked; unset is empty.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            ("server".into(), opt(&self.server)),
            ("port".into(), self.port.to_string()),
            ("user".into(), opt(&self.user)),
            ("password".into(), if self.password.is_some() { "****".into() } else { String::new() }),
            ("timeout".into(), self.timeout.as_secs().to_string()),
            ("from_addr".into(), opt(&self.from_addr)),
            ("grafana_url".into(), opt(&self.grafana_url)),
            ("tls".into(), self.tls.as_str().into()),
            ("ca_certs".into(), self.ca_certs.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
            ("insecure".into(), self.insecure.to_string()),
        ]
    }

    /// Whether a login is attempted: Monasca logs in only when both are set.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => Some((user, password)),
            _ => None,
        }
    }
}
