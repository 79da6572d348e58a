//! The SLA report: every minute each instance stores what its requests did per route (the
//! increase of the request counters and of the request-time histogram since the minute
//! before) and one health sample; `rampart sla report --window 30d` adds them up into uptime,
//! success ratio and p50/p95/p99 per route, and compares them with the configured objectives.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::metrics::{Metrics, request_duration_buckets};
use crate::alerting::eval::{Snapshot, quantile_of};
use crate::config::HumanDuration;
use crate::store::{AuditStore, RouteMinute, SlaStore, Store, StoreError};
use crate::upstream::UpstreamPool;

/// `[sla]`: the objectives the report compares with, and how statistics are kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SlaConfig {
    /// Percent of health samples (store reachable, every upstream with a live target).
    pub availability: f64,
    /// Percent of requests answered without a 5xx.
    pub success_ratio: f64,
    /// The 95th percentile of request time, over all routes.
    pub latency_p95: HumanDuration,
    /// How often statistics and health are recorded.
    pub sample_interval: HumanDuration,
    /// How long they are kept.
    pub retention: HumanDuration,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            availability: 99.9,
            success_ratio: 99.5,
            latency_p95: HumanDuration(Duration::from_millis(500)),
            sample_interval: HumanDuration::secs(60),
            retention: HumanDuration::secs(400 * 86_400),
        }
    }
}

/// Records each interval's request statistics and health.
pub struct SlaRecorder {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub pools: Vec<Arc<UpstreamPool>>,
    pub config: SlaConfig,
    previous: Option<Snapshot>,
}

impl SlaRecorder {
    pub fn new(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        pools: Vec<Arc<UpstreamPool>>,
        config: SlaConfig,
    ) -> Self {
        Self {
            store,
            metrics,
            pools,
            config,
            previous: None,
        }
    }

    pub async fn run(mut self) {
        let mut every = tokio::time::interval(self.config.sample_interval.0);
        loop {
            every.tick().await;
            let now_ms = crate::store::unix_now_ms();
            let healthy = self.store.audit_head().await.is_ok()
                && self.pools.iter().all(|pool| pool.targets_up().0 > 0);
            let scrape = self.metrics.encode();
            if let Err(err) = self.record(now_ms, &scrape, healthy).await {
                tracing::warn!(error = %err, "recording SLA statistics failed");
            }
        }
    }

    /// Stores what happened since the last call, per route, and one health sample.
    pub async fn record(
        &mut self,
        now_ms: i64,
        scrape: &str,
        healthy: bool,
    ) -> Result<(), StoreError> {
        let snapshot = Snapshot::parse(now_ms as f64 / 1000.0, scrape);
        if let Some(previous) = &self.previous {
            for minute in route_minutes(previous, &snapshot, now_ms) {
                self.store.add_route_minute(&minute).await?;
            }
        }
        self.previous = Some(snapshot);
        self.store.add_health_sample(now_ms, healthy).await?;
        let retention = i64::try_from(self.config.retention.0.as_millis()).unwrap_or(i64::MAX);
        self.store.prune_sla(now_ms.saturating_sub(retention)).await
    }
}

