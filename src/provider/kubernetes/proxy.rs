//! Which proxy, if any, carries the requests to a cluster's API server, chosen as kubectl
//! chooses it: the kubeconfig cluster's `proxy-url` when it has one; otherwise
//! HTTPS_PROXY (HTTP_PROXY for an `http://` server), unless the server is a loopback
//! address or `localhost`, or NO_PROXY names it.
//!
//! kube's own choice differs in ways that break real networks: it reads HTTPS_PROXY for
//! every server, and it matches NO_PROXY against the proxy's address instead of the
//! server's, so a NO_PROXY that exempts a private cluster endpoint does not.

use std::net::IpAddr;
use std::str::FromStr;

use http::Uri;
use ipnet::IpNet;

/// The proxy variables of an environment (the upper-case name first, as kubectl reads them).
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    pub https_proxy: Option<String>,
    pub http_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    pub fn from_process() -> ProxyEnv {
        let var = |upper: &str, lower: &str| {
            [upper, lower]
                .iter()
                .filter_map(|n| std::env::var(n).ok())
                .map(|v| v.trim().to_string())
                .find(|v| !v.is_empty())
        };
        ProxyEnv {
            https_proxy: var("HTTPS_PROXY", "https_proxy"),
            http_proxy: var("HTTP_PROXY", "http_proxy"),
            no_proxy: var("NO_PROXY", "no_proxy"),
        }
    }
}

/// Where a chosen proxy came from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The kubeconfig cluster's `proxy-url`.
    Kubeconfig,
    /// An environment variable (its name).
    Env(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    pub url: Uri,
    pub source: Source,
}

