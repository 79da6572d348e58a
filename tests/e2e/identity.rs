//! Identity end to end: login over TLS with a real cookie jar, bearer tokens, the RBAC matrix,
//! signed identity headers, refresh-token reuse, logout, on SQLite and PostgreSQL.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde_json::{Value, json};

use crate::support::{Rampart, TestCert, Upstream, envelope, postgres_database, tls_client};

const PASSWORD: &str = "tulip-harbor-seventeen";

fn config(cert: &TestCert, upstream: &Upstream, storage: Option<&str>) -> String {
    let storage = storage
        .map(|url| format!("[storage]\nurl = \"{url}\"\n"))
        .unwrap_or_default();
    let identity = "[identity]\nlockout_max_failures = 3\n";
    format!(
        r#"
mode = "production"
{storage}
{identity}
# These tests sign in many times a second; the login zone has its own test.
[rate_limit]
login = []
[listen]
address = "127.0.0.1:0"
[listen.tls]
{tls}
[admin]
address = "127.0.0.1:0"

[[role]]
name = "viewer"
permissions = ["reports:read"]

[[role]]
name = "admin"
permissions = ["users:manage", "rampart:admin"]
inherits = ["viewer"]

[[upstream]]
name = "app"
targets = ["{target}"]

[[route]]
path = "/reports"
upstream = "app"
auth = "reports:read"

[[route]]
path = "/admin"
upstream = "app"
auth = "users:manage"

[[route]]
path = "/account"
upstream = "app"
auth = "authenticated"

[[route]]
path = "/public"
upstream = "app"
auth = "public"

[[route]]
path = "/unruled"
upstream = "app"
"#,
        tls = cert.toml(),
        target = upstream.url()
    )
}

async fn start(storage: Option<&str>) -> (Rampart, TestCert, Upstream) {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let rampart = Rampart::start_in(dir, &config(&cert, &upstream, storage));
    rampart.add_user("vera", PASSWORD, &["viewer"]);
    rampart.add_user("adam", PASSWORD, &["admin"]);
    (rampart, cert, upstream)
}

