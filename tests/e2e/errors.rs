//! Every answer Rampart makes itself is the JSON envelope with the right status.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::{
    Rampart, Upstream, closed_port, envelope, plain_client, plaintext_config, raw_exchange,
};

fn envelope_code(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON envelope: {answer}"))
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let upstream = Upstream::start("a").await;
    let config = plaintext_config(&[upstream.url()], "", "").replace(
        "path = \"/\"\n",
        "path = \"/api\"\nmethods = [\"GET\", \"POST\"]\n",
    );
    let rampart = Rampart::start(&config);
    let client = plain_client();
    envelope(
        client
            .get(rampart.plain_url("/admin"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    envelope(
        client.get(rampart.plain_url("/apix")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let response = client
        .delete(rampart.plain_url("/api/item"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    envelope(response, 405, "method_not_allowed").await;

    // A POST that stands for a DELETE (apps honour the override) is routed as one too.
    for (uri, header) in [
        ("/api/item", Some("DELETE")),
        ("/api/item?_method=delete", None),
    ] {
        let mut request = client.post(rampart.plain_url(uri));
        if let Some(method) = header {
            request = request.header("x-http-method-override", method);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["allow"], "GET, POST", "{uri}");
        envelope(response, 405, "method_not_allowed").await;
    }
    // Rails' and Laravel's forms say it in the body.
    let form = client
        .post(rampart.plain_url("/api/item"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=x&_method=DELETE")
        .send()
        .await
        .unwrap();
    envelope(form, 405, "method_not_allowed").await;
    let multipart = client
        .post(rampart.plain_url("/api/item"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    envelope(multipart, 405, "method_not_allowed").await;
    let same = client
        .post(rampart.plain_url("/api/item"))
        .header("x-http-method-override", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200, "the route serves GET too");
}

#[tokio::test]
async fn upstream_down_is_502() {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let rampart = Rampart::start(&plaintext_config(&[dead], "", ""));
    let body = envelope(
        plain_client()
            .get(rampart.plain_url("/"))
            .send()
            .await
            .unwrap(),
        502,
        "upstream_unavailable",
    )
    .await;
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("refused the connection") && l.contains(body["request_id"].as_str().unwrap())
    });
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "",
        "response_timeout = \"300ms\"",
    ));
    envelope(
        plain_client()
            .get(rampart.plain_url("/slow?ms=3000"))
            .send()
            .await
            .unwrap(),
        504,
        "upstream_timeout",
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_or_streamed() {
    let upstream = Upstream::start("a").await;
    let config = plaintext_config(&[upstream.url()], "max_body = \"1KB\"", "");
    let rampart = Rampart::start(&config);
    let client = plain_client();
    envelope(
        client
            .post(rampart.plain_url("/echo"))
            .body("x".repeat(2048))
            .send()
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    let ok = client
        .post(rampart.plain_url("/echo"))
        .body("x".repeat(1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "exactly the limit is allowed");
    // Without Content-Length the limit is enforced while the body streams.
    let mut request = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'y'; 512]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&rampart, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(envelope_code(&answer)["error"], "payload_too_large");
    // A client waiting for `100 Continue` is refused before it sends a declared oversize body.
    let answer = raw_exchange(
        &rampart,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// A request body sent frame by frame through a channel.
type ChannelBody = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>;

/// A body that arrives after the request's head, as curl sends it over HTTP/2.
fn body_channel() -> (tokio::sync::mpsc::Sender<Frame<Bytes>>, ChannelBody) {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let frame = receiver.recv().await?;
        Some((Ok(frame), receiver))
    });
    (sender, StreamBody::new(Box::pin(frames)))
}

/// A refusal sent while an HTTP/2 client is still sending resets the stream, and curl 7.88
/// then reports a failure instead of the answer. A short body is read first, so the stream
/// ends cleanly; a long one is not waited for, nor one whose client waits for `100 Continue`.
#[tokio::test]
async fn a_refusal_lets_the_client_finish_a_short_body() {
    let upstream = Upstream::start("a").await;
    let config = format!(
        "{}\n[route.input]\ncontent_types = [\"application/json\"]\n",
        plaintext_config(&[upstream.url()], "", "")
    );
    let rampart = Rampart::start(&config);
    let stream = TcpStream::connect(rampart.gateway).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = |length: usize, body| {
        http::Request::post(format!("http://{}/echo", rampart.gateway))
            .header("content-type", "text/plain")
            .header("content-length", length)
            .body(body)
            .unwrap()
    };

    let (body_sender, body) = body_channel();
    let mut answer = tokio::spawn(sender.send_request(request(5, body)));
    let early = tokio::time::timeout(Duration::from_millis(300), &mut answer).await;
    assert!(early.is_err(), "answered before the body was in: {early:?}");
    body_sender
        .send(Frame::data(Bytes::from_static(b"hello")))
        .await
        .unwrap();
    drop(body_sender);
    let refused = answer.await.unwrap().unwrap();
    assert_eq!(refused.status(), 415);
    let envelope: serde_json::Value =
        serde_json::from_slice(&refused.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(envelope["error"], "unsupported_media_type");

    let (_body_sender, body) = body_channel();
    let started = std::time::Instant::now();
    let refused = sender.send_request(request(300_000, body)).await.unwrap();
    assert_eq!(refused.status(), 415);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a long body is not waited for: {:?}",
        started.elapsed()
    );

    let answer = raw_exchange(
        &rampart,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_408() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "body_read_timeout = \"500ms\"",
        "",
    ));
    let answer = raw_exchange(
        &rampart,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(envelope_code(&answer)["error"], "request_timeout");
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let answer = raw_exchange(&rampart, b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(envelope_code(&answer)["error"], "bad_request");
    let answer = raw_exchange(
        &rampart,
        b"GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn production_replaces_upstream_stack_traces() {
    let upstream = Upstream::start("a").await;
    let config = format!(
        "mode = \"production\"\n{}",
        plaintext_config(&[upstream.url()], "", "")
    )
    .replace("path = \"/\"\n", "path = \"/\"\nauth = \"public\"\n");
    let rampart = Rampart::start(&config);
    let client = plain_client();
    let response = client
        .get(rampart.plain_url("/trace"))
        .send()
        .await
        .unwrap();
    let body = envelope(response, 500, "upstream_error").await;
    assert!(!body.to_string().contains("DB_PASSWORD"));
    // An ordinary error body is not a debug page: it passes.
    let response = client
        .get(rampart.plain_url("/status/503"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.unwrap(), "status 503 from a");
}

#[tokio::test]
async fn development_shows_upstream_errors_as_they_are() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let response = plain_client()
        .get(rampart.plain_url("/trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.text().await.unwrap().contains("Traceback"));
}

#[tokio::test]
async fn rate_limited_clients_get_429_with_retry_after() {
    let upstream = Upstream::start("a").await;
    let config = plaintext_config(&[upstream.url()], "", "").replace(
        "path = \"/\"\n",
        "path = \"/\"\nrate_limit = [\"1/min burst 2\", \"100/s\"]\n",
    );
    let rampart = Rampart::start(&config);
    // A new connection per request: the kernel spreads them over the workers, and the limit
    // must hold for the whole process.
    for _ in 0..2 {
        assert_eq!(
            plain_client()
                .get(rampart.plain_url("/echo"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let limited = plain_client()
        .get(rampart.plain_url("/echo"))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    envelope(limited, 429, "rate_limited").await;
    assert!(
        rampart
            .metrics()
            .await
            .contains("rampart_rate_limited_total{route=\"/\"} 1")
    );
}
