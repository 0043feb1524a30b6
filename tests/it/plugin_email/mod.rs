//! The email plugin against a real SMTP server (aiosmtpd) on loopback: the exact message
//! received, several recipients, reused connections, STARTTLS and implicit TLS with a test CA,
//! login, and the classification of every failure; then end to end through the broker.

mod smtp_server;

use crate::support::tocsin::{start_in_process, write_config_with_plugins, Topics};
use crate::support::{alarm_message, broker, DbKind, TestDb};
use base64::Engine as _;
use serde_json::Value;
use smtp_server::{Mail, Options, SmtpServer, TestCertificates};
use std::sync::Arc;
use std::time::Duration;
use tocsin::model::{Notification, NotificationMethod};
use tocsin::plugins::email::{Email, EmailConfig, TlsMode};
use tocsin::plugins::{Plugin, Reason, SendError};

const WAIT: Duration = Duration::from_secs(30);
const FROM: &str = "hpcs.mon@hp.com";

fn notification(address: &str) -> Notification {
    let message = alarm_message("alarm-1", "def-1", "ALARM");
    let alarm = tocsin::ingest::decode(Some(message.to_string().as_bytes()), 1 << 20).unwrap();
    let method = NotificationMethod { id: "m-1".into(), kind: "email".into(), name: Some("ops".into()), address: Some(address.into()), period: 0 };
    Notification::new(method, Arc::new(alarm))
}

fn config(port: u16) -> EmailConfig {
    EmailConfig {
        server: Some("127.0.0.1".into()),
        port,
        from_addr: Some(FROM.into()),
        timeout: Duration::from_secs(10),
        ..EmailConfig::default()
    }
}

/// The body Monasca renders for `alarm_message` (one host, no target, no Grafana).
fn expected_body(timestamp_secs: i64) -> String {
    let when = chrono::DateTime::from_timestamp(timestamp_secs, 0).unwrap().format("%a %b %e %H:%M:%S %Y");
    format!(
        "On host \"operator\" thresholds were exceeded for the sub-alarms: count(cpu.user_perc, deterministic) >= 1.0 with the values: [1.0]\n\
         \n\
         Alarm \"dummy_alarm\" transitioned to the ALARM state at {when} UTC\n\
         alarm_id: alarm-1\n\
         \n\
         Lifecycle state: None\n\
         Link: None\n\
         Link to Grafana: None\n\
         \n\
         With dimensions:\n\
         [\n  {{\n    hostname: operator,\n    service: monitoring\n  }} \n]"
    )
}

/// Headers in order and the decoded body of a received message.
fn parse(mail: &Mail) -> (Vec<(String, String)>, String) {
    let text = std::str::from_utf8(&mail.data).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a blank line ends the headers");
    let headers = head.split("\r\n").map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    assert!(body.ends_with("\r\n") && !body.ends_with("\r\n\r\n"), "the body ends with one line end: {body:?}");
    for line in body.trim_end().split("\r\n") {
        assert!(line.len() <= 76, "base64 lines are at most 76 characters: {line}");
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(body.replace("\r\n", "")).unwrap();
    (headers, String::from_utf8(decoded).unwrap())
}

/// The subject, decoded from its RFC 2047 quoted-printable form.
fn decoded_subject(value: &str) -> String {
    let text = value.strip_prefix("=?utf-8?q?").and_then(|v| v.strip_suffix("?=")).expect("a q-encoded word");
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = [bytes.next().unwrap(), bytes.next().unwrap()];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).unwrap()
}

fn assert_monascas_message(mail: &Mail, to: &str, n: &Notification) {
    let (headers, body) = parse(mail);
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["Content-Type", "MIME-Version", "Content-Transfer-Encoding", "Subject", "From", "To", "Date"]);
    assert_eq!(headers[0].1, "text/plain; charset=\"utf-8\"");
    assert_eq!(headers[1].1, "1.0");
    assert_eq!(headers[2].1, "base64");
    assert_eq!(decoded_subject(&headers[3].1), "ALARM LOW \"dummy_alarm\" for Host: operator");
    assert_eq!(headers[4].1, FROM);
    assert_eq!(headers[5].1, to);
    assert!(chrono::DateTime::parse_from_rfc2822(&headers[6].1).is_ok(), "Date: {}", headers[6].1);
    assert_eq!(body, expected_body(n.alarm.timestamp_secs()));
}