/// Per route: requests, 5xx answers and histogram buckets between two scrapes.
fn route_minutes(before: &Snapshot, now: &Snapshot, minute_ms: i64) -> Vec<RouteMinute> {
    // route → (requests, errors, le → count)
    type Totals = (f64, f64, BTreeMap<String, f64>);
    let totals = |snapshot: &Snapshot| {
        let mut by_route: BTreeMap<String, Totals> = BTreeMap::new();
        for (labels, value) in snapshot.samples("rampart_http_requests_total") {
            let Some(route) = labels.get("route") else {
                continue;
            };
            let entry = by_route.entry(route.clone()).or_default();
            entry.0 += value;
            if labels.get("status").map(String::as_str) == Some("5xx") {
                entry.1 += value;
            }
        }
        for (labels, value) in snapshot.samples("rampart_http_request_duration_seconds_bucket") {
            let (Some(route), Some(le)) = (labels.get("route"), labels.get("le")) else {
                continue;
            };
            let entry = by_route.entry(route.clone()).or_default();
            *entry.2.entry(le.clone()).or_default() += value;
        }
        by_route
    };
    let (then, now) = (totals(before), totals(now));
    // A counter lower than before was reset by a restart: all of it is new.
    let increase = |now: f64, then: f64| if now >= then { now - then } else { now };
    let bounds: Vec<String> = request_duration_buckets()
        .map(|b| b.to_string())
        .chain(std::iter::once("+Inf".to_owned()))
        .collect();
    now.into_iter()
        .filter_map(|(route, (requests, errors, buckets))| {
            let (then_requests, then_errors, then_buckets) =
                then.get(&route).cloned().unwrap_or_default();
            let requests = increase(requests, then_requests);
            if requests <= 0.0 {
                return None;
            }
            let buckets = bounds
                .iter()
                .map(|le| {
                    let now = buckets.get(le).copied().unwrap_or(0.0);
                    let then = then_buckets.get(le).copied().unwrap_or(0.0);
                    increase(now, then) as i64
                })
                .collect();
            Some(RouteMinute {
                minute_ms,
                route,
                requests: requests as i64,
                errors: increase(errors, then_errors) as i64,
                buckets,
            })
        })
        .collect()
}

