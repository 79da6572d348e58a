//! The request pipeline: the straight line every request travels, decided in this one file.
//!
//! ```text
//! client ─▶ client address ─▶ request id ─▶ ban ─▶ (Rampart's own /_rampart/ endpoints:
//!           login zone, origin check)
//!        ─▶ route (CORS preflights answered here) ─▶ path check ─▶ rate limits by address
//!        ─▶ input validation + attack filter ─▶ CSRF ─▶ authenticate ─▶ rate limits by user
//!        ─▶ authorize ─▶ identity headers ─▶ forwarding headers ─▶ upstream pool ─▶ app
//!        ─▶ cookie flags ─▶ error-page scrub ─▶ security headers, CORS ─▶ access log ─▶ client
//! ```
//!
//! Refusals that show abuse (429s, attack blocks, failed logins, the app's own 401/403) count
//! towards a ban. The LLM guard will slot in after authorization. Each step is a function in
//! its own module; a step that refuses returns a [`GatewayError`], which becomes the JSON
//! envelope in exactly one place, [`Gateway::handle`].

pub mod authorize;
pub mod bans;
pub mod client_addr;
pub mod content_coding;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod error_pages;
pub mod forwarding;
pub mod identity_headers;
pub mod input;
pub mod method_override;
pub mod rate_limit;
pub mod request_id;
pub mod routing;
pub mod security_headers;
pub mod uploads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use self::bans::{Bans, Violation};
use self::client_addr::ClientAddr;
use self::cookies::CookiesConfig;
use self::csrf::{CsrfGuard, CsrfMode};
use self::error_pages::Scrubbed;
use self::forwarding::Forwarded;
use self::identity_headers::IdentityHeaderSigner;
use self::rate_limit::RouteLimits;
use self::request_id::X_REQUEST_ID;
use self::routing::{Route, Router};
use self::security_headers::ResponseHeaderPolicy;
use crate::attack_filter::inputs::{self, BodyKind};
use crate::attack_filter::{AttackFilter, FilterMode, Verdict};
use crate::audit::Audit;
use crate::audit::trail::RequestTrail;
use crate::body::ResponseBody;
use crate::config::{Config, IpCidr, Mode, ReplaceUpstreamErrors, RouteAuth, SecurityHeaders};
use crate::error::{GatewayError, error_response};
use crate::identity::api::{self, Caller, IdentityApi};
use crate::identity::events::SecurityEvent;
use crate::identity::portal::{LOGIN_PATH, login_url};
use crate::identity::roles::Roles;
use crate::identity::service::{
    AuthError, AuthMethod, IdentityService, Principal, SESSION_COOKIE, cookie,
};
use crate::observability::access_log::{AccessRecord, ObservedBody, path_for_log};
use crate::observability::metrics::{Metrics, RouteMetrics};
use crate::observability::otlp::{self, RequestSpan, Tracer};
use crate::observability::trace_context::TRACEPARENT;
use crate::privacy;
use crate::store::{Store, unix_now};
use crate::upstream::SharedHealth;
use crate::upstream::{self, BodyLimits, RequestBody, UpstreamPool};

/// How a client reached us; fixed for the life of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// What every worker's pipeline shares: metrics, the identity service and its key material.
pub struct Shared {
    pub metrics: Arc<Metrics>,
    /// Each route's rate limits, by route position; shared so a limit holds process-wide.
    pub rate_limits: Arc<Vec<Option<Arc<RouteLimits>>>>,
    /// The login zone: limits on login attempts per client address.
    pub login_limits: Option<Arc<RouteLimits>>,
    pub bans: Arc<Bans>,
    pub audit: Audit,
    pub store: Arc<Store>,
    /// Which upstream targets are down, seen alike by every worker.
    pub upstream_health: Arc<SharedHealth>,
    /// The request trail, when `[audit] requests` is on.
    pub trail: Option<RequestTrail>,
    /// Trace export, when `[otlp] endpoint` is set.
    pub tracer: Option<Tracer>,
    pub identity: Arc<IdentityService>,
    pub roles: Arc<Roles>,
    pub header_signer: Arc<IdentityHeaderSigner>,
    /// The attack filter's compiled rules.
    pub attack_filter: Arc<AttackFilter>,
}

