//! CORS with an allowlist (`[route.cors]`): preflights are answered at the edge and never
//! reach the app; answers to allowed origins get the `Access-Control-*` headers, the app's own
//! are removed so the allowlist is the only word. A wildcard origin with credentials is a
//! config error: that combination lets any site act as the user.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::body::ResponseBody;
use crate::config::HumanDuration;
use crate::error::GatewayError;

/// `[route.cors]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the route from a browser: `["https://app.example.com"]`, or
    /// `["*"]` for any (not with `allow_credentials`).
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    /// Request headers a page may send (simple headers are always allowed).
    pub allow_headers: Vec<String>,
    /// Response headers a page may read.
    pub expose_headers: Vec<String>,
    /// Let pages send cookies and read the answer (`Access-Control-Allow-Credentials`).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    pub max_age: HumanDuration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            allow_methods: vec!["GET".into(), "HEAD".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "authorization".into()],
            expose_headers: Vec::new(),
            allow_credentials: false,
            max_age: HumanDuration::secs(600),
        }
    }
}

/// A route's CORS policy, ready for requests.
#[derive(Debug)]
pub struct CorsPolicy {
    any_origin: bool,
    origins: Vec<OriginPattern>,
    methods: Vec<Method>,
    allow_methods: HeaderValue,
    headers: Vec<String>,
    allow_headers: HeaderValue,
    expose_headers: Option<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

impl CorsPolicy {
    pub fn build(config: &CorsConfig) -> Result<Self, String> {
        let any_origin = config.allow_origins.iter().any(|o| o == "*");
        if any_origin && config.allow_credentials {
            return Err(
                "allow_origins = [\"*\"] with allow_credentials = true would let every site act \
                 as your users; list the origins instead"
                    .into(),
            );
        }
        let origins = config
            .allow_origins
            .iter()
            .filter(|o| *o != "*")
            .map(|origin| OriginPattern::parse(origin))
            .collect::<Result<Vec<_>, _>>()?;
        let methods = config
            .allow_methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("`{m}` is not an HTTP method"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let headers: Vec<String> = config
            .allow_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let join = |items: &[String]| {
            HeaderValue::try_from(items.join(", "))
                .map_err(|_| format!("`{}` is not a header value", items.join(", ")))
        };
        let method_names: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
        Ok(Self {
            any_origin,
            origins,
            allow_methods: join(&method_names)?,
            methods,
            allow_headers: join(&headers)?,
            headers,
            expose_headers: (!config.expose_headers.is_empty())
                .then(|| join(&config.expose_headers))
                .transpose()?,
            credentials: config.allow_credentials,
            max_age: HeaderValue::from(config.max_age.0.as_secs()),
        })
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.any_origin || self.lists_origin(origin)
    }

    /// Whether `origin` is on the allowlist (the CSRF check trusts listed origins).
    pub fn lists_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|pattern| pattern.matches(origin))
    }

