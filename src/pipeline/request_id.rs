//! Request ids: every request gets one, so a client's complaint, the gateway's log line and the
//! app's log line can be joined. A trusted proxy's id is kept; anyone else's is replaced, since
//! a client that picks its own id could forge or collide log entries.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id for this request: the incoming one when a trusted proxy sent a well-formed one,
/// otherwise a fresh UUIDv7 (time-ordered, so ids sort like the log).
pub fn resolve(headers: &HeaderMap, from_trusted_proxy: bool) -> HeaderValue {
    if from_trusted_proxy
        && let Some(incoming) = headers.get(X_REQUEST_ID)
        && is_well_formed(incoming.as_bytes())
    {
        return incoming.clone();
    }
    generate()
}

pub fn generate() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// 1 to 128 characters that are safe in logs and headers.
fn is_well_formed(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(id).unwrap());
        headers
    }

    #[test]
    fn trusted_well_formed_ids_are_kept() {
        assert_eq!(resolve(&with_id("lb-1234.abc"), true), "lb-1234.abc");
    }

    #[test]
    fn untrusted_or_malformed_ids_are_replaced() {
        let untrusted = resolve(&with_id("attacker-chosen"), false);
        assert_ne!(untrusted, "attacker-chosen");
        assert_eq!(untrusted.len(), 36);
        let malformed = resolve(&with_id("a b\"<script>"), true);
        assert_ne!(malformed, "a b\"<script>");
        let too_long = "x".repeat(129);
        assert_ne!(resolve(&with_id(&too_long), true), too_long.as_str());
    }

    #[test]
    fn generated_ids_are_unique_and_time_ordered() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.as_bytes() < b.as_bytes());
    }
}
