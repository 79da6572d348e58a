//! The one TOML file that configures Rampart: typed sections, parsed and validated once at start.
//!
//! `load` reads the file, applies `RAMPART_SECTION__KEY` environment overrides, deserializes each
//! section on its own (so one run reports every broken section, not just the first) and validates
//! cross-references. `rampart check` runs exactly this code. Every problem names `file:line`, the
//! key and what to do about it.

mod load;
mod units;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use http::Method;
use http::uri::{Authority, Scheme};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer};

pub use load::{Location, Problem, Problems, defaults, load, load_for_management, load_str};
pub use units::{ByteSize, HumanDuration};

/// The whole configuration, as the running gateway sees it.
#[derive(Debug, Clone)]
pub struct Config {
    /// `development` relaxes safety checks for local work; `production` fails closed.
    pub mode: Mode,
    /// Where Rampart keeps its own files (self-signed certificate, later the embedded store).
    pub data_dir: PathBuf,
    pub listen: ListenConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub security_headers: SecurityHeaders,
    pub errors: ErrorsConfig,
    pub storage: StorageConfig,
    pub identity: IdentityConfig,
    pub redis: crate::cluster::RedisConfig,
    pub rate_limit: crate::pipeline::rate_limit::RateLimitConfig,
    pub bans: crate::pipeline::bans::BansConfig,
    pub cookies: crate::pipeline::cookies::CookiesConfig,
    pub audit: crate::audit::AuditConfig,
    pub privacy: crate::privacy::PrivacyConfig,
    pub alerts: crate::alerting::AlertsConfig,
    pub sla: crate::observability::sla::SlaConfig,
    pub otlp: crate::observability::otlp::OtlpConfig,
    pub roles: Vec<RoleConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
}

impl Config {
    /// The store URL: `[storage] url`, or the SQLite file in `data_dir`.
    pub fn storage_url(&self) -> String {
        self.storage
            .url
            .clone()
            .unwrap_or_else(|| crate::store::Store::default_url(&self.data_dir))
    }
}

/// `[storage]`: where users, sessions and the rest of Rampart's durable state live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` (default: `DATA_DIR/rampart.db`) or `postgres://USER@HOST/DB` to share
    /// state between instances.
    pub url: Option<String>,
}

/// `[identity]`: users, passwords, sessions and tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Shortest password accepted for new passwords.
    pub password_min_length: usize,
    /// A session unused for this long ends.
    pub session_idle_timeout: HumanDuration,
    /// A session ends this long after login, however active.
    pub session_lifetime: HumanDuration,
    /// Lifetime of access tokens (JWT); they cannot be revoked, so keep it short.
    pub access_token_ttl: HumanDuration,
    /// Lifetime of refresh tokens.
    pub refresh_token_lifetime: HumanDuration,
    /// `iss` and `aud` of access tokens.
    pub token_issuer: String,
    pub token_audience: String,
    /// After this long without activity, the app is told (`nudge_webhook`) that the session
    /// will soon time out; must be shorter than `session_idle_timeout`.
    pub nudge_after: Option<HumanDuration>,
    /// `http://` URL that receives the inactivity nudges as JSON POSTs.
    pub nudge_webhook: Option<String>,
    /// Sessions one user may hold at once; 0: no limit.
    pub max_sessions_per_user: usize,
    /// At the limit, a new login ends the oldest session (`"evict-oldest"`) or is refused
    /// (`"refuse"`).
    pub session_limit_action: SessionLimitAction,
    /// Failures within `lockout_window` that lock a user name.
    pub lockout_max_failures: u32,
    pub lockout_window: HumanDuration,
    /// First lockout; each further round of failures within a day doubles it.
    pub lockout_duration: HumanDuration,
    pub lockout_max_duration: HumanDuration,
    /// Failures from one address within `lockout_window`, over any user names, that
    /// throttle the address.
    pub ip_max_failures: u32,
    /// File with the key (at least 32 bytes) that signs the identity headers sent to the
    /// app; default: `DATA_DIR/identity-header.key`, created on first start.
    pub header_secret_file: Option<PathBuf>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            password_min_length: crate::identity::password::DEFAULT_MIN_LENGTH,
            session_idle_timeout: HumanDuration::secs(30 * 60),
            session_lifetime: HumanDuration::secs(12 * 3600),
            access_token_ttl: HumanDuration::secs(15 * 60),
            refresh_token_lifetime: HumanDuration::secs(30 * 86_400),
            token_issuer: "rampart".into(),
            token_audience: "rampart".into(),
            header_secret_file: None,
            nudge_after: None,
            nudge_webhook: None,
            max_sessions_per_user: 0,
            session_limit_action: SessionLimitAction::EvictOldest,
            lockout_max_failures: 5,
            lockout_window: HumanDuration::secs(10 * 60),
            lockout_duration: HumanDuration::secs(5 * 60),
            lockout_max_duration: HumanDuration::secs(3600),
            ip_max_failures: 50,
        }
    }
}

