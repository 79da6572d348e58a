//! Security events: every authentication and authorization decision worth keeping, and every
//! ban and attack block. Each becomes a structured log line (`target: "security"`, here) and a
//! record in the tamper-evident audit log ([`crate::audit::Audit::emit`]).

use std::net::IpAddr;

/// Something security-relevant happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityEvent<'a> {
    LoginSucceeded {
        user: &'a str,
        ip: IpAddr,
    },
    LoginFailed {
        user: &'a str,
        ip: IpAddr,
    },
    LoginLockedOut {
        user: &'a str,
        until: i64,
        ip: IpAddr,
    },
    Logout {
        user: Option<&'a str>,
        ip: IpAddr,
    },
    LogoutEverywhere {
        user: &'a str,
        sessions: u64,
        ip: IpAddr,
    },
    RefreshTokenReused {
        user_id: &'a str,
        ip: IpAddr,
    },
    TokenRejected {
        reason: &'a str,
        ip: IpAddr,
    },
    AdminAction {
        actor: &'a str,
        action: &'static str,
        target: &'a str,
        ip: IpAddr,
    },
    AccessDenied {
        user: Option<&'a str>,
        route: &'a str,
        ip: IpAddr,
    },
    /// A client address was banned, automatically or by `source`.
    Banned {
        subject: &'a str,
        until: i64,
        reason: &'a str,
        source: &'a str,
    },
    Unbanned {
        subject: &'a str,
        actor: &'a str,
    },
    /// Something loaded from files again (`tls_certificate`, `signing_keys`), on change or SIGHUP.
    Reloaded {
        what: &'static str,
        ok: bool,
        detail: &'a str,
    },
    /// The attack filter refused a request.
    AttackBlocked {
        route: &'a str,
        rule: &'static str,
        family: &'static str,
        location: &'static str,
        ip: IpAddr,
    },
}

impl SecurityEvent<'_> {
    /// Every event's name, for metrics that should show zeros before the first event.
    pub const NAMES: [&'static str; 13] = [
        "login_succeeded",
        "login_failed",
        "login_locked_out",
        "logout",
        "logout_everywhere",
        "refresh_token_reused",
        "token_rejected",
        "access_denied",
        "admin_action",
        "banned",
        "unbanned",
        "attack_blocked",
        "reloaded",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed { .. } => "login_failed",
            Self::LoginLockedOut { .. } => "login_locked_out",
            Self::Logout { .. } => "logout",
            Self::LogoutEverywhere { .. } => "logout_everywhere",
            Self::RefreshTokenReused { .. } => "refresh_token_reused",
            Self::TokenRejected { .. } => "token_rejected",
            Self::AccessDenied { .. } => "access_denied",
            Self::AdminAction { .. } => "admin_action",
            Self::Banned { .. } => "banned",
            Self::Unbanned { .. } => "unbanned",
            Self::AttackBlocked { .. } => "attack_blocked",
            Self::Reloaded { .. } => "reloaded",
        }
    }
}

/// Logs `event` for the request `request_id`.
pub fn log_event(event: &SecurityEvent<'_>, request_id: &str) {
    let name = event.name();
    match *event {
        SecurityEvent::LoginSucceeded { user, ip } => {
            tracing::info!(target: "security", event = name, request_id, user, %ip)
        }
        SecurityEvent::LoginLockedOut { user, until, ip } => {
            tracing::warn!(target: "security", event = name, request_id, user, until, %ip)
        }
        SecurityEvent::LoginFailed { user, ip } => {
            tracing::warn!(target: "security", event = name, request_id, user, %ip)
        }
        SecurityEvent::Logout { user, ip } => {
            tracing::info!(target: "security", event = name, request_id, user = user.unwrap_or("-"), %ip)
        }
        SecurityEvent::LogoutEverywhere { user, sessions, ip } => {
            tracing::info!(target: "security", event = name, request_id, user, sessions, %ip)
        }
        SecurityEvent::RefreshTokenReused { user_id, ip } => {
            tracing::warn!(target: "security", event = name, request_id, user_id, %ip)
        }
        SecurityEvent::TokenRejected { reason, ip } => {
            tracing::warn!(target: "security", event = name, request_id, reason, %ip)
        }
        SecurityEvent::AdminAction {
            actor,
            action,
            target,
            ip,
        } => {
            tracing::info!(target: "security", event = name, request_id, actor, action, resource = target, %ip)
        }
        SecurityEvent::AccessDenied { user, route, ip } => {
            tracing::warn!(target: "security", event = name, request_id, user = user.unwrap_or("-"), route, %ip)
        }
        SecurityEvent::Banned {
            subject,
            until,
            reason,
            source,
        } => {
            tracing::warn!(target: "security", event = name, request_id, subject, until, reason, source)
        }
        SecurityEvent::Unbanned { subject, actor } => {
            tracing::info!(target: "security", event = name, request_id, subject, actor)
        }
        SecurityEvent::Reloaded { what, ok, detail } => {
            if ok {
                tracing::info!(target: "security", event = name, request_id, what, detail)
            } else {
                tracing::error!(target: "security", event = name, request_id, what, detail)
            }
        }
        SecurityEvent::AttackBlocked {
            route,
            rule,
            family,
            location,
            ip,
        } => {
            tracing::warn!(target: "security", event = name, request_id, route, rule, family, location, %ip)
        }
    }
}
