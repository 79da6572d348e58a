//! The admin listener: `/metrics` for Prometheus, `/healthz` (the process is alive) and
//! `/readyz` (config loaded and every upstream pool has a reachable target). Keep it on a
//! private address: it is not authenticated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpStream;

use super::listener::Handler;
use crate::body::{ResponseBody, json_response};
use crate::error::envelope;
use crate::observability::metrics::Metrics;
use crate::pipeline::ConnectionInfo;
use crate::pipeline::request_id::{self, X_REQUEST_ID};
use crate::upstream::UpstreamPool;

/// How long `/readyz` waits for each upstream target to accept a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub pools: Vec<Arc<UpstreamPool>>,
}

impl Handler for Admin {
    type Body = ResponseBody;

    async fn handle(
        &self,
        request: Request<Incoming>,
        _conn: &ConnectionInfo,
    ) -> Response<ResponseBody> {
        let id = request_id::generate();
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET",
                &id,
            );
        }
        let mut response = match request.uri().path() {
            "/metrics" => text(
                self.metrics.encode(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            "/healthz" => json_response(StatusCode::OK, json!({"status": "ok"})),
            "/readyz" => self.readiness().await,
            _ => {
                return envelope(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "try /metrics, /healthz or /readyz",
                    &id,
                );
            }
        };
        response.headers_mut().insert(X_REQUEST_ID, id);
        response
    }
}

impl Admin {
    async fn readiness(&self) -> Response<ResponseBody> {
        let mut probes = tokio::task::JoinSet::new();
        for pool in &self.pools {
            for target in pool.targets() {
                let (name, address) = (pool.name.clone(), target.authority.to_string());
                probes.spawn(async move {
                    let connect = tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(address));
                    (name, matches!(connect.await, Ok(Ok(_))))
                });
            }
        }
        let mut reachable: BTreeMap<String, (usize, usize)> = self
            .pools
            .iter()
            .map(|pool| (pool.name.clone(), (0, 0)))
            .collect();
        while let Some(Ok((name, ok))) = probes.join_next().await {
            let counts = reachable.entry(name).or_default();
            counts.0 += usize::from(ok);
            counts.1 += 1;
        }
        let ready = reachable.values().all(|(up, _)| *up > 0);
        let upstreams: serde_json::Map<String, serde_json::Value> = reachable
            .into_iter()
            .map(|(name, (up, total))| (name, json!({"reachable": up, "targets": total})))
            .collect();
        let (status, word) = if ready {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
        };
        json_response(
            status,
            json!({"status": word, "config": "loaded", "upstreams": upstreams}),
        )
    }
}

fn text(body: String, content_type: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
