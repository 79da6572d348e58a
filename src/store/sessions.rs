//! Browser sessions: only a hash of each token is stored, so a leaked database does not hand
//! out live sessions.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The login showed a second factor.
    pub mfa: bool,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Records activity, for the idle timeout.
    async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), StoreError>;
    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<(), StoreError>;
    /// "Log out everywhere"; returns how many sessions were ended.
    async fn revoke_user_sessions(&self, user_id: &str, now: i64) -> Result<u64, StoreError>;
    /// Live sessions unused since `idle_since` but used after `alive_since`, not yet nudged.
    async fn sessions_to_nudge(
        &self,
        now: i64,
        idle_since: i64,
        alive_since: i64,
    ) -> Result<Vec<Session>, StoreError>;
    /// Marks a session nudged; false if another instance did first.
    async fn claim_nudge(&self, token_hash: &str, now: i64) -> Result<bool, StoreError>;
    /// Sessions of all users neither revoked, expired, nor unused since `active_since`.
    async fn count_active_sessions(&self, now: i64, active_since: i64) -> Result<i64, StoreError>;
    /// Sessions neither revoked nor past their absolute expiry, oldest first.
    async fn live_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError>;
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        token_hash: row.try_get("token_hash")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        mfa: row.try_get::<i64, _>("mfa")? != 0,
    })
}

/// Columns of a [`Session`], as a literal so queries stay literal SQL.
macro_rules! session_columns {
    () => {
        "token_hash, user_id, created_at, last_seen_at, expires_at, revoked_at, mfa"
    };
}

#[async_trait]
impl SessionStore for Store {
    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, mfa) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.token_hash.clone())
        .bind(s.user_id.clone())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(i64::from(s.mfa))
        .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE token_hash = $1"
        ))
        .bind(token_hash.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1, nudged_at = NULL WHERE token_hash = $2 AND last_seen_at < $1",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_user_sessions(&self, user_id: &str, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn sessions_to_nudge(
        &self,
        now: i64,
        idle_since: i64,
        alive_since: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE revoked_at IS NULL AND nudged_at IS NULL AND expires_at > $1",
            " AND last_seen_at <= $2 AND last_seen_at > $3 ORDER BY last_seen_at LIMIT 500"
        ))
        .bind(now)
        .bind(idle_since)
        .bind(alive_since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn claim_nudge(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET nudged_at = $1 WHERE token_hash = $2 AND nudged_at IS NULL",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_active_sessions(&self, now: i64, active_since: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS count FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 AND last_seen_at > $2",
        )
        .bind(now)
        .bind(active_since)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("count")?)
    }

    async fn live_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, token_hash"
        ))
        .bind(user_id.to_owned())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{ana, stores};

    fn session(hash: &str, user_id: &str, created_at: i64) -> Session {
        Session {
            token_hash: hash.to_owned(),
            user_id: user_id.to_owned(),
            created_at,
            last_seen_at: created_at,
            expires_at: created_at + 3600,
            revoked_at: None,
            mfa: false,
        }
    }

    #[tokio::test]
    async fn sessions_live_until_revoked_or_expired_on_every_backend() {
        for (store, _dir) in stores().await {
            let user = ana(&store).await;
            store
                .create_session(&session("a", &user.id, 100))
                .await
                .unwrap();
            store
                .create_session(&session("b", &user.id, 200))
                .await
                .unwrap();
            store.touch_session("a", 150).await.unwrap();
            store.touch_session("a", 120).await.unwrap();
            assert_eq!(
                store.session("a").await.unwrap().unwrap().last_seen_at,
                150,
                "touch never moves time back"
            );

            let live: Vec<String> = store
                .live_sessions(&user.id, 300)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.token_hash)
                .collect();
            assert_eq!(live, ["a", "b"], "{:?}", store.backend());
            assert_eq!(
                store.live_sessions(&user.id, 3750).await.unwrap().len(),
                1,
                "a expired at 3700"
            );

            store.revoke_session("a", 400).await.unwrap();
            assert_eq!(
                store.session("a").await.unwrap().unwrap().revoked_at,
                Some(400)
            );
            assert_eq!(store.revoke_user_sessions(&user.id, 500).await.unwrap(), 1);
            assert!(store.live_sessions(&user.id, 600).await.unwrap().is_empty());
            assert!(store.session("missing").await.unwrap().is_none());
            store
                .create_session(&session("c", &user.id, 700))
                .await
                .unwrap();
            assert_eq!(store.count_active_sessions(800, 650).await.unwrap(), 1);
            assert_eq!(
                store.count_active_sessions(800, 750).await.unwrap(),
                0,
                "idle since 700"
            );
            let due: Vec<String> = store
                .sessions_to_nudge(800, 750, 600)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.token_hash)
                .collect();
            assert_eq!(due, ["c"]);
            assert!(store.claim_nudge("c", 800).await.unwrap());
            assert!(
                !store.claim_nudge("c", 801).await.unwrap(),
                "one instance wins"
            );
            assert!(
                store
                    .sessions_to_nudge(800, 750, 600)
                    .await
                    .unwrap()
                    .is_empty()
            );
            store.touch_session("c", 900).await.unwrap();
            assert!(
                store.claim_nudge("c", 1000).await.unwrap(),
                "activity re-arms the nudge"
            );
        }
    }
}
