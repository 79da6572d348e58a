//! Rampart's own identity endpoints, under `/_rampart/`:
//!
//! | endpoint | does |
//! |---|---|
//! | `POST /_rampart/api/login` | `{"username", "password"}` → access token, refresh token, session cookie |
//! | `POST /_rampart/api/refresh` | `{"refresh_token"}` → new access and refresh tokens (rotation) |
//! | `POST /_rampart/api/logout` | ends the cookie's session (and `{"refresh_token"}`'s family, if given) |
//! | `POST /_rampart/api/logout-everywhere` | ends every session and refresh token of the caller |
//! | `GET /_rampart/api/me` | the caller's identity |
//! | `GET /_rampart/.well-known/jwks.json` | public keys of access tokens |
//! | `POST /_rampart/api/mfa/totp/enroll` | starts TOTP enrolment: secret, `otpauth://` URL, QR code (SVG) |
//! | `POST /_rampart/api/mfa/totp/confirm` | `{"code"}` confirms it; answers ten one-time recovery codes |
//! | `GET, POST /_rampart/login` | the HTML login portal (see `portal`) |
//! | `ANY /_rampart/auth?require=RULE[&redirect=browser]` | forward-auth for nginx `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`: 200 with signed `X-Rampart-*` identity headers, or 401/403 (302 to the portal for browsers with `redirect=browser`) |
//!
//! JSON bodies must say `Content-Type: application/json`: browsers cannot send that
//! cross-site without a CORS preflight, which stops login CSRF.

use crate::audit::Audit;
use crate::pipeline::bans::Bans;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::admin::{self, Admin};
use super::events::SecurityEvent;
use super::mfa::{self, MfaError, SecondFactor};
use super::portal::{self, Portal};
use super::service::{
    AuthError, AuthMethod, Grant, IdentityService, LoginError, Principal, SESSION_COOKIE, cookie,
};
use crate::body::{ResponseBody, json_response};
use crate::config::{Mode, RouteAuth};
use crate::error::GatewayError;
use crate::identity::roles::Roles;
use crate::observability::metrics::Metrics;
use crate::pipeline::identity_headers::IdentityHeaderSigner;
use crate::pipeline::{authorize, is_browser_navigation};
use crate::store::unix_now;
use crate::upstream;

/// Every path starting with this is Rampart's, never the app's.
pub const PREFIX: &str = "/_rampart/";

/// Largest JSON body the endpoints read.
const MAX_BODY: usize = 16 * 1024;

/// Who is calling, for events and cookies.
pub struct Caller<'a> {
    pub ip: IpAddr,
    pub request_id: &'a HeaderValue,
}

pub struct IdentityApi {
    pub identity: Arc<IdentityService>,
    pub password_min_length: usize,
    pub metrics: Arc<Metrics>,
    pub roles: Arc<Roles>,
    pub header_signer: Arc<IdentityHeaderSigner>,
    pub bans: Arc<Bans>,
    pub audit: Audit,
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    /// The authenticator app's code, for users with a second factor.
    #[serde(default)]
    totp: Option<String>,
    /// Or one of the recovery codes.
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Deserialize)]
struct CodeRequest {
    code: String,
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Deserialize, Default)]
struct LogoutRequest {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Where API clients sign in.
pub const LOGIN_PATH: &str = "/_rampart/api/login";

impl IdentityApi {
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let path = request.uri().path().to_owned();
        let refusal = match (request.method().clone(), path.as_str()) {
            (Method::POST, LOGIN_PATH) => return self.login(request, caller).await,
            (Method::POST, "/_rampart/api/refresh") => return self.refresh(request, caller).await,
            (Method::POST, "/_rampart/api/logout") => return self.logout(request, caller).await,
            (Method::POST, "/_rampart/api/logout-everywhere") => {
                return self.logout_everywhere(request, caller).await;
            }
            (Method::GET, "/_rampart/api/me") => return self.me(request).await,
            (_, "/_rampart/auth") => return self.forward_auth(request, caller).await,
            (_, path) if path.starts_with(admin::PREFIX) => {
                return self.admin(request, caller).await;
            }
            (Method::POST, "/_rampart/api/mfa/totp/enroll") => {
                return self.enroll_totp(request).await;
            }
            (Method::POST, "/_rampart/api/mfa/totp/confirm") => {
                return self.confirm_totp(request).await;
            }
            (Method::GET, portal::LOGIN_PATH) => return Ok(self.portal().form(&request)),
            (Method::POST, portal::LOGIN_PATH) => {
                return self
                    .portal()
                    .submit(request, caller.ip, caller.request_id)
                    .await;
            }
            (Method::GET, portal::STYLESHEET_PATH) => return Ok(self.portal().stylesheet()),
            (Method::GET, "/_rampart/.well-known/jwks.json") => {
                return Ok(json_response(StatusCode::OK, self.identity.tokens().jwks()));
            }
            (
                _,
                LOGIN_PATH
                | "/_rampart/api/refresh"
                | "/_rampart/api/logout"
                | "/_rampart/api/logout-everywhere",
            ) => GatewayError::MethodNotAllowed {
                allow: HeaderValue::from_static("POST"),
            },
            (_, "/_rampart/api/me" | "/_rampart/.well-known/jwks.json") => {
                GatewayError::MethodNotAllowed {
                    allow: HeaderValue::from_static("GET"),
                }
            }
            _ => GatewayError::NoRoute,
        };
        upstream::discard_refused(request).await;
        Err(refusal)
    }

