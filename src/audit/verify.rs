//! Verification: recomputes the whole chain from the oldest record kept, checks every
//! checkpoint's signature and that the chain passes through it, and that the log ends where
//! its head says. Reports the first record that breaks, and why.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::chain::{GENESIS, record_hash};
use super::signing::CheckpointVerifier;
use crate::store::{AuditStore, Checkpoint, RecordView, StoreError, Visit};

/// Records read per scan while verifying: progress is reported after each.
const PAGE: i64 = 50_000;

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    /// Checkpoints whose signature was checked and which the chain passes through.
    pub checkpoints: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub broken: Option<Break>,
}

/// The first place the log is not what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The record (or checkpoint's record) where the chain breaks.
    pub seq: i64,
    pub reason: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.seq, self.reason)
    }
}

/// Checks the chain in `store` against checkpoints signed by `verifier`'s key; `progress` is
/// told how many records were checked so far.
pub async fn verify(
    store: &dyn AuditStore,
    verifier: &CheckpointVerifier,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport {
        records: 0,
        checkpoints: 0,
        first_seq: None,
        last_seq: None,
        broken: None,
    };
    let checkpoints: BTreeMap<i64, Checkpoint> = store
        .audit_checkpoints()
        .await?
        .into_iter()
        .map(|c| (c.seq, c))
        .collect();
    let key_id = verifier.key_id();
    for checkpoint in checkpoints.values() {
        if checkpoint.key_id != key_id || !verifier.is_valid(checkpoint) {
            report.broken = Some(Break {
                seq: checkpoint.seq,
                reason: format!(
                    "the checkpoint's signature does not verify with key {key_id} (signed by key {})",
                    checkpoint.key_id
                ),
            });
            return Ok(report);
        }
    }
    let head = store.audit_head().await?;
    let chain = Arc::new(Mutex::new(ChainCheck {
        checkpoints,
        prev: None,
        report,
    }));
    let mut after_seq = 0;
    loop {
        let checking = chain.clone();
        let visit: Visit = Box::new(move |record| {
            let mut chain = checking.lock().unwrap_or_else(|e| e.into_inner());
            match chain.check(record) {
                Ok(()) => true,
                Err(broken) => {
                    chain.report.broken = Some(broken);
                    false
                }
            }
        });
        let last = store.scan_audit(after_seq, PAGE, visit).await?;
        let chain = chain.lock().unwrap_or_else(|e| e.into_inner());
        if chain.report.broken.is_some() {
            return Ok(chain.report.clone());
        }
        progress(chain.report.records);
        match last {
            Some(seq) => after_seq = seq,
            None => break,
        }
    }
    let ChainCheck {
        checkpoints,
        prev,
        mut report,
    } = Arc::try_unwrap(chain)
        .map_err(|_| StoreError::Stopped("a scan kept the verifier".into()))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let (end_seq, end_hash) = prev.unwrap_or_else(|| (head.seq, head.hash.clone()));
    if end_seq != head.seq || end_hash != head.hash {
        report.broken = Some(Break {
            seq: end_seq + 1,
            reason: format!(
                "the log ends at record {end_seq} but its head is record {}: records were removed from the end",
                head.seq
            ),
        });
    } else if let Some((&seq, _)) = checkpoints.range(end_seq + 1..).next() {
        report.broken = Some(Break {
            seq,
            reason: "a signed checkpoint names a record the log does not hold".to_owned(),
        });
    }
    Ok(report)
}

/// The chain as checked so far.
struct ChainCheck {
    checkpoints: BTreeMap<i64, Checkpoint>,
    /// The last record checked: its sequence number and hash.
    prev: Option<(i64, String)>,
    report: VerifyReport,
}

