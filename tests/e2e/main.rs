//! End-to-end tests: the real `rampart` binary on loopback, with a real upstream, real TLS
//! handshakes and real clients. One test binary, so the build happens once.

mod support;

mod abuse;
mod alerts;
mod attack_corpus;
mod attack_filter;
mod audit;
mod browser;
mod config_check;
mod demo;
mod errors;
mod forward_auth;
mod identity;
mod input;
mod lifecycle;
mod metrics;
mod proxy;
mod sla;
mod tls;
mod tracing;
mod users_cli;