/// Everything the pipeline needs, built once from the validated config.
pub struct Gateway {
    router: Router,
    pools: Vec<Arc<UpstreamPool>>,
    trusted_proxies: Vec<IpCidr>,
    replace_upstream_errors: ReplaceUpstreamErrors,
    body_pause_limit: Duration,
    access_log: bool,
    /// Header policy for answers to requests that matched no route.
    unrouted_headers: ResponseHeaderPolicy,
    unrouted_metrics: RouteMetrics,
    own_metrics: RouteMetrics,
    metrics: Arc<Metrics>,
    mode: Mode,
    identity: Arc<IdentityService>,
    api: IdentityApi,
    roles: Arc<Roles>,
    header_signer: Arc<IdentityHeaderSigner>,
    attack_filter: Arc<AttackFilter>,
    login_limits: Option<Arc<RouteLimits>>,
    bans: Arc<Bans>,
    csrf: CsrfGuard,
    cookies: CookiesConfig,
    audit: Audit,
    /// This worker's queue; an `Arc` of its own, so sharing it with each request touches no
    /// counter another worker touches.
    trail: Option<Arc<RequestTrail>>,
    /// This worker's handle to the trace exporter, shared the same way.
    tracer: Option<Arc<Tracer>>,
}

impl Gateway {
    pub fn new(config: &Config, shared: &Shared) -> Result<Self, String> {
        let metrics = shared.metrics.clone();
        let pools: Vec<Arc<UpstreamPool>> = config
            .upstreams
            .iter()
            .map(|u| {
                Arc::new(UpstreamPool::new(
                    u,
                    metrics.upstream(&u.name),
                    &shared.upstream_health,
                ))
            })
            .collect();
        let default_replace = match config.mode {
            Mode::Production => ReplaceUpstreamErrors::DebugPages,
            Mode::Development => ReplaceUpstreamErrors::Off,
        };
        Ok(Self {
            router: Router::build(config, &pools, &metrics, &shared.rate_limits)?,
            pools,
            trusted_proxies: config.listen.trusted_proxies.clone(),
            replace_upstream_errors: config
                .errors
                .replace_upstream_errors
                .unwrap_or(default_replace),
            body_pause_limit: config.listen.body_read_timeout.0,
            access_log: config.log.access_log,
            unrouted_headers: ResponseHeaderPolicy::resolve(
                &config.security_headers,
                &SecurityHeaders::default(),
            )?,
            unrouted_metrics: metrics.route("unrouted"),
            own_metrics: metrics.route("_rampart"),
            api: IdentityApi {
                identity: shared.identity.clone(),
                password_min_length: config.identity.password_min_length,
                metrics: metrics.clone(),
                roles: shared.roles.clone(),
                header_signer: shared.header_signer.clone(),
                bans: shared.bans.clone(),
                audit: shared.audit.clone(),
            },
            metrics,
            mode: config.mode,
            identity: shared.identity.clone(),
            roles: shared.roles.clone(),
            header_signer: shared.header_signer.clone(),
            attack_filter: shared.attack_filter.clone(),
            login_limits: shared.login_limits.clone(),
            bans: shared.bans.clone(),
            csrf: CsrfGuard::new(shared.header_signer.derive_key("rampart csrf v1")),
            cookies: config.cookies.clone(),
            audit: shared.audit.clone(),
            trail: shared
                .trail
                .as_ref()
                .map(|trail| Arc::new(trail.for_worker())),
            tracer: shared.tracer.clone().map(Arc::new),
        })
    }

    pub fn pools(&self) -> &[Arc<UpstreamPool>] {
        &self.pools
    }

