//! Abuse control through the binary: keyed rate limits, the login zone, the message interval,
//! automatic and manual bans (CLI and admin API), and limits shared through a real Redis.
//!
//! Clients are told apart by `X-Forwarded-For` from a trusted loopback proxy, so one test can
//! play many addresses (and loopback itself stays on the ban allowlist).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Rampart, envelope, plain_client, redis_url, upstream::Upstream};

const PASSWORD: &str = "correct horse battery staple";

fn config(upstream: &Upstream, sections: &str, routes: &str) -> String {
    format!(
        r#"
{sections}
[listen]
address = "127.0.0.1:0"
plaintext = true
trusted_proxies = ["127.0.0.1"]

[admin]
address = "127.0.0.1:0"

[[role]]
name = "admin"
permissions = ["rampart:admin"]

[[role]]
name = "bot"

[[upstream]]
name = "app"
targets = ["{target}"]
{routes}
[[route]]
path = "/"
upstream = "app"
"#,
        target = upstream.url()
    )
}

async fn get_as(rampart: &Rampart, client_ip: &str, path: &str) -> reqwest::Response {
    plain_client()
        .get(rampart.plain_url(path))
        .header("x-forwarded-for", client_ip)
        .send()
        .await
        .unwrap()
}

/// Waits until `client_ip` gets `status` on `/`, for changes that arrive by polling.
async fn eventually_status(rampart: &Rampart, client_ip: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get_as(rampart, client_ip, "/").await.status().as_u16();
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{client_ip} still gets {got}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_login_zone_limits_sign_in_attempts_per_address() {
    let upstream = Upstream::start("app").await;
    let rampart = Rampart::start(&config(
        &upstream,
        "[rate_limit]\nlogin = [\"1/min burst 3\"]\n[bans]\nenabled = false\n",
        "",
    ));
    let attempt = |ip: &'static str| {
        plain_client()
            .post(rampart.plain_url("/_rampart/api/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": "nobody", "password": "wrong password here"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.10").await.unwrap().status(), 401);
    }
    let limited = attempt("203.0.113.10").await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    envelope(limited, 429, "rate_limited").await;
    assert_eq!(
        attempt("203.0.113.11").await.unwrap().status(),
        401,
        "other addresses still get to try"
    );
    // The zone covers sign-in only: the rest of Rampart's API is not limited by it.
    let me = plain_client()
        .get(rampart.plain_url("/_rampart/api/me"))
        .header("x-forwarded-for", "203.0.113.10")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert!(
        rampart
            .metrics()
            .await
            .contains("rampart_rate_limited_total{route=\"_login\"} 1")
    );
}

/// A JSON message sent with an API key from `ip`.
async fn send(
    rampart: &Rampart,
    method: reqwest::Method,
    path: &str,
    key: &str,
    ip: &str,
) -> reqwest::Result<reqwest::Response> {
    plain_client()
        .request(method, rampart.plain_url(path))
        .header("x-api-key", key)
        .header("x-forwarded-for", ip)
        .header("content-type", "application/json")
        .body("{\"message\": \"hello\"}")
        .send()
        .await
}

async fn call(rampart: &Rampart, method: reqwest::Method, path: &str, key: &str, ip: &str) -> u16 {
    let response = send(rampart, method, path, key, ip).await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn limits_per_api_key_and_the_message_interval_follow_the_caller() {
    let upstream = Upstream::start("app").await;
    let routes = r#"
[[route]]
path = "/chat"
upstream = "app"
auth = "authenticated"
message_interval = "1h"

[[route]]
path = "/api"
upstream = "app"
auth = "authenticated"
rate_limit = ["2/min per api_key"]
"#;
    let rampart = Rampart::start(&config(&upstream, "", routes));
    let key = |name: &str| {
        let created = rampart.command("apikey", &["create", name, "--role", "bot"], "");
        assert!(created.status.success());
        String::from_utf8(created.stdout).unwrap().trim().to_owned()
    };
    let (first, second) = (key("bot-1"), key("bot-2"));
    use reqwest::Method;
    assert_eq!(
        call(&rampart, Method::POST, "/chat", &first, "203.0.113.20").await,
        200
    );
    let too_soon = send(&rampart, Method::POST, "/chat", &first, "203.0.113.21")
        .await
        .unwrap();
    let retry_after: u64 = too_soon.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 3000, "about an hour: {retry_after}");
    envelope(too_soon, 429, "rate_limited").await;
    assert_eq!(
        call(&rampart, Method::GET, "/chat", &first, "203.0.113.21").await,
        200,
        "reading is not a message"
    );
    assert_eq!(
        call(&rampart, Method::POST, "/chat", &second, "203.0.113.20").await,
        200,
        "the interval is per caller, not per address"
    );

    for _ in 0..2 {
        assert_eq!(
            call(&rampart, Method::GET, "/api", &first, "203.0.113.30").await,
            200
        );
    }
    assert_eq!(
        call(&rampart, Method::GET, "/api", &first, "203.0.113.31").await,
        429,
        "a new address does not reset the key's limit"
    );
    assert_eq!(
        call(&rampart, Method::GET, "/api", &second, "203.0.113.30").await,
        200
    );
}

#[tokio::test]
async fn repeat_offenders_are_banned_and_the_cli_bans_and_unbans() {
    let upstream = Upstream::start("app").await;
    let sections = "[bans]\nthreshold = 3\nsync_interval = \"100ms\"\n";
    let routes =
        "[[route]]\npath = \"/limited\"\nupstream = \"app\"\nrate_limit = [\"1/min burst 1\"]\n";
    let rampart = Rampart::start(&config(&upstream, sections, routes));
    let offender = "203.0.113.50";

    assert_eq!(get_as(&rampart, offender, "/limited").await.status(), 200);
    for _ in 0..3 {
        assert_eq!(get_as(&rampart, offender, "/limited").await.status(), 429);
    }
    let banned = get_as(&rampart, offender, "/").await;
    let retry_after: u64 = banned.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    envelope(banned, 403, "banned").await;
    let login_page = get_as(&rampart, offender, "/_rampart/login").await;
    assert_eq!(
        login_page.status(),
        403,
        "a ban covers Rampart's own pages too"
    );
    assert_eq!(get_as(&rampart, "203.0.113.51", "/").await.status(), 200);
    assert_eq!(
        get_as(&rampart, "127.0.0.1", "/").await.status(),
        200,
        "loopback is on the default allowlist"
    );
    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_bans_total{kind=\"automatic\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rampart_ban_violations_total{kind=\"rate_limited\"} 3"));
    assert!(metrics.contains("rampart_banned_requests_total 2"));
    assert!(
        rampart
            .logs()
            .iter()
            .any(|l| l.contains("\"event\":\"banned\"") && l.contains("203.0.113.0"))
    );

    let list = rampart.command("ban", &["list"], "");
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(
        listed.contains(offender) && listed.contains("automatic"),
        "{listed}"
    );
    let removed = rampart.command("ban", &["remove", offender], "");
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    eventually_status(&rampart, offender, 200).await;
    assert!(
        !rampart
            .command("ban", &["remove", offender], "")
            .status
            .success()
    );

    let added = rampart.command(
        "ban",
        &[
            "add",
            "198.51.100.9",
            "--duration",
            "1h",
            "--reason",
            "scraping",
        ],
        "",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    eventually_status(&rampart, "198.51.100.9", 403).await;
    let refused = rampart.command("ban", &["add", "127.0.0.1"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("allowlist"));
}

#[tokio::test]
async fn attacks_and_the_apps_own_denials_add_up_to_a_ban() {
    let upstream = Upstream::start("app").await;
    let rampart = Rampart::start(&config(&upstream, "[bans]\nthreshold = 3\n", ""));
    let client = "203.0.113.60";
    assert_eq!(get_as(&rampart, client, "/status/403").await.status(), 403);
    assert_eq!(get_as(&rampart, client, "/status/401").await.status(), 401);
    assert_eq!(
        get_as(&rampart, client, "/?q=1'+OR+'1'='1").await.status(),
        403
    );
    envelope(get_as(&rampart, client, "/").await, 403, "banned").await;
    let metrics = rampart.metrics().await;
    assert!(metrics.contains("rampart_ban_violations_total{kind=\"upstream_denied\"} 2"));
    assert!(metrics.contains("rampart_ban_violations_total{kind=\"attack\"} 1"));
}

#[tokio::test]
async fn admins_ban_and_unban_through_the_api() {
    let upstream = Upstream::start("app").await;
    let rampart = Rampart::start(&config(
        &upstream,
        "[bans]\nsync_interval = \"100ms\"\n",
        "",
    ));
    rampart.add_user("adam", PASSWORD, &["admin"]);
    let login: Value = plain_client()
        .post(rampart.plain_url("/_rampart/api/login"))
        .json(&json!({"username": "adam", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let admin = |method: reqwest::Method, path: &str| {
        plain_client()
            .request(
                method,
                rampart.plain_url(&format!("/_rampart/api/admin/{path}")),
            )
            .bearer_auth(&token)
    };

    let created = admin(reqwest::Method::POST, "bans")
        .json(&json!({"address": "2001:db8:5::17", "duration": "2h", "reason": "card testing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["address"], "2001:db8:5::/64");
    assert_eq!(created["source"], "adam");
    assert_eq!(created["permanent"], false);
    envelope(get_as(&rampart, "2001:db8:5::99", "/").await, 403, "banned").await;

    let listed: Value = admin(reqwest::Method::GET, "bans")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["bans"][0]["reason"], "card testing", "{listed}");

    for (body, why) in [
        (json!({"address": "127.0.0.1"}), "allowlist"),
        (json!({"address": "example.com"}), "not an IP address"),
        (
            json!({"address": "192.0.2.1", "duration": "soon"}),
            "duration",
        ),
    ] {
        let refused = admin(reqwest::Method::POST, "bans")
            .json(&body)
            .send()
            .await
            .unwrap();
        let refused = envelope(refused, 400, "invalid_request").await;
        assert!(
            refused["message"].as_str().unwrap().contains(why),
            "{refused}"
        );
    }

    let lifted = admin(reqwest::Method::DELETE, "bans/2001:db8:5::/64")
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    assert_eq!(get_as(&rampart, "2001:db8:5::99", "/").await.status(), 200);
    let again = admin(reqwest::Method::DELETE, "bans/2001:db8:5::")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert!(
        rampart
            .logs()
            .iter()
            .any(|l| l.contains("\"action\":\"ban_lifted\"") && l.contains("adam"))
    );
}

#[tokio::test]
async fn redis_shares_limits_and_violations_across_instances() {
    let Some(redis) = redis_url() else {
        eprintln!("RAMPART_TEST_REDIS_URL is not set; skipping (the test script sets it)");
        return;
    };
    let upstream = Upstream::start("app").await;
    let shared_dir = tempfile::tempdir().unwrap();
    // One store for both (as a PostgreSQL store would be), one Redis, a prefix of our own.
    let sections = format!(
        "[storage]\nurl = \"sqlite://{store}\"\n[redis]\nurl = \"{redis}\"\nkey_prefix = \"{prefix}:\"\n\
         [bans]\nthreshold = 3\nsync_interval = \"100ms\"\n",
        store = shared_dir.path().join("rampart.db").display(),
        prefix = uuid::Uuid::now_v7().simple(),
    );
    let routes =
        "[[route]]\npath = \"/limited\"\nupstream = \"app\"\nrate_limit = [\"3/min burst 3\"]\n";
    let config = config(&upstream, &sections, routes);
    let (a, b) = (Rampart::start(&config), Rampart::start(&config));

    let client = "203.0.113.70";
    for rampart in [&a, &b, &a] {
        assert_eq!(get_as(rampart, client, "/limited").await.status(), 200);
    }
    assert_eq!(
        get_as(&b, client, "/limited").await.status(),
        429,
        "the fourth request is over the shared limit, whichever instance gets it"
    );
    // Two more refusals, one on each instance: the third violation bans, on both.
    assert_eq!(get_as(&a, client, "/limited").await.status(), 429);
    assert_eq!(get_as(&b, client, "/limited").await.status(), 429);
    envelope(get_as(&b, client, "/").await, 403, "banned").await;
    eventually_status(&a, client, 403).await;
    assert_eq!(get_as(&a, "203.0.113.71", "/limited").await.status(), 200);
}

/// A redis-server of the test's own, so it can be stopped mid-test.
struct OwnRedis(std::process::Child, u16);

impl OwnRedis {
    fn start() -> Self {
        let port = crate::support::closed_port();
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn when_redis_goes_away_limits_fall_back_to_each_instance() {
    // The test command installs redis-server and names its own instance.
    if redis_url().is_none() {
        eprintln!("RAMPART_TEST_REDIS_URL is not set; skipping (the test script sets it)");
        return;
    }
    let mut redis = OwnRedis::start();
    let upstream = Upstream::start("app").await;
    let sections = format!(
        "[redis]\nurl = \"redis://127.0.0.1:{}/\"\ntimeout = \"100ms\"\n[bans]\nenabled = false\n",
        redis.1
    );
    let routes =
        "[[route]]\npath = \"/limited\"\nupstream = \"app\"\nrate_limit = [\"3/min burst 3\"]\n";
    let rampart = Rampart::start(&config(&upstream, &sections, routes));
    let client = "203.0.113.80";
    assert_eq!(get_as(&rampart, client, "/limited").await.status(), 200);

    redis.stop();
    // Requests keep being answered, and the limit still holds, counted by the instance.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get_as(&rampart, client, "/limited").await.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let metrics = rampart.metrics().await;
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("rampart_redis_errors_total{kind=\"rate_limit\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "{metrics}");
    assert!(
        rampart
            .logs()
            .iter()
            .any(|l| l.contains("WARN") && l.contains("using this instance's counters")),
        "a warning names the fallback"
    );
}
