//! Metrics sampled every few seconds rather than counted on the request path: the process
//! (CPU, memory, file descriptors, threads), the store (connections, file size), the disk the
//! data directory is on, which upstream targets are taken as up, and the audit writer's queue.
//! These are what the "store near full", "upstream down" and "audit backlog" alerts read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::audit::Audit;
use crate::store::{AuditStore, Store};
use crate::upstream::UpstreamPool;

/// How often [`sample`] runs.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

pub struct SystemMetrics {
    cpu_seconds: Counter<f64, AtomicU64>,
    resident_memory: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
    start_time: Gauge,
    store_connections: Family<StateLabels, Gauge>,
    store_size: Gauge,
    disk_free: Gauge,
    disk_size: Gauge,
    upstream_targets: Family<UpstreamLabels, Gauge>,
    upstream_targets_up: Family<UpstreamLabels, Gauge>,
    upstream_idle_connections: Family<UpstreamLabels, Gauge>,
    audit_queue: Gauge,
    audit_head: Gauge,
}

impl SystemMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            cpu_seconds: Counter::default(),
            resident_memory: Gauge::default(),
            virtual_memory: Gauge::default(),
            open_fds: Gauge::default(),
            max_fds: Gauge::default(),
            threads: Gauge::default(),
            start_time: Gauge::default(),
            store_connections: Family::default(),
            store_size: Gauge::default(),
            disk_free: Gauge::default(),
            disk_size: Gauge::default(),
            upstream_targets: Family::default(),
            upstream_targets_up: Family::default(),
            upstream_idle_connections: Family::default(),
            audit_queue: Gauge::default(),
            audit_head: Gauge::default(),
        };
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time of the process",
            Unit::Seconds,
            metrics.cpu_seconds.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of the process",
            Unit::Bytes,
            metrics.resident_memory.clone(),
        );
        registry.register_with_unit(
            "process_virtual_memory",
            "Virtual memory of the process",
            Unit::Bytes,
            metrics.virtual_memory.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors (connections included)",
            metrics.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "The limit on open file descriptors",
            metrics.max_fds.clone(),
        );
        registry.register(
            "process_threads",
            "Threads of the process",
            metrics.threads.clone(),
        );
        registry.register_with_unit(
            "process_start_time",
            "Start of the process, Unix time",
            Unit::Seconds,
            metrics.start_time.clone(),
        );
        for state in ["idle", "in_use"] {
            let _ = metrics
                .store_connections
                .get_or_create(&StateLabels { state });
        }
        registry.register(
            "rampart_store_connections",
            "Connections of the store's pool, by state (idle, in_use)",
            metrics.store_connections.clone(),
        );
        registry.register_with_unit(
            "rampart_store_size",
            "Size of the SQLite store's files (database and write-ahead log); 0 on PostgreSQL",
            Unit::Bytes,
            metrics.store_size.clone(),
        );
        registry.register_with_unit(
            "rampart_data_dir_free",
            "Free space for Rampart on the file system of the data directory",
            Unit::Bytes,
            metrics.disk_free.clone(),
        );
        registry.register_with_unit(
            "rampart_data_dir_size",
            "Used plus free space on the file system of the data directory, as df counts it",
            Unit::Bytes,
            metrics.disk_size.clone(),
        );
        registry.register(
            "rampart_upstream_targets",
            "Targets configured, by upstream",
            metrics.upstream_targets.clone(),
        );
        registry.register(
            "rampart_upstream_targets_up",
            "Targets not cooling down after a refused connection, by upstream",
            metrics.upstream_targets_up.clone(),
        );
        registry.register(
            "rampart_upstream_idle_connections",
            "Keep-alive connections to upstream targets waiting for a request (first worker), by upstream",
            metrics.upstream_idle_connections.clone(),
        );
        registry.register(
            "rampart_audit_head_sequence",
            "Sequence number of the newest audit record: records written since the log began",
            metrics.audit_head.clone(),
        );
        registry.register(
            "rampart_audit_queue",
            "Audit events waiting for the writer",
            metrics.audit_queue.clone(),
        );
        metrics
    }
}

/// What the sampler looks at.
pub struct Sampled {
    pub store: Arc<Store>,
    pub data_dir: PathBuf,
    pub pools: Vec<Arc<UpstreamPool>>,
    pub audit: Audit,
}

/// Samples every [`SAMPLE_INTERVAL`], forever.
pub async fn run(metrics: Arc<super::metrics::Metrics>, sampled: Sampled) {
    let mut every = tokio::time::interval(SAMPLE_INTERVAL);
    let mut last_cpu = 0.0;
    loop {
        every.tick().await;
        sample(&metrics.system, &sampled, &mut last_cpu);
        if let Ok(head) = sampled.store.audit_head().await {
            metrics.system.audit_head.set(head.seq);
        }
    }
}

