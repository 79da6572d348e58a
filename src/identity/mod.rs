//! Identity: users and passwords, roles and permissions.

pub mod admin;
pub mod api;
pub mod api_keys;
pub mod cache;
pub mod events;
pub mod mfa;
pub mod nudge;
pub mod password;
pub mod portal;
pub mod regulator;
pub mod roles;
pub mod secret;
pub mod service;
pub mod tokens;
pub mod users;
