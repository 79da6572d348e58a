//! Trace export over OTLP/HTTP with JSON encoding, opt-in with `[otlp] endpoint`.
//!
//! Each request is a server span; the call to the app is a client span under it, whose id
//! goes to the app in `traceparent`, so the app's own spans join the trace. A caller's
//! `traceparent` is honoured: its trace is continued and its sampling decision kept.
//! Otherwise `sample_ratio` of new traces are recorded. Spans carry the route, method,
//! path without query values, status and request id; never a client address or a user.
//!
//! The request path only queues a finished span (and drops it, counted, when the queue is
//! full); a task sends batches every `export_interval`. This is the whole of what Rampart
//! needs from OpenTelemetry, so it is written here instead of pulling in the SDK, its
//! protobuf stack and a second HTTP client.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Uri};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::trace_context::{SpanContext, TRACEPARENT};
use crate::config::HumanDuration;
use crate::identity::secret::hex;
use crate::outbound::{OutboundClient, client_for, post_json};

/// Spans waiting for export before new ones are dropped.
const QUEUE: usize = 8192;
/// Most spans in one export request.
const BATCH: usize = 512;
/// Time allowed for one export request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `[otlp]`: where traces go, and how many.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`; unset: no traces.
    pub endpoint: Option<String>,
    /// The share of new traces recorded, 0 to 1; a caller's sampled flag wins.
    pub sample_ratio: f64,
    /// `service.name` of the spans.
    pub service_name: String,
    /// How often queued spans are sent.
    pub export_interval: HumanDuration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            sample_ratio: 1.0,
            service_name: "rampart".into(),
            export_interval: HumanDuration(Duration::from_secs(1)),
        }
    }
}

/// SPAN_KIND_SERVER and SPAN_KIND_CLIENT in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Server = 2,
    Client = 3,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Text(String),
    Int(i64),
}

/// A span that has ended, ready for export.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    pub context: SpanContext,
    pub parent: Option<[u8; 8]>,
    pub kind: SpanKind,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, AttributeValue)>,
    pub error: bool,
}

/// A request's span while it runs.
#[derive(Debug, Clone, Copy)]
pub struct ActiveSpan {
    pub context: SpanContext,
    pub parent: Option<[u8; 8]>,
    pub start_ns: u64,
}

/// The handle the request path uses; cheap to clone.
#[derive(Clone)]
pub struct Tracer {
    queue: mpsc::Sender<FinishedSpan>,
    /// Trace ids whose low 64 bits are at most this are sampled (`None`: none are).
    sample_below: Option<u64>,
    metrics: Arc<Metrics>,
}

/// The running exporter, to be flushed at shutdown.
pub struct Exporter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Sends what is queued and stops.
    pub async fn close(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(EXPORT_TIMEOUT, self.task).await;
    }
}

/// Starts the exporter on the current runtime when `[otlp] endpoint` is set.
pub fn start(
    config: &OtlpConfig,
    metrics: Arc<Metrics>,
) -> Result<Option<(Tracer, Exporter)>, String> {
    let Some(endpoint) = &config.endpoint else {
        return Ok(None);
    };
    let (url, client) = client_for(endpoint)?;
    let (queue, spans) = mpsc::channel(QUEUE);
    let stop = CancellationToken::new();
    let resource = resource(&config.service_name);
    let task = tokio::spawn(export_loop(ExportTarget {
        url,
        client,
        resource,
        interval: config.export_interval.0,
        spans,
        stop: stop.clone(),
        metrics: metrics.clone(),
    }));
    let tracer = Tracer {
        queue,
        sample_below: sample_below(config.sample_ratio),
        metrics,
    };
    Ok(Some((tracer, Exporter { stop, task })))
}

/// The bound on a trace id's low 64 bits that samples `ratio` of random ids.
fn sample_below(ratio: f64) -> Option<u64> {
    if ratio >= 1.0 {
        Some(u64::MAX)
    } else if ratio > 0.0 {
        // Below 1, so the product fits; the cast only drops the fraction.
        Some((ratio * u64::MAX as f64) as u64)
    } else {
        None
    }
}