/// Reads every sampled value once.
pub fn sample(metrics: &SystemMetrics, sampled: &Sampled, last_cpu: &mut f64) {
    if let Some(process) = ProcessStats::read() {
        if process.cpu_seconds > *last_cpu {
            metrics.cpu_seconds.inc_by(process.cpu_seconds - *last_cpu);
            *last_cpu = process.cpu_seconds;
        }
        metrics.resident_memory.set(process.resident_bytes);
        metrics.virtual_memory.set(process.virtual_bytes);
        metrics.threads.set(process.threads);
        metrics.start_time.set(process.start_time);
    }
    if let Some(open) = count_entries("/proc/self/fd") {
        metrics.open_fds.set(open);
    }
    if let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        metrics
            .max_fds
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let (size, idle) = sampled.store.pool_connections();
    let in_use = size.saturating_sub(idle);
    for (state, count) in [("idle", idle), ("in_use", in_use)] {
        metrics
            .store_connections
            .get_or_create(&StateLabels { state })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    metrics
        .store_size
        .set(i64::try_from(sampled.store.file_bytes()).unwrap_or(i64::MAX));
    if let Some((free, total)) = disk_space(&sampled.data_dir) {
        metrics.disk_free.set(free);
        metrics.disk_size.set(total);
    }
    for pool in &sampled.pools {
        let labels = UpstreamLabels {
            upstream: pool.name.clone(),
        };
        let (up, total) = pool.targets_up();
        metrics
            .upstream_targets
            .get_or_create(&labels)
            .set(i64::try_from(total).unwrap_or(i64::MAX));
        metrics
            .upstream_targets_up
            .get_or_create(&labels)
            .set(i64::try_from(up).unwrap_or(i64::MAX));
        metrics
            .upstream_idle_connections
            .get_or_create(&labels)
            .set(i64::try_from(pool.idle_connections()).unwrap_or(i64::MAX));
    }
    metrics
        .audit_queue
        .set(i64::try_from(sampled.audit.queued()).unwrap_or(i64::MAX));
}

/// Free space for unprivileged writers and the size it is a share of, in bytes. The size is
/// what is used plus that free space, as `df` counts it: blocks reserved for root, or a thin
/// volume's unallocated blocks, are not room Rampart can fill, and counting them made a
/// disk look fuller than `df` says.
pub fn disk_space(path: &Path) -> Option<(i64, i64)> {
    let stats = rustix::fs::statvfs(path).ok()?;
    let block = stats.f_frsize;
    let free = stats.f_bavail.saturating_mul(block);
    let used = stats
        .f_blocks
        .saturating_sub(stats.f_bfree)
        .saturating_mul(block);
    let total = used.saturating_add(free);
    Some((
        i64::try_from(free).unwrap_or(i64::MAX),
        i64::try_from(total).unwrap_or(i64::MAX),
    ))
}

fn count_entries(dir: &str) -> Option<i64> {
    Some(std::fs::read_dir(dir).ok()?.count() as i64)
}

/// What `/proc/self` says about the process.
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    threads: i64,
    start_time: i64,
}

impl ProcessStats {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as u64;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        Some(Self {
            cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
            threads: i64::try_from(field(20)?).ok()?,
            start_time: i64::try_from(boot_time + (field(22)? as f64 / ticks) as u64).ok()?,
            virtual_bytes: i64::try_from(field(23)?).ok()?,
            resident_bytes: i64::try_from(field(24)? * page).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_itself() {
        let stats = ProcessStats::read().expect("/proc/self is readable");
        assert!(stats.resident_bytes > 1 << 20, "{}", stats.resident_bytes);
        assert!(stats.virtual_bytes >= stats.resident_bytes);
        assert!(stats.threads >= 1);
        let now = crate::store::unix_now();
        assert!(stats.start_time <= now && stats.start_time > now - 3600);
        assert!(count_entries("/proc/self/fd").unwrap() >= 3);
        let (free, total) = disk_space(Path::new("/")).unwrap();
        assert!(total > 0 && free <= total);
    }

    #[test]
    fn disk_use_agrees_with_df() {
        let df = std::process::Command::new("df")
            .args(["-P", "/"])
            .output()
            .expect("df runs");
        let text = String::from_utf8(df.stdout).unwrap();
        let percent: f64 = text
            .lines()
            .nth(1)
            .and_then(|line| line.split_whitespace().nth(4))
            .and_then(|used| used.trim_end_matches('%').parse().ok())
            .unwrap_or_else(|| panic!("no use% in {text}"));
        let (free, total) = disk_space(Path::new("/")).unwrap();
        let ours = 100.0 * (1.0 - free as f64 / total as f64);
        // df rounds up, and files change between the two readings.
        assert!(
            (ours - percent).abs() <= 2.0,
            "ours {ours:.1}% vs df {percent}%"
        );
    }
}
