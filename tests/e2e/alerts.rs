//! Alerting through the binary: an upstream goes down, the built-in rule (here with no `for`)
//! fires to a real webhook receiver, escalates to a Slack-compatible one when nobody
//! acknowledges it, and is listed, acknowledged and exported from the command line.

use std::time::Duration;

use serde_json::Value;

use crate::support::receiver::Receiver;
use crate::support::{Rampart, closed_port, plain_client, plaintext_config};

#[tokio::test]
async fn a_dead_upstream_fires_escalates_and_is_acknowledged() {
    let receiver = Receiver::start().await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    // The upstream's extra key comes first: it continues the [[upstream]] table.
    let extra = format!(
        r#"failure_cooldown = "5m"

[alerts]
evaluation_interval = "500ms"

[[alerts.channel]]
name = "hook"
kind = "webhook"
url = "{hook}"

[[alerts.channel]]
name = "chat"
kind = "slack"
url = "{chat}"

[[alerts.rule]]
name = "RampartUpstreamDown"
expr = "min by (upstream) (rampart_upstream_targets_up) == 0"
severity = "critical"
summary = "No target of an upstream accepts connections."
channels = ["hook"]
escalate_to = ["chat"]
escalate_after = "2s"
"#,
        hook = receiver.url("/hook"),
        chat = receiver.url("/chat"),
    );
    let rampart = Rampart::start(&plaintext_config(&[dead], "", &extra));
    let refused = plain_client()
        .get(rampart.plain_url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);

    // Targets are sampled every 5 s; the rule is evaluated every 500 ms after that.
    let fired = receiver
        .wait_for("/hook", Duration::from_secs(15), |body| {
            body["rule"] == "RampartUpstreamDown" && body["state"] == "firing"
        })
        .await;
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["labels"]["upstream"], "app");
    assert_eq!(fired["value"], 0.0);
    let id = fired["id"].as_i64().unwrap();

    let escalated = receiver
        .wait_for("/chat", Duration::from_secs(10), |body| {
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("RampartUpstreamDown"))
        })
        .await;
    let text = escalated["text"].as_str().unwrap();
    assert!(
        text.starts_with("[CRITICAL] RampartUpstreamDown upstream=app (escalated)"),
        "{text}"
    );

    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_alerts_firing{severity=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rampart_alert_notifications_total{channel=\"hook\",result=\"sent\"} 1")
    );

    // /status on the admin listener: down, with the check and the alert that say why.
    let status = plain_client()
        .get(rampart.admin_url("/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 503);
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["status"], "down", "{status}");
    assert_eq!(status["checks"]["upstreams"][0]["ok"], false);
    assert_eq!(status["checks"]["store"]["ok"], true);
    assert_eq!(status["alerts"]["firing"][0]["rule"], "RampartUpstreamDown");
    assert!(status["alerts"]["fired_last_24h"].as_i64().unwrap() >= 1);
    assert!(status["build"]["version"].is_string());

    let listed = rampart.command("alerts", &["list"], "");
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(&id.to_string()) && listed.contains("firing"),
        "{listed}"
    );
    let acked = rampart.command("alerts", &["ack", &id.to_string()], "");
    assert!(
        acked.status.success(),
        "{}",
        String::from_utf8_lossy(&acked.stderr)
    );
    let again = rampart.command("alerts", &["ack", &id.to_string()], "");
    assert_eq!(again.status.code(), Some(1));
    let listed = rampart.command("alerts", &["list"], "");
    assert!(
        String::from_utf8(listed.stdout)
            .unwrap()
            .contains("acked:cli")
    );

    // The acknowledgement is in the audit log.
    let audit = rampart.command("audit", &["export", "--action", "alert_acknowledged"], "");
    let record: Value = serde_json::from_str(
        String::from_utf8(audit.stdout)
            .unwrap()
            .lines()
            .next()
            .expect("an audit record"),
    )
    .unwrap();
    assert_eq!(record["actor"], "cli");
    assert_eq!(record["resource_id"], id.to_string());

    // Announced once to its channel, once to the escalation channel: no repeats.
    assert_eq!(receiver.received("/hook").len(), 1);
    assert_eq!(receiver.received("/chat").len(), 1);

    let rules = rampart.command("export", &["prometheus-rules"], "");
    let rules = String::from_utf8(rules.stdout).unwrap();
    assert!(rules.contains("alert: RampartUpstreamDown"), "{rules}");
    assert!(
        rules.contains("alert: RampartCertificateExpiring"),
        "{rules}"
    );
}

#[test]
fn management_commands_work_without_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(crate::support::rampart_bin())
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run(&["export", "prometheus-rules"]).contains("alert: RampartUpstreamDown"));
    let written = run(&["export", "grafana", "--output-dir", "dashboards"]);
    assert_eq!(written.lines().count(), 4, "{written}");
    for name in ["security", "performance", "system", "compliance"] {
        let path = dir.path().join(format!("dashboards/rampart-{name}.json"));
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(dashboard["panels"].as_array().unwrap().len() >= 6);
    }
    assert!(run(&["audit", "verify"]).contains("intact"));
    assert!(run(&["alerts", "list"]).starts_with("id"));
    assert!(run(&["ban", "list"]).starts_with("address"));
    // They use ./rampart-data, like `rampart demo`.
    assert!(dir.path().join("rampart-data/rampart.db").exists());
}

/// An SMTP server on loopback (Python's aiosmtpd) that writes each message it accepts to a
/// Maildir; stopped on drop.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(python: &str) -> Self {
        let maildir = tempfile::tempdir().unwrap();
        let port = closed_port();
        let child = std::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn alerts_reach_a_real_smtp_server_once_per_cooldown() {
    // The test command installs aiosmtpd from PyPI and names its Python.
    let Ok(python) = std::env::var("RAMPART_TEST_SMTP_PYTHON") else {
        eprintln!("RAMPART_TEST_SMTP_PYTHON is not set; ./scripts/test.sh sets it");
        return;
    };
    let smtp = SmtpServer::start(&python);
    let extra = format!(
        r#"
[alerts]
evaluation_interval = "200ms"
built_in_rules = false

[[alerts.channel]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:{port}"
from = "Rampart <rampart@example.com>"
to = ["oncall@example.com", "Second <second@example.com>"]

[[alerts.rule]]
name = "AlwaysOn"
expr = "rampart_build_info == 1"
severity = "info"
summary = "A condition that holds from the start."
channels = ["mail"]
cooldown = "1h"
"#,
        port = smtp.port
    );
    let rampart = Rampart::start(&plaintext_config(
        &["http://127.0.0.1:9".to_owned()],
        "",
        &extra,
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.messages().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no alert e-mail arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = &smtp.messages()[0];
    assert!(
        message.contains("Subject: [INFO] AlwaysOn firing"),
        "{message}"
    );
    assert!(message.contains("oncall@example.com"), "{message}");
    assert!(message.contains("second@example.com"), "{message}");
    assert!(
        message.contains("A condition that holds from the start."),
        "{message}"
    );
    // Ten more evaluations: the cooldown holds back repeats.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    assert!(
        rampart
            .metrics()
            .await
            .contains("rampart_alert_notifications_total{channel=\"mail\",result=\"sent\"} 1")
    );
}
