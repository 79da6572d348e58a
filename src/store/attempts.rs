//! Login attempts: what the brute-force regulator decides from.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// Failures counted for one user or address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: i64,
    /// Time of the latest failure, if any.
    pub last_at: Option<i64>,
}

#[async_trait]
pub trait AttemptStore: Send + Sync {
    async fn record_attempt(
        &self,
        username: &str,
        ip: &str,
        success: bool,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Failures of `username` after `since` and after its latest success.
    async fn user_failures(&self, username: &str, since: i64) -> Result<Failures, StoreError>;
    /// Failures from `ip` after `since`, whatever the user name.
    async fn ip_failures(&self, ip: &str, since: i64) -> Result<Failures, StoreError>;
    async fn prune_attempts(&self, before: i64) -> Result<(), StoreError>;
}

fn failures(row: &sqlx::any::AnyRow) -> Result<Failures, sqlx::Error> {
    Ok(Failures {
        count: row.try_get("count")?,
        last_at: row.try_get("last_at")?,
    })
}

#[async_trait]
impl AttemptStore for Store {
    async fn record_attempt(
        &self,
        username: &str,
        ip: &str,
        success: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_attempts (username, ip, at, success) VALUES ($1, $2, $3, $4)",
        )
        .bind(username.to_owned())
        .bind(ip.to_owned())
        .bind(now)
        .bind(i64::from(success))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user_failures(&self, username: &str, since: i64) -> Result<Failures, StoreError> {
        let last_success: Option<i64> = sqlx::query(
            "SELECT MAX(at) AS at FROM login_attempts WHERE username = $1 AND success = 1",
        )
        .bind(username.to_owned())
        .fetch_one(&self.pool)
        .await?
        .try_get("at")?;
        let since = since.max(last_success.unwrap_or(i64::MIN));
        let row = sqlx::query(
            "SELECT COUNT(*) AS count, MAX(at) AS last_at FROM login_attempts WHERE username = $1 AND success = 0 AND at > $2",
        )
        .bind(username.to_owned())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(failures(&row)?)
    }

    async fn ip_failures(&self, ip: &str, since: i64) -> Result<Failures, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS count, MAX(at) AS last_at FROM login_attempts WHERE ip = $1 AND success = 0 AND at > $2")
            .bind(ip.to_owned())
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(failures(&row)?)
    }

    async fn prune_attempts(&self, before: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn failures_count_since_the_last_success_on_every_backend() {
        for (store, _dir) in stores().await {
            for at in [10, 20, 30] {
                store
                    .record_attempt("ana", "10.0.0.1", false, at)
                    .await
                    .unwrap();
            }
            assert_eq!(
                store.user_failures("ana", 0).await.unwrap(),
                Failures {
                    count: 3,
                    last_at: Some(30)
                }
            );
            assert_eq!(
                store.user_failures("ana", 15).await.unwrap().count,
                2,
                "{:?}",
                store.backend()
            );
            store
                .record_attempt("ana", "10.0.0.1", true, 40)
                .await
                .unwrap();
            store
                .record_attempt("ana", "10.0.0.2", false, 50)
                .await
                .unwrap();
            assert_eq!(
                store.user_failures("ana", 0).await.unwrap(),
                Failures {
                    count: 1,
                    last_at: Some(50)
                }
            );
            assert_eq!(store.ip_failures("10.0.0.1", 0).await.unwrap().count, 3);
            assert_eq!(
                store.user_failures("bob", 0).await.unwrap(),
                Failures::default()
            );
            store.prune_attempts(25).await.unwrap();
            assert_eq!(store.ip_failures("10.0.0.1", 0).await.unwrap().count, 1);
        }
    }
}
