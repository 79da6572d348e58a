//! The command line: parses arguments and calls library code; nothing here that tests cannot
//! reach through the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::attack_filter::{AttackFilter, FilterPolicy, Location, Verdict, inputs};
use crate::audit::export::{self, ExportFormat};
use crate::audit::signing::CheckpointVerifier;
use crate::audit::{self, Audit};
use crate::config::IpCidr;
use crate::config::{self, Config};
use crate::demo::{self, DemoApp};
use crate::identity::events::SecurityEvent;
use crate::identity::password;
use crate::identity::roles::Roles;
use crate::identity::users::{self, UserPolicy};
use crate::identity::{api_keys, tokens};
use crate::observability::logging;
use crate::observability::metrics::Metrics;
use crate::pipeline::bans;
use crate::privacy;
use crate::server::Server;
use crate::store::{AlertStore, AuditFilter};
use crate::store::{ApiKeyStore, BanStore, SigningKeyStore, Store, UserStore, unix_now};

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
    /// Manage users: add, list, disable, enable, reset-password, set-roles.
    User {
        /// The configuration whose store and roles to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API keys for machines: create, list, revoke.
    Apikey {
        /// The configuration whose store and roles to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Manage the keys that sign access tokens: rotate, list.
    Keys {
        /// The configuration whose store to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Ban and unban client addresses; running gateways pick changes up within
    /// `[bans] sync_interval` (default 1s).
    Ban {
        /// The configuration whose store and allowlist to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: BanAction,
    },
    /// The tamper-evident audit log: verify the chain, export records, print the public key.
    Audit {
        /// The configuration whose store and keys to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Alerts: list what fires, acknowledge (stops repeats and escalation) or resolve.
    Alerts {
        /// The configuration whose store to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: AlertAction,
    },
    /// Service levels: uptime, success ratio and p50/p95/p99 per route against `[sla]`.
    Sla {
        /// The configuration whose store and objectives to use; without it, ./rampart-data.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: SlaAction,
    },
    /// Write what teams with their own monitoring need: the alert rules as a Prometheus rules
    /// file (checked by `promtool check rules`), Grafana dashboards.
    Export {
        /// The configuration whose rules to export; without it, the built-in rules.
        #[arg(long, short, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Show what the attack filter finds in values, as a route with the default policy
    /// would: each finding, the score and whether a request carrying the value is refused.
    /// Values come from the arguments, or one per line from standard input. Exits 1 when any
    /// value would be refused, like grep when it finds something.
    Inspect {
        /// Where the value would be in the request; a `path` value is read as a request's
        /// whole path (`/files/../etc/passwd`), segment by segment and across segments.
        #[arg(long, value_enum, default_value = "query")]
        location: InspectLocation,
        /// The name of the parameter, field, header or cookie.
        #[arg(long, default_value = "q")]
        name: String,
        /// The values; without any, one per line from standard input.
        #[arg(allow_hyphen_values = true)]
        values: Vec<String>,
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

#[derive(Subcommand)]
enum UserAction {
    /// Create a user. The password is read from standard input when it is not a terminal,
    /// otherwise prompted for twice; it is never taken from the command line.
    Add {
        username: String,
        /// A role from the config's [[role]] list; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// List users with their roles and status.
    List,
    /// Stop a user from logging in and end all of their sessions.
    Disable { username: String },
    /// Let a disabled user log in again.
    Enable { username: String },
    /// Set a new password, read like `add` does.
    ResetPassword { username: String },
    /// Replace a user's roles.
    SetRoles {
        username: String,
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyAction {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        /// What the key is for, e.g. `ci-deploy`.
        name: String,
        /// A role from the config's [[role]] list; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// How long the key is valid, e.g. `90d`; default: until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum BanAction {
    /// List the bans in force.
    List,
    /// Ban an address (an IPv6 address bans its /64).
    Add {
        address: String,
        /// How long, e.g. `1h` or `7d`; default: without end.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Why, for the record.
        #[arg(long, default_value = "banned from the command line")]
        reason: String,
    },
    /// Lift the ban on an address.
    Remove { address: String },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Retire the current signing key and create a new one. Tokens signed with the old key
    /// stay valid until they expire; running gateways switch within a minute (or on SIGHUP).
    Rotate,
    /// List signing keys (ids and dates, never the private keys).
    List,
}

#[derive(Subcommand)]
enum AlertAction {
    /// Alerts open now; with --all, the newest 100 of any state.
    List {
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge an open alert: no more repeats or escalation for it.
    Ack { id: i64 },
    /// Mark an open alert resolved; it fires anew if its condition still holds.
    Resolve { id: i64 },
}

#[derive(Subcommand)]
enum SlaAction {
    /// The report over the last `--window`; exits 1 when an objective is missed.
    Report {
        #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
        window: std::time::Duration,
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InspectLocation {
    Query,
    Body,
    Header,
    Cookie,
    Path,
}

impl From<InspectLocation> for Location {
    fn from(location: InspectLocation) -> Self {
        match location {
            InspectLocation::Query => Location::Query,
            InspectLocation::Body => Location::Body,
            InspectLocation::Header => Location::Header,
            InspectLocation::Cookie => Location::Cookie,
            InspectLocation::Path => Location::Path,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum ExportWhat {
    /// The alert rules as a Prometheus rules file, on standard output.
    PrometheusRules,
    /// Grafana dashboards (security, performance, system, compliance) as JSON files, for
    /// Grafana's "Import dashboard" or file provisioning.
    Grafana {
        /// Where to write them.
        #[arg(long, default_value = "grafana")]
        output_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check every record's hash link and every signed checkpoint; exits 1 and names the
    /// first broken record when the log was changed.
    Verify {
        /// The checkpoint public key (base64url, from `rampart audit public-key`); default:
        /// the one of this machine's signing key. Pin it elsewhere to detect a replaced key.
        // A base64url key starts with `-` one time in 64: still a value, not an option.
        #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
        public_key: Option<String>,
    },
    /// Write records as JSON lines or CSV, oldest first.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only records at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        since: Option<std::time::SystemTime>,
        /// Only records before this time.
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        until: Option<std::time::SystemTime>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the public key that verifies checkpoints.
    PublicKey,
}

/// `println!` that hands a failed write back to the caller, where `println!` panics: a reader
/// that goes away (`rampart users list | head -1`) ends the command quietly ([`main`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)
    };
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Exit code for a configuration with problems.
const CONFIG_PROBLEMS: u8 = 2;

pub fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        // The reader went away (`rampart inspect … | head -1`): nothing is wrong.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
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
        Command::User { config, action } => {
            let config = match config {
                Some(path) => match load_for_management(&path) {
                    Some(config) => Some(config),
                    None => return Ok(ExitCode::from(CONFIG_PROBLEMS)),
                },
                None => None,
            };
            runtime()?.block_on(manage_users(config, action))
        }
        Command::Apikey { config, action } => {
            let config = match config {
                Some(path) => match load_for_management(&path) {
                    Some(config) => Some(config),
                    None => return Ok(ExitCode::from(CONFIG_PROBLEMS)),
                },
                None => None,
            };
            runtime()?.block_on(manage_api_keys(config, action))
        }
        Command::Keys { config, action } => {
            let url = match config {
                Some(path) => match load_for_management(&path) {
                    Some(config) => config.storage_url(),
                    None => return Ok(ExitCode::from(CONFIG_PROBLEMS)),
                },
                None => Store::default_url(Path::new("./rampart-data")),
            };
            runtime()?.block_on(manage_keys(&url, action))
        }
        Command::Ban { config, action } => match load_or_defaults(config) {
            Some(config) => runtime()?.block_on(manage_bans(config, action)),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Alerts { config, action } => match load_or_defaults(config) {
            Some(config) => runtime()?.block_on(manage_alerts(config, action)),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Sla { config, action } => match load_or_defaults(config) {
            Some(config) => runtime()?.block_on(sla_report(config, action)),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Export { config, what } => match load_or_defaults(config) {
            Some(config) => export_for_monitoring(&config, what),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Audit { config, action } => match load_or_defaults(config) {
            Some(config) => runtime()?.block_on(manage_audit(config, action)),
            None => Ok(ExitCode::from(CONFIG_PROBLEMS)),
        },
        Command::Inspect {
            location,
            name,
            values,
        } => inspect_values(location.into(), &name, values),
        Command::Demo {
            listen,
            admin,
            data_dir,
        } => runtime()?.block_on(run_demo(listen, admin, data_dir)),
    }
}

/// `rampart inspect`: the filter's verdict on each value, and exit code 1 if one is refused.
fn inspect_values(location: Location, name: &str, values: Vec<String>) -> anyhow::Result<ExitCode> {
    let values = if values.is_empty() {
        std::io::stdin()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .context("reading values from standard input")?
    } else {
        values
    };
    let filter = AttackFilter::new();
    let policy = FilterPolicy::default();
    let mut refused_any = false;
    for value in &values {
        let mut verdict = Verdict::default();
        match as_request_path(location, value) {
            // A path is read as the gateway reads a request's: segment by segment, and whole
            // for the checks that look across segments (`/etc/passwd`).
            Some(uri) => inputs::inspect_head(
                &filter,
                &policy,
                &uri,
                &http::HeaderMap::new(),
                &mut verdict,
            ),
            None if matches!(location, Location::Query | Location::Body) => {
                inputs::inspect_value(&filter, &policy, location, name, value, &mut verdict);
            }
            None => filter.inspect(&policy, location, name, value, &mut verdict),
        }
        let refused = verdict.score >= policy.threshold;
        refused_any |= refused;
        let outcome = if refused { "refused" } else { "passes " };
        outln!(
            "{outcome} {value:?} (score {}, refused at {})",
            verdict.score,
            policy.threshold
        )?;
        for finding in &verdict.findings {
            outln!("  {finding}")?;
        }
    }
    Ok(if refused_any {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `value` as the target of a request, when it is given as a path and parses as one.
fn as_request_path(location: Location, value: &str) -> Option<http::Uri> {
    if location != Location::Path {
        return None;
    }
    let target = if value.starts_with('/') {
        value.to_owned()
    } else {
        format!("/{value}")
    };
    target.parse().ok()
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

/// The config at `path`, or the defaults (data in ./rampart-data) without one; `None` after
/// printing its problems.
fn load_or_defaults(path: Option<PathBuf>) -> Option<Config> {
    match path {
        Some(path) => load_for_management(&path),
        None => match config::defaults(std::env::vars()) {
            Ok(config) => Some(config),
            Err(problems) => {
                eprintln!("{problems}");
                None
            }
        },
    }
}

/// Loads the config for serving, printing every problem; `None` if there were any.
fn load(path: &Path) -> Option<Config> {
    report_problems(config::load(path))
}

/// Loads the config for a management command, which starts no listener and so does not read
/// its certificate files ([`config::load_for_management`]).
fn load_for_management(path: &Path) -> Option<Config> {
    report_problems(config::load_for_management(path))
}

fn report_problems(loaded: Result<Config, config::Problems>) -> Option<Config> {
    match loaded {
        Ok(config) => Some(config),
        Err(problems) => {
            eprintln!("{problems}");
            let count = problems.0.len();
            eprintln!("{count} problem{} found", if count == 1 { "" } else { "s" });
            None
        }
    }
}

async fn manage_users(config: Option<Config>, action: UserAction) -> anyhow::Result<ExitCode> {
    let (url, roles, password_min_length) = match &config {
        Some(config) => (
            config.storage_url(),
            Some(Roles::build(&config.roles).map_err(anyhow::Error::msg)?),
            config.identity.password_min_length,
        ),
        None => (
            Store::default_url(Path::new("./rampart-data")),
            None,
            password::DEFAULT_MIN_LENGTH,
        ),
    };
    let store = Store::open(&url).await.context("opening the store")?;
    let policy = UserPolicy {
        roles: roles.as_ref(),
        password_min_length,
    };
    match action {
        UserAction::Add { username, roles } => {
            let password = read_password()?;
            let user = users::add_user(&store, &policy, &username, &password, &roles).await?;
            outln!(
                "created user {} (roles: {})",
                user.username,
                describe_roles(&user.roles)
            )?;
        }
        UserAction::List => {
            outln!("{:<32} {:<10} {:<22} roles", "user", "status", "created")?;
            for user in store.list_users().await? {
                let created = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(user.created_at.max(0) as u64);
                outln!(
                    "{:<32} {:<10} {:<22} {}",
                    user.username,
                    if user.disabled { "disabled" } else { "active" },
                    humantime::format_rfc3339_seconds(created).to_string(),
                    describe_roles(&user.roles)
                )?;
            }
        }
        UserAction::Disable { username } => {
            let ended = users::set_disabled(&store, &username, true).await?;
            outln!("disabled user {username}; ended {ended} session(s)")?;
        }
        UserAction::Enable { username } => {
            users::set_disabled(&store, &username, false).await?;
            outln!("enabled user {username}")?;
        }
        UserAction::ResetPassword { username } => {
            let password = read_password()?;
            users::reset_password(&store, &policy, &username, &password).await?;
            outln!("password of {username} changed")?;
        }
        UserAction::SetRoles { username, roles } => {
            users::set_roles(&store, &policy, &username, &roles).await?;
            outln!("roles of {username}: {}", describe_roles(&roles))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn manage_api_keys(config: Option<Config>, action: ApiKeyAction) -> anyhow::Result<ExitCode> {
    let (url, roles) = match &config {
        Some(config) => (
            config.storage_url(),
            Some(Roles::build(&config.roles).map_err(anyhow::Error::msg)?),
        ),
        None => (Store::default_url(Path::new("./rampart-data")), None),
    };
    let store = Store::open(&url).await.context("opening the store")?;
    match action {
        ApiKeyAction::Create {
            name,
            roles: key_roles,
            expires_in,
        } => {
            let policy = UserPolicy {
                roles: roles.as_ref(),
                password_min_length: password::DEFAULT_MIN_LENGTH,
            };
            policy.check_roles(&key_roles)?;
            let ttl = expires_in.map(|d| d.as_secs() as i64);
            let created = api_keys::create(&store, &name, &key_roles, ttl).await?;
            eprintln!(
                "created API key {} ({name}, roles: {}); it is shown only now:",
                created.id,
                describe_roles(&key_roles)
            );
            outln!("{}", created.key)?;
        }
        ApiKeyAction::List => {
            outln!(
                "{:<14} {:<24} {:<9} {:<22} roles",
                "id",
                "name",
                "status",
                "expires"
            )?;
            let now = unix_now();
            for key in store.list_api_keys().await? {
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else if key.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                let expires = key.expires_at.map_or("never".to_owned(), |at| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64),
                    )
                    .to_string()
                });
                outln!(
                    "{:<14} {:<24} {:<9} {:<22} {}",
                    key.id,
                    key.name,
                    status,
                    expires,
                    describe_roles(&key.roles)
                )?;
            }
        }
        ApiKeyAction::Revoke { id } => {
            store.revoke_api_key(&id, unix_now()).await?;
            outln!("revoked API key {id}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn manage_bans(config: Config, action: BanAction) -> anyhow::Result<ExitCode> {
    let allowlist = &config.bans.allowlist;
    let store = Arc::new(
        Store::open(&config.storage_url())
            .await
            .context("opening the store")?,
    );
    let (audit, _) =
        audit::open(&config, &store, &Arc::new(Metrics::new())).map_err(anyhow::Error::msg)?;
    let code = ban_action(&store, &audit, allowlist, action).await;
    audit.close().await;
    code
}

async fn ban_action(
    store: &Store,
    audit: &Audit,
    allowlist: &[IpCidr],
    action: BanAction,
) -> anyhow::Result<ExitCode> {
    match action {
        BanAction::List => {
            outln!(
                "{:<26} {:<22} {:<12} {:<7} reason",
                "address",
                "until",
                "source",
                "strikes"
            )?;
            for ban in store.active_bans(unix_now()).await? {
                let until = if ban.until >= bans::PERMANENT {
                    "without end".to_owned()
                } else {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(ban.until.max(0) as u64),
                    )
                    .to_string()
                };
                outln!(
                    "{:<26} {:<22} {:<12} {:<7} {}",
                    ban.subject,
                    until,
                    ban.source,
                    ban.strikes,
                    ban.reason
                )?;
            }
        }
        BanAction::Add {
            address,
            duration,
            reason,
        } => {
            let subject = bans::parse_subject(&address)?;
            let record =
                bans::ban_manually(store, audit, allowlist, subject, duration, &reason, "cli")
                    .await?;
            outln!("banned {}", record.subject)?;
        }
        BanAction::Remove { address } => {
            let subject = bans::parse_subject(&address)?;
            if !bans::unban(store, audit, subject, "cli").await? {
                eprintln!("{} is not banned", bans::subject_name(subject));
                return Ok(ExitCode::FAILURE);
            }
            outln!("unbanned {}", bans::subject_name(subject))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn manage_audit(config: Config, action: AuditAction) -> anyhow::Result<ExitCode> {
    match action {
        AuditAction::PublicKey => {
            outln!(
                "{}",
                audit::signer(&config)
                    .map_err(anyhow::Error::msg)?
                    .public_key()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Verify { public_key } => {
            let public_key = match public_key {
                Some(key) => key,
                None => audit::signer(&config)
                    .map_err(anyhow::Error::msg)?
                    .public_key(),
            };
            let verifier =
                CheckpointVerifier::from_base64(&public_key).map_err(anyhow::Error::msg)?;
            let store = Store::open(&config.storage_url())
                .await
                .context("opening the store")?;
            let progress = Progress::new("verified");
            let report = audit::verify::verify(&store, &verifier, |n| progress.show(n)).await?;
            progress.finish();
            let range = match (report.first_seq, report.last_seq) {
                (Some(first), Some(last)) => format!("records {first}..={last}"),
                _ => "no records".to_owned(),
            };
            let log_intact = match report.broken {
                None => {
                    outln!(
                        "audit log intact: {} records ({range}), {} signed checkpoints",
                        report.records,
                        report.checkpoints
                    )?;
                    true
                }
                Some(broken) => {
                    outln!("audit log BROKEN at {broken}")?;
                    outln!(
                        "{} records verified before it ({range}), {} signed checkpoints",
                        report.records,
                        report.checkpoints
                    )?;
                    false
                }
            };
            let dir = config.audit.requests_dir(&config.data_dir);
            let trail = audit::trail::verify(&dir, &verifier)
                .with_context(|| format!("reading {}", dir.display()))?;
            let trail_intact = match &trail.broken {
                _ if trail.files == 0 => true,
                None => {
                    outln!(
                        "request trail intact: {} records in {} files, {} signed checkpoints",
                        trail.records,
                        trail.files,
                        trail.checkpoints
                    )?;
                    true
                }
                Some((file, line, reason)) => {
                    outln!("request trail BROKEN at {file} line {line}: {reason}")?;
                    false
                }
            };
            Ok(if log_intact && trail_intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AuditAction::Export {
            format,
            since,
            until,
            actor,
            action,
            output,
        } => {
            let store = Store::open(&config.storage_url())
                .await
                .context("opening the store")?;
            let filter = AuditFilter {
                actor,
                action,
                since_ms: since.map(unix_ms),
                until_ms: until.map(unix_ms),
                ..AuditFilter::default()
            };
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let progress = Progress::new("exported");
            let written =
                export::export(&store, filter, format, &mut out, |n| progress.show(n)).await?;
            progress.finish();
            if let Some(path) = output {
                eprintln!("exported {written} records to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn manage_alerts(config: Config, action: AlertAction) -> anyhow::Result<ExitCode> {
    let store = Arc::new(
        Store::open(&config.storage_url())
            .await
            .context("opening the store")?,
    );
    let now_ms = crate::store::unix_now_ms();
    let (id, done, verb) = match action {
        AlertAction::List { all } => {
            let alerts = if all {
                store.recent_alerts(100).await?
            } else {
                store.open_alerts().await?
            };
            outln!(
                "{:<15} {:<9} {:<34} {:<22} {:<10} labels",
                "id",
                "severity",
                "rule",
                "fired",
                "state"
            )?;
            for alert in alerts {
                let fired = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(alert.fired_ms.max(0) as u64),
                );
                let state = match (alert.resolved_ms, &alert.acknowledged_by) {
                    (Some(_), _) => "resolved".to_owned(),
                    (None, Some(by)) => format!("acked:{by}"),
                    (None, None) => "firing".to_owned(),
                };
                outln!(
                    "{:<15} {:<9} {:<34} {:<22} {:<10} {}",
                    alert.id,
                    alert.severity,
                    alert.rule,
                    fired,
                    state,
                    alert.labels
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        AlertAction::Ack { id } => (
            id,
            store.acknowledge_alert(id, "cli", now_ms).await?,
            "acknowledged",
        ),
        AlertAction::Resolve { id } => (id, store.resolve_alert(id, now_ms).await?, "resolved"),
    };
    if !done {
        eprintln!("alert {id} is not open (or already acknowledged)");
        return Ok(ExitCode::FAILURE);
    }
    let (audit, _) =
        audit::open(&config, &store, &Arc::new(Metrics::new())).map_err(anyhow::Error::msg)?;
    let action = if verb == "acknowledged" {
        "alert_acknowledged"
    } else {
        "alert_resolved"
    };
    let target = id.to_string();
    audit
        .emit(
            &SecurityEvent::AdminAction {
                actor: "cli",
                action,
                target: &target,
                ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            },
            "",
        )
        .await;
    audit.close().await;
    outln!("alert {id} {verb}")?;
    Ok(ExitCode::SUCCESS)
}

async fn sla_report(config: Config, action: SlaAction) -> anyhow::Result<ExitCode> {
    let SlaAction::Report { window, format } = action;
    let store = Store::open(&config.storage_url())
        .await
        .context("opening the store")?;
    let now = crate::store::unix_now_ms();
    let report = crate::observability::sla::report(&store, &config.sla, window, now).await?;
    let objectives = &report.objectives;
    let met = objectives.availability_met != Some(false)
        && objectives.success_ratio_met
        && objectives.latency_p95_met;
    if format == ReportFormat::Json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let mark = |ok: bool| if ok { "met" } else { "MISSED" };
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        outln!("SLA over {}", humantime::format_duration(window))?;
        match report.uptime {
            Some(uptime) => outln!(
                "  uptime        {uptime:.3}%   objective {}%  {}",
                objectives.availability,
                mark(objectives.availability_met == Some(true))
            )?,
            None => outln!("  uptime        no health samples yet")?,
        }
        outln!(
            "  success ratio {:.3}%   objective {}%  {}",
            report.overall.success_ratio,
            objectives.success_ratio,
            mark(objectives.success_ratio_met)
        )?;
        outln!(
            "  p95           {} ms   objective {} ms  {}",
            ms(report.overall.p95_ms),
            objectives.latency_p95_ms,
            mark(objectives.latency_p95_met)
        )?;
        outln!(
            "\n{:<32} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "route",
            "requests",
            "success%",
            "p50 ms",
            "p95 ms",
            "p99 ms"
        )?;
        for route in report.routes.iter().chain(std::iter::once(&report.overall)) {
            outln!(
                "{:<32} {:>10} {:>9.3} {:>9} {:>9} {:>9}",
                route.route,
                route.requests,
                route.success_ratio,
                ms(route.p50_ms),
                ms(route.p95_ms),
                ms(route.p99_ms)
            )?;
        }
    }
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn export_for_monitoring(config: &Config, what: ExportWhat) -> anyhow::Result<ExitCode> {
    match what {
        ExportWhat::PrometheusRules => {
            let rules = config.alerts.rules(config.sla.latency_p95.0)?;
            print!("{}", crate::alerting::rules::prometheus_rules(&rules));
        }
        ExportWhat::Grafana { output_dir } => {
            use crate::observability::dashboards::{DASHBOARDS, dashboard};
            std::fs::create_dir_all(&output_dir)
                .with_context(|| format!("creating {}", output_dir.display()))?;
            for (index, (stem, _, _)) in DASHBOARDS.iter().enumerate() {
                let path = output_dir.join(format!("{stem}.json"));
                let json = serde_json::to_string_pretty(&dashboard(index))?;
                std::fs::write(&path, json)
                    .with_context(|| format!("writing {}", path.display()))?;
                outln!("{}", path.display())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn unix_ms(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A count on standard error while long work runs, when it is a terminal.
struct Progress {
    label: &'static str,
    shown: bool,
}

impl Progress {
    fn new(label: &'static str) -> Self {
        use std::io::IsTerminal;
        Self {
            label,
            shown: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, count: u64) {
        if self.shown {
            eprint!("\r{} {count} records", self.label);
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

async fn manage_keys(url: &str, action: KeyAction) -> anyhow::Result<ExitCode> {
    let store = Store::open(url).await.context("opening the store")?;
    match action {
        KeyAction::Rotate => {
            let kid = tokens::rotate(&store, unix_now()).await?;
            outln!(
                "new signing key {kid}; running gateways switch within a minute, or now with SIGHUP"
            )?;
        }
        KeyAction::List => {
            outln!("{:<34} {:<22} retired", "kid", "created")?;
            let date = |at: i64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64),
                )
                .to_string()
            };
            for key in store.signing_keys().await? {
                outln!(
                    "{:<34} {:<22} {}",
                    key.kid,
                    date(key.created_at),
                    key.retired_at.map_or("-".to_owned(), date)
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_roles(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.join(", ")
    }
}

/// A password from standard input (one line) or, on a terminal, typed twice without echo.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        return Ok(password.strip_suffix('\r').unwrap_or(password).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat password: ")?;
    anyhow::ensure!(first == second, "the passwords do not match");
    Ok(first)
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let redactor = privacy::log_redactor(&config).map_err(anyhow::Error::msg)?;
    let _log_guard = logging::init(&config.log, redactor);
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
    let redactor = privacy::log_redactor(&config).map_err(anyhow::Error::msg)?;
    let _log_guard = logging::init(&config.log, redactor);
    let server = Server::bind(&config).await?;
    let bound = server.addresses();
    outln!(
        "\nRampart demo is running.\n\
         \n  Gateway  https://{gw}/  (self-signed certificate: curl -k, or accept the browser warning)\
         \n  Admin    http://{admin}/metrics   http://{admin}/healthz   http://{admin}/readyz\
         \n  Data     {data}\
         \n\n  Try:     curl -k https://{gw}/chat -H 'content-type: application/json' -d '{{\"message\": \"hello\"}}'\
         \n\nPress Ctrl-C to stop.\n",
        gw = bound.gateway,
        admin = bound.admin,
        data = data_dir.display(),
    )?;
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

    #[test]
    fn a_public_key_that_starts_with_a_dash_is_a_value() {
        let cli = Cli::try_parse_from(["rampart", "audit", "verify", "--public-key", "-Ab_9"])
            .expect("a key starting with `-` parses");
        match cli.command {
            Command::Audit {
                action: AuditAction::Verify { public_key },
                ..
            } => assert_eq!(public_key.as_deref(), Some("-Ab_9")),
            _ => panic!("parsed as another command"),
        }
    }
}
