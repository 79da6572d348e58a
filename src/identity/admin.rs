//! The admin API, under `/_rampart/api/admin/`, for callers whose roles grant `rampart:admin`:
//!
//! | endpoint | does |
//! |---|---|
//! | `GET users` / `POST users` `{"username","password","roles"}` | list / create users |
//! | `PUT users/NAME/roles` `{"roles"}` | replace a user's roles |
//! | `POST users/NAME/disable`, `POST users/NAME/enable` | disabling ends every session |
//! | `GET users/NAME/sessions` | live sessions (`id` is the stored hash, never the cookie) |
//! | `POST users/NAME/logout-everywhere` | ends every session and refresh token of the user |
//! | `DELETE sessions/ID` | ends one session |
//! | `GET api-keys` / `POST api-keys` `{"name","roles","expires_in_days"}` / `DELETE api-keys/ID` | machine keys |
//! | `GET roles` | roles with their inherited permissions |
//! | `GET bans` / `POST bans` `{"address","duration","reason"}` / `DELETE bans/ADDRESS` | client bans; no `duration`: without end |
//!
//! Every change is a security event naming the admin who made it.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::read_json;
use super::api_keys;
use super::events::SecurityEvent;
use super::roles::Roles;
use super::service::{IdentityService, Principal};
use super::users::{self, UserError, UserPolicy};
use crate::audit::Audit;
use crate::body::{ResponseBody, json_response};
use crate::error::GatewayError;
use crate::pipeline::bans::{self, BanError, Bans};
use crate::store::{
    AlertRecord, AlertStore, ApiKeyStore, AuditFilter, AuditStore, BanRecord, SessionStore,
    StoreError, UserStore, unix_now,
};

pub const PREFIX: &str = "/_rampart/api/admin/";
/// The permission the admin API needs.
pub const PERMISSION: &str = "rampart:admin";

pub struct Admin<'a> {
    pub identity: &'a IdentityService,
    pub roles: &'a Roles,
    pub password_min_length: usize,
    pub bans: &'a Bans,
    pub audit: &'a Audit,
    pub caller: &'a Principal,
    pub ip: std::net::IpAddr,
    pub request_id: &'a str,
}

