//! Where a call came from on the network: the peer address the transport saw and the
//! `X-Forwarded-For` header it carried, and which proxies may speak for the client. The rate
//! limiter keys anonymous callers by the result.

use std::net::IpAddr;

/// What a network surface knows of the caller's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The address of the TCP peer (a proxy, when there is one).
    pub peer: IpAddr,
    /// The `X-Forwarded-For` header as received (every value, comma-joined); only believed when
    /// the peer is a trusted proxy.
    pub forwarded_for: Option<String>,
}

impl ClientAddr {
    pub fn new(peer: IpAddr, forwarded_for: Option<String>) -> Self {
        ClientAddr {
            peer: canonical(peer),
            forwarded_for,
        }
    }

    /// From the peer and every `X-Forwarded-For` value of a request, in order.
    pub fn from_headers<'a>(
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let joined = forwarded_for.into_iter().collect::<Vec<_>>().join(",");
        Self::new(peer, (!joined.trim().is_empty()).then_some(joined))
    }
}

/// The proxies allowed to report the client's address, as addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<(IpAddr, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)")]
pub struct BadProxy(pub String);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.168.1.7` or `fd00::/8` entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        let ranges = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                let bad = || BadProxy(entry.to_owned());
                let (addr, bits) = match entry.split_once('/') {
                    Some((addr, bits)) => (addr, Some(bits)),
                    None => (entry, None),
                };
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let bits = match bits {
                    None => max,
                    Some(bits) => bits.parse().ok().filter(|b| *b <= max).ok_or_else(bad)?,
                };
                Ok((canonical(addr), bits))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { ranges })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.ranges
            .iter()
            .any(|(net, bits)| same_prefix(*net, addr, *bits))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it could be
    /// made up by the client). An unreadable entry stops the walk at the last good one.
    pub fn client_ip(&self, client: &ClientAddr) -> IpAddr {
        let mut ip = client.peer;
        if !self.contains(ip) {
            return ip;
        }
        let Some(header) = &client.forwarded_for else {
            return ip;
        };
        for entry in header.rsplit(',') {
            match parse_forwarded(entry) {
                Some(hop) => {
                    ip = hop;
                    if !self.contains(hop) {
                        break;
                    }
                }
                None => break,
            }
        }
        ip
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, from dual-stack sockets) compares as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn same_prefix(net: IpAddr, addr: IpAddr, bits: u8) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The rate-limit bucket of an address: itself for IPv4, its /64 for IPv6 (one subscriber usually
/// holds a whole /64, so single addresses would be free to rotate through).
pub fn address_bucket(ip: IpAddr) -> String {
    let mut bucket = String::with_capacity(24);
    push_address_bucket(&mut bucket, ip);
    bucket
}

/// [`address_bucket`] appended to `out`. IPv4 digits are written directly: this runs on every
/// limited call, and the formatting machinery costs more than the rest of the decision.
pub fn push_address_bucket(out: &mut String, ip: IpAddr) {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            use std::fmt::Write;
            let _ = write!(out, "{}/64", std::net::Ipv6Addr::from(prefix));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, xff: Option<&str>) -> ClientAddr {
        ClientAddr::new(ip(peer), xff.map(str::to_owned))
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7"]).unwrap();
        // Untrusted peer: the header is ignored, whatever it says.
        assert_eq!(
            proxies.client_ip(&client("203.0.113.9", Some("1.1.1.1"))),
            ip("203.0.113.9")
        );
        // Trusted peer: the right-most untrusted entry; a client-made prefix is skipped.
        assert_eq!(
            proxies.client_ip(&client("10.1.2.3", Some("6.6.6.6, 198.51.100.4, 10.9.9.9"))),
            ip("198.51.100.4")
        );
        assert_eq!(
            proxies.client_ip(&client("192.168.1.7", Some("198.51.100.4:4711"))),
            ip("198.51.100.4")
        );
        // Trusted peer, no header, or a broken one: the last address that could be read.
        assert_eq!(proxies.client_ip(&client("10.1.2.3", None)), ip("10.1.2.3"));
        assert_eq!(
            proxies.client_ip(&client("10.1.2.3", Some("garbage, 10.0.0.5"))),
            ip("10.0.0.5")
        );
        // Nothing trusted (the default): the peer.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(&client("127.0.0.1", Some("1.2.3.4"))),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ranges_match_by_prefix_and_mapped_addresses_as_ipv4() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "fd00::/8", "0.0.0.0/0"]).unwrap();
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(proxies.contains(ip("8.8.8.8")), "/0 is everything");
        let one = TrustedProxies::parse(&["172.16.0.0/12"]).unwrap();
        assert!(one.contains(ip("172.31.255.255")));
        assert!(!one.contains(ip("172.32.0.0")));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.0/33", "proxy.local", "::1/129", "10.0.0/8", ""] {
            let e = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(
            address_bucket(ip("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_bucket(ip("2001:db8:1:2:bbbb::9")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(address_bucket(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_bucket(ip("192.0.2.1")), "192.0.2.1");
        for v4 in ["0.0.0.0", "9.10.99.100", "255.254.200.1", "10.0.0.255"] {
            assert_eq!(address_bucket(ip(v4)), v4);
        }
    }
}
