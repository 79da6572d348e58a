//! Bans: a client that keeps misbehaving (rate-limit refusals, attack-filter blocks, failed
//! logins, the app's own 401/403 answers) is refused at the door for a while, like fail2ban
//! but in the request path. Repeat offenders get doubling bans; admins ban and unban by hand
//! (admin API, `rampart ban`); addresses on the allowlist are never banned.
//!
//! The store holds the bans, so they survive restarts, reach every instance sharing a
//! PostgreSQL store and can be changed by the CLI; each instance polls it every
//! `sync_interval` and answers from an in-memory snapshot, so the check costs one hash lookup.
//! Violation counters live in the process, or in Redis when configured so that violations
//! add up across instances. IPv6 clients are banned by /64, the block one subscriber holds.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;

use crate::audit::Audit;
use crate::cluster::Cluster;
use crate::config::{HumanDuration, IpCidr};
use crate::identity::events::SecurityEvent;
use crate::observability::metrics::Metrics;
use crate::store::{BanRecord, BanStore, Store, StoreError, unix_now, unix_now_ms as now_ms};

/// The `until` of a ban without end (9999-12-31).
pub const PERMANENT: i64 = 253_402_300_799;

/// `[bans]`: automatic bans after repeated violations.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BansConfig {
    /// Ban automatically; manual bans work either way.
    pub enabled: bool,
    /// Violations within `window` that ban a client.
    pub threshold: u32,
    pub window: HumanDuration,
    /// The first ban; each further one within `repeat_window` doubles, up to `max_duration`.
    pub duration: HumanDuration,
    pub max_duration: HumanDuration,
    pub repeat_window: HumanDuration,
    /// What counts as a violation.
    pub count: Vec<Violation>,
    /// Addresses and networks never banned (by default loopback, so a local reverse proxy
    /// that is not listed in `trusted_proxies` cannot get everyone banned).
    pub allowlist: Vec<IpCidr>,
    /// How often bans made elsewhere (other instances, `rampart ban`) are picked up.
    pub sync_interval: HumanDuration,
}

impl Default for BansConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 20,
            window: HumanDuration::secs(600),
            duration: HumanDuration::secs(900),
            max_duration: HumanDuration::secs(86_400),
            repeat_window: HumanDuration::secs(86_400),
            count: vec![
                Violation::RateLimited,
                Violation::Attack,
                Violation::LoginFailed,
                Violation::UpstreamDenied,
            ],
            allowlist: ["127.0.0.0/8", "::1/128"]
                .iter()
                .map(|net| IpCidr(net.parse().expect("the default allowlist parses")))
                .collect(),
            sync_interval: HumanDuration::secs(1),
        }
    }
}

/// Misbehaviour that counts towards a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Violation {
    /// A 429 from a rate limit.
    RateLimited,
    /// A request the attack filter blocked.
    Attack,
    /// A login with a wrong user name, password or second factor.
    LoginFailed,
    /// The app itself answered 401 or 403.
    UpstreamDenied,
}

impl Violation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Attack => "attack",
            Self::LoginFailed => "login_failed",
            Self::UpstreamDenied => "upstream_denied",
        }
    }
}

/// Why a manual ban was refused.
#[derive(Debug, thiserror::Error)]
pub enum BanError {
    #[error("`{0}` is not an IP address")]
    NotAnAddress(String),
    #[error("{0} is on the ban allowlist")]
    Allowlisted(IpAddr),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The subject a client is banned as: IPv4 addresses (also IPv4-mapped IPv6) as they are,
/// IPv6 addresses as their /64.
pub fn subject_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & (u128::MAX << 64))),
        },
    }
}

