//! The email plugin (Monasca type `EMAIL`, StatsD `sent_smtp_count`): Monasca's message
//! (see `message`) sent over SMTP to every comma-separated address of the method, with
//! optional STARTTLS or implicit TLS, login, and reused connections (see `smtp`).
//!
//! A failure says whether trying again may help: no answer, a lost connection or a 4yz reply
//! is retryable; a 5yz reply, a bad address or a missing server is permanent. The password
//! never appears in a log line or an error. The plugin builds even without a server, because
//! Monasca's default configuration enables email with none; its sends then fail as permanent.

mod config;
pub(crate) mod message;
mod smtp;

pub use config::{EmailConfig, TlsMode};

use super::{BuildError, Plugin, Reason, Receipt, Rendered, SendError};
use crate::model::Notification;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use lettre::transport::smtp::response::Response;
use std::str::FromStr;
use std::time::Duration;

pub struct Email {
    timeout: Duration,
    grafana_url: Option<String>,
    /// Where mail goes and from whom; `Err` says why sends cannot work (no server, no sender).
    route: Result<Route, String>,
    /// Texts that must not reach an error: the password and its encodings on the wire.
    secrets: Vec<String>,
}

/// A usable configuration: the sender and the server connections.
struct Route {
    /// Envelope sender (`MAIL FROM`).
    sender: Address,
    /// `From:` header, as configured (it may carry a display name).
    from_header: String,
    /// `host:port`, for error texts.
    server: String,
    smtp: smtp::Smtp,
}

impl Email {
    pub fn new(config: &EmailConfig, connections_per_host: usize) -> Result<Email, BuildError> {
        let setup = |message: String| BuildError::Setup { plugin: "email", message };
        let route = match (&config.server, &config.from_addr) {
            (None, _) => Err("no SMTP server is configured ([email_notifier] server)".to_owned()),
            (Some(_), None) => Err("no sender is configured ([email_notifier] from_addr)".to_owned()),
            (Some(server), Some(from)) => {
                let sender = sender_address(from).map_err(setup)?;
                let tls = match config.tls {
                    TlsMode::None => None,
                    mode => Some((mode, tls_parameters(config, server).map_err(setup)?)),
                };
                let credentials = config.credentials().map(|(user, password)| Credentials::new(user.to_owned(), password.to_owned()));
                if credentials.is_some() && config.tls == TlsMode::None {
                    tracing::warn!(server = %server, "[email_notifier] user and password are sent to the SMTP server unencrypted; set tls = starttls or tls");
                }
                if config.user.is_some() != config.password.is_some() {
                    tracing::warn!("[email_notifier] has only one of user and password; sending without logging in");
                }
                if config.insecure && config.tls != TlsMode::None {
                    tracing::warn!(server = %server, "[email_notifier] insecure = true: the SMTP server's certificate is not verified");
                }
                let smtp = smtp::Smtp::new(server.clone(), config.port, tls, credentials, config.timeout, connections_per_host);
                Ok(Route { sender, from_header: from.trim().to_owned(), server: format!("{server}:{}", config.port), smtp })
            }
        };
        match &route {
            Ok(route) => tracing::info!(server = %route.server, tls = config.tls.as_str(), "email notification ready"),
            Err(why) => tracing::warn!("email notifications will fail: {why}"),
        }
        let secrets = match config.credentials() {
            Some((user, password)) => vec![
                password.to_owned(),
                STANDARD.encode(password),
                STANDARD.encode(format!("\0{user}\0{password}")),
            ],
            None => config.password.iter().cloned().collect(),
        };
        Ok(Email { timeout: config.timeout, grafana_url: config.grafana_url.clone(), route, secrets })
    }

    /// The whole message as sent after `DATA`, dated `date`.
    fn message_bytes(&self, notification: &Notification, from_header: &str, to: &[Address], date: &str) -> Vec<u8> {
        let composed = message::compose(notification, self.grafana_url.as_deref());
        let to: Vec<&str> = to.iter().map(Address::as_ref).collect();
        message::mime(&composed, from_header, &to.join(", "), date)
    }

    fn failure(&self, route: &Route, error: lettre::transport::smtp::Error) -> SendError {
        let reason = classify(&error);
        let mut detail = format!("error sending email through {}: {error}", route.server);
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            detail = detail.replace(secret.as_str(), "****");
        }
        SendError::new(reason, detail)
    }
}

