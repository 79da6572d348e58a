//! Routing: the first `[[route]]` whose host, path prefix and methods match decides the upstream
//! and every per-route policy. Routes are tried in file order, like firewall rules.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method};

use super::cors::CorsPolicy;
use super::csrf::CsrfMode;
use super::input::InputPolicy;
use super::rate_limit::RouteLimits;
use super::security_headers::ResponseHeaderPolicy;
use crate::attack_filter::FilterPolicy;
use crate::attack_filter::policy::DEFAULT_THRESHOLD;
use crate::config::{Config, RouteAuth, RouteConfig};
use crate::error::GatewayError;
use crate::observability::metrics::{Metrics, RouteMetrics};
use crate::upstream::UpstreamPool;

/// A route with everything it needs at request time resolved.
pub struct Route {
    pub label: Arc<str>,
    host: Option<HostPattern>,
    prefix: String,
    methods: Vec<Method>,
    pub upstream: Arc<UpstreamPool>,
    pub max_body: u64,
    pub response_timeout: Duration,
    pub response_headers: ResponseHeaderPolicy,
    pub metrics: RouteMetrics,
    /// Who may use the route; `None`: public in development, denied in production.
    pub auth: Option<RouteAuth>,
    /// The route needs a sign-in with a second factor.
    pub mfa: bool,
    /// Sessions idle longer than this count as signed out on this route.
    pub session_idle_timeout: Option<Duration>,
    /// Per-client limits, shared with every worker's copy of the route.
    pub rate_limits: Option<Arc<RouteLimits>>,
    /// Mode, threshold and exclusions of the attack filter on this route.
    pub attack_filter: FilterPolicy,
    /// Content types, query, header, JSON and upload rules.
    pub input: InputPolicy,
    pub cors: Option<CorsPolicy>,
    pub csrf: CsrfMode,
}

enum HostPattern {
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Subdomain(String),
}

impl HostPattern {
    fn parse(pattern: &str) -> Self {
        match pattern.strip_prefix('*') {
            Some(suffix) => Self::Subdomain(suffix.to_owned()),
            None => Self::Exact(pattern.to_owned()),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Subdomain(suffix) => {
                host.len() > suffix.len()
                    && host.as_bytes()[host.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }
}

/// All routes, in match order.
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Resolves every route against its upstream pool; the config was validated, so the
    /// references hold.
    pub fn build(
        config: &Config,
        pools: &[Arc<UpstreamPool>],
        metrics: &Metrics,
        rate_limits: &[Option<Arc<RouteLimits>>],
    ) -> Result<Self, String> {
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let mut built = Route::build(route, config, pools, metrics)?;
                built.rate_limits = rate_limits.get(i).cloned().flatten();
                Ok::<_, String>(built)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { routes })
    }

    /// The route for a request, or why there is none.
    pub fn find(
        &self,
        host: Option<&str>,
        path: &str,
        method: &Method,
    ) -> Result<&Route, GatewayError> {
        let host = host.map(strip_port);
        let mut path_matched: Vec<&Route> = Vec::new();
        for route in &self.routes {
            let host_ok = match (&route.host, host) {
                (None, _) => true,
                (Some(pattern), Some(host)) => pattern.matches(host),
                (Some(_), None) => false,
            };
            if !host_ok || !prefix_matches(&route.prefix, path) {
                continue;
            }
            if route.methods.is_empty() || route.methods.contains(method) {
                return Ok(route);
            }
            path_matched.push(route);
        }
        if path_matched.is_empty() {
            return Err(GatewayError::NoRoute);
        }
        let mut allowed: Vec<&str> = path_matched
            .iter()
            .flat_map(|r| r.methods.iter().map(Method::as_str))
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        Err(GatewayError::MethodNotAllowed {
            allow: HeaderValue::from_str(&allowed.join(", ")).expect("method names are valid"),
        })
    }
}

impl Route {
    fn build(
        route: &RouteConfig,
        config: &Config,
        pools: &[Arc<UpstreamPool>],
        metrics: &Metrics,
    ) -> Result<Self, String> {
        let upstream = pools
            .iter()
            .find(|pool| pool.name == route.upstream)
            .ok_or_else(|| format!("route {}: no upstream `{}`", route.label(), route.upstream))?
            .clone();
        Ok(Self {
            label: route.label().into(),
            host: route.host.as_deref().map(HostPattern::parse),
            prefix: route.path.clone(),
            methods: route.methods.iter().map(|m| m.0.clone()).collect(),
            max_body: route.max_body.unwrap_or(config.listen.max_body).0,
            response_timeout: route
                .response_timeout
                .map_or(upstream.response_timeout, |t| t.0),
            upstream,
            response_headers: ResponseHeaderPolicy::resolve(
                &config.security_headers,
                &route.security_headers,
            )?,
            metrics: metrics.route(route.label()),
            auth: route.auth.clone(),
            mfa: route.mfa,
            session_idle_timeout: route.session_idle_timeout.map(|t| t.0),
            rate_limits: None,
            attack_filter: FilterPolicy {
                mode: route.attack_filter,
                threshold: route.attack_filter_threshold.unwrap_or(DEFAULT_THRESHOLD),
                exclusions: route.attack_filter_exclude.clone(),
            },
            input: InputPolicy::build(&route.input)?,
            cors: route.cors.as_ref().map(CorsPolicy::build).transpose()?,
            csrf: route.csrf,
        })
    }
}

/// `/api` matches `/api`, `/api/` and `/api/x`, not `/apix`; `/` matches everything.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: `[::1]:8443`.
        return host
            .split_once(']')
            .map_or(host, |(addr, _)| &host[..addr.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/v1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(prefix_matches("/", "/anything"));
        assert!(!prefix_matches("/api", "/"));
    }

    #[test]
    fn hosts_match_exactly_or_by_subdomain() {
        let exact = HostPattern::parse("api.example.com");
        assert!(exact.matches("API.example.com"));
        assert!(!exact.matches("example.com"));
        let sub = HostPattern::parse("*.example.com");
        assert!(sub.matches("a.example.com"));
        assert!(!sub.matches("example.com"));
        assert!(!sub.matches("evilexample.com"));
    }

    #[test]
    fn ports_are_ignored_when_matching_hosts() {
        assert_eq!(strip_port("example.com:8443"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8443"), "[::1]");
    }
}
