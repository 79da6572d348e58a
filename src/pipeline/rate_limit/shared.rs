//! Rate limits shared by every instance: GCRA in one Redis Lua script.
//!
//! Each key stores its theoretical arrival time (TAT) in microseconds of the Redis clock, so
//! instance clocks never matter. A request is allowed when, for every limit, the new TAT minus
//! the burst tolerance is not in the future; only then are the TATs written, so a refused
//! request consumes nothing. Keys expire when their TAT has passed.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::spec::RateLimitSpec;
use crate::cluster::Cluster;
use crate::observability::metrics::Metrics;

/// KEYS: one per limit. ARGV: per limit, the emission interval and the burst tolerance (µs).
/// Returns 0 when allowed, else the wait in microseconds.
const GCRA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_at = next_tat - tolerance
  if allowed_at > now and allowed_at - now > wait then wait = allowed_at - now end
  tats[i] = next_tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((tats[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', ttl)
end
return 0
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

/// The Redis side of the rate limits.
#[derive(Clone)]
pub struct SharedLimiter {
    cluster: Cluster,
    metrics: Arc<Metrics>,
}

impl SharedLimiter {
    pub fn new(cluster: Cluster, metrics: Arc<Metrics>) -> Self {
        Self { cluster, metrics }
    }

    /// Counts one request against every `(key, limit)`; `None` when Redis could not decide
    /// (the caller then uses its in-process counters).
    pub async fn check<'a>(
        &self,
        limits: impl Iterator<Item = (String, &'a RateLimitSpec)>,
    ) -> Option<Result<(), Duration>> {
        let mut invocation = SCRIPT.prepare_invoke();
        for (key, spec) in limits {
            let interval = micros(spec.emission_interval());
            invocation
                .key(self.cluster.key(&key))
                .arg(interval)
                .arg(interval.saturating_mul(u64::from(spec.burst.get())));
        }
        let mut connection = self.cluster.connection();
        match invocation.invoke_async::<u64>(&mut connection).await {
            Ok(0) => Some(Ok(())),
            Ok(wait) => Some(Err(Duration::from_micros(wait))),
            Err(err) => {
                self.metrics.redis_error("rate_limit");
                tracing::warn!(error = %err, "Redis rate limit check failed; using this instance's counters");
                None
            }
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}
