//! The client's real address. Only a trusted proxy may speak for someone else through
//! `X-Forwarded-For`; from anyone else the header is ignored, since it is trivially forged.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName};

use crate::config::IpCidr;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Who sent the request, and whether a trusted proxy relayed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The TCP peer is a trusted proxy: its forwarding headers are believed.
    pub via_trusted_proxy: bool,
}

/// Walks `X-Forwarded-For` from the right (the entry our peer added), skipping trusted proxies;
/// the first untrusted address is the client.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpCidr]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return ClientAddr {
            ip: peer,
            via_trusted_proxy: false,
        };
    }
    let mut client = peer;
    let hops = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.rsplit(','));
    for hop in hops {
        match hop_address(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the chain: stop believing it at that point.
            None => break,
        }
    }
    ClientAddr {
        ip: client,
        via_trusted_proxy: true,
    }
}

/// One `X-Forwarded-For` entry: an address, also with the port some proxies add (Azure
/// Application Gateway writes `203.0.113.7:51234` and `[2001:db8::7]:51234`). Read as garbage,
/// every client of such a proxy would count as the proxy: one rate limit and one ban for all.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|address| address.ip()))
        .ok()
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    // `::ffff:198.51.100.7` is the IPv4 client it names, for limits and bans alike.
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn trusted() -> Vec<IpCidr> {
        vec![IpCidr("10.0.0.0/8".parse().unwrap())]
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn untrusted_peers_cannot_claim_another_address() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let found = resolve(peer, &xff("1.2.3.4"), &trusted());
        assert_eq!(found.ip, peer);
        assert!(!found.via_trusted_proxy);
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let peer = "10.0.0.2".parse().unwrap();
        let found = resolve(peer, &xff("6.6.6.6, 198.51.100.7, 10.0.0.9"), &trusted());
        assert_eq!(found.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert!(found.via_trusted_proxy);
    }

    #[test]
    fn entries_with_ports_and_brackets_name_their_address() {
        let peer = "10.0.0.2".parse().unwrap();
        for (entry, client) in [
            ("198.51.100.7:51234", "198.51.100.7"),
            ("[2001:db8::7]:51234", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            (" 2001:db8::7 ", "2001:db8::7"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
        ] {
            let found = resolve(peer, &xff(&format!("6.6.6.6, {entry}")), &trusted());
            assert_eq!(found.ip, client.parse::<IpAddr>().unwrap(), "{entry}");
        }
    }

    #[test]
    fn garbage_stops_the_walk() {
        let peer = "10.0.0.2".parse().unwrap();
        let found = resolve(peer, &xff("1.1.1.1, not-an-ip, 10.0.0.3"), &trusted());
        assert_eq!(found.ip, "10.0.0.3".parse::<IpAddr>().unwrap());
    }
}
