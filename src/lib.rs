//! Rampart: a production-hardening gateway in front of an existing web app or API.
//!
//! The request path reads top to bottom in [`pipeline`]; [`server`] accepts connections and
//! hands each request to it; [`upstream`] talks to the app; [`config`] is the one TOML file.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod alerting;
pub mod attack_filter;
pub mod audit;
pub mod body;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod json_walk;
pub mod observability;
pub mod outbound;
pub mod pipeline;
pub mod privacy;
pub mod server;
pub mod store;
pub mod upstream;