impl ChainCheck {
    /// Checks one record against the one before it and the checkpoints.
    fn check(&mut self, record: &RecordView<'_>) -> Result<(), Break> {
        let start;
        let (expected_seq, prev_hash) = match self.prev.as_ref() {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => {
                start = start_of_chain(record.seq, &self.checkpoints).map_err(|reason| Break {
                    seq: record.seq,
                    reason,
                })?;
                (record.seq, start.as_str())
            }
        };
        if record.seq != expected_seq {
            return Err(Break {
                seq: expected_seq,
                reason: format!(
                    "record missing: the chain jumps from {} to {}",
                    expected_seq - 1,
                    record.seq
                ),
            });
        }
        if !hex_matches(&record_hash(prev_hash, record), record.hash) {
            return Err(Break {
                seq: record.seq,
                reason: "the record does not match its hash: it was changed, inserted or \
                         moved, or the one before it was"
                    .to_owned(),
            });
        }
        if let Some(checkpoint) = self.checkpoints.get(&record.seq) {
            if checkpoint.hash != record.hash {
                return Err(Break {
                    seq: record.seq,
                    reason: "the record's hash differs from the signed checkpoint: the log \
                             was rewritten up to here"
                        .to_owned(),
                });
            }
            self.report.checkpoints += 1;
        }
        let report = &mut self.report;
        report.first_seq.get_or_insert(record.seq);
        report.last_seq = Some(record.seq);
        report.records += 1;
        match &mut self.prev {
            // The buffer is reused: this runs for every record.
            Some((seq, hash)) => {
                *seq = record.seq;
                hash.clear();
                hash.push_str(record.hash);
            }
            None => self.prev = Some((record.seq, record.hash.to_owned())),
        }
        Ok(())
    }
}

/// The hash the chain starts from at `first_seq`: the genesis for record 1, else the signed
/// checkpoint of the record before it, left behind when older records were pruned.
fn start_of_chain(
    first_seq: i64,
    checkpoints: &BTreeMap<i64, Checkpoint>,
) -> Result<String, String> {
    if first_seq == 1 {
        return Ok(GENESIS.to_owned());
    }
    checkpoints
        .get(&(first_seq - 1))
        .map(|anchor| anchor.hash.clone())
        .ok_or_else(|| {
            format!(
                "records before {first_seq} are missing and no signed checkpoint anchors the start"
            )
        })
}

