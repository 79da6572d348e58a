//! The audit log on SQLite through two connections of its own, used from blocking threads.
//!
//! The audit writer and the verifier move hundreds of thousands of rows a second. Through the
//! shared sqlx pool every statement hops to a driver thread and every value is converted
//! twice, which cost more than SQLite's own work: 48k durable events/s at 64 writers and
//! verification at 110k records/s. Here a whole transaction is one function call on the
//! caller's thread. The schema is still the migrations', and other writers (the sqlx pool,
//! another process) are serialised by SQLite's write lock as before.
//!
//! Commits are made durable by a flusher thread, as databases do group commit: the writer
//! connection commits without syncing (`synchronous = NORMAL` appends the frames to the
//! write-ahead log) and asks the flusher; the flusher `fdatasync`s the log once for every
//! commit asked for since its last sync, and only then are those commits reported durable.
//! So the next batch is written while the last one is being synced, instead of after, and a
//! crash loses only commits nobody was told were durable. SQLite itself syncs the log before
//! every checkpoint copies it into the database, and a connection of ours stays open, so the
//! log file is never removed under the flusher.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params, params_from_iter};

use super::audit::{COLUMNS, Durable, FlushWaiter, Seal, SqlValue};
use super::{AuditHead, AuditRecord, RecordView, SealedBatch, StoreError, Visit};

/// How long a transaction waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection appends, one reads, so a long verification never holds up a write.
#[derive(Debug)]
pub(super) struct SqliteAudit {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Where commits wait for the flusher; the flusher stops when this is dropped.
    flushes: mpsc::Sender<FlushWaiter>,
}

impl SqliteAudit {
    /// Opens the database file the migrations have already prepared.
    pub(super) fn open(file: &Path) -> Result<Self, StoreError> {
        let connect = |synchronous: &str| -> rusqlite::Result<Connection> {
            let connection = Connection::open_with_flags(
                file,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            connection.busy_timeout(BUSY_TIMEOUT)?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", synchronous)?;
            Ok(connection)
        };
        // The flusher syncs the writer's commits (module docs).
        let writer = connect("NORMAL")?;
        let reader = connect("FULL")?;
        let (flushes, requests) = mpsc::channel();
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        let directory = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        std::thread::Builder::new()
            .name("rampart-audit-flush".into())
            .spawn(move || flush_loop(&PathBuf::from(wal), &directory, &requests))
            .map_err(|err| StoreError::Stopped(format!("cannot start the audit flusher: {err}")))?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            flushes,
        })
    }

    /// Takes the write lock, chains the batch onto the head and commits it with the new head
    /// (and checkpoint) in one transaction; the batch is durable once [`Durable`] says so.
    pub(super) fn append(&self, seal: Seal) -> rusqlite::Result<(SealedBatch, Durable)> {
        let mut connection = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // IMMEDIATE: the write lock is taken before the head is read, so no other writer can
        // move the head in between.
        let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let head = tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
            Ok(AuditHead {
                seq: row.get(0)?,
                hash: row.get(1)?,
            })
        })?;
        let batch = seal(&head);
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?;
            for r in &batch.records {
                insert.execute(params![
                    r.seq,
                    r.time_ms,
                    r.actor,
                    r.action,
                    r.resource,
                    r.resource_id,
                    r.outcome,
                    r.ip,
                    r.request_id,
                    r.purpose,
                    r.details,
                    r.hash,
                ])?;
            }
        }
        if let Some(c) = &batch.checkpoint {
            tx.execute(
                "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_id, signature) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
                params![c.seq, c.hash, c.time_ms, c.key_id, c.signature],
            )?;
        }
        if let Some(last) = batch.records.last() {
            tx.execute(
                "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                params![last.seq, last.hash],
            )?;
        }
        tx.commit()?;
        Ok((batch, Durable::after(self.flushes.clone())))
    }

    /// Shows up to `limit` records after `after_seq` to `visit`, borrowed from SQLite's row
    /// buffers; returns the last sequence number shown.
    pub(super) fn scan(
        &self,
        after_seq: i64,
        limit: i64,
        visit: &mut Visit,
    ) -> rusqlite::Result<Option<i64>> {
        let connection = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut query = connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"
        ))?;
        let mut rows = query.query(params![after_seq, limit])?;
        let mut last = None;
        while let Some(row) = rows.next()? {
            let text = |i: usize| -> rusqlite::Result<&str> {
                row.get_ref(i)?.as_str().map_err(|err| {
                    rusqlite::Error::FromSqlConversionFailure(
                        i,
                        rusqlite::types::Type::Text,
                        err.into(),
                    )
                })
            };
            let record = RecordView::from_columns(row.get(0)?, row.get(1)?, text)?;
            last = Some(record.seq);
            if !visit(&record) {
                break;
            }
        }
        Ok(last)
    }

    /// Runs a read built by [`super::audit`] and returns its records.
    pub(super) fn records(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> rusqlite::Result<Vec<AuditRecord>> {
        let connection = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut query = connection.prepare_cached(sql)?;
        let values = values.iter().map(|value| match value {
            SqlValue::Int(number) => rusqlite::types::Value::Integer(*number),
            SqlValue::Text(text) => rusqlite::types::Value::Text(text.clone()),
        });
        let rows = query.query_map(params_from_iter(values), |row| {
            Ok(AuditRecord {
                seq: row.get(0)?,
                time_ms: row.get(1)?,
                actor: row.get(2)?,
                action: row.get(3)?,
                resource: row.get(4)?,
                resource_id: row.get(5)?,
                outcome: row.get(6)?,
                ip: row.get(7)?,
                request_id: row.get(8)?,
                purpose: row.get(9)?,
                details: row.get(10)?,
                hash: row.get(11)?,
            })
        })?;
        rows.collect()
    }
}

