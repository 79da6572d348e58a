//! The client's real address. Only a trusted proxy may speak for someone else through
//! `X-Forwarded-For`; from anyone else the header is ignored, since it is trivially forged.

use std::net::IpAddr;

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
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the chain: stop believing it at that point.
            Err(_) => break,
        }
    }
    ClientAddr {
        ip: client,
        via_trusted_proxy: true,
    }
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
    fn garbage_stops_the_walk() {
        let peer = "10.0.0.2".parse().unwrap();
        let found = resolve(peer, &xff("1.1.1.1, not-an-ip, 10.0.0.3"), &trusted());
        assert_eq!(found.ip, "10.0.0.3".parse::<IpAddr>().unwrap());
    }
}
