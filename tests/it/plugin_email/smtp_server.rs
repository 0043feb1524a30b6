//! A real SMTP server for the email tests: aiosmtpd (`smtp_server.py`) in a virtual environment
//! under `target/`, started per test on a kernel-chosen loopback port, with test certificates
//! made by rcgen for STARTTLS and implicit TLS. Each accepted message comes back as the raw
//! bytes the server received.

use crate::support::{eventually, spawn_tied_to_process, unique};
use base64::Engine as _;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// One message as the server received it after DATA.
#[derive(Clone, Debug)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message bytes (headers, blank line, body), CRLF line ends, dot-unstuffed.
    pub data: Vec<u8>,
    /// Whether the connection was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The user that logged in, if any.
    pub login: Option<String>,
    /// The client's port: equal for messages sent over one connection.
    pub peer_port: u16,
}

/// How the server behaves.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Certificate and key: STARTTLS is offered, or, with `implicit_tls`, TLS from the start.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub implicit_tls: bool,
    pub require_starttls: bool,
    /// `(user, password)` that must log in before MAIL.
    pub auth: Option<(String, String)>,
    /// `(address, reply)`: RCPT TO that address is answered with the reply.
    pub reject_rcpt: Vec<(String, String)>,
    /// Reply to every DATA instead of accepting the message.
    pub data_reply: Option<String>,
    /// Seconds of silence after which the server drops a client (aiosmtpd's default: 300).
    pub idle_timeout: Option<f64>,
}

pub struct SmtpServer {
    pub port: u16,
    events: Arc<Mutex<Vec<Value>>>,
    log: PathBuf,
    child: Child,
    /// Held open: the server exits when it closes.
    _stdin: ChildStdin,
}

impl SmtpServer {
    pub fn start(options: Options) -> SmtpServer {
        let python = python();
        let dir = target_dir().join("aiosmtpd-logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{}.log", unique("smtp")));
        let mut command = Command::new(python);
        command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/plugin_email/smtp_server.py"));
        if let Some((cert, key)) = &options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if options.implicit_tls {
            command.arg("--implicit-tls");
        }
        if options.require_starttls {
            command.arg("--require-starttls");
        }
        if let Some((user, password)) = &options.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        for (address, reply) in &options.reject_rcpt {
            command.arg("--reject-rcpt").arg(format!("{address}={reply}"));
        }
        if let Some(reply) = &options.data_reply {
            command.arg("--data-reply").arg(reply);
        }
        if let Some(seconds) = options.idle_timeout {
            command.arg("--idle-timeout").arg(seconds.to_string());
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
        let mut child = spawn_tied_to_process(&mut command).expect("the SMTP server starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let recorded = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line).expect("the SMTP server prints JSON lines");
                if event["event"] == "listening" {
                    let _ = port_tx.send(event["port"].as_u64().unwrap() as u16);
                } else {
                    recorded.lock().unwrap().push(event);
                }
            }
        });
        let port = port_rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the SMTP server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default()));
        SmtpServer { port, events, log, child, _stdin: stdin }
    }

    pub fn mails(&self) -> Vec<Mail> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| Mail {
                mail_from: e["mail_from"].as_str().unwrap().to_owned(),
                rcpt_tos: e["rcpt_tos"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
                data: base64::engine::general_purpose::STANDARD.decode(e["data"].as_str().unwrap()).unwrap(),
                tls: e["tls"].as_bool().unwrap(),
                login: e["login"].as_str().map(str::to_owned),
                peer_port: e["peer_port"].as_u64().unwrap() as u16,
            })
            .collect()
    }

    /// Waits until the server has closed the connection from `peer_port`.
    pub async fn wait_for_close(&self, peer_port: u16) {
        eventually(WAIT, &format!("the server closing the connection from port {peer_port}"), || async {
            let events = self.events.lock().unwrap();
            events.iter().any(|e| e["event"] == "closed" && e["peer_port"] == peer_port).then_some(())
        })
        .await
    }

    /// Waits until `count` messages have arrived and returns them.
    pub async fn wait_for_mails(&self, count: usize) -> Vec<Mail> {
        eventually(WAIT, &format!("{count} mails at the SMTP server (log {})", self.log.display()), || async {
            let mails = self.mails();
            (mails.len() >= count).then_some(mails)
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate it signed for `localhost` and `127.0.0.1`, as PEM files.
pub struct TestCertificates {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCertificates {
    pub fn generate() -> TestCertificates {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Tocsin test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (ca, cert, key) = (write("ca.pem", ca.pem()), write("server.pem", cert.pem()), write("server.key", key.serialize_pem()));
        TestCertificates { _dir: dir, ca, cert, key }
    }

    pub fn server_pair(&self) -> Option<(PathBuf, PathBuf)> {
        Some((self.cert.clone(), self.key.clone()))
    }
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// The virtual environment's interpreter, made once per test run.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = target_dir().join("aiosmtpd-venv");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-aiosmtpd.sh");
            let status = Command::new("bash").arg(script).arg(&venv).status().expect("bash runs");
            assert!(status.success(), "could not install aiosmtpd into {} (needs python3 and the package index)", venv.display());
            venv.join("bin/python")
        })
        .clone()
}
