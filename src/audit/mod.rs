//! The tamper-evident audit log: who did what, to what, with what outcome. Every security
//! event ([`SecurityEvent`]) is written as a record chained to the one before by SHA-256
//! ([`chain`]), committed in batches by one writer ([`writer`]), and covered by Ed25519-signed
//! checkpoints ([`signing`]) so [`verify`] can tell a rewritten log from the one written.
//! Client addresses are stored as keyed pseudonyms.

pub mod chain;
pub mod export;
pub mod signing;
pub mod trail;
pub mod verify;
pub mod writer;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use self::chain::AuditEntry;
use self::signing::CheckpointSigner;
use self::writer::{AuditWriter, CheckpointPolicy};
use crate::config::{Config, HumanDuration};
use crate::identity::events::{SecurityEvent, log_event};
use crate::observability::metrics::Metrics;
use crate::privacy::pseudonym::Pseudonymizer;
use crate::privacy::redact::{IpMode, Redactor};
use crate::store::{Store, unix_now_ms as now_ms};

/// `[audit]`: the audit log.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Write security events to the audit log (they are logged either way).
    pub enabled: bool,
    /// Records older than this are pruned (a signed checkpoint keeps the rest verifiable).
    pub retention: HumanDuration,
    /// Sign a checkpoint after this many records...
    pub checkpoint_every: u64,
    /// ...or after this much time with unsigned records, whichever comes first.
    pub checkpoint_interval: HumanDuration,
    /// The Ed25519 key (PKCS#8) that signs checkpoints; default `DATA_DIR/audit-signing.key`,
    /// made at first start. `rampart audit public-key` prints what verifiers need.
    pub signing_key_file: Option<PathBuf>,
    /// Also keep a hash-chained trail of every request answered (see [`trail`]).
    pub requests: bool,
    /// Where the request trail's daily files go; default `DATA_DIR/audit-requests`.
    pub requests_dir: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention: HumanDuration::secs(90 * 86_400),
            checkpoint_every: 10_000,
            checkpoint_interval: HumanDuration::secs(60),
            signing_key_file: None,
            requests: false,
            requests_dir: None,
        }
    }
}

impl AuditConfig {
    /// The request trail's directory.
    pub fn requests_dir(&self, data_dir: &Path) -> PathBuf {
        self.requests_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("audit-requests"))
    }

    /// The signing key's path and whether it may be created.
    pub fn signing_key(&self, data_dir: &Path) -> (PathBuf, bool) {
        match &self.signing_key_file {
            Some(path) => (path.clone(), false),
            None => (data_dir.join("audit-signing.key"), true),
        }
    }
}

/// Where security events go: the log always, and the audit log when it is on. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Option<Arc<Recorder>>,
    /// Counts events by name (`rampart_security_events_total`).
    metrics: Option<Arc<Metrics>>,
}

struct Recorder {
    writer: AuditWriter,
    pseudonyms: Arc<Pseudonymizer>,
    /// Cleans `details`, which may quote reasons and values from outside.
    redactor: Redactor,
}

impl Audit {
    /// Security events are logged only.
    pub fn log_only() -> Self {
        Self {
            inner: None,
            metrics: None,
        }
    }

    /// Security events are logged and counted, not written to the audit log.
    pub fn log_and_count(metrics: Arc<Metrics>) -> Self {
        Self {
            inner: None,
            metrics: Some(metrics),
        }
    }

    /// Starts the writer for `store`.
    pub fn start(
        store: Arc<Store>,
        config: &AuditConfig,
        signer: Arc<CheckpointSigner>,
        pseudonyms: Pseudonymizer,
        metrics: Arc<Metrics>,
    ) -> Self {
        let policy = CheckpointPolicy {
            every: config.checkpoint_every.max(1),
            interval: config.checkpoint_interval.0,
        };
        let writer = AuditWriter::start(store, signer, policy, metrics.clone());
        let pseudonyms = Arc::new(pseudonyms);
        let redactor = Redactor::new(pseudonyms.clone(), IpMode::Pseudonymize);
        Self {
            inner: Some(Arc::new(Recorder {
                writer,
                pseudonyms,
                redactor,
            })),
            metrics: Some(metrics),
        }
    }

