//! Starting and stopping the gateway: binding the listeners, certificates, signals (SIGTERM and
//! SIGINT drain and stop, SIGHUP reloads certificates) and the graceful drain.
//!
//! The gateway runs thread-per-core, like nginx's workers: each worker thread has its own
//! single-threaded event loop, its own `SO_REUSEPORT` listener on the public address and its own
//! upstream connection pools, so a request is handled start to finish on one thread without
//! cross-thread wake-ups. The admin and redirect listeners, signals and certificate reloads run
//! on the main thread.

pub mod admin;
pub mod cert_expiry;
pub mod listener;
mod redirect;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use self::admin::Admin;
use self::listener::{ConnectionLimits, Listener};
use self::redirect::HttpsRedirect;
use self::tls::{CertReloader, CertResolver};
use crate::alerting::manager::AlertManager;
use crate::attack_filter::AttackFilter;
use crate::audit::trail::RequestTrail;
use crate::audit::{self, Audit};
use crate::cluster::Cluster;
use crate::config::{Config, Mode};
use crate::identity::events::SecurityEvent;
use crate::identity::nudge::Nudger;
use crate::identity::regulator::{self, LockoutPolicy};
use crate::identity::roles::Roles;
use crate::identity::service::{IdentityService, Lifetimes};
use crate::identity::tokens::TokenService;
use crate::observability::metrics::Metrics;
use crate::observability::otlp;
use crate::observability::sla::SlaRecorder;
use crate::observability::system::{self, Sampled};
use crate::pipeline::bans::Bans;
use crate::pipeline::identity_headers::IdentityHeaderSigner;
use crate::pipeline::rate_limit::{RouteLimits, SharedLimiter};
use crate::pipeline::{Gateway, Shared};
use crate::store::{Store, unix_now};
use crate::upstream::SharedHealth;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address} for the {listener} listener: {source}")]
    Bind {
        listener: &'static str,
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Pipeline(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("identity: {0}")]
    Identity(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("alerts: {0}")]
    Alerts(String),
    #[error("[otlp]: {0}")]
    Otlp(String),
    #[error("cannot start a worker thread: {0}")]
    Worker(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Addresses actually bound (they differ from the config when it asks for port 0).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddresses {
    pub gateway: SocketAddr,
    pub admin: SocketAddr,
    pub http_redirect: Option<SocketAddr>,
    pub tls: bool,
}

/// One worker thread's share of the gateway: its event loop and its listener, which owns the
/// worker's pipeline and upstream pools.
struct Worker {
    runtime: tokio::runtime::Runtime,
    listener: Listener<Gateway>,
}

/// A gateway with its listeners bound, not yet serving.
pub struct Server {
    workers: Vec<Worker>,
    /// Every rate limit (routes and login zone), for housekeeping.
    rate_limits: Vec<Arc<RouteLimits>>,
    bans: Arc<Bans>,
    identity: Arc<IdentityService>,
    audit: Audit,
    /// What the metrics sampler reads every few seconds.
    sampled: Sampled,
    /// Closed last, so the requests of the drain are in it.
    trail: Option<RequestTrail>,
    /// The trace exporter, flushed last for the same reason.
    exporter: Option<otlp::Exporter>,
    /// The alert evaluator and how often it runs, when alerting is on.
    alerts: Option<(AlertManager, Duration)>,
    /// Records what the SLA report reads.
    sla: SlaRecorder,
    /// What the daily audit pruning needs, when the audit log is on.
    audit_retention: Option<audit::Retention>,
    nudger: Option<Nudger>,
    admin: Listener<Admin>,
    redirect: Option<Listener<HttpsRedirect>>,
    reloader: Option<CertReloader>,
    grace: Duration,
    addresses: BoundAddresses,
}

impl Server {
    /// Builds the pipelines and binds every listener; fails fast, before serving anything.
    pub async fn bind(config: &Config) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::new());
        let listen = &config.listen;
        let worker_count = match listen.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let limits = ConnectionLimits {
            max_connections: listen.max_connections,
            header_read_timeout: listen.header_read_timeout.0,
            idle_timeout: listen.idle_timeout.0,
            max_header_bytes: usize::try_from(listen.max_header_bytes.0).unwrap_or(usize::MAX),
            max_headers: listen.max_headers,
        };

        let (tls, reloader) = match tls_files(config)? {
            Some((cert, key, reload_interval)) => {
                let key_pair = tls::load_certified_key(&cert, &key).map_err(StartError::Tls)?;
                metrics.certificate_loaded(tls::expiry(&key_pair));
                let resolver = Arc::new(CertResolver::new(key_pair));
                let min_version = listen
                    .tls
                    .as_ref()
                    .map(|t| t.min_version)
                    .unwrap_or_default();
                let acceptor =
                    TlsAcceptor::from(Arc::new(tls::server_config(resolver.clone(), min_version)));
                let reloader = CertReloader {
                    cert,
                    key,
                    resolver,
                    interval: reload_interval,
                    metrics: metrics.clone(),
                    // Replaced by the audit log once the store is open, below.
                    audit: Audit::log_only(),
                };
                (Some(acceptor), Some(reloader))
            }
            None => (None, None),
        };

        let (shared, audit_retention, exporter) = shared_state(config, metrics.clone()).await?;
        let mut reloader = reloader;
        if let Some(reloader) = &mut reloader {
            reloader.audit = shared.audit.clone();
        }

        // The first socket settles the port (the config may say 0); the others share it.
        let first = bind_shared(listen.address)?;
        let gateway_address = first.local_addr().map_err(|source| StartError::Bind {
            listener: "gateway",
            address: listen.address,
            source,
        })?;
        let mut sockets = vec![first];
        for _ in 1..worker_count {
            sockets.push(bind_shared(gateway_address)?);
        }
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let workers = sockets
            .into_iter()
            .map(|socket| {
                let gateway = Gateway::new(config, &shared).map_err(StartError::Pipeline)?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(StartError::Worker)?;
                // The socket must be registered with the event loop that will poll it.
                let tcp = {
                    let _entered = runtime.enter();
                    TcpListener::from_std(socket).map_err(StartError::Worker)?
                };
                let listener = Listener {
                    name: "gateway",
                    tcp,
                    tls: tls.clone(),
                    handler: Arc::new(gateway),
                    limits: limits.clone(),
                    slots: slots.clone(),
                    metrics: metrics.clone(),
                };
                Ok(Worker { runtime, listener })
            })
            .collect::<Result<Vec<_>, StartError>>()?;

        let admin_tcp = bind("admin", config.admin.address).await?;
        let redirect_tcp = match listen.http_redirect {
            Some(address) => Some(bind("http_redirect", address).await?),
            None => None,
        };
        let addresses = BoundAddresses {
            gateway: gateway_address,
            admin: local_addr(&admin_tcp),
            http_redirect: redirect_tcp.as_ref().map(local_addr),
            tls: tls.is_some(),
        };
        let small_limits = ConnectionLimits {
            max_connections: 256,
            ..limits.clone()
        };
        // The admin listener and the sampler look at the first worker's pools.
        let gateway_pools = workers[0].listener.handler.pools().to_vec();
        Ok(Self {
            admin: Listener {
                name: "admin",
                tcp: admin_tcp,
                tls: None,
                handler: Arc::new(Admin {
                    metrics: metrics.clone(),
                    pools: gateway_pools.clone(),
                    store: shared.store.clone(),
                    data_dir: config.data_dir.clone(),
                    started: std::time::Instant::now(),
                }),
                slots: Arc::new(Semaphore::new(small_limits.max_connections)),
                limits: small_limits.clone(),
                metrics: metrics.clone(),
            },
            redirect: redirect_tcp.map(|tcp| Listener {
                name: "http_redirect",
                tcp,
                tls: None,
                handler: Arc::new(HttpsRedirect {
                    https_port: addresses.gateway.port(),
                }),
                slots: Arc::new(Semaphore::new(small_limits.max_connections)),
                limits: small_limits,
                metrics: metrics.clone(),
            }),
            workers,
            identity: shared.identity.clone(),
            rate_limits: shared
                .rate_limits
                .iter()
                .flatten()
                .chain(&shared.login_limits)
                .cloned()
                .collect(),
            bans: shared.bans.clone(),
            audit: shared.audit.clone(),
            alerts: alert_manager(config, &shared)?,
            trail: shared.trail.clone(),
            sla: SlaRecorder::new(
                shared.store.clone(),
                metrics.clone(),
                gateway_pools.clone(),
                config.sla.clone(),
            ),
            sampled: Sampled {
                store: shared.store.clone(),
                data_dir: config.data_dir.clone(),
                pools: gateway_pools,
                audit: shared.audit.clone(),
            },
            audit_retention,
            exporter,
            nudger: nudger(config, &shared.identity),
            reloader,
            grace: listen.shutdown_grace.0,
            addresses,
        })
    }

    pub fn addresses(&self) -> BoundAddresses {
        self.addresses
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting and lets in-flight requests finish
    /// within `[listen] shutdown_grace`.
    pub async fn run(self) -> Result<(), StartError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let reload = Arc::new(Notify::new());
        let mut terminate = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(StartError::Signals)?;
        let reload_on_hup = reload.clone();
        let identity_on_hup = self.identity.clone();
        let audit_on_hup = self.audit.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = terminate.recv() => break,
                    _ = interrupt.recv() => break,
                    _ = hangup.recv() => {
                        tracing::info!(event = "sighup", "reloading certificates and signing keys");
                        reload_on_hup.notify_one();
                        let reloaded = identity_on_hup.reload_keys(unix_now()).await;
                        if let Err(err) = &reloaded {
                            tracing::warn!(error = %err, "reloading signing keys failed");
                        }
                        let detail = reloaded.as_ref().err().map(ToString::to_string).unwrap_or_default();
                        let event = SecurityEvent::Reloaded {
                            what: "signing_keys",
                            ok: reloaded.is_ok(),
                            detail: &detail,
                        };
                        audit_on_hup.emit(&event, "").await;
                    }
                }
            }
            tracing::info!(
                event = "shutdown",
                "stopping: no new connections, finishing in-flight requests"
            );
            let _ = stop_tx.send(true);
        });
        if let Some(reloader) = self.reloader {
            tokio::spawn(reloader.run(reload));
        }
        tokio::spawn(maintenance(
            self.identity.clone(),
            self.admin.metrics.clone(),
            self.rate_limits,
            self.bans.clone(),
        ));
        tokio::spawn(sync_bans(self.bans));
        tokio::spawn(system::run(self.admin.metrics.clone(), self.sampled));
        tokio::spawn(self.sla.run());
        if let Some((manager, interval)) = self.alerts {
            tokio::spawn(manager.run(interval));
        }
        if let Some((store, signer, retention)) = self.audit_retention {
            tokio::spawn(audit::retention_loop(store, signer, retention));
        }
        if let Some(nudger) = self.nudger {
            tokio::spawn(nudger.run());
        }

        let mut finished = Vec::new();
        for (index, worker) in self.workers.into_iter().enumerate() {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            finished.push(done_rx);
            let (stop, grace) = (stop_rx.clone(), self.grace);
            std::thread::Builder::new()
                .name(format!("rampart-worker-{index}"))
                .spawn(move || {
                    worker.runtime.block_on(worker.listener.run(stop, grace));
                    let _ = done_tx.send(());
                })
                .map_err(StartError::Worker)?;
        }

        let addresses = self.addresses;
        for (name, address) in [
            ("gateway", Some(addresses.gateway)),
            ("admin", Some(addresses.admin)),
            ("http_redirect", addresses.http_redirect),
        ] {
            if let Some(address) = address {
                let tls = name == "gateway" && addresses.tls;
                tracing::info!(event = "listening", listener = name, address = %address, tls, "listening");
            }
        }
        let redirect = async {
            if let Some(redirect) = self.redirect {
                redirect.run(stop_rx.clone(), self.grace).await;
            }
        };
        let workers = async {
            for done in finished {
                let _ = done.await;
            }
        };
        tokio::join!(
            workers,
            self.admin.run(stop_rx.clone(), self.grace),
            redirect
        );
        // Every acknowledged event is durable already; this signs the last checkpoint.
        self.audit.close().await;
        if let Some(trail) = self.trail {
            let _ = tokio::task::spawn_blocking(move || trail.close()).await;
        }
        if let Some(exporter) = self.exporter {
            exporter.close().await;
        }
        tracing::info!(event = "stopped", "all connections closed");
        Ok(())
    }
}

