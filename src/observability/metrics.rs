//! Prometheus metrics (prometheus-client), served on the admin listener.
//!
//! Labels are bounded: route and upstream names from the config, status classes, fixed enums.
//! Per-route handles are resolved once at start so the request path does no label lookups.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::system::SystemMetrics;
use crate::identity::events::SecurityEvent;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: &'static str,
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: String,
    kind: &'static str,
}

/// Why a request to an upstream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// No target accepted a connection.
    Connect,
    /// The upstream did not answer in time.
    Timeout,
    /// The connection broke or the answer was not valid HTTP.
    Protocol,
}

impl UpstreamErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    result: &'static str,
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidationLabels {
    route: String,
    /// A fixed set: `body_size`, `json_depth`, `content_type`, `upload_type`, ...
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Upper bounds of the request-time histogram's buckets (without `+Inf`): 0.25 ms doubling
/// up to about 16 s. The SLA report reads its percentiles from the same buckets.
pub fn request_duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_25, 2.0, 17)
}

/// Every metric the gateway core exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RequestLabels, Histogram>,
    response_bytes: Family<RouteLabels, Counter>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    connections: Family<ListenerLabels, Counter>,
    active_connections: Family<ListenerLabels, Gauge>,
    tls_handshakes: Family<HandshakeLabels, Counter>,
    cert_reloads: Family<ResultLabels, Counter>,
    logins: Family<ResultLabels, Counter>,
    token_verifications: Family<ResultLabels, Counter>,
    access_denials: Family<RouteLabels, Counter>,
    mfa_challenges: Family<ResultLabels, Counter>,
    rate_limited: Family<RouteLabels, Counter>,
    attack_filter: Family<AttackLabels, Counter>,
    active_sessions: Gauge,
    redis_errors: Family<KindLabels, Counter>,
    ban_violations: Family<KindLabels, Counter>,
    bans: Family<KindLabels, Counter>,
    banned_requests: Counter,
    active_bans: Gauge,
    validation_failures: Family<ValidationLabels, Counter>,
    audit_records: Family<ResultLabels, Counter>,
    audit_write_duration: Histogram,
    audit_batch_records: Histogram,
    audit_checkpoints: Counter,
    /// No series without TLS: an expiry of 0 would read as "expired" to the alert rules.
    tls_certificate_expiry: Family<NoLabels, Gauge>,
    upstream_responses: Family<UpstreamStatusLabels, Counter>,
    upstream_duration: Family<UpstreamLabels, Histogram>,
    upstream_retries: Family<UpstreamLabels, Counter>,
    input_inspection_duration: Histogram,
    attack_filter_rules: Family<RuleLabels, Counter>,
    security_events: Family<EventLabels, Counter>,
    http_in_flight: Gauge,
    websocket_upgrades: Family<UpstreamLabels, Counter>,
    audit_last_checkpoint: Gauge,
    request_trail: Family<ResultLabels, Counter>,
    spans: Family<ResultLabels, Counter>,
    alerts_firing: Family<SeverityLabels, Gauge>,
    alert_notifications: Family<ChannelResultLabels, Counter>,
    /// Sampled, not counted: process, store, disk, upstream targets, audit queue.
    pub system: SystemMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamStatusLabels {
    upstream: String,
    status: &'static str,
}

/// For a single series that should exist only once it has a value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoLabels {}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabels {
    severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelResultLabels {
    /// A channel name from the config.
    channel: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    /// A built-in rule id: a fixed set.
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    /// A security event name: a fixed set.
    event: &'static str,
}

