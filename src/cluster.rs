//! State shared between Rampart instances through Redis (`[redis] url`): rate-limit counters
//! and ban violation counters. Without Redis every counter lives in the process.
//!
//! Redis is an accelerator, not a dependency to fail on: when it cannot be reached, each caller
//! falls back to its in-process state (limits still hold per instance) and the failure is
//! counted in `rampart_redis_errors_total` and logged.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Deserialize;

use crate::config::HumanDuration;

/// `[redis]`: the server several instances share counters through.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST:PORT[/DB]` or `rediss://...` for TLS; absent: no Redis.
    pub url: Option<String>,
    /// A file holding the URL (for URLs with a password, kept out of the config file).
    pub url_file: Option<std::path::PathBuf>,
    /// Longest wait for one Redis answer before the in-process fallback decides.
    pub timeout: HumanDuration,
    /// Prefix of every key Rampart writes, so several deployments can share one server.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            timeout: HumanDuration(Duration::from_millis(250)),
            key_prefix: "rampart:".into(),
        }
    }
}

/// A connection to the shared Redis, cheap to clone (requests are multiplexed on one socket
/// that reconnects by itself).
#[derive(Clone)]
pub struct Cluster {
    connection: ConnectionManager,
    prefix: String,
}

impl Cluster {
    /// Connects to the configured Redis, or returns `None` when none is configured.
    pub async fn connect(config: &RedisConfig) -> Result<Option<Self>, String> {
        let url = match (&config.url, &config.url_file) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read [redis] url_file {}: {err}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        let client = redis::Client::open(url.as_str())
            .map_err(|err| format!("[redis] url is not a Redis URL: {err}"))?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.0.max(Duration::from_secs(1))))
            .set_response_timeout(Some(config.timeout.0))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let connection = client
            .get_connection_manager_with_config(settings)
            .await
            .map_err(|err| format!("cannot connect to Redis: {err}"))?;
        Ok(Some(Self {
            connection,
            prefix: config.key_prefix.clone(),
        }))
    }

    /// A handle for sending commands.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The full name of a key: the deployment's prefix, then `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}