/// Opens the store (and Redis, when configured) and builds what every worker shares: token
/// keys, roles, the key that signs identity headers, rate-limit counters and bans.
async fn shared_state(
    config: &Config,
    metrics: Arc<Metrics>,
) -> Result<(Shared, Option<audit::Retention>, Option<otlp::Exporter>), StartError> {
    let store = Arc::new(Store::open(&config.storage_url()).await?);
    let (audit, audit_retention) =
        audit::open(config, &store, &metrics).map_err(StartError::Audit)?;
    let cluster = Cluster::connect(&config.redis)
        .await
        .map_err(StartError::Redis)?;
    let shared_limiter = cluster
        .clone()
        .map(|cluster| SharedLimiter::new(cluster, metrics.clone()));
    let settings = &config.identity;
    let tokens = TokenService::load(
        store.as_ref(),
        &settings.token_issuer,
        &settings.token_audience,
        settings.access_token_ttl.0,
        unix_now(),
    )
    .await?;
    let lifetimes = Lifetimes {
        session_idle: settings.session_idle_timeout.0,
        session_absolute: settings.session_lifetime.0,
        refresh: settings.refresh_token_lifetime.0,
        max_sessions: settings.max_sessions_per_user,
        limit_action: settings.session_limit_action,
    };
    let lockout = LockoutPolicy {
        max_failures: settings.lockout_max_failures,
        window: settings.lockout_window.0,
        duration: settings.lockout_duration.0,
        max_duration: settings.lockout_max_duration.0,
        ip_max_failures: settings.ip_max_failures,
    };
    let (secret_path, create) = match &settings.header_secret_file {
        Some(path) => (path.clone(), false),
        None => (config.data_dir.join("identity-header.key"), true),
    };
    let header_signer =
        IdentityHeaderSigner::from_file(&secret_path, create).map_err(StartError::Identity)?;
    let rate_limits = config
        .routes
        .iter()
        .map(|route| {
            RouteLimits::new(
                route.label(),
                &route.rate_limit,
                route.message_interval.map(|i| i.0),
                shared_limiter.clone(),
            )
            .map(Arc::new)
        })
        .collect();
    let login_limits =
        RouteLimits::new("_login", &config.rate_limit.login, None, shared_limiter).map(Arc::new);
    let bans = Bans::load(
        config.bans.clone(),
        store.clone(),
        cluster,
        metrics.clone(),
        audit.clone(),
    )
    .await?;
    let trail = audit::request_trail(config, &metrics).map_err(StartError::Audit)?;
    let (tracer, exporter) =
        match otlp::start(&config.otlp, metrics.clone()).map_err(StartError::Otlp)? {
            Some((tracer, exporter)) => (Some(tracer), Some(exporter)),
            None => (None, None),
        };
    let shared = Shared {
        rate_limits: Arc::new(rate_limits),
        login_limits,
        bans: Arc::new(bans),
        identity: Arc::new(IdentityService::new(
            store.clone(),
            tokens,
            lifetimes,
            lockout,
        )),
        roles: Arc::new(Roles::build(&config.roles).map_err(StartError::Identity)?),
        header_signer: Arc::new(header_signer),
        attack_filter: Arc::new(AttackFilter::new()),
        metrics,
        audit,
        store,
        upstream_health: Arc::new(SharedHealth::new(&config.upstreams)),
        trail,
        tracer,
    };
    Ok((shared, audit_retention, exporter))
}

