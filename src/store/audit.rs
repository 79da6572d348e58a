//! The audit log's durable side: batches appended after the current head under one lock,
//! pages read for queries, exports and verification, signed checkpoints, and pruning that
//! leaves a checkpoint behind to anchor what remains. Hashing and signing happen in
//! [`crate::audit`]; this module only stores what it is given.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use super::{Backend, Store, StoreError};

/// One record of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// Unix milliseconds.
    pub time_ms: i64,
    /// Who acted: a username, `cli`, `system`, or `-` for an anonymous client.
    pub actor: String,
    pub action: String,
    /// What kind of thing was acted on (`session`, `user`, `route`, `client`, ...).
    pub resource: String,
    pub resource_id: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The client address, pseudonymized; empty when the action had no client.
    pub ip: String,
    pub request_id: String,
    /// Why the data was accessed, when a purpose was given.
    pub purpose: String,
    /// A JSON object with what else the action needs to be understood.
    pub details: String,
    /// Hex SHA-256 of the previous record's hash and this record's canonical bytes.
    pub hash: String,
}

/// A record borrowed from where it was read: what the chain hashes, without a copy.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub seq: i64,
    pub time_ms: i64,
    /// actor, action, resource, resource_id, outcome, ip, request_id, purpose, details.
    pub texts: [&'a str; 9],
    pub hash: &'a str,
}

impl AuditRecord {
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            seq: self.seq,
            time_ms: self.time_ms,
            texts: [
                &self.actor,
                &self.action,
                &self.resource,
                &self.resource_id,
                &self.outcome,
                &self.ip,
                &self.request_id,
                &self.purpose,
                &self.details,
            ],
            hash: &self.hash,
        }
    }
}

impl<'a> RecordView<'a> {
    /// A row read in [`COLUMNS`] order: `seq` and `time_ms` first, then `text(i)` reads
    /// column `i` as text borrowed from the row.
    pub(super) fn from_columns<E>(
        seq: i64,
        time_ms: i64,
        text: impl Fn(usize) -> Result<&'a str, E>,
    ) -> Result<Self, E> {
        Ok(RecordView {
            seq,
            time_ms,
            texts: [
                text(2)?,
                text(3)?,
                text(4)?,
                text(5)?,
                text(6)?,
                text(7)?,
                text(8)?,
                text(9)?,
                text(10)?,
            ],
            hash: text(11)?,
        })
    }
}

/// Sees records one by one during a scan; returns false to stop it.
pub type Visit = Box<dyn FnMut(&RecordView<'_>) -> bool + Send>;

/// The newest record's sequence number and hash (0 and zeros for an empty log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// A signed statement that record `seq` had hash `hash` at `time_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub time_ms: i64,
    /// Which signing key made it: the start of the public key's SHA-256, in hex.
    pub key_id: String,
    /// Base64url Ed25519 signature.
    pub signature: String,
}

/// Records chained onto a head, with the checkpoint to store alongside when one is due.
#[derive(Debug, Default)]
pub struct SealedBatch {
    pub records: Vec<AuditRecord>,
    pub checkpoint: Option<Checkpoint>,
}

/// Which records a query wants: all given conditions hold; results in `seq` order.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only records after this sequence number (paging).
    pub after_seq: i64,
    pub limit: i64,
}

/// What a flusher calls once the commits before it are durable, or with why they are not.
pub(super) type FlushWaiter = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Says when a committed batch is durable: at once where the commit itself synced, later
/// where a flusher syncs many commits together.
#[derive(Debug)]
#[must_use = "nothing may be acknowledged before the batch is durable"]
pub struct Durable(Option<std::sync::mpsc::Sender<FlushWaiter>>);

impl Durable {
    /// For a commit that was durable when it returned.
    pub(super) fn now() -> Self {
        Self(None)
    }

    /// For a commit that `flusher` makes durable.
    pub(super) fn after(flusher: std::sync::mpsc::Sender<FlushWaiter>) -> Self {
        Self(Some(flusher))
    }

    /// Calls `then` once the batch survives a crash or power loss (on the flusher's thread,
    /// so the answer takes no extra hop), or with why it could not be made to.
    pub fn then(self, then: impl FnOnce(Result<(), StoreError>) + Send + 'static) {
        let Some(flusher) = self.0 else {
            return then(Ok(()));
        };
        let waiter: FlushWaiter = Box::new(move |flushed| then(flushed.map_err(StoreError::Flush)));
        if let Err(std::sync::mpsc::SendError(waiter)) = flusher.send(waiter) {
            waiter(Err("the flusher stopped".into()));
        }
    }
}

