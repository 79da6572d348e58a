//! Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`), each naming its key by
//! `kid`. Keys live in the store, so every instance signs and verifies alike; the public halves
//! are published as a JWKS for apps that verify tokens themselves. Only EdDSA is accepted:
//! `alg: none`, HMAC-with-the-public-key confusion and every other algorithm are refused.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::store::{SigningKey, SigningKeyStore, StoreError, User};

/// Clock skew tolerated between instances, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// What an access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: String,
    /// The user name, for logs and apps.
    pub name: String,
    pub roles: Vec<String>,
    /// Authentication methods (RFC 8176): `pwd`, and `otp` after a second factor.
    #[serde(default)]
    pub amr: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a bearer token was refused (for metrics and logs; clients just get 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token uses algorithm {0:?}; only EdDSA is accepted")]
    WrongAlgorithm(Algorithm),
    #[error("the token names an unknown key")]
    UnknownKey,
    #[error("the token is expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another audience or by another issuer")]
    WrongAudienceOrIssuer,
    #[error("the token's signature or claims are invalid")]
    Invalid,
}

impl TokenError {
    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongAlgorithm(_) => "wrong_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudienceOrIssuer => "wrong_audience",
            Self::Invalid => "invalid",
        }
    }
}

struct VerifyingKey {
    decoding: DecodingKey,
    /// Raw public key, base64url: the JWK `x`.
    x: String,
}

/// The keys in use: one that signs, several that verify (the current one and those retired
/// less than a token lifetime ago, whose tokens may still be out there).
struct KeySet {
    current_kid: String,
    encoding: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
}

/// Issues and verifies access tokens.
pub struct TokenService {
    keys: RwLock<KeySet>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenService {
    /// Loads the signing keys, creating the first one when there is none.
    pub async fn load(
        store: &dyn SigningKeyStore,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<Self, StoreError> {
        let keys = key_set(store, ttl, now).await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            keys: RwLock::new(keys),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        })
    }

    /// Picks up keys rotated by `rampart keys rotate` or another instance.
    pub async fn reload(&self, store: &dyn SigningKeyStore, now: i64) -> Result<(), StoreError> {
        let keys = key_set(store, self.ttl, now).await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// A signed access token for `user`, and its lifetime in seconds.
    pub fn issue(&self, user: &User, mfa: bool, now: i64) -> (String, u64) {
        let ttl = self.ttl.as_secs();
        let claims = AccessClaims {
            sub: user.id.clone(),
            name: user.username.clone(),
            roles: user.roles.clone(),
            amr: if mfa {
                vec!["pwd".into(), "otp".into()]
            } else {
                vec!["pwd".into()]
            },
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + ttl as i64,
        };
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.current_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys.encoding)
            .expect("signing with a loaded Ed25519 key cannot fail");
        (token, ttl)
    }

