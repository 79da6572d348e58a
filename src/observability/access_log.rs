//! The access log and request metrics, recorded when the response body is finished (or the
//! client goes away), so that streamed answers are measured whole.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Uri};
use hyper::body::{Body, Frame, SizeHint};

use super::metrics::{InFlight, RouteMetrics};
use crate::audit::trail::{RequestEntry, RequestTrail};
use crate::body::{BoxError, ResponseBody};
use crate::observability::otlp::RequestSpan;

/// What the access-log line says about one request, filled in along the pipeline.
pub struct AccessRecord {
    pub request_id: HeaderValue,
    pub client: IpAddr,
    pub method: Method,
    /// Path and query keys; query values may hold personal data and are left out.
    pub path: String,
    pub status: u16,
    pub started: Instant,
    pub route: Option<Arc<str>>,
    pub upstream: Option<String>,
    pub log: bool,
    /// Keeps the request in `rampart_http_requests_in_flight` until the body is done.
    pub in_flight: InFlight,
    /// Where the request is recorded when `[audit] requests` is on.
    pub trail: Option<Arc<RequestTrail>>,
    /// The request's trace span, when `[otlp]` is on.
    pub trace: Option<RequestSpan>,
}

/// The response body as sent to the client, counting bytes; logs and records metrics on drop.
pub struct ObservedBody {
    inner: ResponseBody,
    bytes: u64,
    finished: bool,
    record: AccessRecord,
    metrics: RouteMetrics,
}

impl ObservedBody {
    pub fn new(inner: ResponseBody, record: AccessRecord, metrics: RouteMetrics) -> Self {
        Self {
            inner,
            bytes: 0,
            finished: false,
            record,
            metrics,
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.finished = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        let finished_at = Instant::now();
        let elapsed = finished_at - self.record.started;
        let finished = self.finished || self.inner.is_end_stream();
        self.metrics
            .record(self.record.status, elapsed.as_secs_f64(), self.bytes);
        if self.record.log {
            self.log(elapsed, finished);
        }
        if let Some(trace) = self.record.trace.take() {
            let r = &self.record;
            trace.end(
                r.method.as_str(),
                &r.path,
                r.route.as_deref(),
                r.status,
                r.request_id.to_str().unwrap_or_default(),
            );
        }
        if let Some(trail) = self.record.trail.take() {
            let r = &self.record;
            trail.record(RequestEntry::new(
                finished_at,
                r.request_id.to_str().unwrap_or_default(),
                r.client,
                method_name(&r.method),
                &r.path,
                r.route.as_deref().unwrap_or("-"),
                r.status,
                self.bytes,
                u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            ));
        }
    }
}

impl ObservedBody {
    fn log(&self, elapsed: std::time::Duration, finished: bool) {
        let r = &self.record;
        tracing::info!(
            target: "access",
            request_id = r.request_id.to_str().unwrap_or_default(),
            client = %r.client,
            method = r.method.as_str(),
            path = %r.path,
            status = r.status,
            bytes = self.bytes,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            route = r.route.as_deref().unwrap_or("-"),
            upstream = r.upstream.as_deref().unwrap_or("-"),
            complete = finished,
        );
    }
}

/// The method's name, as a `'static` string for the common ones (`OTHER` for extensions).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// `/search?q=alice@example.com&page=2` → `/search?q=&page=`: keys show what was asked, values
/// could identify someone.
pub fn path_for_log(uri: &Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_owned();
    };
    let mut out = String::with_capacity(path.len() + query.len());
    out.push_str(path);
    for (i, pair) in query.split('&').enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(pair.split_once('=').map_or(pair, |(key, _)| key));
        out.push('=');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_left_out_of_logged_paths() {
        let uri: Uri = "/search?q=alice%40example.com&page=2&flag".parse().unwrap();
        assert_eq!(path_for_log(&uri), "/search?q=&page=&flag=");
        let plain: Uri = "/chat".parse().unwrap();
        assert_eq!(path_for_log(&plain), "/chat");
    }
}