impl Proxy {
    /// The proxy's URL without any user name or password in it, for messages.
    pub fn display(&self) -> String {
        let scheme = self.url.scheme_str().unwrap_or("http");
        let host_port = self
            .url
            .authority()
            .map(|a| {
                a.as_str()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        let from = match &self.source {
            Source::Kubeconfig => "the kubeconfig's proxy-url".to_string(),
            Source::Env(name) => name.to_string(),
        };
        format!("{scheme}://{host_port} (from {from})")
    }
}

/// The proxy for `server`, or `None` to connect directly. `explicit` is the kubeconfig
/// cluster's `proxy-url`. Errors say which setting is not a URL.
pub fn choose(
    server: &Uri,
    explicit: Option<&str>,
    env: &ProxyEnv,
) -> Result<Option<Proxy>, String> {
    if let Some(url) = explicit.map(str::trim).filter(|u| !u.is_empty()) {
        return Ok(Some(Proxy {
            url: parse_proxy(url, "the kubeconfig's proxy-url")?,
            source: Source::Kubeconfig,
        }));
    }
    let https = server.scheme_str() != Some("http");
    let (name, value) = if https {
        ("HTTPS_PROXY", &env.https_proxy)
    } else {
        ("HTTP_PROXY", &env.http_proxy)
    };
    let Some(value) = value else { return Ok(None) };
    let Some(host) = server.host() else {
        return Ok(None);
    };
    let port = server.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !use_proxy(host, port, env.no_proxy.as_deref().unwrap_or_default()) {
        return Ok(None);
    }
    Ok(Some(Proxy {
        url: parse_proxy(value, name)?,
        source: Source::Env(name),
    }))
}

/// A proxy URL; without a scheme it is an HTTP proxy, as curl and kubectl take it.
fn parse_proxy(value: &str, what: &str) -> Result<Uri, String> {
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    match Uri::from_str(&with_scheme) {
        Ok(u) if u.host().is_some_and(|h| !h.is_empty()) => Ok(u),
        _ => Err(format!(
            "{what} is not a proxy URL (expected http://HOST:PORT, https://… or socks5://…)"
        )),
    }
}

/// Whether a request to `host:port` goes through the environment's proxy: never to
/// `localhost` or a loopback address, nor to what NO_PROXY names.
fn use_proxy(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip = IpAddr::from_str(&host).ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    !no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| exempts(&entry, &host, ip, port))
}

/// Whether one NO_PROXY entry names `host:port`: `*`; an IP address or CIDR range; a
/// domain (`example.com` is it and its subdomains, `.example.com` and `*.example.com`
/// only its subdomains); any of these with `:PORT` only on that port.
fn exempts(entry: &str, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(net) = IpNet::from_str(entry) {
        return ip.is_some_and(|ip| net.contains(&ip));
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    if let Ok(entry_ip) = IpAddr::from_str(name) {
        return ip == Some(entry_ip);
    }
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

/// The first NO_PROXY entry kube cannot read (kube reads NO_PROXY itself whenever a
/// proxy is set, and refuses what kubectl would skip), described for a message.
pub fn unreadable_no_proxy_entry(no_proxy: &str) -> Option<String> {
    no_proxy.split(',').map(str::trim).find_map(|entry| {
        if entry.is_empty() {
            return Some("an empty entry (a doubled or trailing comma)".to_string());
        }
        let readable = IpNet::from_str(entry).is_ok()
            || IpAddr::from_str(entry).is_ok()
            || Uri::from_str(entry).is_ok_and(|u| u.host().is_some());
        (!readable).then(|| format!("the entry {entry:?} is not an address, a range or a domain"))
    })
}

/// `host:port` or `[v6]:port` into the host and the port; a bare host or IPv6 address
/// has no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, tail)) => (ip, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(https: Option<&str>, http: Option<&str>, no_proxy: Option<&str>) -> ProxyEnv {
        ProxyEnv {
            https_proxy: https.map(str::to_string),
            http_proxy: http.map(str::to_string),
            no_proxy: no_proxy.map(str::to_string),
        }
    }

    fn chosen(server: &str, explicit: Option<&str>, e: &ProxyEnv) -> Option<String> {
        choose(&server.parse().unwrap(), explicit, e)
            .unwrap()
            .map(|p| p.url.to_string())
    }

    #[test]
    fn the_kubeconfig_proxy_url_wins_and_applies_even_to_loopback() {
        let e = env(Some("http://env:3128"), None, Some("*"));
        assert_eq!(
            chosen(
                "https://127.0.0.1:6443",
                Some("socks5://127.0.0.1:1080"),
                &e
            )
            .as_deref(),
            Some("socks5://127.0.0.1:1080/")
        );
    }

    #[test]
    fn the_scheme_of_the_server_picks_the_variable() {
        let e = env(Some("http://secure:3128"), Some("http://plain:3128"), None);
        assert_eq!(
            chosen("https://api.example.com", None, &e).as_deref(),
            Some("http://secure:3128/")
        );
        assert_eq!(
            chosen("http://api.example.com:8080", None, &e).as_deref(),
            Some("http://plain:3128/")
        );
        // No HTTPS_PROXY: an https server is reached directly, HTTP_PROXY is not used.
        let only_http = env(None, Some("http://plain:3128"), None);
        assert_eq!(chosen("https://api.example.com", None, &only_http), None);
    }

    #[test]
    fn loopback_and_localhost_are_never_proxied_from_the_environment() {
        let e = env(Some("http://proxy:3128"), Some("http://proxy:3128"), None);
        for server in [
            "https://127.0.0.1:6443",
            "https://127.5.0.9",
            "https://[::1]:6443",
            "http://localhost:8080",
        ] {
            assert_eq!(chosen(server, None, &e), None, "{server}");
        }
    }

    #[test]
    fn no_proxy_is_matched_against_the_server() {
        let server = "https://abc.gr7.eu-west-1.eks.amazonaws.com";
        let proxied = |no_proxy: &str| {
            chosen(server, None, &env(Some("proxy:3128"), None, Some(no_proxy))).is_some()
        };
        assert!(!proxied("*"));
        assert!(!proxied("localhost, .eks.amazonaws.com"));
        assert!(!proxied("*.eks.amazonaws.com"));
        assert!(!proxied("amazonaws.com"));
        assert!(!proxied("abc.gr7.eu-west-1.eks.amazonaws.com:443"));
        assert!(proxied("abc.gr7.eu-west-1.eks.amazonaws.com:8443"));
        assert!(proxied("example.com,10.0.0.0/8"));
        // A suffix is a domain boundary, not a substring.
        assert!(proxied("s.amazonaws.com"));
        // The proxy's own address in NO_PROXY says nothing of the server.
        assert!(proxied("proxy"));
    }

    #[test]
    fn no_proxy_names_addresses_and_ranges() {
        let proxied = |server: &str, no_proxy: &str| {
            chosen(server, None, &env(Some("proxy:3128"), None, Some(no_proxy))).is_some()
        };
        assert!(!proxied("https://10.1.2.3", "10.0.0.0/8"));
        assert!(!proxied("https://10.1.2.3:6443", "10.1.2.3"));
        assert!(!proxied("https://10.1.2.3:6443", "10.1.2.3:6443"));
        assert!(proxied("https://10.1.2.3:6443", "10.1.2.3:443"));
        assert!(proxied("https://10.1.2.3", "10.1.2.4,192.168.0.0/16"));
        assert!(!proxied("https://[fd00::1]:6443", "fd00::/8"));
        assert!(!proxied("https://[fd00::1]:6443", "[fd00::1]:6443"));
        // `.domain` names only subdomains.
        assert!(proxied("https://internal", ".internal"));
        assert!(!proxied("https://k8s.internal", ".internal"));
    }

    #[test]
    fn a_proxy_without_a_scheme_is_http_and_a_bad_one_is_named() {
        let e = env(Some("proxy.corp:3128"), None, None);
        assert_eq!(
            chosen("https://api.example.com", None, &e).as_deref(),
            Some("http://proxy.corp:3128/")
        );
        let bad = env(Some("http://"), None, None);
        let err = choose(&"https://api.example.com".parse().unwrap(), None, &bad).unwrap_err();
        assert!(err.contains("HTTPS_PROXY is not a proxy URL"), "{err}");
    }

    #[test]
    fn the_no_proxy_entry_kube_cannot_read_is_named() {
        assert_eq!(
            unreadable_no_proxy_entry("localhost,10.0.0.0/8,.svc,*.corp,[::1]:6443"),
            None
        );
        assert_eq!(
            unreadable_no_proxy_entry("localhost,127.0.0.1,").as_deref(),
            Some("an empty entry (a doubled or trailing comma)")
        );
        assert_eq!(
            unreadable_no_proxy_entry("localhost, my host").as_deref(),
            Some("the entry \"my host\" is not an address, a range or a domain")
        );
    }

    #[test]
    fn a_proxy_password_stays_out_of_messages() {
        let p = choose(
            &"https://api.example.com".parse().unwrap(),
            Some("http://user:s3cret@proxy.corp:3128"),
            &ProxyEnv::default(),
        )
        .unwrap()
        .unwrap();
        let shown = p.display();
        assert!(
            !shown.contains("s3cret") && !shown.contains("user"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "http://proxy.corp:3128 (from the kubeconfig's proxy-url)"
        );
    }
}
