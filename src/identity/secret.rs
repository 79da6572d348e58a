//! Opaque secrets handed to clients (session ids, refresh tokens) and how they are stored:
//! 256 random bits, base64url; only their SHA-256 goes into the store.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom;

/// 32 bytes from the operating system's CSPRNG, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The secret in the key file at `path` (its trimmed contents), made first with 256 random
/// bits, in a file only its owner can read, when `create` is set and it does not exist.
/// Refused when shorter than `min_bytes`.
pub fn load_or_create_key(path: &Path, create: bool, min_bytes: usize) -> Result<String, String> {
    if create && !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        crate::server::tls::write_private(path, new_token().as_bytes())
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let secret = text.trim();
    if secret.len() < min_bytes {
        return Err(format!(
            "{} holds {} bytes; the key needs at least {min_bytes}",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret.to_owned())
}

/// What the store keeps of a token.
pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Lower-case hexadecimal, without an allocation per byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut out);
    String::from_utf8(out).expect("hexadecimal digits are ASCII")
}

/// Writes the lower-case hexadecimal of `bytes` to the start of `out` (which must hold two
/// bytes for each), for callers on hot paths that keep it on the stack.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
        assert_eq!(hex(&[0x00, 0x7f, 0xff]), "007fff");
    }
}