    async fn login(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let body: LoginRequest = read_json(request).await?;
        let request_id = caller.request_id.to_str().unwrap_or_default();
        match self
            .identity
            .login(
                &body.username,
                &body.password,
                second_factor(body.totp.clone(), body.recovery_code.clone()).as_ref(),
                caller.ip,
                unix_now(),
            )
            .await
        {
            Ok(grant) => {
                self.metrics.login("ok");
                if grant.mfa {
                    self.metrics.mfa_challenge("ok");
                }
                self.audit
                    .emit(
                        &SecurityEvent::LoginSucceeded {
                            user: &grant.user.username,
                            ip: caller.ip,
                        },
                        request_id,
                    )
                    .await;
                let mut response = grant_response(&grant);
                if let Some(token) = &grant.session_token {
                    let max_age = self.identity.lifetimes().session_absolute.as_secs();
                    let cookie = format!(
                        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"
                    );
                    response.headers_mut().insert(
                        header::SET_COOKIE,
                        HeaderValue::try_from(cookie).expect("tokens are base64url"),
                    );
                }
                Ok(response)
            }
            Err(LoginError::MfaRequired) => {
                self.metrics.mfa_challenge("required");
                Err(GatewayError::MfaRequired)
            }
            Err(LoginError::MfaInvalid) => {
                self.metrics.login("mfa_invalid");
                self.metrics.mfa_challenge("invalid");
                self.audit
                    .emit(
                        &SecurityEvent::LoginFailed {
                            user: &body.username,
                            ip: caller.ip,
                        },
                        request_id,
                    )
                    .await;
                Err(GatewayError::MfaInvalid)
            }
            Err(LoginError::TooManySessions) => {
                self.metrics.login("too_many_sessions");
                Err(GatewayError::TooManySessions)
            }
            Err(LoginError::LockedOut { until }) => {
                // The client learns nothing it would not from a wrong password.
                self.metrics.login("locked_out");
                self.audit
                    .emit(
                        &SecurityEvent::LoginLockedOut {
                            user: &body.username,
                            until,
                            ip: caller.ip,
                        },
                        request_id,
                    )
                    .await;
                Err(GatewayError::InvalidCredentials)
            }
            Err(LoginError::InvalidCredentials) => {
                self.metrics.login("invalid_credentials");
                self.audit
                    .emit(
                        &SecurityEvent::LoginFailed {
                            user: &body.username,
                            ip: caller.ip,
                        },
                        request_id,
                    )
                    .await;
                Err(GatewayError::InvalidCredentials)
            }
            Err(err) => {
                self.metrics.login("error");
                Err(unavailable(&err, request_id))
            }
        }
    }

    async fn refresh(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let body: RefreshRequest = read_json(request).await?;
        let request_id = caller.request_id.to_str().unwrap_or_default();
        match self.identity.refresh(&body.refresh_token, unix_now()).await {
            Ok(grant) => Ok(grant_response(&grant)),
            Err(LoginError::RefreshReuse { user_id }) => {
                self.audit
                    .emit(
                        &SecurityEvent::RefreshTokenReused {
                            user_id: &user_id,
                            ip: caller.ip,
                        },
                        request_id,
                    )
                    .await;
                Err(GatewayError::InvalidToken)
            }
            Err(
                LoginError::InvalidRefreshToken
                | LoginError::InvalidCredentials
                | LoginError::LockedOut { .. }
                | LoginError::TooManySessions
                | LoginError::MfaRequired
                | LoginError::MfaInvalid,
            ) => Err(GatewayError::InvalidToken),
            Err(err @ LoginError::Store(_)) => Err(unavailable(&err, request_id)),
        }
    }

