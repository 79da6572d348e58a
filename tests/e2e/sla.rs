//! The SLA report through the binary: requests recorded per route while the gateway runs,
//! then `rampart sla report` with uptime, success ratio and percentiles against objectives.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Rampart, plain_client, plaintext_config, upstream::Upstream};

#[tokio::test]
async fn the_sla_report_reads_what_the_gateway_recorded() {
    let upstream = Upstream::start("app").await;
    let sla = "\n[sla]\nsample_interval = \"300ms\"\navailability = 99.0\nlatency_p95 = \"2s\"\n";
    let rampart = Rampart::start(&plaintext_config(&[upstream.url()], "", sla));
    let client = plain_client();
    for _ in 0..30 {
        let response = client.get(rampart.plain_url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // A few recording intervals, so the requests land in a stored interval.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let output = rampart.command("sla", &["report", "--window", "1h", "--format", "json"], "");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    let route = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/")
        .unwrap_or_else(|| panic!("no / route in {report}"));
    assert_eq!(route["requests"], 30, "{report}");
    assert_eq!(route["success_ratio"], 100.0);
    assert!(route["p95_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(report["uptime"], 100.0, "{report}");
    assert_eq!(report["objectives"]["latency_p95_met"], true);

    // A stricter objective than the run met: the report says so and exits 1.
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        "[sla]\nlatency_p95 = \"1us\"\n[[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:9\"]\n[[route]]\npath = \"/\"\nupstream = \"app\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(crate::support::rampart_bin())
        .args(["sla", "report", "--window", "1h", "--config"])
        .arg(&strict)
        .env("RAMPART_DATA_DIR", rampart.data_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("MISSED"), "{text}");
}