/// What a login does when the user already holds the most sessions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionLimitAction {
    EvictOldest,
    Refuse,
}

/// `[[role]]`: a named set of permissions, inheriting the permissions of other roles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// `[a-z0-9_-]`, as given to `rampart user add --role`.
    pub name: String,
    /// Permission strings routes can require, e.g. `"reports:read"`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Roles whose permissions this role also has.
    #[serde(default)]
    pub inherits: Vec<String>,
    /// Users with this role must have signed in with a second factor to use any non-public
    /// route.
    #[serde(default)]
    pub require_mfa: bool,
}

/// Development or production: decides defaults that trade convenience for safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Development,
    Production,
}

/// `[listen]`: the public listener and the limits that protect the process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// Address the gateway accepts client connections on.
    pub address: SocketAddr,
    /// Serve plain HTTP (no TLS). Only for running behind a TLS-terminating load balancer.
    pub plaintext: bool,
    /// Certificate and key; without it, development mode makes a self-signed certificate.
    pub tls: Option<TlsConfig>,
    /// Optional plain-HTTP listener that answers every request with a redirect to HTTPS.
    pub http_redirect: Option<SocketAddr>,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` and `X-Request-Id` are believed.
    pub trusted_proxies: Vec<IpCidr>,
    /// Threads serving client connections, each with its own event loop and upstream
    /// connection pool; 0 means one per CPU core.
    pub workers: usize,
    /// Client connections open at once; further connections wait in the kernel backlog.
    pub max_connections: usize,
    /// Time a client has to send the TLS handshake and each request's headers (slowloris guard).
    pub header_read_timeout: HumanDuration,
    /// Longest pause allowed between two pieces of a request body before answering 408.
    pub body_read_timeout: HumanDuration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: HumanDuration,
    /// Largest request head (request line + headers) accepted from a client.
    pub max_header_bytes: ByteSize,
    /// Most header fields accepted in one HTTP/1 request.
    pub max_headers: usize,
    /// Default request body limit for routes that set none (413 beyond it).
    pub max_body: ByteSize,
    /// On SIGTERM, how long in-flight requests may take to finish before the process exits.
    pub shutdown_grace: HumanDuration,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([0, 0, 0, 0], 8443)),
            plaintext: false,
            tls: None,
            http_redirect: None,
            trusted_proxies: Vec::new(),
            workers: 0,
            max_connections: 10_000,
            header_read_timeout: HumanDuration::secs(10),
            body_read_timeout: HumanDuration::secs(30),
            idle_timeout: HumanDuration::secs(75),
            max_header_bytes: ByteSize::kib(64),
            max_headers: 100,
            max_body: ByteSize::mib(10),
            shutdown_grace: HumanDuration::secs(30),
        }
    }
}

/// `[listen.tls]`: certificate files, watched and reloaded when they change or on SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Oldest TLS version accepted: `"1.3"` (default) or `"1.2"`.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// How often the files are checked for changes.
    #[serde(default = "default_reload_interval")]
    pub reload_interval: HumanDuration,
}

fn default_reload_interval() -> HumanDuration {
    HumanDuration::secs(5)
}

/// Oldest TLS protocol version the listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[default]
    #[serde(rename = "1.3")]
    Tls13,
}

/// `[admin]`: the separate listener for `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Keep it on loopback or a private network: it is not authenticated.
    pub address: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 9901)),
        }
    }
}