/// One route's (or all routes') figures over the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteSla {
    pub route: String,
    pub requests: i64,
    /// Percent answered without a 5xx.
    pub success_ratio: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlaReport {
    pub window_seconds: u64,
    /// Percent of expected health samples that were healthy; `None` before the first one.
    pub uptime: Option<f64>,
    pub overall: RouteSla,
    pub routes: Vec<RouteSla>,
    pub objectives: Objectives,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Objectives {
    pub availability: f64,
    pub availability_met: Option<bool>,
    pub success_ratio: f64,
    pub success_ratio_met: bool,
    pub latency_p95_ms: f64,
    pub latency_p95_met: bool,
}

/// The report over the `window` before `now_ms`.
pub async fn report(
    store: &dyn SlaStore,
    config: &SlaConfig,
    window: Duration,
    now_ms: i64,
) -> Result<SlaReport, StoreError> {
    let since = now_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let minutes = store.route_minutes(since).await?;
    let mut by_route: BTreeMap<String, (i64, i64, Vec<i64>)> = BTreeMap::new();
    let mut all = (0, 0, Vec::new());
    for minute in &minutes {
        for totals in [by_route.entry(minute.route.clone()).or_default(), &mut all] {
            totals.0 += minute.requests;
            totals.1 += minute.errors;
            totals.2.resize(minute.buckets.len().max(totals.2.len()), 0);
            for (sum, add) in totals.2.iter_mut().zip(&minute.buckets) {
                *sum += add;
            }
        }
    }
    let overall = figures("all", &all);
    let routes = by_route
        .iter()
        .map(|(route, totals)| figures(route, totals))
        .collect();
    let (healthy, samples, first) = store.health_since(since).await?;
    let interval = i64::try_from(config.sample_interval.0.as_millis())
        .unwrap_or(60_000)
        .max(1);
    // Minutes nobody recorded (every instance down) count as down. The sample due right now
    // may still be on its way (a busy machine delays the timer), so it is not expected yet.
    let uptime = first.map(|first| {
        let expected = ((now_ms - first.max(since)) / interval).max(samples);
        100.0 * healthy as f64 / expected as f64
    });
    let latency_target_ms = config.latency_p95.0.as_secs_f64() * 1000.0;
    let objectives = Objectives {
        availability: config.availability,
        availability_met: uptime.map(|u| u >= config.availability),
        success_ratio: config.success_ratio,
        success_ratio_met: overall.success_ratio >= config.success_ratio,
        latency_p95_ms: latency_target_ms,
        latency_p95_met: overall.p95_ms.is_none_or(|p95| p95 <= latency_target_ms),
    };
    Ok(SlaReport {
        window_seconds: window.as_secs(),
        uptime,
        overall,
        routes,
        objectives,
    })
}

fn figures(route: &str, (requests, errors, buckets): &(i64, i64, Vec<i64>)) -> RouteSla {
    let bounds: Vec<f64> = request_duration_buckets()
        .chain(std::iter::once(f64::INFINITY))
        .collect();
    let quantile = |q: f64| {
        let mut pairs: Vec<(f64, f64)> = bounds
            .iter()
            .zip(buckets)
            .map(|(&bound, &count)| (bound, count as f64))
            .collect();
        quantile_of(q, &mut pairs).map(|seconds| (seconds * 1000.0 * 1000.0).round() / 1000.0)
    };
    RouteSla {
        route: route.to_owned(),
        requests: *requests,
        success_ratio: if *requests > 0 {
            100.0 * (requests - errors) as f64 / *requests as f64
        } else {
            100.0
        },
        p50_ms: quantile(0.5),
        p95_ms: quantile(0.95),
        p99_ms: quantile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    /// A scrape with `ok` 2xx and `failed` 5xx answers on `/api`, all taking about 3 ms.
    fn scrape(ok: u64, failed: u64) -> String {
        let mut text = format!(
            "rampart_http_requests_total{{route=\"/api\",status=\"2xx\"}} {ok}\n\
             rampart_http_requests_total{{route=\"/api\",status=\"5xx\"}} {failed}\n"
        );
        for bound in request_duration_buckets() {
            let count = if bound >= 0.004 { ok + failed } else { 0 };
            text += &format!(
                "rampart_http_request_duration_seconds_bucket{{route=\"/api\",status=\"2xx\",le=\"{bound}\"}} {count}\n"
            );
        }
        text += &format!(
            "rampart_http_request_duration_seconds_bucket{{route=\"/api\",status=\"2xx\",le=\"+Inf\"}} {}\n",
            ok + failed
        );
        text
    }

    #[tokio::test]
    async fn the_report_adds_minutes_up_and_compares_with_objectives() {
        for (store, _dir) in stores().await {
            let store = Arc::new(store);
            let config = SlaConfig::default();
            let mut recorder = SlaRecorder::new(
                store.clone(),
                Arc::new(Metrics::new()),
                Vec::new(),
                config.clone(),
            );
            let start = 1_000_000_000;
            recorder.record(start, &scrape(0, 0), true).await.unwrap();
            recorder
                .record(start + 60_000, &scrape(990, 10), true)
                .await
                .unwrap();
            // One unhealthy minute, then a restart (counters back near zero).
            recorder
                .record(start + 120_000, &scrape(1990, 10), false)
                .await
                .unwrap();
            recorder
                .record(start + 180_000, &scrape(1000, 0), true)
                .await
                .unwrap();
            let report = report(
                store.as_ref(),
                &config,
                Duration::from_secs(3600),
                start + 180_000,
            )
            .await
            .unwrap();
            assert_eq!(report.overall.requests, 3000);
            assert!((report.overall.success_ratio - 100.0 * 2990.0 / 3000.0).abs() < 1e-9);
            assert_eq!(report.routes.len(), 1);
            let p95 = report.overall.p95_ms.unwrap();
            assert!(p95 > 2.0 && p95 <= 4.0, "{p95}");
            assert_eq!(report.uptime, Some(75.0));
            assert_eq!(report.objectives.availability_met, Some(false));
            assert!(report.objectives.success_ratio_met, "99.67% against 99.5%");
            assert!(report.objectives.latency_p95_met);
            let strict = SlaConfig {
                success_ratio: 99.9,
                latency_p95: HumanDuration(Duration::from_millis(2)),
                ..config
            };
            let strict = super::report(
                store.as_ref(),
                &strict,
                Duration::from_secs(3600),
                start + 180_000,
            )
            .await
            .unwrap();
            assert!(!strict.objectives.success_ratio_met);
            assert!(!strict.objectives.latency_p95_met);
        }
    }
}
