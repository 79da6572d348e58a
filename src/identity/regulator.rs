//! The brute-force regulator. Deciding whether a login may be tried and recording how it went
//! are separate steps, and a locked attempt still runs the password check (against the real
//! hash or a decoy): a lockout must look and take exactly like a wrong password, or it would
//! tell an attacker which names exist and when to come back.
//!
//! A user is locked after `lockout_max_failures` failures within `lockout_window` (counting
//! since the last success), for `lockout_duration`, doubling for every further round of
//! failures within a day up to `lockout_max_duration`. An address is throttled after
//! `ip_max_failures` failures within the window, whatever names it tries (credential
//! stuffing). Both come from the shared attempts table, so all instances agree.

use std::net::IpAddr;
use std::time::Duration;

use crate::store::{AttemptStore, StoreError};

const DAY_SECONDS: i64 = 86_400;

/// The regulator's settings, from `[identity]`.
#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub duration: Duration,
    pub max_duration: Duration,
    pub ip_max_failures: u32,
}

/// Whether a login may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Open,
    /// The user name is locked until this time.
    User {
        until: i64,
    },
    /// The client address is throttled until this time.
    Address {
        until: i64,
    },
}

/// Decides, from recorded attempts, whether `username` may log in from `ip` now.
pub async fn decide(
    store: &dyn AttemptStore,
    policy: &LockoutPolicy,
    username: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Lock, StoreError> {
    let window = policy.window.as_secs() as i64;
    let max = i64::from(policy.max_failures.max(1));
    let recent = store.user_failures(username, now - window).await?;
    if recent.count >= max {
        // Rounds of failures within a day set how long the lock lasts.
        let rounds = store
            .user_failures(username, now - DAY_SECONDS)
            .await?
            .count
            / max;
        let doublings = u32::try_from(rounds.saturating_sub(1).min(30)).unwrap_or(30);
        let duration = (policy.duration.as_secs() as i64)
            .saturating_mul(1_i64 << doublings)
            .min(policy.max_duration.as_secs() as i64);
        let until = recent.last_at.unwrap_or(now) + duration;
        if now < until {
            return Ok(Lock::User { until });
        }
    }
    let from_ip = store.ip_failures(&ip.to_string(), now - window).await?;
    if from_ip.count >= i64::from(policy.ip_max_failures.max(1)) {
        return Ok(Lock::Address {
            until: from_ip.last_at.unwrap_or(now) + window,
        });
    }
    Ok(Lock::Open)
}

/// Records how an attempt went.
pub async fn record(
    store: &dyn AttemptStore,
    username: &str,
    ip: IpAddr,
    success: bool,
    now: i64,
) -> Result<(), StoreError> {
    store
        .record_attempt(username, &ip.to_string(), success, now)
        .await
}

/// Forgets attempts older than a day; run periodically.
pub async fn prune(store: &dyn AttemptStore, now: i64) -> Result<(), StoreError> {
    store.prune_attempts(now - DAY_SECONDS).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 3,
            window: Duration::from_secs(600),
            duration: Duration::from_secs(60),
            max_duration: Duration::from_secs(600),
            ip_max_failures: 10,
        }
    }

    #[tokio::test]
    async fn users_lock_after_repeated_failures_and_locks_grow() {
        let (store, _dir) = stores().await.remove(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = 1_000_000;
        for i in 0..2 {
            record(&store, "ana", ip, false, t + i).await.unwrap();
        }
        assert_eq!(
            decide(&store, &policy(), "ana", ip, t + 2).await.unwrap(),
            Lock::Open
        );
        record(&store, "ana", ip, false, t + 2).await.unwrap();
        assert_eq!(
            decide(&store, &policy(), "ana", ip, t + 3).await.unwrap(),
            Lock::User { until: t + 62 }
        );
        assert_eq!(
            decide(&store, &policy(), "bob", ip, t + 3).await.unwrap(),
            Lock::Open,
            "other users are not locked"
        );
        assert_eq!(
            decide(&store, &policy(), "ana", ip, t + 62).await.unwrap(),
            Lock::Open,
            "the lock expires"
        );
        for i in 0..3 {
            record(&store, "ana", ip, false, t + 100 + i).await.unwrap();
        }
        // Second round within a day: twice as long.
        assert_eq!(
            decide(&store, &policy(), "ana", ip, t + 103).await.unwrap(),
            Lock::User {
                until: t + 102 + 120
            }
        );
        record(&store, "ana", ip, true, t + 300).await.unwrap();
        assert_eq!(
            decide(&store, &policy(), "ana", ip, t + 301).await.unwrap(),
            Lock::Open,
            "a success resets the count"
        );
    }

    #[tokio::test]
    async fn addresses_trying_many_names_are_throttled() {
        let (store, _dir) = stores().await.remove(0);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t = 2_000_000;
        for i in 0..10 {
            record(&store, &format!("user{i}"), ip, false, t + i)
                .await
                .unwrap();
        }
        assert_eq!(
            decide(&store, &policy(), "someone", ip, t + 10)
                .await
                .unwrap(),
            Lock::Address { until: t + 9 + 600 }
        );
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            decide(&store, &policy(), "someone", other, t + 10)
                .await
                .unwrap(),
            Lock::Open
        );
    }
}