    /// Runs one request through the pipeline. Never fails: every refusal is an answer.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        conn: &ConnectionInfo,
    ) -> Response<ObservedBody> {
        let started = Instant::now();
        let mut request = request;
        // Credentials are never logged, whatever later code prints.
        privacy::mark_credentials_sensitive(request.headers_mut());
        // Who is asking comes first: ids, limits and logs are all about the real client.
        let client = client_addr::resolve(conn.peer.ip(), request.headers(), &self.trusted_proxies);
        // The request id next, so every later refusal and log line carries it.
        let request_id = request_id::resolve(request.headers(), client.via_trusted_proxy);
        let mut record = AccessRecord {
            request_id: request_id.clone(),
            client: client.ip,
            method: request.method().clone(),
            path: if self.access_log || self.trail.is_some() || self.tracer.is_some() {
                path_for_log(request.uri())
            } else {
                String::new()
            },
            status: 0,
            started,
            route: None,
            upstream: None,
            log: self.access_log,
            in_flight: self.metrics.request_started(),
            trail: self.trail.clone(),
            trace: self.tracer.as_ref().map(|tracer| RequestSpan {
                span: tracer.begin(request.headers()),
                tracer: tracer.clone(),
            }),
        };

        // Banned clients get no further, not even to the login page.
        if let Some(retry_after) = self.bans.check(client.ip, unix_now()) {
            self.metrics.banned_request();
            upstream::discard_refused(request).await;
            let mut response = error_response(&GatewayError::Banned { retry_after }, &request_id);
            self.unrouted_headers
                .apply(response.headers_mut(), conn.tls);
            response.headers_mut().insert(X_REQUEST_ID, request_id);
            record.status = response.status().as_u16();
            let metrics = self.unrouted_metrics.clone();
            return response.map(|body| ObservedBody::new(body, record, metrics));
        }

        // Rampart's own endpoints (login, tokens) are never the app's.
        if request.uri().path().starts_with(api::PREFIX) {
            let caller = Caller {
                ip: client.ip,
                request_id: &request_id,
            };
            let is_login = is_login_attempt(&request);
            let outcome = match &self.login_limits {
                Some(limits) if is_login => limits
                    .check_anonymous(client.ip, request.headers())
                    .await
                    .map_err(|retry_after| {
                        self.metrics.rate_limited("_login");
                        GatewayError::RateLimited { retry_after }
                    }),
                _ => Ok(()),
            };
            // Rampart's own API acts for the signed-in user too: same-site requests only.
            let outcome = outcome.and_then(|()| {
                if request.method().is_safe() || cookie(request.headers(), SESSION_COOKIE).is_none()
                {
                    return Ok(());
                }
                csrf::check_origin(request.headers(), &own_origin(&request, conn.tls), None)
            });
            let outcome = match outcome {
                Ok(()) => self.api.handle(request, &caller).await,
                Err(err) => {
                    upstream::discard_refused(request).await;
                    Err(err)
                }
            };
            let mut response = match outcome {
                Ok(response) => response,
                Err(err) => error_response(&err, &request_id),
            };
            let violation = match response.status() {
                StatusCode::TOO_MANY_REQUESTS if is_login => Some(Violation::RateLimited),
                StatusCode::UNAUTHORIZED if is_login => Some(Violation::LoginFailed),
                _ => None,
            };
            if let Some(violation) = violation {
                self.bans
                    .violation(
                        client.ip,
                        violation,
                        request_id.to_str().unwrap_or_default(),
                    )
                    .await;
            }
            self.unrouted_headers
                .apply(response.headers_mut(), conn.tls);
            response.headers_mut().insert(X_REQUEST_ID, request_id);
            record.route = Some("_rampart".into());
            record.status = response.status().as_u16();
            let metrics = self.own_metrics.clone();
            return response.map(|body| ObservedBody::new(body, record, metrics));
        }

        // Routing decides every per-route policy below. A CORS preflight is routed by the
        // method it asks about, and answered here when the route has a CORS policy.
        let preflight = cors::is_preflight(&request);
        let method = if preflight {
            cors::requested_method(&request)
        } else {
            request.method().clone()
        };
        let route = self.route(&request, &method);
        let origin = request.headers().get(header::ORIGIN).cloned();
        let outcome = match &route {
            Ok(route) if preflight && route.cors.is_some() => {
                record.route = Some(route.label.clone());
                route
                    .cors
                    .as_ref()
                    .map_or(Err(GatewayError::NoRoute), |cors| cors.preflight(&request))
            }
            Ok(route) => {
                record.route = Some(route.label.clone());
                self.proxy(route, request, conn, client, &request_id, &mut record)
                    .await
            }
            Err(err) => {
                upstream::discard_refused(request).await;
                Err(err.clone())
            }
        };
        if let (Ok(route), Err(err)) = (&route, &outcome)
            && let Some(reason) = input::failure_reason(err)
        {
            self.metrics.validation_failure(&route.label, reason);
        }
        let violation = match &outcome {
            Err(GatewayError::RateLimited { .. }) => Some(Violation::RateLimited),
            Err(GatewayError::AttackDetected) => Some(Violation::Attack),
            Ok(response)
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                Some(Violation::UpstreamDenied)
            }
            _ => None,
        };
        if let Some(violation) = violation {
            self.bans
                .violation(
                    client.ip,
                    violation,
                    request_id.to_str().unwrap_or_default(),
                )
                .await;
        }
        // The single place where refusals become responses.
        let mut response = outcome.unwrap_or_else(|err| error_response(&err, &request_id));

        // Response guards apply to the app's answers and to ours alike.
        let (policy, metrics) = match route {
            Ok(route) => (&route.response_headers, route.metrics.clone()),
            Err(_) => (&self.unrouted_headers, self.unrouted_metrics.clone()),
        };
        policy.apply(response.headers_mut(), conn.tls);
        if let Ok(route) = route
            && let Some(cors) = &route.cors
            && !preflight
        {
            cors.apply(origin.as_ref(), response.headers_mut());
        }
        response.headers_mut().insert(X_REQUEST_ID, request_id);
        record.status = response.status().as_u16();
        response.map(|body| ObservedBody::new(body, record, metrics))
    }

    /// The steps between a matched route and the upstream's answer.
    async fn proxy(
        &self,
        route: &Route,
        request: Request<Incoming>,
        conn: &ConnectionInfo,
        client: ClientAddr,
        request_id: &HeaderValue,
        record: &mut AccessRecord,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let mut request = request.map(RequestBody::Streaming);
        let admission = match self
            .admit(route, &mut request, conn, client, request_id)
            .await
        {
            Ok(admission) => admission,
            Err(refusal) => {
                upstream::discard_refused(request).await;
                return Err(refusal);
            }
        };
        let Admission {
            host,
            limits,
            principal,
            csrf_cookie,
            now,
        } = admission;

        // Identity headers: the client's copies are dropped, ours are signed.
        identity_headers::strip_client_copies(request.headers_mut());
        identity_headers::remove_cookie(request.headers_mut(), SESSION_COOKIE);
        if let Some(principal) = &principal {
            self.header_signer
                .add(request.headers_mut(), principal, request_id, now);
        }

        let upgrade = forwarding::is_upgrade(request.headers());
        forwarding::strip_hop_by_hop(request.headers_mut(), upgrade);
        forwarding::add_forwarding_headers(
            request.headers_mut(),
            &Forwarded {
                client,
                peer: conn.peer.ip(),
                tls: conn.tls,
                host: Some(&host),
                request_id,
            },
        );

        // The app continues the trace under a span for this call.
        let call_span = record.trace.as_ref().map(|trace| {
            let context = trace.span.context.child();
            request.headers_mut().insert(TRACEPARENT, context.header());
            (context, otlp::now_ns())
        });
        let forwarded = upstream::forward(
            &route.upstream,
            request,
            limits,
            route.response_timeout,
            &self.metrics,
            request_id,
        )
        .await;
        if let (Some(trace), Some((context, start_ns))) = (&record.trace, call_span) {
            let answer = forwarded.as_ref().ok().map(|answer| {
                (
                    answer.target.target.authority.as_str(),
                    answer.response.status().as_u16(),
                )
            });
            trace.end_call(context, start_ns, &route.upstream.name, answer);
        }
        let forwarded = forwarded?;
        if self.access_log {
            record.upstream = Some(format!(
                "{}/{}",
                route.upstream.name, forwarded.target.target.authority
            ));
        }

        let mut response = forwarded.response;
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        forwarding::strip_hop_by_hop(response.headers_mut(), switching);
        // Response guards for the app's answers: cookie flags, the CSRF token.
        cookies::harden(response.headers_mut(), conn.tls, &self.cookies);
        if let Some(set_cookie) = csrf_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie);
        }
        if !response.status().is_server_error() {
            return Ok(response.map(ResponseBody::Upstream));
        }
        let status = response.status();
        match error_pages::scrub(response, self.replace_upstream_errors).await {
            Scrubbed::Keep(response) => Ok(response),
            Scrubbed::Replace => {
                tracing::warn!(
                    request_id = request_id.to_str().unwrap_or_default(),
                    upstream = %route.upstream.name,
                    status = status.as_u16(),
                    "replaced an upstream error page that could leak internals"
                );
                Err(GatewayError::UpstreamErrorPage { status })
            }
        }
    }
}

