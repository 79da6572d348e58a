//! Passwords: Argon2id hashes with OWASP's parameters, a policy for new passwords, and
//! verification that costs the same whether or not the user exists.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};

/// The 20,000 most common passwords (Django's list, BSD licence, `data/`).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .collect()
});

/// A hash of a random password, verified against when the user does not exist, so that an
/// unknown name takes as long as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let decoy = uuid::Uuid::now_v7().to_string();
    hash(&decoy).expect("hashing a fresh random password cannot fail")
});

/// Shortest password accepted: with no MFA, OWASP and NIST ask for at least 15; 12 is the floor
/// here, raised by `[password] min_length`.
pub const DEFAULT_MIN_LENGTH: usize = 12;
/// Longest accepted: bounds the work an attacker can make us do per attempt.
pub const MAX_LENGTH: usize = 256;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    #[error("the password must have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("the password is one of the most common passwords; choose another")]
    Common,
    #[error("the password must not contain the user name")]
    ContainsUsername,
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, username: &str, min_length: usize) -> Result<(), PolicyError> {
    let length = password.chars().count();
    if length < min_length {
        return Err(PolicyError::TooShort(min_length));
    }
    if length > MAX_LENGTH {
        return Err(PolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err(PolicyError::Common);
    }
    if username.chars().count() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(PolicyError::ContainsUsername);
    }
    Ok(())
}

/// An Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) with a random salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    /// Right; `rehash` when the stored hash uses older parameters than today's.
    Right {
        rehash: bool,
    },
}

/// Checks `password` against `stored`, or against a decoy when there is no stored hash, so both
/// paths do the same work.
pub fn verify(password: &str, stored: Option<&str>) -> Verdict {
    let Some(stored) = stored else {
        let _ = Argon2::default().verify_password(password.as_bytes(), DECOY_HASH.as_str());
        return Verdict::Wrong;
    };
    match Argon2::default().verify_password(password.as_bytes(), stored) {
        Ok(()) => Verdict::Right {
            rehash: !uses_current_parameters(stored),
        },
        Err(_) => Verdict::Wrong,
    }
}

fn uses_current_parameters(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let current = Params::default();
    parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                == (current.m_cost(), current.t_cost(), current.p_cost())
        })
}

/// Makes sure the decoy exists before the first login, so the first unknown-user attempt is
/// not slower than the rest.
pub fn warm_up() {
    LazyLock::force(&DECOY_HASH);
    LazyLock::force(&COMMON);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery staple").unwrap();
        let b = hash("correct horse battery staple").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert_eq!(
            verify("correct horse battery staple", Some(&a)),
            Verdict::Right { rehash: false }
        );
        assert_eq!(
            verify("correct horse battery stapler", Some(&a)),
            Verdict::Wrong
        );
        assert_eq!(verify("anything", None), Verdict::Wrong);
    }

    #[test]
    fn weaker_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let stored = weak
            .hash_password(b"correct horse battery staple")
            .unwrap()
            .to_string();
        assert_eq!(
            verify("correct horse battery staple", Some(&stored)),
            Verdict::Right { rehash: true }
        );
    }

    #[test]
    fn policy_refuses_short_common_and_personal_passwords() {
        assert_eq!(
            check_policy("short", "ana", 12),
            Err(PolicyError::TooShort(12))
        );
        assert_eq!(
            check_policy("1234567890123", "ana", 12),
            Err(PolicyError::Common)
        );
        assert_eq!(
            check_policy("Password1234", "ana", 12),
            Err(PolicyError::Common)
        );
        assert_eq!(
            check_policy("marianna-rocks-2026", "marianna", 12),
            Err(PolicyError::ContainsUsername)
        );
        assert_eq!(
            check_policy(&"x".repeat(257), "ana", 12),
            Err(PolicyError::TooLong)
        );
        assert_eq!(check_policy("tulip-harbor-seventeen", "ana", 12), Ok(()));
        assert_eq!(
            check_policy("zażółć gęślą jaźń", "ana", 12),
            Ok(()),
            "length counts characters, not bytes"
        );
    }
}
