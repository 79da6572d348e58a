//! Forwarding a request to an upstream pool: target choice with failover on refused
//! connections, keep-alive reuse, timeouts, WebSocket tunnels, and upstream failures classified
//! into the statuses clients should see (502 unreachable or broken, 504 too slow, 408/413 the
//! client's fault).

mod client_body;
mod pool;
mod response_body;

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use self::client_body::{ClientBodyError, LimitedBody};
pub use self::client_body::{RequestBody, discard_refused};
use self::pool::Sender;
pub use self::pool::{SharedHealth, TargetState, UpstreamPool};
pub use self::response_body::UpstreamResponse;
use crate::error::GatewayError;
use crate::observability::metrics::{Metrics, UpstreamErrorKind};
use crate::pipeline::forwarding::is_upgrade;

/// Limits applied to the client's request body while it streams to the upstream.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: u64,
    pub pause_limit: Duration,
}

/// A successful exchange: the upstream's response and the target that gave it.
pub struct Answer<'a> {
    pub response: Response<UpstreamResponse>,
    pub target: &'a TargetState,
}

/// How one attempt on one target ended.
enum Attempt {
    Answered(Response<Incoming>, Sender),
    /// No connection could be made; the request was not sent and can go elsewhere.
    Refused(Request<LimitedBody>),
    Failed(hyper::Error),
    TimedOut,
}

/// Sends `request` (headers already rewritten for the upstream) to the first target of `pool`
/// that accepts a connection.
pub async fn forward<'a>(
    pool: &'a Arc<UpstreamPool>,
    mut request: Request<RequestBody>,
    limits: BodyLimits,
    response_timeout: Duration,
    metrics: &Metrics,
    request_id: &HeaderValue,
) -> Result<Answer<'a>, GatewayError> {
    let client_upgrade: Option<OnUpgrade> =
        is_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (mut parts, incoming) = request.into_parts();
    parts.version = Version::HTTP_11;
    // HTTP/1.1 upstreams get the origin form (`/path?query`); HTTP/2 clients send absolute URIs.
    if parts.uri.scheme().is_some() {
        parts.uri = Uri::from(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
    }
    let mut request = Request::from_parts(
        parts,
        LimitedBody::new(incoming, limits.max_bytes, limits.pause_limit),
    );

    let log_id = request_id.to_str().unwrap_or_default();
    for (tried, (index, target)) in pool.candidates().enumerate() {
        if tried > 0 {
            pool.metrics.retry();
        }
        let started = std::time::Instant::now();
        match attempt(pool, target, request, response_timeout, log_id).await {
            Attempt::Answered(mut response, sender) => {
                pool.metrics
                    .response(response.status().as_u16(), started.elapsed().as_secs_f64());
                let reuse = if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(client_side) = client_upgrade {
                        metrics.websocket_upgraded(&pool.name);
                        let upstream_side = hyper::upgrade::on(&mut response);
                        tokio::spawn(tunnel(client_side, upstream_side));
                    }
                    // The connection now belongs to the tunnel.
                    None
                } else {
                    Some((pool.clone(), index, sender))
                };
                let response = response.map(|body| UpstreamResponse::new(body, reuse));
                return Ok(Answer { response, target });
            }
            Attempt::Refused(unsent) => {
                pool.mark_down(target);
                metrics.upstream_error(&pool.name, UpstreamErrorKind::Connect);
                request = unsent;
            }
            Attempt::TimedOut => {
                metrics.upstream_error(&pool.name, UpstreamErrorKind::Timeout);
                tracing::warn!(request_id = log_id, upstream = %pool.name, target = %target.target, "upstream did not answer in time");
                return Err(GatewayError::UpstreamTimeout);
            }
            Attempt::Failed(err) => return Err(classify(&err, pool, limits, metrics, log_id)),
        }
    }
    Err(GatewayError::UpstreamUnavailable)
}

