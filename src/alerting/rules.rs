//! Alert rules: the built-in set every gateway starts with, rules from `[[alerts.rule]]`
//! (which replace a built-in one of the same name or add to them), and their export as a
//! Prometheus rules file, so the same conditions can run in a team's own Prometheus.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use super::expr::{self, Expr};
use crate::config::HumanDuration;

/// How bad it is; also decides the default channels' urgency.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

/// One `[[alerts.rule]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// A PromQL expression (the subset in [`expr`]); the series it selects fire.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for")]
    pub for_: Option<HumanDuration>,
    pub severity: Severity,
    pub summary: String,
    /// Channels by name; default: `[alerts] default_channels`.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Channels told when the alert stays unacknowledged for `escalate_after`.
    #[serde(default)]
    pub escalate_to: Vec<String>,
    #[serde(default)]
    pub escalate_after: Option<HumanDuration>,
    /// No repeated notification of the same alert within this time.
    #[serde(default)]
    pub cooldown: Option<HumanDuration>,
    /// Switch a built-in rule off by naming it with `enabled = false`.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub text: String,
    pub expr: Expr,
    pub for_: Duration,
    pub severity: Severity,
    pub summary: String,
    pub channels: Vec<String>,
    pub escalate_to: Vec<String>,
    pub escalate_after: Duration,
    pub cooldown: Duration,
}

/// The built-in rules: (name, expression, for, severity, summary).
const BUILT_IN: &[(&str, &str, u64, Severity, &str)] = &[
    (
        "RampartUpstreamDown",
        "min by (upstream) (rampart_upstream_targets_up) == 0",
        60,
        Severity::Critical,
        "No target of an upstream accepts connections: its routes answer 502.",
    ),
    (
        "RampartUpstreamDegraded",
        "min by (upstream) (rampart_upstream_targets_up) < min by (upstream) (rampart_upstream_targets)",
        300,
        Severity::Warning,
        "Some targets of an upstream refuse connections; the rest carry the load.",
    ),
    (
        "RampartHighErrorRate",
        "sum(rate(rampart_http_requests_total{status=\"5xx\"}[5m])) / sum(rate(rampart_http_requests_total[5m])) > 0.05",
        300,
        Severity::Error,
        "More than 5% of requests fail with a 5xx answer.",
    ),
    (
        "RampartLatencyOverSlo",
        "histogram_quantile(0.95, sum by (le) (rate(rampart_http_request_duration_seconds_bucket[5m]))) > {p95}",
        600,
        Severity::Warning,
        "The 95th percentile of request time is above the [sla] latency_p95 objective ({p95} s).",
    ),
    (
        "RampartUpstreamErrors",
        "sum by (upstream) (rate(rampart_upstream_errors_total[5m])) > 1",
        300,
        Severity::Warning,
        "An upstream keeps failing requests (refused, timed out or broken answers).",
    ),
    (
        "RampartBruteForce",
        "sum(increase(rampart_logins_total{result=\"invalid_credentials\"}[5m])) > 50",
        0,
        Severity::Warning,
        "A burst of failed logins: someone is guessing passwords.",
    ),
    (
        "RampartCredentialStuffing",
        "sum(increase(rampart_security_events_total{event=\"login_locked_out\"}[15m])) > 5",
        0,
        Severity::Error,
        "Several accounts were locked out at once: a credential stuffing run across accounts.",
    ),
    (
        "RampartRefreshTokenReuse",
        "sum(increase(rampart_security_events_total{event=\"refresh_token_reused\"}[10m])) > 0",
        0,
        Severity::Warning,
        "A refresh token was used twice: a token may have been stolen (its family was revoked).",
    ),
    (
        "RampartBanStorm",
        "sum(increase(rampart_bans_total[10m])) > 20",
        0,
        Severity::Warning,
        "Many clients were banned in a short time: a scan or attack from many addresses.",
    ),
    (
        "RampartAttackSpike",
        "sum(increase(rampart_security_events_total{event=\"attack_blocked\"}[5m])) > 100",
        0,
        Severity::Warning,
        "The attack filter is blocking many requests.",
    ),
    (
        "RampartCertificateExpiring",
        "rampart_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400",
        0,
        Severity::Warning,
        "The served TLS certificate expires within 14 days.",
    ),
    (
        "RampartCertificateExpiryImminent",
        "rampart_tls_certificate_expiry_timestamp_seconds - time() < 3 * 86400",
        0,
        Severity::Critical,
        "The served TLS certificate expires within 3 days.",
    ),
    (
        "RampartCertificateReloadFailed",
        "sum(increase(rampart_tls_certificate_reloads_total{result=\"error\"}[10m])) > 0",
        0,
        Severity::Error,
        "A renewed certificate could not be loaded; the old one is still served.",
    ),
    (
        "RampartDiskNearlyFull",
        "rampart_data_dir_free_bytes / rampart_data_dir_size_bytes < 0.1",
        300,
        Severity::Error,
        "Less than 10% of the data directory's file system is free: the store and audit log may stop writing.",
    ),
    (
        "RampartAuditWriteFailures",
        "sum(increase(rampart_audit_records_total{result=\"failed\"}[5m])) > 0",
        0,
        Severity::Critical,
        "Audit records could not be written: security events are only in the logs.",
    ),
    (
        "RampartAuditBacklog",
        "rampart_audit_queue > 10000",
        60,
        Severity::Warning,
        "Audit events queue up faster than the store writes them.",
    ),
    (
        "RampartRedisErrors",
        "sum(rate(rampart_redis_errors_total[5m])) > 0.5",
        300,
        Severity::Warning,
        "Redis calls fail: limits and ban counts fall back to each instance.",
    ),
    (
        "RampartFileDescriptorsNearLimit",
        "process_open_fds / process_max_fds > 0.8",
        300,
        Severity::Warning,
        "More than 80% of the file descriptor limit is in use: new connections will soon fail.",
    ),
];