    /// Logs `event` and, with the audit log on, returns once its record is durable. A
    /// failed write is logged and counted (`rampart_audit_records_total{result="failed"}`);
    /// the action it records has already happened.
    pub async fn emit(&self, event: &SecurityEvent<'_>, request_id: &str) {
        log_event(event, request_id);
        if let Some(metrics) = &self.metrics {
            metrics.security_event(event.name());
        }
        if let Some(recorder) = self.inner.as_ref().filter(|_| is_audited(event)) {
            let mut entry = entry_for(event, request_id, &recorder.pseudonyms);
            if let Cow::Owned(clean) = recorder.redactor.redact(&entry.details) {
                entry.details = clean;
            }
            if let Err(err) = recorder.writer.append(entry).await {
                tracing::error!(event = event.name(), request_id, error = %err, "audit record not written");
            }
        }
    }

    /// Events waiting for the writer.
    pub fn queued(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.writer.queued())
    }

    /// Writes what is queued and signs a last checkpoint.
    pub async fn close(&self) {
        if let Some(recorder) = &self.inner {
            recorder.writer.close().await;
        }
    }
}

/// What the daily audit pruning needs: the store, the checkpoint key, the retention.
pub type Retention = (Arc<Store>, Arc<CheckpointSigner>, std::time::Duration);

/// The audit log `config` asks for: a writer with its signing and pseudonym keys when it is
/// on (keys made in the data directory at first start), logging only when it is off.
pub fn open(
    config: &Config,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
) -> Result<(Audit, Option<Retention>), String> {
    if !config.audit.enabled {
        return Ok((Audit::log_and_count(metrics.clone()), None));
    }
    let signer = Arc::new(signer(config)?);
    let pseudonyms = crate::privacy::pseudonymizer(config)?;
    let audit = Audit::start(
        store.clone(),
        &config.audit,
        signer.clone(),
        pseudonyms,
        metrics.clone(),
    );
    Ok((
        audit,
        Some((store.clone(), signer, config.audit.retention.0)),
    ))
}

/// The request trail `config` asks for, started; `None` when it is off.
pub fn request_trail(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<Option<trail::RequestTrail>, String> {
    if !(config.audit.enabled && config.audit.requests) {
        return Ok(None);
    }
    trail::RequestTrail::start(
        config.audit.requests_dir(&config.data_dir),
        Arc::new(crate::privacy::pseudonymizer(config)?),
        Arc::new(signer(config)?),
        config.audit.checkpoint_interval.0,
        metrics.clone(),
    )
    .map(Some)
}

/// The checkpoint signing key of `config`.
pub fn signer(config: &Config) -> Result<CheckpointSigner, String> {
    let (path, create) = config.audit.signing_key(&config.data_dir);
    CheckpointSigner::from_file(&path, create)
}

/// Deletes records older than `retention`, leaving a signed checkpoint at the newest one
/// deleted so that verification can start after it. Returns how many were deleted.
pub async fn prune(
    store: &Store,
    signer: &CheckpointSigner,
    retention: std::time::Duration,
) -> Result<u64, crate::store::StoreError> {
    use crate::store::AuditStore;
    let cutoff = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    store
        .prune_audit(cutoff, &|last| signer.sign(last.seq, &last.hash, now_ms()))
        .await
}

/// Prunes the audit log at start and then daily.
pub async fn retention_loop(
    store: Arc<Store>,
    signer: Arc<CheckpointSigner>,
    retention: std::time::Duration,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
    loop {
        every.tick().await;
        match prune(&store, &signer, retention).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(
                event = "audit_pruned",
                records = pruned,
                "old audit records pruned"
            ),
            Err(err) => tracing::error!(error = %err, "pruning the audit log failed"),
        }
    }
}

/// Whether `event` becomes an audit record, not only a log line and a count. Refusals that
/// anyone can cause without an account (a request without credentials to a protected route,
/// a made-up bearer token) are left out: each would otherwise cost a durable write, a cheap
/// way to flood the log, and they say nothing about who did what. Their counts are in
/// `rampart_security_events_total`.
fn is_audited(event: &SecurityEvent<'_>) -> bool {
    !matches!(
        event,
        SecurityEvent::AccessDenied { user: None, .. } | SecurityEvent::TokenRejected { .. }
    )
}

