//! Starting and stopping the gateway: binding the listeners, certificates, signals (SIGTERM and
//! SIGINT drain and stop, SIGHUP reloads certificates) and the graceful drain.

pub mod admin;
pub mod listener;
mod redirect;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

use self::admin::Admin;
use self::listener::{ConnectionLimits, Listener};
use self::redirect::HttpsRedirect;
use self::tls::{CertReloader, CertResolver};
use crate::config::{Config, Mode};
use crate::observability::metrics::Metrics;
use crate::pipeline::Gateway;

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

/// A gateway with its listeners bound, not yet serving.
pub struct Server {
    gateway: Listener<Gateway>,
    admin: Listener<Admin>,
    redirect: Option<Listener<HttpsRedirect>>,
    reloader: Option<CertReloader>,
    grace: Duration,
    addresses: BoundAddresses,
}

impl Server {
    /// Builds the pipeline and binds every listener; fails fast, before serving anything.
    pub async fn bind(config: &Config) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::new());
        let gateway =
            Arc::new(Gateway::new(config, metrics.clone()).map_err(StartError::Pipeline)?);
        let listen = &config.listen;
        let limits = ConnectionLimits {
            max_connections: listen.max_connections,
            header_read_timeout: listen.header_read_timeout.0,
            idle_timeout: listen.idle_timeout.0,
            max_header_bytes: usize::try_from(listen.max_header_bytes.0).unwrap_or(usize::MAX),
            max_headers: listen.max_headers,
        };

        let (acceptor, reloader) = match tls_files(config)? {
            Some((cert, key, reload_interval)) => {
                let key_pair = tls::load_certified_key(&cert, &key).map_err(StartError::Tls)?;
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
                };
                (Some(acceptor), Some(reloader))
            }
            None => (None, None),
        };

        let gateway_tcp = bind("gateway", listen.address).await?;
        let admin_tcp = bind("admin", config.admin.address).await?;
        let redirect_tcp = match listen.http_redirect {
            Some(address) => Some(bind("http_redirect", address).await?),
            None => None,
        };
        let addresses = BoundAddresses {
            gateway: local_addr(&gateway_tcp),
            admin: local_addr(&admin_tcp),
            http_redirect: redirect_tcp.as_ref().map(local_addr),
            tls: acceptor.is_some(),
        };
        let small_limits = ConnectionLimits {
            max_connections: 256,
            ..limits.clone()
        };
        Ok(Self {
            admin: Listener {
                name: "admin",
                tcp: admin_tcp,
                tls: None,
                handler: Arc::new(Admin {
                    metrics: metrics.clone(),
                    pools: gateway.pools().to_vec(),
                }),
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
                limits: small_limits,
                metrics: metrics.clone(),
            }),
            gateway: Listener {
                name: "gateway",
                tcp: gateway_tcp,
                tls: acceptor,
                handler: gateway,
                limits,
                metrics,
            },
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
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = terminate.recv() => break,
                    _ = interrupt.recv() => break,
                    _ = hangup.recv() => {
                        tracing::info!(event = "sighup", "reloading certificates");
                        reload_on_hup.notify_one();
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
        for (name, address) in [
            ("gateway", Some(self.addresses.gateway)),
            ("admin", Some(self.addresses.admin)),
            ("http_redirect", self.addresses.http_redirect),
        ] {
            if let Some(address) = address {
                let tls = name == "gateway" && self.addresses.tls;
                tracing::info!(event = "listening", listener = name, address = %address, tls, "listening");
            }
        }
        let redirect = async {
            if let Some(redirect) = self.redirect {
                redirect.run(stop_rx.clone(), self.grace).await;
            }
        };
        tokio::join!(
            self.gateway.run(stop_rx.clone(), self.grace),
            self.admin.run(stop_rx.clone(), self.grace),
            redirect,
        );
        tracing::info!(event = "stopped", "all connections closed");
        Ok(())
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
