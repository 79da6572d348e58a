//! Header rewriting between client and upstream: hop-by-hop headers dropped (they describe one
//! connection, not the message), `X-Forwarded-*` and the request id added, and the upgrade
//! handshake kept intact for WebSockets.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::client_addr::{ClientAddr, X_FORWARDED_FOR};
use super::request_id::X_REQUEST_ID;

pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// RFC 9110 §7.6.1 connection-specific fields, plus the non-standard ones still seen.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Is this an HTTP/1.1 protocol upgrade (WebSocket)?
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_has_token(headers, "upgrade")
}

fn connection_has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers, including any the `Connection` header names. With `upgrade`,
/// `Connection: upgrade` and `Upgrade` survive so the handshake reaches the other side.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if let Some(connection) = headers.get(header::CONNECTION) {
        let named: Vec<HeaderName> = connection
            .to_str()
            .unwrap_or_default()
            .split(',')
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|name| !matches!(name.as_str(), "upgrade" | "close" | "keep-alive"))
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Everything the upstream should know about the original request.
pub struct Forwarded<'a> {
    pub client: ClientAddr,
    pub peer: IpAddr,
    pub tls: bool,
    pub host: Option<&'a HeaderValue>,
    pub request_id: &'a HeaderValue,
}

/// Sets `X-Forwarded-For/-Proto/-Host` and `X-Request-Id`. A trusted proxy's chain is extended;
/// anyone else's forwarding headers are replaced, since they are the client's own claims.
pub fn add_forwarding_headers(headers: &mut HeaderMap, forwarded: &Forwarded<'_>) {
    let peer = forwarded.peer.to_string();
    if forwarded.client.via_trusted_proxy {
        let chain = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(existing) => format!("{existing}, {peer}"),
            None => peer,
        };
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::try_from(chain).expect("IPs are valid header text"),
        );
    } else {
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::try_from(peer).expect("IPs are valid header text"),
        );
    }
    if !forwarded.client.via_trusted_proxy || !headers.contains_key(X_FORWARDED_PROTO) {
        let proto = if forwarded.tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !forwarded.client.via_trusted_proxy || !headers.contains_key(X_FORWARDED_HOST) {
        match forwarded.host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }
    headers.insert(X_REQUEST_ID, forwarded.request_id.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut map = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "application/json"),
        ]);
        strip_hop_by_hop(&mut map, false);
        assert_eq!(map.len(), 1, "{map:?}");
        assert!(map.contains_key("content-type"));
    }

    #[test]
    fn upgrades_keep_their_handshake() {
        let mut map = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&map));
        strip_hop_by_hop(&mut map, true);
        assert_eq!(map["connection"], "upgrade");
        assert_eq!(map["upgrade"], "websocket");
    }

    #[test]
    fn untrusted_forwarding_claims_are_replaced() {
        let mut map = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "http"),
        ]);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        let host = HeaderValue::from_static("shop.example");
        let id = HeaderValue::from_static("id-1");
        add_forwarding_headers(
            &mut map,
            &Forwarded {
                client: ClientAddr {
                    ip: peer,
                    via_trusted_proxy: false,
                },
                peer,
                tls: true,
                host: Some(&host),
                request_id: &id,
            },
        );
        assert_eq!(map["x-forwarded-for"], "203.0.113.5");
        assert_eq!(map["x-forwarded-proto"], "https");
        assert_eq!(map["x-forwarded-host"], "shop.example");
        assert_eq!(map["x-request-id"], "id-1");
    }

    #[test]
    fn trusted_chains_are_extended() {
        let mut map = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let id = HeaderValue::from_static("id-2");
        add_forwarding_headers(
            &mut map,
            &Forwarded {
                client: ClientAddr {
                    ip: "198.51.100.7".parse().unwrap(),
                    via_trusted_proxy: true,
                },
                peer,
                tls: false,
                host: None,
                request_id: &id,
            },
        );
        assert_eq!(map["x-forwarded-for"], "198.51.100.7, 10.0.0.2");
        assert_eq!(map["x-forwarded-proto"], "https");
    }
}