/// How a subject is written in the store and shown to people: `203.0.113.7`, `2001:db8::/64`.
pub fn subject_name(subject: IpAddr) -> String {
    match subject {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Reads an address as typed by an admin: `203.0.113.7`, `2001:db8::1` or `2001:db8::/64`.
pub fn parse_subject(text: &str) -> Result<IpAddr, BanError> {
    let address = text.strip_suffix("/64").unwrap_or(text);
    address
        .parse::<IpAddr>()
        .map(subject_of)
        .map_err(|_| BanError::NotAnAddress(text.to_owned()))
}

/// Records a manual ban in the store (what the admin API and `rampart ban add` do); `None`
/// as duration bans without end.
pub async fn ban_manually(
    store: &Store,
    audit: &Audit,
    allowlist: &[IpCidr],
    subject: IpAddr,
    duration: Option<Duration>,
    reason: &str,
    actor: &str,
) -> Result<BanRecord, BanError> {
    if allowlist.iter().any(|net| net.contains(&subject)) {
        return Err(BanError::Allowlisted(subject));
    }
    let now = unix_now();
    let until = duration.map_or(PERMANENT, |d| {
        now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .min(PERMANENT)
    });
    let record = BanRecord {
        subject: subject_name(subject),
        until,
        reason: reason.to_owned(),
        source: actor.to_owned(),
        strikes: 0,
        created_at: now,
        changed_ms: now_ms(),
    };
    store.put_ban(&record).await?;
    audit
        .emit(
            &SecurityEvent::Banned {
                subject: &record.subject,
                until,
                reason,
                source: actor,
            },
            "",
        )
        .await;
    Ok(record)
}

/// Lifts a ban in force; `false` when there was none.
pub async fn unban(
    store: &Store,
    audit: &Audit,
    subject: IpAddr,
    actor: &str,
) -> Result<bool, StoreError> {
    let name = subject_name(subject);
    let lifted = store.lift_ban(&name, unix_now(), now_ms()).await?;
    if lifted {
        audit
            .emit(
                &SecurityEvent::Unbanned {
                    subject: &name,
                    actor,
                },
                "",
            )
            .await;
    }
    Ok(lifted)
}

/// Violations counted in this process: per subject, the window's start and its count.
type LocalCounts = Mutex<HashMap<IpAddr, (i64, u32)>>;

/// The bans in force and the violation counters, shared by every worker.
pub struct Bans {
    config: BansConfig,
    store: Arc<Store>,
    /// Subject → end of its ban (unix seconds). Replaced whole on change; read lock-free.
    in_force: ArcSwap<HashMap<IpAddr, i64>>,
    counts: LocalCounts,
    cluster: Option<Cluster>,
    metrics: Arc<Metrics>,
    audit: Audit,
    /// Store changes up to here have been applied.
    synced_ms: AtomicI64,
    /// Serialises snapshot rebuilds so that two writers do not lose each other's change.
    rebuild: tokio::sync::Mutex<()>,
}

/// Counts one violation in Redis; the first one of a window sets its expiry.
const COUNT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
";

static COUNT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(COUNT_SCRIPT));

impl Bans {
    /// Loads the bans in force from the store.
    pub async fn load(
        config: BansConfig,
        store: Arc<Store>,
        cluster: Option<Cluster>,
        metrics: Arc<Metrics>,
        audit: Audit,
    ) -> Result<Self, StoreError> {
        let bans = Self {
            config,
            store,
            in_force: ArcSwap::default(),
            counts: Mutex::default(),
            cluster,
            metrics,
            audit,
            synced_ms: AtomicI64::new(0),
            rebuild: tokio::sync::Mutex::new(()),
        };
        bans.sync().await?;
        Ok(bans)
    }

    pub fn allowlist(&self) -> &[IpCidr] {
        &self.config.allowlist
    }

    pub fn sync_interval(&self) -> Duration {
        self.config.sync_interval.0
    }

    fn allowlisted(&self, ip: IpAddr) -> bool {
        self.config.allowlist.iter().any(|net| net.contains(&ip))
    }

    /// How long `ip` stays banned, or `None` when it may pass. The hot path: one lookup.
    pub fn check(&self, ip: IpAddr, now: i64) -> Option<Duration> {
        let in_force = self.in_force.load();
        if in_force.is_empty() {
            return None;
        }
        let until = *in_force.get(&subject_of(ip))?;
        if until <= now || self.allowlisted(ip) {
            return None;
        }
        Some(Duration::from_secs(u64::try_from(until - now).unwrap_or(0)))
    }

    /// Counts a violation by `ip`; at the threshold, bans it.
    pub async fn violation(&self, ip: IpAddr, kind: Violation, request_id: &str) {
        if !self.config.enabled || !self.config.count.contains(&kind) || self.allowlisted(ip) {
            return;
        }
        self.metrics.ban_violation(kind.as_str());
        let subject = subject_of(ip);
        let now = unix_now();
        let count = match self.count_shared(subject).await {
            Some(count) => count,
            None => self.count_locally(subject, now),
        };
        if count != u64::from(self.config.threshold) {
            return;
        }
        if let Err(err) = self.ban_automatically(subject, kind, now, request_id).await {
            tracing::error!(request_id, error = %err, "recording a ban failed");
        }
    }

    async fn count_shared(&self, subject: IpAddr) -> Option<u64> {
        let cluster = self.cluster.as_ref()?;
        let key = cluster.key(&format!("violations:{}", subject_name(subject)));
        let window_ms = u64::try_from(self.config.window.0.as_millis()).unwrap_or(u64::MAX);
        let mut connection = cluster.connection();
        match COUNT
            .key(key)
            .arg(window_ms)
            .invoke_async::<u64>(&mut connection)
            .await
        {
            Ok(count) => Some(count),
            Err(err) => {
                self.metrics.redis_error("bans");
                tracing::warn!(error = %err, "Redis violation count failed; counting in this instance");
                None
            }
        }
    }

    fn count_locally(&self, subject: IpAddr, now: i64) -> u64 {
        let window = i64::try_from(self.config.window.0.as_secs()).unwrap_or(i64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(subject).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        let count = u64::from(entry.1);
        if count >= u64::from(self.config.threshold) {
            counts.remove(&subject);
        }
        count
    }

    async fn ban_automatically(
        &self,
        subject: IpAddr,
        kind: Violation,
        now: i64,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let name = subject_name(subject);
        let repeat_window = i64::try_from(self.config.repeat_window.0.as_secs()).unwrap_or(0);
        let strikes = match self.store.ban_record(&name).await? {
            Some(last) if last.strikes > 0 && last.created_at >= now - repeat_window => {
                last.strikes + 1
            }
            _ => 1,
        };
        let doubling = 2u32.saturating_pow(u32::try_from(strikes - 1).unwrap_or(u32::MAX));
        let duration = self
            .config
            .duration
            .0
            .saturating_mul(doubling)
            .min(self.config.max_duration.0);
        let until = now + i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        let reason = format!(
            "{} violations within {}s (last: {})",
            self.config.threshold,
            self.config.window.0.as_secs(),
            kind.as_str()
        );
        let record = BanRecord {
            subject: name,
            until,
            reason,
            source: "automatic".into(),
            strikes,
            created_at: now,
            changed_ms: now_ms(),
        };
        self.store.put_ban(&record).await?;
        self.metrics.banned("automatic");
        self.audit
            .emit(
                &SecurityEvent::Banned {
                    subject: &record.subject,
                    until,
                    reason: &record.reason,
                    source: "automatic",
                },
                request_id,
            )
            .await;
        self.apply(&[record], now).await;
        Ok(())
    }

    /// A manual ban, in force here at once and elsewhere within `sync_interval`.
    pub async fn ban(
        &self,
        subject: IpAddr,
        duration: Option<Duration>,
        reason: &str,
        actor: &str,
    ) -> Result<BanRecord, BanError> {
        let record = ban_manually(
            &self.store,
            &self.audit,
            &self.config.allowlist,
            subject_of(subject),
            duration,
            reason,
            actor,
        )
        .await?;
        self.metrics.banned("manual");
        self.apply(std::slice::from_ref(&record), unix_now()).await;
        Ok(record)
    }

    /// Lifts a ban here at once and elsewhere within `sync_interval`.
    pub async fn unban(&self, subject: IpAddr, actor: &str) -> Result<bool, StoreError> {
        let lifted = unban(&self.store, &self.audit, subject_of(subject), actor).await?;
        if lifted {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.remove(&subject_of(subject));
        }
        self.sync().await?;
        Ok(lifted)
    }

    /// The bans in force, newest first.
    pub async fn list(&self) -> Result<Vec<BanRecord>, StoreError> {
        self.store.active_bans(unix_now()).await
    }

    /// Applies the store's changes since the last sync (with a margin for writes that
    /// committed late) and drops bans that ended.
    pub async fn sync(&self) -> Result<(), StoreError> {
        /// Writes by other instances may commit this long after their timestamp.
        const MARGIN_MS: i64 = 5_000;
        let started = now_ms();
        let since = self.synced_ms.load(Ordering::Relaxed);
        let changed = if since == 0 {
            self.store.active_bans(unix_now()).await?
        } else {
            self.store.bans_changed_since(since - MARGIN_MS).await?
        };
        self.apply(&changed, unix_now()).await;
        self.synced_ms.store(started, Ordering::Relaxed);
        Ok(())
    }

    /// Merges `records` into the snapshot and drops ended bans.
    async fn apply(&self, records: &[BanRecord], now: i64) {
        let _guard = self.rebuild.lock().await;
        let current = self.in_force.load();
        let unchanged = records.iter().all(|record| {
            parse_subject(&record.subject).is_ok_and(|subject| {
                let in_force = record.until > now;
                current.get(&subject).copied() == in_force.then_some(record.until)
            })
        }) && current.values().all(|until| *until > now);
        if unchanged {
            return;
        }
        let mut next: HashMap<IpAddr, i64> = current
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(subject, until)| (*subject, *until))
            .collect();
        for record in records {
            let Ok(subject) = parse_subject(&record.subject) else {
                tracing::warn!(subject = %record.subject, "ignoring a ban on something that is not an address");
                continue;
            };
            if record.until > now {
                next.insert(subject, record.until);
            } else {
                next.remove(&subject);
            }
        }
        self.metrics.set_active_bans(next.len());
        self.in_force.store(Arc::new(next));
    }

    /// Forgets violation counts whose window has passed and ban records a day past their
    /// end (the repeat window needs no more).
    pub async fn housekeeping(&self) {
        let now = unix_now();
        let window = i64::try_from(self.config.window.0.as_secs()).unwrap_or(i64::MAX);
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (start, _)| now - *start < window);
        let keep = i64::try_from(self.config.repeat_window.0.as_secs()).unwrap_or(0);
        if let Err(err) = self.store.prune_bans(now - keep).await {
            tracing::warn!(error = %err, "pruning old bans failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_group_ipv6_by_64_and_unmap_ipv4() {
        let v6 = subject_of("2001:db8:1:2:aaaa::7".parse().unwrap());
        assert_eq!(subject_name(v6), "2001:db8:1:2::/64");
        assert_eq!(parse_subject("2001:db8:1:2::/64").unwrap(), v6);
        assert_eq!(parse_subject("2001:db8:1:2:ffff::1").unwrap(), v6);
        let mapped = subject_of("::ffff:203.0.113.9".parse().unwrap());
        assert_eq!(subject_name(mapped), "203.0.113.9");
        assert!(matches!(
            parse_subject("example.com"),
            Err(BanError::NotAnAddress(_))
        ));
    }

    async fn bans(config: BansConfig) -> (Bans, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        let bans = Bans::load(
            config,
            Arc::new(store),
            None,
            Arc::new(Metrics::new()),
            Audit::log_only(),
        )
        .await
        .unwrap();
        (bans, dir)
    }

    #[tokio::test]
    async fn the_threshold_bans_and_repeat_bans_double() {
        let config = BansConfig {
            threshold: 3,
            duration: HumanDuration::secs(60),
            max_duration: HumanDuration::secs(150),
            ..BansConfig::default()
        };
        let (bans, _dir) = bans(config).await;
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let now = unix_now();
        for _ in 0..2 {
            bans.violation(client, Violation::RateLimited, "r").await;
        }
        assert!(bans.check(client, now).is_none(), "under the threshold");
        bans.violation(client, Violation::Attack, "r").await;
        let left = bans.check(client, now).expect("banned at the threshold");
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert!(bans.check("203.0.113.8".parse().unwrap(), now).is_none());

        // The next ban within the repeat window lasts twice as long, then hits the ceiling.
        for expected in [120, 150] {
            for _ in 0..3 {
                bans.violation(client, Violation::LoginFailed, "r").await;
            }
            let left = bans.check(client, now).unwrap().as_secs();
            assert!(
                left > expected - 5 && left <= expected,
                "{left} vs {expected}"
            );
        }
        let record = bans.list().await.unwrap().remove(0);
        assert_eq!((record.strikes, record.source.as_str()), (3, "automatic"));
        assert!(record.reason.contains("login_failed"), "{}", record.reason);
    }

    #[tokio::test]
    async fn allowlisted_and_uncounted_violations_never_ban() {
        let config = BansConfig {
            threshold: 1,
            count: vec![Violation::Attack],
            ..BansConfig::default()
        };
        let (bans, _dir) = bans(config).await;
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        bans.violation(loopback, Violation::Attack, "r").await;
        assert!(bans.check(loopback, unix_now()).is_none());
        let client: IpAddr = "198.51.100.4".parse().unwrap();
        bans.violation(client, Violation::UpstreamDenied, "r").await;
        assert!(bans.check(client, unix_now()).is_none(), "not counted");
        assert!(matches!(
            bans.ban(loopback, None, "test", "admin").await,
            Err(BanError::Allowlisted(_))
        ));
    }

    #[tokio::test]
    async fn manual_bans_cover_a_v6_64_and_unban_lifts_them() {
        let (bans, _dir) = bans(BansConfig::default()).await;
        let one: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let record = bans.ban(one, None, "abuse", "admin").await.unwrap();
        assert_eq!(
            (record.subject.as_str(), record.until),
            ("2001:db8::/64", PERMANENT)
        );
        assert!(bans.check(neighbour, unix_now()).is_some());
        assert!(bans.unban(neighbour, "admin").await.unwrap());
        assert!(bans.check(one, unix_now()).is_none());
        assert!(!bans.unban(one, "admin").await.unwrap());
    }

    #[tokio::test]
    async fn bans_written_elsewhere_arrive_with_the_next_sync() {
        let (bans, _dir) = bans(BansConfig::default()).await;
        let client: IpAddr = "192.0.2.44".parse().unwrap();
        ban_manually(
            &bans.store,
            &Audit::log_only(),
            &[],
            client,
            Some(Duration::from_secs(60)),
            "cli",
            "cli",
        )
        .await
        .unwrap();
        assert!(bans.check(client, unix_now()).is_none(), "not yet synced");
        bans.sync().await.unwrap();
        assert!(bans.check(client, unix_now()).is_some());
        unban(&bans.store, &Audit::log_only(), client, "cli")
            .await
            .unwrap();
        bans.sync().await.unwrap();
        assert!(bans.check(client, unix_now()).is_none());
    }
}
