//! The metrics endpoint through the binary: enough meaningful families, Prometheus naming,
//! sampled values (process, store, disk, upstream targets, certificate expiry) and label sets
//! that do not grow with paths, users or addresses.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Rampart, TestCert, tls_client, tls_config, upstream::Upstream};

/// Family name → type, from the `# TYPE` lines.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// Sample lines without their values: the series.
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

/// The value of the first sample whose series starts with `prefix`.
fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix}"))
}

#[tokio::test]
async fn metrics_are_many_well_named_sampled_and_bounded() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start(&tls_config(&cert, &upstream, "", ""));
    let client = tls_client(&cert.der, rampart.gateway, false);
    let get = |path: String| client.get(rampart.tls_url(&path)).send();
    assert_eq!(get("/first".into()).await.unwrap().status(), 200);

    let text = rampart.metrics().await;
    let families = families(&text);
    assert!(
        families.len() >= 50,
        "{} families: {families:?}",
        families.len()
    );
    for (name, kind) in &families {
        assert!(
            name.starts_with("rampart_") || name.starts_with("process_"),
            "{name}"
        );
        if kind == "counter" {
            assert!(
                text.contains(&format!("{name}_total")) || !text.contains(&format!("\n{name}")),
                "counter {name} without _total samples"
            );
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(value(&text, "process_resident_memory_bytes") > 1e6);
    assert!(value(&text, "process_open_fds") >= 3.0);
    assert!((now - value(&text, "process_start_time_seconds")).abs() < 600.0);
    assert!(value(&text, "rampart_data_dir_free_bytes") > 0.0);
    assert!(value(&text, "rampart_store_size_bytes") > 0.0);
    assert_eq!(
        value(&text, "rampart_upstream_targets_up{upstream=\"app\"}"),
        1.0
    );
    assert!(
        value(
            &text,
            "rampart_upstream_responses_total{upstream=\"app\",status=\"2xx\"}"
        ) >= 1.0
    );
    // rcgen's default certificates are valid into the far future.
    assert!(value(&text, "rampart_tls_certificate_expiry_timestamp_seconds") > now);

    let status: serde_json::Value = crate::support::plain_client()
        .get(rampart.admin_url("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["checks"]["upstreams"][0]["targets_up"], 1);
    assert_eq!(status["alerts"]["fired_last_24h"], 0);

    // Paths, query strings and client addresses never become labels.
    let before = series(&rampart.metrics().await);
    for n in 0..40 {
        let response = get(format!("/item/{n}?q={n}")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let after = series(&rampart.metrics().await);
    let added: Vec<&String> = after.difference(&before).collect();
    assert!(added.is_empty(), "new series: {added:?}");
}
