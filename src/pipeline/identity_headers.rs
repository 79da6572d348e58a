//! Identity headers: the upstream learns who the user is from `X-Rampart-User`,
//! `X-Rampart-User-Id`, `X-Rampart-Roles`, `X-Rampart-Auth` and `X-Rampart-Timestamp`, signed
//! in `X-Rampart-Signature` with an HMAC key the app shares. Client-sent `X-Rampart-*` headers
//! are always removed first, so a client can never speak for Rampart.
//!
//! Signature: `v1=` + hex HMAC-SHA256 over
//! `user \n user_id \n roles \n auth \n timestamp \n request_id`.

use std::path::Path;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ring::hmac;

use crate::identity::secret::hex;
use crate::identity::service::Principal;

const PREFIX: &str = "x-rampart-";
pub const X_RAMPART_USER: HeaderName = HeaderName::from_static("x-rampart-user");
pub const X_RAMPART_USER_ID: HeaderName = HeaderName::from_static("x-rampart-user-id");
pub const X_RAMPART_ROLES: HeaderName = HeaderName::from_static("x-rampart-roles");
pub const X_RAMPART_AUTH: HeaderName = HeaderName::from_static("x-rampart-auth");
pub const X_RAMPART_TIMESTAMP: HeaderName = HeaderName::from_static("x-rampart-timestamp");
pub const X_RAMPART_SIGNATURE: HeaderName = HeaderName::from_static("x-rampart-signature");

/// Shortest accepted key, in bytes.
const MIN_KEY_BYTES: usize = 32;

/// Signs identity headers with the key shared with the app.
pub struct IdentityHeaderSigner {
    key: hmac::Key,
}

impl std::fmt::Debug for IdentityHeaderSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("IdentityHeaderSigner")
    }
}

impl IdentityHeaderSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A key for another purpose (`label`), derived from this one so that one secret file
    /// serves both and neither key reveals the other.
    pub fn derive_key(&self, label: &str) -> hmac::Key {
        let derived = hmac::sign(&self.key, label.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }

    /// Reads the key file (its trimmed contents are the key), creating one with 256 random
    /// bits when `create` and it does not exist.
    pub fn from_file(path: &Path, create: bool) -> Result<Self, String> {
        let secret = crate::identity::secret::load_or_create_key(path, create, MIN_KEY_BYTES)?;
        Ok(Self::new(secret.as_bytes()))
    }

    /// Adds the signed identity of `principal`.
    pub fn add(
        &self,
        headers: &mut HeaderMap,
        principal: &Principal,
        request_id: &HeaderValue,
        now: i64,
    ) {
        let roles = principal.roles.join(",");
        let timestamp = now.to_string();
        let signed = [
            principal.username.as_str(),
            principal.user_id.as_str(),
            roles.as_str(),
            principal.method.as_str(),
            timestamp.as_str(),
            request_id.to_str().unwrap_or_default(),
        ]
        .join("\n");
        let tag = hmac::sign(&self.key, signed.as_bytes());
        let signature = format!("v1={}", hex(tag.as_ref()));
        let values = [
            (X_RAMPART_USER, principal.username.as_str()),
            (X_RAMPART_USER_ID, principal.user_id.as_str()),
            (X_RAMPART_ROLES, roles.as_str()),
            (X_RAMPART_AUTH, principal.method.as_str()),
            (X_RAMPART_TIMESTAMP, timestamp.as_str()),
            (X_RAMPART_SIGNATURE, signature.as_str()),
        ];
        for (name, value) in values {
            // Names, ids and roles are restricted to header-safe characters when created.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
}

/// Removes every `X-Rampart-*` header the client sent.
pub fn strip_client_copies(headers: &mut HeaderMap) {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(PREFIX))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
}

/// Removes cookie `name` from the request's `Cookie` headers, keeping the others: the app
/// never needs Rampart's session secret, and should never be able to leak it.
pub fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    // Most requests do not carry it: look before cloning anything.
    let present = headers
        .get_all(header::COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|text| text.contains(name)));
    if !present {
        return;
    }
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    headers.remove(header::COOKIE);
    for value in values {
        let Ok(text) = value.to_str() else {
            headers.append(header::COOKIE, value);
            continue;
        };
        let kept: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|pair| {
                !pair.is_empty() && pair.split_once('=').is_none_or(|(key, _)| key != name)
            })
            .collect();
        if !kept.is_empty()
            && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
        {
            headers.append(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::service::AuthMethod;

    fn principal() -> Principal {
        Principal {
            user_id: "u1".into(),
            username: "ana".into(),
            roles: vec!["admin".into(), "viewer".into()],
            method: AuthMethod::Session,
            mfa: false,
            last_active: None,
        }
    }

    #[test]
    fn forged_headers_are_removed_and_real_ones_verify() {
        let mut headers = HeaderMap::new();
        headers.insert("x-rampart-user", HeaderValue::from_static("root"));
        headers.insert("x-rampart-roles", HeaderValue::from_static("super_admin"));
        headers.insert("x-other", HeaderValue::from_static("kept"));
        strip_client_copies(&mut headers);
        assert_eq!(headers.len(), 1);

        let secret = b"0123456789abcdef0123456789abcdef";
        let id = HeaderValue::from_static("req-1");
        IdentityHeaderSigner::new(secret).add(&mut headers, &principal(), &id, 1_700_000_000);
        assert_eq!(headers["x-rampart-user"], "ana");
        assert_eq!(headers["x-rampart-roles"], "admin,viewer");
        // What an app does: recompute over the same fields with the shared key.
        let message = "ana\nu1\nadmin,viewer\nsession\n1700000000\nreq-1";
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            message.as_bytes(),
        );
        let hex: String = expected
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(headers["x-rampart-signature"], format!("v1={hex}").as_str());
    }

    #[test]
    fn only_the_named_cookie_is_removed() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; __Host-rampart_session=secret; lang=pl"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-rampart_session=other"),
        );
        remove_cookie(&mut headers, "__Host-rampart_session");
        let left: Vec<&str> = headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(left, ["theme=dark; lang=pl"]);
    }

    #[test]
    fn short_keys_are_refused_and_missing_ones_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "too short").unwrap();
        assert!(
            IdentityHeaderSigner::from_file(&path, false)
                .unwrap_err()
                .contains("at least 32")
        );
        let created = dir.path().join("sub/identity-header.key");
        assert!(IdentityHeaderSigner::from_file(&created, true).is_ok());
        assert!(std::fs::read_to_string(&created).unwrap().len() >= 32);
    }
}
