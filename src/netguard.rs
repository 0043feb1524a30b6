//! Where addresses a tenant wrote may lead. A webhook, Slack, HipChat or Jira address is chosen
//! by whoever can write notification methods; without a guard it could point Tocsin at the
//! cloud's metadata service, at Tocsin's own API, or at any service on the internal network.
//!
//! [`Guard`] decides per IP address (after DNS, so a name cannot smuggle a denied address in):
//! loopback, link-local, unspecified, multicast and broadcast addresses and the machine's own
//! interface addresses are denied, and with `[network] deny_private` so are private ranges;
//! `[network] allow` admits networks or host names again. Tocsin's own listeners are denied
//! whatever the allow list says. The guard is applied three ways: as the DNS resolver of the
//! tenant-facing HTTP clients (every connection, every redirect hop), to literal IP addresses
//! (which never reach a resolver) before each request and redirect, and by the API before an
//! address is stored. It makes no request itself and knows nothing of plugins.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// `[network]`: what tenant addresses may reach beyond the public internet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Also deny private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    pub deny_private: bool,
    /// Networks (`10.1.0.0/16`, `127.0.0.1`) admitted whatever their class.
    pub allow_networks: Vec<IpNet>,
    /// Host names (lower case) whose addresses are all admitted.
    pub allow_hosts: BTreeSet<String>,
}

impl NetworkPolicy {
    /// `[network]`: `deny_private` and `allow`.
    pub fn read(r: &crate::config::Reader) -> Result<NetworkPolicy, crate::config::Error> {
        let (allow_networks, allow_hosts) = NetworkPolicy::parse_allow(&r.list("network", "allow", &[])).map_err(|e| r.invalid("network", "allow", e))?;
        Ok(NetworkPolicy { deny_private: r.bool("network", "deny_private", false)?, allow_networks, allow_hosts })
    }

    pub fn render(&self) -> Vec<(String, String)> {
        let allowed: Vec<String> = self.allow_networks.iter().map(ToString::to_string).chain(self.allow_hosts.iter().cloned()).collect();
        vec![("deny_private".into(), self.deny_private.to_string()), ("allow".into(), allowed.join(", "))]
    }

    /// Reads `[network] allow` entries: a network, an address, or a host name.
    pub fn parse_allow(entries: &[String]) -> Result<(Vec<IpNet>, BTreeSet<String>), String> {
        let mut networks = Vec::new();
        let mut hosts = BTreeSet::new();
        for entry in entries {
            if let Ok(network) = entry.parse::<IpNet>() {
                networks.push(network);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                networks.push(IpNet::from(ip));
            } else if url::Host::parse(entry).is_ok_and(|h| matches!(h, url::Host::Domain(_))) && !entry.contains('/') {
                hosts.insert(entry.to_ascii_lowercase());
            } else {
                return Err(format!("{entry:?} is neither a network (10.0.0.0/8), an address nor a host name"));
            }
        }
        Ok((networks, hosts))
    }
}

/// Why an address is refused. The text names the option that would admit it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {address}, {class}; Tocsin sends nothing there unless [network] allow lists it")]
pub struct Denied {
    pub host: String,
    pub address: IpAddr,
    pub class: &'static str,
}

/// Refused because it is one of Tocsin's own listeners: no allow list admits those.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{host} is Tocsin's own listener {address}; Tocsin never sends there")]
pub struct OwnListener {
    pub host: String,
    pub address: SocketAddr,
}

/// A refused destination, of either kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    OwnListener(#[from] OwnListener),
}

#[derive(Clone, Debug)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: NetworkPolicy,
    /// Addresses Tocsin listens on (an unspecified address stands for every local one).
    own_listeners: Vec<SocketAddr>,
    /// The machine's interface addresses, read at start.
    local_addresses: Vec<IpAddr>,
}

impl Guard {
    pub fn new(policy: NetworkPolicy, own_listeners: Vec<SocketAddr>) -> Guard {
        Guard { inner: Arc::new(Inner { policy, own_listeners, local_addresses: local_addresses() }) }
    }

    /// Whether `address`, reached as `host`, may be connected to (port unknown).
    pub fn check_ip(&self, host: &str, address: IpAddr) -> Result<(), Denied> {
        let policy = &self.inner.policy;
        let address = canonical(address);
        if policy.allow_hosts.contains(&host.to_ascii_lowercase()) || policy.allow_networks.iter().any(|n| n.contains(&address)) {
            return Ok(());
        }
        match self.class(address) {
            None => Ok(()),
            Some(class) => Err(Denied { host: host.to_owned(), address, class }),
        }
    }

