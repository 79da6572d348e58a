//! An upstream pool: its targets, round-robin selection that skips targets which recently
//! refused connections, and the keep-alive HTTP client shared by all its requests.
//!
//! This is the seam for load balancing and health checks: `candidates` decides the order in
//! which targets are tried, `mark_down` is what passive health checking feeds.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::request_body::UpstreamBody;
use crate::config::{Target, UpstreamConfig};

/// One server of a pool and when it may be tried again.
pub struct TargetState {
    pub target: Target,
    /// Milliseconds since the pool's epoch before which the target is skipped.
    down_until_ms: AtomicU64,
}

/// A named group of app servers behind one or more routes.
pub struct UpstreamPool {
    pub name: String,
    targets: Box<[TargetState]>,
    next: AtomicUsize,
    failure_cooldown: Duration,
    epoch: Instant,
    pub(super) client: Client<HttpConnector, UpstreamBody>,
    pub response_timeout: Duration,
}

impl UpstreamPool {
    pub fn new(config: &UpstreamConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout.0));
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_connection_timeout.0)
            .pool_max_idle_per_host(config.max_idle_connections)
            .build(connector);
        Self {
            name: config.name.clone(),
            targets: config
                .targets
                .iter()
                .map(|target| TargetState {
                    target: target.clone(),
                    down_until_ms: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            failure_cooldown: config.failure_cooldown.0,
            epoch: Instant::now(),
            client,
            response_timeout: config.response_timeout.0,
        }
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().map(|t| &t.target)
    }

    /// Targets in the order to try them for one request: round robin among those not cooling
    /// down, then the cooling ones (better a likely failure than a certain one).
    pub fn candidates(&self) -> impl Iterator<Item = &TargetState> + '_ {
        let count = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count.max(1);
        let now = self.now_ms();
        let in_turn = (0..count).map(move |i| &self.targets[(start + i) % count]);
        let up = in_turn.clone().filter(move |t| t.is_up(now));
        let down = in_turn.filter(move |t| !t.is_up(now));
        up.chain(down)
    }

    /// The target refused or timed out a connection: skip it for the cooldown.
    pub fn mark_down(&self, target: &TargetState) {
        let until = self.now_ms() + self.failure_cooldown.as_millis() as u64;
        target.down_until_ms.store(until, Ordering::Relaxed);
    }

    /// Whether more than one target could be tried for a request.
    pub fn has_alternatives(&self) -> bool {
        self.targets.len() > 1
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl TargetState {
    fn is_up(&self, now_ms: u64) -> bool {
        self.down_until_ms.load(Ordering::Relaxed) <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;

    fn pool(targets: &[&str]) -> UpstreamPool {
        let config: UpstreamConfig = toml::from_str(&format!(
            "name = \"app\"\ntargets = [{}]",
            targets
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(",")
        ))
        .unwrap();
        UpstreamPool::new(&UpstreamConfig {
            failure_cooldown: HumanDuration::secs(60),
            ..config
        })
    }

    fn first(pool: &UpstreamPool) -> String {
        pool.candidates().next().unwrap().target.to_string()
    }

    #[tokio::test]
    async fn round_robin_over_targets() {
        let pool = pool(&["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        let picks: Vec<String> = (0..4).map(|_| first(&pool)).collect();
        assert_eq!(
            picks,
            [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2"
            ]
        );
    }

    #[tokio::test]
    async fn targets_marked_down_are_tried_last() {
        let pool = pool(&["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        let down = pool
            .candidates()
            .find(|t| t.target.to_string().ends_with(":1"))
            .unwrap();
        pool.mark_down(down);
        for _ in 0..4 {
            let order: Vec<String> = pool.candidates().map(|t| t.target.to_string()).collect();
            assert_eq!(order, ["http://127.0.0.1:2", "http://127.0.0.1:1"]);
        }
    }
}
