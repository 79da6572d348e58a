//! An upstream pool: its targets, round-robin selection that skips targets which recently
//! refused connections, and each target's idle keep-alive connections.
//!
//! Every worker thread owns its pools (see `server`), so connections are made, used and
//! reused on one thread. This is the seam for load balancing and health checks: `candidates`
//! decides the order in which targets are tried, `mark_down` is what passive health checking
//! feeds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::client_body::LimitedBody;
use crate::body::BoxError;
use crate::config::{Target, UpstreamConfig};
use crate::observability::metrics::UpstreamMetrics;

/// The sending half of one HTTP/1.1 connection to a target.
pub(super) type Sender = SendRequest<LimitedBody>;

/// One server of a pool: when it may be tried again, and its idle connections.
pub struct TargetState {
    pub target: Target,
    /// Milliseconds since the process's epoch before which the target is tried last; shared
    /// by every worker's pool, so a target one worker found dead is skipped by all.
    down_until_ms: Arc<AtomicU64>,
    /// Idle connections, most recently used last. Only this worker's thread locks it.
    idle: Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

/// A named group of app servers behind one or more routes.
pub struct UpstreamPool {
    pub name: String,
    targets: Box<[TargetState]>,
    next: AtomicUsize,
    failure_cooldown: Duration,
    connect_timeout: Duration,
    max_idle: usize,
    idle_timeout: Duration,
    pub response_timeout: Duration,
    pub metrics: UpstreamMetrics,
}

/// Each upstream's targets' health, shared by the pools of every worker.
#[derive(Debug, Default)]
pub struct SharedHealth(HashMap<String, Vec<Arc<AtomicU64>>>);

impl SharedHealth {
    pub fn new(upstreams: &[UpstreamConfig]) -> Self {
        Self(
            upstreams
                .iter()
                .map(|u| {
                    let targets = u.targets.iter().map(|_| Arc::default()).collect();
                    (u.name.clone(), targets)
                })
                .collect(),
        )
    }

    fn of(&self, upstream: &str, target: usize) -> Arc<AtomicU64> {
        self.0
            .get(upstream)
            .and_then(|targets| targets.get(target))
            .cloned()
            .unwrap_or_default()
    }
}

/// Milliseconds since the first call: the clock target health is kept in.
fn monotonic_ms() -> u64 {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    EPOCH.elapsed().as_millis() as u64
}

impl UpstreamPool {
    pub fn new(config: &UpstreamConfig, metrics: UpstreamMetrics, health: &SharedHealth) -> Self {
        Self {
            name: config.name.clone(),
            targets: config
                .targets
                .iter()
                .enumerate()
                .map(|(index, target)| TargetState {
                    target: target.clone(),
                    down_until_ms: health.of(&config.name, index),
                    idle: Mutex::new(Vec::new()),
                })
                .collect(),
            next: AtomicUsize::new(0),
            failure_cooldown: config.failure_cooldown.0,
            connect_timeout: config.connect_timeout.0,
            max_idle: config.max_idle_connections,
            idle_timeout: config.idle_connection_timeout.0,
            response_timeout: config.response_timeout.0,
            metrics,
        }
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().map(|t| &t.target)
    }

    /// Targets in the order to try them for one request: round robin among those not cooling
    /// down, then the cooling ones (better a likely failure than a certain one). Which targets
    /// are cooling is decided once, up front, so a target marked down during the walk is not
    /// offered twice.
    pub fn candidates(&self) -> impl Iterator<Item = (usize, &TargetState)> + '_ {
        let count = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count.max(1);
        let now = self.now_ms();
        let cooling: u64 = self
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_up(now))
            .fold(0, |mask, (i, _)| mask | 1 << i);
        let in_turn = (0..count).map(move |i| (start + i) % count);
        let up = in_turn.clone().filter(move |i| cooling & (1 << i) == 0);
        let down = in_turn.filter(move |i| cooling & (1 << i) != 0);
        up.chain(down).map(|i| (i, &self.targets[i]))
    }

    /// Idle keep-alive connections kept, over all targets.
    pub fn idle_connections(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.idle.lock().map_or(0, |idle| idle.len()))
            .sum()
    }

    /// Targets not cooling down, and all targets.
    pub fn targets_up(&self) -> (usize, usize) {
        let now = self.now_ms();
        let up = self.targets.iter().filter(|t| t.is_up(now)).count();
        (up, self.targets.len())
    }

    /// The target refused or timed out a connection: try it last for the cooldown.
    pub fn mark_down(&self, target: &TargetState) {
        let until = self.now_ms() + self.failure_cooldown.as_millis() as u64;
        target.down_until_ms.store(until, Ordering::Relaxed);
    }

    /// A ready idle connection to `target`, if one is kept.
    pub(super) fn checkout(&self, target: &TargetState) -> Option<Sender> {
        let mut idle = target.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut not_yet_ready = Vec::new();
        let mut found = None;
        while let Some(connection) = idle.pop() {
            if connection.sender.is_closed() || connection.since.elapsed() > self.idle_timeout {
                continue;
            }
            if connection.sender.is_ready() {
                found = Some(connection.sender);
                break;
            }
            // Its last response just ended and its connection task has not caught up yet.
            not_yet_ready.push(connection);
        }
        idle.extend(not_yet_ready);
        found
    }

    /// Keeps a connection whose last response ended, for the next request to `target`.
    pub(super) fn checkin(&self, target: usize, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.targets[target]
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Opens a new HTTP/1.1 connection to `target`; its connection task runs on this worker.
    pub(super) async fn connect(&self, target: &TargetState) -> Result<Sender, BoxError> {
        let address = target.target.authority.as_str();
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| format!("connecting to {address} timed out"))??;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "upstream connection closed with an error");
            }
        });
        Ok(sender)
    }

    fn now_ms(&self) -> u64 {
        monotonic_ms()
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
        UpstreamPool::new(
            &UpstreamConfig {
                failure_cooldown: HumanDuration::secs(60),
                ..config
            },
            crate::observability::metrics::Metrics::new().upstream("app"),
            &SharedHealth::default(),
        )
    }

    fn first(pool: &UpstreamPool) -> String {
        pool.candidates().next().unwrap().1.target.to_string()
    }

    #[test]
    fn round_robin_over_targets() {
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

    #[test]
    fn targets_marked_down_are_tried_last() {
        let pool = pool(&["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        let (_, down) = pool
            .candidates()
            .find(|(_, t)| t.target.to_string().ends_with(":1"))
            .unwrap();
        pool.mark_down(down);
        for _ in 0..4 {
            let order: Vec<String> = pool
                .candidates()
                .map(|(_, t)| t.target.to_string())
                .collect();
            assert_eq!(order, ["http://127.0.0.1:2", "http://127.0.0.1:1"]);
        }
    }

    #[test]
    fn a_target_marked_down_during_the_walk_is_offered_once() {
        let pool = pool(&["http://127.0.0.1:1"]);
        let mut offered = 0;
        for (_, target) in pool.candidates() {
            offered += 1;
            pool.mark_down(target);
        }
        assert_eq!(offered, 1);
    }
}