/// Whether `hex` is the lower-case hex form of `bytes`, without allocating.
fn hex_matches(bytes: &[u8; 32], hex: &str) -> bool {
    let mut expected = [0u8; 64];
    crate::identity::secret::hex_into(bytes, &mut expected);
    hex.as_bytes() == expected
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::audit::chain::AuditEntry;
    use crate::audit::signing::CheckpointSigner;
    use crate::audit::writer::{AuditWriter, CheckpointPolicy};
    use crate::identity::secret::hex;
    use crate::observability::metrics::Metrics;
    use crate::store::test_support::{execute, stores};
    use crate::store::unix_now_ms as now_ms;
    use crate::store::{AuditFilter, Store};

    struct Log {
        store: Arc<Store>,
        verifier: CheckpointVerifier,
        _keys: tempfile::TempDir,
    }

    impl Log {
        async fn check(&self) -> VerifyReport {
            verify(self.store.as_ref(), &self.verifier, |_| {})
                .await
                .unwrap()
        }

        async fn broken_at(&self) -> i64 {
            let report = self.check().await;
            report.broken.expect("the change is detected").seq
        }
    }

    fn entry(n: i64, time_ms: i64) -> AuditEntry {
        AuditEntry {
            time_ms,
            actor: format!("user{n}"),
            action: "login".into(),
            resource: "session".into(),
            outcome: "success".into(),
            details: format!("{{\"n\":{n}}}"),
            ..AuditEntry::default()
        }
    }

    /// A writer on `store` with a fresh signing key (kept in the returned directory),
    /// signing a checkpoint every `every` records.
    fn writer_for(
        store: Store,
        every: u64,
    ) -> (
        Arc<Store>,
        Arc<CheckpointSigner>,
        AuditWriter,
        tempfile::TempDir,
    ) {
        let keys = tempfile::tempdir().unwrap();
        let signer = Arc::new(CheckpointSigner::from_file(&keys.path().join("k"), true).unwrap());
        let store = Arc::new(store);
        let policy = CheckpointPolicy {
            every,
            interval: Duration::from_secs(3600),
        };
        let writer = AuditWriter::start(
            store.clone(),
            signer.clone(),
            policy,
            Arc::new(Metrics::new()),
        );
        (store, signer, writer, keys)
    }

    /// Logs with `count` records written by 8 concurrent writers, on every test store.
    async fn written_logs(count: i64) -> Vec<(Log, Option<tempfile::TempDir>)> {
        let mut logs = Vec::new();
        for (store, dir) in stores().await {
            let (store, signer, writer, keys) = writer_for(store, 10);
            let tasks: Vec<_> = (0..8)
                .map(|task| {
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        let mut seqs = Vec::new();
                        for n in (task..count).step_by(8) {
                            seqs.push(writer.append(entry(n, now_ms())).await.unwrap());
                        }
                        seqs
                    })
                })
                .collect();
            let mut seqs = Vec::new();
            for task in tasks {
                seqs.extend(task.await.unwrap());
            }
            writer.close().await;
            seqs.sort_unstable();
            assert_eq!(
                seqs,
                (1..=count).collect::<Vec<_>>(),
                "each event acked once"
            );
            let verifier = CheckpointVerifier::from_base64(&signer.public_key()).unwrap();
            let log = Log {
                store,
                verifier,
                _keys: keys,
            };
            logs.push((log, dir));
        }
        logs
    }

    #[tokio::test]
    async fn an_untouched_log_verifies() {
        for (log, _dir) in written_logs(50).await {
            let report = log.check().await;
            assert_eq!(report.broken, None);
            assert_eq!(report.records, 50);
            assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(50)));
            // At least every 10 records, and the last one when the writer closed.
            assert!(report.checkpoints >= 1, "{report:?}");
            let last = log.store.audit_checkpoints().await.unwrap();
            assert_eq!(last.last().map(|c| c.seq), Some(50));
        }
    }

    #[tokio::test]
    async fn a_modified_record_is_found() {
        for (log, _dir) in written_logs(30).await {
            execute(
                &log.store,
                "UPDATE audit_log SET actor = 'mallory' WHERE seq = 12",
            )
            .await;
            assert_eq!(log.broken_at().await, 12);
        }
    }

    #[tokio::test]
    async fn a_deleted_record_is_found() {
        for (log, _dir) in written_logs(30).await {
            execute(&log.store, "DELETE FROM audit_log WHERE seq = 12").await;
            let report = log.check().await;
            let broken = report.broken.unwrap();
            assert_eq!(broken.seq, 12);
            assert!(broken.reason.contains("missing"), "{broken}");
        }
    }

    #[tokio::test]
    async fn an_inserted_record_is_found() {
        for (log, _dir) in written_logs(30).await {
            // Make room at 12 and slip a record in, copied from record 3.
            execute(
                &log.store,
                "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 12",
            )
            .await;
            execute(
                &log.store,
                "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1012",
            )
            .await;
            execute(
                &log.store,
                "INSERT INTO audit_log SELECT 12, time_ms, actor, action, resource, resource_id, \
                 outcome, ip, request_id, purpose, details, hash FROM audit_log WHERE seq = 3",
            )
            .await;
            assert_eq!(log.broken_at().await, 12);
        }
    }

    #[tokio::test]
    async fn reordered_records_are_found() {
        for (log, _dir) in written_logs(30).await {
            execute(&log.store, "UPDATE audit_log SET seq = 1000 WHERE seq = 12").await;
            execute(&log.store, "UPDATE audit_log SET seq = 12 WHERE seq = 13").await;
            execute(&log.store, "UPDATE audit_log SET seq = 13 WHERE seq = 1000").await;
            assert_eq!(log.broken_at().await, 12);
        }
    }

    #[tokio::test]
    async fn a_rewritten_chain_fails_at_the_next_checkpoint() {
        for (log, _dir) in written_logs(30).await {
            // The attacker changes record 12 and recomputes every hash after it, head too.
            let mut records = log
                .store
                .audit_records(&AuditFilter {
                    limit: 100,
                    ..AuditFilter::default()
                })
                .await
                .unwrap();
            records[11].actor = "mallory".into();
            let mut prev = records[10].hash.clone();
            for record in &mut records[11..] {
                record.hash = hex(&record_hash(&prev, &record.view()));
                prev.clone_from(&record.hash);
                execute(
                    &log.store,
                    &format!(
                        "UPDATE audit_log SET actor = '{}', hash = '{}' WHERE seq = {}",
                        record.actor, record.hash, record.seq
                    ),
                )
                .await;
            }
            execute(
                &log.store,
                &format!("UPDATE audit_head SET hash = '{prev}' WHERE id = 1"),
            )
            .await;
            let report = log.check().await;
            let broken = report.broken.unwrap();
            let first_checkpoint_after = log
                .store
                .audit_checkpoints()
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.seq >= 12)
                .unwrap()
                .seq;
            assert_eq!(broken.seq, first_checkpoint_after, "{broken}");
            assert!(broken.reason.contains("checkpoint"), "{broken}");
        }
    }

    #[tokio::test]
    async fn records_cut_from_the_end_or_forged_checkpoints_are_found() {
        for (log, _dir) in written_logs(30).await {
            execute(&log.store, "DELETE FROM audit_checkpoints WHERE seq = 30").await;
            execute(&log.store, "DELETE FROM audit_log WHERE seq >= 29").await;
            let broken = log.check().await.broken.unwrap();
            assert!(broken.reason.contains("removed from the end"), "{broken}");
        }
        for (log, _dir) in written_logs(20).await {
            let other = tempfile::tempdir().unwrap();
            let forger = CheckpointSigner::from_file(&other.path().join("k"), true).unwrap();
            let forged = forger.sign(20, &"00".repeat(32), 0);
            execute(&log.store, "DELETE FROM audit_checkpoints WHERE seq = 20").await;
            log.store.add_audit_checkpoint(&forged).await.unwrap();
            let broken = log.check().await.broken.unwrap();
            assert_eq!(broken.seq, 20);
            assert!(broken.reason.contains("signature"), "{broken}");
        }
    }

    #[tokio::test]
    async fn pruning_keeps_the_rest_verifiable() {
        for (store, _dir) in stores().await {
            let (store, signer, writer, _keys) = writer_for(store, 1000);
            let old = now_ms() - 100 * 86_400_000;
            for n in 0..10 {
                writer.append(entry(n, old)).await.unwrap();
            }
            for n in 10..15 {
                writer.append(entry(n, now_ms())).await.unwrap();
            }
            writer.close().await;
            let pruned = crate::audit::prune(&store, &signer, Duration::from_secs(90 * 86_400))
                .await
                .unwrap();
            assert_eq!(pruned, 10);
            let verifier = CheckpointVerifier::from_base64(&signer.public_key()).unwrap();
            let report = verify(store.as_ref(), &verifier, |_| {}).await.unwrap();
            assert_eq!(report.broken, None, "{report:?}");
            assert_eq!((report.first_seq, report.records), (Some(11), 5));
            // Without the anchor, the start of what is left cannot be trusted.
            execute(&store, "DELETE FROM audit_checkpoints WHERE seq = 10").await;
            let report = verify(store.as_ref(), &verifier, |_| {}).await.unwrap();
            assert_eq!(report.broken.map(|b| b.seq), Some(11));
        }
    }
}
