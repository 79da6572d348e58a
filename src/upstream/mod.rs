//! Forwarding a request to an upstream pool: target choice with failover on refused
//! connections, timeouts, WebSocket tunnels, and upstream failures classified into the statuses
//! clients should see (502 unreachable or broken, 504 too slow, 408/413 the client's fault).

mod pool;
mod request_body;

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body, Incoming};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

pub use pool::{TargetState, UpstreamPool};
use request_body::{ClientBodyError, LimitedBody, ReclaimHandle, UpstreamBody};

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
pub struct Forwarded<'a> {
    pub response: Response<Incoming>,
    pub target: &'a TargetState,
}

/// Sends `request` (headers already rewritten for the upstream) to the first target of `pool`
/// that accepts a connection.
pub async fn forward<'a>(
    pool: &'a UpstreamPool,
    mut request: Request<Incoming>,
    limits: BodyLimits,
    response_timeout: Duration,
    metrics: &Metrics,
    request_id: &HeaderValue,
) -> Result<Forwarded<'a>, GatewayError> {
    if declared_length(&request).is_some_and(|len| len > limits.max_bytes) {
        return Err(GatewayError::BodyTooLarge {
            limit: limits.max_bytes,
        });
    }
    let client_upgrade: Option<OnUpgrade> =
        is_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (mut parts, incoming) = request.into_parts();
    parts.version = Version::HTTP_11;
    let path_and_query = parts.uri.path_and_query().cloned();

    // The head is needed again only if a refused connection sends us to another target.
    let spare_head = pool
        .has_alternatives()
        .then(|| (parts.method.clone(), parts.headers.clone()));
    let mut head = Some(parts);
    let (mut body, mut reclaim) = if incoming.is_end_stream() {
        (Some(UpstreamBody::Empty), None)
    } else {
        let limited = LimitedBody::new(incoming, limits.max_bytes, limits.pause_limit);
        let (body, handle) = UpstreamBody::reclaimable(limited);
        (Some(body), Some(handle))
    };

    for target in pool.candidates() {
        let (Some(mut parts), Some(upstream_body)) = (
            head.take().or_else(|| rebuild_head(spare_head.as_ref())),
            body.take(),
        ) else {
            break;
        };
        parts.uri = target_uri(target, path_and_query.as_ref());
        let attempt = pool
            .client
            .request(Request::from_parts(parts, upstream_body));
        match tokio::time::timeout(response_timeout, attempt).await {
            Err(_elapsed) => {
                metrics.upstream_error(&pool.name, UpstreamErrorKind::Timeout);
                tracing::warn!(request_id = request_id.to_str().unwrap_or_default(), upstream = %pool.name, target = %target.target, "upstream did not answer in time");
                return Err(GatewayError::UpstreamTimeout);
            }
            Ok(Ok(mut response)) => {
                if response.status() == StatusCode::SWITCHING_PROTOCOLS
                    && let Some(client_side) = client_upgrade
                {
                    let upstream_side = hyper::upgrade::on(&mut response);
                    tokio::spawn(tunnel(client_side, upstream_side));
                }
                return Ok(Forwarded { response, target });
            }
            Ok(Err(err)) if err.is_connect() => {
                pool.mark_down(target);
                metrics.upstream_error(&pool.name, UpstreamErrorKind::Connect);
                tracing::warn!(request_id = request_id.to_str().unwrap_or_default(), upstream = %pool.name, target = %target.target, error = %error_chain(&err), "upstream target refused the connection");
                (body, reclaim) = take_back(reclaim.take());
            }
            Ok(Err(err)) => return Err(classify(&err, pool, limits, metrics, request_id)),
        }
    }
    Err(GatewayError::UpstreamUnavailable)
}

/// The body again for the next target, or `None` if it was already (partly) sent.
fn take_back(reclaim: Option<ReclaimHandle>) -> (Option<UpstreamBody>, Option<ReclaimHandle>) {
    match reclaim {
        None => (Some(UpstreamBody::Empty), None),
        Some(handle) => match handle.reclaim() {
            Some(limited) => {
                let (body, handle) = UpstreamBody::reclaimable(limited);
                (Some(body), Some(handle))
            }
            None => (None, None),
        },
    }
}

fn rebuild_head(spare: Option<&(http::Method, http::HeaderMap)>) -> Option<http::request::Parts> {
    let (method, headers) = spare?;
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method.clone();
    parts.headers = headers.clone();
    parts.version = Version::HTTP_11;
    Some(parts)
}

fn target_uri(target: &TargetState, path_and_query: Option<&http::uri::PathAndQuery>) -> Uri {
    let mut uri = Uri::builder()
        .scheme(target.target.scheme.clone())
        .authority(target.target.authority.clone());
    uri = match path_and_query {
        Some(pq) => uri.path_and_query(pq.clone()),
        None => uri.path_and_query("/"),
    };
    uri.build()
        .expect("scheme, authority and path were valid on their own")
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
    err: &hyper_util::client::legacy::Error,
    pool: &UpstreamPool,
    limits: BodyLimits,
    metrics: &Metrics,
    request_id: &HeaderValue,
) -> GatewayError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(body_error) = cause.downcast_ref::<ClientBodyError>() {
            return match body_error {
                ClientBodyError::TooLarge => GatewayError::BodyTooLarge {
                    limit: limits.max_bytes,
                },
                ClientBodyError::Timeout => GatewayError::RequestTimeout,
                ClientBodyError::Client(_) => {
                    GatewayError::BadRequest("the request body could not be read")
                }
            };
        }
        source = cause.source();
    }
    metrics.upstream_error(&pool.name, UpstreamErrorKind::Protocol);
    tracing::warn!(request_id = request_id.to_str().unwrap_or_default(), upstream = %pool.name, error = %error_chain(err), "upstream exchange failed");
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
