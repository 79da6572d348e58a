//! What operators see: structured logs, the access log and Prometheus metrics.

pub mod access_log;
pub mod dashboards;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod sla;
pub mod system;
pub mod trace_context;