    /// Answers a preflight: `204` with the allowances, or `403 cors_denied`.
    pub fn preflight<B>(
        &self,
        request: &Request<B>,
    ) -> Result<http::Response<ResponseBody>, GatewayError> {
        let headers = request.headers();
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !self.allows_origin(origin) {
            return Err(GatewayError::CorsDenied(
                "this origin may not call this route",
            ));
        }
        let method_allowed = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
            .is_some_and(|m| self.methods.contains(&m));
        if !method_allowed {
            return Err(GatewayError::CorsDenied(
                "this method may not be used from another origin",
            ));
        }
        let headers_allowed = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| self.headers.contains(&h));
        if !headers_allowed {
            return Err(GatewayError::CorsDenied(
                "a requested header may not be sent from another origin",
            ));
        }
        let mut response = http::Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        self.allow(out, origin);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allow_methods.clone(),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allow_headers.clone(),
        );
        out.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        self.vary_by_origin(out);
        out.append(
            header::VARY,
            HeaderValue::from_static(
                "Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        Ok(response)
    }

    /// Sets the CORS headers of an answer to a request from `origin`: the app's are replaced.
    pub fn apply(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        self.vary_by_origin(response);
        for name in [
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            response.remove(name);
        }
        let Some(origin) = origin.and_then(|v| v.to_str().ok()) else {
            return;
        };
        if self.allows_origin(origin) {
            self.allow(response, origin);
            if let Some(expose) = &self.expose_headers {
                response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
    }

    /// Says that the answer depends on `Origin`, on every answer of the route (with or without
    /// an `Origin`, allowed or not): a shared cache that kept one origin's answer would
    /// otherwise hand it to another, with or without the allowing headers.
    fn vary_by_origin(&self, out: &mut HeaderMap) {
        if !self.any_origin {
            out.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }

    fn allow(&self, out: &mut HeaderMap, origin: &str) {
        if self.any_origin {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            return;
        }
        if let Ok(origin) = HeaderValue::from_str(origin) {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// An entry of `allow_origins`: one origin, or every subdomain of a site
/// (`https://*.example.com`, as Spring's origin patterns), with the scheme and port given.
#[derive(Debug)]
enum OriginPattern {
    Exact(String),
    /// The scheme with `://`, and what follows the subdomain: `.example.com[:port]`.
    Subdomains {
        scheme: String,
        suffix: String,
    },
}

impl OriginPattern {
    fn parse(origin: &str) -> Result<Self, String> {
        let example = "write e.g. \"https://app.example.com\" or \"https://*.example.com\"";
        let not_an_origin =
            || format!("`{origin}` is not an origin (scheme://host[:port], no path); {example}");
        let (scheme, rest) = origin.split_once("://").ok_or_else(not_an_origin)?;
        let (subdomains, site) = match rest.strip_prefix("*.") {
            Some(site) => (true, site),
            None => (false, rest),
        };
        if site.contains('*') {
            return Err(format!(
                "`{origin}`: a `*` may only stand for the subdomains, as in \"https://*.example.com\""
            ));
        }
        let uri: http::Uri = format!("{scheme}://{site}")
            .parse()
            .map_err(|_| not_an_origin())?;
        if uri.scheme().is_none()
            || uri.host().is_none()
            || uri.path() != "/"
            || site.ends_with('/')
        {
            return Err(not_an_origin());
        }
        let lower = |text: &str| text.to_ascii_lowercase();
        if !subdomains {
            return Ok(Self::Exact(lower(origin)));
        }
        if !uri.host().is_some_and(|host| host.contains('.')) {
            return Err(format!(
                "`{origin}` would allow every site under a top-level domain; name the site, as in \"https://*.example.com\""
            ));
        }
        Ok(Self::Subdomains {
            scheme: format!("{}://", lower(scheme)),
            suffix: format!(".{}", lower(site)),
        })
    }

    /// Compared without case, as origins are; a subdomain is one or more DNS labels.
    fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Exact(allowed) => allowed.eq_ignore_ascii_case(origin),
            Self::Subdomains { scheme, suffix } => {
                let Some(rest) = strip_prefix_ignore_case(origin, scheme) else {
                    return false;
                };
                let Some(subdomain) = rest
                    .len()
                    .checked_sub(suffix.len())
                    .filter(|&at| rest.is_char_boundary(at))
                    .filter(|&at| rest[at..].eq_ignore_ascii_case(suffix))
                    .map(|at| &rest[..at])
                else {
                    return false;
                };
                !subdomain.is_empty()
                    && subdomain.split('.').all(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
            }
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The method a preflight asks about, for routing it like the real request.
pub fn requested_method<B>(request: &Request<B>) -> Method {
    request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
        .unwrap_or(Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> Result<CorsPolicy, String> {
        CorsPolicy::build(&CorsConfig {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_credentials: credentials,
            ..CorsConfig::default()
        })
    }

    fn preflight(origin: &str, method: &str, headers: &str) -> Request<()> {
        let mut request = Request::builder()
            .method(Method::OPTIONS)
            .uri("/api")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method);
        if !headers.is_empty() {
            request = request.header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn wildcards_with_credentials_and_bad_origins_are_config_errors() {
        assert!(policy(&["*"], true).unwrap_err().contains("every site"));
        assert!(policy(&["*"], false).is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/x",
            "https://app.*.example.com",
            "https://*.com",
            "https://*.example.com/",
        ] {
            assert!(policy(&[bad], false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pattern_allows_the_subdomains_of_one_site() {
        let policy = policy(
            &["https://*.example.com", "http://*.example.org:8080"],
            true,
        )
        .unwrap();
        for allowed in [
            "https://app.example.com",
            "https://PR-42.preview.Example.com",
            "http://a.example.org:8080",
        ] {
            assert!(policy.lists_origin(allowed), "{allowed}");
        }
        for refused in [
            "https://example.com",
            "https://evilexample.com",
            "https://app.example.com.evil.net",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://.example.com",
            "https://a..example.com",
            "https://evil.net/.example.com",
            "http://a.example.org",
            "null",
        ] {
            assert!(!policy.lists_origin(refused), "{refused}");
        }
    }

    #[test]
    fn preflights_are_answered_from_the_allowlist() {
        let policy = policy(&["https://app.example.com"], true).unwrap();
        let request = preflight(
            "https://app.example.com",
            "POST",
            "Content-Type, Authorization",
        );
        assert!(is_preflight(&request));
        assert_eq!(requested_method(&request), Method::POST);
        let answer = policy.preflight(&request).unwrap();
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        let headers = answer.headers();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(headers.get_all(header::VARY).iter().any(|v| v == "Origin"));
        for (origin, method, asked) in [
            ("https://evil.example", "POST", ""),
            ("https://app.example.com", "DELETE", ""),
            ("https://app.example.com", "POST", "x-secret"),
            ("null", "GET", ""),
        ] {
            assert!(
                policy.preflight(&preflight(origin, method, asked)).is_err(),
                "{origin} {method} {asked}"
            );
        }
    }

    #[test]
    fn answers_carry_headers_only_for_allowed_origins() {
        let policy = policy(&["https://app.example.com"], false).unwrap();
        let mut response = HeaderMap::new();
        response.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        let evil = HeaderValue::from_static("https://evil.example");
        policy.apply(Some(&evil), &mut response);
        assert!(
            !response.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "the app's * is removed"
        );
        assert_eq!(response[header::VARY], "Origin");
        let mut without_origin = HeaderMap::new();
        policy.apply(None, &mut without_origin);
        assert_eq!(
            without_origin[header::VARY],
            "Origin",
            "a cache must not hand this answer to an allowed origin"
        );
        let mut response = HeaderMap::new();
        let app = HeaderValue::from_static("https://app.example.com");
        policy.apply(Some(&app), &mut response);
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert!(!response.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
}
