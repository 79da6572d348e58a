//! The audit log through the binary: security events recorded with pseudonymized addresses,
//! `rampart audit verify|export|public-key`, the admin query API, tampering with the SQLite
//! file found, and no acknowledged event lost when the gateway is killed mid-burst.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Executor;

use crate::support::{Rampart, plain_client, upstream::Upstream};

const PASSWORD: &str = "correct horse battery staple";

fn config(upstream: &Upstream) -> String {
    format!(
        r#"
[listen]
address = "127.0.0.1:0"
plaintext = true
trusted_proxies = ["127.0.0.1"]

[admin]
address = "127.0.0.1:0"

[bans]
enabled = false

[[role]]
name = "admin"
permissions = ["rampart:admin"]

[[upstream]]
name = "app"
targets = ["{target}"]

[[route]]
path = "/"
upstream = "app"
"#,
        target = upstream.url()
    )
}

async fn login(rampart: &Rampart, username: &str, password: &str, ip: &str) -> reqwest::Response {
    plain_client()
        .post(rampart.plain_url("/_rampart/api/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn admin_token(rampart: &Rampart) -> String {
    rampart.add_user("adam", PASSWORD, &["admin"]);
    let login: Value = login(rampart, "adam", PASSWORD, "198.51.100.1")
        .await
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

fn export(rampart: &Rampart, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["export"];
    all.extend(args);
    let output = rampart.command("audit", &all, "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn sqlite(rampart: &Rampart) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = format!(
        "sqlite://{}",
        rampart.data_dir().join("rampart.db").display()
    );
    sqlx::AnyPool::connect(&url).await.unwrap()
}

#[tokio::test]
async fn security_events_are_recorded_verifiable_and_tamper_evident() {
    let upstream = Upstream::start("app").await;
    let rampart = Rampart::start(&config(&upstream));
    let token = admin_token(&rampart).await;
    assert_eq!(
        login(&rampart, "adam", "wrong password", "203.0.113.9")
            .await
            .status(),
        401
    );
    // A username that is an e-mail address reaches the logs only as a pseudonym.
    assert_eq!(
        login(&rampart, "ana.nowak@example.com", "guess", "203.0.113.9")
            .await
            .status(),
        401
    );
    let blocked = plain_client()
        .get(rampart.plain_url("/search?q=1'%20OR%20'1'='1"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);

    // Each response above came after its record was durable: no waiting needed.
    let records = export(&rampart, &[]);
    let find = |action: &str, outcome: &str| {
        records
            .iter()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action}/{outcome} record in {records:#?}"))
    };
    let failed = find("login", "failure");
    assert_eq!(failed["actor"], "adam");
    let attack = find("attack_blocked", "denied");
    assert_eq!(attack["resource_id"], "/");
    let details: Value = serde_json::from_str(attack["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["family"], "sqli", "{details}");
    // Addresses are pseudonyms: the same client maps to the same token, never the address.
    assert_eq!(failed["ip"], attack["ip"]);
    assert_ne!(failed["ip"], find("login", "success")["ip"]);
    for record in &records {
        assert!(!record.to_string().contains("203.0.113.9"), "{record}");
    }
    let seqs: Vec<i64> = records.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=records.len() as i64).collect::<Vec<_>>());

    // The admin API pages through the same records, filtered.
    let page: Value = plain_client()
        .get(rampart.plain_url("/_rampart/api/admin/audit?action=login&limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 1, "{page}");
    let after = page["next_after"].as_i64().unwrap();
    let next: Value = plain_client()
        .get(rampart.plain_url(&format!(
            "/_rampart/api/admin/audit?action=login&after={after}"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["records"][0]["action"], "login", "{next}");
    assert!(next["records"][0]["seq"].as_i64().unwrap() > after);
    let refused = plain_client()
        .get(rampart.plain_url("/_rampart/api/admin/audit?since=yesterday"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let csv = rampart.command("audit", &["export", "--format", "csv"], "");
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("seq,time_ms,actor,action"), "{csv}");
    assert!(csv.lines().count() > records.len(), "{csv}");

    let verified = rampart.command("audit", &["verify"], "");
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{out}");
    assert!(out.contains("intact"), "{out}");

    let logs = rampart.logs().join("\n");
    assert!(logs.contains("\"event\":\"login_failed\""), "{logs}");
    assert!(logs.contains("email-"), "{logs}");
    for personal in ["ana.nowak@example.com", "203.0.113.9"] {
        assert!(!logs.contains(personal), "{personal} in the logs:\n{logs}");
    }

    // Verifying against another key fails: checkpoints are signed by this gateway's key.
    let public_key = rampart.command("audit", &["public-key"], "");
    let public_key = String::from_utf8(public_key.stdout).unwrap();
    assert_eq!(public_key.trim().len(), 43);

    // An attacker with database access changes who failed to log in.
    let db = sqlite(&rampart).await;
    let seq = failed["seq"].as_i64().unwrap();
    db.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = {seq}"
    )))
    .await
    .unwrap();
    let verified = rampart.command("audit", &["verify", "--public-key", public_key.trim()], "");
    let out = String::from_utf8_lossy(&verified.stdout);
    let err = String::from_utf8_lossy(&verified.stderr);
    assert_eq!(verified.status.code(), Some(1), "{out}{err}");
    assert!(out.contains(&format!("BROKEN at record {seq}")), "{out}");
}

#[tokio::test]
async fn a_killed_gateway_loses_no_acknowledged_audit_event() {
    let upstream = Upstream::start("app").await;
    let mut rampart = Rampart::start(&config(&upstream));
    let token = admin_token(&rampart).await;
    let client = plain_client();
    let url = rampart.plain_url("/_rampart/api/admin/bans");

    // 16 admins-worth of concurrent bans; the gateway is killed while they are in flight.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..200u32 {
                let address = format!("10.{task}.{}.{}", n / 250, n % 250 + 1);
                let sent = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"address": address, "duration": "1h"}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        acknowledged.lock().unwrap().push(address);
                    }
                    _ => return,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst is too slow"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rampart.signal("KILL");
    rampart.wait_exit(Duration::from_secs(5));
    for task in tasks {
        task.await.unwrap();
    }
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 150);

    let recorded: HashSet<String> = export(&rampart, &["--action", "ban_added"])
        .iter()
        .map(|r| r["resource_id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|a| !recorded.contains(*a))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged bans have no audit record: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    let verified = rampart.command("audit", &["verify"], "");
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{out}");
}

#[tokio::test]
async fn every_request_lands_in_the_request_trail() {
    let upstream = Upstream::start("app").await;
    let config = config(&upstream).replace(
        "[bans]",
        "[audit]\nrequests = true\ncheckpoint_interval = \"1h\"\n\n[bans]",
    );
    let mut rampart = Rampart::start(&config);
    for n in 0..20 {
        let response = plain_client()
            .get(rampart.plain_url(&format!("/items?id={n}")))
            .header("x-forwarded-for", "203.0.113.44")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    // The access log still names the path the trail records.
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"target\":\"access\"") && l.contains("\"path\":\"/items?id=\"")
    });
    // A clean stop syncs and signs what is left.
    rampart.signal("TERM");
    rampart.wait_exit(Duration::from_secs(10));

    let dir = rampart.data_dir().join("audit-requests");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.starts_with("{\"checkpoint\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 20, "{text}");
    assert_eq!(records[0]["path"], "/items?id=", "query values stay out");
    assert_eq!(records[0]["status"], 200);
    assert!(records[0]["ip"].as_str().unwrap().starts_with("ip-"));
    assert!(!text.contains("203.0.113.44"));
    assert!(text.contains("{\"checkpoint\""), "{text}");

    let verified = rampart.command("audit", &["verify"], "");
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{out}");
    assert!(out.contains("request trail intact: 20 records"), "{out}");

    std::fs::write(&file, text.replacen("\"status\":200", "\"status\":204", 1)).unwrap();
    let verified = rampart.command("audit", &["verify"], "");
    let out = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(1), "{out}");
    assert!(out.contains("request trail BROKEN"), "{out}");
}
