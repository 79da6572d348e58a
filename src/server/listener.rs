//! Accepting and serving client connections: the connection cap, TLS handshakes with a
//! deadline, HTTP/1.1 and HTTP/2 with the header limits, idle connections closed, and a
//! graceful drain when the process is asked to stop.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::body::BoxError;
use crate::observability::metrics::Metrics;
use crate::pipeline::ConnectionInfo;

/// Something that answers requests on a listener.
pub trait Handler: Send + Sync + 'static {
    type Body: Body<Data = bytes::Bytes, Error = BoxError> + Send + 'static;
    fn handle(
        &self,
        request: Request<Incoming>,
        conn: &ConnectionInfo,
    ) -> impl Future<Output = Response<Self::Body>> + Send;
}

/// Limits for one listener's connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

/// A bound listener with its handler, ready to run.
pub struct Listener<H> {
    pub name: &'static str,
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub handler: Arc<H>,
    pub limits: ConnectionLimits,
    /// Connection slots, shared by every listener serving the same address.
    pub slots: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
}

impl<H: Handler> Listener<H> {
    /// Accepts until `shutdown` turns true, then waits up to `grace` for this listener's open
    /// connections to finish their requests.
    ///
    /// A connection is accepted first and then waits for a slot: with several listeners on one
    /// port, a listener must not hold a free slot while the waiting client sits in another
    /// listener's queue. At most one accepted connection per listener waits this way.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let connections = TaskTracker::new();
        let builder = Arc::new(http_builder(&self.limits));
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(listener = self.name, error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            let permit = tokio::select! {
                permit = self.slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            let _ = stream.set_nodelay(true);
            let conn = ConnectionInfo {
                peer,
                tls: self.tls.is_some(),
            };
            let task = ConnectionTask {
                name: self.name,
                tls: self.tls.clone(),
                handler: self.handler.clone(),
                builder: builder.clone(),
                limits: self.limits.clone(),
                metrics: self.metrics.clone(),
                shutdown: shutdown.clone(),
            };
            connections.spawn(async move {
                task.run(stream, conn).await;
                drop(permit);
            });
        }
        drop(self.tcp);
        connections.close();
        if tokio::time::timeout(grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                listener = self.name,
                "grace period over; closing remaining connections"
            );
        }
    }
}

fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let mut http1 = builder.http1();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    // hyper keeps up to 100 headers on the stack; a different limit moves them to the heap.
    if limits.max_headers != 100 {
        http1.max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

struct ConnectionTask<H> {
    name: &'static str,
    tls: Option<TlsAcceptor>,
    handler: Arc<H>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

impl<H: Handler> ConnectionTask<H> {
    async fn run(self, stream: TcpStream, conn: ConnectionInfo) {
        let _gauge = self.metrics.connection_opened(self.name);
        let activity = Arc::new(AtomicU64::new(0));
        let stream = CountingIo {
            inner: stream,
            activity: activity.clone(),
        };
        match &self.tls {
            None => self.serve(stream, conn, activity).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream))
                        .await;
                match handshake {
                    Ok(Ok(tls_stream)) => {
                        self.metrics
                            .tls_handshake(true, tls_stream.get_ref().1.protocol_version());
                        self.serve(tls_stream, conn, activity).await;
                    }
                    Ok(Err(err)) => {
                        self.metrics.tls_handshake(false, None);
                        tracing::debug!(listener = self.name, peer = %conn.peer, error = %err, "TLS handshake failed");
                    }
                    Err(_) => {
                        self.metrics.tls_handshake(false, None);
                        tracing::debug!(listener = self.name, peer = %conn.peer, "TLS handshake timed out");
                    }
                }
            }
        }
    }

    async fn serve<I>(mut self, io: I, conn: ConnectionInfo, activity: Arc<AtomicU64>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let handler = self.handler.clone();
        let conn = Arc::new(conn);
        let service = service_fn(move |request| {
            let handler = handler.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(handler.handle(request, &conn).await) }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);

        // The idle check looks twice per idle period; two quiet looks in a row close the
        // connection, so it lives between 1 and 1.5 idle periods without traffic.
        let mut idle_check = tokio::time::interval(self.limits.idle_timeout / 2);
        idle_check.reset();
        let mut last_seen = activity.load(Ordering::Relaxed);
        let mut quiet_checks = 0;
        let mut draining = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(listener = self.name, error = %err, "connection ended with an error");
                    }
                    return;
                }
                _ = self.shutdown.wait_for(|stop| *stop), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
                _ = idle_check.tick(), if !draining => {
                    let seen = activity.load(Ordering::Relaxed);
                    quiet_checks = if seen == last_seen { quiet_checks + 1 } else { 0 };
                    last_seen = seen;
                    if quiet_checks >= 2 {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// A stream that counts its successful reads and writes, so the idle check can tell a quiet
/// connection from a busy one without a clock read per I/O.
struct CountingIo<S> {
    inner: S,
    activity: Arc<AtomicU64>,
}

impl<S> CountingIo<S> {
    fn touch<T>(&self, poll: &Poll<io::Result<T>>) {
        if let Poll::Ready(Ok(_)) = poll {
            self.activity.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.touch(&poll);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.touch(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.touch(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
