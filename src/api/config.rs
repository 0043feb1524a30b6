//! `[api]`: whether the REST API is served, how callers are authenticated (configured tokens or
//! Keystone), the notification periods monasca-api allows, and what one tenant may own and do.

use crate::config::{Error, Reader, Secret};
use crate::keystone::KeystoneConfig;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub enabled: bool,
    /// `X-Auth-Token` value → tenant id (`auth = tokens`, the default); every token distinct
    /// and at least [`MIN_TOKEN_LENGTH`] characters long.
    pub tokens: Vec<(Secret, String)>,
    /// Present with `auth = keystone`: tokens are validated with Keystone instead.
    pub keystone: Option<KeystoneAuthConfig>,
    /// Periods (seconds) a notification method may have besides 0 (monasca-api's option).
    pub valid_notification_periods: Vec<i64>,
    /// What one tenant may own and do.
    pub limits: ApiLimits,
}

/// The shortest configured API token accepted: a short one can be guessed.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// Bounds on what a tenant controls, so no tenant can exhaust Tocsin or crowd out others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    pub max_methods_per_tenant: usize,
    /// Group, inhibit and silence rules together.
    pub max_rules_per_tenant: usize,
    pub max_definitions_per_tenant: usize,
    /// Writes (POST, PUT, PATCH, DELETE) one tenant may make per minute, in bursts of as many.
    pub writes_per_minute: u32,
    /// Requests served at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
}

/// `[api] auth = keystone`: monasca-api's role options; the service user that validates tokens
/// is `[keystone]`'s (the one webhooks authenticate with).
#[derive(Clone, Debug)]
pub struct KeystoneAuthConfig {
    pub service: KeystoneConfig,
    /// Roles that may read and write.
    pub default_authorized_roles: Vec<String>,
    /// Roles that may only read.
    pub read_only_authorized_roles: Vec<String>,
    /// How long a validated token is trusted before Keystone is asked again.
    pub token_cache_ttl: Duration,
    /// How long a token Keystone refused is answered 401 without asking again.
    pub invalid_token_cache_ttl: Duration,
    /// Validations sent to Keystone at once; more wait (and get 503 after a few seconds).
    pub max_concurrent_validations: usize,
}

const SECTION: &str = "api";

impl ApiConfig {
    pub fn read(r: &Reader) -> Result<ApiConfig, Error> {
        let keystone = match r.string(SECTION, "auth", "tokens").as_str() {
            "tokens" => None,
            "keystone" => Some(KeystoneAuthConfig {
                service: KeystoneConfig::read(r)?,
                default_authorized_roles: r.list(SECTION, "default_authorized_roles", &["monasca-user"]),
                read_only_authorized_roles: r.list(SECTION, "read_only_authorized_roles", &["monasca-read-only-user"]),
                token_cache_ttl: r.duration(SECTION, "token_cache_ttl", Duration::from_secs(60))?,
                invalid_token_cache_ttl: r.duration(SECTION, "invalid_token_cache_ttl", Duration::from_secs(10))?,
                max_concurrent_validations: r.int(SECTION, "max_concurrent_validations", 8, 1)? as usize,
            }),
            other => return Err(r.invalid(SECTION, "auth", format!("{other:?} is not one of tokens, keystone"))),
        };
        let api = ApiConfig {
            enabled: r.bool(SECTION, "enabled", false)?,
            tokens: tokens(r)?,
            keystone,
            valid_notification_periods: r
                .list(SECTION, "valid_notification_periods", &["0", "60"])
                .iter()
                .map(|p| p.parse::<i64>().map_err(|_| r.invalid(SECTION, "valid_notification_periods", format!("{p:?} is not a whole number of seconds"))))
                .collect::<Result<_, _>>()?,
            limits: ApiLimits {
                max_methods_per_tenant: r.int(SECTION, "max_methods_per_tenant", 1000, 1)? as usize,
                max_rules_per_tenant: r.int(SECTION, "max_rules_per_tenant", 1000, 1)? as usize,
                max_definitions_per_tenant: r.int(SECTION, "max_definitions_per_tenant", 5000, 1)? as usize,
                writes_per_minute: r.int(SECTION, "writes_per_minute", 120, 1)? as u32,
                max_concurrent_requests: r.int(SECTION, "max_concurrent_requests", 64, 1)? as usize,
            },
        };
        if api.enabled && api.keystone.is_none() && api.tokens.is_empty() {
            return Err(r.invalid(SECTION, "tokens", "the API is enabled but no tokens are configured: add tokens = token:tenant, ... or set auth = keystone"));
        }
        Ok(api)
    }