impl Gateway {
    /// Every check that may refuse a routed request, in the pipeline's order. The body is read
    /// into `request` when a check needs it; on a refusal, what is left of it is the caller's
    /// to discard.
    async fn admit(
        &self,
        route: &Route,
        request: &mut Request<RequestBody>,
        conn: &ConnectionInfo,
        client: ClientAddr,
        request_id: &HeaderValue,
    ) -> Result<Admission, GatewayError> {
        // HTTP/1.1 requires Host; HTTP/2 carries it in the URI.
        let host = match request.headers().get(header::HOST) {
            Some(host) => host.clone(),
            None => {
                let authority = request
                    .uri()
                    .authority()
                    .ok_or(GatewayError::BadRequest("the request has no Host header"))?;
                let host = HeaderValue::from_str(authority.as_str())
                    .map_err(|_| GatewayError::BadRequest("the request authority is not valid"))?;
                request.headers_mut().insert(header::HOST, host.clone());
                host
            }
        };
        // Dot-segments would let `/public/../admin` match `/public` here and reach `/admin` in
        // an app that normalizes paths: refuse them before any per-route decision relies on
        // the path.
        if has_dot_segments(request.uri().path()) {
            return Err(GatewayError::BadRequest(
                "the path contains `.` or `..` segments",
            ));
        }

        // Rate limits by address, header or route: before any costly step (authentication
        // may hit the store).
        if let Some(limits) = &route.rate_limits
            && let Err(retry_after) = limits.check_anonymous(client.ip, request.headers()).await
        {
            self.metrics.rate_limited(&route.label);
            return Err(GatewayError::RateLimited { retry_after });
        }
        let limits = BodyLimits {
            max_bytes: route.max_body,
            pause_limit: self.body_pause_limit,
        };
        upstream::check_declared_length(request, limits)?;
        // Input validation and the attack filter: before authentication, so probes and
        // junk never reach the store.
        let inspection_started = Instant::now();
        let inspected = self
            .inspect_input(route, request, limits, client, request_id)
            .await;
        self.metrics
            .input_inspected(inspection_started.elapsed().as_secs_f64());
        inspected?;
        // CSRF: a browser's session-cookie request with an unsafe method must come from the
        // site itself (and carry the token on `csrf = "token"` routes).
        self.csrf.check(
            route.csrf,
            request.method(),
            request.headers(),
            &own_origin(request, conn.tls),
            route.cors.as_ref(),
        )?;
        let csrf_cookie = (route.csrf == CsrfMode::Token)
            .then(|| self.csrf.token_cookie(request.headers()))
            .flatten();
        // Authentication: who is asking, from the session cookie or a bearer token.
        let now = unix_now();
        let principal = self
            .authenticate(route, request, client, request_id, now)
            .await?;
        // Rate limits by user or API key, and the interval between messages.
        if let Some(limits) = &route.rate_limits
            && let Err(retry_after) = limits
                .check_identified(
                    client.ip,
                    request.headers(),
                    request.method(),
                    principal.as_deref(),
                )
                .await
        {
            self.metrics.rate_limited(&route.label);
            return Err(GatewayError::RateLimited { retry_after });
        }
        // Authorization: the route's rule against the user's roles; default deny in production.
        // Browsers are sent to the login page; API clients get 401.
        let login_target = is_browser_navigation(request).then(|| {
            request
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned()
        });
        if let Err(denied) = authorize::check(
            route.auth.as_ref(),
            route.mfa,
            principal.as_deref(),
            &self.roles,
            self.mode,
        ) {
            authorize::record_denial(
                &self.metrics,
                &self.audit,
                &route.label,
                principal.as_deref(),
                client.ip,
                request_id.to_str().unwrap_or_default(),
            )
            .await;
            return Err(match (denied, login_target) {
                (GatewayError::Unauthenticated, Some(target)) => GatewayError::LoginRequired {
                    location: HeaderValue::try_from(login_url(&target))
                        .unwrap_or(HeaderValue::from_static(LOGIN_PATH)),
                },
                (denied, _) => denied,
            });
        }
        Ok(Admission {
            host,
            limits,
            principal,
            csrf_cookie,
            now,
        })
    }

