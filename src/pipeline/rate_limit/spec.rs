//! One limit as written in the config: `"10/s burst 20"`, `"10/5min"`, `"1000/min per user"`.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;
use http::HeaderName;
use serde::de::{self, Deserialize, Deserializer};

/// What a limit counts requests by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// The client address (after trusted proxies); the default.
    Ip,
    /// The signed-in user; anonymous requests count by address.
    User,
    /// The API key a request authenticated with; other requests count by address.
    ApiKey,
    /// Every client together: a ceiling for the whole route.
    Route,
    /// The value of a request header (e.g. a tenant id); requests without it count by address.
    Header(HeaderName),
}

impl KeyKind {
    /// Keys that are known only once the request has been authenticated.
    pub fn needs_identity(&self) -> bool {
        matches!(self, Self::User | Self::ApiKey)
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ip" => Self::Ip,
            "user" => Self::User,
            "api_key" => Self::ApiKey,
            "route" => Self::Route,
            _ => Self::Header(HeaderName::try_from(text.strip_prefix("header:")?).ok()?),
        })
    }
}

/// One limit: `count` requests per `per`, up to `burst` at once, counted by `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSpec {
    pub text: String,
    pub per: Duration,
    pub count: NonZeroU32,
    pub burst: NonZeroU32,
    pub key: KeyKind,
}

impl RateLimitSpec {
    /// Parses `"10/s"`, `"10/s burst 20"`, `"10/5min"`, `"50/hour per user"`,
    /// `"100/min per header:x-tenant-id"`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace().peekable();
        let (count, period) = words.next()?.split_once('/')?;
        let count = NonZeroU32::new(count.parse().ok()?)?;
        let per = parse_period(period)?;
        let mut burst = count;
        let mut key = KeyKind::Ip;
        while let Some(word) = words.next() {
            match (word, words.next()) {
                ("burst", Some(n)) => burst = NonZeroU32::new(n.parse().ok()?)?,
                ("per", Some(kind)) => key = KeyKind::parse(kind)?,
                _ => return None,
            }
        }
        Some(Self {
            text: text.to_owned(),
            per,
            count,
            burst,
            key,
        })
    }

    /// A limit of one request per `interval`, counted by user: the minimum interval between
    /// messages on chat routes.
    pub fn one_per(interval: Duration) -> Self {
        Self {
            text: format!("1/{}ms per user", interval.as_millis()),
            per: interval,
            count: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
            key: KeyKind::User,
        }
    }

    /// Time between two requests at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        self.per / self.count.get()
    }

    pub fn quota(&self) -> Quota {
        Quota::with_period(self.emission_interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.burst)
    }
}

/// `s`, `min`, `hour`, `day`, optionally with a count: `5min`, `15m`, `2h`.
fn parse_period(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let times: u32 = if digits.is_empty() {
        1
    } else {
        digits.parse().ok().filter(|n| *n > 0)?
    };
    let unit = match unit {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        "d" | "day" => Duration::from_secs(86_400),
        _ => return None,
    };
    unit.checked_mul(times)
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
                "`{text}` is not a rate limit; write e.g. \"10/s\", \"10/s burst 20\", \
                 \"10/5min\" or \"1000/min per user\" (per ip, user, api_key, route or header:NAME)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_explain_mistakes() {
        let spec = RateLimitSpec::parse("10/s burst 20").unwrap();
        assert_eq!(
            (spec.count.get(), spec.burst.get(), spec.per, spec.key),
            (10, 20, Duration::from_secs(1), KeyKind::Ip)
        );
        assert_eq!(RateLimitSpec::parse("1000/min").unwrap().burst.get(), 1000);
        let spec = RateLimitSpec::parse("10/5min per user").unwrap();
        assert_eq!(
            (spec.per, spec.key),
            (Duration::from_secs(300), KeyKind::User)
        );
        let spec = RateLimitSpec::parse("5/s per header:X-Tenant burst 9").unwrap();
        assert_eq!(
            (spec.burst.get(), spec.key),
            (9, KeyKind::Header(HeaderName::from_static("x-tenant")))
        );
        for bad in [
            "10",
            "0/s",
            "10/week",
            "10/0min",
            "10/s burst",
            "10/s burst 0",
            "10/s bust 5",
            "-1/s",
            "10/s per",
            "10/s per everyone",
            "10/s per header:bad name",
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
    fn one_per_interval_allows_a_single_request() {
        let spec = RateLimitSpec::one_per(Duration::from_secs(2));
        assert_eq!(spec.emission_interval(), Duration::from_secs(2));
        assert_eq!(spec.burst.get(), 1);
        assert!(spec.key.needs_identity());
    }
}