    async fn logout(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let request_id = caller.request_id.to_str().unwrap_or_default();
        let now = unix_now();
        let principal = self.principal(request.headers()).await?;
        let session = cookie(request.headers(), SESSION_COOKIE).map(str::to_owned);
        let has_body = request.headers().contains_key(header::CONTENT_TYPE);
        let body: LogoutRequest = if has_body {
            read_json(request).await?
        } else {
            LogoutRequest::default()
        };
        if let Some(session) = session {
            self.identity
                .logout(&session, now)
                .await
                .map_err(|err| unavailable(&err, request_id))?;
        }
        if let Some(refresh) = body.refresh_token {
            self.identity
                .revoke_refresh(&refresh, now)
                .await
                .map_err(|err| unavailable(&err, request_id))?;
        }
        self.audit
            .emit(
                &SecurityEvent::Logout {
                    user: principal.as_ref().map(|p| p.username.as_str()),
                    ip: caller.ip,
                },
                request_id,
            )
            .await;
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "__Host-rampart_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
            ),
        );
        Ok(response)
    }

    async fn logout_everywhere(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let request_id = caller.request_id.to_str().unwrap_or_default();
        let principal = self
            .principal(request.headers())
            .await?
            .ok_or(GatewayError::Unauthenticated)?;
        let sessions = self
            .identity
            .logout_everywhere(&principal.user_id, unix_now())
            .await
            .map_err(|err| unavailable(&err, request_id))?;
        self.audit
            .emit(
                &SecurityEvent::LogoutEverywhere {
                    user: &principal.username,
                    sessions,
                    ip: caller.ip,
                },
                request_id,
            )
            .await;
        Ok(json_response(
            StatusCode::OK,
            json!({ "sessions_ended": sessions }),
        ))
    }

    async fn me(&self, request: Request<Incoming>) -> Result<Response<ResponseBody>, GatewayError> {
        let principal = self
            .principal(request.headers())
            .await?
            .ok_or(GatewayError::Unauthenticated)?;
        Ok(json_response(
            StatusCode::OK,
            json!({
                "user_id": principal.user_id,
                "username": principal.username,
                "roles": principal.roles,
                "auth": principal.method.as_str(),
            }),
        ))
    }

    /// Answers an auth subrequest from another proxy for the rule in `?require=` (default:
    /// `authenticated`). The proxy copies the `X-Rampart-*` headers of a 200 to its upstream.
    async fn forward_auth(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let rule = forward_auth_rule(request.uri().query())?;
        let principal = self.principal(request.headers()).await?;
        if let Err(denied) = self
            .allow(&rule, principal.as_deref(), caller, "forward_auth")
            .await
        {
            // Traefik and Caddy pass a redirect on to the browser; nginx cannot, so it is opt-in.
            let wants_redirect = request
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "redirect=browser"));
            if denied == GatewayError::Unauthenticated
                && wants_redirect
                && is_browser_navigation(&request)
            {
                let original = ["x-forwarded-uri", "x-original-uri"]
                    .iter()
                    .find_map(|name| request.headers().get(*name)?.to_str().ok())
                    .unwrap_or("/");
                let location = HeaderValue::try_from(portal::login_url(original))
                    .map_err(|_| GatewayError::BadRequest("the forwarded URI is not valid"))?;
                return Err(GatewayError::LoginRequired { location });
            }
            return Err(denied);
        }
        let mut response = Response::new(ResponseBody::empty());
        if let Some(principal) = &principal {
            self.header_signer.add(
                response.headers_mut(),
                principal,
                caller.request_id,
                unix_now(),
            );
        }
        Ok(response)
    }

    /// Starts TOTP enrolment for the signed-in user: the secret, its `otpauth://` URL and a
    /// QR code to scan. Refused when a second factor is already set up.
    async fn enroll_totp(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let principal = self
            .principal(request.headers())
            .await?
            .ok_or(GatewayError::Unauthenticated)?;
        // Second factors belong to people; machines authenticate with their key alone.
        if principal.method == AuthMethod::ApiKey {
            return Err(GatewayError::Forbidden);
        }
        let store = self.identity.store();
        if mfa::is_enrolled(store, &principal.user_id)
            .await
            .map_err(|e| unavailable(&e, ""))?
        {
            return Err(GatewayError::Conflict("a second factor is already set up"));
        }
        let enrollment = mfa::enroll(
            store,
            &principal.user_id,
            &principal.username,
            "Rampart",
            unix_now(),
        )
        .await
        .map_err(|err| match err {
            MfaError::Store(e) => unavailable(&e, ""),
            other => GatewayError::InvalidRequest(other.to_string()),
        })?;
        Ok(json_response(
            StatusCode::OK,
            json!({"secret": enrollment.secret, "otpauth_url": enrollment.otpauth_url, "qr_svg": enrollment.qr_svg}),
        ))
    }

    /// Confirms enrolment with a first code; answers the recovery codes, shown this once.
    async fn confirm_totp(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let principal = self
            .principal(request.headers())
            .await?
            .ok_or(GatewayError::Unauthenticated)?;
        let body: CodeRequest = read_json(request).await?;
        match mfa::confirm(
            self.identity.store(),
            &principal.user_id,
            &body.code,
            unix_now(),
        )
        .await
        {
            Ok(codes) => Ok(json_response(
                StatusCode::OK,
                json!({ "recovery_codes": codes }),
            )),
            Err(MfaError::NotEnrolling) => Err(GatewayError::Conflict(
                "start with POST /_rampart/api/mfa/totp/enroll",
            )),
            Err(MfaError::WrongCode | MfaError::UnsuitableName) => Err(GatewayError::MfaInvalid),
            Err(MfaError::Store(e)) => Err(unavailable(&e, "")),
        }
    }

    /// Applies `rule` to the caller, counting and recording a refusal under `label`.
    async fn allow(
        &self,
        rule: &RouteAuth,
        principal: Option<&Principal>,
        caller: &Caller<'_>,
        label: &str,
    ) -> Result<(), GatewayError> {
        let decision =
            authorize::check(Some(rule), false, principal, &self.roles, Mode::Production);
        if decision.is_err() {
            let request_id = caller.request_id.to_str().unwrap_or_default();
            authorize::record_denial(
                &self.metrics,
                &self.audit,
                label,
                principal,
                caller.ip,
                request_id,
            )
            .await;
        }
        decision
    }

    /// The admin API, for callers granted `rampart:admin` (and a second factor if their roles
    /// require one).
    async fn admin(
        &self,
        request: Request<Incoming>,
        caller: &Caller<'_>,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let principal = self.principal(request.headers()).await?;
        let rule = RouteAuth::Permission(admin::PERMISSION.to_owned());
        let request_id = caller.request_id.to_str().unwrap_or_default();
        self.allow(&rule, principal.as_deref(), caller, "admin_api")
            .await?;
        let caller_principal = principal.expect("authorization passed, so there is a user");
        Admin {
            identity: &self.identity,
            roles: &self.roles,
            password_min_length: self.password_min_length,
            bans: &self.bans,
            audit: &self.audit,
            caller: &caller_principal,
            ip: caller.ip,
            request_id,
        }
        .handle(request)
        .await
    }

    fn portal(&self) -> Portal<'_> {
        Portal {
            identity: &self.identity,
            metrics: &self.metrics,
            audit: &self.audit,
        }
    }

    async fn principal(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<Arc<Principal>>, GatewayError> {
        match self.identity.authenticate(headers, unix_now()).await {
            Ok(principal) => Ok(principal),
            Err(AuthError::Token(_)) => Err(GatewayError::InvalidToken),
            Err(err @ AuthError::Store(_)) => Err(unavailable(&err, "")),
        }
    }
}