/// Reads the whole client body, for checks that must see it before it goes upstream; the
/// same limits apply as when it streams.
pub async fn read_body(
    body: RequestBody,
    limits: BodyLimits,
) -> Result<bytes::Bytes, GatewayError> {
    use http_body_util::BodyExt;

    let body = LimitedBody::new(body, limits.max_bytes, limits.pause_limit);
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(refusal(&err, limits)),
    }
}

/// Reads the start of a streaming body, within the same limits, up to its first byte that is
/// not whitespace; the body still holds all of it.
pub async fn peek_first_byte(
    body: &mut RequestBody,
    limits: BodyLimits,
) -> Result<Option<u8>, GatewayError> {
    body.peek_first_byte(limits.max_bytes, limits.pause_limit)
        .await
        .map_err(|err| refusal(&err, limits))
}

/// What the client sees when its body broke a limit or could not be read.
fn refusal(err: &ClientBodyError, limits: BodyLimits) -> GatewayError {
    match err {
        ClientBodyError::TooLarge => GatewayError::BodyTooLarge {
            limit: limits.max_bytes,
        },
        ClientBodyError::Timeout => GatewayError::RequestTimeout,
        ClientBodyError::Client(_) => {
            GatewayError::BadRequest("the request body could not be read")
        }
    }
}

/// One target: a pooled connection if one is ready, else a new one. A pooled connection that
/// closed while idle hands the unsent request back, and a fresh connection is tried once.
async fn attempt(
    pool: &UpstreamPool,
    target: &TargetState,
    mut request: Request<LimitedBody>,
    response_timeout: Duration,
    request_id: &str,
) -> Attempt {
    let mut pooled = pool.checkout(target);
    loop {
        let fresh = pooled.is_none();
        let mut sender = match pooled.take() {
            Some(sender) => sender,
            None => match pool.connect(target).await {
                Ok(sender) => sender,
                Err(err) => {
                    tracing::warn!(request_id, upstream = %pool.name, target = %target.target, error = %err, "upstream target refused the connection");
                    return Attempt::Refused(request);
                }
            },
        };
        match tokio::time::timeout(response_timeout, sender.try_send_request(request)).await {
            Err(_elapsed) => return Attempt::TimedOut,
            Ok(Ok(response)) => return Attempt::Answered(response, sender),
            Ok(Err(mut err)) => match err.take_message() {
                Some(unsent) if !fresh => request = unsent,
                Some(unsent) => return Attempt::Refused(unsent),
                None => return Attempt::Failed(err.into_error()),
            },
        }
    }
}

/// Refuses a body declared longer than `limits` allow before a byte of it is read, so a client
/// waiting for `100 Continue` is told not to send it.
pub fn check_declared_length<B>(
    request: &Request<B>,
    limits: BodyLimits,
) -> Result<(), GatewayError> {
    match declared_length(request) {
        Some(length) if length > limits.max_bytes => Err(GatewayError::BodyTooLarge {
            limit: limits.max_bytes,
        }),
        _ => Ok(()),
    }
}

fn declared_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Maps a failed exchange to what the client should see, blaming the right side.
fn classify(
    err: &hyper::Error,
    pool: &UpstreamPool,
    limits: BodyLimits,
    metrics: &Metrics,
    request_id: &str,
) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(body_error) = cause.downcast_ref::<ClientBodyError>() {
            return refusal(body_error, limits);
        }
        source = cause.source();
    }
    metrics.upstream_error(&pool.name, UpstreamErrorKind::Protocol);
    tracing::warn!(request_id, upstream = %pool.name, error = %error_chain(err), "upstream exchange failed");
    GatewayError::UpstreamProtocol
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Copies bytes both ways between an upgraded client connection and the upstream's.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    match tokio::try_join!(client, upstream) {
        Ok((client, upstream)) => {
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(error = %err, "upgraded connection closed with an error");
            }
        }
        Err(err) => tracing::warn!(error = %err, "protocol upgrade failed"),
    }
}
