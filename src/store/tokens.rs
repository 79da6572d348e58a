//! Token state: the keys that sign access tokens, and refresh tokens with their rotation
//! families (a refresh token used twice means it was stolen: the whole family is revoked).

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// A key that signs (while current) and verifies (until retired long enough) access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: String,
    pub private_key: String,
    pub public_key: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A stored refresh token (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The login that started the family showed a second factor.
    pub mfa: bool,
}

/// What happened when a refresh token was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use: the token is now spent; issue its successor in the same family.
    Fresh(RefreshToken),
    /// Already spent or revoked: the family has been revoked now.
    Reused {
        user_id: String,
    },
    Unknown,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    async fn add_signing_key(&self, key: &SigningKey) -> Result<(), StoreError>;
    /// Every key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;
    async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<(), StoreError>;
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn add_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;
    /// Spends a token atomically, or, if it was already spent, revokes its family.
    async fn use_refresh_token(&self, token_hash: &str, now: i64)
    -> Result<RefreshUse, StoreError>;
    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<(), StoreError>;
    /// Revokes the family of the token with this hash (logout with a refresh token).
    async fn revoke_refresh_family_of(&self, token_hash: &str, now: i64) -> Result<(), StoreError>;
    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> Result<(), StoreError>;
}

#[async_trait]
impl SigningKeyStore for Store {
    async fn add_signing_key(&self, key: &SigningKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(key.kid.clone())
            .bind(key.algorithm.clone())
            .bind(key.private_key.clone())
            .bind(key.public_key.clone())
            .bind(key.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKey {
                    kid: row.try_get("kid")?,
                    algorithm: row.try_get("algorithm")?,
                    private_key: row.try_get("private_key")?,
                    public_key: row.try_get("public_key")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
        )
        .bind(now)
        .bind(kid.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl RefreshTokenStore for Store {
    async fn add_refresh_token(&self, t: &RefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at, mfa) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.token_hash.clone())
        .bind(t.family_id.clone())
        .bind(t.user_id.clone())
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(i64::from(t.mfa))
        .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        // The conditional update is the atomic step: of two concurrent uses, one wins.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at, mfa FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshUse::Unknown);
        };
        let token = RefreshToken {
            token_hash: row.try_get("token_hash")?,
            family_id: row.try_get("family_id")?,
            user_id: row.try_get("user_id")?,
            issued_at: row.try_get("issued_at")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            revoked_at: row.try_get("revoked_at")?,
            mfa: row.try_get::<i64, _>("mfa")? != 0,
        };
        if spent.rows_affected() == 1 {
            return Ok(RefreshUse::Fresh(token));
        }
        if token.expires_at <= now && token.used_at.is_none() && token.revoked_at.is_none() {
            // Merely expired: not a sign of theft.
            return Ok(RefreshUse::Unknown);
        }
        self.revoke_refresh_family(&token.family_id, now).await?;
        Ok(RefreshUse::Reused {
            user_id: token.user_id,
        })
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_refresh_family_of(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $2)",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{ana, stores};

    fn token(hash: &str, family: &str, user_id: &str) -> RefreshToken {
        RefreshToken {
            token_hash: hash.into(),
            family_id: family.into(),
            user_id: user_id.into(),
            issued_at: 100,
            expires_at: 1000,
            used_at: None,
            revoked_at: None,
            mfa: false,
        }
    }

    #[tokio::test]
    async fn a_reused_refresh_token_revokes_its_family_on_every_backend() {
        for (store, _dir) in stores().await {
            let user = ana(&store).await;
            store
                .add_refresh_token(&token("r1", "f", &user.id))
                .await
                .unwrap();
            store
                .add_refresh_token(&token("r2", "f", &user.id))
                .await
                .unwrap();
            store
                .add_refresh_token(&token("other", "g", &user.id))
                .await
                .unwrap();
            assert!(
                matches!(store.use_refresh_token("r1", 200).await.unwrap(), RefreshUse::Fresh(t) if t.family_id == "f")
            );
            assert_eq!(
                store.use_refresh_token("r1", 201).await.unwrap(),
                RefreshUse::Reused {
                    user_id: user.id.clone()
                }
            );
            assert!(
                matches!(
                    store.use_refresh_token("r2", 202).await.unwrap(),
                    RefreshUse::Reused { .. }
                ),
                "the family is revoked"
            );
            assert!(
                matches!(
                    store.use_refresh_token("other", 203).await.unwrap(),
                    RefreshUse::Fresh(_)
                ),
                "other families live on"
            );
            assert_eq!(
                store.use_refresh_token("nope", 204).await.unwrap(),
                RefreshUse::Unknown
            );
            store
                .add_refresh_token(&token("late", "h", &user.id))
                .await
                .unwrap();
            assert_eq!(
                store.use_refresh_token("late", 5000).await.unwrap(),
                RefreshUse::Unknown,
                "expired is not reuse"
            );
        }
    }

    #[tokio::test]
    async fn signing_keys_are_listed_newest_first() {
        for (store, _dir) in stores().await {
            for (kid, at) in [("k1", 10), ("k2", 20)] {
                store
                    .add_signing_key(&SigningKey {
                        kid: kid.into(),
                        algorithm: "EdDSA".into(),
                        private_key: "p".into(),
                        public_key: "x".into(),
                        created_at: at,
                        retired_at: None,
                    })
                    .await
                    .unwrap();
            }
            let kids: Vec<String> = store
                .signing_keys()
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.kid)
                .collect();
            assert_eq!(kids, ["k2", "k1"]);
        }
    }
}
