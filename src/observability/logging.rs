//! Log output: JSON lines (or human-readable text) on standard output, written by a background
//! thread so that a slow terminal or pipe never stalls request handling. Every line passes
//! through the [`Redactor`] first: personal data and secrets never reach the output.

use std::io::{self, Write};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};
use crate::privacy::redact::Redactor;

/// Installs the global subscriber. Keep the guard alive until exit: dropping it flushes the
/// remaining lines.
pub fn init(config: &LogConfig, redactor: Option<Redactor>) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Block rather than drop lines when the writer falls behind: a lost access-log line
        // is a hole in the record.
        .lossy(false)
        .finish(RedactingWriter {
            inner: std::io::stdout(),
            redactor,
        });
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

/// Standard output behind the redactor. It runs on the log thread (the non-blocking writer
/// hands it one formatted line at a time), so redaction adds nothing to request latency.
struct RedactingWriter<W> {
    inner: W,
    redactor: Option<Redactor>,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (&self.redactor, std::str::from_utf8(buf)) {
            (Some(redactor), Ok(text)) => {
                self.inner.write_all(redactor.redact(text).as_bytes())?;
            }
            // Redaction off, or not UTF-8 (the formatter writes UTF-8): passed on as it is.
            _ => self.inner.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
