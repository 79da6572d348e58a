//! Browser security through the binary over TLS: CORS preflights answered at the edge, CSRF
//! (origin check and signed double-submit token) for session-cookie requests, and cookie flags
//! added to the app's `Set-Cookie`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Rampart, TestCert, envelope, tls_client, upstream::Upstream};

const PASSWORD: &str = "correct horse battery staple";
const APP: &str = "https://app.example.com";

async fn start() -> (Rampart, TestCert, Upstream) {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::write(dir.path(), "site");
    let config = format!(
        r#"
[listen]
address = "127.0.0.1:0"
[listen.tls]
{tls}
[admin]
address = "127.0.0.1:0"
[cookies]
script_readable = ["theme"]

[[upstream]]
name = "app"
targets = ["{target}"]

[[route]]
path = "/api"
upstream = "app"
auth = "authenticated"
csrf = "token"
[route.cors]
allow_origins = ["{APP}"]
allow_methods = ["GET", "POST"]
allow_headers = ["content-type", "x-csrf-token"]
allow_credentials = true

[[route]]
path = "/"
upstream = "app"
"#,
        tls = cert.toml(),
        target = upstream.url()
    );
    let rampart = Rampart::start_in(dir, &config);
    rampart.add_user("cora", PASSWORD, &[]);
    (rampart, cert, upstream)
}

/// Signs in with the client's cookie store; returns the access token too.
async fn sign_in(client: &reqwest::Client, rampart: &Rampart) -> String {
    let login: Value = client
        .post(rampart.tls_url("/_rampart/api/login"))
        .json(&json!({"username": "cora", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn csrf_tokens_and_origins_guard_session_requests() {
    let (rampart, cert, _upstream) = start().await;
    let browser = tls_client(&cert.der, rampart.gateway, false);
    let access_token = sign_in(&browser, &rampart).await;

    let page = browser
        .get(rampart.tls_url("/api/data"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let set = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-rampart-csrf-token="))
        .expect("the page gets its token");
    assert!(!set.contains("HttpOnly"), "scripts must read it: {set}");
    let token = set
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();

    let post = |token: Option<&str>, origin: Option<&str>| {
        let mut request = browser.post(rampart.tls_url("/api/data")).body("{}");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let missing = post(None, None).await.unwrap();
    envelope(missing, 403, "csrf_failed").await;
    envelope(post(Some("0000"), None).await.unwrap(), 403, "csrf_failed").await;
    assert_eq!(post(Some(&token), None).await.unwrap().status(), 200);
    let evil = post(Some(&token), Some("https://evil.example"))
        .await
        .unwrap();
    envelope(evil, 403, "csrf_failed").await;

    // A listed CORS origin may call with credentials, and reads the answer.
    let cross = post(Some(&token), Some(APP)).await.unwrap();
    assert_eq!(cross.status(), 200);
    assert_eq!(cross.headers()["access-control-allow-origin"], APP);
    assert_eq!(cross.headers()["access-control-allow-credentials"], "true");

    // The origin check (the default) on a route without tokens.
    let cross_site = browser
        .post(rampart.tls_url("/form"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    envelope(cross_site, 403, "csrf_failed").await;
    let same_site = browser
        .post(rampart.tls_url("/form"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 200);
    // Rampart's own API: a cross-site logout with the session cookie is refused.
    let logout = browser
        .post(rampart.tls_url("/_rampart/api/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    envelope(logout, 403, "csrf_failed").await;

    // Bearer tokens are not sent by browsers on their own: no CSRF check.
    let machine = tls_client(&cert.der, rampart.gateway, false);
    let bearer = machine
        .post(rampart.tls_url("/api/data"))
        .bearer_auth(&access_token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn cors_preflights_are_answered_at_the_edge() {
    let (rampart, cert, _upstream) = start().await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let preflight = |origin: &str, method: &str, headers: &str| {
        client
            .request(Method::OPTIONS, rampart.tls_url("/api/data"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let allowed = preflight(APP, "POST", "content-type, x-csrf-token")
        .await
        .unwrap();
    assert_eq!(allowed.status(), 204);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], APP);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(headers.contains_key("x-request-id"));
    assert!(
        allowed.text().await.unwrap().is_empty(),
        "answered by Rampart, not the app"
    );

    for (origin, method, asked) in [
        ("https://evil.example", "POST", "content-type"),
        (APP, "DELETE", "content-type"),
        (APP, "POST", "x-api-secret"),
    ] {
        let denied = preflight(origin, method, asked).await.unwrap();
        envelope(denied, 403, "cors_denied").await;
    }
    // A simple cross-origin GET from an unlisted origin gets no CORS headers (the app's own
    // `*` is removed), so the browser keeps the answer from the page.
    let read = client
        .get(rampart.tls_url("/api/set-cookie"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 401, "needs a user first");
    assert!(!read.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_apps_cookies_get_their_flags() {
    let (rampart, cert, _upstream) = start().await;
    let client = tls_client(&cert.der, rampart.gateway, false);
    let response = client
        .get(rampart.tls_url("/set-cookie"))
        .send()
        .await
        .unwrap();
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        [
            "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
            "theme=dark; Secure; SameSite=Strict"
        ]
    );
}