impl Tracer {
    /// The span of a request that arrived with `headers`: continuing the caller's trace
    /// when it sent a valid `traceparent`, else a new one sampled by ratio.
    pub fn begin(&self, headers: &HeaderMap) -> ActiveSpan {
        let parent = headers.get(TRACEPARENT).and_then(SpanContext::parse);
        let context = match parent {
            Some(parent) => parent.child(),
            None => {
                let mut context = SpanContext::new_trace(false);
                let mut low = [0; 8];
                low.copy_from_slice(&context.trace_id[8..]);
                context.sampled = self
                    .sample_below
                    .is_some_and(|below| u64::from_be_bytes(low) <= below);
                context
            }
        };
        ActiveSpan {
            context,
            parent: parent.map(|p| p.span_id),
            start_ns: now_ns(),
        }
    }

    /// Queues `span` for export if its trace is sampled.
    pub fn finish(&self, span: FinishedSpan) {
        if !span.context.sampled {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.metrics.spans("dropped", 1);
        }
    }
}

/// A request's span and where it goes when the request ends.
pub struct RequestSpan {
    pub tracer: Arc<Tracer>,
    pub span: ActiveSpan,
}

impl RequestSpan {
    /// Ends the request's span: `path` without query values, `route` as configured.
    pub fn end(self, method: &str, path: &str, route: Option<&str>, status: u16, request_id: &str) {
        // Most requests of a sampled-down trace build nothing.
        if !self.span.context.sampled {
            return;
        }
        let mut attributes = vec![
            (
                "http.request.method",
                AttributeValue::Text(method.to_owned()),
            ),
            ("url.path", AttributeValue::Text(path.to_owned())),
            (
                "http.response.status_code",
                AttributeValue::Int(i64::from(status)),
            ),
            (
                "rampart.request_id",
                AttributeValue::Text(request_id.to_owned()),
            ),
        ];
        if let Some(route) = route {
            attributes.push(("http.route", AttributeValue::Text(route.to_owned())));
        }
        self.tracer.finish(FinishedSpan {
            context: self.span.context,
            parent: self.span.parent,
            kind: SpanKind::Server,
            name: match route {
                Some(route) => format!("{method} {route}"),
                None => method.to_owned(),
            },
            start_ns: self.span.start_ns,
            end_ns: now_ns(),
            attributes,
            error: status >= 500,
        });
    }