    /// As [`Guard::check_ip`], and never one of Tocsin's own listeners.
    pub fn check_socket(&self, host: &str, address: SocketAddr) -> Result<(), Refused> {
        let ip = canonical(address.ip());
        let own = self.inner.own_listeners.iter().any(|listener| {
            listener.port() == address.port()
                && (canonical(listener.ip()) == ip || (listener.ip().is_unspecified() && (ip.is_loopback() || self.inner.local_addresses.contains(&ip))))
        });
        if own {
            return Err(OwnListener { host: host.to_owned(), address }.into());
        }
        Ok(self.check_ip(host, ip)?)
    }

    /// Checks every address a URL's host resolves to now, with the URL's port. Before a request
    /// (literal addresses never reach the resolver) and before the API stores an address. A
    /// name that does not resolve passes: the resolver checks it again when it does.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let Some(host) = url.host() else { return Ok(()) };
        let port = url.port_or_known_default().unwrap_or(80);
        let name = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let addresses: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
            url::Host::Domain(domain) => match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((domain, port))).await {
                Ok(Ok(found)) => found.collect(),
                _ => Vec::new(),
            },
        };
        for address in addresses {
            self.check_socket(&name, address)?;
        }
        Ok(())
    }

    /// The check before a send: a literal address is judged here (it never reaches the
    /// resolver); a name is resolved here only when its port is one Tocsin listens on, since
    /// the resolver judges every other connection, and an extra lookup per send would cost.
    pub async fn check_destination(&self, url: &url::Url) -> Result<(), Refused> {
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(url::Host::Domain(_)) if self.inner.own_listeners.iter().any(|l| l.port() == port) => self.check_url(url).await,
            Some(url::Host::Domain(_)) | None => Ok(()),
            Some(_) => self.check_literal(url),
        }
    }

    /// The check for a literal IP host of a URL only (no DNS), for redirect hops: a host name
    /// hop goes through the guarded resolver when it is connected.
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_socket(&ip.to_string(), SocketAddr::new(ip.into(), port)),
            Some(url::Host::Ipv6(ip)) => self.check_socket(&ip.to_string(), SocketAddr::new(ip.into(), port)),
            _ => Ok(()),
        }
    }

    /// The resolver for a tenant-facing HTTP client: names resolve only to admitted addresses.
    /// `trusted` are hosts the operator configured for that client (its proxy), always admitted.
    pub fn resolver(&self, trusted: &[String]) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { guard: self.clone(), trusted: trusted.iter().map(|h| h.to_ascii_lowercase()).collect() })
    }

    fn class(&self, address: IpAddr) -> Option<&'static str> {
        if address.is_loopback() {
            return Some("a loopback address");
        }
        if address.is_unspecified() {
            return Some("an unspecified address");
        }
        if address.is_multicast() {
            return Some("a multicast address");
        }
        let link_local = match address {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if link_local {
            return Some("a link-local address (cloud metadata services live there)");
        }
        if let IpAddr::V4(v4) = address {
            if v4.is_broadcast() || v4.octets()[0] == 0 {
                return Some("a broadcast or 'this network' address");
            }
        }
        if self.inner.local_addresses.contains(&address) {
            return Some("an address of this machine");
        }
        if self.inner.policy.deny_private && is_private(address) {
            return Some("a private address ([network] deny_private = true)");
        }
        None
    }
}

/// How long the guard waits for a name to resolve before letting the request's own resolution
/// (guarded too) decide.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The addresses of this machine's interfaces.
fn local_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that freeifaddrs releases; every
    // pointer is checked for null and read only while the list is alive.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while !entry.is_null() {
            let address = (*entry).ifa_addr;
            if !address.is_null() {
                match i32::from((*address).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(address as *const libc::sockaddr_in);
                        found.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(address as *const libc::sockaddr_in6);
                        found.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

/// DNS for a tenant-facing client: resolves with the system resolver and keeps only admitted
/// addresses; a name left with none fails with [`Denied`], which the plugins report as a
/// permanent error.
pub struct GuardedResolver {
    guard: Guard,
    trusted: BTreeSet<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (guard, host) = (self.guard.clone(), name.as_str().to_owned());
        let trusted = self.trusted.contains(&host.to_ascii_lowercase());
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if trusted {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let mut first_denied = None;
            let admitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| match guard.check_ip(&host, address.ip()) {
                    Ok(()) => true,
                    Err(denied) => {
                        first_denied.get_or_insert(denied);
                        false
                    }
                })
                .collect();
            match (admitted.is_empty(), first_denied) {
                (true, Some(denied)) => Err(Box::new(denied) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(admitted.into_iter()) as Addrs),
            }
        })
    }
}

