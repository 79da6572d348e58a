//! Rate limiting: GCRA per route, counted by client address, user, API key, header value or
//! the whole route. A route may carry several limits (`["10/s burst 20", "1000/min per user"]`);
//! a request must pass all of them, and a refusal is `429` with `Retry-After`.
//!
//! Limits counted by address, header or route are checked before authentication (so floods
//! never reach the store); limits counted by user or API key right after it. In-process the
//! `governor` crate keeps the counters; with `[redis]` the same algorithm runs as one Lua
//! script in Redis so every instance shares them, and the in-process counters take over while
//! Redis is unreachable.

mod shared;
mod spec;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use http::{HeaderMap, Method};
use serde::Deserialize;

pub use self::shared::SharedLimiter;
pub use self::spec::{KeyKind, RateLimitSpec};
use super::bans;
use crate::identity::service::{AuthMethod, Principal};

/// `[rate_limit]`: limits that are not tied to one route.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Login attempts per client address (`/_rampart/api/login` and the login page), all of
    /// which must pass; `[]` switches the login zone off.
    pub login: Vec<RateLimitSpec>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login: ["1/s burst 5", "10/5min"]
                .iter()
                .map(|text| RateLimitSpec::parse(text).expect("the default limits parse"))
                .collect(),
        }
    }
}

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Ip(IpAddr),
    /// A user id, API key id or header value.
    Id(Arc<str>),
    Everyone,
}

impl LimitKey {
    fn of(kind: &KeyKind, ip: IpAddr, headers: &HeaderMap, principal: Option<&Principal>) -> Self {
        /// Header values are attacker-chosen: keep keys short so memory stays bounded.
        const MAX_HEADER_KEY: usize = 128;
        let id = match kind {
            KeyKind::Ip => None,
            KeyKind::Route => return Self::Everyone,
            KeyKind::User => principal.map(|p| p.user_id.as_str()),
            KeyKind::ApiKey => principal
                .filter(|p| p.method == AuthMethod::ApiKey)
                .map(|p| p.user_id.as_str()),
            KeyKind::Header(name) => headers
                .get(name)
                .map(|v| &v.as_bytes()[..v.len().min(MAX_HEADER_KEY)])
                .and_then(|v| std::str::from_utf8(v).ok())
                .filter(|v| !v.is_empty()),
        };
        match id {
            Some(id) => Self::Id(id.into()),
            // As bans do: one IPv6 subscriber holds a /64 and could take a fresh address,
            // and so a fresh allowance, for every request.
            None => Self::Ip(bans::subject_of(ip)),
        }
    }

    /// The key's name in Redis.
    fn name(&self) -> String {
        match self {
            Self::Ip(ip) => format!("ip:{ip}"),
            Self::Id(id) => format!("id:{id}"),
            Self::Everyone => "all".into(),
        }
    }
}

/// One limit with its in-process counters.
struct Limit {
    spec: RateLimitSpec,
    local: DefaultKeyedRateLimiter<LimitKey>,
    /// Redis key prefix: the owner's label and the limit's text, so changing a limit starts
    /// fresh counters.
    shared_name: String,
}

impl Limit {
    fn new(owner: &str, spec: RateLimitSpec) -> Self {
        Self {
            local: RateLimiter::keyed(spec.quota()),
            shared_name: format!("rl:{owner}:{}:", spec.text),
            spec,
        }
    }
}

/// The limits of one route (or of the login zone), shared by every worker.
pub struct RouteLimits {
    /// Counted by address, header or route: checked before authentication.
    anonymous: Vec<Limit>,
    /// Counted by user or API key: checked after authentication.
    identified: Vec<Limit>,
    /// The minimum interval between messages (unsafe methods) of one user.
    per_message: Option<Limit>,
    shared: Option<SharedLimiter>,
}

