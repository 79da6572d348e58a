//! API keys: named, scoped to roles, optionally expiring; stored as hashes.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn add_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<(), StoreError>;
    async fn touch_api_key(&self, id: &str, now: i64) -> Result<(), StoreError>;
}

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey, sqlx::Error> {
    let roles: String = row.try_get("roles")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_hash: row.try_get("key_hash")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

#[async_trait]
impl ApiKeyStore for Store {
    async fn add_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, name, key_hash, roles, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(key.id.clone())
            .bind(key.name.clone())
            .bind(key.key_hash.clone())
            .bind(key.roles.join(","))
            .bind(key.created_at)
            .bind(key.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, key_hash, roles, created_at, expires_at, revoked_at, last_used_at FROM api_keys WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, key_hash, roles, created_at, expires_at, revoked_at, last_used_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id.to_owned())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("active API key `{id}`")));
        }
        Ok(())
    }

    async fn touch_api_key(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
            .bind(now)
            .bind(id.to_owned())
            .bind(now - 60)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
