//! Bans: the durable record every instance (and `rampart ban`) reads and writes.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// One banned subject (an IPv4 address or an IPv6 /64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    pub subject: String,
    /// Unix seconds; a ban is in force while this is in the future.
    pub until: i64,
    pub reason: String,
    /// `automatic`, or the admin (or `cli`) who banned.
    pub source: String,
    /// Automatic bans in a row; each doubles the next one's length.
    pub strikes: i64,
    pub created_at: i64,
    /// Unix milliseconds of the last change, for polling.
    pub changed_ms: i64,
}

#[async_trait]
pub trait BanStore: Send + Sync {
    /// Creates or replaces the record of `ban.subject`.
    async fn put_ban(&self, ban: &BanRecord) -> Result<(), StoreError>;
    async fn ban_record(&self, subject: &str) -> Result<Option<BanRecord>, StoreError>;
    /// Ends a ban in force and forgets its strikes; `false` when none was in force.
    async fn lift_ban(&self, subject: &str, now: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// Records changed at or after `since_ms`, in force or not.
    async fn bans_changed_since(&self, since_ms: i64) -> Result<Vec<BanRecord>, StoreError>;
    /// Bans in force at `now`, newest first.
    async fn active_bans(&self, now: i64) -> Result<Vec<BanRecord>, StoreError>;
    /// Deletes records whose ban ended before `before`.
    async fn prune_bans(&self, before: i64) -> Result<u64, StoreError>;
}

const COLUMNS: &str = "subject, until_at, reason, source, strikes, created_at, changed_ms";

fn ban_from_row(row: &sqlx::any::AnyRow) -> Result<BanRecord, sqlx::Error> {
    Ok(BanRecord {
        subject: row.try_get("subject")?,
        until: row.try_get("until_at")?,
        reason: row.try_get("reason")?,
        source: row.try_get("source")?,
        strikes: row.try_get("strikes")?,
        created_at: row.try_get("created_at")?,
        changed_ms: row.try_get("changed_ms")?,
    })
}

#[async_trait]
impl BanStore for Store {
    async fn put_ban(&self, ban: &BanRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bans (subject, until_at, reason, source, strikes, created_at, changed_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (subject) DO UPDATE SET until_at = excluded.until_at, \
             reason = excluded.reason, source = excluded.source, strikes = excluded.strikes, \
             created_at = excluded.created_at, changed_ms = excluded.changed_ms",
        )
        .bind(ban.subject.clone())
        .bind(ban.until)
        .bind(ban.reason.clone())
        .bind(ban.source.clone())
        .bind(ban.strikes)
        .bind(ban.created_at)
        .bind(ban.changed_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ban_record(&self, subject: &str) -> Result<Option<BanRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bans WHERE subject = $1"
        )))
        .bind(subject.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ban_from_row).transpose()?)
    }

    async fn lift_ban(&self, subject: &str, now: i64, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE bans SET until_at = $1, strikes = 0, changed_ms = $2 WHERE subject = $3 AND until_at > $1",
        )
        .bind(now)
        .bind(now_ms)
        .bind(subject.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn bans_changed_since(&self, since_ms: i64) -> Result<Vec<BanRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bans WHERE changed_ms >= $1"
        )))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(ban_from_row).collect::<Result<_, _>>()?)
    }

    async fn active_bans(&self, now: i64) -> Result<Vec<BanRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bans WHERE until_at > $1 ORDER BY created_at DESC, subject"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(ban_from_row).collect::<Result<_, _>>()?)
    }

    async fn prune_bans(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM bans WHERE until_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    fn record(subject: &str, until: i64, changed_ms: i64) -> BanRecord {
        BanRecord {
            subject: subject.into(),
            until,
            reason: "test".into(),
            source: "automatic".into(),
            strikes: 1,
            created_at: until - 60,
            changed_ms,
        }
    }

    #[tokio::test]
    async fn bans_are_kept_replaced_lifted_polled_and_pruned() {
        for (store, _dir) in stores().await {
            store
                .put_ban(&record("203.0.113.7", 1_000, 5_000))
                .await
                .unwrap();
            store
                .put_ban(&record("2001:db8::/64", 2_000, 6_000))
                .await
                .unwrap();
            let mut longer = record("203.0.113.7", 3_000, 7_000);
            longer.strikes = 2;
            store.put_ban(&longer).await.unwrap();
            assert_eq!(store.ban_record("203.0.113.7").await.unwrap(), Some(longer));

            let active = store.active_bans(1_500).await.unwrap();
            assert_eq!(active.len(), 2, "{active:?}");
            assert_eq!(store.bans_changed_since(6_500).await.unwrap().len(), 1);

            assert!(store.lift_ban("203.0.113.7", 1_500, 8_000).await.unwrap());
            assert!(!store.lift_ban("203.0.113.7", 1_500, 8_000).await.unwrap());
            let lifted = store.ban_record("203.0.113.7").await.unwrap().unwrap();
            assert_eq!((lifted.until, lifted.strikes), (1_500, 0));
            assert_eq!(store.active_bans(1_500).await.unwrap().len(), 1);

            assert_eq!(store.prune_bans(1_600).await.unwrap(), 1);
            assert!(store.ban_record("203.0.113.7").await.unwrap().is_none());
        }
    }
}