/// A second factor from the login body: the TOTP code if given, else the recovery code.
pub fn second_factor(totp: Option<String>, recovery_code: Option<String>) -> Option<SecondFactor> {
    let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    present(totp)
        .map(SecondFactor::Totp)
        .or_else(|| present(recovery_code).map(SecondFactor::RecoveryCode))
}

/// The rule a forward-auth request asks for.
fn forward_auth_rule(query: Option<&str>) -> Result<RouteAuth, GatewayError> {
    let require = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("require="))
        .unwrap_or("authenticated");
    RouteAuth::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(require),
    )
    .map_err(|err| GatewayError::InvalidRequest(err.to_string()))
}

/// Logs a backing-store failure and answers 503 without details.
fn unavailable(err: &dyn std::error::Error, request_id: &str) -> GatewayError {
    tracing::error!(request_id, error = %err, "identity store failure");
    GatewayError::Unavailable
}

/// Reads a JSON body (`Content-Type: application/json` required, 16 KB at most).
pub(crate) async fn read_json<T: DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, GatewayError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(GatewayError::UnsupportedMediaType("application/json"));
    }
    let bytes: Bytes = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| GatewayError::BodyTooLarge {
            limit: MAX_BODY as u64,
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|err| GatewayError::InvalidRequest(err.to_string()))
}

fn grant_response(grant: &Grant) -> Response<ResponseBody> {
    json_response(
        StatusCode::OK,
        json!({
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "refresh_token": grant.refresh_token,
            "user": { "username": grant.user.username, "roles": grant.user.roles },
        }),
    )
}