/// The alert evaluator of `[alerts]`, or `None` when alerting is off.
fn alert_manager(
    config: &Config,
    shared: &Shared,
) -> Result<Option<(AlertManager, Duration)>, StartError> {
    if !config.alerts.enabled {
        return Ok(None);
    }
    let rules = config
        .alerts
        .rules(config.sla.latency_p95.0)
        .map_err(|err| StartError::Alerts(err.to_string()))?;
    let channels = config.alerts.channels().map_err(StartError::Alerts)?;
    let manager = AlertManager::new(
        rules,
        channels,
        shared.store.clone(),
        shared.metrics.clone(),
    );
    Ok(Some((manager, config.alerts.evaluation_interval.0)))
}

/// Picks up bans made by other instances and by `rampart ban`, and drops ended ones.
async fn sync_bans(bans: Arc<Bans>) {
    let mut every = tokio::time::interval(bans.sync_interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(err) = bans.sync().await {
            tracing::warn!(error = %err, "reading bans from the store failed; keeping the last known set");
        }
    }
}

/// The inactivity nudger, when `[identity] nudge_after` and `nudge_webhook` are set (validated).
fn nudger(config: &Config, identity: &Arc<IdentityService>) -> Option<Nudger> {
    let settings = &config.identity;
    let (after, url) = (settings.nudge_after?, settings.nudge_webhook.as_ref()?);
    let webhook = url.parse().ok()?;
    Some(Nudger::new(
        identity.clone(),
        webhook,
        after.0,
        settings.session_idle_timeout.0,
    ))
}