    /// The route of a request as `method`. A POST that stands for another method
    /// ([`method_override`]) must be the same route's as that method too.
    fn route(&self, request: &Request<Incoming>, method: &Method) -> Result<&Route, GatewayError> {
        let (host, path) = (request_host(request), request.uri().path());
        let route = self.router.find(host, path, method)?;
        if let Some(stands_for) = method_override::requested(request)? {
            self.check_override(route, request, &stands_for)?;
        }
        Ok(route)
    }

    /// Refuses a method override `route` does not serve as the method it names.
    fn check_override<B>(
        &self,
        route: &Route,
        request: &Request<B>,
        stands_for: &Method,
    ) -> Result<(), GatewayError> {
        let (host, path) = (request_host(request), request.uri().path());
        match std::ptr::eq(route, self.router.find(host, path, stands_for)?) {
            true => Ok(()),
            false => Err(GatewayError::BadRequest(
                "the method override names a method another route serves; send the request \
                 with that method",
            )),
        }
    }

    /// Input validation and the attack filter. The head is checked first; a body is read
    /// (within the route's limits) when a check needs it: text the filter inspects, JSON with
    /// limits or a schema, and every multipart upload. It is then forwarded from memory.
    /// Unparseable inspected bodies are refused: what cannot be read cannot be cleared.
    async fn inspect_input(
        &self,
        route: &Route,
        request: &mut Request<RequestBody>,
        limits: BodyLimits,
        client: ClientAddr,
        request_id: &HeaderValue,
    ) -> Result<(), GatewayError> {
        let with_body = !request.body().is_end_stream();
        route
            .input
            .check_head(request.uri(), request.headers(), with_body)?;
        let policy = &route.attack_filter;
        let filtering = policy.mode != FilterMode::Off;
        let mut verdict = Verdict::for_client(client.ip);
        if filtering {
            inputs::inspect_head(
                &self.attack_filter,
                policy,
                request.uri(),
                request.headers(),
                &mut verdict,
            );
        }
        let mut kind = match with_body {
            true => BodyKind::of(request.headers())
                .map_err(|err| GatewayError::InvalidRequest(err.to_string()))?,
            false => None,
        };
        // A body of a type the filter does not read is read when it may hold a JSON document:
        // backends such as Go's `json.Decoder` parse JSON whatever its label.
        if kind.is_none() && with_body && filtering {
            // A compressed body's start says nothing until it is decoded.
            if content_coding::is_decodable(request.headers()) {
                kind = Some(BodyKind::JsonLike);
            } else {
                let first = upstream::peek_first_byte(request.body_mut(), limits).await?;
                if first.is_some_and(inputs::opens_json_text) {
                    kind = Some(BodyKind::JsonLike);
                }
            }
        }
        let inspect = match &kind {
            None => false,
            Some(BodyKind::Multipart { .. }) => true,
            Some(BodyKind::Json) => filtering || route.input.checks_json(),
            Some(_) => filtering,
        };
        if inspect && filtering {
            input::check_charset(request.headers())?;
        }
        // On a route that names the file types it accepts, a body that is not a form or a
        // JSON document is a file.
        let raw_upload = with_body
            && route.input.uploads.restricts_types()
            && !matches!(
                kind,
                Some(BodyKind::Json | BodyKind::Form | BodyKind::Multipart { .. })
            );
        if inspect || raw_upload {
            let unread = std::mem::replace(request.body_mut(), RequestBody::Buffered(None));
            let body = upstream::read_body(unread, limits).await?;
            *request.body_mut() = RequestBody::Buffered(Some(body.clone()));
            let body = content_coding::decode(request.headers(), body, limits.max_bytes)?;
            if request.method() == Method::POST {
                let stands_for = match &kind {
                    Some(BodyKind::Form) => method_override::in_form(&body)?,
                    Some(BodyKind::Multipart {
                        boundary,
                        form: true,
                    }) => method_override::in_multipart(boundary, body.clone()).await?,
                    _ => None,
                };
                if let Some(stands_for) = stands_for {
                    self.check_override(route, request, &stands_for)?;
                }
            }
            if raw_upload {
                let claimed = request
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .map(inputs::media_type_essence);
                route
                    .input
                    .uploads
                    .check_body(claimed.as_deref(), &body)
                    .await?;
            }
            if let Some(kind) = kind.filter(|_| inspect) {
                self.inspect_body(route, &kind, &body, &mut verdict).await?;
            }
        }
        self.judge(route, verdict, client, request_id).await
    }