impl RouteLimits {
    /// `None` when there is nothing to limit.
    pub fn new(
        owner: &str,
        specs: &[RateLimitSpec],
        message_interval: Option<Duration>,
        shared: Option<SharedLimiter>,
    ) -> Option<Self> {
        if specs.is_empty() && message_interval.is_none() {
            return None;
        }
        let (identified, anonymous) = specs
            .iter()
            .map(|spec| Limit::new(owner, spec.clone()))
            .partition(|limit| limit.spec.key.needs_identity());
        Some(Self {
            anonymous,
            identified,
            per_message: message_interval
                .map(|interval| Limit::new(owner, RateLimitSpec::one_per(interval))),
            shared,
        })
    }

    /// Counts a request against the limits known before authentication; `Err` carries how
    /// long until it would be allowed.
    pub async fn check_anonymous(&self, ip: IpAddr, headers: &HeaderMap) -> Result<(), Duration> {
        self.check(self.anonymous.iter(), ip, headers, None).await
    }

    /// Counts an authenticated (or anonymous) request against the per-user limits and the
    /// message interval.
    pub async fn check_identified(
        &self,
        ip: IpAddr,
        headers: &HeaderMap,
        method: &Method,
        principal: Option<&Principal>,
    ) -> Result<(), Duration> {
        let message = self.per_message.as_ref().filter(|_| !method.is_safe());
        self.check(
            self.identified.iter().chain(message),
            ip,
            headers,
            principal,
        )
        .await
    }

