//! Log output: JSON lines (or human-readable text) on standard output, written by a background
//! thread so that a slow terminal or pipe never stalls request handling. Every line passes
//! through the [`Redactor`] first: personal data and secrets never reach the output.

use std::io::{self, Write};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};
use crate::privacy::redact::Redactor;

/// Installs the global subscriber. Keep the guard alive until exit: dropping it flushes the
/// remaining lines.
pub fn init(config: &LogConfig, redactor: Option<Redactor>) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Block rather than drop lines when the writer falls behind: a lost access-log line
        // is a hole in the record.
        .lossy(false)
        .finish(std::io::stdout());
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting {
            inner: writer,
            redactor,
        });
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

/// Makes writers that redact what they are given; the formatter writes each event as one
/// buffer, so each write is one whole line.
struct Redacting {
    inner: NonBlocking,
    redactor: Option<Redactor>,
}

struct RedactingWriter<'a> {
    inner: NonBlocking,
    redactor: Option<&'a Redactor>,
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.clone(),
            redactor: self.redactor.as_ref(),
        }
    }
}

impl Write for RedactingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match (self.redactor, std::str::from_utf8(buf)) {
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
