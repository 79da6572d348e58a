//! Connection-level protection and process lifecycle: slowloris, idle connections, the
//! connection cap, graceful drain, the admin listener.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Rampart, Upstream, closed_port, plain_client, plaintext_config};

/// Reads until the server closes the connection; returns how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

#[tokio::test]
async fn slowloris_headers_are_cut_off() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "header_read_timeout = \"1s\"",
        "",
    ));
    let mut stream = TcpStream::connect(rampart.gateway).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .await
        .unwrap();
    let closed_after = time_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed_after >= Duration::from_millis(800),
        "closed too early: {closed_after:?}"
    );
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "max_header_bytes = \"8KB\"",
        "",
    ));
    let mut stream = TcpStream::connect(rampart.gateway).await.unwrap();
    let huge = "x".repeat(16 * 1024);
    let request = format!("GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: {huge}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // The same request with a small header passes.
    let ok = plain_client()
        .get(rampart.plain_url("/echo"))
        .header("x-small", "y")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "idle_timeout = \"1s\"\nheader_read_timeout = \"30s\"",
        "",
    ));
    let mut stream = TcpStream::connect(rampart.gateway).await.unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed_after = time_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed_after >= Duration::from_millis(900),
        "closed too early: {closed_after:?}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "max_connections = 1",
        "",
    ));
    let holder = TcpStream::connect(rampart.gateway).await.unwrap();
    // Give the gateway a moment to accept the holder so it owns the only slot.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = TcpStream::connect(rampart.gateway).await.unwrap();
    second
        .write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the second connection was served while the cap was reached"
    );
    drop(holder);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits() {
    let upstream = Upstream::start("a").await;
    let mut rampart = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "shutdown_grace = \"10s\"",
        "",
    ));
    let client = plain_client();
    let in_flight = tokio::spawn(client.get(rampart.plain_url("/slow?ms=1500")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    rampart.signal("TERM");
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"shutdown\"")
    });
    // New connections are refused once the listener is closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(rampart.gateway).await.is_err(),
        "the listener still accepts"
    );
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slow answer");
    let code = tokio::task::spawn_blocking(move || rampart.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn admin_listener_reports_health_readiness_and_metrics() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let client = plain_client();
    let health = client
        .get(rampart.admin_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = client
        .get(rampart.admin_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["upstreams"]["app"]["reachable"], 1);

    for _ in 0..3 {
        client
            .get(rampart.plain_url("/echo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    // The same client as above, so its one kept-alive admin connection is the one counted.
    let metrics = client
        .get(rampart.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "rampart_http_requests_total{route=\"/\",status=\"2xx\"} 3",
        "rampart_http_request_duration_seconds_count{route=\"/\",status=\"2xx\"} 3",
        "rampart_connections_total{listener=\"gateway\"}",
        "rampart_active_connections{listener=\"admin\"} 1",
        "rampart_build_info{version=",
    ] {
        assert!(metrics.contains(expected), "missing {expected}:\n{metrics}");
    }
    let missing = client
        .get(rampart.admin_url("/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let dead = Rampart::start(&plaintext_config(
        &[format!("http://127.0.0.1:{}", closed_port())],
        "",
        "",
    ));
    let not_ready = client.get(dead.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert_eq!(body["upstreams"]["app"]["reachable"], 0);
}
