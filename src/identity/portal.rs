//! The login portal: `GET /_rampart/login` shows a server-rendered form, `POST` checks it.
//! No scripts, no external assets, a strict CSP; the only style sheet is Rampart's own.
//!
//! CSRF: double submit. The form carries a random token that must equal the `__Host-` cookie
//! set with it (SameSite=Strict, so another site can neither read nor send it). The redirect
//! target `rd` must be a local path, so the portal cannot be used to bounce users elsewhere.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

use super::api::second_factor;
use super::events::SecurityEvent;
use super::secret::new_token;
use super::service::{IdentityService, LoginError, SESSION_COOKIE, cookie};
use crate::audit::Audit;
use crate::body::ResponseBody;
use crate::error::GatewayError;
use crate::observability::metrics::Metrics;
use crate::store::unix_now;

pub const LOGIN_PATH: &str = "/_rampart/login";
pub const STYLESHEET_PATH: &str = "/_rampart/portal.css";
const CSRF_COOKIE: &str = "__Host-rampart_csrf";
const MAX_FORM: usize = 8 * 1024;

const PORTAL_CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = "body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.6rem 1.2rem}.error{color:#a40000}";

/// Serves the portal pages.
pub struct Portal<'a> {
    pub identity: &'a IdentityService,
    pub metrics: &'a Metrics,
    pub audit: &'a Audit,
}

impl Portal<'_> {
    pub fn stylesheet(&self) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::full(STYLESHEET));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        response
    }

    /// The form, with a fresh CSRF token in a hidden field and in a cookie.
    pub fn form(&self, request: &Request<Incoming>) -> Response<ResponseBody> {
        let rd = query_value(request.uri().query(), "rd").unwrap_or_default();
        page(StatusCode::OK, &local_path(&rd), "", None)
    }

    /// Checks the form: CSRF first, then the credentials; success sets the session cookie and
    /// redirects to `rd`.
    pub async fn submit(
        &self,
        request: Request<Incoming>,
        ip: IpAddr,
        request_id: &HeaderValue,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let csrf_cookie = cookie(request.headers(), CSRF_COOKIE).map(str::to_owned);
        let body: Bytes = Limited::new(request.into_body(), MAX_FORM)
            .collect()
            .await
            .map_err(|_| GatewayError::BodyTooLarge {
                limit: MAX_FORM as u64,
            })?
            .to_bytes();
        let field = |name: &str| {
            form_urlencoded::parse(&body)
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default()
        };
        let (username, password, csrf, rd) = (
            field("username"),
            field("password"),
            field("csrf"),
            local_path(&field("rd")),
        );
        // One field for both kinds of code: digits are an authenticator code.
        let code = field("code");
        let factor = if code
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace())
        {
            second_factor(Some(code), None)
        } else {
            second_factor(None, Some(code))
        };
        let csrf_ok = matches!(&csrf_cookie, Some(expected) if !csrf.is_empty() && bool::from(expected.as_bytes().ct_eq(csrf.as_bytes())));
        if !csrf_ok {
            return Ok(page(
                StatusCode::FORBIDDEN,
                &rd,
                &username,
                Some("The form expired. Please sign in again."),
            ));
        }
        let id = request_id.to_str().unwrap_or_default();
        match self
            .identity
            .login(&username, &password, factor.as_ref(), ip, unix_now())
            .await
        {
            Ok(grant) => {
                self.metrics.login("ok");
                self.audit
                    .emit(
                        &SecurityEvent::LoginSucceeded {
                            user: &grant.user.username,
                            ip,
                        },
                        id,
                    )
                    .await;
                let mut response = Response::new(ResponseBody::empty());
                *response.status_mut() = StatusCode::SEE_OTHER;
                let headers = response.headers_mut();
                headers.insert(
                    header::LOCATION,
                    HeaderValue::try_from(rd).unwrap_or(HeaderValue::from_static("/")),
                );
                let max_age = self.identity.lifetimes().session_absolute.as_secs();
                let token = grant.session_token.unwrap_or_default();
                let session = format!(
                    "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"
                );
                headers.append(
                    header::SET_COOKIE,
                    HeaderValue::try_from(session).expect("tokens are base64url"),
                );
                headers.append(header::SET_COOKIE, HeaderValue::from_static("__Host-rampart_csrf=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"));
                Ok(response)
            }
            Err(
                err @ (LoginError::InvalidCredentials
                | LoginError::LockedOut { .. }
                | LoginError::TooManySessions
                | LoginError::MfaRequired
                | LoginError::MfaInvalid),
            ) => {
                let (result, message) = match err {
                    LoginError::MfaRequired => (
                        "mfa_required",
                        "Enter the code from your authenticator app, or a recovery code.",
                    ),
                    LoginError::MfaInvalid => {
                        ("mfa_invalid", "That code is wrong or was already used.")
                    }
                    LoginError::TooManySessions => (
                        "too_many_sessions",
                        "You are signed in on too many devices. Sign out elsewhere first.",
                    ),
                    LoginError::LockedOut { .. } => ("locked_out", "Wrong user name or password."),
                    _ => ("invalid_credentials", "Wrong user name or password."),
                };
                self.metrics.login(result);
                self.audit
                    .emit(
                        &SecurityEvent::LoginFailed {
                            user: &username,
                            ip,
                        },
                        id,
                    )
                    .await;
                Ok(page(
                    StatusCode::UNAUTHORIZED,
                    &rd,
                    &username,
                    Some(message),
                ))
            }
            Err(err) => {
                tracing::error!(request_id = id, error = %err, "identity store failure");
                Err(GatewayError::Unavailable)
            }
        }
    }
}