/// Syncs the write-ahead log once for all commits that asked since the last sync, and
/// answers each. After a failed sync every later one fails too: the kernel may have dropped
/// the pages it could not write, so a later success would not prove them durable.
fn flush_loop(wal: &Path, directory: &Path, requests: &mpsc::Receiver<FlushWaiter>) {
    let mut log: Option<File> = None;
    let mut failed: Option<String> = None;
    while let Ok(first) = requests.recv() {
        let waiting: Vec<_> = std::iter::once(first).chain(requests.try_iter()).collect();
        let result = match &failed {
            Some(err) => Err(err.clone()),
            None => sync(&mut log, wal, directory).map_err(|err| {
                let err = format!("syncing {}: {err}", wal.display());
                failed = Some(err.clone());
                err
            }),
        };
        for waiter in waiting {
            waiter(result.clone());
        }
    }
}

/// `fdatasync`s the log; the first time also syncs its directory, so that a log SQLite
/// just created is found after a power loss.
fn sync(log: &mut Option<File>, wal: &Path, directory: &Path) -> std::io::Result<()> {
    if log.is_none() {
        File::open(directory)?.sync_all()?;
        *log = Some(File::open(wal)?);
    }
    log.as_ref().map_or(Ok(()), File::sync_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a flusher for `wal` and returns the way to ask it, and its thread.
    fn flusher(wal: &Path) -> (mpsc::Sender<FlushWaiter>, std::thread::JoinHandle<()>) {
        let (flushes, requests) = mpsc::channel();
        let (wal, directory) = (wal.to_path_buf(), wal.parent().unwrap().to_path_buf());
        let thread = std::thread::spawn(move || flush_loop(&wal, &directory, &requests));
        (flushes, thread)
    }

    fn ask(flushes: &mpsc::Sender<FlushWaiter>) -> mpsc::Receiver<Result<(), String>> {
        let (done, answer) = mpsc::channel();
        flushes
            .send(Box::new(move |flushed| done.send(flushed).unwrap()))
            .unwrap();
        answer
    }

    #[test]
    fn every_waiting_commit_is_answered_and_the_flusher_stops_with_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("rampart.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let (flushes, thread) = flusher(&wal);
        let answers: Vec<_> = (0..3).map(|_| ask(&flushes)).collect();
        for answer in answers {
            assert_eq!(answer.recv().unwrap(), Ok(()));
        }
        drop(flushes);
        thread.join().unwrap();
    }

    #[test]
    fn after_a_failed_sync_nothing_is_reported_durable() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("rampart.db-wal");
        let (flushes, thread) = flusher(&wal);
        let failure = ask(&flushes).recv().unwrap().unwrap_err();
        assert!(failure.contains("rampart.db-wal"), "{failure}");
        // Even once the file is there: the pages the failed sync covered may be gone.
        std::fs::write(&wal, b"frames").unwrap();
        assert_eq!(ask(&flushes).recv().unwrap(), Err(failure));
        drop(flushes);
        thread.join().unwrap();
    }
}
