//! `rampart demo`: the gateway in front of a small built-in chat app, with no set-up at all.

mod app;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use app::DemoApp;

use crate::config::{self, Config, Problems};

/// The demo's config, the same format users write; the app's address is filled in at start.
const DEMO_CONFIG: &str = include_str!("demo.toml");

/// Builds the demo config for the given addresses and data directory.
pub fn config(
    listen: SocketAddr,
    admin: SocketAddr,
    app: SocketAddr,
    data_dir: PathBuf,
) -> Result<Config, Problems> {
    let text = DEMO_CONFIG
        .replace("{listen}", &listen.to_string())
        .replace("{admin}", &admin.to_string())
        .replace("{app}", &app.to_string())
        // Quoted and escaped as a TOML string, whatever characters the path holds.
        .replace(
            "{data_dir}",
            &toml::Value::String(data_dir.display().to_string()).to_string(),
        );
    config::load_str("demo.toml (built in)", &text, std::iter::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let config = config(
            addr,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            r#"data "quoted" \dir"#.into(),
        )
        .unwrap();
        assert_eq!(
            config.upstreams[0].targets[0].to_string(),
            "http://127.0.0.1:2"
        );
        assert!(
            config.listen.tls.is_none() && !config.listen.plaintext,
            "the demo uses a self-signed certificate"
        );
        assert_eq!(config.data_dir, PathBuf::from(r#"data "quoted" \dir"#));
    }
}