    async fn check<'a>(
        &'a self,
        limits: impl Iterator<Item = &'a Limit> + Clone,
        ip: IpAddr,
        headers: &HeaderMap,
        principal: Option<&Principal>,
    ) -> Result<(), Duration> {
        let keyed =
            limits.map(|limit| (limit, LimitKey::of(&limit.spec.key, ip, headers, principal)));
        if keyed.clone().next().is_none() {
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(decision) = shared
                .check(keyed.clone().map(|(limit, key)| {
                    (format!("{}{}", limit.shared_name, key.name()), &limit.spec)
                }))
                .await
        {
            return decision;
        }
        let mut wait = Duration::ZERO;
        for (limit, key) in keyed {
            if let Err(not_until) = limit.local.check_key(&key) {
                wait = wait.max(not_until.wait_time_from(DefaultClock::default().now()));
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Forgets clients whose limits have fully recovered, so memory follows active clients.
    pub fn forget_idle(&self) {
        let all = self.anonymous.iter().chain(&self.identified);
        for limit in all.chain(&self.per_message) {
            limit.local.retain_recent();
            limit.local.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(specs: &[&str], interval: Option<Duration>) -> RouteLimits {
        let specs: Vec<_> = specs
            .iter()
            .map(|s| RateLimitSpec::parse(s).unwrap())
            .collect();
        RouteLimits::new("test", &specs, interval, None).unwrap()
    }

    fn user(id: &str, method: AuthMethod) -> Principal {
        Principal {
            user_id: id.into(),
            username: id.into(),
            roles: Vec::new(),
            method,
            mfa: false,
            last_active: None,
        }
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_client_waits_and_others_do_not() {
        let limits = limits(&["1/s burst 3"], None);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let headers = HeaderMap::new();
        for _ in 0..3 {
            assert!(limits.check_anonymous(client, &headers).await.is_ok());
        }
        let wait = limits.check_anonymous(client, &headers).await.unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        let other = "198.51.100.1".parse().unwrap();
        assert!(
            limits.check_anonymous(other, &headers).await.is_ok(),
            "limits are per client"
        );
    }

    #[tokio::test]
    async fn an_ipv6_client_counts_as_its_64() {
        let limits = limits(&["1/min"], None);
        let headers = HeaderMap::new();
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert!(limits.check_anonymous(first, &headers).await.is_ok());
        let same_subscriber = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(
            limits
                .check_anonymous(same_subscriber, &headers)
                .await
                .is_err()
        );
        let next_subscriber = "2001:db8:1:3::1".parse().unwrap();
        assert!(
            limits
                .check_anonymous(next_subscriber, &headers)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn every_limit_must_pass() {
        let limits = limits(&["100/s", "2/min"], None);
        let client: IpAddr = "203.0.113.8".parse().unwrap();
        let headers = HeaderMap::new();
        assert!(limits.check_anonymous(client, &headers).await.is_ok());
        assert!(limits.check_anonymous(client, &headers).await.is_ok());
        let wait = limits.check_anonymous(client, &headers).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(20),
            "the per-minute limit decides: {wait:?}"
        );
    }

    #[tokio::test]
    async fn per_user_limits_follow_the_user_across_addresses() {
        let limits = limits(&["1/min per user"], None);
        let headers = HeaderMap::new();
        let alice = user("u-alice", AuthMethod::Session);
        let (a, b): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        );
        let get = Method::GET;
        assert!(
            limits.check_anonymous(a, &headers).await.is_ok(),
            "not an address limit"
        );
        assert!(
            limits
                .check_identified(a, &headers, &get, Some(&alice))
                .await
                .is_ok()
        );
        assert!(
            limits
                .check_identified(b, &headers, &get, Some(&alice))
                .await
                .is_err()
        );
        let bob = user("u-bob", AuthMethod::Session);
        assert!(
            limits
                .check_identified(a, &headers, &get, Some(&bob))
                .await
                .is_ok()
        );
        // Anonymous requests count by address.
        assert!(
            limits
                .check_identified(b, &headers, &get, None)
                .await
                .is_ok()
        );
        assert!(
            limits
                .check_identified(b, &headers, &get, None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn api_key_and_header_and_route_keys() {
        let by_key = limits(&["1/min per api_key"], None);
        let headers = HeaderMap::new();
        let ip: IpAddr = "203.0.113.3".parse().unwrap();
        let key = user("apikey:k1", AuthMethod::ApiKey);
        let get = Method::GET;
        assert!(
            by_key
                .check_identified(ip, &headers, &get, Some(&key))
                .await
                .is_ok()
        );
        assert!(
            by_key
                .check_identified(ip, &headers, &get, Some(&key))
                .await
                .is_err()
        );
        let session = user("u-carol", AuthMethod::Session);
        let other_ip = "203.0.113.4".parse().unwrap();
        assert!(
            by_key
                .check_identified(other_ip, &headers, &get, Some(&session))
                .await
                .is_ok(),
            "a session user is counted by address"
        );

        let by_tenant = limits(&["1/min per header:x-tenant"], None);
        let mut tenant_a = HeaderMap::new();
        tenant_a.insert("x-tenant", "a".parse().unwrap());
        let mut tenant_b = HeaderMap::new();
        tenant_b.insert("x-tenant", "b".parse().unwrap());
        assert!(by_tenant.check_anonymous(ip, &tenant_a).await.is_ok());
        assert!(
            by_tenant
                .check_anonymous(other_ip, &tenant_a)
                .await
                .is_err()
        );
        assert!(by_tenant.check_anonymous(ip, &tenant_b).await.is_ok());

        let whole_route = limits(&["2/min per route"], None);
        assert!(whole_route.check_anonymous(ip, &headers).await.is_ok());
        assert!(
            whole_route
                .check_anonymous(other_ip, &headers)
                .await
                .is_ok()
        );
        assert!(
            whole_route
                .check_anonymous("198.51.100.9".parse().unwrap(), &headers)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_message_interval_applies_to_unsafe_methods_only() {
        let limits = limits(&[], Some(Duration::from_secs(2)));
        let headers = HeaderMap::new();
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let alice = user("u-alice", AuthMethod::Session);
        for _ in 0..3 {
            assert!(
                limits
                    .check_identified(ip, &headers, &Method::GET, Some(&alice))
                    .await
                    .is_ok()
            );
        }
        assert!(
            limits
                .check_identified(ip, &headers, &Method::POST, Some(&alice))
                .await
                .is_ok()
        );
        let wait = limits
            .check_identified(ip, &headers, &Method::POST, Some(&alice))
            .await
            .unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
    }

    #[test]
    fn nothing_to_limit_builds_nothing() {
        assert!(RouteLimits::new("x", &[], None, None).is_none());
        let login = RateLimitConfig::default().login;
        assert_eq!(login.len(), 2);
        assert_eq!(login[1].per, Duration::from_secs(300));
    }
}