    /// Validates a read body and runs the attack filter over it.
    async fn inspect_body(
        &self,
        route: &Route,
        kind: &BodyKind,
        body: &bytes::Bytes,
        verdict: &mut Verdict,
    ) -> Result<(), GatewayError> {
        let policy = &route.attack_filter;
        let filtering = policy.mode != FilterMode::Off;
        match kind {
            BodyKind::Json if !body.is_empty() => {
                // One pass: the route's limits and the filter's look at every value.
                return if filtering {
                    let mut inspector =
                        inputs::JsonInspector::new(&self.attack_filter, policy, verdict);
                    route.input.check_json(body, &mut inspector)
                } else {
                    route.input.check_json(body, &mut ())
                };
            }
            BodyKind::Multipart { boundary, form } => {
                route
                    .input
                    .uploads
                    .check(boundary, *form, body.clone())
                    .await?;
            }
            _ => {}
        }
        if filtering
            && let Err(err) =
                inputs::inspect_body(&self.attack_filter, policy, kind, body, verdict).await
        {
            return Err(GatewayError::InvalidRequest(err.to_string()));
        }
        Ok(())
    }

    /// Logs and counts the attack filter's findings; refuses when they reach the threshold.
    async fn judge(
        &self,
        route: &Route,
        verdict: Verdict,
        client: ClientAddr,
        request_id: &HeaderValue,
    ) -> Result<(), GatewayError> {
        let policy = &route.attack_filter;
        if verdict.findings.is_empty() {
            return Ok(());
        }
        let blocked = policy.mode == FilterMode::Block && verdict.score >= policy.threshold;
        let mut families: Vec<_> = verdict.findings.iter().map(|f| f.family).collect();
        families.sort_unstable();
        families.dedup();
        for family in families {
            self.metrics
                .attack_finding(&route.label, family.as_str(), blocked);
        }
        for finding in &verdict.findings {
            self.metrics.attack_rule_hit(finding.rule);
        }
        let strongest = verdict.strongest().map(ToString::to_string);
        let findings: Vec<String> = verdict.findings.iter().map(ToString::to_string).collect();
        tracing::warn!(
            request_id = request_id.to_str().unwrap_or_default(),
            route = %route.label,
            client = %client.ip,
            action = if blocked { "blocked" } else { "detected" },
            score = verdict.score,
            threshold = policy.threshold,
            rule = strongest.as_deref().unwrap_or_default(),
            findings = ?findings,
            "attack filter finding"
        );
        if blocked {
            if let Some(strongest) = verdict.strongest() {
                let event = SecurityEvent::AttackBlocked {
                    route: &route.label,
                    rule: strongest.rule,
                    family: strongest.family.as_str(),
                    location: strongest.location.as_str(),
                    ip: client.ip,
                };
                self.audit
                    .emit(&event, request_id.to_str().unwrap_or_default())
                    .await;
            }
            return Err(GatewayError::AttackDetected);
        }
        Ok(())
    }

