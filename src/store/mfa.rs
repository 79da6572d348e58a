//! Second factors: TOTP secrets (with the last accepted time step, so a code works once) and
//! one-time recovery codes (hashes only).

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// A user's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError>;
    /// Starts (or restarts) an enrolment with a new, unconfirmed secret.
    async fn begin_totp(&self, user_id: &str, secret: &str, now: i64) -> Result<(), StoreError>;
    async fn confirm_totp(&self, user_id: &str) -> Result<(), StoreError>;
    /// Accepts time step `step` if it is newer than the last accepted one; false: replayed.
    async fn advance_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError>;
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<(), StoreError>;
    /// Spends a recovery code; false if unknown or already used.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl MfaStore for Store {
    async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let row =
            sqlx::query("SELECT secret, confirmed, last_step FROM mfa_totp WHERE user_id = $1")
                .bind(user_id.to_owned())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| -> Result<TotpRecord, sqlx::Error> {
            Ok(TotpRecord {
                secret: row.try_get("secret")?,
                confirmed: row.try_get::<i64, _>("confirmed")? != 0,
                last_step: row.try_get("last_step")?,
            })
        })
        .transpose()
        .map_err(StoreError::from)
    }

    async fn begin_totp(&self, user_id: &str, secret: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret, confirmed, last_step, created_at) VALUES ($1, $2, 0, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed = 0, last_step = 0, created_at = excluded.created_at",
        )
        .bind(user_id.to_owned())
        .bind(secret.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn confirm_totp(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mfa_totp SET confirmed = 1 WHERE user_id = $1")
            .bind(user_id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn advance_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1")
                .bind(step)
                .bind(user_id.to_owned())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_owned())
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id.to_owned())
                .bind(hash.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now)
            .bind(user_id.to_owned())
            .bind(hash.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{ana, stores};

    #[tokio::test]
    async fn totp_steps_and_recovery_codes_are_single_use_on_every_backend() {
        for (store, _dir) in stores().await {
            let user = ana(&store).await;
            assert!(store.totp(&user.id).await.unwrap().is_none());
            store.begin_totp(&user.id, "SECRETA", 1).await.unwrap();
            store.begin_totp(&user.id, "SECRETB", 2).await.unwrap();
            store.confirm_totp(&user.id).await.unwrap();
            assert_eq!(
                store.totp(&user.id).await.unwrap().unwrap(),
                TotpRecord {
                    secret: "SECRETB".into(),
                    confirmed: true,
                    last_step: 0
                }
            );
            assert!(store.advance_totp_step(&user.id, 100).await.unwrap());
            assert!(
                !store.advance_totp_step(&user.id, 100).await.unwrap(),
                "the same step twice is a replay"
            );
            assert!(!store.advance_totp_step(&user.id, 99).await.unwrap());
            store
                .replace_recovery_codes(&user.id, &["h1".into(), "h2".into()])
                .await
                .unwrap();
            assert!(store.use_recovery_code(&user.id, "h1", 5).await.unwrap());
            assert!(!store.use_recovery_code(&user.id, "h1", 6).await.unwrap());
            store
                .replace_recovery_codes(&user.id, &["h3".into()])
                .await
                .unwrap();
            assert!(
                !store.use_recovery_code(&user.id, "h2", 7).await.unwrap(),
                "replaced codes are gone"
            );
        }
    }
}
