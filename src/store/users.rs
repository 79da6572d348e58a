//! Users: name, password hash, roles, disabled flag.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError, conflict};

/// A stored user. The password hash never leaves the identity module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
}

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a [String],
    pub now: i64,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: NewUser<'_>) -> Result<User, StoreError>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn set_roles(&self, username: &str, roles: &[String], now: i64)
    -> Result<(), StoreError>;
    async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError>;
}

/// Columns of a [`User`], as a literal so queries stay literal SQL.
macro_rules! user_columns {
    () => {
        "id, username, password_hash, roles, disabled, created_at"
    };
}

fn encode_roles(roles: &[String]) -> String {
    let mut sorted: Vec<&str> = roles.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(",")
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

/// An update by username must have found its user.
fn found(done: sqlx::any::AnyQueryResult, username: &str) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("user `{username}`")));
    }
    Ok(())
}

#[async_trait]
impl UserStore for Store {
    async fn create_user(&self, user: NewUser<'_>) -> Result<User, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let roles = encode_roles(user.roles);
        sqlx::query("INSERT INTO users (id, username, password_hash, roles, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5)")
            .bind(id.clone())
            .bind(user.username.to_owned())
            .bind(user.password_hash.to_owned())
            .bind(roles.clone())
            .bind(user.now)
            .execute(&self.pool)
            .await
            .map_err(|err| conflict(err, || format!("user `{}`", user.username)))?;
        Ok(User {
            id,
            username: user.username.to_owned(),
            password_hash: user.password_hash.to_owned(),
            roles: roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            disabled: false,
            created_at: user.now,
        })
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    async fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(hash.to_owned())
                .bind(now)
                .bind(username.to_owned())
                .execute(&self.pool)
                .await?;
        found(done, username)
    }

    async fn set_roles(
        &self,
        username: &str,
        roles: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE username = $3")
            .bind(encode_roles(roles))
            .bind(now)
            .bind(username.to_owned())
            .execute(&self.pool)
            .await?;
        found(done, username)
    }

    async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE username = $3")
                .bind(i64::from(disabled))
                .bind(now)
                .bind(username.to_owned())
                .execute(&self.pool)
                .await?;
        found(done, username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn users_round_trip_on_every_backend() {
        for (store, _dir) in stores().await {
            let roles = vec!["viewer".to_owned(), "admin".to_owned(), "viewer".to_owned()];
            let created = store
                .create_user(NewUser {
                    username: "ana",
                    password_hash: "h1",
                    roles: &roles,
                    now: 100,
                })
                .await
                .unwrap();
            assert_eq!(created.roles, ["admin", "viewer"], "{:?}", store.backend());
            let found = store.user_by_name("ana").await.unwrap().unwrap();
            assert_eq!(found, created);
            assert_eq!(
                store
                    .user_by_id(&created.id)
                    .await
                    .unwrap()
                    .unwrap()
                    .username,
                "ana"
            );
            assert!(store.user_by_name("bob").await.unwrap().is_none());

            let duplicate = store
                .create_user(NewUser {
                    username: "ana",
                    password_hash: "h2",
                    roles: &[],
                    now: 101,
                })
                .await;
            assert!(
                matches!(duplicate, Err(StoreError::Conflict(_))),
                "{duplicate:?}"
            );

            store.set_password_hash("ana", "h3", 102).await.unwrap();
            store
                .set_roles("ana", &["analyst".to_owned()], 103)
                .await
                .unwrap();
            store.set_disabled("ana", true, 104).await.unwrap();
            let updated = store.user_by_name("ana").await.unwrap().unwrap();
            assert_eq!(
                (
                    updated.password_hash.as_str(),
                    updated.roles.as_slice(),
                    updated.disabled
                ),
                ("h3", &["analyst".to_owned()][..], true)
            );
            assert!(matches!(
                store.set_disabled("nobody", true, 105).await,
                Err(StoreError::NotFound(_))
            ));

            store
                .create_user(NewUser {
                    username: "bob",
                    password_hash: "h",
                    roles: &[],
                    now: 106,
                })
                .await
                .unwrap();
            let names: Vec<String> = store
                .list_users()
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.username)
                .collect();
            assert_eq!(names, ["ana", "bob"]);
        }
    }
}
