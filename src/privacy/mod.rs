//! Personal data kept out of logs and records: keyed pseudonyms that let records about the
//! same person be linked without naming them.

pub mod pseudonym;

use std::path::PathBuf;

use serde::Deserialize;

use self::pseudonym::Pseudonymizer;
use crate::config::Config;

/// `[privacy]`: how personal data appears in the audit log.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// The HMAC key for pseudonyms (at least 32 bytes); default: `DATA_DIR/pseudonym.key`,
    /// made at first start. Keep it secret: with it, a pseudonym can be tested against guesses.
    pub pseudonym_key_file: Option<PathBuf>,
}

/// The keyed pseudonymizer of `config`, its key made in the data directory by default.
pub fn pseudonymizer(config: &Config) -> Result<Pseudonymizer, String> {
    match &config.privacy.pseudonym_key_file {
        Some(path) => Pseudonymizer::from_file(path, false),
        None => Pseudonymizer::from_file(&config.data_dir.join("pseudonym.key"), true),
    }
}
