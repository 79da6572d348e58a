//! TLS: protocol versions, the HTTP→HTTPS redirect, and certificate hot reload on file change
//! and on SIGHUP, keeping the old certificate when a new one is broken.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::{Rampart, TestCert, Upstream, plain_client, tls_config};

/// Handshakes with the gateway, trusting `trusted`, and returns the served leaf certificate
/// and the negotiated version.
async fn served_certificate(
    rampart: &Rampart,
    trusted: &[&TestCert],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(CertificateDer<'static>, rustls::ProtocolVersion), std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.der.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(rampart.gateway).await?;
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let (_, session) = stream.get_ref();
    Ok((
        session.peer_certificates().unwrap()[0].clone(),
        session.protocol_version().unwrap(),
    ))
}

const ALL: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

async fn wait_for_certificate(rampart: &Rampart, trusted: &[&TestCert], expected: &TestCert) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((served, _)) = served_certificate(rampart, trusted, ALL).await
            && served == expected.der
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tls13_only_by_default_and_tls12_by_choice() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(
        dir,
        &tls_config(&cert, &upstream, "", "reload_interval = \"5s\""),
    );
    let (_, version) = served_certificate(&rampart, &[&cert], ALL).await.unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    let tls12_only: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    assert!(
        served_certificate(&rampart, &[&cert], tls12_only)
            .await
            .is_err(),
        "TLS 1.2 is off by default"
    );

    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(
        dir,
        &tls_config(&cert, &upstream, "", "min_version = \"1.2\""),
    );
    let (_, version) = served_certificate(&rampart, &[&cert], tls12_only)
        .await
        .unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);
}

#[tokio::test]
async fn certificates_reload_when_files_change_and_bad_ones_are_refused() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let first = TestCert::write(dir.path(), "site");
    let renewed = TestCert::write(dir.path(), "renewed");
    let rampart = Rampart::start_in(
        dir,
        &tls_config(&first, &upstream, "", "reload_interval = \"100ms\""),
    );
    let (served, _) = served_certificate(&rampart, &[&first, &renewed], ALL)
        .await
        .unwrap();
    assert_eq!(served, first.der);

    renewed.install_as(&first);
    wait_for_certificate(&rampart, &[&first, &renewed], &renewed).await;

    // A broken renewal must not take the site down: the previous certificate stays.
    std::fs::write(&first.cert, "not a certificate").unwrap();
    rampart.wait_for_log(Duration::from_secs(5), |l| l.contains("tls_reload_failed"));
    let (served, _) = served_certificate(&rampart, &[&first, &renewed], ALL)
        .await
        .unwrap();
    assert_eq!(served, renewed.der);
    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_tls_certificate_reloads_total{result=\"error\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rampart_tls_handshakes_total{result=\"ok\",version=\"1.3\"}"),
        "{metrics}"
    );
    // Both reloads, the good and the refused one, are in the audit log. (The command checks
    // the config, TLS files included, so the good files go back first.)
    renewed.install_as(&first);
    let audit = rampart.command("audit", &["export", "--action", "reload"], "");
    let records: Vec<serde_json::Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = records
        .iter()
        .filter(|r| r["resource"] == "tls_certificate" && r["actor"] == "system")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"success") && outcomes.contains(&"failure"),
        "{records:?}"
    );
}

#[tokio::test]
async fn sighup_reloads_certificates() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let first = TestCert::write(dir.path(), "site");
    let renewed = TestCert::write(dir.path(), "renewed");
    // The file watcher is too slow to matter here: only SIGHUP can explain a quick reload.
    let rampart = Rampart::start_in(
        dir,
        &tls_config(&first, &upstream, "", "reload_interval = \"1h\""),
    );
    renewed.install_as(&first);
    rampart.signal("HUP");
    wait_for_certificate(&rampart, &[&first, &renewed], &renewed).await;
}

#[tokio::test]
async fn plain_http_listener_only_redirects_to_https() {
    let upstream = Upstream::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(
        dir,
        &tls_config(&cert, &upstream, "http_redirect = \"127.0.0.1:0\"", ""),
    );
    let redirect = rampart
        .http_redirect
        .expect("the redirect listener is announced");
    let response = plain_client()
        .post(format!("http://{redirect}/chat?room=1"))
        .header("host", "chat.example")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!(
            "https://chat.example:{}/chat?room=1",
            rampart.gateway.port()
        )
    );
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}
