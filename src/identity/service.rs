//! The identity service: logging in (password → session cookie, access token, refresh token),
//! refreshing with rotation, logging out, and recognizing a request's user from its session
//! cookie or bearer token.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap};

use std::net::IpAddr;

use super::api_keys;
use super::cache::CredentialCache;
use super::mfa::{self, SecondFactor};
use super::password::{self, Verdict};
use super::regulator::{self, Lock, LockoutPolicy};
use super::secret::{hash_token, new_token};
use super::tokens::{TokenError, TokenService};
use crate::config::SessionLimitAction;
use crate::store::{
    RefreshToken, RefreshTokenStore, RefreshUse, Session, SessionStore, Store, StoreError, User,
    UserStore,
};

/// The session cookie. `__Host-` makes browsers insist on Secure, Path=/ and no Domain, so a
/// sibling subdomain cannot plant or read it.
pub const SESSION_COOKIE: &str = "__Host-rampart_session";

/// Activity is written back at most this often per session, not on every request.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// Session and token lifetimes.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub refresh: Duration,
    /// Most sessions per user (0: no limit), and what a login past it does.
    pub max_sessions: usize,
    pub limit_action: SessionLimitAction,
}

/// Who made a request, as far as Rampart could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub method: AuthMethod,
    /// The login showed a second factor.
    pub mfa: bool,
    /// For sessions: when the session was last used (kept to within a minute).
    pub last_active: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    Bearer,
    ApiKey,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Bearer => "bearer",
            Self::ApiKey => "api_key",
        }
    }
}

/// What a successful login or refresh hands out.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: User,
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    /// Set on login only: the new session's cookie value.
    pub session_token: Option<String>,
    /// The login showed a second factor.
    pub mfa: bool,
}

/// Why credentials were refused. Clients see one answer for all of them.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("the user already has the most sessions allowed; log out elsewhere first")]
    TooManySessions,
    #[error("too many failed attempts; locked until {until}")]
    LockedOut { until: i64 },
    #[error("this account needs a second factor (an authenticator code or a recovery code)")]
    MfaRequired,
    #[error("the second factor is wrong, expired or already used")]
    MfaInvalid,
    #[error("the refresh token is unknown, expired or revoked")]
    InvalidRefreshToken,
    #[error("a refresh token was used twice; its whole family was revoked")]
    RefreshReuse { user_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request's credentials were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("bearer token refused: {0}")]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct IdentityService {
    store: Arc<Store>,
    tokens: TokenService,
    lifetimes: Lifetimes,
    lockout: LockoutPolicy,
    /// Verified bearer tokens, until they expire (60 s at most).
    verified_tokens: CredentialCache<Arc<Principal>>,
    /// Sessions looked up recently. Short-lived, so a revocation on another instance takes
    /// effect within `SESSION_CACHE_TTL`; this instance's own revocations clear it at once.
    recent_sessions: CredentialCache<Option<Arc<Principal>>>,
}

/// How long a session lookup is reused, in seconds.
const SESSION_CACHE_TTL: i64 = 2;

