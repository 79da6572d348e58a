//! API keys for machines: `rk_<id>_<secret>`, sent as `Authorization: Bearer rk_...` or
//! `X-API-Key`. The id finds the record, the whole key is checked against its hash in constant
//! time. Keys carry their own roles (never more than the roles defined in the config), may
//! expire, and are revoked one by one.

use http::header::HeaderMap;
use subtle::ConstantTimeEq;

use super::secret::{hash_token, new_token};
use super::service::{AuthMethod, Principal, bearer_token};
use crate::store::{ApiKey, ApiKeyStore, StoreError, unix_now};

pub const PREFIX: &str = "rk_";

/// A key just created: the secret is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: String,
    pub key: String,
}

/// Creates a key named `name` with `roles`, valid for `ttl_seconds` (forever if `None`).
pub async fn create(
    store: &dyn ApiKeyStore,
    name: &str,
    roles: &[String],
    ttl_seconds: Option<i64>,
) -> Result<CreatedKey, StoreError> {
    let now = unix_now();
    let id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let key = format!("{PREFIX}{id}_{}", new_token());
    store
        .add_api_key(&ApiKey {
            id: id.clone(),
            name: name.to_owned(),
            key_hash: hash_token(&key),
            roles: roles.to_vec(),
            created_at: now,
            expires_at: ttl_seconds.map(|ttl| now + ttl),
            revoked_at: None,
            last_used_at: None,
        })
        .await?;
    Ok(CreatedKey { id, key })
}

/// The key presented by a request, if any.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer_token(headers).filter(|t| t.starts_with(PREFIX)))
}

/// Checks a presented key; `None` if it is unknown, wrong, revoked or expired.
pub async fn authenticate(
    store: &dyn ApiKeyStore,
    presented: &str,
    now: i64,
) -> Result<Option<Principal>, StoreError> {
    let Some(id) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
    else {
        return Ok(None);
    };
    let Some(key) = store.api_key(id).await? else {
        return Ok(None);
    };
    let matches: bool = key
        .key_hash
        .as_bytes()
        .ct_eq(hash_token(presented).as_bytes())
        .into();
    let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now);
    if !(matches && live) {
        return Ok(None);
    }
    store.touch_api_key(id, now).await?;
    Ok(Some(Principal {
        user_id: format!("apikey:{}", key.id),
        username: key.name,
        roles: key.roles,
        method: AuthMethod::ApiKey,
        mfa: false,
        last_active: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn keys_authenticate_until_revoked_or_expired_on_every_backend() {
        for (store, _dir) in stores().await {
            let now = unix_now();
            let created = create(&store, "ci-deploy", &["deployer".into()], None)
                .await
                .unwrap();
            assert!(created.key.starts_with("rk_"));
            let who = authenticate(&store, &created.key, now)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (who.username.as_str(), who.roles.as_slice(), who.method),
                (
                    "ci-deploy",
                    &["deployer".to_owned()][..],
                    AuthMethod::ApiKey
                )
            );
            let wrong_secret = format!("{}x", &created.key[..created.key.len() - 1]);
            assert!(
                authenticate(&store, &wrong_secret, now)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                authenticate(&store, "rk_nothing_here", now)
                    .await
                    .unwrap()
                    .is_none()
            );

            let expiring = create(&store, "temp", &[], Some(60)).await.unwrap();
            assert!(
                authenticate(&store, &expiring.key, now)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(
                authenticate(&store, &expiring.key, now + 61)
                    .await
                    .unwrap()
                    .is_none()
            );

            store.revoke_api_key(&created.id, now).await.unwrap();
            assert!(
                authenticate(&store, &created.key, now)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(store.list_api_keys().await.unwrap().len(), 2);
        }
    }
}
