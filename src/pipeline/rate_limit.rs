//! Rate limiting: GCRA (the `governor` crate) per route and client address, checked before any
//! costly step. A route may carry several limits (`["10/s burst 20", "1000/min"]`); a request
//! must pass all of them, and a refusal is `429` with `Retry-After`. Limiters are shared by
//! every worker thread, so the limit holds for the whole process.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::de::{self, Deserialize, Deserializer};

/// One limit as written in the config: `N/unit`, optionally `burst M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSpec {
    pub text: String,
    pub per: Duration,
    pub count: NonZeroU32,
    pub burst: NonZeroU32,
}

impl RateLimitSpec {
    /// Parses `"10/s"`, `"10/s burst 20"`, `"1000/min"`, `"50/hour"`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let (count, unit) = words.next()?.split_once('/')?;
        let count = NonZeroU32::new(count.parse().ok()?)?;
        let per = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => count,
            (Some("burst"), Some(n), None) => NonZeroU32::new(n.parse().ok()?)?,
            _ => return None,
        };
        Some(Self {
            text: text.to_owned(),
            per,
            count,
            burst,
        })
    }

    fn quota(&self) -> Quota {
        Quota::with_period(self.per / self.count.get())
            .expect("a positive period divided by a positive count is positive")
            .allow_burst(self.burst)
    }
}

impl fmt::Display for RateLimitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RateLimitSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "`{text}` is not a rate limit; write e.g. \"10/s\", \"10/s burst 20\" or \"1000/min\""
            ))
        })
    }
}

/// Every limit of one route.
pub struct RouteLimits {
    limiters: Vec<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RouteLimits {
    pub fn new(specs: &[RateLimitSpec]) -> Self {
        Self {
            limiters: specs
                .iter()
                .map(|spec| RateLimiter::keyed(spec.quota()))
                .collect(),
        }
    }

    /// Counts a request from `client`; `Err` carries how long until it would be allowed.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let mut wait = Duration::ZERO;
        for limiter in &self.limiters {
            if let Err(not_until) = limiter.check_key(&client) {
                wait = wait.max(not_until.wait_time_from(DefaultClock::default().now()));
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Forgets clients whose limits have fully recovered, so memory follows active clients.
    pub fn forget_idle(&self) {
        for limiter in &self.limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_explain_mistakes() {
        let spec = RateLimitSpec::parse("10/s burst 20").unwrap();
        assert_eq!(
            (spec.count.get(), spec.burst.get(), spec.per),
            (10, 20, Duration::from_secs(1))
        );
        assert_eq!(RateLimitSpec::parse("1000/min").unwrap().burst.get(), 1000);
        for bad in [
            "10",
            "0/s",
            "10/day",
            "10/s burst",
            "10/s burst 0",
            "10/s bust 5",
            "-1/s",
        ] {
            assert!(RateLimitSpec::parse(bad).is_none(), "{bad}");
        }
        let err = toml::Value::String("fast".into())
            .try_into::<RateLimitSpec>()
            .unwrap_err();
        assert!(
            err.to_string().contains("`fast` is not a rate limit"),
            "{err}"
        );
    }

    #[test]
    fn a_burst_passes_then_the_client_waits_and_others_do_not() {
        let limits = RouteLimits::new(&[RateLimitSpec::parse("1/s burst 3").unwrap()]);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check(client).is_ok());
        }
        let wait = limits.check(client).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limits.check("198.51.100.1".parse().unwrap()).is_ok(),
            "limits are per client"
        );
    }

    #[test]
    fn every_limit_must_pass() {
        let limits = RouteLimits::new(&[
            RateLimitSpec::parse("100/s").unwrap(),
            RateLimitSpec::parse("2/min").unwrap(),
        ]);
        let client: IpAddr = "203.0.113.8".parse().unwrap();
        assert!(limits.check(client).is_ok());
        assert!(limits.check(client).is_ok());
        let wait = limits.check(client).unwrap_err();
        assert!(
            wait > Duration::from_secs(20),
            "the per-minute limit decides: {wait:?}"
        );
    }
}
