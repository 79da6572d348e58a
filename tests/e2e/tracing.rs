//! Trace export through the binary: a request's server span and its call to the app reach a
//! real OTLP/HTTP receiver, the caller's trace is continued, and the app is handed the call's
//! span in `traceparent`.

use std::time::Duration;

use serde_json::Value;

use crate::support::receiver::Receiver;
use crate::support::{Rampart, plain_client, plaintext_config, upstream::Upstream};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Every span in the export requests received so far.
fn spans(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received("/v1/traces")
        .iter()
        .flat_map(|body| {
            body["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map_or(&Value::Null, |a| &a["value"])
}

#[tokio::test]
async fn requests_are_traced_to_an_otlp_collector_and_the_app_joins_the_trace() {
    let receiver = Receiver::start().await;
    let upstream = Upstream::start("app").await;
    let otlp = format!(
        "\n[otlp]\nendpoint = \"{}\"\nexport_interval = \"100ms\"\nservice_name = \"shop-gateway\"\n",
        receiver.url("/v1/traces")
    );
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", &otlp));
    let client = plain_client();

    let echoed: Value = client
        .get(rampart.plain_url("/orders?id=42"))
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The app is told to continue the same trace under a span of Rampart's.
    let handed = echoed["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    let fields: Vec<&str> = handed.split('-').collect();
    assert_eq!(fields[1], TRACE, "{handed}");
    assert_ne!(fields[2], CALLER_SPAN, "{handed}");
    assert_eq!(fields[3], "01", "{handed}");

    let untraced = client
        .get(rampart.plain_url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(untraced.status(), 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while spans(&receiver).len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than 4 spans arrived: {:?}",
            spans(&receiver)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = &receiver.received("/v1/traces")[0];
    assert_eq!(
        body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
        "shop-gateway"
    );
    let spans = spans(&receiver);
    let in_trace: Vec<&Value> = spans.iter().filter(|s| s["traceId"] == TRACE).collect();
    assert_eq!(in_trace.len(), 2, "{spans:?}");
    let server = in_trace.iter().find(|s| s["kind"] == 2).unwrap();
    let call = in_trace.iter().find(|s| s["kind"] == 3).unwrap();
    assert_eq!(server["parentSpanId"], CALLER_SPAN);
    assert_eq!(call["parentSpanId"], server["spanId"]);
    assert_eq!(
        call["spanId"], fields[2],
        "the app's parent is the call span"
    );
    assert_eq!(server["name"], "GET /");
    assert_eq!(
        attribute(server, "url.path")["stringValue"],
        "/orders?id=",
        "no query values"
    );
    assert_eq!(
        attribute(server, "http.response.status_code")["intValue"],
        "200"
    );
    assert_eq!(attribute(call, "rampart.upstream")["stringValue"], "app");
    assert!(
        attribute(server, "client.address").is_null(),
        "no client addresses leave"
    );
    let start: u64 = server["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u64 = server["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start < end);

    // A request without a caller's trace starts its own (the default ratio records all).
    let own = spans
        .iter()
        .find(|s| s["traceId"] != TRACE && s["kind"] == 2)
        .unwrap_or_else(|| panic!("no span for the second request in {spans:?}"));
    assert!(own.get("parentSpanId").is_none(), "{own}");

    let metrics = rampart.metrics().await;
    let exported: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rampart_otlp_spans_total{result=\"exported\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(exported >= 4, "{exported}");
}
