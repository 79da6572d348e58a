//! Security response headers: added to upstream answers that lack them, and the headers that
//! advertise the app's stack removed. Resolved once per route from `[security_headers]` and the
//! route's own `[route.security_headers]`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::SecurityHeaders;

const DEFAULT_HSTS: &str = "max-age=31536000; includeSubDomains";
const DEFAULT_FRAME_OPTIONS: &str = "SAMEORIGIN";
const DEFAULT_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";
const DEFAULT_REMOVE: [&str; 4] = [
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
];

/// What one route does to response headers.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaderPolicy {
    /// Sent only over TLS: HSTS on plain HTTP is ignored by browsers and misleads readers.
    hsts: Option<HeaderValue>,
    /// Added when the upstream did not set them; the app may know better for its own pages.
    defaults: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl ResponseHeaderPolicy {
    /// Route settings override global ones, which override Rampart's defaults; `""` turns a
    /// header off.
    pub fn resolve(global: &SecurityHeaders, route: &SecurityHeaders) -> Result<Self, String> {
        fn pick<'a>(
            route: &'a Option<String>,
            global: &'a Option<String>,
            default: &'a str,
        ) -> &'a str {
            route.as_deref().or(global.as_deref()).unwrap_or(default)
        }
        fn value(key: &str, text: &str) -> Result<Option<HeaderValue>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            HeaderValue::from_str(text).map(Some).map_err(|_| {
                format!("security_headers.{key}: `{text}` is not a valid header value")
            })
        }

        let mut defaults = Vec::new();
        let nosniff = route
            .content_type_options
            .or(global.content_type_options)
            .unwrap_or(true);
        if nosniff {
            defaults.push((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        }
        let optional = [
            (
                "frame_options",
                header::X_FRAME_OPTIONS,
                pick(
                    &route.frame_options,
                    &global.frame_options,
                    DEFAULT_FRAME_OPTIONS,
                ),
            ),
            (
                "referrer_policy",
                header::REFERRER_POLICY,
                pick(
                    &route.referrer_policy,
                    &global.referrer_policy,
                    DEFAULT_REFERRER_POLICY,
                ),
            ),
            (
                "permissions_policy",
                HeaderName::from_static("permissions-policy"),
                pick(&route.permissions_policy, &global.permissions_policy, ""),
            ),
            (
                "content_security_policy",
                header::CONTENT_SECURITY_POLICY,
                pick(
                    &route.content_security_policy,
                    &global.content_security_policy,
                    "",
                ),
            ),
        ];
        for (key, name, text) in optional {
            if let Some(v) = value(key, text)? {
                defaults.push((name, v));
            }
        }
        let remove = match route.remove.as_ref().or(global.remove.as_ref()) {
            Some(names) => names
                .iter()
                .map(|name| {
                    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        format!("security_headers.remove: `{name}` is not a header name")
                    })
                })
                .collect::<Result<_, _>>()?,
            None => DEFAULT_REMOVE
                .iter()
                .map(|n| HeaderName::from_static(n))
                .collect(),
        };
        Ok(Self {
            hsts: value("hsts", pick(&route.hsts, &global.hsts, DEFAULT_HSTS))?,
            defaults,
            remove,
        })
    }

    pub fn apply(&self, headers: &mut HeaderMap, tls: bool) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.defaults {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if tls && let Some(hsts) = &self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::SERVER, HeaderValue::from_static("gunicorn/20.1"));
        headers.insert("x-powered-by", HeaderValue::from_static("Flask"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
    }

    #[test]
    fn defaults_fill_gaps_and_hide_the_stack() {
        let policy =
            ResponseHeaderPolicy::resolve(&SecurityHeaders::default(), &SecurityHeaders::default())
                .unwrap();
        let mut headers = upstream_headers();
        policy.apply(&mut headers, true);
        assert!(headers.get(header::SERVER).is_none());
        assert!(headers.get("x-powered-by").is_none());
        assert_eq!(
            headers[header::X_FRAME_OPTIONS],
            "DENY",
            "the app's own choice is kept"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::STRICT_TRANSPORT_SECURITY], DEFAULT_HSTS);
    }

    #[test]
    fn hsts_only_over_tls() {
        let policy =
            ResponseHeaderPolicy::resolve(&SecurityHeaders::default(), &SecurityHeaders::default())
                .unwrap();
        let mut headers = HeaderMap::new();
        policy.apply(&mut headers, false);
        assert!(headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }

    #[test]
    fn routes_override_and_switch_off() {
        let global = SecurityHeaders {
            content_security_policy: Some("default-src 'self'".into()),
            ..Default::default()
        };
        let route = SecurityHeaders {
            content_security_policy: Some(String::new()),
            frame_options: Some("DENY".into()),
            ..Default::default()
        };
        let policy = ResponseHeaderPolicy::resolve(&global, &route).unwrap();
        let mut headers = HeaderMap::new();
        policy.apply(&mut headers, true);
        assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_none());
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    }

    #[test]
    fn invalid_values_are_reported() {
        let route = SecurityHeaders {
            referrer_policy: Some("bad\nvalue".into()),
            ..Default::default()
        };
        let err = ResponseHeaderPolicy::resolve(&SecurityHeaders::default(), &route).unwrap_err();
        assert!(err.contains("security_headers.referrer_policy"), "{err}");
    }
}
