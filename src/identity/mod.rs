//! Identity: users and passwords, roles and permissions.

pub mod password;
pub mod roles;
pub mod users;