impl IdentityService {
    pub fn new(
        store: Arc<Store>,
        tokens: TokenService,
        lifetimes: Lifetimes,
        lockout: LockoutPolicy,
    ) -> Self {
        password::warm_up();
        Self {
            store,
            tokens,
            lifetimes,
            lockout,
            verified_tokens: CredentialCache::new(60),
            recent_sessions: CredentialCache::new(SESSION_CACHE_TTL),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Picks up signing keys rotated elsewhere (`rampart keys rotate`, another instance).
    pub async fn reload_keys(&self, now: i64) -> Result<(), StoreError> {
        self.tokens.reload(self.store.as_ref(), now).await?;
        self.verified_tokens.clear();
        Ok(())
    }

    /// Sessions alive now (not revoked, expired or idle past the timeout), for the gauge.
    pub async fn count_active_sessions(&self, now: i64) -> Result<i64, StoreError> {
        let idle = self.lifetimes.session_idle.as_secs() as i64;
        self.store.count_active_sessions(now, now - idle).await
    }

    /// Drops cached session lookups; call after revoking or disabling anything.
    pub fn forget_sessions(&self) {
        self.recent_sessions.clear();
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    pub fn lifetimes(&self) -> &Lifetimes {
        &self.lifetimes
    }

    /// Checks a password and opens a session. Unknown user, disabled user, locked user and
    /// wrong password take the same work and give the same answer to the client.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        second_factor: Option<&SecondFactor>,
        ip: IpAddr,
        now: i64,
    ) -> Result<Grant, LoginError> {
        // Decide first, then do the full password work whatever was decided, then record.
        let lock = regulator::decide(self.store.as_ref(), &self.lockout, username, ip, now).await?;
        let user = self.store.user_by_name(username).await?;
        let verdict = password::verify(password, user.as_ref().map(|u| u.password_hash.as_str()));
        let accepted = match (user, verdict, lock) {
            (Some(user), Verdict::Right { rehash }, Lock::Open) if !user.disabled => {
                Some((user, rehash))
            }
            _ => None,
        };
        let Some((user, rehash)) = accepted else {
            regulator::record(self.store.as_ref(), username, ip, false, now).await?;
            return Err(match lock {
                Lock::Open => LoginError::InvalidCredentials,
                Lock::User { until } | Lock::Address { until } => LoginError::LockedOut { until },
            });
        };
        // The password was right; an enrolled user must also show the second factor. Wrong
        // codes count as failures, so they lock the account like wrong passwords.
        let mfa = mfa::is_enrolled(self.store.as_ref(), &user.id).await?;
        if mfa {
            let Some(factor) = second_factor else {
                return Err(LoginError::MfaRequired);
            };
            if !mfa::verify(self.store.as_ref(), &user.id, factor, now).await? {
                regulator::record(self.store.as_ref(), username, ip, false, now).await?;
                return Err(LoginError::MfaInvalid);
            }
        }
        regulator::record(self.store.as_ref(), username, ip, true, now).await?;
        if rehash && let Ok(new_hash) = password::hash(password) {
            self.store
                .set_password_hash(&user.username, &new_hash, now)
                .await?;
        }
        self.make_room_for_a_session(&user, now).await?;
        let session_token = new_token();
        self.store
            .create_session(&Session {
                token_hash: hash_token(&session_token),
                user_id: user.id.clone(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + self.lifetimes.session_absolute.as_secs() as i64,
                revoked_at: None,
                mfa,
            })
            .await?;
        let family = uuid::Uuid::now_v7().to_string();
        let mut grant = self.grant(user, &family, mfa, now).await?;
        grant.session_token = Some(session_token);
        Ok(grant)
    }

    /// Applies the concurrent-session limit before a new session opens.
    async fn make_room_for_a_session(&self, user: &User, now: i64) -> Result<(), LoginError> {
        let limit = self.lifetimes.max_sessions;
        if limit == 0 {
            return Ok(());
        }
        let idle = self.lifetimes.session_idle.as_secs() as i64;
        let live: Vec<Session> = self
            .store
            .live_sessions(&user.id, now)
            .await?
            .into_iter()
            .filter(|s| s.last_seen_at + idle > now)
            .collect();
        if live.len() < limit {
            return Ok(());
        }
        match self.lifetimes.limit_action {
            SessionLimitAction::Refuse => Err(LoginError::TooManySessions),
            SessionLimitAction::EvictOldest => {
                // Oldest first: end as many as needed to leave room for one more.
                for old in &live[..=live.len() - limit] {
                    self.store.revoke_session(&old.token_hash, now).await?;
                }
                Ok(())
            }
        }
    }

    /// Spends a refresh token for a new access token and a new refresh token in the same family.
    pub async fn refresh(&self, refresh_token: &str, now: i64) -> Result<Grant, LoginError> {
        let spent = match self
            .store
            .use_refresh_token(&hash_token(refresh_token), now)
            .await?
        {
            RefreshUse::Fresh(spent) => spent,
            RefreshUse::Reused { user_id } => return Err(LoginError::RefreshReuse { user_id }),
            RefreshUse::Unknown => return Err(LoginError::InvalidRefreshToken),
        };
        let user = match self.store.user_by_id(&spent.user_id).await? {
            Some(user) if !user.disabled => user,
            _ => return Err(LoginError::InvalidRefreshToken),
        };
        self.grant(user, &spent.family_id, spent.mfa, now).await
    }

    async fn grant(
        &self,
        user: User,
        family: &str,
        mfa: bool,
        now: i64,
    ) -> Result<Grant, LoginError> {
        let refresh_token = new_token();
        self.store
            .add_refresh_token(&RefreshToken {
                token_hash: hash_token(&refresh_token),
                family_id: family.to_owned(),
                user_id: user.id.clone(),
                issued_at: now,
                expires_at: now + self.lifetimes.refresh.as_secs() as i64,
                used_at: None,
                revoked_at: None,
                mfa,
            })
            .await?;
        let (access_token, expires_in) = self.tokens.issue(&user, mfa, now);
        Ok(Grant {
            user,
            access_token,
            expires_in,
            refresh_token,
            session_token: None,
            mfa,
        })
    }

    /// Ends the session behind `session_token` (if any).
    pub async fn logout(&self, session_token: &str, now: i64) -> Result<(), StoreError> {
        self.forget_sessions();
        self.store
            .revoke_session(&hash_token(session_token), now)
            .await
    }

    /// Ends the refresh-token family `refresh_token` belongs to.
    pub async fn revoke_refresh(&self, refresh_token: &str, now: i64) -> Result<(), StoreError> {
        self.store
            .revoke_refresh_family_of(&hash_token(refresh_token), now)
            .await
    }

    /// Ends every session and refresh token of a user ("log out everywhere").
    pub async fn logout_everywhere(&self, user_id: &str, now: i64) -> Result<u64, StoreError> {
        self.forget_sessions();
        self.store.revoke_user_refresh_tokens(user_id, now).await?;
        self.store.revoke_user_sessions(user_id, now).await
    }

    /// The request's user: from an API key, else `Authorization: Bearer` (a bad token is an
    /// error, never a fallback to the cookie), else the session cookie. `Ok(None)`: anonymous.
    /// Shared, so a cached answer costs a reference count.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<Arc<Principal>>, AuthError> {
        if let Some(key) = api_keys::presented(headers) {
            return Ok(api_keys::authenticate(self.store.as_ref(), key, now)
                .await?
                .map(Arc::new));
        }
        if let Some(token) = bearer_token(headers) {
            if let Some(principal) = self.verified_tokens.get(token, now) {
                return Ok(Some(principal));
            }
            let claims = self.tokens.verify(token)?;
            let expires = claims.exp;
            let principal = Arc::new(Principal {
                user_id: claims.sub,
                username: claims.name,
                mfa: claims.amr.iter().any(|m| m == "otp"),
                roles: claims.roles,
                method: AuthMethod::Bearer,
                last_active: None,
            });
            self.verified_tokens
                .insert(token, principal.clone(), now, Some(expires));
            return Ok(Some(principal));
        }
        let Some(session_token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        if let Some(cached) = self.recent_sessions.get(session_token, now) {
            return Ok(cached);
        }
        let principal = self
            .session_principal(session_token, now)
            .await?
            .map(Arc::new);
        self.recent_sessions
            .insert(session_token, principal.clone(), now, None);
        Ok(principal)
    }

    async fn session_principal(
        &self,
        session_token: &str,
        now: i64,
    ) -> Result<Option<Principal>, AuthError> {
        let hash = hash_token(session_token);
        let Some(session) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let idle_deadline = session.last_seen_at + self.lifetimes.session_idle.as_secs() as i64;
        if session.revoked_at.is_some() || session.expires_at <= now || idle_deadline <= now {
            return Ok(None);
        }
        let Some(user) = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(None);
        };
        let touched = now - session.last_seen_at >= TOUCH_INTERVAL_SECONDS;
        if touched {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Principal {
            user_id: user.id,
            username: user.username,
            roles: user.roles,
            method: AuthMethod::Session,
            mfa: session.mfa,
            last_active: Some(if touched { now } else { session.last_seen_at }),
        }))
    }
}

/// The token of an `Authorization: Bearer ...` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::users::{UserPolicy, add_user};
    use crate::store::test_support::stores;