#[derive(Deserialize)]
struct NewUserBody {
    username: String,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBanBody {
    address: String,
    /// `"1h"`, `"7d"`; absent: without end.
    duration: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct NewKeyBody {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    expires_in_days: Option<i64>,
}

impl Admin<'_> {
    pub async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let path = request
            .uri()
            .path()
            .strip_prefix(PREFIX)
            .unwrap_or_default()
            .to_owned();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = request.method().clone();
        let store = self.identity.store();
        let now = unix_now();
        match (&method, segments.as_slice()) {
            (&Method::GET, ["users"]) => {
                let users: Vec<Value> = store
                    .list_users()
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .map(|u| json!({"id": u.id, "username": u.username, "roles": u.roles, "disabled": u.disabled, "created_at": u.created_at}))
                    .collect();
                Ok(json_response(StatusCode::OK, json!({ "users": users })))
            }
            (&Method::POST, ["users"]) => {
                let body: NewUserBody = read_json(request).await?;
                let user = users::add_user(
                    store,
                    &self.policy(),
                    &body.username,
                    &body.password,
                    &body.roles,
                )
                .await
                .map_err(user_error)?;
                self.event("user_created", &user.username).await;
                Ok(json_response(
                    StatusCode::CREATED,
                    json!({"id": user.id, "username": user.username, "roles": user.roles}),
                ))
            }
            (&Method::PUT, ["users", name, "roles"]) => {
                let body: RolesBody = read_json(request).await?;
                users::set_roles(store, &self.policy(), name, &body.roles)
                    .await
                    .map_err(user_error)?;
                self.event("user_roles_changed", name).await;
                Ok(no_content())
            }
            (&Method::POST, ["users", name, action @ ("disable" | "enable")]) => {
                let ended = users::set_disabled(store, name, *action == "disable")
                    .await
                    .map_err(user_error)?;
                self.event(
                    if *action == "disable" {
                        "user_disabled"
                    } else {
                        "user_enabled"
                    },
                    name,
                )
                .await;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "sessions_ended": ended }),
                ))
            }
            (&Method::GET, ["users", name, "sessions"]) => {
                let user = store
                    .user_by_name(name)
                    .await
                    .map_err(fail)?
                    .ok_or(GatewayError::NoRoute)?;
                let sessions: Vec<Value> = store
                    .live_sessions(&user.id, now)
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .map(|s| json!({"id": s.token_hash, "created_at": s.created_at, "last_seen_at": s.last_seen_at, "expires_at": s.expires_at, "mfa": s.mfa}))
                    .collect();
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "sessions": sessions }),
                ))
            }
            (&Method::POST, ["users", name, "logout-everywhere"]) => {
                let user = store
                    .user_by_name(name)
                    .await
                    .map_err(fail)?
                    .ok_or(GatewayError::NoRoute)?;
                let ended = self
                    .identity
                    .logout_everywhere(&user.id, now)
                    .await
                    .map_err(fail)?;
                self.event("user_logged_out_everywhere", name).await;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "sessions_ended": ended }),
                ))
            }
            (&Method::DELETE, ["sessions", id]) => {
                store.revoke_session(id, now).await.map_err(fail)?;
                self.event("session_revoked", id).await;
                Ok(no_content())
            }
            (&Method::GET, ["api-keys"]) => {
                let keys: Vec<Value> = store
                    .list_api_keys()
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .map(|k| json!({"id": k.id, "name": k.name, "roles": k.roles, "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at, "last_used_at": k.last_used_at}))
                    .collect();
                Ok(json_response(StatusCode::OK, json!({ "api_keys": keys })))
            }
            (&Method::POST, ["api-keys"]) => {
                let body: NewKeyBody = read_json(request).await?;
                self.policy().check_roles(&body.roles).map_err(user_error)?;
                let created = api_keys::create(
                    store,
                    &body.name,
                    &body.roles,
                    body.expires_in_days.map(|d| d * 86_400),
                )
                .await
                .map_err(fail)?;
                self.event("api_key_created", &created.id).await;
                Ok(json_response(
                    StatusCode::CREATED,
                    json!({"id": created.id, "key": created.key}),
                ))
            }
            (&Method::DELETE, ["api-keys", id]) => {
                store.revoke_api_key(id, now).await.map_err(fail)?;
                self.event("api_key_revoked", id).await;
                Ok(no_content())
            }
            (&Method::GET, ["roles"]) => {
                let roles: Vec<Value> = self
                    .roles
                    .names()
                    .into_iter()
                    .map(|name| json!({"name": name, "permissions": self.roles.permissions_of(name)}))
                    .collect();
                Ok(json_response(StatusCode::OK, json!({ "roles": roles })))
            }
            (&Method::GET, ["audit"]) => {
                let filter = audit_filter(request.uri().query().unwrap_or_default())?;
                let records = store.audit_records(&filter).await.map_err(fail)?;
                // Reading the audit log is itself an action worth recording.
                self.event("audit_read", "audit_log").await;
                let next_after = (records.len() as i64 == filter.limit)
                    .then(|| records.last().map(|r| r.seq))
                    .flatten();
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "records": records, "next_after": next_after }),
                ))
            }
            (&Method::GET, ["alerts"]) => {
                let open = store.open_alerts().await.map_err(fail)?;
                let recent = store.recent_alerts(100).await.map_err(fail)?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({
                        "open": open.iter().map(alert_json).collect::<Vec<_>>(),
                        "recent": recent.iter().map(alert_json).collect::<Vec<_>>(),
                    }),
                ))
            }
            (&Method::POST, ["alerts", id, action @ ("ack" | "resolve")]) => {
                let id: i64 = id.parse().map_err(|_| GatewayError::NoRoute)?;
                let now_ms = now.saturating_mul(1000);
                let done = if *action == "ack" {
                    store
                        .acknowledge_alert(id, &self.caller.username, now_ms)
                        .await
                } else {
                    store.resolve_alert(id, now_ms).await
                }
                .map_err(fail)?;
                if !done {
                    return Err(GatewayError::InvalidRequest(format!(
                        "alert {id} is not open{}",
                        if *action == "ack" {
                            " and unacknowledged"
                        } else {
                            ""
                        }
                    )));
                }
                let event = if *action == "ack" {
                    "alert_acknowledged"
                } else {
                    "alert_resolved"
                };
                self.event(event, &id.to_string()).await;
                Ok(no_content())
            }
            (&Method::GET, ["bans"]) => {
                let bans: Vec<Value> = self
                    .bans
                    .list()
                    .await
                    .map_err(fail)?
                    .iter()
                    .map(ban_json)
                    .collect();
                Ok(json_response(StatusCode::OK, json!({ "bans": bans })))
            }
            (&Method::POST, ["bans"]) => {
                let body: NewBanBody = read_json(request).await?;
                let subject = bans::parse_subject(&body.address).map_err(ban_error)?;
                let duration = body
                    .duration
                    .as_deref()
                    .map(humantime::parse_duration)
                    .transpose()
                    .map_err(|err| {
                        GatewayError::InvalidRequest(format!(
                            "duration: {err}; write e.g. \"1h\" or \"7d\", or leave it out for a ban without end"
                        ))
                    })?;
                let reason = body.reason.as_deref().unwrap_or("banned by an admin");
                let record = self
                    .bans
                    .ban(subject, duration, reason, &self.caller.username)
                    .await
                    .map_err(ban_error)?;
                self.event("ban_added", &record.subject).await;
                Ok(json_response(StatusCode::CREATED, ban_json(&record)))
            }
            (&Method::DELETE, ["bans", address] | ["bans", address, "64"]) => {
                let subject = bans::parse_subject(address).map_err(ban_error)?;
                if !self
                    .bans
                    .unban(subject, &self.caller.username)
                    .await
                    .map_err(fail)?
                {
                    return Err(GatewayError::NoRoute);
                }
                self.event("ban_lifted", &bans::subject_name(subject)).await;
                Ok(no_content())
            }
            _ => Err(GatewayError::NoRoute),
        }
    }

    fn policy(&self) -> UserPolicy<'_> {
        UserPolicy {
            roles: Some(self.roles),
            password_min_length: self.password_min_length,
        }
    }

    async fn event(&self, action: &'static str, target: &str) {
        // Any admin change may revoke access: cached lookups must not outlive it.
        self.identity.forget_sessions();
        self.audit
            .emit(
                &SecurityEvent::AdminAction {
                    actor: &self.caller.username,
                    action,
                    target,
                    ip: self.ip,
                },
                self.request_id,
            )
            .await;
    }
}

