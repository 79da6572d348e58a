//! The command line: parses arguments and calls library code; nothing here that tests cannot
//! reach through the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::demo::{self, DemoApp};
use crate::observability::logging;
use crate::server::Server;

/// Rampart: one binary in front of your web app or API that makes it production-ready.
#[derive(Parser)]
#[command(name = "rampart", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// The TOML configuration file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration file; prints every problem as `file:line: key: reason`.
    Check {
        /// The TOML configuration file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the gateway in front of a built-in demo app, with no set-up at all.
    Demo {
        /// Address of the HTTPS gateway (self-signed certificate).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Address of the admin listener (/metrics, /healthz, /readyz).
        #[arg(long, default_value = "127.0.0.1:8444")]
        admin: SocketAddr,
        /// Where Rampart keeps its files.
        #[arg(long, default_value = "./rampart-data")]
        data_dir: PathBuf,
    },
}

/// Exit code for a configuration with problems.
const CONFIG_PROBLEMS: u8 = 2;

pub fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rampart: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Check { config } => Ok(check(&config)),
        Command::Serve { config } => match load(&config) {
            Some(config) => serve(config),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Demo {
            listen,
            admin,
            data_dir,
        } => runtime()?.block_on(run_demo(listen, admin, data_dir)),
    }
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Some(_) => {
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        None => ExitCode::from(CONFIG_PROBLEMS),
    }
}

/// Loads the config, printing every problem; `None` if there were any.
fn load(path: &Path) -> Option<Config> {
    match config::load(path) {
        Ok(config) => Some(config),
        Err(problems) => {
            eprintln!("{problems}");
            let count = problems.0.len();
            eprintln!("{count} problem{} found", if count == 1 { "" } else { "s" });
            None
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let _log_guard = logging::init(&config.log);
    runtime()?.block_on(async {
        let server = Server::bind(&config).await?;
        server.run().await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn run_demo(
    listen: SocketAddr,
    admin: SocketAddr,
    data_dir: PathBuf,
) -> anyhow::Result<ExitCode> {
    let app = DemoApp::start().await.context("starting the demo app")?;
    let config = demo::config(listen, admin, app.address(), data_dir.clone())
        .map_err(|problems| anyhow::anyhow!("the built-in demo config is invalid:\n{problems}"))?;
    let _log_guard = logging::init(&config.log);
    let server = Server::bind(&config).await?;
    let bound = server.addresses();
    println!(
        "\nRampart demo is running.\n\
         \n  Gateway  https://{gw}/  (self-signed certificate: curl -k, or accept the browser warning)\
         \n  Admin    http://{admin}/metrics   http://{admin}/healthz   http://{admin}/readyz\
         \n  Data     {data}\
         \n\n  Try:     curl -k https://{gw}/chat -H 'content-type: application/json' -d '{{\"message\": \"hello\"}}'\
         \n\nPress Ctrl-C to stop.\n",
        gw = bound.gateway,
        admin = bound.admin,
        data = data_dir.display(),
    );
    server.run().await?;
    Ok(ExitCode::SUCCESS)
}

/// The main thread's runtime: signals, admin and redirect listeners, certificate reloads and
/// the demo app. Client traffic runs on the gateway's own worker threads (see `server`).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_has_help() {
        let mut cli = Cli::command();
        cli.build();
        for sub in cli.get_subcommands() {
            assert!(
                sub.get_about().is_some(),
                "{} has no help text",
                sub.get_name()
            );
        }
        cli.debug_assert();
    }
}
