//! Which proxy a request goes through, read from the environment by the rules of Go's
//! `net/http` (`golang.org/x/net/http/httpproxy`), which Docker, skopeo, crane and regctl all
//! follow: `HTTPS_PROXY` for `https` URLs and `HTTP_PROXY` for `http` ones (upper case first,
//! then lower case); `localhost` and loopback addresses never go through a proxy; `NO_PROXY`
//! lists hosts that do not either: `*` (everything), `example.com` (it and its subdomains),
//! `.example.com` (its subdomains only), `*.example.com` (the same), `host:port` (that port
//! only), an IP address (`10.1.2.3`, `[::1]:5000`) or a CIDR range (`10.0.0.0/8`). Entries are
//! trimmed and compared without case. Proxies may be `http://`, `https://`, `socks5://` or
//! `socks5h://` URLs (a bare `host:port` means `http://`); `ALL_PROXY` is not read (the Go
//! tools do not read it either), and a warning says so when it is the only proxy set.

use std::net::IpAddr;

/// The proxies of the environment and the hosts that bypass them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    http: Option<String>,
    https: Option<String>,
    no_proxy: Vec<Bypass>,
    /// What the user should know (a variable that is not read), said once.
    pub warnings: Vec<String>,
}

/// One `NO_PROXY` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bypass {
    /// `*`: no proxy for anything.
    All,
    /// A host name and its subdomains (`exact` also the name itself), on `port` or any.
    Domain {
        suffix: String,
        exact: bool,
        port: Option<u16>,
    },
    /// One address, on `port` or any.
    Ip { ip: IpAddr, port: Option<u16> },
    /// A range of addresses.
    Cidr { net: IpAddr, bits: u8 },
}

impl ProxyEnv {
    /// The proxies the variables `get` returns name; an error names the variable whose
    /// value is not a proxy tug can use.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<ProxyEnv, String> {
        let read = |upper: &str| {
            [upper.to_owned(), upper.to_ascii_lowercase()]
                .into_iter()
                .find_map(|name| {
                    get(&name)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (name, v))
                })
        };
        let proxy = |upper: &str| -> Result<Option<String>, String> {
            read(upper)
                .map(|(name, value)| proxy_url(&value).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let http = proxy("HTTP_PROXY")?;
        let https = proxy("HTTPS_PROXY")?;
        let no_proxy = read("NO_PROXY")
            .map(|(_, v)| v.split(',').filter_map(Bypass::parse).collect())
            .unwrap_or_default();
        let mut warnings = Vec::new();
        if let Some((name, _)) = read("ALL_PROXY") {
            if http.is_none() && https.is_none() {
                warnings.push(format!(
                    "{name} is set but not read (as in Docker and skopeo): set HTTPS_PROXY \
                     (and HTTP_PROXY) to use a proxy"
                ));
            }
        }
        Ok(ProxyEnv {
            http,
            https,
            no_proxy,
            warnings,
        })
    }

    /// Every proxy URL a request may go through.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.http.iter().chain(&self.https).map(String::as_str)
    }

    /// The proxy URL a request to `url` goes through, if any.
    pub fn for_url(&self, url: &str) -> Option<&str> {
        let (scheme, rest) = url.split_once("://")?;
        let proxy = match scheme.to_ascii_lowercase().as_str() {
            "https" => self.https.as_deref(),
            "http" => self.http.as_deref(),
            _ => None,
        }?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        let (host, port) = split_host_port(authority, default_port)?;
        self.uses_proxy(&host, port).then_some(proxy)
    }

    /// Whether a request to `host` (lower case, brackets removed) on `port` is proxied.
    fn uses_proxy(&self, host: &str, port: u16) -> bool {
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        !self.no_proxy.iter().any(|b| b.matches(host, ip, port))
    }
}

impl Bypass {
    /// One `NO_PROXY` entry (`None` for an empty one).
    fn parse(entry: &str) -> Option<Bypass> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Bypass::All);
        }
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                let max = if net.is_ipv4() { 32 } else { 128 };
                if bits <= max {
                    return Some(Bypass::Cidr { net, bits });
                }
            }
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Some(Bypass::Ip { ip, port: None });
        }
        let (host, port) = match split_host_port(&entry, 0) {
            Some((h, 0)) => (h, None),
            Some((h, p)) => (h, Some(p)),
            None => (entry.clone(), None),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Bypass::Ip { ip, port });
        }
        let host = host.strip_prefix('*').unwrap_or(&host);
        Some(match host.strip_prefix('.') {
            Some(_) => Bypass::Domain {
                suffix: host.to_owned(),
                exact: false,
                port,
            },
            None => Bypass::Domain {
                suffix: format!(".{host}"),
                exact: true,
                port,
            },
        })
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|p| p == port);
        match self {
            Bypass::All => true,
            Bypass::Domain {
                suffix,
                exact,
                port: want,
            } => {
                let named = host.ends_with(suffix.as_str()) || (*exact && host == &suffix[1..]);
                named && port_ok(want)
            }
            Bypass::Ip { ip: want, port: p } => ip == Some(*want) && port_ok(p),
            Bypass::Cidr { net, bits } => ip.is_some_and(|ip| in_cidr(ip, *net, *bits)),
        }
    }
}

/// Whether `ip` is in `net/bits`.
fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, len) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = len - u32::from(bits);
    (a >> shift) == (b >> shift)
}

/// `host` (lower case, IPv6 brackets removed) and port of `authority`; `default` when it
/// names none. `None` for an authority that is not `host[:port]`.
fn split_host_port(authority: &str, default: u16) -> Option<(String, u16)> {
    let authority = authority.to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Some((authority.clone(), default)),
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.clone(), default)),
    }
}

