//! Upstream error pages: in production, a 5xx body that looks like a stack trace or framework
//! debug page is replaced by the JSON envelope, because such pages hand attackers file paths,
//! versions, SQL and sometimes secrets. The upstream's body is logged nowhere; its status is kept.

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Limited};

use crate::body::ResponseBody;
use crate::config::ReplaceUpstreamErrors;
use crate::upstream::UpstreamResponse;

/// Upstream error bodies larger than this are not inspected but replaced: no client needs a
/// megabyte of error page.
const INSPECT_LIMIT: usize = 256 * 1024;

/// Phrases that appear in debug pages and stack traces of the common web stacks, lowercased.
const DEBUG_SIGNATURES: [&str; 24] = [
    "traceback (most recent call last)",
    "werkzeug debugger",
    "django.core",
    "you're seeing this error because you have <code>debug = true</code>",
    "exception in thread",
    "\tat java.",
    "\tat org.",
    "at java.base/",
    "java.lang.",
    "nullpointerexception",
    "stack trace:",
    "stacktrace",
    "<b>fatal error</b>:",
    "<b>warning</b>:",
    ".php on line",
    "sqlstate[",
    "at object.<anonymous>",
    "at module._compile",
    "node_modules/",
    "system.nullreferenceexception",
    "microsoft.aspnetcore",
    "panicked at",
    "goroutine 1 [",
    "actioncontroller::",
];

/// What happened to an upstream error answer.
pub enum Scrubbed {
    /// Safe to pass on: the (possibly buffered) response.
    Keep(Response<ResponseBody>),
    /// Must be replaced by the envelope.
    Replace,
}

/// Decides whether an upstream 5xx may reach the client, buffering its body to look.
pub async fn scrub(response: Response<UpstreamResponse>, mode: ReplaceUpstreamErrors) -> Scrubbed {
    match mode {
        ReplaceUpstreamErrors::Off => Scrubbed::Keep(response.map(ResponseBody::Upstream)),
        ReplaceUpstreamErrors::All => Scrubbed::Replace,
        ReplaceUpstreamErrors::DebugPages => {
            let (parts, body) = response.into_parts();
            let Ok(collected) = Limited::new(body, INSPECT_LIMIT).collect().await else {
                return Scrubbed::Replace;
            };
            let bytes = collected.to_bytes();
            if looks_like_debug_page(&bytes) {
                Scrubbed::Replace
            } else {
                Scrubbed::Keep(Response::from_parts(parts, ResponseBody::full(bytes)))
            }
        }
    }
}

fn looks_like_debug_page(body: &Bytes) -> bool {
    let text = String::from_utf8_lossy(body).to_lowercase();
    DEBUG_SIGNATURES.iter().any(|sig| text.contains(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_traces_of_common_stacks_are_recognized() {
        let pages = [
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 3",
            "<h1>Werkzeug Debugger</h1>",
            "Exception in thread \"main\" java.lang.IllegalStateException\n\tat com.x.Main.run(Main.java:5)",
            "<b>Fatal error</b>:  Uncaught Error in /var/www/index.php on line 3",
            "TypeError: x is undefined\n    at Object.<anonymous> (/srv/app.js:1:1)",
            "thread 'main' panicked at src/main.rs:2:5",
            "SQLSTATE[42000]: Syntax error",
        ];
        for page in pages {
            assert!(looks_like_debug_page(&Bytes::from(page)), "{page}");
        }
    }

    #[test]
    fn ordinary_error_bodies_pass() {
        let bodies = [
            r#"{"error": "model overloaded, retry later"}"#,
            "<html><body><h1>Sorry, something went wrong.</h1></body></html>",
            "Service temporarily unavailable",
        ];
        for body in bodies {
            assert!(!looks_like_debug_page(&Bytes::from(body)), "{body}");
        }
    }
}