/// What chains a batch onto the head it is given; called once, inside the transaction that
/// holds the head, possibly on a blocking thread.
pub type Seal = Box<dyn FnOnce(&AuditHead) -> SealedBatch + Send>;

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Locks the head, lets `seal` chain a batch onto it, and stores the records, the
    /// checkpoint and the new head in one transaction. Returns what was committed, and when
    /// it is durable: callers acknowledge nothing before that.
    async fn append_audit(&self, seal: Seal) -> Result<(SealedBatch, Durable), StoreError>;
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;
    async fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
    /// Shows up to `limit` records after `after_seq`, in order, to `visit` until it returns
    /// false; returns the last sequence number shown. The verifier reads the whole log this
    /// way: SQLite shows each record straight from its page, without copying it.
    async fn scan_audit(
        &self,
        after_seq: i64,
        limit: i64,
        visit: Visit,
    ) -> Result<Option<i64>, StoreError>;
    /// All checkpoints, oldest first.
    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;
    /// Stores a checkpoint; one already stored for the same record is kept.
    async fn add_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
    /// Deletes records older than `before_ms`. The newest deleted record is first anchored
    /// by the checkpoint `anchor` makes for it, so the chain stays verifiable.
    async fn prune_audit(
        &self,
        before_ms: i64,
        anchor: &(dyn for<'r> Fn(&'r AuditRecord) -> Checkpoint + Send + Sync),
    ) -> Result<u64, StoreError>;
}

pub(super) const COLUMNS: &str = "seq, time_ms, actor, action, resource, resource_id, outcome, ip, \
                       request_id, purpose, details, hash";
pub(super) const COLUMN_COUNT: usize = 12;
/// Rows per INSERT statement: well under SQLite's and PostgreSQL's limits on bound values.
const ROWS_PER_INSERT: usize = 200;

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        time_ms: row.try_get("time_ms")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        resource_id: row.try_get("resource_id")?,
        outcome: row.try_get("outcome")?,
        ip: row.try_get("ip")?,
        request_id: row.try_get("request_id")?,
        purpose: row.try_get("purpose")?,
        details: row.try_get("details")?,
        hash: row.try_get("hash")?,
    })
}

fn checkpoint_from_row(row: &sqlx::any::AnyRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        time_ms: row.try_get("time_ms")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

/// `($1, ..., $12), ($13, ...)` for `rows` rows on PostgreSQL; on SQLite anonymous `?`
/// placeholders, because binding a numbered one makes SQLite search the statement's
/// parameter names, which made binding a 2,400-value statement cost more than running it.
fn insert_placeholders(backend: Backend, rows: usize) -> String {
    (0..rows)
        .map(|row| {
            let fields: Vec<String> = (1..=COLUMN_COUNT)
                .map(|i| match backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${}", row * COLUMN_COUNT + i),
                })
                .collect();
            format!("({})", fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value bound to a query built at run time.
#[derive(Debug, Clone)]
pub(super) enum SqlValue {
    Int(i64),
    Text(String),
}

/// The SQL of a filtered read and its values in placeholder order (`$1`, `$2`, ...).
fn records_query(filter: &AuditFilter) -> (String, Vec<SqlValue>) {
    let mut values = vec![SqlValue::Int(filter.after_seq)];
    let mut conditions = vec!["seq > $1".to_owned()];
    for (condition, value) in [
        ("actor =", &filter.actor),
        ("action =", &filter.action),
        ("outcome =", &filter.outcome),
    ] {
        if let Some(value) = value {
            values.push(SqlValue::Text(value.clone()));
            conditions.push(format!("{condition} ${}", values.len()));
        }
    }
    for (condition, value) in [
        ("time_ms >=", filter.since_ms),
        ("time_ms <", filter.until_ms),
    ] {
        if let Some(value) = value {
            values.push(SqlValue::Int(value));
            conditions.push(format!("{condition} ${}", values.len()));
        }
    }
    values.push(SqlValue::Int(filter.limit));
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE {} ORDER BY seq LIMIT ${}",
        conditions.join(" AND "),
        values.len()
    );
    (sql, values)
}

/// Runs blocking SQLite work off the async threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, rusqlite::Error> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => Err(StoreError::Stopped(err.to_string())),
    }
}

const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_id, signature) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING";