/// Why the rules do not work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("alert rule {rule}: {error}")]
    Expression {
        rule: String,
        error: expr::ParseError,
    },
    #[error("alert rule {rule}: unknown channel `{channel}`; define it as [[alerts.channel]]")]
    UnknownChannel { rule: String, channel: String },
}

/// The rules in force: built-in ones (unless `built_in` is off), replaced or switched off by
/// configured rules of the same name, plus the configured others.
pub fn rules(
    configured: &[RuleConfig],
    built_in: bool,
    default_channels: &[String],
    known_channels: &[String],
    latency_p95: Duration,
) -> Result<Vec<Rule>, RuleError> {
    // The built-in latency rule watches the SLA's own objective.
    let p95 = format!("{}", latency_p95.as_secs_f64());
    let mut all: Vec<RuleConfig> = if built_in {
        BUILT_IN
            .iter()
            .map(|&(name, expr, for_, severity, summary)| RuleConfig {
                name: name.to_owned(),
                expr: expr.replace("{p95}", &p95),
                for_: Some(HumanDuration(Duration::from_secs(for_))),
                severity,
                summary: summary.replace("{p95}", &p95),
                channels: None,
                escalate_to: Vec::new(),
                escalate_after: None,
                cooldown: None,
                enabled: true,
            })
            .collect()
    } else {
        Vec::new()
    };
    for rule in configured {
        match all.iter_mut().find(|r| r.name == rule.name) {
            Some(existing) => *existing = rule.clone(),
            None => all.push(rule.clone()),
        }
    }
    all.into_iter()
        .filter(|r| r.enabled)
        .map(|r| {
            let expr = expr::parse(&r.expr).map_err(|error| RuleError::Expression {
                rule: r.name.clone(),
                error,
            })?;
            let channels = r
                .channels
                .clone()
                .unwrap_or_else(|| default_channels.to_vec());
            for channel in channels.iter().chain(&r.escalate_to) {
                if !known_channels.contains(channel) {
                    return Err(RuleError::UnknownChannel {
                        rule: r.name.clone(),
                        channel: channel.clone(),
                    });
                }
            }
            Ok(Rule {
                expr,
                for_: r.for_.map_or(Duration::ZERO, |d| d.0),
                severity: r.severity,
                channels,
                escalate_to: r.escalate_to,
                escalate_after: r.escalate_after.map_or(Duration::from_secs(1800), |d| d.0),
                cooldown: r.cooldown.map_or(Duration::from_secs(3600), |d| d.0),
                summary: r.summary,
                text: r.expr,
                name: r.name,
            })
        })
        .collect()
}

/// The rules as a Prometheus rules file (YAML), one group.
pub fn prometheus_rules(rules: &[Rule]) -> String {
    let mut out = String::from(
        "# Generated by `rampart export prometheus-rules`.\ngroups:\n  - name: rampart\n    rules:\n",
    );
    for rule in rules {
        let _ = writeln!(out, "      - alert: {}", rule.name);
        let _ = writeln!(out, "        expr: {}", yaml_string(&rule.text));
        if !rule.for_.is_zero() {
            let _ = writeln!(out, "        for: {}", prometheus_duration(rule.for_));
        }
        let _ = writeln!(
            out,
            "        labels:\n          severity: {}",
            rule.severity.as_str()
        );
        let _ = writeln!(
            out,
            "        annotations:\n          summary: {}",
            yaml_string(&rule.summary)
        );
    }
    out
}