/// A proxy variable's value as the URL the transport takes: `http://` added to a bare
/// `host:port`; schemes other than http, https, socks5 and socks5h refused.
fn proxy_url(value: &str) -> Result<String, String> {
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(scheme.as_str(), "http" | "https" | "socks5" | "socks5h") {
        return Err(format!(
            "proxy scheme {scheme:?} is not supported (use http://, https://, socks5:// or socks5h://)"
        ));
    }
    // A host, and a port that is a number: `host:notaport` would otherwise go to port 80.
    let shown = shown(&url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{shown} is not a proxy URL: {e}"))?;
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(format!("{shown} names no proxy host"));
    };
    let host_and_port = authority.as_str().rsplit('@').next().unwrap_or("");
    let names_port = !host_and_port.ends_with(']') && host_and_port.contains(':');
    if names_port && authority.port_u16().is_none() {
        return Err(format!("{shown}: the port is not a number from 1 to 65535"));
    }
    Ok(url)
}

/// A proxy URL as messages show it: without its user info's password, control characters
/// escaped.
pub fn shown(url: &str) -> String {
    tug_core::terminal_safe::terminal_safe(&redacted(url)).into_owned()
}

/// A proxy URL without the password of its user info, for messages. The user info ends at
/// the last `@`, as the connection reads it (a password may hold an unescaped `@`).
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    const P: &str = "http://proxy:3128";

    #[test]
    fn each_scheme_has_its_own_proxy() {
        let only_http = env(&[("HTTP_PROXY", "proxy:3128")]);
        assert_eq!(only_http.for_url("http://reg.example/v2/"), Some(P));
        assert_eq!(
            only_http.for_url("https://reg.example/v2/"),
            None,
            "HTTP_PROXY alone never proxies HTTPS"
        );
        let only_https = env(&[("https_proxy", P)]);
        assert_eq!(only_https.for_url("https://reg.example:5000/v2/"), Some(P));
        assert_eq!(only_https.for_url("http://reg.example/v2/"), None);
        let both = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(
            both.for_url("https://reg.example/"),
            Some("http://upper:1"),
            "upper case wins"
        );
    }

    #[test]
    fn loopback_never_goes_through_a_proxy() {
        let e = env(&[("HTTPS_PROXY", P), ("HTTP_PROXY", P)]);
        for url in [
            "https://127.0.0.1:5000/v2/",
            "http://127.3.4.5/v2/",
            "https://localhost:443/v2/",
            "https://[::1]:5000/v2/",
            "HTTPS://LOCALHOST/v2/",
        ] {
            assert_eq!(e.for_url(url), None, "{url}");
        }
        assert_eq!(e.for_url("https://10.0.0.1/v2/"), Some(P));
        assert_eq!(e.for_url("https://user:pw@reg.example/v2/"), Some(P));
    }

    #[test]
    fn no_proxy_knows_suffixes_ips_cidrs_ports_and_star() {
        let e = env(&[
            ("HTTPS_PROXY", P),
            (
                "NO_PROXY",
                " corp.example , .only-subs.example,*.star.example, reg.example:5000, 10.0.0.0/8, 192.168.1.7, [fd00::1]:443, ",
            ),
        ]);
        let direct = [
            "https://corp.example/v2/",
            "https://a.b.corp.example/v2/",
            "https://x.only-subs.example/v2/",
            "https://y.star.example/v2/",
            "https://reg.example:5000/v2/",
            "https://10.200.3.4/v2/",
            "https://192.168.1.7:8443/v2/",
            "https://[fd00::1]/v2/",
            "https://CORP.EXAMPLE/v2/",
        ];
        for url in direct {
            assert_eq!(e.for_url(url), None, "{url} bypasses");
        }
        let proxied = [
            "https://notcorp.example/v2/",
            "https://only-subs.example/v2/",
            "https://star.example/v2/",
            "https://reg.example/v2/",
            "https://reg.example:5001/v2/",
            "https://11.0.0.1/v2/",
            "https://192.168.1.8/v2/",
            "https://[fd00::1]:5000/v2/",
        ];
        for url in proxied {
            assert_eq!(e.for_url(url), Some(P), "{url} is proxied");
        }
        let star = env(&[("HTTPS_PROXY", P), ("no_proxy", "*")]);
        assert_eq!(star.for_url("https://anything.example/"), None);
    }

    #[test]
    fn bad_and_unread_variables_are_said() {
        let err = ProxyEnv::from_vars(|n| (n == "HTTPS_PROXY").then(|| "socks4://p:1080".into()))
            .unwrap_err();
        assert!(
            err.contains("HTTPS_PROXY") && err.contains("socks4"),
            "{err}"
        );
        let socks = env(&[("HTTPS_PROXY", "socks5://p:1080")]);
        assert_eq!(
            socks.for_url("https://reg.example/"),
            Some("socks5://p:1080")
        );
        let all = env(&[("ALL_PROXY", "socks5://p:1080")]);
        assert_eq!(all.for_url("https://reg.example/"), None);
        assert!(all.warnings[0].contains("ALL_PROXY"), "{:?}", all.warnings);
        assert!(env(&[]).warnings.is_empty());
    }

    /// Found by probing: a password with an unescaped `@` showed its tail.
    #[test]
    fn a_shown_proxy_url_keeps_no_part_of_the_password() {
        let shown = redacted("http://puser:Pass@w0rdXY9@127.0.0.1:1");
        assert_eq!(shown, "http://***@127.0.0.1:1");
        assert_eq!(redacted("http://127.0.0.1:3128"), "http://127.0.0.1:3128");
    }
}
