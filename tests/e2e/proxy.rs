//! Proxying: methods, bodies, streaming both ways, HTTP/2, WebSocket, forwarding headers,
//! request ids, round robin and failover.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    Rampart, TestCert, Upstream, closed_port, plain_client, plaintext_config, tls_client,
    tls_config,
};

#[tokio::test]
async fn get_and_post_over_tls_reach_the_app_with_forwarding_headers() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(dir, &tls_config(&cert, &upstream, "", ""));
    let client = tls_client(&cert.der, rampart.gateway, false);

    let response = client
        .get(rampart.tls_url("/echo?q=cotton&page=2"))
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        response.headers().get("server").is_none(),
        "upstream Server header hidden"
    );
    assert!(response.headers().get("x-powered-by").is_none());
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["uri"], "/echo?q=cotton&page=2");
    let headers = &echo["headers"];
    assert_eq!(
        headers["x-request-id"],
        id.as_str(),
        "the app sees the id the client got"
    );
    assert_eq!(
        headers["x-forwarded-for"], "127.0.0.1",
        "a client's own X-Forwarded-For is not believed"
    );
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(
        headers["x-forwarded-host"],
        format!("localhost:{}", rampart.gateway.port())
    );
    assert_eq!(
        headers["host"],
        format!("localhost:{}", rampart.gateway.port())
    );
    assert!(
        headers.get("x-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );

    let body = serde_json::json!({"message": "hello", "pad": "x".repeat(1000)}).to_string();
    let response = client
        .post(rampart.tls_url("/chat"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], body.as_str());

    let access = rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"target\":\"access\"") && l.contains(&id)
    });
    let line: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(
        line["path"], "/echo?q=&page=",
        "query values stay out of the log"
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "/");
    assert!(line["bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn http2_over_tls_is_negotiated_and_proxied() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(dir, &tls_config(&cert, &upstream, "", ""));
    let client = tls_client(&cert.der, rampart.gateway, true);
    let requests = (0..8).map(|i| {
        client
            .post(rampart.tls_url(&format!("/h2/{i}")))
            .body(format!("body {i}"))
            .send()
    });
    for (i, response) in futures_util::future::join_all(requests)
        .await
        .into_iter()
        .enumerate()
    {
        let response = response.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let echo: serde_json::Value = response.json().await.unwrap();
        assert_eq!(echo["body"], format!("body {i}"));
        assert_eq!(
            echo["version"], "HTTP/1.1",
            "upstreams are spoken to in HTTP/1.1"
        );
        assert_eq!(
            echo["headers"]["host"],
            format!("localhost:{}", rampart.gateway.port())
        );
    }
}

#[tokio::test]
async fn streamed_responses_are_not_buffered() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let mut response = plain_client()
        .get(rampart.plain_url("/gated-stream"))
        .send()
        .await
        .unwrap();
    // The upstream sends its second chunk only after we have seen the first: a buffering proxy
    // would never deliver the first one, and this would time out.
    let first = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .expect("first chunk arrives before the stream ends");
    assert_eq!(first.unwrap().unwrap(), "first;");
    upstream.gate.notify_one();
    let rest = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .unwrap();
    assert_eq!(rest.unwrap().unwrap(), "second");
}

#[tokio::test]
async fn chunked_request_bodies_stream_to_the_app() {
    // Binary uploads stream; text bodies the attack filter reads are buffered (see
    // attack_filter.rs).
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let mut stream = TcpStream::connect(rampart.gateway).await.unwrap();
    stream
        .write_all(b"POST /gated-upload HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst;\r\n")
        .await
        .unwrap();
    // The app must see the first chunk while the client still holds back the rest.
    tokio::time::timeout(Duration::from_secs(5), upstream.first_chunk_seen.notified())
        .await
        .expect("the first chunk reached the app before the body was complete");
    stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("received 12 bytes"), "{answer}");
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let client = plain_client();
    for i in 0..10 {
        let response = client
            .post(rampart.plain_url("/echo"))
            .body(format!("n{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    // One client connection lands on one worker, whose pool keeps reusing one upstream connection.
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let (mut socket, response) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws", rampart.gateway))
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    assert!(response.headers().contains_key("x-request-id"));
    for text in ["ping", "second message"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Message::text(text));
    }
    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let echoed = socket.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::binary(vec![0u8, 1, 2, 255]));
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn request_ids_are_kept_only_from_trusted_proxies() {
    let upstream = Upstream::start("a").await;
    let client = plain_client();

    let untrusted = Rampart::start(&plaintext_config(&[upstream.url()], "", ""));
    let response = client
        .get(untrusted.plain_url("/echo"))
        .header("x-request-id", "forged-id")
        .send()
        .await
        .unwrap();
    let returned = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(returned, "forged-id");
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["x-request-id"], returned.as_str());

    let trusted = Rampart::start(&plaintext_config(
        &[upstream.url()],
        "trusted_proxies = [\"127.0.0.1\"]",
        "",
    ));
    let response = client
        .get(trusted.plain_url("/echo"))
        .header("x-request-id", "lb-7f3a")
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a");
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["x-request-id"], "lb-7f3a");
    assert_eq!(
        echo["headers"]["x-forwarded-for"],
        "198.51.100.7, 127.0.0.1"
    );
    let access = trusted.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("lb-7f3a") && l.contains("\"target\":\"access\"")
    });
    // The client address is the forwarded one, masked like every address in the logs.
    assert!(access.contains("\"client\":\"198.51.100.0\""), "{access}");
    assert!(!access.contains("198.51.100.7"), "{access}");
}

#[tokio::test]
async fn round_robin_skips_a_target_that_refuses_connections() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    // The dead target comes first, so the very first request (a POST with a body) must be
    // retried on another target with its body intact.
    let rampart = Rampart::start(&plaintext_config(
        &[dead, a.url(), b.url()],
        "",
        "failure_cooldown = \"1m\"",
    ));
    let client = plain_client();
    let mut served = Vec::new();
    for i in 0..6 {
        let response = client
            .post(rampart.plain_url("/echo"))
            .body(format!("payload {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let echo: serde_json::Value = response.json().await.unwrap();
        assert_eq!(echo["body"], format!("payload {i}"));
        served.push(echo["upstream"].as_str().unwrap().to_owned());
    }
    assert!(
        served.contains(&"a".to_owned()) && served.contains(&"b".to_owned()),
        "{served:?}"
    );
    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_upstream_errors_total{upstream=\"app\",kind=\"connect\"} 1"),
        "the dead target is tried once, then skipped during its cooldown:\n{metrics}"
    );
}
