//! The HTTP options the Slack and HipChat plugins share (`timeout`, `insecure`, `ca_certs`,
//! `proxy`) and the one reqwest client each plugin builds from them.
//!
//! Monasca disabled certificate verification unless `ca_certs` was set (`insecure` defaulted to
//! true). Here verification is on unless an operator writes `insecure = true`; `ca_certs` adds a
//! CA to the built-in roots and, as in Monasca, wins over `insecure`. The clients are guarded
//! (`plugins::http::guarded`): their addresses are tenants'. This module only builds clients; it
//! never logs and never sees a notification.

use crate::config::{Error as ConfigError, Reader, Secret};
use crate::netguard::Guard;
use crate::plugins::BuildError;
use std::path::PathBuf;
use std::time::Duration;

/// The options of `[slack_notifier]` and `[hipchat_notifier]` that shape the HTTP client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportOptions {
    /// Bound on one request, connection included (seconds in the file, default 5, at least 1).
    pub timeout: Duration,
    /// Skip certificate verification; ignored when `ca_certs` is set (Monasca's rule).
    pub insecure: bool,
    /// A PEM file of CA certificates trusted in addition to the built-in roots.
    pub ca_certs: Option<PathBuf>,
    /// Forward proxy URL (`http://user:password@host:port`) for every request of the plugin.
    pub proxy: Option<Secret>,
}

/// How the plugin checks the remote end's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The built-in (webpki) roots.
    Roots,
    /// The built-in roots plus the CAs of this file.
    RootsAnd(PathBuf),
    /// No verification (`insecure = true` without `ca_certs`).
    Off,
}

impl TransportOptions {
    pub fn read(r: &Reader, section: &str) -> Result<TransportOptions, ConfigError> {
        let proxy = r.opt_string(section, "proxy");
        if let Some(proxy) = &proxy {
            let valid = url::Url::parse(proxy)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .is_some();
            if !valid {
                return Err(r.invalid(section, "proxy", "expected an http:// or https:// proxy URL"));
            }
        }
        Ok(TransportOptions {
            timeout: r.seconds(section, "timeout", 5)?,
            insecure: r.bool(section, "insecure", false)?,
            ca_certs: r.opt_string(section, "ca_certs").map(PathBuf::from),
            proxy: proxy.map(Secret::new),
        })
    }

    /// Monasca's `verify = ca_certs or not insecure`.
    pub fn verification(&self) -> Verification {
        match (&self.ca_certs, self.insecure) {
            (Some(path), _) => Verification::RootsAnd(path.clone()),
            (None, true) => Verification::Off,
            (None, false) => Verification::Roots,
        }
    }

    /// `(key, value)` pairs for `tocsin check-config`; a proxy password shows as `****`.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        vec![
            ("timeout".into(), self.timeout.as_secs().to_string()),
            ("insecure".into(), self.insecure.to_string()),
            ("ca_certs".into(), self.ca_certs.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
            ("proxy".into(), self.proxy.as_ref().map(|p| mask_password(p.expose())).unwrap_or_default()),
        ]
    }

    /// One client per plugin, so connections are reused across sends; up to
    /// `connections_per_host` idle connections are kept per host. Its addresses are tenants':
    /// the network guard applies (the proxy, the operator's, is trusted).
    pub fn client(&self, plugin: &'static str, connections_per_host: usize, guard: &Guard) -> Result<reqwest::Client, BuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .pool_max_idle_per_host(connections_per_host)
            .tcp_nodelay(true);
        match self.verification() {
            Verification::Roots => {}
            Verification::Off => builder = builder.danger_accept_invalid_certs(true),
            Verification::RootsAnd(path) => {
                let setup = |message: String| BuildError::Setup { plugin, message };
                let pem = std::fs::read(&path)
                    .map_err(|e| setup(format!("cannot read ca_certs {}: {e}", path.display())))?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| setup(format!("ca_certs {} is not a PEM certificate bundle: {e}", path.display())))?;
                if certificates.is_empty() {
                    return Err(setup(format!("ca_certs {} holds no PEM certificate", path.display())));
                }
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
            }
        }
        let mut trusted = Vec::new();
        if let Some(proxy) = &self.proxy {
            // Monasca passed the proxy for https URLs only; here it carries every request of
            // the plugin, so an http:// address does not silently bypass it.
            let proxy_url = reqwest::Proxy::all(proxy.expose()).map_err(|e| BuildError::Setup {
                plugin,
                message: format!("invalid proxy {}: {}", mask_password(proxy.expose()), e.without_url()),
            })?;
            builder = builder.proxy(proxy_url);
            trusted.extend(url::Url::parse(proxy.expose()).ok().and_then(|u| u.host_str().map(str::to_owned)));
        }
        crate::plugins::http::guarded(builder, guard, &trusted, false).build().map_err(|source| BuildError::HttpClient { plugin, source })
    }
}

/// The URL with its password (if any) replaced by `****`.
pub fn mask_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<unparseable URL>".into(),
    }
}
