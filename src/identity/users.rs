//! Managing users: what `rampart user ...` and the admin API do, with the password policy and
//! role checks applied in one place.

use crate::identity::password::{self, PolicyError};
use crate::identity::roles::{Roles, valid_role_name};
use crate::store::{NewUser, SessionStore, StoreError, User, UserStore, unix_now};

/// Why a user operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user names are 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`")]
    InvalidUsername,
    #[error("`{0}` is not a defined role; defined roles: {1}")]
    UnknownRole(String, String),
    #[error("`{0}` is not a valid role name (use a-z, 0-9, `_`, `-`)")]
    InvalidRole(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// The rules that apply to every change of users.
pub struct UserPolicy<'a> {
    /// Roles from the config; `None` when managing users without one (any well-formed name).
    pub roles: Option<&'a Roles>,
    pub password_min_length: usize,
}

impl UserPolicy<'_> {
    /// Every role must be well-formed and, with a config, defined there.
    pub fn check_roles(&self, roles: &[String]) -> Result<(), UserError> {
        for role in roles {
            if !valid_role_name(role) {
                return Err(UserError::InvalidRole(role.clone()));
            }
            if let Some(defined) = self.roles
                && !defined.is_defined(role)
            {
                return Err(UserError::UnknownRole(
                    role.clone(),
                    defined.names().join(", "),
                ));
            }
        }
        Ok(())
    }
}

fn check_username(username: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::InvalidUsername)
    }
}

fn hash(password: &str) -> Result<String, UserError> {
    password::hash(password).map_err(|err| UserError::Hash(err.to_string()))
}

pub async fn add_user(
    store: &dyn UserStore,
    policy: &UserPolicy<'_>,
    username: &str,
    password: &str,
    roles: &[String],
) -> Result<User, UserError> {
    check_username(username)?;
    policy.check_roles(roles)?;
    password::check_policy(password, username, policy.password_min_length)?;
    let password_hash = hash(password)?;
    Ok(store
        .create_user(NewUser {
            username,
            password_hash: &password_hash,
            roles,
            now: unix_now(),
        })
        .await?)
}

pub async fn reset_password(
    store: &dyn UserStore,
    policy: &UserPolicy<'_>,
    username: &str,
    password: &str,
) -> Result<(), UserError> {
    password::check_policy(password, username, policy.password_min_length)?;
    Ok(store
        .set_password_hash(username, &hash(password)?, unix_now())
        .await?)
}

pub async fn set_roles(
    store: &dyn UserStore,
    policy: &UserPolicy<'_>,
    username: &str,
    roles: &[String],
) -> Result<(), UserError> {
    policy.check_roles(roles)?;
    Ok(store.set_roles(username, roles, unix_now()).await?)
}

/// Disables (or re-enables) a user; disabling also ends every session the user has.
pub async fn set_disabled<S: UserStore + SessionStore>(
    store: &S,
    username: &str,
    disabled: bool,
) -> Result<u64, UserError> {
    let now = unix_now();
    store.set_disabled(username, disabled, now).await?;
    if !disabled {
        return Ok(0);
    }
    let user = store
        .user_by_name(username)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))?;
    Ok(store.revoke_user_sessions(&user.id, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleConfig;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn adding_users_applies_name_role_and_password_rules() {
        let roles = Roles::build(&[RoleConfig {
            name: "admin".into(),
            permissions: vec![],
            inherits: vec![],
            require_mfa: false,
        }])
        .unwrap();
        let policy = UserPolicy {
            roles: Some(&roles),
            password_min_length: 12,
        };
        for (store, _dir) in stores().await {
            let admin = ["admin".to_owned()];
            let user = add_user(&store, &policy, "ana", "tulip-harbor-seventeen", &admin)
                .await
                .unwrap();
            assert!(user.password_hash.starts_with("$argon2id$"));
            assert_ne!(user.password_hash, "tulip-harbor-seventeen");
            assert!(matches!(
                add_user(&store, &policy, "bad name", "tulip-harbor-seventeen", &[]).await,
                Err(UserError::InvalidUsername)
            ));
            assert!(matches!(
                add_user(&store, &policy, "bob", "password1234", &[]).await,
                Err(UserError::Policy(PolicyError::Common))
            ));
            let err = add_user(
                &store,
                &policy,
                "bob",
                "tulip-harbor-seventeen",
                &["root".to_owned()],
            )
            .await
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                "`root` is not a defined role; defined roles: admin"
            );
            assert!(matches!(
                add_user(&store, &policy, "ana", "tulip-harbor-seventeen", &[]).await,
                Err(UserError::Store(StoreError::Conflict(_)))
            ));
            reset_password(&store, &policy, "ana", "another-long-phrase-here")
                .await
                .unwrap();
            let stored = store.user_by_name("ana").await.unwrap().unwrap();
            assert_eq!(
                password::verify("another-long-phrase-here", Some(&stored.password_hash)),
                password::Verdict::Right { rehash: false }
            );
        }
    }
}