    /// `(key, value)` pairs for `tocsin check-config`; tokens show only their tenant.
    pub fn render(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = vec![
            ("enabled".into(), self.enabled.to_string()),
            ("auth".into(), if self.keystone.is_some() { "keystone" } else { "tokens" }.to_owned()),
            ("tokens".into(), self.tokens.iter().map(|(_, tenant)| format!("****:{tenant}")).collect::<Vec<_>>().join(", ")),
            ("valid_notification_periods".into(), self.valid_notification_periods.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
            ("max_methods_per_tenant".into(), self.limits.max_methods_per_tenant.to_string()),
            ("max_rules_per_tenant".into(), self.limits.max_rules_per_tenant.to_string()),
            ("max_definitions_per_tenant".into(), self.limits.max_definitions_per_tenant.to_string()),
            ("writes_per_minute".into(), self.limits.writes_per_minute.to_string()),
            ("max_concurrent_requests".into(), self.limits.max_concurrent_requests.to_string()),
        ];
        if let Some(k) = &self.keystone {
            out.extend([
                ("default_authorized_roles".into(), k.default_authorized_roles.join(", ")),
                ("read_only_authorized_roles".into(), k.read_only_authorized_roles.join(", ")),
                ("token_cache_ttl".into(), format!("{:?}", k.token_cache_ttl)),
                ("invalid_token_cache_ttl".into(), format!("{:?}", k.invalid_token_cache_ttl)),
                ("max_concurrent_validations".into(), k.max_concurrent_validations.to_string()),
                ("keystone auth_url".into(), k.service.auth_url.clone()),
                ("keystone username".into(), k.service.username.clone()),
            ]);
        }
        out
    }
}

/// `[api] tokens`: `token:tenant` pairs, refused at start when a token is empty, shorter than
/// [`MIN_TOKEN_LENGTH`], or given twice (the later one would silently win), or a tenant is empty.
/// Messages say which entry, never the token.
fn tokens(r: &Reader) -> Result<Vec<(Secret, String)>, Error> {
    let bad = |message: String| r.invalid(SECTION, "tokens", message);
    let items = r.opt_string(SECTION, "tokens").map(|v| crate::config::split_list(&v)).unwrap_or_default();
    let mut tokens: Vec<(Secret, String)> = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        let entry = n + 1;
        let Some((token, tenant)) = item.split_once(':').map(|(t, n)| (t.trim().to_owned(), n.trim().to_owned())) else {
            return Err(bad(format!("entry {entry} is not token:tenant")));
        };
        if token.trim().is_empty() {
            return Err(bad(format!("entry {entry} (tenant {tenant:?}) has an empty token")));
        }
        if tenant.trim().is_empty() {
            return Err(bad(format!("entry {entry} has no tenant after the ':'")));
        }
        if token.chars().count() < MIN_TOKEN_LENGTH {
            return Err(bad(format!("the token of entry {entry} (tenant {tenant:?}) is shorter than {MIN_TOKEN_LENGTH} characters")));
        }
        if let Some(first) = tokens.iter().position(|(t, _)| t.expose() == token) {
            return Err(bad(format!("entries {} and {entry} have the same token", first + 1)));
        }
        tokens.push((Secret::new(token), tenant));
    }
    Ok(tokens)
}
