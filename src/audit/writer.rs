//! Group commit: callers hand events to one writer task and wait; the writer takes every
//! event queued while the last transaction ran, chains them onto the head and commits them
//! in one transaction, then acknowledges each. An event is acknowledged only once durable,
//! and under load one fsync covers thousands of events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::chain::{self, AuditEntry};
use super::signing::CheckpointSigner;
use crate::observability::metrics::Metrics;
use crate::store::{AuditHead, AuditStore, SealedBatch, Store, StoreError, unix_now_ms as now_ms};

/// Most events in one transaction; more wait for the next.
const MAX_BATCH: usize = 4096;
/// Events waiting for the writer before appenders wait for room.
const QUEUE: usize = 65_536;

/// Why an event was not written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("the audit log is closed")]
    Closed,
    #[error("writing the audit log failed: {0}")]
    Store(String),
}

/// When the writer signs a checkpoint: after this many records or this much time since the
/// last one, whichever comes first, and when it stops.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    pub every: u64,
    pub interval: Duration,
}

/// Where a caller learns its event's sequence number once it is durable.
type Ack = oneshot::Sender<Result<i64, AuditError>>;

// Close is sent once per writer; boxing the other variant would allocate for every event.
#[allow(clippy::large_enum_variant)]
enum Command {
    Append(AuditEntry, Ack),
    Close(oneshot::Sender<()>),
}

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Command>,
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(
        store: Arc<Store>,
        signer: Arc<CheckpointSigner>,
        policy: CheckpointPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (queue, commands) = mpsc::channel(QUEUE);
        let writer = Writer {
            store,
            signer,
            policy,
            metrics,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            unsigned: None,
            syncing: TaskTracker::new(),
        };
        tokio::spawn(writer.run(commands));
        Self { queue }
    }

    /// Appends `entry`; returns its sequence number once it is durable.
    pub async fn append(&self, entry: AuditEntry) -> Result<i64, AuditError> {
        let (ack, acked) = oneshot::channel();
        self.queue
            .send(Command::Append(entry, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        acked.await.map_err(|_| AuditError::Closed)?
    }

    /// Events waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Writes what is queued, signs a last checkpoint and stops the writer.
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Command::Close(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

struct Writer {
    store: Arc<Store>,
    signer: Arc<CheckpointSigner>,
    policy: CheckpointPolicy,
    metrics: Arc<Metrics>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// The newest record written that no checkpoint covers yet.
    unsigned: Option<AuditHead>,
    /// Batches committed and waiting to be durable before they are acknowledged.
    syncing: TaskTracker,
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.policy.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut received = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                count = commands.recv_many(&mut received, MAX_BATCH) => {
                    if count == 0 {
                        break;
                    }
                    let mut entries = Vec::with_capacity(count);
                    let mut acks = Vec::with_capacity(count);
                    let mut closers = Vec::new();
                    for command in received.drain(..) {
                        match command {
                            Command::Append(entry, ack) => {
                                entries.push(entry);
                                acks.push(ack);
                            }
                            Command::Close(done) => closers.push(done),
                        }
                    }
                    if !entries.is_empty() {
                        self.write(entries, acks).await;
                    }
                    if !closers.is_empty() {
                        self.finish().await;
                        for done in closers {
                            let _ = done.send(());
                        }
                        return;
                    }
                }
                _ = tick.tick() => {
                    if self.last_checkpoint.elapsed() >= self.policy.interval {
                        self.sign_unsigned().await;
                    }
                }
            }
        }
        self.finish().await;
    }

    /// Signs what no checkpoint covers and waits until every batch is durable and answered.
    async fn finish(&mut self) {
        self.sign_unsigned().await;
        self.syncing.close();
        self.syncing.wait().await;
    }

    async fn write(&mut self, entries: Vec<AuditEntry>, acks: Vec<Ack>) {
        let started = Instant::now();
        let due = self.since_checkpoint + entries.len() as u64 >= self.policy.every
            || self.last_checkpoint.elapsed() >= self.policy.interval;
        let signer = self.signer.clone();
        let seal = Box::new(move |head: &AuditHead| {
            let records = chain::seal(head, entries);
            let checkpoint = records
                .last()
                .filter(|_| due)
                .map(|last| signer.sign(last.seq, &last.hash, now_ms()));
            SealedBatch {
                records,
                checkpoint,
            }
        });
        let failed = |metrics: &Metrics, acks: Vec<Ack>, err: StoreError| {
            metrics.audit_batch(acks.len(), 0.0, false);
            tracing::error!(error = %err, records = acks.len(), "writing the audit log failed");
            let failure = AuditError::Store(err.to_string());
            for ack in acks {
                let _ = ack.send(Err(failure.clone()));
            }
        };
        let (batch, durable) = match self.store.append_audit(seal).await {
            Ok(appended) => appended,
            Err(err) => return failed(&self.metrics, acks, err),
        };
        if batch.checkpoint.is_some() {
            self.metrics.audit_checkpoint();
            self.since_checkpoint = 0;
            self.last_checkpoint = Instant::now();
            self.unsigned = None;
        } else {
            self.since_checkpoint += batch.records.len() as u64;
            self.unsigned = batch.records.last().map(|last| AuditHead {
                seq: last.seq,
                hash: last.hash.clone(),
            });
        }
        // The next batch is written while this one is being made durable.
        let seqs: Vec<i64> = batch.records.iter().map(|record| record.seq).collect();
        let metrics = self.metrics.clone();
        let syncing = self.syncing.token();
        durable.then(move |durable| {
            match durable {
                Ok(()) => {
                    metrics.audit_batch(seqs.len(), started.elapsed().as_secs_f64(), true);
                    for (ack, seq) in acks.into_iter().zip(seqs) {
                        let _ = ack.send(Ok(seq));
                    }
                }
                Err(err) => failed(&metrics, acks, err),
            }
            drop(syncing);
        });
    }

    /// Signs a checkpoint for the newest record written, if none covers it yet.
    async fn sign_unsigned(&mut self) {
        let Some(head) = self.unsigned.take() else {
            return;
        };
        let checkpoint = self.signer.sign(head.seq, &head.hash, now_ms());
        match self.store.add_audit_checkpoint(&checkpoint).await {
            Ok(()) => {
                self.metrics.audit_checkpoint();
                self.since_checkpoint = 0;
                self.last_checkpoint = Instant::now();
            }
            Err(err) => {
                tracing::error!(error = %err, "writing an audit checkpoint failed");
                self.unsigned = Some(head);
            }
        }
    }
}