    /// Verifies signature, algorithm, key, expiry, start, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm(header.alg));
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| keys.verifying.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
                        TokenError::WrongAudienceOrIssuer
                    }
                    ErrorKind::InvalidToken
                    | ErrorKind::Base64(_)
                    | ErrorKind::Json(_)
                    | ErrorKind::Utf8(_) => TokenError::Malformed,
                    _ => TokenError::Invalid,
                }
            })
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        let set = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let mut kids: Vec<&String> = set.verifying.keys().collect();
        kids.sort();
        let keys: Vec<serde_json::Value> = kids
            .into_iter()
            .map(|kid| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": kid, "x": set.verifying[kid].x,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Reads the keys from the store (creating the first), keeping retired ones for a token
/// lifetime so their tokens still verify.
async fn key_set(
    store: &dyn SigningKeyStore,
    ttl: Duration,
    now: i64,
) -> Result<KeySet, StoreError> {
    let mut keys = store.signing_keys().await?;
    if !keys.iter().any(|k| k.retired_at.is_none()) {
        store.add_signing_key(&generate_key(now)).await?;
        keys = store.signing_keys().await?;
    }
    let current = keys
        .iter()
        .find(|k| k.retired_at.is_none())
        .expect("a current key was just ensured");
    let private = STANDARD.decode(&current.private_key).map_err(|_| {
        StoreError::NotFound(format!("a decodable private key for kid {}", current.kid))
    })?;
    let horizon = now - ttl.as_secs() as i64 - LEEWAY_SECONDS as i64;
    let verifying = keys
        .iter()
        .filter(|k| k.retired_at.is_none_or(|at| at > horizon))
        .filter_map(|k| {
            let raw = URL_SAFE_NO_PAD.decode(&k.public_key).ok()?;
            Some((
                k.kid.clone(),
                VerifyingKey {
                    decoding: DecodingKey::from_ed_der(&raw),
                    x: k.public_key.clone(),
                },
            ))
        })
        .collect();
    Ok(KeySet {
        current_kid: current.kid.clone(),
        encoding: EncodingKey::from_ed_der(&private),
        verifying,
    })
}

/// Retires the current signing key and makes a new one; returns the new key's id.
pub async fn rotate(store: &dyn SigningKeyStore, now: i64) -> Result<String, StoreError> {
    for key in store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
    {
        store.retire_signing_key(&key.kid, now).await?;
    }
    let key = generate_key(now);
    store.add_signing_key(&key).await?;
    Ok(key.kid)
}

/// A new Ed25519 key pair from the operating system's random source.
fn generate_key(now: i64) -> SigningKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("the system random source works");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("a freshly generated key parses");
    SigningKey {
        kid: uuid::Uuid::now_v7().simple().to_string(),
        algorithm: "EdDSA".into(),
        private_key: STANDARD.encode(pkcs8.as_ref()),
        public_key: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        created_at: now,
        retired_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    fn user() -> User {
        User {
            id: "u1".into(),
            username: "ana".into(),
            password_hash: String::new(),
            roles: vec!["admin".into()],
            disabled: false,
            created_at: 0,
        }
    }

    fn now() -> i64 {
        crate::store::unix_now()
    }

    /// Signs arbitrary claims with the service's own key, as an attacker with a stolen key
    /// (or a test) would.
    fn forge(
        service: &TokenService,
        claims: serde_json::Value,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &service.keys.read().unwrap().encoding).unwrap()
    }

    fn claims(exp: i64, nbf: i64, aud: &str) -> serde_json::Value {
        serde_json::json!({"sub": "u1", "name": "ana", "roles": ["admin"], "iss": "rampart", "aud": aud, "iat": nbf, "nbf": nbf, "exp": exp})
    }

    #[tokio::test]
    async fn tokens_verify_and_attacks_fail() {
        let (store, _dir) = stores().await.remove(0);
        let service = TokenService::load(
            &store,
            "rampart",
            "rampart",
            Duration::from_secs(900),
            now(),
        )
        .await
        .unwrap();
        let (token, ttl) = service.issue(&user(), false, now());
        assert_eq!(ttl, 900);
        let verified = service.verify(&token).unwrap();
        assert_eq!(
            (verified.sub.as_str(), verified.roles.as_slice()),
            ("u1", &["admin".to_owned()][..])
        );

        let current = service.keys.read().unwrap().current_kid.clone();
        let kid = Some(current.as_str());
        let t = now();
        assert_eq!(
            service.verify(&forge(
                &service,
                claims(t - 3600, t - 7200, "rampart"),
                Algorithm::EdDSA,
                kid
            )),
            Err(TokenError::Expired)
        );
        assert_eq!(
            service.verify(&forge(
                &service,
                claims(t + 7200, t + 3600, "rampart"),
                Algorithm::EdDSA,
                kid
            )),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            service.verify(&forge(
                &service,
                claims(t + 600, t, "other-app"),
                Algorithm::EdDSA,
                kid
            )),
            Err(TokenError::WrongAudienceOrIssuer)
        );
        assert_eq!(
            service.verify(&forge(
                &service,
                claims(t + 600, t, "rampart"),
                Algorithm::EdDSA,
                Some("nope")
            )),
            Err(TokenError::UnknownKey)
        );

        // alg "none": header and claims with an empty signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(t + 600, t, "rampart").to_string());
        assert!(service.verify(&format!("{none_header}.{body}.")).is_err());
        // Algorithm confusion: HS256 keyed with the public key.
        let x = URL_SAFE_NO_PAD
            .decode(&service.keys.read().unwrap().verifying[&current].x)
            .unwrap();
        let mut hs_header = Header::new(Algorithm::HS256);
        hs_header.kid = kid.map(str::to_owned);
        let confused = jsonwebtoken::encode(
            &hs_header,
            &claims(t + 600, t, "rampart"),
            &EncodingKey::from_secret(&x),
        )
        .unwrap();
        assert_eq!(
            service.verify(&confused),
            Err(TokenError::WrongAlgorithm(Algorithm::HS256))
        );
        // Tampering: change the roles in the payload, keep the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["roles"] = serde_json::json!(["super_admin"]);
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert_eq!(service.verify(&parts.join(".")), Err(TokenError::Invalid));
        assert_eq!(service.verify("not a token"), Err(TokenError::Malformed));
    }

    #[tokio::test]
    async fn every_instance_uses_the_same_stored_key() {
        let (store, _dir) = stores().await.remove(0);
        let a = TokenService::load(&store, "rampart", "rampart", Duration::from_secs(60), now())
            .await
            .unwrap();
        let b = TokenService::load(&store, "rampart", "rampart", Duration::from_secs(60), now())
            .await
            .unwrap();
        let (token, _) = a.issue(&user(), true, now());
        assert!(b.verify(&token).is_ok());
        let jwks = b.jwks();
        assert_eq!(
            jwks["keys"][0]["kid"],
            a.keys.read().unwrap().current_kid.as_str()
        );
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_valid_for_one_lifetime() {
        let (store, _dir) = stores().await.remove(0);
        let t = now();
        let service = TokenService::load(&store, "rampart", "rampart", Duration::from_secs(900), t)
            .await
            .unwrap();
        let (old_token, _) = service.issue(&user(), false, t);
        let new_kid = rotate(&store, t).await.unwrap();
        service.reload(&store, t).await.unwrap();
        let (new_token, _) = service.issue(&user(), false, t);
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some(new_kid.as_str())
        );
        assert!(
            service.verify(&old_token).is_ok(),
            "tokens of the retired key still verify"
        );
        assert_eq!(service.jwks()["keys"].as_array().unwrap().len(), 2);
        // A token lifetime later the retired key is gone.
        service.reload(&store, t + 900 + 31).await.unwrap();
        assert_eq!(service.verify(&old_token), Err(TokenError::UnknownKey));
        assert!(service.verify(&new_token).is_ok());
    }
}
