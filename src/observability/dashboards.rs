//! Grafana dashboards for teams that run their own Prometheus and Grafana: security,
//! performance, system and compliance, built from the metrics this binary exports (a test
//! checks that every query parses and names only metrics that exist).

use serde_json::{Value, json};

/// One panel: title, unit (Grafana's), and (query, legend) pairs.
type Panel = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The dashboards: (file stem, title, panels).
pub const DASHBOARDS: &[(&str, &str, &[Panel])] = &[
    (
        "rampart-security",
        "Rampart: security",
        &[
            (
                "Logins by result",
                "ops",
                &[(
                    "sum by (result) (rate(rampart_logins_total[5m]))",
                    "{{result}}",
                )],
            ),
            (
                "Security events",
                "short",
                &[(
                    "sum by (event) (increase(rampart_security_events_total[5m]))",
                    "{{event}}",
                )],
            ),
            (
                "Attack filter blocks by family",
                "ops",
                &[(
                    "sum by (family) (rate(rampart_attack_filter_findings_total{action=\"blocked\"}[5m]))",
                    "{{family}}",
                )],
            ),
            (
                "Attack filter rules hit (1 h)",
                "short",
                &[(
                    "sum by (rule) (increase(rampart_attack_filter_rule_hits_total[1h])) > 0",
                    "{{rule}}",
                )],
            ),
            (
                "Rate-limited requests by route",
                "ops",
                &[(
                    "sum by (route) (rate(rampart_rate_limited_total[5m]))",
                    "{{route}}",
                )],
            ),
            (
                "Bans issued and in force",
                "short",
                &[
                    (
                        "sum by (kind) (increase(rampart_bans_total[5m]))",
                        "issued {{kind}}",
                    ),
                    ("rampart_active_bans", "in force"),
                ],
            ),
            (
                "Access denials by route",
                "ops",
                &[(
                    "sum by (route) (rate(rampart_access_denials_total[5m]))",
                    "{{route}}",
                )],
            ),
            (
                "Token checks by result",
                "ops",
                &[(
                    "sum by (result) (rate(rampart_token_verifications_total[5m]))",
                    "{{result}}",
                )],
            ),
            (
                "Input validation failures",
                "ops",
                &[(
                    "sum by (reason) (rate(rampart_validation_failures_total[5m]))",
                    "{{reason}}",
                )],
            ),
        ],
    ),
    (
        "rampart-performance",
        "Rampart: performance",
        &[
            (
                "Requests by route",
                "reqps",
                &[(
                    "sum by (route) (rate(rampart_http_requests_total[5m]))",
                    "{{route}}",
                )],
            ),
            (
                "5xx ratio",
                "percentunit",
                &[(
                    "sum(rate(rampart_http_requests_total{status=\"5xx\"}[5m])) / sum(rate(rampart_http_requests_total[5m]))",
                    "5xx",
                )],
            ),
            (
                "Request time p50 / p95 / p99",
                "s",
                &[
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(rampart_http_request_duration_seconds_bucket[5m])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(rampart_http_request_duration_seconds_bucket[5m])))",
                        "p95",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) (rate(rampart_http_request_duration_seconds_bucket[5m])))",
                        "p99",
                    ),
                ],
            ),
            (
                "p95 by route",
                "s",
                &[(
                    "histogram_quantile(0.95, sum by (le, route) (rate(rampart_http_request_duration_seconds_bucket[5m])))",
                    "{{route}}",
                )],
            ),
            (
                "Upstream response time p95",
                "s",
                &[(
                    "histogram_quantile(0.95, sum by (le, upstream) (rate(rampart_upstream_response_duration_seconds_bucket[5m])))",
                    "{{upstream}}",
                )],
            ),
            (
                "Upstream errors and retries",
                "ops",
                &[
                    (
                        "sum by (upstream, kind) (rate(rampart_upstream_errors_total[5m]))",
                        "{{upstream}} {{kind}}",
                    ),
                    (
                        "sum by (upstream) (rate(rampart_upstream_retries_total[5m]))",
                        "{{upstream}} retries",
                    ),
                ],
            ),
            (
                "Requests in flight",
                "short",
                &[("rampart_http_requests_in_flight", "in flight")],
            ),
            (
                "Input inspection p95",
                "s",
                &[(
                    "histogram_quantile(0.95, sum by (le) (rate(rampart_input_inspection_duration_seconds_bucket[5m])))",
                    "p95",
                )],
            ),
            (
                "Response bytes by route",
                "Bps",
                &[(
                    "sum by (route) (rate(rampart_http_response_bytes_total[5m]))",
                    "{{route}}",
                )],
            ),
        ],
    ),
    (
        "rampart-system",
        "Rampart: system",
        &[
            (
                "CPU",
                "percentunit",
                &[("rate(process_cpu_seconds_total[5m])", "cores")],
            ),
            (
                "Memory",
                "bytes",
                &[("process_resident_memory_bytes", "resident")],
            ),
            (
                "File descriptors",
                "short",
                &[("process_open_fds", "open"), ("process_max_fds", "limit")],
            ),
            (
                "Connections",
                "short",
                &[(
                    "sum by (listener) (rampart_active_connections)",
                    "{{listener}}",
                )],
            ),
            (
                "Upstream targets up",
                "short",
                &[
                    (
                        "sum by (upstream) (rampart_upstream_targets_up)",
                        "{{upstream}} up",
                    ),
                    (
                        "sum by (upstream) (rampart_upstream_targets)",
                        "{{upstream}} configured",
                    ),
                ],
            ),
            (
                "Store connections",
                "short",
                &[("sum by (state) (rampart_store_connections)", "{{state}}")],
            ),
            (
                "Disk free",
                "percentunit",
                &[(
                    "rampart_data_dir_free_bytes / rampart_data_dir_size_bytes",
                    "free",
                )],
            ),
            (
                "Store size",
                "bytes",
                &[("rampart_store_size_bytes", "SQLite files")],
            ),
            (
                "Days until the certificate expires",
                "d",
                &[(
                    "(rampart_tls_certificate_expiry_timestamp_seconds - time()) / 86400",
                    "days",
                )],
            ),
            (
                "TLS handshakes and Redis errors",
                "ops",
                &[
                    (
                        "sum by (result) (rate(rampart_tls_handshakes_total[5m]))",
                        "TLS {{result}}",
                    ),
                    (
                        "sum by (kind) (rate(rampart_redis_errors_total[5m]))",
                        "Redis {{kind}}",
                    ),
                ],
            ),
        ],
    ),
    (
        "rampart-compliance",
        "Rampart: compliance",
        &[
            (
                "Audit records written",
                "ops",
                &[(
                    "sum by (result) (rate(rampart_audit_records_total[5m]))",
                    "{{result}}",
                )],
            ),
            (
                "Audit write time p95",
                "s",
                &[(
                    "histogram_quantile(0.95, sum by (le) (rate(rampart_audit_write_duration_seconds_bucket[5m])))",
                    "p95",
                )],
            ),
            (
                "Audit queue and records",
                "short",
                &[
                    ("rampart_audit_queue", "queued"),
                    ("rampart_audit_head_sequence", "records"),
                ],
            ),
            (
                "Seconds since the last signed checkpoint",
                "s",
                &[(
                    "time() - rampart_audit_last_checkpoint_timestamp_seconds",
                    "age",
                )],
            ),
            (
                "Admin actions and audit reads",
                "short",
                &[(
                    "sum(increase(rampart_security_events_total{event=\"admin_action\"}[1h]))",
                    "admin actions",
                )],
            ),
            (
                "Alerts firing",
                "short",
                &[("sum by (severity) (rampart_alerts_firing)", "{{severity}}")],
            ),
            (
                "Alert notifications",
                "short",
                &[(
                    "sum by (channel, result) (increase(rampart_alert_notifications_total[1h]))",
                    "{{channel}} {{result}}",
                )],
            ),
        ],
    ),
];

