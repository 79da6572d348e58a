//! Log output: JSON lines (or human-readable text) on standard output, written by a background
//! thread so that a slow terminal or pipe never stalls request handling.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Keep the guard alive until exit: dropping it flushes the
/// remaining lines.
pub fn init(config: &LogConfig) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Block rather than drop lines when the writer falls behind: a lost access-log line
        // is a hole in the record.
        .lossy(false)
        .finish(std::io::stdout());
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if let Err(err) = installed {
        eprintln!("logging was already initialised: {err}");
    }
    guard
}