    /// Ends the span of the call to upstream `upstream`, begun at `start_ns` as `context`:
    /// `answer` is the target and its status, `None` when no target answered.
    pub fn end_call(
        &self,
        context: SpanContext,
        start_ns: u64,
        upstream: &str,
        answer: Option<(&str, u16)>,
    ) {
        if !self.span.context.sampled {
            return;
        }
        let mut attributes = vec![(
            "rampart.upstream",
            AttributeValue::Text(upstream.to_owned()),
        )];
        let error = match &answer {
            Some((target, status)) => {
                attributes.push(("server.address", AttributeValue::Text((*target).to_owned())));
                attributes.push((
                    "http.response.status_code",
                    AttributeValue::Int(i64::from(*status)),
                ));
                *status >= 500
            }
            None => true,
        };
        self.tracer.finish(FinishedSpan {
            context,
            parent: Some(self.span.context.span_id),
            kind: SpanKind::Client,
            name: format!("upstream {upstream}"),
            start_ns,
            end_ns: now_ns(),
            attributes,
            error,
        });
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

struct ExportTarget {
    url: Uri,
    client: OutboundClient,
    resource: Value,
    interval: Duration,
    spans: mpsc::Receiver<FinishedSpan>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
}

async fn export_loop(mut target: ExportTarget) {
    let mut tick = tokio::time::interval(target.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = target.stop.cancelled() => true,
        };
        // Everything queued, in batches; at a stop too, so no finished span is left behind.
        loop {
            while batch.len() < BATCH {
                match target.spans.try_recv() {
                    Ok(span) => batch.push(span),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            export(&target, &batch).await;
            batch.clear();
        }
        if stopping {
            return;
        }
    }
}

async fn export(target: &ExportTarget, spans: &[FinishedSpan]) {
    let body = Bytes::from(request_body(&target.resource, spans).to_string());
    match post_json(&target.client, &target.url, body, EXPORT_TIMEOUT).await {
        Ok(()) => target.metrics.spans("exported", spans.len() as u64),
        Err(err) => {
            target.metrics.spans("failed", spans.len() as u64);
            tracing::warn!(error = %err, spans = spans.len(), "exporting traces failed");
        }
    }
}

fn resource(service_name: &str) -> Value {
    json!({
        "attributes": [
            attribute("service.name", &AttributeValue::Text(service_name.to_owned())),
            attribute("service.version", &AttributeValue::Text(env!("CARGO_PKG_VERSION").to_owned())),
        ]
    })
}

/// An `ExportTraceServiceRequest` in OTLP's JSON mapping: ids in hex, times as strings.
fn request_body(resource: &Value, spans: &[FinishedSpan]) -> Value {
    let spans: Vec<Value> = spans.iter().map(span_json).collect();
    json!({
        "resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{
                "scope": { "name": "rampart", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
}

fn span_json(span: &FinishedSpan) -> Value {
    let mut value = json!({
        "traceId": hex(&span.context.trace_id),
        "spanId": hex(&span.context.span_id),
        "name": span.name,
        "kind": span.kind as i32,
        "startTimeUnixNano": span.start_ns.to_string(),
        "endTimeUnixNano": span.end_ns.to_string(),
        "attributes": span.attributes.iter().map(|(key, value)| attribute(key, value)).collect::<Vec<_>>(),
        // STATUS_CODE_ERROR, or UNSET.
        "status": { "code": if span.error { 2 } else { 0 } },
    });
    if let Some(parent) = span.parent {
        value["parentSpanId"] = Value::String(hex(&parent));
    }
    value
}

fn attribute(key: &str, value: &AttributeValue) -> Value {
    let value = match value {
        AttributeValue::Text(text) => json!({ "stringValue": text }),
        // 64-bit integers are strings in OTLP's JSON mapping.
        AttributeValue::Int(number) => json!({ "intValue": number.to_string() }),
    };
    json!({ "key": key, "value": value })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn tracer(ratio: f64) -> (Tracer, mpsc::Receiver<FinishedSpan>) {
        let (queue, spans) = mpsc::channel(4);
        let tracer = Tracer {
            queue,
            sample_below: sample_below(ratio),
            metrics: Arc::new(Metrics::new()),
        };
        (tracer, spans)
    }

    #[test]
    fn a_callers_trace_is_continued_with_its_decision() {
        let (tracer, _) = tracer(0.0);
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let span = tracer.begin(&headers);
        assert_eq!(
            hex(&span.context.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            span.parent,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert!(
            span.context.sampled,
            "the caller sampled it, whatever the ratio"
        );
    }

    #[test]
    fn new_traces_are_sampled_by_ratio() {
        let sampled = |ratio| {
            let (tracer, _) = tracer(ratio);
            (0..4000)
                .filter(|_| tracer.begin(&HeaderMap::new()).context.sampled)
                .count()
        };
        assert_eq!(sampled(1.0), 4000);
        assert_eq!(sampled(0.0), 0);
        let quarter = sampled(0.25);
        assert!((800..1200).contains(&quarter), "{quarter} of 4000 at 0.25");
    }

    #[test]
    fn only_sampled_spans_are_queued_and_a_full_queue_drops() {
        let (tracer, mut spans) = tracer(1.0);
        let span = |sampled| FinishedSpan {
            context: SpanContext::new_trace(sampled),
            parent: None,
            kind: SpanKind::Server,
            name: "GET api".into(),
            start_ns: 1,
            end_ns: 2,
            attributes: Vec::new(),
            error: false,
        };
        tracer.finish(span(false));
        for _ in 0..5 {
            tracer.finish(span(true));
        }
        let mut queued = 0;
        while spans.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(
            queued, 4,
            "the unsampled span is not queued; the fifth did not fit"
        );
        assert!(
            tracer
                .metrics
                .encode()
                .contains("rampart_otlp_spans_total{result=\"dropped\"} 1")
        );
    }

    #[test]
    fn the_export_body_follows_the_otlp_json_mapping() {
        let context = SpanContext::new_trace(true);
        let span = FinishedSpan {
            context,
            parent: Some([1; 8]),
            kind: SpanKind::Client,
            name: "GET".into(),
            start_ns: 1_764_000_000_000_000_000,
            end_ns: 1_764_000_000_000_500_000,
            attributes: vec![
                ("http.response.status_code", AttributeValue::Int(502)),
                ("rampart.upstream", AttributeValue::Text("app".into())),
            ],
            error: true,
        };
        let body = request_body(&resource("shop"), &[span]);
        let resource_spans = &body["resourceSpans"][0];
        assert_eq!(
            resource_spans["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "shop"}})
        );
        let span = &resource_spans["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], hex(&context.trace_id));
        assert_eq!(span["parentSpanId"], "0101010101010101");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["startTimeUnixNano"], "1764000000000000000");
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(
            span["attributes"][0],
            json!({"key": "http.response.status_code", "value": {"intValue": "502"}})
        );
    }
}
