//! Checkpoint signatures: an Ed25519 key (kept in a file only its owner can read) signs
//! `(seq, hash, time)` of a record, so anyone holding the public key can tell that the chain
//! up to that record is the one the gateway wrote, even if the database was rewritten.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::identity::secret::hex;
use crate::store::Checkpoint;

/// Domain separation: these bytes are only ever signed as an audit checkpoint.
const CONTEXT: &[u8] = b"rampart audit checkpoint v1\n";

pub struct CheckpointSigner {
    key: Ed25519KeyPair,
    key_id: String,
}

impl CheckpointSigner {
    /// Loads the PKCS#8 key at `path`, creating it first when `create` is set and it is missing.
    pub fn from_file(path: &Path, create: bool) -> Result<Self, String> {
        if create && !path.exists() {
            let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| "cannot generate an Ed25519 key".to_owned())?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
            }
            crate::server::tls::write_private(path, document.as_ref())
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        }
        let bytes =
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let key = Ed25519KeyPair::from_pkcs8(&bytes).map_err(|_| {
            format!(
                "{} is not an Ed25519 PKCS#8 key; remove it to have a new one made",
                path.display()
            )
        })?;
        Ok(Self::new(key))
    }

    fn new(key: Ed25519KeyPair) -> Self {
        let key_id = key_id(key.public_key().as_ref());
        Self { key, key_id }
    }

    /// The public key, base64url: what a verifier needs.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.public_key().as_ref())
    }

    pub fn sign(&self, seq: i64, hash: &str, time_ms: i64) -> Checkpoint {
        let signature = self.key.sign(&message(seq, hash, time_ms));
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            time_ms,
            key_id: self.key_id.clone(),
            signature: URL_SAFE_NO_PAD.encode(signature.as_ref()),
        }
    }
}

/// A public key to check checkpoints with.
pub struct CheckpointVerifier {
    public_key: Vec<u8>,
}

impl CheckpointVerifier {
    /// From the base64url text `rampart audit public-key` prints.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let public_key = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .filter(|key| key.len() == 32)
            .ok_or("the public key must be 32 bytes of base64url, as `rampart audit public-key` prints it")?;
        Ok(Self { public_key })
    }

    pub fn key_id(&self) -> String {
        key_id(&self.public_key)
    }

    pub fn is_valid(&self, checkpoint: &Checkpoint) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(&checkpoint.signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(
                &message(checkpoint.seq, &checkpoint.hash, checkpoint.time_ms),
                &signature,
            )
            .is_ok()
    }
}

fn message(seq: i64, hash: &str, time_ms: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(CONTEXT.len() + 16 + hash.len());
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(&time_ms.to_be_bytes());
    message.extend_from_slice(hash.as_bytes());
    message
}

fn key_id(public_key: &[u8]) -> String {
    hex(&ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_the_public_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let signer = CheckpointSigner::from_file(&path, true).unwrap();
        let again = CheckpointSigner::from_file(&path, false).unwrap();
        assert_eq!(signer.public_key(), again.public_key());
        let verifier = CheckpointVerifier::from_base64(&signer.public_key()).unwrap();
        let checkpoint = signer.sign(7, &"ab".repeat(32), 1_000);
        assert_eq!(checkpoint.key_id, verifier.key_id());
        assert!(verifier.is_valid(&checkpoint));
        for forged in [
            Checkpoint {
                seq: 8,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: "cd".repeat(32),
                ..checkpoint.clone()
            },
            Checkpoint {
                time_ms: 1_001,
                ..checkpoint.clone()
            },
        ] {
            assert!(!verifier.is_valid(&forged));
        }
        let other = CheckpointSigner::from_file(&dir.path().join("other.key"), true).unwrap();
        let other = CheckpointVerifier::from_base64(&other.public_key()).unwrap();
        assert!(!other.is_valid(&checkpoint));
        assert!(CheckpointVerifier::from_base64("short").is_err());
    }
}
