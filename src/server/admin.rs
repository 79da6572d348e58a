//! The admin listener: `/metrics` for Prometheus, `/healthz` (the process is alive) and
//! `/readyz` (config loaded and every upstream pool has a reachable target). Keep it on a
//! private address: it is not authenticated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use super::listener::Handler;
use crate::body::{ResponseBody, json_response};
use crate::error::envelope;
use crate::observability::metrics::Metrics;
use crate::observability::system::disk_space;
use crate::pipeline::ConnectionInfo;
use crate::pipeline::request_id::{self, X_REQUEST_ID};
use crate::store::{AlertStore, AuditStore, Store, unix_now};
use crate::upstream::UpstreamPool;

/// How long `/readyz` waits for each upstream target to accept a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub pools: Vec<Arc<UpstreamPool>>,
    pub store: Arc<Store>,
    pub data_dir: PathBuf,
    pub started: Instant,
}

/// Free space below which `/status` reports the disk as a problem.
const LOW_DISK_RATIO: f64 = 0.1;

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
            "/status" => self.status().await,
            _ => {
                return envelope(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "try /metrics, /healthz, /readyz or /status",
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

impl Admin {
    /// The whole picture for a status page or an on-call glance: `ok`, `degraded` (something
    /// needs attention) or `down` (requests fail: the store is unreachable, an upstream has
    /// no live target, or a critical alert fires), with each check and the alerts open.
    async fn status(&self) -> Response<ResponseBody> {
        let upstreams: Vec<Value> = self
            .pools
            .iter()
            .map(|pool| {
                let (up, total) = pool.targets_up();
                json!({"name": pool.name, "targets_up": up, "targets": total, "ok": up > 0})
            })
            .collect();
        let some_target_down = self.pools.iter().any(|p| {
            let (up, total) = p.targets_up();
            up < total
        });
        let upstream_down = self.pools.iter().any(|p| p.targets_up().0 == 0);
        let store_ok = self.store.audit_head().await.is_ok();
        let disk = disk_space(&self.data_dir).map(|(free, total)| {
            let ratio = if total > 0 {
                free as f64 / total as f64
            } else {
                0.0
            };
            json!({"free_bytes": free, "size_bytes": total, "ok": ratio >= LOW_DISK_RATIO})
        });
        let disk_ok = disk
            .as_ref()
            .is_none_or(|d| d["ok"].as_bool().unwrap_or(true));
        let open = self.store.open_alerts().await.unwrap_or_default();
        let day_ago = unix_now().saturating_sub(86_400).saturating_mul(1000);
        let last_day = self.store.alerts_fired_since(day_ago).await.ok();
        let critical = open.iter().any(|a| a.severity == "critical");
        let status = if !store_ok || upstream_down || critical {
            "down"
        } else if !open.is_empty() || some_target_down || !disk_ok {
            "degraded"
        } else {
            "ok"
        };
        let firing: Vec<Value> = open
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "rule": a.rule,
                    "severity": a.severity,
                    "summary": a.summary,
                    "labels": serde_json::from_str::<Value>(&a.labels).unwrap_or(Value::Null),
                    "acknowledged_by": a.acknowledged_by,
                })
            })
            .collect();
        let code = if status == "down" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        json_response(
            code,
            json!({
                "status": status,
                "build": {"version": env!("CARGO_PKG_VERSION")},
                "uptime_seconds": self.started.elapsed().as_secs(),
                "checks": {
                    "store": {"ok": store_ok},
                    "upstreams": upstreams,
                    "disk": disk,
                },
                "alerts": {"firing": firing, "fired_last_24h": last_day},
            }),
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