/// The login page with a new CSRF token; `error` is shown above the form.
fn page(
    status: StatusCode,
    rd: &str,
    username: &str,
    error: Option<&str>,
) -> Response<ResponseBody> {
    let csrf = new_token();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Sign in</title><link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head><body>\
         <h1>Sign in</h1>{error}<form method=\"post\" action=\"{LOGIN_PATH}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"rd\" value=\"{rd}\">\
         <label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{username}\">\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"code\">Authenticator or recovery code (if you set one up)</label><input id=\"code\" name=\"code\" autocomplete=\"one-time-code\">\
         <button type=\"submit\">Sign in</button></form></body></html>\n",
        rd = escape(rd),
        username = escape(username),
    );
    let mut response = Response::new(ResponseBody::full(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PORTAL_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let cookie = format!("{CSRF_COOKIE}={csrf}; Path=/; Secure; HttpOnly; SameSite=Strict");
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::try_from(cookie).expect("tokens are base64url"),
    );
    response
}

/// `rd` if it is a path on this site, else `/`: no `//host`, no `\`, no scheme.
pub fn local_path(rd: &str) -> String {
    let safe = rd.starts_with('/')
        && !rd.starts_with("//")
        && !rd.contains('\\')
        && !rd.chars().any(|c| c.is_control())
        && !rd.starts_with(LOGIN_PATH);
    if safe { rd.to_owned() } else { "/".to_owned() }
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The login page URL that returns to `target` (a path with query) afterwards.
pub fn login_url(target: &str) -> String {
    let rd: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
    format!("{LOGIN_PATH}?rd={rd}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_redirect_targets_are_kept() {
        assert_eq!(local_path("/reports?q=1"), "/reports?q=1");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/_rampart/login?rd=/x",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn pages_escape_what_they_echo() {
        let response = page(
            StatusCode::OK,
            "/x\"><script>",
            "<b>ana</b>",
            Some("bad & worse"),
        );
        let ResponseBody::Full(Some(html)) = response.into_body() else {
            panic!("a full body")
        };
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<b>ana"),
            "{html}"
        );
        assert!(html.contains("bad &amp; worse"));
    }

    #[test]
    fn login_urls_encode_the_target() {
        assert_eq!(
            login_url("/a b?c=d&e"),
            "/_rampart/login?rd=%2Fa+b%3Fc%3Dd%26e"
        );
    }
}
