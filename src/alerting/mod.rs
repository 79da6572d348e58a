//! Built-in alerting: rules on the gateway's own metrics ([`rules`], written in a PromQL
//! subset, [`expr`]) evaluated in-process on a history of samples ([`eval`]), so a single
//! instance needs no Prometheus to tell someone that an upstream is down or a certificate
//! is about to expire. The same rules export as a Prometheus rules file.

pub mod eval;
pub mod expr;
pub mod rules;

use serde::Deserialize;

use self::rules::{Rule, RuleConfig, RuleError};
use crate::config::HumanDuration;

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate rules in-process.
    pub enabled: bool,
    /// How often rules are evaluated (and metrics sampled for them).
    pub evaluation_interval: HumanDuration,
    /// Start from the built-in rules (see `rampart export prometheus-rules`).
    pub built_in_rules: bool,
    /// Channels of rules that name none. `log` (a log line) always exists.
    pub default_channels: Vec<String>,
    #[serde(rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluation_interval: HumanDuration::secs(15),
            built_in_rules: true,
            default_channels: vec!["log".to_owned()],
            rules: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// Every channel name rules may use.
    pub fn channel_names(&self) -> Vec<String> {
        vec!["log".to_owned()]
    }

    /// The rules in force.
    pub fn rules(&self) -> Result<Vec<Rule>, RuleError> {
        rules::rules(
            &self.rules,
            self.built_in_rules,
            &self.default_channels,
            &self.channel_names(),
        )
    }
}
