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

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Locks the head, lets `seal` chain a batch onto it, and stores the records, the
    /// checkpoint and the new head in one transaction. Returns what was stored.
    async fn append_audit(
        &self,
        seal: &(dyn for<'h> Fn(&'h AuditHead) -> SealedBatch + Send + Sync),
    ) -> Result<SealedBatch, StoreError>;
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;
    async fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
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

const COLUMNS: &str = "seq, time_ms, actor, action, resource, resource_id, outcome, ip, \
                       request_id, purpose, details, hash";
const COLUMN_COUNT: usize = 12;
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
    async fn append_audit(
        &self,
        seal: &(dyn for<'h> Fn(&'h AuditHead) -> SealedBatch + Send + Sync),
    ) -> Result<SealedBatch, StoreError> {
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
        tx.commit().await?;
        Ok(batch)
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
        let mut conditions = vec!["seq > $1".to_owned()];
        let mut texts = Vec::new();
        for (column, value) in [
            ("actor", &filter.actor),
            ("action", &filter.action),
            ("outcome", &filter.outcome),
        ] {
            if let Some(value) = value {
                texts.push(value.clone());
                conditions.push(format!("{column} = ${}", texts.len() + 1));
            }
        }
        let mut numbers = Vec::new();
        for (condition, value) in [
            ("time_ms >=", filter.since_ms),
            ("time_ms <", filter.until_ms),
        ] {
            if let Some(value) = value {
                numbers.push(value);
                conditions.push(format!("{condition} ${}", texts.len() + numbers.len() + 1));
            }
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE {} ORDER BY seq LIMIT ${}",
            conditions.join(" AND "),
            texts.len() + numbers.len() + 2
        );
        // Column names come from the list above; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.after_seq);
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.bind(filter.limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
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