/// The first statement of a writing transaction: a write, so that SQLite takes its write
/// lock before reading the head (a read first could see a head another writer moves), and
/// PostgreSQL locks the row until commit.
const LOCK_HEAD: &str = "UPDATE audit_head SET seq = seq WHERE id = 1";
/// [`LOCK_HEAD`] that also reads the head, in one round trip.
const LOCK_HEAD_RETURNING: &str =
    "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash";

#[async_trait]
impl AuditStore for Store {
    async fn append_audit(&self, seal: Seal) -> Result<(SealedBatch, Durable), StoreError> {
        if let Some(sqlite) = &self.sqlite_audit {
            let sqlite = sqlite.clone();
            return run_blocking(move || sqlite.append(seal)).await;
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(LOCK_HEAD_RETURNING).fetch_one(&mut *tx).await?;
        let head = AuditHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        };
        let batch = seal(&head);
        for chunk in batch.records.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO audit_log ({COLUMNS}) VALUES {}",
                insert_placeholders(self.backend, chunk.len())
            );
            // The statement holds only generated placeholders; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for record in chunk {
                query = query
                    .bind(record.seq)
                    .bind(record.time_ms)
                    .bind(record.actor.clone())
                    .bind(record.action.clone())
                    .bind(record.resource.clone())
                    .bind(record.resource_id.clone())
                    .bind(record.outcome.clone())
                    .bind(record.ip.clone())
                    .bind(record.request_id.clone())
                    .bind(record.purpose.clone())
                    .bind(record.details.clone())
                    .bind(record.hash.clone());
            }
            query.execute(&mut *tx).await?;
        }
        if let Some(checkpoint) = &batch.checkpoint {
            bind_checkpoint(sqlx::query(INSERT_CHECKPOINT), checkpoint)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(last) = batch.records.last() {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(last.seq)
                .bind(last.hash.clone())
                .execute(&mut *tx)
                .await?;
        }
        // PostgreSQL syncs its log before the commit returns.
        tx.commit().await?;
        Ok((batch, Durable::now()))
    }

    async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(AuditHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        })
    }

    async fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let (sql, values) = records_query(filter);
        if let Some(sqlite) = &self.sqlite_audit {
            let sqlite = sqlite.clone();
            return run_blocking(move || sqlite.records(&sql, &values)).await;
        }
        // Column names come from a fixed list; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = match value {
                SqlValue::Int(number) => query.bind(number),
                SqlValue::Text(text) => query.bind(text),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    async fn scan_audit(
        &self,
        after_seq: i64,
        limit: i64,
        mut visit: Visit,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(sqlite) = &self.sqlite_audit {
            let sqlite = sqlite.clone();
            return run_blocking(move || sqlite.scan(after_seq, limit, &mut visit)).await;
        }
        if let Some(postgres) = &self.postgres_reader {
            return super::postgres_audit::scan(postgres, after_seq, limit, &mut visit).await;
        }
        let filter = AuditFilter {
            after_seq,
            limit,
            ..AuditFilter::default()
        };
        let mut last = None;
        for record in self.audit_records(&filter).await? {
            last = Some(record.seq);
            if !visit(&record.view()) {
                break;
            }
        }
        Ok(last)
    }

    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, time_ms, key_id, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(checkpoint_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn add_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        bind_checkpoint(sqlx::query(INSERT_CHECKPOINT), checkpoint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_audit(
        &self,
        before_ms: i64,
        anchor: &(dyn for<'r> Fn(&'r AuditRecord) -> Checkpoint + Send + Sync),
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(LOCK_HEAD).execute(&mut *tx).await?;
        let newest_old = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE time_ms < $1 ORDER BY seq DESC LIMIT 1"
        )))
        .bind(before_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = newest_old else {
            return Ok(0);
        };
        let last_pruned = record_from_row(&row)?;
        bind_checkpoint(sqlx::query(INSERT_CHECKPOINT), &anchor(&last_pruned))
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(last_pruned.seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_checkpoints WHERE seq < $1")
            .bind(last_pruned.seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

fn bind_checkpoint<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    checkpoint: &Checkpoint,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(checkpoint.seq)
        .bind(checkpoint.hash.clone())
        .bind(checkpoint.time_ms)
        .bind(checkpoint.key_id.clone())
        .bind(checkpoint.signature.clone())
}
