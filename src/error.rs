//! The one place where Rampart's own refusals and failures become HTTP responses.
//!
//! Every answer Rampart makes itself is the same JSON envelope,
//! `{"error": CODE, "message": TEXT, "request_id": ID}`, so clients and log searches need to know
//! one shape. Messages say what the client can do; causes stay in the logs.

use crate::privacy::redact::Redactor;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::body::ResponseBody;
use crate::pipeline::request_id::X_REQUEST_ID;

/// Why Rampart answered a request itself instead of (or after) asking the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("the request body is not valid: {0}")]
    InvalidRequest(String),
    #[error("send the body as {0}")]
    UnsupportedMediaType(&'static str),
    #[error("sign in first: this route needs an authenticated user")]
    Unauthenticated,
    #[error("sign in first")]
    LoginRequired { location: HeaderValue },
    #[error("the access token is invalid or expired")]
    InvalidToken,
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("your roles do not allow this")]
    Forbidden,
    #[error(
        "send the code from your authenticator app as `totp`, or a recovery code as `recovery_code`"
    )]
    MfaRequired,
    #[error("the second factor is wrong, expired or already used")]
    MfaInvalid,
    #[error("this needs a sign-in with a second factor; set one up and sign in again")]
    SecondFactorRequired,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("you already have the most sessions allowed; log out on another device first")]
    TooManySessions,
    #[error("no route matches this request")]
    NoRoute,
    #[error("this route does not accept the method")]
    MethodNotAllowed { allow: HeaderValue },
    #[error("the client sent the request body too slowly")]
    RequestTimeout,
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("the request looks like an attack and was refused")]
    AttackDetected,
    #[error("this client address is banned after repeated violations; try again later")]
    Banned { retry_after: Duration },
    #[error("{0}")]
    CsrfFailed(&'static str),
    #[error("{0}")]
    CorsDenied(&'static str),
    /// Input validation refused one field (`/messages/0/content`, `query`, an upload part).
    #[error("`{field}` {reason}")]
    InputRejected {
        status: StatusCode,
        code: &'static str,
        field: String,
        reason: String,
    },
    #[error("no upstream server accepted the connection")]
    UpstreamUnavailable,
    #[error("the upstream answered with an invalid or broken response")]
    UpstreamProtocol,
    #[error("the upstream failed; details are in the gateway log")]
    UpstreamErrorPage { status: StatusCode },
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("a backing service is unavailable; try again shortly")]
    Unavailable,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InputRejected { status, .. } => *status,
            Self::Unauthenticated | Self::InvalidToken | Self::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden | Self::SecondFactorRequired => StatusCode::FORBIDDEN,
            Self::MfaRequired | Self::MfaInvalid => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::LoginRequired { .. } => StatusCode::FOUND,
            Self::TooManySessions => StatusCode::CONFLICT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::AttackDetected
            | Self::Banned { .. }
            | Self::CsrfFailed(_)
            | Self::CorsDenied(_) => StatusCode::FORBIDDEN,
            Self::UpstreamUnavailable | Self::UpstreamProtocol => StatusCode::BAD_GATEWAY,
            Self::UpstreamErrorPage { status } => *status,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable machine-readable code; clients may switch on it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::MfaRequired => "mfa_required",
            Self::MfaInvalid => "mfa_invalid",
            Self::SecondFactorRequired => "second_factor_required",
            Self::Conflict(_) => "conflict",
            Self::LoginRequired { .. } => "login_required",
            Self::TooManySessions => "too_many_sessions",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NoRoute => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::BodyTooLarge { .. } => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::AttackDetected => "attack_detected",
            Self::Banned { .. } => "banned",
            Self::CsrfFailed(_) => "csrf_failed",
            Self::CorsDenied(_) => "cors_denied",
            Self::InputRejected { code, .. } => code,
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamProtocol => "bad_gateway",
            Self::UpstreamErrorPage { .. } => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Unavailable => "unavailable",
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a str,
    message: &'a str,
    request_id: &'a str,
    /// The input field a validation error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// `Content-Security-Policy` for bodies Rampart writes itself: nothing may load or frame them.
pub const OWN_CONTENT_SECURITY_POLICY: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");

/// Renders `error` as the JSON envelope with its status and headers.
pub fn error_response(error: &GatewayError, request_id: &HeaderValue) -> Response<ResponseBody> {
    let field = match error {
        GatewayError::InputRejected { field, .. } => Some(field.as_str()),
        _ => None,
    };
    let mut response = envelope_with_field(
        error.status(),
        error.code(),
        &error.to_string(),
        field,
        request_id,
    );
    match error {
        GatewayError::MethodNotAllowed { allow } => {
            response.headers_mut().insert(header::ALLOW, allow.clone());
        }
        GatewayError::Unauthenticated | GatewayError::InvalidCredentials => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rampart\""),
            );
        }
        GatewayError::LoginRequired { location } => {
            response
                .headers_mut()
                .insert(header::LOCATION, location.clone());
        }
        GatewayError::InvalidToken => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rampart\", error=\"invalid_token\""),
            );
        }
        GatewayError::RateLimited { retry_after } | GatewayError::Banned { retry_after } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        _ => {}
    }
    response
}

/// A JSON envelope response with any code and message (the admin listener uses it too).
pub fn envelope(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    envelope_with_field(status, code, message, None, request_id)
}

fn envelope_with_field(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    // Messages may quote what the client sent; personal data and secrets are masked.
    let message = Redactor::masking().redact(message);
    let body = serde_json::to_vec(&Envelope {
        error: code,
        message: &message,
        request_id: request_id.to_str().unwrap_or_default(),
        field,
    })
    .expect("serializing strings to JSON cannot fail");
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, OWN_CONTENT_SECURITY_POLICY);
    headers.insert(X_REQUEST_ID, request_id.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn json(response: Response<ResponseBody>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn every_error_is_the_same_envelope_with_its_status() {
        let id = HeaderValue::from_static("req-1");
        let cases = [
            (GatewayError::BadRequest("missing Host"), 400, "bad_request"),
            (GatewayError::Unauthenticated, 401, "unauthenticated"),
            (GatewayError::Forbidden, 403, "forbidden"),
            (GatewayError::NoRoute, 404, "not_found"),
            (GatewayError::RequestTimeout, 408, "request_timeout"),
            (
                GatewayError::BodyTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (
                GatewayError::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                429,
                "rate_limited",
            ),
            (
                GatewayError::UpstreamUnavailable,
                502,
                "upstream_unavailable",
            ),
            (GatewayError::UpstreamTimeout, 504, "upstream_timeout"),
        ];
        for (error, status, code) in cases {
            let response = error_response(&error, &id);
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["x-request-id"], "req-1");
            let body = json(response).await;
            assert_eq!(body["error"], code);
            assert_eq!(body["request_id"], "req-1");
            assert_eq!(body["message"], error.to_string());
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let id = HeaderValue::from_static("r");
        let error = GatewayError::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(error_response(&error, &id).headers()["retry-after"], "2");
    }
}
