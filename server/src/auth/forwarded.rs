//! Where a request comes from, behind reverse proxies (`trusted_proxies`).
//!
//! Only a peer in the trusted set is believed. Then the client is found in `X-Forwarded-For`
//! (or, when a request has none, RFC 7239 `Forwarded: for=`): walking from the right — the
//! entry the nearest proxy appended — past every trusted proxy, the first address that is not
//! trusted is the client. Anything further left was written by the client and could be forged.
//! HTTPS is the `proto=` of that `Forwarded` element, else the right-most `X-Forwarded-Proto`.
//! From an untrusted peer (or with no proxies configured) every forwarding header is ignored:
//! the peer is the client, and the request is plain HTTP (Kiln itself serves no TLS).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// What the request's origin is, as far as Kiln can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (`None`: no peer address, e.g. a request made in-process).
    pub client: Option<IpAddr>,
    /// Whether the client reached us (its proxy) over HTTPS.
    pub https: bool,
}

/// One hop a proxy reported: the address it received the request from (`None`: `unknown`, an
/// obfuscated identifier, or garbage), and the scheme (from `Forwarded` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub addr: Option<IpAddr>,
    pub proto: Option<String>,
}

/// Resolves the client address and scheme of a request from `peer` with `headers`.
pub fn resolve(trusted: &[IpNet], peer: Option<IpAddr>, headers: &HeaderMap) -> Origin {
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return Origin {
            client: None,
            https: false,
        };
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return Origin {
            client: Some(peer),
            https: false,
        };
    }
    let hops = if headers.contains_key("x-forwarded-for") {
        x_forwarded_for(headers)
    } else {
        forwarded(headers)
    };
    let mut client = peer;
    let mut proto = None;
    for hop in hops.iter().rev() {
        // An entry that is no address ends the walk: the last trusted hop is all we know.
        let Some(addr) = hop.addr else { break };
        client = addr;
        proto = hop.proto.as_deref();
        if !is_trusted(addr) {
            break;
        }
    }
    let proto = proto.or_else(|| last_value(headers, "x-forwarded-proto"));
    Origin {
        client: Some(client),
        https: proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
    }
}

/// The entries of every `X-Forwarded-For` header, left to right.
pub fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("garbage").split(','))
        .map(|entry| Hop {
            addr: parse_node(entry.trim()),
            proto: None,
        })
        .collect()
}

/// The elements of every `Forwarded` header (RFC 7239), left to right.
pub fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded").iter() {
        let Ok(value) = value.to_str() else {
            hops.push(Hop {
                addr: None,
                proto: None,
            });
            continue;
        };
        for element in split_outside_quotes(value, ',') {
            let mut hop = Hop {
                addr: None,
                proto: None,
            };
            for pair in split_outside_quotes(element, ';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = unquote(value.trim());
                match name.trim().to_ascii_lowercase().as_str() {
                    "for" => hop.addr = parse_node(&value),
                    "proto" => hop.proto = Some(value),
                    _ => {}
                }
            }
            hops.push(hop);
        }
    }
    hops
}

/// The right-most comma-separated value of the last `name` header.
fn last_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(name)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// Splits `text` at `sep` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(text[start..i].trim());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A token, or a quoted string without its quotes and escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|n| n.parse().ok()).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn forwarded_elements_parse() {
        let h = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=https;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
            ),
            (
                "forwarded",
                r#"for=unknown, for=_hidden;proto=http, for="192.0.2.7:80""#,
            ),
            (
                "forwarded",
                r#"proto=https;for="198.51.100.1", for="\"weird,\"""#,
            ),
        ]);
        let hops = forwarded(&h);
        let addrs: Vec<Option<IpAddr>> = hops.iter().map(|h| h.addr).collect();
        assert_eq!(
            addrs,
            [
                ip("192.0.2.60"),
                ip("2001:db8:cafe::17"),
                None,
                None,
                ip("192.0.2.7"),
                ip("198.51.100.1"),
                None,
            ]
        );
        assert_eq!(hops[0].proto.as_deref(), Some("https"));
        assert_eq!(hops[3].proto.as_deref(), Some("http"));
        assert_eq!(hops[5].proto.as_deref(), Some("https"));
        assert_eq!(hops.len(), 7);
    }

    #[test]
    fn x_forwarded_for_entries_parse() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, ::ffff:10.0.0.2"),
            ("x-forwarded-for", "[2001:db8::1]:443 ,nonsense"),
        ]);
        let addrs: Vec<Option<IpAddr>> = x_forwarded_for(&h).iter().map(|h| h.addr).collect();
        assert_eq!(
            addrs,
            [ip("203.0.113.9"), ip("10.0.0.2"), ip("2001:db8::1"), None]
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.8;proto=https"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = resolve(&nets(&["10.0.0.0/8"]), ip("192.0.2.1"), &h);
        assert_eq!(origin.client, ip("192.0.2.1"));
        assert!(!origin.https);
        // No proxies configured: the same.
        let origin = resolve(&[], ip("10.0.0.1"), &h);
        assert_eq!(origin.client, ip("10.0.0.1"));
        assert!(!origin.https);
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // The client forged the first entry; the proxy appended the real address.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.3"),
            ("x-forwarded-proto", "http, https"),
        ]);
        let origin = resolve(&trusted, ip("10.0.0.2"), &h);
        assert_eq!(origin.client, ip("203.0.113.9"));
        assert!(origin.https);
        // Every hop trusted: the left-most one.
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.3")]);
        let origin = resolve(&trusted, ip("10.0.0.2"), &h);
        assert_eq!(origin.client, ip("10.0.0.9"));
        assert!(!origin.https);
        // An entry that is no address stops the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.3")]);
        assert_eq!(resolve(&trusted, ip("10.0.0.2"), &h).client, ip("10.0.0.3"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(&trusted, ip("10.0.0.2"), &HeaderMap::new()).client,
            ip("10.0.0.2")
        );
        // An IPv4-mapped peer is the IPv4 address.
        let h = headers(&[("x-forwarded-for", "2001:db8::5")]);
        assert_eq!(
            resolve(&trusted, ip("::ffff:10.0.0.2"), &h).client,
            ip("2001:db8::5")
        );
    }

    #[test]
    fn forwarded_gives_address_and_scheme_when_there_is_no_x_forwarded_for() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=http, for=203.0.113.9;proto=https, for=10.0.0.3;proto=http",
        )]);
        let origin = resolve(&trusted, ip("10.0.0.2"), &h);
        assert_eq!(origin.client, ip("203.0.113.9"));
        assert!(origin.https, "the scheme of the client's own hop");
        // X-Forwarded-For wins when both are present (what nginx and Caddy set).
        let h = headers(&[
            ("forwarded", "for=1.2.3.4;proto=https"),
            ("x-forwarded-for", "203.0.113.10"),
        ]);
        let origin = resolve(&trusted, ip("10.0.0.2"), &h);
        assert_eq!(origin.client, ip("203.0.113.10"));
        assert!(!origin.https);
    }
}
