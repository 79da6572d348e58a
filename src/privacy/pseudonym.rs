//! Keyed pseudonymization: HMAC-SHA256 under a secret key, so the same address or name maps
//! to the same short token in every record, but the token cannot be reversed, and without the
//! key it cannot even be confirmed by hashing guesses (a plain hash of an IPv4 address can).

use std::net::IpAddr;
use std::path::Path;

use ring::hmac;

use crate::identity::secret::hex;

/// Fewest bytes a pseudonym key may have.
const MIN_KEY_BYTES: usize = 32;

pub struct Pseudonymizer {
    key: hmac::Key,
}

impl Pseudonymizer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Loads the key at `path`, creating a random one first when `create` is set and it is
    /// missing.
    pub fn from_file(path: &Path, create: bool) -> Result<Self, String> {
        let secret = crate::identity::secret::load_or_create_key(path, create, MIN_KEY_BYTES)?;
        Ok(Self::new(secret.as_bytes()))
    }

    /// `kind-` and 16 hex digits of the keyed hash of `value`; the kind keeps an address and a
    /// name that happen to be equal apart.
    pub fn token(&self, kind: &str, value: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(kind.as_bytes());
        context.update(b"\0");
        context.update(value.as_bytes());
        format!("{kind}-{}", hex(&context.sign().as_ref()[..8]))
    }

    pub fn ip(&self, ip: IpAddr) -> String {
        self.token("ip", &ip.to_canonical().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_unreadable() {
        let a = Pseudonymizer::new(&[1; 32]);
        let b = Pseudonymizer::new(&[2; 32]);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(a.ip(ip), a.ip(ip));
        assert_ne!(a.ip(ip), b.ip(ip));
        assert_ne!(a.ip(ip), a.ip("203.0.113.8".parse().unwrap()));
        assert!(!a.ip(ip).contains("203"));
        assert_eq!(a.ip(ip).len(), "ip-".len() + 16);
        // The IPv4-mapped IPv6 form is the same client.
        assert_eq!(a.ip("::ffff:203.0.113.7".parse().unwrap()), a.ip(ip));
        assert_ne!(a.token("ip", "x"), a.token("user", "x"));
    }

    #[test]
    fn short_or_missing_keys_are_refused_and_new_ones_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pseudonym.key");
        assert!(Pseudonymizer::from_file(&path, false).is_err());
        let made = Pseudonymizer::from_file(&path, true).unwrap();
        let again = Pseudonymizer::from_file(&path, false).unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(made.ip(ip), again.ip(ip));
        std::fs::write(&path, "short").unwrap();
        assert!(Pseudonymizer::from_file(&path, false).is_err());
    }
}