/// `[log]`: structured logs on standard output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: `"info"`, `"warn,rampart=debug"`.
    pub level: String,
    /// `"json"` (one object per line, for machines) or `"pretty"` (for people).
    pub format: LogFormat,
    /// One line per request: id, client, method, path (query values dropped), status, bytes,
    /// duration, route, upstream.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `[security_headers]` (global) and `[route.security_headers]` (per route, overriding).
///
/// Every field is optional so that a route can override one header and inherit the rest; an
/// empty string switches a header off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security`, sent on TLS listeners only.
    pub hsts: Option<String>,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_options: Option<bool>,
    /// `X-Frame-Options`.
    pub frame_options: Option<String>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<String>,
    /// `Permissions-Policy`.
    pub permissions_policy: Option<String>,
    /// `Content-Security-Policy` for the app's responses (apps differ, so none by default).
    pub content_security_policy: Option<String>,
    /// Response headers removed from upstream answers (they tell attackers what runs behind).
    pub remove: Option<Vec<String>>,
}

/// `[errors]`: what clients may see when the upstream fails.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorsConfig {
    /// Which upstream 5xx bodies are replaced by Rampart's JSON error: `"debug-pages"` (stack
    /// traces and framework debug pages; the production default), `"all"`, or `"off"` (the
    /// development default).
    pub replace_upstream_errors: Option<ReplaceUpstreamErrors>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceUpstreamErrors {
    DebugPages,
    All,
    Off,
}

/// `[[upstream]]`: a named pool of app servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Name that routes refer to.
    pub name: String,
    /// `http://host:port` of each server; requests go round robin.
    pub targets: Vec<Target>,
    /// Time allowed to open a TCP connection to a target.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Time allowed for the upstream to start answering (504 after).
    #[serde(default = "default_response_timeout")]
    pub response_timeout: HumanDuration,
    /// A target that refused a connection is skipped for this long.
    #[serde(default = "default_failure_cooldown")]
    pub failure_cooldown: HumanDuration,
    /// Idle keep-alive connections kept per target.
    #[serde(default = "default_max_idle")]
    pub max_idle_connections: usize,
    /// Idle keep-alive connections are closed after this long.
    #[serde(default = "default_pool_idle_timeout")]
    pub idle_connection_timeout: HumanDuration,
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::secs(3)
}
fn default_response_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}
fn default_failure_cooldown() -> HumanDuration {
    HumanDuration::secs(10)
}
fn default_max_idle() -> usize {
    256
}
fn default_pool_idle_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}

/// One upstream server, `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let uri: http::Uri = text.parse().map_err(|_| {
            de::Error::custom(format!(
                "`{text}` is not a URL; write it as http://host:port"
            ))
        })?;
        match (uri.scheme(), uri.authority(), uri.path()) {
            (Some(scheme), Some(authority), "" | "/") if scheme == &Scheme::HTTP => {
                if authority.port_u16().is_none() {
                    return Err(de::Error::custom(format!(
                        "`{text}` has no port; write it as http://host:port"
                    )));
                }
                Ok(Target {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                })
            }
            (Some(scheme), _, _) if scheme != &Scheme::HTTP => Err(de::Error::custom(format!(
                "`{text}`: only http:// upstreams are supported for now"
            ))),
            _ => Err(de::Error::custom(format!(
                "`{text}` must be just http://host:port, without a path"
            ))),
        }
    }
}