#[async_trait::async_trait]
impl Plugin for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn statsd_name(&self) -> &'static str {
        "sent_smtp_count"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate_address(&self, address: &str) -> Result<(), String> {
        recipients(address).map(drop)
    }

    /// The message's headers as sent, and its body as text: on the wire the body is base64.
    fn render(&self, notification: &Notification) -> Result<Rendered, SendError> {
        let route = self.route.as_ref().map_err(|why| SendError::new(Reason::Invalid, why.clone()))?;
        let to = recipients(notification.address()).map_err(|why| SendError::new(Reason::Invalid, why))?;
        let composed = message::compose(notification, self.grafana_url.as_deref());
        let to: Vec<&str> = to.iter().map(Address::as_ref).collect();
        let bytes = message::mime(&composed, &route.from_header, &to.join(", "), &message::date_header(chrono::Local::now()));
        let sent = String::from_utf8_lossy(&bytes);
        let headers = sent.split("\r\n\r\n").next().unwrap_or_default();
        Ok(Rendered { content_type: "message/rfc822 (body shown decoded from base64)", body: format!("{headers}\r\n\r\n{}", composed.body) })
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt, SendError> {
        let route = self.route.as_ref().map_err(|why| SendError::new(Reason::Invalid, why.clone()))?;
        let to = recipients(notification.address()).map_err(|why| SendError::new(Reason::Invalid, why))?;
        let envelope = Envelope::new(Some(route.sender.clone()), to.clone()).map_err(|e| SendError::new(Reason::Invalid, e.to_string()))?;
        let bytes = self.message_bytes(notification, &route.from_header, &to, &message::date_header(chrono::Local::now()));
        match tokio::time::timeout(self.timeout, route.smtp.send(&envelope, &bytes)).await {
            Ok(Ok(response)) => {
                tracing::debug!(address = notification.address(), alarm_id = %notification.alarm.alarm_id, "sent email");
                Ok(Receipt::new(answer(&response)))
            }
            Ok(Err(error)) => Err(self.failure(route, error)),
            Err(_) => Err(SendError::new(Reason::Timeout, format!("no answer from the email server {} within {:?}", route.server, self.timeout))),
        }
    }
}

/// The recipients of a method address: one or more addresses separated by commas, each sent
/// its own `RCPT TO` (Monasca passed the whole string as one recipient).
pub fn recipients(address: &str) -> Result<Vec<Address>, String> {
    let parts: Vec<&str> = address.split(',').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err("no email address given".to_owned());
    }
    parts
        .into_iter()
        .map(|part| {
            if part.is_empty() {
                return Err(format!("{address:?} has an empty entry between commas"));
            }
            Address::from_str(part).map_err(|_| format!("{part:?} is not an email address"))
        })
        .collect()
}

/// The envelope sender of `from_addr`: a bare address or the address in `Name <address>`.
pub fn sender_address(from: &str) -> Result<Address, String> {
    let from = from.trim();
    let bare = match (from.rfind('<'), from.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => from,
    };
    Address::from_str(bare.trim()).map_err(|_| format!("{from:?} is not an email address (use user@example.com or Name <user@example.com>)"))
}

fn tls_parameters(config: &EmailConfig, server: &str) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(server.to_owned()).dangerous_accept_invalid_certs(config.insecure);
    if let Some(path) = &config.ca_certs {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_certs {}: {e}", path.display()))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| format!("ca_certs {} holds no usable PEM certificate: {e}", path.display()))?;
        // As `verify=<bundle>` in Monasca's HTTP plugins: the bundle replaces the built-in roots.
        builder = builder.certificate_store(CertificateStore::None).add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| format!("cannot set up TLS for {server}: {e}"))
}

/// Fixed reasons for a lettre error: 4yz replies, timeouts and lost connections may pass;
/// 5yz replies and what lettre refuses itself (no STARTTLS offered, no common AUTH mechanism,
/// non-ASCII addresses without SMTPUTF8) will not.
fn classify(error: &lettre::transport::smtp::Error) -> Reason {
    if error.is_timeout() {
        return Reason::Timeout;
    }
    if let Some(code) = error.status() {
        let code = u16::from(code);
        return match code {
            _ if error.is_transient() => Reason::Server,
            // Authentication required, too weak, or credentials refused.
            530 | 534 | 535 | 538 => Reason::Auth,
            _ => Reason::Client,
        };
    }
    if error.is_client() {
        Reason::Client
    } else {
        Reason::Connect
    }
}

/// The final reply, e.g. `250 2.0.0 Ok: queued as 4F2B`.
fn answer(response: &Response) -> String {
    let text: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), text.join(" "))
}

#[cfg(test)]
mod tests;