/// Most records one page of `GET audit` returns.
const MAX_AUDIT_PAGE: i64 = 1000;

/// The filter of `GET audit?actor=&action=&outcome=&since=&until=&after=&limit=`; times are
/// RFC 3339, `after` a sequence number from `next_after`.
fn audit_filter(query: &str) -> Result<AuditFilter, GatewayError> {
    let mut filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let time = |value: &str| {
            humantime::parse_rfc3339_weak(value)
                .map(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                })
                .map_err(|_| {
                    GatewayError::InvalidRequest(format!(
                        "{key}: write a time like 2026-11-01T00:00:00Z"
                    ))
                })
        };
        let number = |value: &str| {
            value
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    GatewayError::InvalidRequest(format!("{key}: expected a non-negative number"))
                })
        };
        match key.as_ref() {
            "actor" => filter.actor = Some(value.into_owned()),
            "action" => filter.action = Some(value.into_owned()),
            "outcome" => filter.outcome = Some(value.into_owned()),
            "since" => filter.since_ms = Some(time(&value)?),
            "until" => filter.until_ms = Some(time(&value)?),
            "after" => filter.after_seq = number(&value)?,
            "limit" => filter.limit = number(&value)?.clamp(1, MAX_AUDIT_PAGE),
            _ => {
                return Err(GatewayError::InvalidRequest(format!(
                    "unknown parameter `{key}`; filter by actor, action, outcome, since, until, after, limit"
                )));
            }
        }
    }
    Ok(filter)
}

fn alert_json(alert: &AlertRecord) -> Value {
    let labels: Value = serde_json::from_str(&alert.labels).unwrap_or(Value::Null);
    json!({
        "id": alert.id,
        "rule": alert.rule,
        "labels": labels,
        "severity": alert.severity,
        "summary": alert.summary,
        "value": alert.value,
        "fired_ms": alert.fired_ms,
        "resolved_ms": alert.resolved_ms,
        "acknowledged_ms": alert.acknowledged_ms,
        "acknowledged_by": alert.acknowledged_by,
        "notifications": alert.notifications,
    })
}

fn ban_json(record: &BanRecord) -> Value {
    json!({
        "address": record.subject,
        "until": record.until,
        "permanent": record.until >= bans::PERMANENT,
        "reason": record.reason,
        "source": record.source,
        "strikes": record.strikes,
        "created_at": record.created_at,
    })
}

fn ban_error(err: BanError) -> GatewayError {
    match err {
        BanError::Store(err) => fail(err),
        other => GatewayError::InvalidRequest(other.to_string()),
    }
}

fn user_error(err: UserError) -> GatewayError {
    match err {
        UserError::Store(StoreError::NotFound(_)) => GatewayError::NoRoute,
        UserError::Store(StoreError::Conflict(_)) => {
            GatewayError::Conflict("that user already exists")
        }
        UserError::Store(err) => fail(err),
        other => GatewayError::InvalidRequest(other.to_string()),
    }
}

fn fail(err: StoreError) -> GatewayError {
    match err {
        StoreError::NotFound(_) => GatewayError::NoRoute,
        err => {
            tracing::error!(error = %err, "admin API store failure");
            GatewayError::Unavailable
        }
    }
}

fn no_content() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