async fn send(email: &Email, address: &str) -> Result<String, SendError> {
    email.send(&notification(address)).await.map(|receipt| receipt.answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_monascas_message_over_plain_smtp() {
    let server = SmtpServer::start(Options::default());
    let email = Email::new(&config(server.port), 4).unwrap();
    let n = notification("me@here.com");
    let receipt = email.send(&n).await.unwrap();
    assert_eq!(receipt.answer, "250 2.0.0 Ok: queued as Q1");
    let mails = server.wait_for_mails(1).await;
    assert_eq!((mails[0].mail_from.as_str(), mails[0].rcpt_tos.as_slice()), (FROM, &["me@here.com".to_owned()][..]));
    assert!(!mails[0].tls && mails[0].login.is_none());
    assert_monascas_message(&mails[0], "me@here.com", &n);
}

/// Monasca passed "a@x, b@y" as one recipient; each address is now its own RCPT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_comma_separated_address_is_a_recipient() {
    let server = SmtpServer::start(Options::default());
    let email = Email::new(&config(server.port), 4).unwrap();
    let n = notification("ops@example.com, oncall@example.org");
    email.send(&n).await.unwrap();
    let mails = server.wait_for_mails(1).await;
    assert_eq!(mails[0].rcpt_tos, ["ops@example.com", "oncall@example.org"]);
    assert_monascas_message(&mails[0], "ops@example.com, oncall@example.org", &n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_carries_consecutive_messages() {
    let server = SmtpServer::start(Options::default());
    let email = Email::new(&config(server.port), 4).unwrap();
    for i in 1..=3 {
        assert_eq!(send(&email, "me@here.com").await.unwrap(), format!("250 2.0.0 Ok: queued as Q{i}"));
    }
    let mails = server.wait_for_mails(3).await;
    assert!(mails.iter().all(|m| m.peer_port == mails[0].peer_port), "one connection: {:?}", mails.iter().map(|m| m.peer_port).collect::<Vec<_>>());
}

/// A pooled connection the server has dropped is noticed (NOOP) and replaced, as Monasca
/// reconnected after `SMTPServerDisconnected`; the message is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_dropped_is_replaced() {
    let server = SmtpServer::start(Options { idle_timeout: Some(1.0), ..Options::default() });
    let email = Email::new(&config(server.port), 4).unwrap();
    send(&email, "me@here.com").await.unwrap();
    let first = server.wait_for_mails(1).await[0].peer_port;
    server.wait_for_close(first).await;
    send(&email, "me@here.com").await.unwrap();
    let mails = server.wait_for_mails(2).await;
    assert_eq!(mails.len(), 2, "sent once");
    assert_ne!(mails[1].peer_port, first, "a new connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_verified_with_the_configured_ca_and_login() {
    let certs = TestCertificates::generate();
    let auth = Some(("monasca".to_owned(), "s3cret-pw".to_owned()));
    let server = SmtpServer::start(Options { tls: certs.server_pair(), require_starttls: true, auth, ..Options::default() });
    let config = EmailConfig {
        tls: TlsMode::StartTls,
        ca_certs: Some(certs.ca.clone()),
        user: Some("monasca".into()),
        password: Some("s3cret-pw".into()),
        ..config(server.port)
    };
    let n = notification("me@here.com");
    Email::new(&config, 4).unwrap().send(&n).await.unwrap();
    let mails = server.wait_for_mails(1).await;
    assert!(mails[0].tls, "the message went over TLS");
    assert_eq!(mails[0].login.as_deref(), Some("monasca"));
    assert_monascas_message(&mails[0], "me@here.com", &n);
}

/// Verification is on by default: a certificate from an unknown CA fails the send (retryable,
/// as any connection failure); `insecure = true` is the only way around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refuses_a_certificate_of_an_unknown_ca() {
    let certs = TestCertificates::generate();
    let server = SmtpServer::start(Options { tls: certs.server_pair(), require_starttls: true, ..Options::default() });
    let config = EmailConfig { tls: TlsMode::StartTls, ..config(server.port) };
    let error = send(&Email::new(&config, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true), "{error}");
    assert!(error.detail.contains("certificate"), "{}", error.detail);

    let other_ca = TestCertificates::generate();
    let wrong_ca = EmailConfig { ca_certs: Some(other_ca.ca.clone()), ..config.clone() };
    let error = send(&Email::new(&wrong_ca, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!(error.reason, Reason::Connect, "{error}");

    let insecure = EmailConfig { insecure: true, ..config };
    send(&Email::new(&insecure, 4).unwrap(), "me@here.com").await.unwrap();
    assert!(server.wait_for_mails(1).await[0].tls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_login() {
    let certs = TestCertificates::generate();
    let auth = Some(("monasca".to_owned(), "s3cret-pw".to_owned()));
    let server = SmtpServer::start(Options { tls: certs.server_pair(), implicit_tls: true, auth, ..Options::default() });
    let config = EmailConfig {
        tls: TlsMode::Implicit,
        ca_certs: Some(certs.ca.clone()),
        user: Some("monasca".into()),
        password: Some("s3cret-pw".into()),
        ..config(server.port)
    };
    let n = notification("me@here.com");
    Email::new(&config, 4).unwrap().send(&n).await.unwrap();
    let mails = server.wait_for_mails(1).await;
    assert_eq!((mails[0].tls, mails[0].login.as_deref()), (true, Some("monasca")));
    assert_monascas_message(&mails[0], "me@here.com", &n);

    // A plain client talking to the TLS port gets no SMTP greeting it can read.
    let plain = EmailConfig { tls: TlsMode::None, timeout: Duration::from_secs(2), ..config };
    let error = send(&Email::new(&plain, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert!(error.retryable, "{error}");
}

/// A refused login is permanent, and neither the password nor its AUTH encodings appear in
/// the error text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_permanent_and_the_password_stays_secret() {
    let certs = TestCertificates::generate();
    let auth = Some(("monasca".to_owned(), "right-pw".to_owned()));
    let server = SmtpServer::start(Options { tls: certs.server_pair(), require_starttls: true, auth, ..Options::default() });
    let secret = "wr0ng-Secret";
    let config = EmailConfig {
        tls: TlsMode::StartTls,
        ca_certs: Some(certs.ca.clone()),
        user: Some("monasca".into()),
        password: Some(secret.into()),
        ..config(server.port)
    };
    let error = send(&Email::new(&config, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Auth, false), "{error}");
    assert!(error.detail.contains("535"), "{}", error.detail);
    let b64 = base64::engine::general_purpose::STANDARD;
    for leak in [secret.to_owned(), b64.encode(secret), b64.encode(format!("\0monasca\0{secret}"))] {
        assert!(!error.to_string().contains(&leak), "{leak} leaked: {error}");
        assert!(!format!("{error:?}").contains(&leak), "{leak} leaked: {error:?}");
    }
    assert!(server.mails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_replies_are_classified_by_their_first_digit() {
    let rejecting = SmtpServer::start(Options {
        reject_rcpt: vec![
            ("gone@example.com".into(), "550 5.1.1 mailbox unavailable".into()),
            ("busy@example.com".into(), "452 4.2.2 mailbox full, try later".into()),
        ],
        ..Options::default()
    });
    let email = Email::new(&config(rejecting.port), 4).unwrap();
    let error = send(&email, "gone@example.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Client, false), "{error}");
    assert!(error.detail.contains("550") && error.detail.contains("mailbox unavailable"), "{}", error.detail);
    // One bad address refuses the message for all: nothing is half-delivered.
    let error = send(&email, "ok@example.com, gone@example.com").await.unwrap_err();
    assert!(!error.retryable, "{error}");
    let error = send(&email, "busy@example.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Server, true), "{error}");
    // After failures the plugin still sends: failed connections are not reused.
    send(&email, "ok@example.com").await.unwrap();
    assert_eq!(rejecting.wait_for_mails(1).await[0].rcpt_tos, ["ok@example.com"]);

    let deferring = SmtpServer::start(Options { data_reply: Some("451 4.3.0 try again later".into()), ..Options::default() });
    let error = send(&Email::new(&config(deferring.port), 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Server, true), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_but_not_offered_is_permanent() {
    let server = SmtpServer::start(Options::default());
    let config = EmailConfig { tls: TlsMode::StartTls, ..config(server.port) };
    let error = send(&Email::new(&config, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Client, false), "{error}");
    assert!(error.detail.contains("STARTTLS"), "{}", error.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_retryable() {
    let port = crate::support::free_port();
    let error = send(&Email::new(&config(port), 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Connect, true), "{error}");
    assert!(error.detail.contains(&format!("127.0.0.1:{port}")), "{}", error.detail);
}

/// A server that accepts the connection and never greets: the send ends at the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let config = EmailConfig { timeout: Duration::from_secs(1), ..config(port) };
    let error = send(&Email::new(&config, 4).unwrap(), "me@here.com").await.unwrap_err();
    assert_eq!((error.reason, error.retryable), (Reason::Timeout, true), "{error}");
    held.abort();
}

/// Alarm in → the SMTP server receives Monasca's message → the notification is on the sent
/// topic; a recipient the server defers → the notification is on the retry topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_broker() {
    let server = SmtpServer::start(Options {
        reject_rcpt: vec![("deferred@example.com".into(), "451 4.7.1 greylisted, try again later".into())],
        ..Options::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(DbKind::Sqlite).await;
    db.add_definition("def-1").await;
    db.add_method("m-mail", "EMAIL", "ops-mail", "ops@example.com", 0).await;
    db.add_method("m-deferred", "EMAIL", "deferred-mail", "deferred@example.com", 0).await;
    db.attach("def-1", "ALARM", "m-mail").await;
    db.attach("def-1", "ALARM", "m-deferred").await;
    let topics = Topics::create(1).await;
    let section = format!("[email_notifier]\nserver = 127.0.0.1\nport = {}\nfrom_addr = {FROM}\ntimeout = 10\n", server.port);
    let app = start_in_process(&write_config_with_plugins(dir.path(), &topics, &db.url, "email", &section)).await;

    let message = alarm_message("alarm-1", "def-1", "ALARM");
    let b = broker();
    b.produce(&b.producer(), &topics.alarms, "alarm-1", message.to_string().as_bytes()).await;

    let mails = server.wait_for_mails(1).await;
    assert_eq!(mails[0].rcpt_tos, ["ops@example.com"]);
    let timestamp = message["alarm-transitioned"]["timestamp"].as_u64().unwrap() as i64 / 1000;
    let (headers, body) = parse(&mails[0]);
    assert_eq!(headers[5], ("To".to_owned(), "ops@example.com".to_owned()));
    assert_eq!(body, expected_body(timestamp));

    let sent = b.read(&topics.sent, 1, WAIT);
    assert_eq!(sent.len(), 1, "one record on the sent topic");
    let record: Value = serde_json::from_str(&sent[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["type"].as_str(), record["address"].as_str()), (Some("m-mail"), Some("email"), Some("ops@example.com")));
    assert!(sent[0].payload.starts_with("{\"id\": \"m-mail\", \"type\": \"email\", "), "{}", sent[0].payload);

    let retry = b.read(&topics.retry, 1, WAIT);
    assert_eq!(retry.len(), 1, "one record on the retry topic");
    let record: Value = serde_json::from_str(&retry[0].payload).unwrap();
    assert_eq!((record["id"].as_str(), record["retry_count"].as_u64()), (Some("m-deferred"), Some(0)));
    assert_eq!(server.mails().len(), 1, "the deferred recipient got nothing");
    app.shutdown().await.unwrap();
}