    /// The request's user, if it presents credentials. A bad bearer token is refused on
    /// protected routes and ignored on public ones; anonymous requests cost nothing.
    async fn authenticate<B>(
        &self,
        route: &Route,
        request: &Request<B>,
        client: ClientAddr,
        request_id: &HeaderValue,
        now: i64,
    ) -> Result<Option<Arc<Principal>>, GatewayError> {
        let headers = request.headers();
        let has_credentials = headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key("x-api-key")
            || cookie(headers, SESSION_COOKIE).is_some();
        if !has_credentials {
            return Ok(None);
        }
        let is_public = matches!(route.auth, Some(RouteAuth::Public))
            || (route.auth.is_none() && self.mode == Mode::Development);
        match self.identity.authenticate(headers, now).await {
            Ok(principal) => {
                if principal
                    .as_ref()
                    .is_some_and(|p| p.method == AuthMethod::Bearer)
                {
                    self.metrics.token_verification("ok");
                }
                // A stricter idle limit on this route makes an idle session count as signed out.
                if principal
                    .as_deref()
                    .is_some_and(|p| authorize::idle_too_long(route.session_idle_timeout, p, now))
                {
                    return Ok(None);
                }
                Ok(principal)
            }
            Err(AuthError::Token(err)) => {
                self.metrics.token_verification(err.reason());
                self.audit
                    .emit(
                        &SecurityEvent::TokenRejected {
                            reason: err.reason(),
                            ip: client.ip,
                        },
                        request_id.to_str().unwrap_or_default(),
                    )
                    .await;
                if is_public {
                    Ok(None)
                } else {
                    Err(GatewayError::InvalidToken)
                }
            }
            Err(err @ AuthError::Store(_)) => {
                tracing::error!(request_id = request_id.to_str().unwrap_or_default(), error = %err, "identity store failure");
                Err(GatewayError::Unavailable)
            }
        }
    }
}

