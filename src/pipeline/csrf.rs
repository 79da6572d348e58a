//! CSRF protection for requests a browser authenticates with the session cookie. Such a
//! request with an unsafe method (POST, PUT, PATCH, DELETE) must come from the site itself:
//!
//! - `"origin"` (the default): the browser's `Sec-Fetch-Site` must say `same-origin` (or
//!   `none`, typed by the user), or, in browsers without it, `Origin` must be the site's own
//!   origin. Origins on the route's CORS allowlist are trusted too. Requests carrying neither
//!   header do not come from a browser page, and pass.
//! - `"token"`: the origin check, plus a signed double-submit token: Rampart sets the cookie
//!   `__Host-rampart-csrf-token` (readable by the page's scripts) to an HMAC of the session,
//!   and the page sends it back in `X-CSRF-Token`. Another site can neither read nor forge it,
//!   and a new session gets a new token.
//!
//! Bearer tokens and API keys are never sent by browsers on their own, so they need no check.

use http::Method;
use http::header::{self, HeaderMap, HeaderValue};
use ring::hmac;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::cors::CorsPolicy;
use crate::error::GatewayError;
use crate::identity::service::{SESSION_COOKIE, cookie};

/// The site's own origin as the browser sees it: the listener's scheme and the `Host`.
pub struct Origin<'a> {
    pub tls: bool,
    pub host: &'a str,
}

impl Origin<'_> {
    /// Whether an `Origin` header names this origin (compared without building a string).
    fn is(&self, origin: &str) -> bool {
        let scheme = if self.tls { "https://" } else { "http://" };
        origin
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            && origin[scheme.len()..].eq_ignore_ascii_case(self.host)
    }
}

pub const TOKEN_COOKIE: &str = "__Host-rampart-csrf-token";
pub const TOKEN_HEADER: &str = "x-csrf-token";

/// `[[route]] csrf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsrfMode {
    Off,
    #[default]
    Origin,
    Token,
}

/// Issues and checks CSRF tokens; the key is derived from the identity-header secret.
pub struct CsrfGuard {
    key: hmac::Key,
}

impl CsrfGuard {
    pub fn new(key: hmac::Key) -> Self {
        Self { key }
    }

    /// The token for a session: its HMAC, so it changes with every session.
    pub fn token_for(&self, session: &str) -> String {
        let tag = hmac::sign(&self.key, session.as_bytes());
        crate::identity::secret::hex(&tag.as_ref()[..16])
    }

    /// Checks an unsafe, cookie-authenticated request; anything else passes.
    pub fn check(
        &self,
        mode: CsrfMode,
        method: &Method,
        headers: &HeaderMap,
        own_origin: &Origin<'_>,
        cors: Option<&CorsPolicy>,
    ) -> Result<(), GatewayError> {
        if mode == CsrfMode::Off || method.is_safe() {
            return Ok(());
        }
        let Some(session) = cookie(headers, SESSION_COOKIE) else {
            return Ok(());
        };
        check_origin(headers, own_origin, cors)?;
        if mode == CsrfMode::Token {
            let expected = self.token_for(session);
            let sent = headers
                .get(TOKEN_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !bool::from(sent.ct_eq(expected.as_bytes())) {
                return Err(GatewayError::CsrfFailed(
                    "send the value of the __Host-rampart-csrf-token cookie in X-CSRF-Token",
                ));
            }
        }
        Ok(())
    }

    /// The `Set-Cookie` that hands the page its token, when the request lacks the current one.
    pub fn token_cookie(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let session = cookie(request, SESSION_COOKIE)?;
        let token = self.token_for(session);
        if cookie(request, TOKEN_COOKIE) == Some(token.as_str()) {
            return None;
        }
        HeaderValue::try_from(format!(
            "{TOKEN_COOKIE}={token}; Path=/; Secure; SameSite=Strict"
        ))
        .ok()
    }
}

/// The origin check alone (also used for Rampart's own API).
pub fn check_origin(
    headers: &HeaderMap,
    own_origin: &Origin<'_>,
    cors: Option<&CorsPolicy>,
) -> Result<(), GatewayError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let trusted_elsewhere = || origin.is_some_and(|o| cors.is_some_and(|c| c.lists_origin(o)));
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    let allowed = match (fetch_site, origin) {
        (Some(b"same-origin" | b"none"), _) => true,
        (Some(_), _) => trusted_elsewhere(),
        (None, Some(origin)) => own_origin.is(origin) || trusted_elsewhere(),
        (None, None) => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(GatewayError::CsrfFailed(
            "a signed-in request from another site was refused (cross-site request forgery)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> CsrfGuard {
        CsrfGuard::new(hmac::Key::new(
            hmac::HMAC_SHA256,
            b"test key of thirty-two bytes ok!",
        ))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    const OWN: Origin<'static> = Origin {
        tls: true,
        host: "shop.example.com",
    };
    const SESSION: &str = "__Host-rampart_session=s1";

    #[test]
    fn the_origin_check_refuses_other_sites() {
        let guard = guard();
        let post = Method::POST;
        let check = |pairs: &[(&str, &str)]| {
            guard.check(CsrfMode::Origin, &post, &headers(pairs), &OWN, None)
        };
        assert!(check(&[("cookie", SESSION), ("sec-fetch-site", "same-origin")]).is_ok());
        assert!(check(&[("cookie", SESSION), ("sec-fetch-site", "cross-site")]).is_err());
        assert!(check(&[("cookie", SESSION), ("sec-fetch-site", "same-site")]).is_err());
        assert!(check(&[("cookie", SESSION), ("origin", "https://SHOP.example.com")]).is_ok());
        assert!(check(&[("cookie", SESSION), ("origin", "https://evil.example")]).is_err());
        assert!(check(&[("cookie", SESSION), ("origin", "null")]).is_err());
        assert!(
            check(&[("cookie", SESSION)]).is_ok(),
            "not from a browser page"
        );
        assert!(
            check(&[("sec-fetch-site", "cross-site")]).is_ok(),
            "no session cookie"
        );
        let get = guard.check(
            CsrfMode::Origin,
            &Method::GET,
            &headers(&[("cookie", SESSION), ("sec-fetch-site", "cross-site")]),
            &OWN,
            None,
        );
        assert!(get.is_ok(), "safe methods pass");
    }

    #[test]
    fn tokens_are_bound_to_the_session() {
        let guard = guard();
        let token = guard.token_for("s1");
        assert_ne!(token, guard.token_for("s2"));
        let post = Method::POST;
        let check = |pairs: &[(&str, &str)]| {
            guard.check(CsrfMode::Token, &post, &headers(pairs), &OWN, None)
        };
        assert!(check(&[("cookie", SESSION)]).is_err(), "missing");
        assert!(
            check(&[("cookie", SESSION), ("x-csrf-token", "0123")]).is_err(),
            "wrong"
        );
        assert!(
            check(&[
                ("cookie", SESSION),
                ("x-csrf-token", &guard.token_for("s2"))
            ])
            .is_err(),
            "another session's"
        );
        assert!(check(&[("cookie", SESSION), ("x-csrf-token", &token)]).is_ok());

        let set = guard
            .token_cookie(&headers(&[("cookie", SESSION)]))
            .unwrap();
        assert!(
            set.to_str()
                .unwrap()
                .starts_with(&format!("{TOKEN_COOKIE}={token};"))
        );
        let current = format!("{SESSION}; {TOKEN_COOKIE}={token}");
        assert!(
            guard
                .token_cookie(&headers(&[("cookie", &current)]))
                .is_none()
        );
    }
}
