//! `rampart demo`: zero set-up, a self-signed HTTPS gateway in front of the built-in app.

use std::process::Command;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::support::{Rampart, plain_client, rampart_bin, tls_client};

#[tokio::test]
async fn demo_serves_the_chat_app_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("rampart-data");
    let mut command = Command::new(rampart_bin());
    command
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data_dir);
    let rampart = Rampart::spawn(command, dir);
    let banner = rampart.wait_for_log(Duration::from_secs(5), |l| l.contains("Gateway  https://"));
    assert!(banner.contains(&rampart.gateway.to_string()), "{banner}");
    rampart.wait_for_log(Duration::from_secs(5), |l| l.contains("SELF-SIGNED"));

    let cert = CertificateDer::from_pem_file(data_dir.join("tls/self-signed.crt")).unwrap();
    let client = tls_client(&cert, rampart.gateway, true);
    let response = client
        .post(rampart.tls_url("/chat"))
        .header("content-type", "application/json")
        .body(r#"{"message": "hello"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["reply"], "You said: hello");
    assert_eq!(reply["request_id"], id.as_str());

    // The shield is on: a message over 4,000 characters, a body that is not JSON and an
    // injection are refused before the app sees them.
    let long = serde_json::json!({"message": "a".repeat(4001)});
    let response = client
        .post(rampart.tls_url("/chat"))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("/message"),
        "{error}"
    );
    let response = client
        .post(rampart.tls_url("/chat"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = client
        .post(rampart.tls_url("/chat"))
        .json(&serde_json::json!({"message": "1' OR '1'='1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "attack_detected");

    let lead = client
        .post(rampart.tls_url("/leads"))
        .body(r#"{"email": "ana@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
    let page = client.get(rampart.tls_url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Rampart demo app"));

    let ready = plain_client()
        .get(rampart.admin_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
