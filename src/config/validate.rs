//! Cross-checks that no single section can make on its own: references between sections, mode
//! rules, files that must exist. Runs after every section parsed.

use std::collections::HashSet;

use super::load::KeyPath;
use super::{Config, Mode};
use crate::identity::password;
use crate::identity::roles::{Roles, valid_role_name};
use crate::pipeline::security_headers::ResponseHeaderPolicy;
use crate::server::tls;

/// Targets per pool; target selection keeps their state in one 64-bit mask.
const MAX_TARGETS: usize = 64;

/// Hyper refuses smaller read buffers; a request head must fit in one.
const MIN_HEADER_BYTES: u64 = 8 * 1024;

/// Every cross-section problem in `config`, with the key it belongs to. The listener's
/// certificate files are read only when `listener_files` is set.
pub(crate) fn check(config: &Config, listener_files: bool) -> Vec<(KeyPath, String)> {
    let mut problems = Vec::new();
    let mut problem = |path: KeyPath, reason: String| problems.push((path, reason));
    let listen = &config.listen;

    match (&listen.tls, listen.plaintext) {
        (Some(_), true) => problem(
            KeyPath::key("listen").child("plaintext"),
            "plaintext = true and [listen.tls] exclude each other; remove one".into(),
        ),
        (None, false) if config.mode == Mode::Production => problem(
            KeyPath::key("listen").child("tls"),
            "production mode needs a certificate: add [listen.tls] cert and key, or set \
             [listen] plaintext = true if a TLS-terminating load balancer sits in front"
                .into(),
        ),
        _ => {}
    }
    if let Some(tls) = listen.tls.as_ref().filter(|_| listener_files)
        && let Err(reason) = tls::check_files(&tls.cert, &tls.key)
    {
        problem(KeyPath::key("listen").child("tls"), reason);
    }
    if listen.plaintext && listen.http_redirect.is_some() {
        problem(
            KeyPath::key("listen").child("http_redirect"),
            "redirecting to HTTPS needs a TLS listener; remove it or set up [listen.tls]".into(),
        );
    }
    if listen.max_header_bytes.0 < MIN_HEADER_BYTES {
        problem(
            KeyPath::key("listen").child("max_header_bytes"),
            format!("must be at least 8KB, got {}", listen.max_header_bytes),
        );
    }
    if listen.max_connections == 0 {
        problem(
            KeyPath::key("listen").child("max_connections"),
            "must be at least 1".into(),
        );
    }
    let clashes = |other: std::net::SocketAddr| other == config.admin.address && other.port() != 0;
    if clashes(listen.address) || listen.http_redirect.is_some_and(clashes) {
        problem(
            KeyPath::key("admin").child("address"),
            format!(
                "{} is already used by [listen]; give the admin listener its own port",
                config.admin.address
            ),
        );
    }
    if let Err(err) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        problem(
            KeyPath::key("log").child("level"),
            format!(
                "`{}` is not a log filter ({err}); use e.g. \"info\"",
                config.log.level
            ),
        );
    }

    let min = config.identity.password_min_length;
    if !(8..=password::MAX_LENGTH).contains(&min) {
        problem(
            KeyPath::key("identity").child("password_min_length"),
            format!("must be between 8 and {}, got {min}", password::MAX_LENGTH),
        );
    }
    let identity = &config.identity;
    match (&identity.nudge_after, &identity.nudge_webhook) {
        (Some(after), Some(url)) => {
            if after.0 >= identity.session_idle_timeout.0 {
                problem(
                    KeyPath::key("identity").child("nudge_after"),
                    "must be shorter than session_idle_timeout, or the session times out first"
                        .into(),
                );
            }
            let valid = url
                .parse::<http::Uri>()
                .is_ok_and(|u| u.scheme_str() == Some("http") && u.authority().is_some());
            if !valid {
                problem(
                    KeyPath::key("identity").child("nudge_webhook"),
                    format!("`{url}` is not an http:// URL (https webhooks are not supported yet)"),
                );
            }
        }
        (Some(_), None) => problem(
            KeyPath::key("identity").child("nudge_webhook"),
            "nudge_after needs a nudge_webhook to send to".into(),
        ),
        (None, Some(_)) => problem(
            KeyPath::key("identity").child("nudge_after"),
            "nudge_webhook needs nudge_after, e.g. \"15m\"".into(),
        ),
        (None, None) => {}
    }
    if let Some(url) = &config.storage.url
        && !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
    {
        problem(
            KeyPath::key("storage").child("url"),
            "use sqlite://PATH or postgres://USER@HOST/DATABASE".into(),
        );
    }
    let mut role_names = HashSet::new();
    for (i, role) in config.roles.iter().enumerate() {
        let at = KeyPath::key("role").index(i).child("name");
        if !valid_role_name(&role.name) {
            problem(
                at,
                format!(
                    "`{}` is not a valid role name; use a-z, 0-9, `_` and `-`",
                    role.name
                ),
            );
        } else if !role_names.insert(role.name.as_str()) {
            problem(at, format!("role `{}` is defined twice", role.name));
        }
    }
    if let Err(reason) = Roles::build(&config.roles) {
        problem(KeyPath::key("role"), reason);
    }

    if let Err(err) = config.alerts.rules(config.sla.latency_p95.0) {
        problem(
            KeyPath::key("alerts").child("rule"),
            format!("{err}; see docs/configuration.md for the expression syntax"),
        );
    }
    if let Err(reason) = config.alerts.channels() {
        problem(KeyPath::key("alerts").child("channel"), reason);
    }
    if config.alerts.evaluation_interval.0.is_zero() {
        problem(
            KeyPath::key("alerts").child("evaluation_interval"),
            "must be longer than zero".into(),
        );
    }
    let sla = &config.sla;
    for (key, percent) in [
        ("availability", sla.availability),
        ("success_ratio", sla.success_ratio),
    ] {
        if !(0.0..=100.0).contains(&percent) {
            problem(
                KeyPath::key("sla").child(key),
                "is a percentage: between 0 and 100, e.g. 99.9".into(),
            );
        }
    }
    if sla.sample_interval.0 < std::time::Duration::from_millis(100) {
        problem(
            KeyPath::key("sla").child("sample_interval"),
            "must be at least 100ms (the default, 1m, suits every report)".into(),
        );
    }
    let otlp = &config.otlp;
    if !(0.0..=1.0).contains(&otlp.sample_ratio) {
        problem(
            KeyPath::key("otlp").child("sample_ratio"),
            "is a share of traces: between 0 and 1, e.g. 0.1".into(),
        );
    }
    if let Some(endpoint) = &otlp.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        problem(
            KeyPath::key("otlp").child("endpoint"),
            "must be an OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces".into(),
        );
    }
    if otlp.export_interval.0.is_zero() {
        problem(
            KeyPath::key("otlp").child("export_interval"),
            "must be longer than zero (the default is 1s)".into(),
        );
    }
    if config.audit.checkpoint_every == 0 {
        problem(
            KeyPath::key("audit").child("checkpoint_every"),
            "must be at least 1".into(),
        );
    }

    let bans = &config.bans;
    if bans.threshold == 0 {
        problem(
            KeyPath::key("bans").child("threshold"),
            "must be at least 1; set enabled = false to switch automatic bans off".into(),
        );
    }
    if bans.duration.0 > bans.max_duration.0 {
        problem(
            KeyPath::key("bans").child("max_duration"),
            format!(
                "is shorter than duration ({}s); raise it or lower duration",
                bans.duration.0.as_secs()
            ),
        );
    }
    if bans.sync_interval.0.is_zero() || bans.window.0.is_zero() {
        let key = if bans.window.0.is_zero() {
            "window"
        } else {
            "sync_interval"
        };
        problem(
            KeyPath::key("bans").child(key),
            "must be longer than zero".into(),
        );
    }
    if config.redis.url.is_some() && config.redis.url_file.is_some() {
        problem(
            KeyPath::key("redis").child("url_file"),
            "url and url_file exclude each other; keep one".into(),
        );
    }

    let mut upstream_names = HashSet::new();
    for (i, upstream) in config.upstreams.iter().enumerate() {
        let at = KeyPath::key("upstream").index(i);
        if upstream.name.is_empty() {
            problem(at.clone().child("name"), "must not be empty".into());
        } else if !upstream_names.insert(upstream.name.as_str()) {
            problem(
                at.clone().child("name"),
                format!("upstream `{}` is defined twice", upstream.name),
            );
        }
        if upstream.targets.len() > MAX_TARGETS {
            problem(
                at.clone().child("targets"),
                format!(
                    "at most {MAX_TARGETS} targets per upstream; split them into several upstreams"
                ),
            );
        }
        if upstream.targets.is_empty() {
            problem(
                at.child("targets"),
                "needs at least one target such as \"http://127.0.0.1:5000\"".into(),
            );
        }
    }

    if config.routes.is_empty() {
        problem(
            KeyPath::key("route"),
            "no [[route]] defined, so every request would be answered 404; add one with path \
             and upstream"
                .into(),
        );
    }
    let mut route_labels = HashSet::new();
    for (i, route) in config.routes.iter().enumerate() {
        let at = KeyPath::key("route").index(i);
        if !upstream_names.contains(route.upstream.as_str()) {
            let known: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
            problem(
                at.clone().child("upstream"),
                format!(
                    "no [[upstream]] is named `{}`; defined: {}",
                    route.upstream,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        if !route.path.starts_with('/') {
            problem(
                at.clone().child("path"),
                format!("`{}` must start with `/`", route.path),
            );
        }
        if let Some(host) = &route.host
            && !valid_host_pattern(host)
        {
            problem(
                at.clone().child("host"),
                format!(
                    "`{host}` is not a host name; write e.g. \"api.example.com\" or \"*.example.com\""
                ),
            );
        }
        if let Err(reason) =
            ResponseHeaderPolicy::resolve(&config.security_headers, &route.security_headers)
        {
            problem(at.clone().child("security_headers"), reason);
        }
        if let Some(crate::config::RouteAuth::Permission(permission)) = &route.auth
            && let Ok(roles) = Roles::build(&config.roles)
            && !roles.grants_anyone(permission)
        {
            problem(
                at.clone().child("auth"),
                format!(
                    "no [[role]] grants `{permission}`, so nobody could use this route; add it to a role's permissions"
                ),
            );
        }
        if let Err(reason) = crate::pipeline::input::InputPolicy::build(&route.input) {
            problem(at.clone().child("input"), reason);
        }
        if let Some(cors) = &route.cors
            && let Err(reason) = crate::pipeline::cors::CorsPolicy::build(cors)
        {
            problem(at.clone().child("cors"), reason);
        }
        if route
            .message_interval
            .is_some_and(|interval| interval.0.is_zero())
        {
            problem(
                at.clone().child("message_interval"),
                "must be longer than zero; remove it for no minimum interval".into(),
            );
        }
        let label = route.label();
        let is_duplicate = !route_labels.insert((label, route.host.as_deref()));
        if is_duplicate {
            let key = if route.name.is_some() { "name" } else { "path" };
            problem(
                at.child(key),
                format!("another route already uses `{label}`; give one of them a distinct name"),
            );
        }
    }
    problems
}

fn valid_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn problems(text: &str) -> Vec<String> {
        match load_str("r.toml", text, []) {
            Ok(_) => Vec::new(),
            Err(p) => p.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn route_to_missing_upstream_is_named() {
        let found = problems(
            "[listen]\nplaintext = true\n[[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n\
             [[route]]\npath = \"/\"\nupstream = \"api\"\n",
        );
        assert_eq!(
            found,
            vec!["r.toml:8: route[0].upstream: no [[upstream]] is named `api`; defined: app"]
        );
    }

    #[test]
    fn production_without_certificate_is_refused() {
        let found = problems(
            "mode = \"production\"\n[[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n\
             [[route]]\npath = \"/\"\nupstream = \"app\"\n",
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("r.toml:1: listen.tls: production mode needs a certificate"),
            "{found:?}"
        );
    }

    #[test]
    fn role_inheritance_problems_are_reported() {
        let found = problems(
            "[listen]\nplaintext = true\n[[role]]\nname = \"admin\"\ninherits = [\"staff\"]\n\
             [[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n[[route]]\npath = \"/\"\nupstream = \"app\"\n",
        );
        assert_eq!(
            found,
            vec!["r.toml:3: role: role `admin` inherits `staff`, which is not defined"]
        );
    }

    #[test]
    fn nudges_need_a_webhook_and_must_come_before_the_timeout() {
        let base = "[listen]\nplaintext = true\n[[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n[[route]]\npath = \"/\"\nupstream = \"app\"\n";
        let found = problems(&format!("{base}[identity]\nnudge_after = \"15m\"\n"));
        assert_eq!(
            found,
            vec!["r.toml:9: identity.nudge_webhook: nudge_after needs a nudge_webhook to send to"]
        );
        let found = problems(&format!(
            "{base}[identity]\nnudge_after = \"40m\"\nnudge_webhook = \"http://app:5000/idle\"\n"
        ));
        assert!(
            found[0].contains("identity.nudge_after: must be shorter than session_idle_timeout"),
            "{found:?}"
        );
        assert!(problems(&format!("{base}[identity]\nnudge_after = \"15m\"\nnudge_webhook = \"http://app:5000/idle\"\n")).is_empty());
    }

    #[test]
    fn otlp_mistakes_name_the_key_and_the_fix() {
        let base = "[listen]\nplaintext = true\n[[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n[[route]]\npath = \"/\"\nupstream = \"app\"\n";
        let found = problems(&format!(
            "{base}[otlp]\nendpoint = \"127.0.0.1:4318\"\nsample_ratio = 10\n"
        ));
        assert_eq!(
            found,
            vec![
                "r.toml:11: otlp.sample_ratio: is a share of traces: between 0 and 1, e.g. 0.1",
                "r.toml:10: otlp.endpoint: must be an OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces",
            ]
        );
        assert!(problems(&format!("{base}[otlp]\nendpoint = \"https://otel.example.com/v1/traces\"\nsample_ratio = 0.1\n")).is_empty());
    }

    #[test]
    fn host_patterns() {
        assert!(valid_host_pattern("api.example.com"));
        assert!(valid_host_pattern("*.example.com"));
        assert!(!valid_host_pattern("API.example.com"));
        assert!(!valid_host_pattern("exa mple.com"));
        assert!(!valid_host_pattern("*."));
    }
}
