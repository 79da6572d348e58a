//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock skew)
//! with one-time recovery codes. Enrolment stores an unconfirmed secret and shows it as an
//! `otpauth://` URL and a QR code (SVG, no external service); the first valid code confirms it
//! and returns ten recovery codes, shown once and stored hashed. A code is accepted once: the
//! last accepted time step is stored and must grow.

use qrcodegen::{QrCode, QrCodeEcc};
use ring::rand::SecureRandom;
use totp_rs::{Secret, Totp};

use super::secret::hash_token;
use crate::store::{MfaStore, StoreError};

const RECOVERY_CODES: usize = 10;

/// What an app shows a user who is enrolling.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// A second factor as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    Totp(String),
    RecoveryCode(String),
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("no TOTP enrolment is waiting for confirmation")]
    NotEnrolling,
    #[error("the code is wrong, expired or already used")]
    WrongCode,
    #[error("this account name cannot be put in an authenticator app")]
    UnsuitableName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn totp(secret: Secret, account: &str, issuer: &str) -> Totp {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .expect("160-bit secrets and default parameters are valid")
}

/// Starts an enrolment for `user_id` with a fresh 160-bit secret.
pub async fn enroll(
    store: &dyn MfaStore,
    user_id: &str,
    account: &str,
    issuer: &str,
    now: i64,
) -> Result<Enrollment, MfaError> {
    let mut bytes = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    let secret = Secret::from(bytes);
    let base32 = secret.to_base32();
    let otpauth_url = totp(secret, account, issuer)
        .to_url()
        .map_err(|_| MfaError::UnsuitableName)?;
    store.begin_totp(user_id, &base32, now).await?;
    Ok(Enrollment {
        qr_svg: qr_svg(&otpauth_url),
        otpauth_url,
        secret: base32,
    })
}

/// Confirms an enrolment with a first valid code; returns the recovery codes, once.
pub async fn confirm(
    store: &dyn MfaStore,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<Vec<String>, MfaError> {
    let record = store
        .totp(user_id)
        .await?
        .filter(|r| !r.confirmed)
        .ok_or(MfaError::NotEnrolling)?;
    if !accept_totp(store, user_id, &record.secret, code, now).await? {
        return Err(MfaError::WrongCode);
    }
    store.confirm_totp(user_id).await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| hash_token(&normalize(c))).collect();
    store.replace_recovery_codes(user_id, &hashes).await?;
    Ok(codes)
}

/// Whether `user_id` must show a second factor at login.
pub async fn is_enrolled(store: &dyn MfaStore, user_id: &str) -> Result<bool, StoreError> {
    Ok(store.totp(user_id).await?.is_some_and(|r| r.confirmed))
}

/// Checks a second factor; each TOTP step and recovery code works once.
pub async fn verify(
    store: &dyn MfaStore,
    user_id: &str,
    factor: &SecondFactor,
    now: i64,
) -> Result<bool, StoreError> {
    match factor {
        SecondFactor::Totp(code) => match store.totp(user_id).await?.filter(|r| r.confirmed) {
            Some(record) => accept_totp(store, user_id, &record.secret, code, now).await,
            None => Ok(false),
        },
        SecondFactor::RecoveryCode(code) => {
            store
                .use_recovery_code(user_id, &hash_token(&normalize(code)), now)
                .await
        }
    }
}

async fn accept_totp(
    store: &dyn MfaStore,
    user_id: &str,
    secret: &str,
    code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Ok(secret) = Secret::try_from_base32(secret) else {
        return Ok(false);
    };
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    match totp(secret, "", "rampart").check(&code, now.max(0) as u64) {
        Some(step) => store.advance_totp_step(user_id, step as i64).await,
        None => Ok(false),
    }
}

/// `abcde-fghij`: 50 bits from an alphabet without look-alikes.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The QR code of `text` as a standalone SVG (dark modules as one path).
fn qr_svg(text: &str) -> String {
    let qr =
        QrCode::encode_text(text, QrCodeEcc::Medium).expect("an otpauth URL fits in a QR code");
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{ana, stores};

    fn code_at(secret: &str, time: i64) -> String {
        totp(Secret::try_from_base32(secret).unwrap(), "", "rampart")
            .generate(time as u64)
            .to_string()
    }

    #[tokio::test]
    async fn enrolment_confirmation_replay_and_recovery_on_every_backend() {
        for (store, _dir) in stores().await {
            let user = ana(&store).await;
            let now = 1_700_000_000;
            let enrollment = enroll(&store, &user.id, "ana", "Rampart", now)
                .await
                .unwrap();
            assert!(
                enrollment
                    .otpauth_url
                    .starts_with("otpauth://totp/Rampart:ana?secret="),
                "{}",
                enrollment.otpauth_url
            );
            assert!(
                enrollment.qr_svg.starts_with("<svg") && enrollment.qr_svg.contains("<path d=\"M")
            );
            assert!(
                !is_enrolled(&store, &user.id).await.unwrap(),
                "not before confirmation"
            );
            assert!(matches!(
                confirm(&store, &user.id, "000000", now).await,
                Err(MfaError::WrongCode)
            ));
            let codes = confirm(&store, &user.id, &code_at(&enrollment.secret, now), now)
                .await
                .unwrap();
            assert_eq!(codes.len(), 10);
            assert!(is_enrolled(&store, &user.id).await.unwrap());

            // The code that confirmed is spent; the next step's code works once.
            let same = SecondFactor::Totp(code_at(&enrollment.secret, now));
            assert!(!verify(&store, &user.id, &same, now).await.unwrap());
            let next = SecondFactor::Totp(code_at(&enrollment.secret, now + 30));
            assert!(verify(&store, &user.id, &next, now + 30).await.unwrap());
            assert!(
                !verify(&store, &user.id, &next, now + 31).await.unwrap(),
                "replayed within its step"
            );
            let stale = SecondFactor::Totp(code_at(&enrollment.secret, now - 300));
            assert!(!verify(&store, &user.id, &stale, now + 60).await.unwrap());

            let recovery = SecondFactor::RecoveryCode(codes[0].to_uppercase());
            assert!(
                verify(&store, &user.id, &recovery, now).await.unwrap(),
                "case and dashes do not matter"
            );
            assert!(
                !verify(&store, &user.id, &recovery, now).await.unwrap(),
                "a recovery code works once"
            );
        }
    }
}