/// A double-quoted YAML scalar (JSON's escaping is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// `90s` → `90s`, `300s` → `5m`, `86400s` → `1d`: the largest unit that divides evenly.
pub fn prometheus_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels() -> Vec<String> {
        vec!["log".to_owned()]
    }

    #[test]
    fn the_built_in_rules_parse_and_are_enough() {
        let rules = rules(
            &[],
            true,
            &channels(),
            &channels(),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(rules.len() >= 15, "{}", rules.len());
        let mut names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len());
    }

    #[test]
    fn configured_rules_replace_switch_off_and_add() {
        let configured: Vec<RuleConfig> = toml::from_str::<toml::Table>(
            r#"
            [[rule]]
            name = "RampartBanStorm"
            expr = "sum(increase(rampart_bans_total[10m])) > 5"
            severity = "error"
            summary = "stricter"
            [[rule]]
            name = "RampartAttackSpike"
            expr = "x"
            severity = "info"
            summary = "off"
            enabled = false
            [[rule]]
            name = "MyOwn"
            expr = "rampart_active_bans > 1000"
            for = "2m"
            severity = "info"
            summary = "many bans"
            "#,
        )
        .unwrap()["rule"]
            .clone()
            .try_into()
            .unwrap();
        let rules = rules(
            &configured,
            true,
            &channels(),
            &channels(),
            Duration::from_millis(500),
        )
        .unwrap();
        let storm = rules.iter().find(|r| r.name == "RampartBanStorm").unwrap();
        assert_eq!(storm.severity, Severity::Error);
        assert!(rules.iter().all(|r| r.name != "RampartAttackSpike"));
        let own = rules.iter().find(|r| r.name == "MyOwn").unwrap();
        assert_eq!(own.for_, Duration::from_secs(120));
        assert_eq!(own.channels, channels());
    }

    #[test]
    fn bad_rules_name_the_rule() {
        let bad = RuleConfig {
            name: "Broken".into(),
            expr: "rate(x[5m]".into(),
            for_: None,
            severity: Severity::Info,
            summary: String::new(),
            channels: Some(vec!["pager".into()]),
            escalate_to: Vec::new(),
            escalate_after: None,
            cooldown: None,
            enabled: true,
        };
        let err = rules(
            std::slice::from_ref(&bad),
            false,
            &channels(),
            &channels(),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("alert rule Broken:"), "{err}");
        let unknown = RuleConfig {
            expr: "x > 1".into(),
            ..bad
        };
        let err = rules(
            &[unknown],
            false,
            &channels(),
            &channels(),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown channel `pager`"), "{err}");
    }

    #[test]
    fn the_latency_rule_follows_the_sla_objective() {
        let rules = rules(
            &[],
            true,
            &channels(),
            &channels(),
            Duration::from_millis(250),
        )
        .unwrap();
        let latency = rules
            .iter()
            .find(|r| r.name == "RampartLatencyOverSlo")
            .unwrap();
        assert!(latency.text.ends_with("> 0.25"), "{}", latency.text);
        assert!(latency.summary.contains("0.25 s"), "{}", latency.summary);
    }

    #[test]
    fn durations_use_prometheus_units() {
        assert_eq!(prometheus_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prometheus_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prometheus_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(prometheus_duration(Duration::from_secs(86_400)), "1d");
    }

    #[test]
    fn the_rules_file_passes_promtool() {
        // The test command installs Debian's prometheus package and names its promtool.
        let Ok(promtool) = std::env::var("RAMPART_TEST_PROMTOOL") else {
            eprintln!("RAMPART_TEST_PROMTOOL is not set; ./scripts/test.sh sets it");
            return;
        };
        let rules = rules(
            &[],
            true,
            &channels(),
            &channels(),
            Duration::from_millis(500),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rampart.rules.yml");
        std::fs::write(&path, prometheus_rules(&rules)).unwrap();
        let output = std::process::Command::new(promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            report.contains(&format!("{} rules found", rules.len())),
            "{report}"
        );
    }
}

#[cfg(test)]
mod each_rule_fires {
    use super::*;
    use crate::alerting::eval::{History, Snapshot, Value};

    /// Two scrapes a minute apart under which the rule's condition holds.
    fn condition(rule: &str) -> (&'static str, &'static str) {
        match rule {
            "RampartUpstreamDown" => (
                "rampart_upstream_targets_up{upstream=\"app\"} 1\n",
                "rampart_upstream_targets_up{upstream=\"app\"} 0\n",
            ),
            "RampartUpstreamDegraded" => (
                "",
                "rampart_upstream_targets_up{upstream=\"app\"} 1\nrampart_upstream_targets{upstream=\"app\"} 2\n",
            ),
            "RampartHighErrorRate" => (
                "rampart_http_requests_total{route=\"/\",status=\"2xx\"} 0\nrampart_http_requests_total{route=\"/\",status=\"5xx\"} 0\n",
                "rampart_http_requests_total{route=\"/\",status=\"2xx\"} 90\nrampart_http_requests_total{route=\"/\",status=\"5xx\"} 10\n",
            ),
            "RampartLatencyOverSlo" => (
                "rampart_http_request_duration_seconds_bucket{le=\"0.5\"} 0\nrampart_http_request_duration_seconds_bucket{le=\"1\"} 0\nrampart_http_request_duration_seconds_bucket{le=\"+Inf\"} 0\n",
                "rampart_http_request_duration_seconds_bucket{le=\"0.5\"} 10\nrampart_http_request_duration_seconds_bucket{le=\"1\"} 100\nrampart_http_request_duration_seconds_bucket{le=\"+Inf\"} 100\n",
            ),
            "RampartUpstreamErrors" => (
                "rampart_upstream_errors_total{upstream=\"app\",kind=\"connect\"} 0\n",
                "rampart_upstream_errors_total{upstream=\"app\",kind=\"connect\"} 120\n",
            ),
            "RampartBruteForce" => (
                "rampart_logins_total{result=\"invalid_credentials\"} 0\n",
                "rampart_logins_total{result=\"invalid_credentials\"} 60\n",
            ),
            "RampartCredentialStuffing" => (
                "rampart_security_events_total{event=\"login_locked_out\"} 0\n",
                "rampart_security_events_total{event=\"login_locked_out\"} 6\n",
            ),
            "RampartRefreshTokenReuse" => (
                "rampart_security_events_total{event=\"refresh_token_reused\"} 0\n",
                "rampart_security_events_total{event=\"refresh_token_reused\"} 1\n",
            ),
            "RampartBanStorm" => (
                "rampart_bans_total{kind=\"automatic\"} 0\n",
                "rampart_bans_total{kind=\"automatic\"} 25\n",
            ),
            "RampartAttackSpike" => (
                "rampart_security_events_total{event=\"attack_blocked\"} 0\n",
                "rampart_security_events_total{event=\"attack_blocked\"} 150\n",
            ),
            "RampartCertificateExpiring" | "RampartCertificateExpiryImminent" => (
                "",
                "rampart_tls_certificate_expiry_timestamp_seconds 86460\n",
            ),
            "RampartCertificateReloadFailed" => (
                "rampart_tls_certificate_reloads_total{result=\"error\"} 0\n",
                "rampart_tls_certificate_reloads_total{result=\"error\"} 1\n",
            ),
            "RampartDiskNearlyFull" => (
                "",
                "rampart_data_dir_free_bytes 5\nrampart_data_dir_size_bytes 100\n",
            ),
            "RampartAuditWriteFailures" => (
                "rampart_audit_records_total{result=\"failed\"} 0\n",
                "rampart_audit_records_total{result=\"failed\"} 3\n",
            ),
            "RampartAuditBacklog" => ("", "rampart_audit_queue 20000\n"),
            "RampartRedisErrors" => (
                "rampart_redis_errors_total{kind=\"bans\"} 0\n",
                "rampart_redis_errors_total{kind=\"bans\"} 60\n",
            ),
            "RampartFileDescriptorsNearLimit" => {
                ("", "process_open_fds 900\nprocess_max_fds 1024\n")
            }
            other => panic!("no synthetic condition for {other}: add one"),
        }
    }

    #[test]
    fn every_built_in_rule_fires_on_its_condition_and_not_on_quiet_metrics() {
        let log = vec!["log".to_owned()];
        for rule in rules(&[], true, &log, &log, Duration::from_millis(500)).unwrap() {
            let (before, after) = condition(&rule.name);
            let mut firing = History::new(Duration::from_secs(3600));
            firing.record(Snapshot::parse(0.0, before));
            firing.record(Snapshot::parse(60.0, after));
            match firing.eval(&rule.expr).unwrap() {
                Value::Vector(v) => assert!(!v.is_empty(), "{} did not fire", rule.name),
                Value::Scalar(s) => panic!("{} is a number: {s}", rule.name),
            }
            // The earlier scrape, unchanged for a minute, is quiet.
            let mut quiet = History::new(Duration::from_secs(3600));
            quiet.record(Snapshot::parse(0.0, before));
            quiet.record(Snapshot::parse(60.0, before));
            if let Value::Vector(v) = quiet.eval(&rule.expr).unwrap() {
                assert!(v.is_empty(), "{} fired on quiet metrics: {v:?}", rule.name);
            }
        }
    }
}