async fn login(client: &reqwest::Client, rampart: &Rampart, user: &str) -> Value {
    let response = client
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn status_with_bearer(
    client: &reqwest::Client,
    rampart: &Rampart,
    path: &str,
    token: Option<&str>,
) -> u16 {
    let mut request = client.get(rampart.tls_url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn rbac_matrix_with_bearer_tokens_on_every_store() {
    let mut stores = vec![None];
    stores.extend(postgres_database().map(Some));
    for storage in stores {
        let (rampart, cert, _upstream) = start(storage.as_deref()).await;
        let client = tls_client(&cert.der, rampart.gateway, true);
        let vera = login(&client, &rampart, "vera").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let adam = login(&client, &rampart, "adam").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // A fresh client, so no session cookie helps: bearer tokens only.
        let client = tls_client(&cert.der, rampart.gateway, true);
        let matrix: [(&str, [u16; 3]); 5] = [
            //            anonymous, viewer, admin
            ("/reports/q1", [401, 200, 200]),
            ("/admin/users", [401, 403, 200]),
            ("/account", [401, 200, 200]),
            ("/public", [200, 200, 200]),
            ("/unruled", [403, 403, 403]),
        ];
        for (path, expected) in matrix {
            let got = [
                status_with_bearer(&client, &rampart, path, None).await,
                status_with_bearer(&client, &rampart, path, Some(&vera)).await,
                status_with_bearer(&client, &rampart, path, Some(&adam)).await,
            ];
            assert_eq!(got, expected, "{path} on {storage:?}");
        }
        let denied = client
            .get(rampart.tls_url("/admin/users"))
            .bearer_auth(&vera)
            .send()
            .await
            .unwrap();
        envelope(denied, 403, "forbidden").await;
        let anonymous = client
            .get(rampart.tls_url("/reports"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Bearer realm=\"rampart\""
        );
        envelope(anonymous, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn browser_login_sets_a_host_cookie_and_the_app_gets_signed_identity() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let response = client
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": "adam", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "__Host-rampart_session=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 900);
    assert_eq!(
        grant["access_token"].as_str().unwrap().split('.').count(),
        3
    );
    assert!(grant["refresh_token"].as_str().unwrap().len() >= 43);

    // The cookie jar carries the session; a forged identity header is dropped.
    let response = client
        .get(rampart.tls_url("/account/settings"))
        .header("x-rampart-user", "root")
        .header("x-rampart-roles", "super_admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let echo: Value = response.json().await.unwrap();
    let headers = &echo["headers"];
    assert_eq!(headers["x-rampart-user"], "adam");
    assert_eq!(headers["x-rampart-roles"], "admin");
    assert_eq!(headers["x-rampart-auth"], "session");
    let cookies = headers
        .get("cookie")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        !cookies.contains("rampart_session"),
        "the app never sees the session secret: {cookies}"
    );
    // Verify the signature as the app would, with the shared key file.
    let key = std::fs::read_to_string(rampart.data_dir().join("identity-header.key")).unwrap();
    let message = format!(
        "adam\n{}\nadmin\nsession\n{}\n{id}",
        headers["x-rampart-user-id"].as_str().unwrap(),
        headers["x-rampart-timestamp"].as_str().unwrap()
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key.trim().as_bytes()),
        message.as_bytes(),
    );
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(headers["x-rampart-signature"], format!("v1={hex}").as_str());

    let me: Value = client
        .get(rampart.tls_url("/_rampart/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["username"].as_str(), me["auth"].as_str()),
        (Some("adam"), Some("session"))
    );

    // Logout ends the session; the jar's cookie is cleared and a replayed one is dead.
    let logout = client
        .post(rampart.tls_url("/_rampart/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(
        client
            .get(rampart.tls_url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let replay = tls_client(&cert.der, rampart.gateway, false)
        .get(rampart.tls_url("/account"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"logout\"")
    });
}

#[tokio::test]
async fn wrong_credentials_look_the_same_and_are_logged() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    for (user, password) in [("adam", "wrong-password-123"), ("nobody", PASSWORD)] {
        let response = client
            .post(rampart.tls_url("/_rampart/api/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        let body = envelope(response, 401, "invalid_credentials").await;
        assert_eq!(body["message"], "wrong user name or password");
    }
    let text_body = client
        .post(rampart.tls_url("/_rampart/api/login"))
        .body("username=adam")
        .send()
        .await
        .unwrap();
    envelope(text_body, 415, "unsupported_media_type").await;
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"login_failed\"") && l.contains("\"user\":\"nobody\"")
    });
    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_logins_total{result=\"invalid_credentials\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn refresh_rotation_reuse_and_token_attacks() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let first = login(&client, &rampart, "vera").await;
    let refresh = |token: Value| {
        let client = client.clone();
        let url = rampart.tls_url("/_rampart/api/refresh");
        async move {
            client
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap()
        }
    };
    let second = refresh(first["refresh_token"].clone()).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    envelope(
        refresh(first["refresh_token"].clone()).await,
        401,
        "invalid_token",
    )
    .await;
    envelope(
        refresh(second["refresh_token"].clone()).await,
        401,
        "invalid_token",
    )
    .await;
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("refresh_token_reused")
    });

    // A valid token with its payload edited, and an unsigned `alg: none` token.
    let token = second["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["roles"] = json!(["admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let fresh = tls_client(&cert.der, rampart.gateway, false);
    for forged in [tampered, none] {
        let response = fresh
            .get(rampart.tls_url("/admin"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"rampart\", error=\"invalid_token\""
        );
        envelope(response, 401, "invalid_token").await;
    }
    assert_eq!(
        fresh
            .get(rampart.tls_url("/reports"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let jwks: Value = fresh
        .get(rampart.tls_url("/_rampart/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_without_saying_so() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let attempt = |password: &'static str| {
        let client = client.clone();
        let url = rampart.tls_url("/_rampart/api/login");
        async move {
            client
                .post(url)
                .json(&json!({"username": "vera", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let mut wrong_answers = Vec::new();
    for _ in 0..3 {
        let body = envelope(
            attempt("not-the-password").await,
            401,
            "invalid_credentials",
        )
        .await;
        wrong_answers.push(body["message"].clone());
    }
    // The right password while locked: the same answer as a wrong one.
    let locked = envelope(attempt(PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(locked["message"], wrong_answers[0]);
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"login_locked_out\"") && l.contains("vera")
    });
    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains("rampart_logins_total{result=\"locked_out\"} 1"),
        "{metrics}"
    );
    // Other users are not affected.
    let adam = client
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": "adam", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(adam.status(), 200);
}

/// The value of the form's hidden CSRF field.
fn csrf_field(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("the form has a CSRF field")
        + "name=\"csrf\" value=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('/', "%2F")
                    .replace('?', "%3F")
                    .replace('=', "%3D")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn the_login_portal_checks_csrf_and_signs_browsers_in() {
    let (rampart, cert, _upstream) = start(None).await;
    let browser = tls_client(&cert.der, rampart.gateway, false);

    // A protected page sends a browser to the portal, remembering where it wanted to go.
    let protected = browser
        .get(rampart.tls_url("/account/settings?tab=2"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(protected.status(), 302);
    let location = protected.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "/_rampart/login?rd=%2Faccount%2Fsettings%3Ftab%3D2"
    );

    let form = browser
        .get(rampart.tls_url(&location))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["content-type"], "text/html; charset=utf-8");
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    let html = form.text().await.unwrap();
    assert!(!html.contains("<script"), "no scripts on the portal");
    assert_eq!(csrf_field(&html).len(), 43, "a 256-bit token");
    let rd = "/account/settings?tab=2";
    let post = |body: String, client: &reqwest::Client| {
        client
            .post(rampart.tls_url("/_rampart/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    // A forged token, and a real token without its cookie (a cross-site post): refused.
    let forged = post(
        form_body(&[
            ("username", "adam"),
            ("password", PASSWORD),
            ("csrf", "forged"),
            ("rd", rd),
        ]),
        &browser,
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    let token = csrf_field(&forged.text().await.unwrap());
    let stranger = tls_client(&cert.der, rampart.gateway, false);
    let cross_site = post(
        form_body(&[
            ("username", "adam"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("rd", rd),
        ]),
        &stranger,
    )
    .await
    .unwrap();
    assert_eq!(cross_site.status(), 403);

    // The right token and password: a session cookie and a redirect back.
    let signed_in = post(
        form_body(&[
            ("username", "adam"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("rd", rd),
        ]),
        &browser,
    )
    .await
    .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], rd);
    let page = browser
        .get(rampart.tls_url(rd))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let echo: Value = page.json().await.unwrap();
    assert_eq!(echo["headers"]["x-rampart-user"], "adam");

    // An open-redirect attempt lands on the site's root instead.
    let form = browser
        .get(rampart.tls_url("/_rampart/login?rd=https://evil.example/"))
        .send()
        .await
        .unwrap();
    let token = csrf_field(&form.text().await.unwrap());
    let bounced = post(
        form_body(&[
            ("username", "adam"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("rd", "https://evil.example/"),
        ]),
        &browser,
    )
    .await
    .unwrap();
    assert_eq!(bounced.headers()["location"], "/");
}

/// The authenticator code for `secret` (base32) at Unix time `at`.
fn totp_code(secret: &str, at: u64) -> String {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

#[tokio::test]
async fn mfa_enrolment_login_replay_recovery_and_requirements() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let text = config(&cert, &upstream, None)
        .replace("[[upstream]]", "[[role]]\nname = \"operator\"\nrequire_mfa = true\n\n[[upstream]]")
        .replace("[[route]]\npath = \"/public\"", "[[route]]\npath = \"/vault\"\nupstream = \"app\"\nauth = \"authenticated\"\nmfa = true\n\n[[route]]\npath = \"/public\"");
    let rampart = Rampart::start_in(dir, &text);
    rampart.add_user("olga", PASSWORD, &["operator"]);
    rampart.add_user("vera", PASSWORD, &["viewer"]);
    let client = tls_client(&cert.der, rampart.gateway, false);
    let login = |body: Value| {
        let client = client.clone();
        let url = rampart.tls_url("/_rampart/api/login");
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let bearer_get = |token: String, path: &'static str| {
        let client = tls_client(&cert.der, rampart.gateway, false);
        let url = rampart.tls_url(path);
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };

    // The operator role needs a second factor; a password-only sign-in is not enough.
    let grant: Value = login(json!({"username": "olga", "password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let password_only = grant["access_token"].as_str().unwrap().to_owned();
    envelope(
        bearer_get(password_only.clone(), "/account").await,
        403,
        "second_factor_required",
    )
    .await;

    // Enrol: scan (here: read) the secret, confirm with a code, keep the recovery codes.
    let enrollment: Value = tls_client(&cert.der, rampart.gateway, false)
        .post(rampart.tls_url("/_rampart/api/mfa/totp/enroll"))
        .bearer_auth(&password_only)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    assert!(enrollment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let confirmed: Value = tls_client(&cert.der, rampart.gateway, false)
        .post(rampart.tls_url("/_rampart/api/mfa/totp/confirm"))
        .bearer_auth(&password_only)
        .json(&json!({"code": totp_code(&secret, now)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // From now on the password alone is refused, and so is a wrong code.
    envelope(
        login(json!({"username": "olga", "password": PASSWORD})).await,
        401,
        "mfa_required",
    )
    .await;
    envelope(
        login(json!({"username": "olga", "password": PASSWORD, "totp": "000000"})).await,
        401,
        "mfa_invalid",
    )
    .await;
    let next_code = totp_code(&secret, now + 30);
    let with_code =
        login(json!({"username": "olga", "password": PASSWORD, "totp": next_code})).await;
    assert_eq!(with_code.status(), 200);
    let token = with_code.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(bearer_get(token.clone(), "/account").await.status(), 200);
    assert_eq!(bearer_get(token, "/vault").await.status(), 200);
    // The same code again is a replay.
    envelope(
        login(json!({"username": "olga", "password": PASSWORD, "totp": next_code})).await,
        401,
        "mfa_invalid",
    )
    .await;
    // A recovery code works, once.
    assert_eq!(
        login(json!({"username": "olga", "password": PASSWORD, "recovery_code": recovery[0]}))
            .await
            .status(),
        200
    );
    envelope(
        login(json!({"username": "olga", "password": PASSWORD, "recovery_code": recovery[0]}))
            .await,
        401,
        "mfa_invalid",
    )
    .await;

    // A route marked `mfa = true` refuses a password-only sign-in of any role.
    let vera: Value = login(json!({"username": "vera", "password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let vera = vera["access_token"].as_str().unwrap().to_owned();
    assert_eq!(bearer_get(vera.clone(), "/account").await.status(), 200);
    envelope(
        bearer_get(vera, "/vault").await,
        403,
        "second_factor_required",
    )
    .await;

    let metrics = rampart.metrics().await;
    for expected in [
        "rampart_mfa_challenges_total{result=\"required\"} 1",
        "rampart_mfa_challenges_total{result=\"invalid\"} 3",
        "rampart_mfa_challenges_total{result=\"ok\"} 2",
        "rampart_active_sessions ",
    ] {
        assert!(metrics.contains(expected), "missing {expected}:\n{metrics}");
    }
}

#[tokio::test]
async fn api_keys_for_machines_are_scoped_and_revocable() {
    let (rampart, cert, _upstream) = start(None).await;
    let created = rampart.command(
        "apikey",
        &[
            "create",
            "ci-reports",
            "--role",
            "viewer",
            "--expires-in",
            "30d",
        ],
        "",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("rk_"), "{key}");
    let bad_role = rampart.command("apikey", &["create", "x", "--role", "root"], "");
    assert!(!bad_role.status.success());

    let client = tls_client(&cert.der, rampart.gateway, false);
    let with_header = client
        .get(rampart.tls_url("/reports/q3"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 200);
    let echo: Value = with_header.json().await.unwrap();
    assert_eq!(echo["headers"]["x-rampart-user"], "ci-reports");
    assert_eq!(echo["headers"]["x-rampart-auth"], "api_key");
    assert_eq!(
        client
            .get(rampart.tls_url("/reports"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(rampart.tls_url("/admin"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "scoped to viewer"
    );
    let forged = format!("{}AAAA", &key[..key.len() - 4]);
    assert_eq!(
        client
            .get(rampart.tls_url("/reports"))
            .header("x-api-key", forged)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let enroll = client
        .post(rampart.tls_url("/_rampart/api/mfa/totp/enroll"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    envelope(enroll, 403, "forbidden").await;
    let listed = String::from_utf8(rampart.command("apikey", &["list"], "").stdout).unwrap();
    let id = key.strip_prefix("rk_").unwrap().split('_').next().unwrap();
    assert!(
        listed.contains(id) && listed.contains("active") && !listed.contains(&key),
        "{listed}"
    );
    assert!(
        rampart
            .command("apikey", &["revoke", id], "")
            .status
            .success()
    );
    assert_eq!(
        client
            .get(rampart.tls_url("/reports"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn the_admin_api_manages_users_sessions_and_keys() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let adam = login(&client, &rampart, "adam").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = tls_client(&cert.der, rampart.gateway, false)
            .request(
                method,
                rampart.tls_url(&format!("/_rampart/api/admin/{path}")),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let users: Value = admin(reqwest::Method::GET, "users", &adam, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["adam", "vera"]);

    // A viewer may not use it.
    let vera_grant = login(&client, &rampart, "vera").await;
    let vera = vera_grant["access_token"].as_str().unwrap().to_owned();
    envelope(
        admin(reqwest::Method::GET, "users", &vera, None)
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;

    let created = admin(
        reqwest::Method::POST,
        "users",
        &adam,
        Some(json!({"username": "nina", "password": PASSWORD, "roles": ["viewer"]})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let weak = admin(
        reqwest::Method::POST,
        "users",
        &adam,
        Some(json!({"username": "otto", "password": "password1234"})),
    )
    .await
    .unwrap();
    envelope(weak, 400, "invalid_request").await;
    let roles: Value = admin(reqwest::Method::GET, "roles", &adam, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(roles["roles"][0]["name"], "admin");
    assert!(
        roles["roles"][0]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:read")),
        "inherited from viewer"
    );

    // Vera signs in with a browser; the admin lists and ends that session, then disables her.
    let browser = tls_client(&cert.der, rampart.gateway, false);
    browser
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        browser
            .get(rampart.tls_url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let sessions: Value = admin(reqwest::Method::GET, "users/vera/sessions", &adam, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{sessions}");
    for id in &ids {
        assert_eq!(
            admin(
                reqwest::Method::DELETE,
                &format!("sessions/{id}"),
                &adam,
                None
            )
            .await
            .unwrap()
            .status(),
            204
        );
    }
    assert_eq!(
        browser
            .get(rampart.tls_url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let disabled: Value = admin(reqwest::Method::POST, "users/vera/disable", &adam, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["sessions_ended"], 0);
    envelope(
        client
            .post(rampart.tls_url("/_rampart/api/login"))
            .json(&json!({"username": "vera", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        401,
        "invalid_credentials",
    )
    .await;

    // Machine keys through the API.
    let key: Value = admin(
        reqwest::Method::POST,
        "api-keys",
        &adam,
        Some(json!({"name": "exporter", "roles": ["viewer"], "expires_in_days": 7})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let secret = key["key"].as_str().unwrap();
    assert_eq!(
        client
            .get(rampart.tls_url("/reports"))
            .header("x-api-key", secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let id = key["id"].as_str().unwrap();
    assert_eq!(
        admin(
            reqwest::Method::DELETE,
            &format!("api-keys/{id}"),
            &adam,
            None
        )
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        client
            .get(rampart.tls_url("/reports"))
            .header("x-api-key", secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"admin_action\"")
            && l.contains("api_key_revoked")
            && l.contains("\"actor\":\"adam\"")
    });
}

#[tokio::test]
async fn signing_keys_rotate_without_logging_anyone_out() {
    let (rampart, cert, _upstream) = start(None).await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let kid = |token: &str| {
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = login(&client, &rampart, "vera").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = rampart.command("keys", &["rotate"], "");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    rampart.signal("HUP");
    rampart.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("\"event\":\"sighup\"")
    });
    // The reload runs right after the signal is logged; give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let after = loop {
        let token = login(&client, &rampart, "vera").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        if kid(&token) != kid(&before) {
            break token;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway kept signing with the retired key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let fresh = tls_client(&cert.der, rampart.gateway, false);
    assert_eq!(
        fresh
            .get(rampart.tls_url("/reports"))
            .bearer_auth(&before)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "old tokens stay valid"
    );
    assert_eq!(
        fresh
            .get(rampart.tls_url("/reports"))
            .bearer_auth(&after)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let jwks: Value = fresh
        .get(rampart.tls_url("/_rampart/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let listed = String::from_utf8(rampart.command("keys", &["list"], "").stdout).unwrap();
    assert!(
        listed.contains(&kid(&before)) && listed.contains(&kid(&after)),
        "{listed}"
    );
}

#[tokio::test]
async fn the_concurrent_session_cap_is_enforced_by_the_gateway() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let text = config(&cert, &upstream, None).replace(
        "[identity]\nlockout_max_failures = 3\n",
        "[identity]\nlockout_max_failures = 3\nmax_sessions_per_user = 1\nsession_limit_action = \"refuse\"\n",
    );
    assert!(text.contains("max_sessions_per_user = 1"));
    let rampart = Rampart::start_in(dir, &text);
    rampart.add_user("vera", PASSWORD, &["viewer"]);
    let laptop = tls_client(&cert.der, rampart.gateway, false);
    let phone = tls_client(&cert.der, rampart.gateway, false);
    login(&laptop, &rampart, "vera").await;
    let refused = phone
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    envelope(refused, 409, "too_many_sessions").await;
    // Logging out on the laptop frees the slot.
    assert_eq!(
        laptop
            .post(rampart.tls_url("/_rampart/api/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    login(&phone, &rampart, "vera").await;
    assert_eq!(
        phone
            .get(rampart.tls_url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