/// Finds a guard refusal in an error's chain (reqwest wraps the resolver's error twice).
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return Some(denied.clone().into());
        }
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        if let Some(own) = e.downcast_ref::<OwnListener>() {
            return Some(own.clone().into());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(deny_private: bool, allow: &[&str]) -> Guard {
        let (allow_networks, allow_hosts) = NetworkPolicy::parse_allow(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Guard::new(NetworkPolicy { deny_private, allow_networks, allow_hosts }, vec!["127.0.0.1:8085".parse().unwrap(), "0.0.0.0:9000".parse().unwrap()])
    }

    #[test]
    fn classes_denied_by_default_and_what_the_options_change() {
        let cases: [(&str, bool, &[&str], bool); 14] = [
            ("169.254.169.254", false, &[], false),
            ("127.0.0.1", false, &[], false),
            ("::1", false, &[], false),
            ("::ffff:127.0.0.1", false, &[], false),
            ("::ffff:169.254.169.254", false, &[], false),
            ("fe80::1", false, &[], false),
            ("0.0.0.0", false, &[], false),
            ("224.0.0.1", false, &[], false),
            ("10.1.2.3", false, &[], true),
            ("10.1.2.3", true, &[], false),
            ("100.64.0.1", true, &[], false),
            ("10.1.2.3", true, &["10.1.0.0/16"], true),
            ("127.0.0.1", false, &["127.0.0.1"], true),
            ("93.184.216.34", true, &[], true),
        ];
        for (address, deny_private, allow, admitted) in cases {
            let result = guard(deny_private, allow).check_ip("h", address.parse().unwrap());
            assert_eq!(result.is_ok(), admitted, "{address} deny_private={deny_private} allow={allow:?}: {result:?}");
        }
    }

    #[test]
    fn own_listeners_are_refused_whatever_the_allow_list_says() {
        let g = guard(false, &["127.0.0.0/8", "0.0.0.0/0"]);
        assert!(matches!(g.check_socket("h", "127.0.0.1:8085".parse().unwrap()), Err(Refused::OwnListener(_))));
        assert!(matches!(g.check_socket("h", "127.0.0.1:9000".parse().unwrap()), Err(Refused::OwnListener(_))), "0.0.0.0 listens on loopback too");
        assert!(g.check_socket("h", "127.0.0.1:8086".parse().unwrap()).is_ok(), "another port of an allowed network");
    }

    #[test]
    fn allowed_host_names_admit_their_addresses() {
        let g = guard(true, &["hooks.internal.example"]);
        assert!(g.check_ip("HOOKS.internal.example", "10.0.0.5".parse().unwrap()).is_ok());
        assert!(g.check_ip("other.internal.example", "10.0.0.5".parse().unwrap()).is_err());
        assert!(NetworkPolicy::parse_allow(&["not a host/".into()]).is_err());
    }

    #[tokio::test]
    async fn urls_are_checked_with_their_port_and_after_dns() {
        let g = guard(false, &[]);
        let refused = g.check_url(&url::Url::parse("http://169.254.169.254/latest/meta-data/").unwrap()).await.unwrap_err();
        assert!(refused.to_string().contains("link-local"), "{refused}");
        assert!(g.check_url(&url::Url::parse("http://localhost:1234/").unwrap()).await.is_err(), "a name resolving to loopback");
        assert!(g.check_url(&url::Url::parse("http://[::1]:1234/").unwrap()).await.is_err());
        let allowed = guard(false, &["127.0.0.0/8"]);
        assert!(allowed.check_url(&url::Url::parse("http://127.0.0.1:1234/").unwrap()).await.is_ok());
        assert!(matches!(allowed.check_url(&url::Url::parse("http://127.0.0.1:8085/v2.0/").unwrap()).await, Err(Refused::OwnListener(_))));
    }

    #[tokio::test]
    async fn before_a_send_names_are_resolved_only_on_tocsins_own_ports() {
        let g = guard(false, &["127.0.0.0/8"]);
        let check = |url: &str| {
            let (g, url) = (g.clone(), url::Url::parse(url).unwrap());
            async move { g.check_destination(&url).await }
        };
        assert!(check("http://unresolvable.invalid:1234/").await.is_ok(), "the resolver judges it when it connects");
        assert!(matches!(check("http://localhost:8085/").await, Err(Refused::OwnListener(_))));
        assert!(matches!(check("http://169.254.169.254/").await, Err(Refused::Denied(_))));
        assert!(check("http://127.0.0.1:1234/").await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_keeps_only_admitted_addresses() {
        let g = guard(false, &[]);
        let error = match g.resolver(&[]).resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved through the guard"),
            Err(error) => error,
        };
        assert!(refusal_in(error.as_ref()).is_some(), "{error}");
        assert!(g.resolver(&["localhost".into()]).resolve("localhost".parse().unwrap()).await.is_ok(), "an operator's host is trusted");
    }
}