    const DAY: Duration = Duration::from_secs(86_400);

    fn ip() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    fn lockout() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 5,
            window: Duration::from_secs(600),
            duration: Duration::from_secs(300),
            max_duration: Duration::from_secs(3600),
            ip_max_failures: 50,
        }
    }

    async fn service(store: Store) -> IdentityService {
        let store = Arc::new(store);
        let tokens = TokenService::load(
            store.as_ref(),
            "rampart",
            "rampart",
            Duration::from_secs(900),
            0,
        )
        .await
        .unwrap();
        let lifetimes = Lifetimes {
            session_idle: Duration::from_secs(1800),
            session_absolute: DAY,
            refresh: DAY,
            max_sessions: 2,
            limit_action: SessionLimitAction::EvictOldest,
        };
        let policy = UserPolicy {
            roles: None,
            password_min_length: 12,
        };
        add_user(
            store.as_ref(),
            &policy,
            "ana",
            "tulip-harbor-seventeen",
            &["admin".into()],
        )
        .await
        .unwrap();
        IdentityService::new(store, tokens, lifetimes, lockout())
    }

    fn with_cookie(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("theme=dark; {SESSION_COOKIE}={token}")
                .parse()
                .unwrap(),
        );
        headers
    }

    #[tokio::test]
    async fn login_session_idle_timeout_and_logout_on_every_backend() {
        for (store, _dir) in stores().await {
            let identity = service(store).await;
            let t0 = 1_000_000;
            assert!(matches!(
                identity
                    .login("ana", "wrong-password-here", None, ip(), t0)
                    .await,
                Err(LoginError::InvalidCredentials)
            ));
            assert!(matches!(
                identity
                    .login("nobody", "tulip-harbor-seventeen", None, ip(), t0)
                    .await,
                Err(LoginError::InvalidCredentials)
            ));
            let grant = identity
                .login("ana", "tulip-harbor-seventeen", None, ip(), t0)
                .await
                .unwrap();
            let session = grant.session_token.unwrap();
            let who = identity
                .authenticate(&with_cookie(&session), t0 + 10)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (who.username.as_str(), who.method),
                ("ana", AuthMethod::Session)
            );

            // Activity keeps the session alive; 30 minutes of silence ends it.
            let active = identity
                .authenticate(&with_cookie(&session), t0 + 1700)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                active.last_active,
                Some(t0 + 1700),
                "a use after a minute is recorded"
            );
            assert!(
                identity
                    .authenticate(&with_cookie(&session), t0 + 1700 + 1799)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(
                identity
                    .authenticate(&with_cookie(&session), t0 + 1700 + 1800 + 1800)
                    .await
                    .unwrap()
                    .is_none()
            );

            let second = identity
                .login("ana", "tulip-harbor-seventeen", None, ip(), t0)
                .await
                .unwrap()
                .session_token
                .unwrap();
            identity.logout(&second, t0 + 5).await.unwrap();
            assert!(
                identity
                    .authenticate(&with_cookie(&second), t0 + 6)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                identity
                    .authenticate(&with_cookie("forged"), t0)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[tokio::test]
    async fn the_session_cap_evicts_the_oldest_or_refuses() {
        for (store, _dir) in stores().await {
            let mut identity = service(store).await;
            let t = 2_000_000;
            let mut sessions = Vec::new();
            for i in 0..3 {
                let grant = identity
                    .login("ana", "tulip-harbor-seventeen", None, ip(), t + i)
                    .await
                    .unwrap();
                sessions.push(grant.session_token.unwrap());
            }
            let alive: Vec<bool> = futures_alive(&identity, &sessions, t + 10).await;
            assert_eq!(alive, [false, true, true], "the oldest session made room");

            identity.lifetimes.limit_action = SessionLimitAction::Refuse;
            assert!(matches!(
                identity
                    .login("ana", "tulip-harbor-seventeen", None, ip(), t + 20)
                    .await,
                Err(LoginError::TooManySessions)
            ));
        }
    }

    async fn futures_alive(identity: &IdentityService, sessions: &[String], now: i64) -> Vec<bool> {
        let mut alive = Vec::new();
        for session in sessions {
            alive.push(
                identity
                    .authenticate(&with_cookie(session), now)
                    .await
                    .unwrap()
                    .is_some(),
            );
        }
        alive
    }

    #[tokio::test]
    async fn refresh_rotates_and_reuse_revokes_the_family_on_every_backend() {
        for (store, _dir) in stores().await {
            let identity = service(store).await;
            let now = crate::store::unix_now();
            let first = identity
                .login("ana", "tulip-harbor-seventeen", None, ip(), now)
                .await
                .unwrap();
            let second = identity
                .refresh(&first.refresh_token, now + 1)
                .await
                .unwrap();
            assert_ne!(second.refresh_token, first.refresh_token);
            let mut bearer = HeaderMap::new();
            bearer.insert(
                header::AUTHORIZATION,
                format!("Bearer {}", second.access_token).parse().unwrap(),
            );
            let who = identity.authenticate(&bearer, now).await.unwrap().unwrap();
            assert_eq!(
                (who.roles.as_slice(), who.method),
                (&["admin".to_owned()][..], AuthMethod::Bearer)
            );

            let other = identity
                .login("ana", "tulip-harbor-seventeen", None, ip(), now)
                .await
                .unwrap();
            identity
                .revoke_refresh(&other.refresh_token, now)
                .await
                .unwrap();
            assert!(
                identity
                    .refresh(&other.refresh_token, now + 1)
                    .await
                    .is_err(),
                "logout revoked it"
            );

            assert!(matches!(
                identity.refresh(&first.refresh_token, now + 2).await,
                Err(LoginError::RefreshReuse { .. })
            ));
            assert!(
                matches!(
                    identity.refresh(&second.refresh_token, now + 3).await,
                    Err(LoginError::RefreshReuse { .. })
                ),
                "the thief's successor dies too"
            );
            bearer.insert(header::AUTHORIZATION, "Bearer garbage".parse().unwrap());
            assert!(identity.authenticate(&bearer, now).await.is_err());
        }
    }

    #[test]
    fn credentials_are_found_in_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer abc.def".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc.def"));
        headers.insert(header::AUTHORIZATION, "Basic YTpi".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        assert_eq!(cookie(&with_cookie("tok"), SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&with_cookie("tok"), "missing"), None);
    }
}