/// `[[route]]`: which requests go to which upstream, and with which policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Label in logs and metrics; defaults to the path.
    pub name: Option<String>,
    /// Path prefix, matched on whole segments: `/api` matches `/api` and `/api/x`, not `/apix`.
    pub path: String,
    /// Exact host name, or `*.example.com` for any subdomain. Absent: any host.
    pub host: Option<String>,
    /// Methods this route answers; absent: all.
    #[serde(default)]
    pub methods: Vec<HttpMethod>,
    /// Name of the `[[upstream]]` that serves the route.
    pub upstream: String,
    /// Request body limit (413 beyond it); defaults to `[listen] max_body`.
    pub max_body: Option<ByteSize>,
    /// Overrides the upstream's `response_timeout` for this route (e.g. slow LLM answers).
    pub response_timeout: Option<HumanDuration>,
    /// Who may use the route: `"public"`, `"authenticated"`, or a permission that one of the
    /// user's roles must grant. Absent: public in development, denied in production.
    pub auth: Option<RouteAuth>,
    /// The route needs a sign-in with a second factor (TOTP or a recovery code).
    #[serde(default)]
    pub mfa: bool,
    /// Limits, all of which must pass: `["10/s burst 20", "1000/min per user"]`; counted
    /// per client address unless a limit says `per user`, `per api_key`, `per route` or
    /// `per header:NAME`.
    #[serde(default)]
    pub rate_limit: Vec<crate::pipeline::rate_limit::RateLimitSpec>,
    /// Shortest time between two messages (POST, PUT, PATCH, DELETE) of one user on this
    /// route, e.g. `"2s"` on a chat route; anonymous clients count by address.
    pub message_interval: Option<HumanDuration>,
    /// A stricter idle timeout for sessions on this route (e.g. `"5m"` for `/admin`):
    /// a session idle longer counts as signed out here. Measured to within a minute.
    pub session_idle_timeout: Option<HumanDuration>,
    #[serde(default)]
    pub security_headers: SecurityHeaders,
    /// `"block"` (default): refuse requests the attack filter scores at or over the
    /// threshold with 403; `"detect"`: only log them; `"off"`: do not inspect.
    #[serde(default)]
    pub attack_filter: crate::attack_filter::FilterMode,
    /// Anomaly score that blocks (default 5: one conclusive finding).
    pub attack_filter_threshold: Option<u32>,
    /// Content types, query, header, JSON and upload rules.
    #[serde(default)]
    pub input: crate::pipeline::input::InputConfig,
    /// Which other origins may call this route from a browser; absent: the app decides.
    pub cors: Option<crate::pipeline::cors::CorsConfig>,
    /// CSRF protection for session-cookie requests with unsafe methods: `"origin"` (default),
    /// `"token"` (also a signed double-submit token) or `"off"`.
    #[serde(default)]
    pub csrf: crate::pipeline::csrf::CsrfMode,
    /// Places where the route legitimately receives attack-shaped input:
    /// `["body:content", "sqli@query:q", "header:user-agent"]`.
    #[serde(default)]
    pub attack_filter_exclude: Vec<crate::attack_filter::policy::Exclusion>,
}

impl RouteConfig {
    /// The label used for this route in logs and metrics.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.path)
    }
}

/// An HTTP method name from the config, checked on parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMethod(pub Method);

impl<'de> Deserialize<'de> for HttpMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const KNOWN: [Method; 9] = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ];
        let text = String::deserialize(deserializer)?;
        let upper = text.to_ascii_uppercase();
        KNOWN
            .into_iter()
            .find(|m| m.as_str() == upper)
            .map(HttpMethod)
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "`{text}` is not an HTTP method; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
                ))
            })
    }
}

/// A trusted-proxy entry: one address (`10.0.0.7`) or a network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpCidr(pub IpNet);

impl IpCidr {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl<'de> Deserialize<'de> for IpCidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(IpCidr(net));
        }
        text.parse::<IpAddr>()
            .map(|ip| IpCidr(IpNet::from(ip)))
            .map_err(|_| {
                de::Error::custom(format!(
                    "`{text}` is neither an IP address nor a CIDR network like 10.0.0.0/8"
                ))
            })
    }
}

/// A route's access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    Public,
    Authenticated,
    Permission(String),
}

impl<'de> Deserialize<'de> for RouteAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "public" => Ok(Self::Public),
            "authenticated" => Ok(Self::Authenticated),
            permission
                if !permission.is_empty()
                    && permission
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":_.-*/".contains(&b)) =>
            {
                Ok(Self::Permission(permission.to_owned()))
            }
            _ => Err(de::Error::custom(format!(
                "`{text}` is not an access rule; use \"public\", \"authenticated\" or a permission such as \"reports:read\""
            ))),
        }
    }
}