/// Labels of the attack filter's counter; families and actions are fixed sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttackLabels {
    route: String,
    family: &'static str,
    /// `blocked`, or `detected` on detect-only routes and under the threshold.
    action: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "rampart_http_requests",
            "Requests answered, by route and status class",
            requests.clone(),
        );
        let request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(request_duration_buckets())
        });
        registry.register_with_unit(
            "rampart_http_request_duration",
            "Time from request received to response body finished, by route and status class",
            Unit::Seconds,
            request_duration.clone(),
        );
        let response_bytes = Family::<RouteLabels, Counter>::default();
        registry.register_with_unit(
            "rampart_http_response",
            "Response body bytes sent to clients, by route",
            Unit::Bytes,
            response_bytes.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "rampart_upstream_errors",
            "Failed upstream requests, by upstream and kind",
            upstream_errors.clone(),
        );
        let connections = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "rampart_connections",
            "Client connections accepted, by listener",
            connections.clone(),
        );
        let active_connections = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "rampart_active_connections",
            "Client connections open now, by listener",
            active_connections.clone(),
        );
        let tls_handshakes = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "rampart_tls_handshakes",
            "TLS handshakes, by result and negotiated version",
            tls_handshakes.clone(),
        );
        let cert_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_tls_certificate_reloads",
            "Certificate reload attempts, by result",
            cert_reloads.clone(),
        );
        let logins = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_logins",
            "Login attempts, by result (ok, invalid_credentials, error)",
            logins.clone(),
        );
        let token_verifications = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_token_verifications",
            "Bearer token checks, by result (ok or the reason for refusal)",
            token_verifications.clone(),
        );
        let access_denials = Family::<RouteLabels, Counter>::default();
        registry.register(
            "rampart_access_denials",
            "Requests refused 401/403 by route rules",
            access_denials.clone(),
        );
        let mfa_challenges = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_mfa_challenges",
            "Second-factor checks at login, by result (ok, required, invalid)",
            mfa_challenges.clone(),
        );
        let rate_limited = Family::<RouteLabels, Counter>::default();
        registry.register(
            "rampart_rate_limited",
            "Requests refused 429 by a route's rate limits",
            rate_limited.clone(),
        );
        let attack_filter = Family::<AttackLabels, Counter>::default();
        registry.register(
            "rampart_attack_filter_findings",
            "Requests in which the attack filter found an attack family, by action (blocked, detected)",
            attack_filter.clone(),
        );
        let active_sessions = Gauge::default();
        registry.register(
            "rampart_active_sessions",
            "Sessions neither revoked, expired nor idle too long (counted in the store each minute)",
            active_sessions.clone(),
        );
        let redis_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "rampart_redis_errors",
            "Redis calls that failed, by component (rate_limit, bans); the instance's own counters decided instead",
            redis_errors.clone(),
        );
        let ban_violations = Family::<KindLabels, Counter>::default();
        registry.register(
            "rampart_ban_violations",
            "Violations counted towards automatic bans, by kind (rate_limited, attack, login_failed, upstream_denied)",
            ban_violations.clone(),
        );
        let bans = Family::<KindLabels, Counter>::default();
        registry.register(
            "rampart_bans",
            "Client addresses banned, by source (automatic, manual)",
            bans.clone(),
        );
        let banned_requests = Counter::default();
        registry.register(
            "rampart_banned_requests",
            "Requests refused because the client address is banned",
            banned_requests.clone(),
        );
        let active_bans = Gauge::default();
        registry.register(
            "rampart_active_bans",
            "Bans in force on this instance",
            active_bans.clone(),
        );
        let validation_failures = Family::<ValidationLabels, Counter>::default();
        registry.register(
            "rampart_validation_failures",
            "Requests refused by input validation, by route and reason",
            validation_failures.clone(),
        );
        let audit_records = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_audit_records",
            "Audit events, by result (written: durable and acknowledged; failed: not written)",
            audit_records.clone(),
        );
        let audit_write_duration = Histogram::new(exponential_buckets(0.000_125, 2.0, 16));
        registry.register_with_unit(
            "rampart_audit_write_duration",
            "Time to write one batch of audit records durably (one transaction)",
            Unit::Seconds,
            audit_write_duration.clone(),
        );
        let audit_batch_records = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        registry.register(
            "rampart_audit_batch_records",
            "Audit records written per transaction (group commit)",
            audit_batch_records.clone(),
        );
        let audit_checkpoints = Counter::default();
        registry.register(
            "rampart_audit_checkpoints",
            "Signed audit checkpoints written",
            audit_checkpoints.clone(),
        );
        let tls_certificate_expiry = Family::<NoLabels, Gauge>::default();
        registry.register_with_unit(
            "rampart_tls_certificate_expiry_timestamp",
            "When the served certificate expires, Unix time",
            Unit::Seconds,
            tls_certificate_expiry.clone(),
        );
        let upstream_responses = Family::<UpstreamStatusLabels, Counter>::default();
        registry.register(
            "rampart_upstream_responses",
            "Responses received from upstreams, by upstream and status class",
            upstream_responses.clone(),
        );
        let upstream_duration = Family::<UpstreamLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 17))
        });
        registry.register_with_unit(
            "rampart_upstream_response_duration",
            "Time from sending a request upstream to its response headers, by upstream",
            Unit::Seconds,
            upstream_duration.clone(),
        );
        let upstream_retries = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "rampart_upstream_retries",
            "Requests sent to another target after one refused the connection, by upstream",
            upstream_retries.clone(),
        );
        let input_inspection_duration = Histogram::new(exponential_buckets(0.000_002, 2.0, 16));
        registry.register_with_unit(
            "rampart_input_inspection_duration",
            "Time spent on input validation and the attack filter per request, body read included",
            Unit::Seconds,
            input_inspection_duration.clone(),
        );
        let attack_filter_rules = Family::<RuleLabels, Counter>::default();
        registry.register(
            "rampart_attack_filter_rule_hits",
            "Attack filter findings, by rule",
            attack_filter_rules.clone(),
        );
        let security_events = Family::<EventLabels, Counter>::default();
        registry.register(
            "rampart_security_events",
            "Security events (logins, lockouts, denials, bans, attack blocks, admin actions), by event",
            security_events.clone(),
        );
        let http_in_flight = Gauge::default();
        registry.register(
            "rampart_http_requests_in_flight",
            "Requests being handled now (until their response body is sent)",
            http_in_flight.clone(),
        );
        let websocket_upgrades = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "rampart_websocket_upgrades",
            "Connections upgraded to WebSocket tunnels, by upstream",
            websocket_upgrades.clone(),
        );
        let audit_last_checkpoint = Gauge::default();
        registry.register_with_unit(
            "rampart_audit_last_checkpoint_timestamp",
            "When this instance last signed an audit checkpoint, Unix time",
            Unit::Seconds,
            audit_last_checkpoint.clone(),
        );
        let request_trail = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_audit_requests",
            "Requests in the request trail, by result (written: synced to disk; failed; dropped: the queue was full)",
            request_trail.clone(),
        );
        for result in ["written", "failed", "dropped"] {
            let _ = request_trail.get_or_create(&ResultLabels { result });
        }
        let spans = Family::<ResultLabels, Counter>::default();
        registry.register(
            "rampart_otlp_spans",
            "Trace spans sent over OTLP, by result (exported; failed: the collector did not take them; dropped: the queue was full)",
            spans.clone(),
        );
        for result in ["exported", "failed", "dropped"] {
            let _ = spans.get_or_create(&ResultLabels { result });
        }
        let alerts_firing = Family::<SeverityLabels, Gauge>::default();
        registry.register(
            "rampart_alerts_firing",
            "Alerts firing now, by severity",
            alerts_firing.clone(),
        );
        for severity in ["info", "warning", "error", "critical"] {
            let _ = alerts_firing.get_or_create(&SeverityLabels { severity });
        }
        let alert_notifications = Family::<ChannelResultLabels, Counter>::default();
        registry.register(
            "rampart_alert_notifications",
            "Alert notifications, by channel and result (sent, failed)",
            alert_notifications.clone(),
        );
        let system = SystemMetrics::register(&mut registry);
        // Fixed label sets start at zero, so dashboards and alert rules see 0 rather than
        // nothing before the first event.
        for result in [
            "ok",
            "invalid_credentials",
            "locked_out",
            "mfa_invalid",
            "too_many_sessions",
            "error",
        ] {
            let _ = logins.get_or_create(&ResultLabels { result });
        }
        let _ = token_verifications.get_or_create(&ResultLabels { result: "ok" });
        for listener in ["gateway", "admin"] {
            let _ = connections.get_or_create(&ListenerLabels { listener });
            let _ = active_connections.get_or_create(&ListenerLabels { listener });
        }
        for result in ["ok", "required", "invalid"] {
            let _ = mfa_challenges.get_or_create(&ResultLabels { result });
        }
        for result in ["ok", "error"] {
            let _ = cert_reloads.get_or_create(&ResultLabels { result });
        }
        for kind in ["rate_limit", "bans"] {
            let _ = redis_errors.get_or_create(&KindLabels { kind });
        }
        for kind in ["rate_limited", "attack", "login_failed", "upstream_denied"] {
            let _ = ban_violations.get_or_create(&KindLabels { kind });
        }
        for kind in ["automatic", "manual"] {
            let _ = bans.get_or_create(&KindLabels { kind });
        }
        for result in ["written", "failed"] {
            let _ = audit_records.get_or_create(&ResultLabels { result });
        }
        for event in SecurityEvent::NAMES {
            let _ = security_events.get_or_create(&EventLabels { event });
        }
        for rule in crate::attack_filter::rules::rule_ids() {
            let _ = attack_filter_rules.get_or_create(&RuleLabels { rule });
        }
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("rampart_build_info", "Build information", build_info);
        Self {
            registry,
            requests,
            request_duration,
            response_bytes,
            upstream_errors,
            connections,
            active_connections,
            tls_handshakes,
            cert_reloads,
            logins,
            token_verifications,
            access_denials,
            mfa_challenges,
            rate_limited,
            attack_filter,
            active_sessions,
            redis_errors,
            ban_violations,
            bans,
            banned_requests,
            active_bans,
            validation_failures,
            audit_records,
            audit_write_duration,
            audit_batch_records,
            audit_checkpoints,
            tls_certificate_expiry,
            upstream_responses,
            upstream_duration,
            upstream_retries,
            input_inspection_duration,
            attack_filter_rules,
            security_events,
            http_in_flight,
            websocket_upgrades,
            audit_last_checkpoint,
            request_trail,
            spans,
            alerts_firing,
            alert_notifications,
            system,
        }
    }

    /// Alerts firing now, by severity; severities not given are 0.
    pub fn set_alerts_firing(&self, by_severity: &std::collections::BTreeMap<&'static str, i64>) {
        for severity in ["info", "warning", "error", "critical"] {
            self.alerts_firing
                .get_or_create(&SeverityLabels { severity })
                .set(by_severity.get(severity).copied().unwrap_or(0));
        }
    }

    pub fn spans(&self, result: &'static str, count: u64) {
        self.spans
            .get_or_create(&ResultLabels { result })
            .inc_by(count);
    }

    pub fn request_trail(&self, result: &'static str, count: u64) {
        self.request_trail
            .get_or_create(&ResultLabels { result })
            .inc_by(count);
    }

    pub fn alert_notification(&self, channel: &str, sent: bool) {
        self.alert_notifications
            .get_or_create(&ChannelResultLabels {
                channel: channel.to_owned(),
                result: if sent { "sent" } else { "failed" },
            })
            .inc();
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn request_started(&self) -> InFlight {
        self.http_in_flight.inc();
        InFlight(self.http_in_flight.clone())
    }

    pub fn websocket_upgraded(&self, upstream: &str) {
        self.websocket_upgrades
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    /// The served certificate's expiry (Unix seconds), when it could be read.
    pub fn certificate_loaded(&self, not_after: Option<i64>) {
        if let Some(not_after) = not_after {
            self.tls_certificate_expiry
                .get_or_create(&NoLabels {})
                .set(not_after);
        }
    }

    /// Handles for one upstream, made once so the request path needs no map lookup.
    pub fn upstream(&self, upstream: &str) -> UpstreamMetrics {
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
        };
        let _ = self.websocket_upgrades.get_or_create(&labels);
        for kind in [
            UpstreamErrorKind::Connect,
            UpstreamErrorKind::Timeout,
            UpstreamErrorKind::Protocol,
        ] {
            let _ = self.upstream_errors.get_or_create(&UpstreamErrorLabels {
                upstream: upstream.to_owned(),
                kind: kind.as_str(),
            });
        }
        UpstreamMetrics(Arc::new(UpstreamHandles {
            responses_by_class: STATUS_CLASSES.map(|status| {
                self.upstream_responses
                    .get_or_create(&UpstreamStatusLabels {
                        upstream: upstream.to_owned(),
                        status,
                    })
                    .clone()
            }),
            duration: self.upstream_duration.get_or_create(&labels).clone(),
            retries: self.upstream_retries.get_or_create(&labels).clone(),
        }))
    }

    pub fn input_inspected(&self, seconds: f64) {
        self.input_inspection_duration.observe(seconds);
    }

    pub fn attack_rule_hit(&self, rule: &'static str) {
        self.attack_filter_rules
            .get_or_create(&RuleLabels { rule })
            .inc();
    }

    pub fn security_event(&self, event: &'static str) {
        self.security_events
            .get_or_create(&EventLabels { event })
            .inc();
    }

    /// One audit batch: `records` written durably in `seconds`, or failed.
    pub fn audit_batch(&self, records: usize, seconds: f64, ok: bool) {
        let result = if ok { "written" } else { "failed" };
        self.audit_records
            .get_or_create(&ResultLabels { result })
            .inc_by(records as u64);
        if ok {
            self.audit_write_duration.observe(seconds);
            self.audit_batch_records.observe(records as f64);
        }
    }

    pub fn audit_checkpoint(&self) {
        self.audit_checkpoints.inc();
        self.audit_last_checkpoint.set(crate::store::unix_now());
    }

    /// Handles for one route, made once so that recording a request needs no map lookup.
    pub fn route(&self, route: &str) -> RouteMetrics {
        let labels_by_class = STATUS_CLASSES.map(|status| RequestLabels {
            route: route.to_owned(),
            status,
        });
        let by_class = labels_by_class
            .clone()
            .map(|labels| self.requests.get_or_create(&labels).clone());
        let duration_by_class =
            labels_by_class.map(|labels| self.request_duration.get_or_create(&labels).clone());
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        let _ = self.rate_limited.get_or_create(&labels);
        let _ = self.access_denials.get_or_create(&labels);
        for family in crate::attack_filter::Family::ALL {
            let _ = self.attack_filter.get_or_create(&AttackLabels {
                route: route.to_owned(),
                family: family.as_str(),
                action: "blocked",
            });
        }
        RouteMetrics(Arc::new(RouteHandles {
            requests_by_class: by_class,
            duration_by_class,
            response_bytes: self.response_bytes.get_or_create(&labels).clone(),
        }))
    }

    pub fn upstream_error(&self, upstream: &str, kind: UpstreamErrorKind) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                upstream: upstream.to_owned(),
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Counts an accepted connection; the returned guard keeps it in the active gauge.
    pub fn connection_opened(&self, listener: &'static str) -> ConnectionGauge {
        let labels = ListenerLabels { listener };
        self.connections.get_or_create(&labels).inc();
        let active = self.active_connections.get_or_create(&labels).clone();
        active.inc();
        ConnectionGauge(active)
    }

    pub fn tls_handshake(&self, ok: bool, version: Option<rustls::ProtocolVersion>) {
        let version = match version {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
            Some(_) => "other",
            None => "none",
        };
        let result = if ok { "ok" } else { "error" };
        self.tls_handshakes
            .get_or_create(&HandshakeLabels { result, version })
            .inc();
    }

    pub fn cert_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.cert_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn token_verification(&self, result: &'static str) {
        self.token_verifications
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn attack_finding(&self, route: &str, family: &'static str, blocked: bool) {
        self.attack_filter
            .get_or_create(&AttackLabels {
                route: route.to_owned(),
                family,
                action: if blocked { "blocked" } else { "detected" },
            })
            .inc();
    }

    pub fn rate_limited(&self, route: &str) {
        self.rate_limited
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .inc();
    }

    pub fn redis_error(&self, component: &'static str) {
        self.redis_errors
            .get_or_create(&KindLabels { kind: component })
            .inc();
    }

    pub fn ban_violation(&self, kind: &'static str) {
        self.ban_violations
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    pub fn banned(&self, source: &'static str) {
        self.bans.get_or_create(&KindLabels { kind: source }).inc();
    }

    pub fn banned_request(&self) {
        self.banned_requests.inc();
    }

    pub fn set_active_bans(&self, count: usize) {
        self.active_bans
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn validation_failure(&self, route: &str, reason: &'static str) {
        self.validation_failures
            .get_or_create(&ValidationLabels {
                route: route.to_owned(),
                reason,
            })
            .inc();
    }

    pub fn mfa_challenge(&self, result: &'static str) {
        self.mfa_challenges
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn set_active_sessions(&self, count: i64) {
        self.active_sessions.set(count);
    }

    pub fn access_denied(&self, route: &str) {
        self.access_denials
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Pre-resolved metric handles for one route; cloning is one reference count.
#[derive(Clone, Debug)]
pub struct RouteMetrics(Arc<RouteHandles>);

#[derive(Debug)]
struct RouteHandles {
    requests_by_class: [Counter; 5],
    duration_by_class: [Histogram; 5],
    response_bytes: Counter,
}

impl RouteMetrics {
    pub fn record(&self, status: u16, seconds: f64, bytes: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.0.requests_by_class[class].inc();
        self.0.duration_by_class[class].observe(seconds);
        self.0.response_bytes.inc_by(bytes);
    }
}

/// An upstream's response counters, timing and retries.
#[derive(Clone, Debug)]
pub struct UpstreamMetrics(Arc<UpstreamHandles>);

#[derive(Debug)]
struct UpstreamHandles {
    responses_by_class: [Counter; 5],
    duration: Histogram,
    retries: Counter,
}

impl UpstreamMetrics {
    pub fn response(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.0.responses_by_class[class].inc();
        self.0.duration.observe(seconds);
    }

    pub fn retry(&self) {
        self.0.retries.inc();
    }
}

/// Decrements the in-flight gauge when the request's response is done.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Decrements the active-connection gauge when the connection ends.
pub struct ConnectionGauge(Gauge);

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_handles_feed_the_exported_families() {
        let metrics = Metrics::new();
        let route = metrics.route("chat");
        route.record(200, 0.01, 42);
        route.record(502, 0.02, 10);
        metrics.upstream_error("app", UpstreamErrorKind::Connect);
        let text = metrics.encode();
        assert!(
            text.contains(r#"rampart_http_requests_total{route="chat",status="2xx"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"rampart_http_requests_total{route="chat",status="5xx"} 1"#));
        assert!(text.contains(r#"rampart_http_response_bytes_total{route="chat"} 52"#));
        assert!(text.contains(r#"rampart_upstream_errors_total{upstream="app",kind="connect"} 1"#));
        assert!(text.contains(
            "rampart_http_request_duration_seconds_count{route=\"chat\",status=\"2xx\"} 1"
        ));
        assert!(text.contains("rampart_build_info{version="));
    }
}
