//! Authorization: the route's rule against the request's user. 401 when nobody is signed in
//! and the route needs someone; 403 when the user's roles do not grant the permission, or when
//! the route or one of the user's roles needs a second factor the sign-in did not show. Routes
//! without a rule are public in development and denied in production (default deny).

use std::net::IpAddr;

use crate::audit::Audit;
use crate::config::{Mode, RouteAuth};
use crate::error::GatewayError;
use crate::identity::events::SecurityEvent;
use crate::identity::roles::Roles;
use crate::identity::service::Principal;
use crate::observability::metrics::Metrics;

pub fn check(
    rule: Option<&RouteAuth>,
    route_needs_mfa: bool,
    principal: Option<&Principal>,
    roles: &Roles,
    mode: Mode,
) -> Result<(), GatewayError> {
    let rule = match (rule, mode) {
        (Some(rule), _) => rule,
        (None, Mode::Development) => return Ok(()),
        (None, Mode::Production) => return Err(GatewayError::Forbidden),
    };
    let user = match (rule, principal) {
        (RouteAuth::Public, _) => return Ok(()),
        (_, None) => return Err(GatewayError::Unauthenticated),
        (RouteAuth::Authenticated, Some(user)) => user,
        (RouteAuth::Permission(permission), Some(user)) => {
            if !roles.allows(&user.roles, permission) {
                return Err(GatewayError::Forbidden);
            }
            user
        }
    };
    if (route_needs_mfa || roles.requires_mfa(&user.roles)) && !user.mfa {
        return Err(GatewayError::SecondFactorRequired);
    }
    Ok(())
}

/// Is `principal`'s session idle longer than the route allows? Tokens and keys have no
/// idleness; routes without their own limit use the session's.
pub fn idle_too_long(
    route_limit: Option<std::time::Duration>,
    principal: &Principal,
    now: i64,
) -> bool {
    match (route_limit, principal.last_active) {
        (Some(limit), Some(last)) => now - last > limit.as_secs() as i64,
        _ => false,
    }
}

/// Counts a refusal and records it as a security event, naming the route (or API) refused.
pub async fn record_denial(
    metrics: &Metrics,
    audit: &Audit,
    route: &str,
    principal: Option<&Principal>,
    ip: IpAddr,
    request_id: &str,
) {
    metrics.access_denied(route);
    let user = principal.map(|p| p.username.as_str());
    audit
        .emit(&SecurityEvent::AccessDenied { user, route, ip }, request_id)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleConfig;
    use crate::identity::service::AuthMethod;

    fn user(roles: &[&str]) -> Principal {
        Principal {
            user_id: "u".into(),
            username: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            method: AuthMethod::Bearer,
            mfa: false,
            last_active: None,
        }
    }

    #[test]
    fn allow_deny_matrix() {
        let roles = Roles::build(&[
            RoleConfig {
                name: "viewer".into(),
                permissions: vec!["reports:read".into()],
                inherits: vec![],
                require_mfa: false,
            },
            RoleConfig {
                name: "admin".into(),
                permissions: vec!["users:manage".into()],
                inherits: vec!["viewer".into()],
                require_mfa: false,
            },
        ])
        .unwrap();
        let public = RouteAuth::Public;
        let authenticated = RouteAuth::Authenticated;
        let read = RouteAuth::Permission("reports:read".into());
        let manage = RouteAuth::Permission("users:manage".into());
        let viewer = user(&["viewer"]);
        let admin = user(&["admin"]);
        type Case<'a> = (
            Option<&'a RouteAuth>,
            Option<&'a Principal>,
            Mode,
            Result<(), GatewayError>,
        );
        let ghost = user(&["ghost"]);
        let cases: [Case<'_>; 12] = [
            (Some(&public), None, Mode::Production, Ok(())),
            (
                Some(&authenticated),
                None,
                Mode::Production,
                Err(GatewayError::Unauthenticated),
            ),
            (
                Some(&authenticated),
                Some(&viewer),
                Mode::Production,
                Ok(()),
            ),
            (
                Some(&read),
                None,
                Mode::Production,
                Err(GatewayError::Unauthenticated),
            ),
            (Some(&read), Some(&viewer), Mode::Production, Ok(())),
            (Some(&read), Some(&admin), Mode::Production, Ok(())),
            (
                Some(&manage),
                Some(&viewer),
                Mode::Production,
                Err(GatewayError::Forbidden),
            ),
            (Some(&manage), Some(&admin), Mode::Production, Ok(())),
            (None, None, Mode::Production, Err(GatewayError::Forbidden)),
            (
                None,
                Some(&admin),
                Mode::Production,
                Err(GatewayError::Forbidden),
            ),
            (None, None, Mode::Development, Ok(())),
            (
                Some(&manage),
                Some(&ghost),
                Mode::Development,
                Err(GatewayError::Forbidden),
            ),
        ];
        for (rule, who, mode, expected) in cases {
            assert_eq!(
                check(rule, false, who, &roles, mode),
                expected,
                "{rule:?} {who:?} {mode:?}"
            );
        }
    }

    #[test]
    fn second_factor_requirements() {
        let role = |name: &str, require_mfa| RoleConfig {
            name: name.into(),
            permissions: vec![],
            inherits: vec![],
            require_mfa,
        };
        let roles = Roles::build(&[role("viewer", false), role("admin", true)]).unwrap();
        let any = RouteAuth::Authenticated;
        let mut viewer = user(&["viewer"]);
        let mut admin = user(&["admin"]);
        assert_eq!(
            check(Some(&any), false, Some(&viewer), &roles, Mode::Production),
            Ok(())
        );
        assert_eq!(
            check(Some(&any), true, Some(&viewer), &roles, Mode::Production),
            Err(GatewayError::SecondFactorRequired)
        );
        assert_eq!(
            check(Some(&any), false, Some(&admin), &roles, Mode::Production),
            Err(GatewayError::SecondFactorRequired)
        );
        assert_eq!(
            check(
                Some(&RouteAuth::Public),
                true,
                Some(&admin),
                &roles,
                Mode::Production
            ),
            Ok(())
        );
        viewer.mfa = true;
        admin.mfa = true;
        assert_eq!(
            check(Some(&any), true, Some(&viewer), &roles, Mode::Production),
            Ok(())
        );
        assert_eq!(
            check(Some(&any), false, Some(&admin), &roles, Mode::Production),
            Ok(())
        );
    }

    #[test]
    fn routes_can_ask_for_a_shorter_idle_limit() {
        let five_minutes = Some(std::time::Duration::from_secs(300));
        let mut session = user(&["viewer"]);
        session.last_active = Some(1000);
        assert!(!idle_too_long(five_minutes, &session, 1300));
        assert!(idle_too_long(five_minutes, &session, 1301));
        assert!(
            !idle_too_long(None, &session, 99_999),
            "no route limit: the session's own applies"
        );
        assert!(
            !idle_too_long(five_minutes, &user(&["viewer"]), 99_999),
            "bearer tokens are never idle"
        );
    }
}
