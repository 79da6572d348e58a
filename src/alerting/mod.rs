//! Built-in alerting: rules on the gateway's own metrics ([`rules`], written in a PromQL
//! subset, [`expr`]) evaluated in-process on a history of samples ([`eval`]), so a single
//! instance needs no Prometheus to tell someone that an upstream is down or a certificate
//! is about to expire. The same rules export as a Prometheus rules file.

pub mod channels;
pub mod eval;
pub mod expr;
pub mod manager;
pub mod rules;

use std::collections::HashMap;

use serde::Deserialize;

use self::channels::{Channel, ChannelConfig};
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
    #[serde(rename = "channel")]
    pub channels: Vec<ChannelConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluation_interval: HumanDuration::secs(15),
            built_in_rules: true,
            default_channels: vec!["log".to_owned()],
            rules: Vec::new(),
            channels: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// Every channel name rules may use.
    pub fn channel_names(&self) -> Vec<String> {
        std::iter::once("log".to_owned())
            .chain(self.channels.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// The channels, ready to deliver; the error names the channel and what to fix.
    pub fn channels(&self) -> Result<HashMap<String, Channel>, String> {
        let mut channels = HashMap::from([("log".to_owned(), Channel::Log)]);
        for config in &self.channels {
            let channel = Channel::new(config)
                .map_err(|reason| format!("alert channel {}: {reason}", config.name))?;
            if channels.insert(config.name.clone(), channel).is_some() {
                return Err(format!("alert channel {} is defined twice", config.name));
            }
        }
        Ok(channels)
    }

    /// The rules in force; the built-in latency rule watches `latency_p95`.
    pub fn rules(&self, latency_p95: std::time::Duration) -> Result<Vec<Rule>, RuleError> {
        rules::rules(
            &self.rules,
            self.built_in_rules,
            &self.default_channels,
            &self.channel_names(),
            latency_p95,
        )
    }
}
