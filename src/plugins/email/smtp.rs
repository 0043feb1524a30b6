//! SMTP connections for the email plugin: connect (plain, STARTTLS or implicit TLS), log in,
//! send one message, and keep healthy connections for the next send.
//!
//! lettre's own pool is not used: it puts a connection back when a send future is dropped
//! mid-command (the caller's timeout), and the next send then reads the previous command's
//! reply. Here a connection returns to the pool only after a completed transaction; one
//! abandoned or failed in between is closed with the future that owned it. This module does
//! not bound time itself (the plugin wraps every send in its timeout) and builds no messages.

use super::config::TlsMode;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections older than this are closed instead of reused: servers drop idle clients
/// after a few minutes (Postfix: 300 s), and a NOOP on a dead connection costs a round trip.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The mechanisms offered, in order of preference; both need TLS to keep the password secret.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

pub struct Smtp {
    server: String,
    port: u16,
    /// TLS mode with its parameters (certificate roots, server name), built once.
    tls: Option<(TlsMode, TlsParameters)>,
    /// Present only when both user and password are configured, as in Monasca.
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Bound on establishing the TCP connection (lettre's only own timeout).
    connect_timeout: Duration,
    /// Connections that finished their last transaction cleanly. A std mutex: it is never held
    /// across an await.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// How many idle connections are kept: the dispatcher's bound on concurrent sends.
    max_idle: usize,
}

impl Smtp {
    pub fn new(
        server: String,
        port: u16,
        tls: Option<(TlsMode, TlsParameters)>,
        credentials: Option<Credentials>,
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Smtp {
        Smtp {
            server,
            port,
            tls,
            credentials,
            hello: ClientId::default(),
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
        }
    }

    /// Sends one message and returns the server's reply to the end of data. A reused
    /// connection that turns out to be closed is replaced once, as monasca-notification
    /// reconnected after `SMTPServerDisconnected`.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, Error> {
        if let Some(mut conn) = self.take_idle().await {
            match conn.send(envelope, message).await {
                Ok(response) => {
                    self.park(conn);
                    return Ok(response);
                }
                Err(error) if is_disconnect(&error) => {
                    tracing::warn!(server = %self.server, %error, "SMTP server disconnected. Will reconnect and retry message.");
                }
                Err(error) => return Err(error),
            }
        }
        let mut conn = self.connect().await?;
        let response = conn.send(envelope, message).await?;
        self.park(conn);
        Ok(response)
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Error> {
        tracing::debug!(server = %self.server, port = self.port, "connecting to the email server");
        let implicit = match &self.tls {
            Some((TlsMode::Implicit, parameters)) => Some(parameters.clone()),
            _ => None,
        };
        let address = (self.server.as_str(), self.port);
        let mut conn = AsyncSmtpConnection::connect_tokio1(address, Some(self.connect_timeout), &self.hello, implicit, None).await?;
        if let Some((TlsMode::StartTls, parameters)) = &self.tls {
            conn.starttls(parameters.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }

    /// A pooled connection that still answers NOOP, if any.
    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, _) = {
                let mut idle = self.idle.lock().expect("no panic while holding the pool lock");
                // Dropping a stale connection closes its socket; a QUIT would only cost time.
                idle.retain(|(_, since)| since.elapsed() <= IDLE_LIMIT);
                idle.pop()?
            };
            if conn.test_connected().await {
                return Some(conn);
            }
            conn.abort().await;
        }
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().expect("no panic while holding the pool lock");
        if idle.len() < self.max_idle && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        }
        // Otherwise the connection is dropped, which closes it.
    }
}

/// The connection went away (end of stream, reset) rather than the server refusing something.
fn is_disconnect(error: &Error) -> bool {
    !(error.is_transient() || error.is_permanent() || error.is_client() || error.is_timeout())
}