/// Housekeeping: every minute, picks up rotated signing keys (also on SIGHUP, see `run`) and
/// counts active sessions; every ten minutes, forgets old login attempts.
async fn maintenance(
    identity: Arc<IdentityService>,
    metrics: Arc<Metrics>,
    rate_limits: Vec<Arc<RouteLimits>>,
    bans: Arc<Bans>,
) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    let mut ticks: u64 = 0;
    loop {
        every_minute.tick().await;
        ticks += 1;
        if let Err(err) = identity.reload_keys(unix_now()).await {
            tracing::warn!(error = %err, "reloading signing keys failed");
        }
        for limits in &rate_limits {
            limits.forget_idle();
        }
        bans.housekeeping().await;
        match identity.count_active_sessions(unix_now()).await {
            Ok(count) => metrics.set_active_sessions(count),
            Err(err) => tracing::warn!(error = %err, "counting sessions failed"),
        }
        if ticks.is_multiple_of(10)
            && let Err(err) = regulator::prune(identity.store(), unix_now()).await
        {
            tracing::warn!(error = %err, "pruning login attempts failed");
        }
    }
}

/// The certificate to serve: the configured one, a self-signed one in development, or none
/// for an explicitly plaintext listener.
fn tls_files(
    config: &Config,
) -> Result<Option<(std::path::PathBuf, std::path::PathBuf, Duration)>, StartError> {
    if let Some(tls) = &config.listen.tls {
        return Ok(Some((
            tls.cert.clone(),
            tls.key.clone(),
            tls.reload_interval.0,
        )));
    }
    if config.listen.plaintext {
        return Ok(None);
    }
    if config.mode == Mode::Production {
        return Err(StartError::Tls(
            "production mode needs [listen.tls] cert and key".into(),
        ));
    }
    let dir = config.data_dir.join("tls");
    let (cert, key) = tls::self_signed(&dir).map_err(|err| {
        StartError::Tls(format!(
            "cannot create a self-signed certificate in {}: {err}",
            dir.display()
        ))
    })?;
    eprintln!(
        "WARNING: development mode without [listen.tls]: serving the SELF-SIGNED certificate {}. \
         Browsers will warn. Never use this in production.",
        cert.display()
    );
    tracing::warn!(event = "self_signed_certificate", cert = %cert.display(), "serving a self-signed certificate (development mode)");
    Ok(Some((cert, key, Duration::from_secs(5))))
}

/// A listening socket with `SO_REUSEPORT`, so each worker can own one and the kernel spreads
/// new connections across them. Returned as a std socket to move into the worker's runtime.
fn bind_shared(address: SocketAddr) -> Result<std::net::TcpListener, StartError> {
    let attempt = || -> std::io::Result<std::net::TcpListener> {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(address)?;
        socket.listen(1024)?.into_std()
    };
    attempt().map_err(|source| StartError::Bind {
        listener: "gateway",
        address,
        source,
    })
}

async fn bind(listener: &'static str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            listener,
            address,
            source,
        })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound listener has an address")
}

impl listener::Handler for Gateway {
    type Body = crate::observability::access_log::ObservedBody;

    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        conn: &crate::pipeline::ConnectionInfo,
    ) -> impl std::future::Future<Output = http::Response<Self::Body>> + Send {
        Gateway::handle(self, request, conn)
    }
}