/// The audit record of `event`: who, what, on what, with which outcome.
fn entry_for(
    event: &SecurityEvent<'_>,
    request_id: &str,
    pseudonyms: &Pseudonymizer,
) -> AuditEntry {
    let ip = |ip: IpAddr| pseudonyms.ip(ip);
    let (actor, action, resource, resource_id, outcome, ip, details) = match *event {
        SecurityEvent::LoginSucceeded { user, ip: addr } => (
            user,
            "login",
            "session",
            user.to_owned(),
            "success",
            ip(addr),
            json!({}),
        ),
        SecurityEvent::LoginFailed { user, ip: addr } => (
            user,
            "login",
            "session",
            user.to_owned(),
            "failure",
            ip(addr),
            json!({}),
        ),
        SecurityEvent::LoginLockedOut {
            user,
            until,
            ip: addr,
        } => (
            user,
            "lockout",
            "user",
            user.to_owned(),
            "denied",
            ip(addr),
            json!({ "until": until }),
        ),
        SecurityEvent::Logout { user, ip: addr } => {
            let user = user.unwrap_or("-");
            (
                user,
                "logout",
                "session",
                user.to_owned(),
                "success",
                ip(addr),
                json!({}),
            )
        }
        SecurityEvent::LogoutEverywhere {
            user,
            sessions,
            ip: addr,
        } => (
            user,
            "logout_everywhere",
            "session",
            user.to_owned(),
            "success",
            ip(addr),
            json!({ "sessions": sessions }),
        ),
        SecurityEvent::RefreshTokenReused { user_id, ip: addr } => (
            "-",
            "refresh_token_reused",
            "user",
            user_id.to_owned(),
            "denied",
            ip(addr),
            json!({}),
        ),
        SecurityEvent::TokenRejected { reason, ip: addr } => (
            "-",
            "token_rejected",
            "token",
            String::new(),
            "denied",
            ip(addr),
            json!({ "reason": reason }),
        ),
        SecurityEvent::AdminAction {
            actor,
            action,
            target,
            ip: addr,
        } => (
            actor,
            action,
            "admin",
            target.to_owned(),
            "success",
            ip(addr),
            json!({}),
        ),
        SecurityEvent::AccessDenied {
            user,
            route,
            ip: addr,
        } => (
            user.unwrap_or("-"),
            "access",
            "route",
            route.to_owned(),
            "denied",
            ip(addr),
            json!({}),
        ),
        SecurityEvent::Banned {
            subject,
            until,
            reason,
            source,
        } => (
            source,
            "ban",
            "client",
            pseudonyms.token("ip", subject),
            "success",
            String::new(),
            json!({ "until": until, "reason": reason }),
        ),
        SecurityEvent::Unbanned { subject, actor } => (
            actor,
            "unban",
            "client",
            pseudonyms.token("ip", subject),
            "success",
            String::new(),
            json!({}),
        ),
        SecurityEvent::Reloaded { what, ok, detail } => (
            "system",
            "reload",
            what,
            String::new(),
            if ok { "success" } else { "failure" },
            String::new(),
            json!({ "detail": detail }),
        ),
        SecurityEvent::AttackBlocked {
            route,
            rule,
            family,
            location,
            ip: addr,
        } => (
            "-",
            "attack_blocked",
            "route",
            route.to_owned(),
            "denied",
            ip(addr),
            json!({ "rule": rule, "family": family, "location": location }),
        ),
    };
    AuditEntry {
        time_ms: now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        resource: resource.to_owned(),
        resource_id,
        outcome: outcome.to_owned(),
        ip,
        request_id: request_id.to_owned(),
        purpose: String::new(),
        details: details.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_refusals_are_counted_not_recorded() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!is_audited(&SecurityEvent::AccessDenied {
            user: None,
            route: "/admin",
            ip
        }));
        assert!(!is_audited(&SecurityEvent::TokenRejected {
            reason: "invalid",
            ip
        }));
        assert!(is_audited(&SecurityEvent::AccessDenied {
            user: Some("ana"),
            route: "/admin",
            ip
        }));
        assert!(is_audited(&SecurityEvent::LoginFailed { user: "ana", ip }));
    }

    #[test]
    fn records_name_the_actor_and_pseudonymize_addresses() {
        let pseudonyms = Pseudonymizer::new(&[7; 32]);
        let ip: IpAddr = "198.51.100.23".parse().unwrap();
        let entry = entry_for(
            &SecurityEvent::LoginFailed { user: "ana", ip },
            "req-1",
            &pseudonyms,
        );
        assert_eq!(
            (
                entry.actor.as_str(),
                entry.action.as_str(),
                entry.outcome.as_str()
            ),
            ("ana", "login", "failure")
        );
        assert_eq!(entry.ip, pseudonyms.ip(ip));
        assert_eq!(entry.request_id, "req-1");
        let ban = entry_for(
            &SecurityEvent::Banned {
                subject: "198.51.100.23",
                until: 10,
                reason: "manual",
                source: "root",
            },
            "",
            &pseudonyms,
        );
        assert_eq!(ban.resource_id, pseudonyms.ip(ip));
        assert!(!ban.details.contains("198.51"));
        let details: serde_json::Value = serde_json::from_str(&ban.details).unwrap();
        assert_eq!(details["until"], 10);
    }
}
