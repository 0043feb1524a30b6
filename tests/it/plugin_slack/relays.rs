//! Network pieces that sit between a plugin and its fake service, for the `proxy`, `ca_certs`
//! and `insecure` options: a forward proxy (absolute-form requests for http targets, CONNECT
//! tunnels for https ones, optional Basic proxy authentication) and a TLS front with a test CA's
//! certificate for 127.0.0.1. Both relay bytes unchanged and record what they saw.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The test CA that signed the TLS front's certificate (valid until 2126).
pub const CA_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/plugin_slack/tls/ca.pem");
const SERVER_PEM: &[u8] = include_bytes!("tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("tls/server.key");

/// What the proxy saw at the start of one client connection.
#[derive(Clone, Debug)]
pub struct ProxyRequest {
    /// `CONNECT 127.0.0.1:443 HTTP/1.1` or `POST http://127.0.0.1:80/path HTTP/1.1`.
    pub request_line: String,
    pub proxy_authorization: Option<String>,
}

#[derive(Clone)]
pub struct ForwardProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<ProxyRequest>>>,
}

impl ForwardProxy {
    /// A proxy that requires `Proxy-Authorization: Basic <basic>` when `basic` is given.
    pub async fn start(basic: Option<&str>) -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let required = basic.map(|b| format!("Basic {b}"));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, recorded.clone(), required.clone()));
            }
        });
        ForwardProxy { addr, seen }
    }

    pub fn seen(&self) -> Vec<ProxyRequest> {
        self.seen.lock().unwrap().clone()
    }
}

async fn relay(mut client: TcpStream, seen: Arc<Mutex<Vec<ProxyRequest>>>, required: Option<String>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    let proxy_authorization = text
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization")))
        .map(|(_, v)| v.trim().to_owned());
    seen.lock().unwrap().push(ProxyRequest { request_line: request_line.clone(), proxy_authorization: proxy_authorization.clone() });
    if required.is_some() && proxy_authorization != required {
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let authority = if method == "CONNECT" {
        target.to_owned()
    } else {
        let url = url::Url::parse(target).expect("absolute-form request target");
        format!("{}:{}", url.host_str().unwrap(), url.port_or_known_default().unwrap())
    };
    let Ok(mut upstream) = TcpStream::connect(&authority).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        return;
    };
    if method == "CONNECT" {
        if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
            return;
        }
    } else if upstream.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// TLS in front of a plain HTTP server on loopback, with a certificate for 127.0.0.1 signed by
/// the test CA.
pub struct TlsFront {
    pub addr: SocketAddr,
    /// Handshakes that failed (e.g. the client rejected the certificate).
    failed: Arc<Mutex<usize>>,
}

impl TlsFront {
    pub async fn start(backend: SocketAddr) -> TlsFront {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_PEM).map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let failed = Arc::new(Mutex::new(0));
        let failures = failed.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, failures) = (acceptor.clone(), failures.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        *failures.lock().unwrap() += 1;
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { addr, failed }
    }

    pub fn failed_handshakes(&self) -> usize {
        *self.failed.lock().unwrap()
    }
}