/// The Grafana JSON model of dashboard `index`, with a Prometheus data-source variable.
pub fn dashboard(index: usize) -> Value {
    let (uid, title, panels) = DASHBOARDS[index];
    let panels: Vec<Value> = panels
        .iter()
        .enumerate()
        .map(|(i, (panel_title, unit, queries))| {
            let targets: Vec<Value> = queries
                .iter()
                .zip('A'..)
                .map(|((expr, legend), ref_id)| {
                    json!({
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                        "expr": expr,
                        "legendFormat": legend,
                        "refId": ref_id.to_string(),
                    })
                })
                .collect();
            json!({
                "id": i + 1,
                "type": "timeseries",
                "title": panel_title,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": targets,
            })
        })
        .collect();
    json!({
        "uid": uid,
        "title": title,
        "tags": ["rampart"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
        }]},
        "panels": panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::expr;
    use crate::observability::metrics::Metrics;

    #[test]
    fn four_dashboards_whose_queries_parse_and_name_real_metrics() {
        assert_eq!(DASHBOARDS.len(), 4);
        // Every family, with series made for one route and one upstream as the gateway does
        // at start, for TLS and alerts as it does when it serves and sends them; the per-upstream target gauges
        // appear at the first sampling.
        let metrics = Metrics::new();
        let _ = metrics.route("/");
        let _ = metrics.upstream("app");
        metrics.certificate_loaded(Some(1));
        metrics.tls_handshake(true, None);
        metrics.alert_notification("log", true);
        metrics.validation_failure("/", "json");
        let exported = metrics.encode();
        let mut families: Vec<&str> = exported
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        families.extend(["rampart_upstream_targets", "rampart_upstream_targets_up"]);
        let exists = |metric: &str| {
            families.iter().any(|family| {
                ["", "_total", "_bucket"]
                    .iter()
                    .any(|suffix| metric == format!("{family}{suffix}"))
            })
        };
        for index in 0..DASHBOARDS.len() {
            let dashboard = dashboard(index);
            let panels = dashboard["panels"].as_array().unwrap();
            assert!(panels.len() >= 6, "{}", dashboard["title"]);
            for panel in panels {
                for target in panel["targets"].as_array().unwrap() {
                    let query = target["expr"].as_str().unwrap();
                    let parsed = expr::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
                    let mut metrics = Vec::new();
                    parsed.metrics(&mut metrics);
                    for metric in metrics {
                        assert!(exists(&metric), "{query} reads unknown {metric}");
                    }
                }
            }
        }
    }
}