/// What the checks of a routed request establish for forwarding it.
struct Admission {
    host: HeaderValue,
    limits: BodyLimits,
    principal: Option<Arc<Principal>>,
    csrf_cookie: Option<HeaderValue>,
    now: i64,
}

/// A sign-in attempt: the login zone's limits apply, and a 401 counts towards a ban.
fn is_login_attempt<B>(request: &Request<B>) -> bool {
    request.method() == http::Method::POST
        && matches!(request.uri().path(), api::LOGIN_PATH | LOGIN_PATH)
}

/// A top-level page load by a browser (not `fetch`, not an API client).
pub fn is_browser_navigation<B>(request: &Request<B>) -> bool {
    let navigates = request
        .headers()
        .get("sec-fetch-mode")
        .is_none_or(|mode| mode == "navigate");
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    (request.method() == http::Method::GET || request.method() == http::Method::HEAD)
        && navigates
        && wants_html
}

/// The site's own origin as the browser sees it, from the listener and `Host`.
fn own_origin<B>(request: &Request<B>, tls: bool) -> csrf::Origin<'_> {
    csrf::Origin {
        tls,
        host: request_host(request).unwrap_or_default(),
    }
}

fn request_host<B>(request: &Request<B>) -> Option<&str> {
    match request.headers().get(header::HOST) {
        Some(host) => host.to_str().ok(),
        None => request.uri().authority().map(|a| a.as_str()),
    }
}

/// True when a path segment is `.` or `..`, also percent-encoded (`%2e%2E`).
fn has_dot_segments(path: &str) -> bool {
    if !path.contains(['.', '%']) {
        return false;
    }
    path.split('/').any(|segment| {
        let mut rest = segment.as_bytes();
        let mut dots = 0;
        while !rest.is_empty() {
            if rest[0] == b'.' {
                rest = &rest[1..];
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_in_any_spelling() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/%2e%2E/b",
            "/a/.%2e",
            "/%2e/x",
        ] {
            assert!(has_dot_segments(path), "{path}");
        }
        for path in ["/", "/a.b/c", "/file.tar.gz", "/...", "/a/..b", "/100%25"] {
            assert!(!has_dot_segments(path), "{path}");
        }
    }
}
