//! Personal data kept out of logs and records: keyed pseudonyms that let records about the
//! same person be linked without naming them.

pub mod pseudonym;
pub mod redact;

use std::path::PathBuf;

use serde::Deserialize;

use self::pseudonym::Pseudonymizer;
use self::redact::{IpMode, Redactor};
use crate::config::Config;

/// `[privacy]`: how personal data appears in logs and the audit log.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The HMAC key for pseudonyms (at least 32 bytes); default: `DATA_DIR/pseudonym.key`,
    /// made at first start. Keep it secret: with it, a pseudonym can be tested against guesses.
    pub pseudonym_key_file: Option<PathBuf>,
    /// Redact personal data and secrets in every log line.
    pub redact_logs: bool,
    /// How client addresses appear in logs: `mask`, `pseudonymize` or `keep`.
    pub log_ips: IpMode,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            pseudonym_key_file: None,
            redact_logs: true,
            log_ips: IpMode::Mask,
        }
    }
}

/// The redactor for log lines of `config`; `None` when redaction is off.
pub fn log_redactor(config: &Config) -> Result<Option<Redactor>, String> {
    if !config.privacy.redact_logs {
        return Ok(None);
    }
    Ok(Some(Redactor::new(
        std::sync::Arc::new(pseudonymizer(config)?),
        config.privacy.log_ips,
    )))
}

/// Credentials in request headers are marked sensitive before anything can log them: a
/// header map printed for debugging then shows `Sensitive` instead of the value.
pub fn mark_credentials_sensitive(headers: &mut http::HeaderMap) {
    for name in [
        http::header::AUTHORIZATION,
        http::header::PROXY_AUTHORIZATION,
        http::header::COOKIE,
    ] {
        // `entry` may grow the map; most requests carry none of these headers.
        if !headers.contains_key(&name) {
            continue;
        }
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
    if let Some(value) = headers.get_mut("x-api-key") {
        value.set_sensitive(true);
    }
}

/// The keyed pseudonymizer of `config`, its key made in the data directory by default.
pub fn pseudonymizer(config: &Config) -> Result<Pseudonymizer, String> {
    match &config.privacy.pseudonym_key_file {
        Some(path) => Pseudonymizer::from_file(path, false),
        None => Pseudonymizer::from_file(&config.data_dir.join("pseudonym.key"), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_marked_sensitive_and_others_left_alone() {
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::COOKIE, "a=1".parse().unwrap());
        headers.append(http::header::COOKIE, "b=2".parse().unwrap());
        headers.insert(http::header::AUTHORIZATION, "Bearer x".parse().unwrap());
        headers.insert("x-api-key", "rk_x".parse().unwrap());
        headers.insert(http::header::ACCEPT, "*/*".parse().unwrap());
        mark_credentials_sensitive(&mut headers);
        assert!(
            headers
                .get_all(http::header::COOKIE)
                .iter()
                .all(|v| v.is_sensitive())
        );
        assert!(headers[http::header::AUTHORIZATION].is_sensitive());
        assert!(headers["x-api-key"].is_sensitive());
        assert!(!headers[http::header::ACCEPT].is_sensitive());
        assert!(!format!("{headers:?}").contains("Bearer"));
    }
}
