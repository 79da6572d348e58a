//! Audit log throughput: events acknowledged durable per second with 1 and 64 concurrent
//! writers (group commit), then verification speed in records per second.
//!
//!     cargo run --release --example audit_throughput -- [STORE_URL] [SECONDS]
//!
//! Without a URL, a fresh SQLite file in a temporary directory. bench/audit.sh runs it on
//! SQLite and on a throwaway PostgreSQL; results are in docs/BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rampart::audit::chain::AuditEntry;
use rampart::audit::signing::{CheckpointSigner, CheckpointVerifier};
use rampart::audit::verify::verify;
use rampart::audit::writer::{AuditWriter, CheckpointPolicy};
use rampart::observability::metrics::Metrics;
use rampart::store::Store;
use rampart::store::unix_now_ms as now_ms;

/// A record the size of a typical one: a login with a request id and a pseudonymized address.
fn entry(n: u64) -> AuditEntry {
    AuditEntry {
        time_ms: now_ms(),
        actor: format!("user{}", n % 1000),
        action: "login".into(),
        resource: "session".into(),
        resource_id: format!("user{}", n % 1000),
        outcome: "success".into(),
        ip: "ip-3f9a0c1b2d4e5f60".into(),
        request_id: "0193f6c2-7b1e-7c3a-9d2f-5e8a1b4c6d7e".into(),
        purpose: String::new(),
        details: "{}".into(),
    }
}

/// Appends from `writers` tasks for `seconds`; returns acknowledged events per second.
async fn append_rate(writer: &AuditWriter, writers: usize, seconds: u64) -> f64 {
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (writer, acked) = (writer.clone(), acked.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    writer
                        .append(entry(n))
                        .await
                        .expect("the append is durable");
                    acked.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the writer task finishes");
    }
    acked.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = args
        .next()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| Store::default_url(dir.path()));
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let store = Arc::new(Store::open(&url).await.expect("the store opens"));
    let signer = Arc::new(
        CheckpointSigner::from_file(&dir.path().join("audit.key"), true).expect("a signing key"),
    );
    let writer = AuditWriter::start(
        store.clone(),
        signer.clone(),
        CheckpointPolicy {
            every: 10_000,
            interval: Duration::from_secs(60),
        },
        Arc::new(Metrics::new()),
    );
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    for writers in [1, 64, 1024] {
        let rate = append_rate(&writer, writers, seconds).await;
        println!("{backend} append  writers={writers:<5} {rate:>10.0} events/s durable");
    }
    writer.close().await;
    let verifier = CheckpointVerifier::from_base64(&signer.public_key()).expect("the key");
    let started = Instant::now();
    let report = verify(store.as_ref(), &verifier, |_| {})
        .await
        .expect("the log reads");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.broken, None, "the log verifies");
    println!(
        "{backend} verify  {} records, {} checkpoints: {:>10.0} records/s",
        report.records,
        report.checkpoints,
        report.records as f64 / elapsed
    );
}
