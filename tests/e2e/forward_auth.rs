//! Forward-auth: a real nginx keeps proxying to the app and asks Rampart, with `auth_request`,
//! whether each request may pass, and who is making it.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Rampart, Upstream, closed_port, plain_client, plaintext_config};

const PASSWORD: &str = "tulip-harbor-seventeen";

/// nginx on loopback with the given `http {}` body; stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(server: impl Fn(u16) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port();
        let root = dir.path().display();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout
            .starts_with(b"0");
        let config = format!(
            "{user}worker_processes 1;\ndaemon off;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {root}/body;\n proxy_temp_path {root}/proxy;\n\
             fastcgi_temp_path {root}/fastcgi;\n uwsgi_temp_path {root}/uwsgi;\n scgi_temp_path {root}/scgi;\n{server}\n}}\n",
            user = if is_root { "user root;\n" } else { "" },
            server = server(port),
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx is installed (the test script installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn nginx_auth_request_uses_rampart_as_its_auth_server() {
    let app = Upstream::start("app").await;
    let roles = "[[role]]\nname = \"viewer\"\npermissions = [\"reports:read\"]\n[[role]]\nname = \"guest\"\n";
    let rampart = Rampart::start(&format!(
        "{roles}{}",
        plaintext_config(&[app.url()], "", "")
    ));
    rampart.add_user("vera", PASSWORD, &["viewer"]);
    rampart.add_user("gus", PASSWORD, &["guest"]);
    let auth = rampart.gateway;
    let nginx = Nginx::start(|port| {
        format!(
            r#" server {{
  listen 127.0.0.1:{port};
  location = /_auth {{
   internal;
   proxy_pass http://{auth}/_rampart/auth?require=reports:read;
   proxy_pass_request_body off;
   proxy_set_header Content-Length "";
   proxy_set_header X-Original-URI $request_uri;
  }}
  location /reports/ {{
   auth_request /_auth;
   auth_request_set $rampart_user $upstream_http_x_rampart_user;
   auth_request_set $rampart_roles $upstream_http_x_rampart_roles;
   auth_request_set $rampart_signature $upstream_http_x_rampart_signature;
   proxy_set_header X-Rampart-User $rampart_user;
   proxy_set_header X-Rampart-Roles $rampart_roles;
   proxy_set_header X-Rampart-Signature $rampart_signature;
   proxy_pass {app};
  }}
  location /_rampart/ {{
   proxy_pass http://{auth};
  }}
 }}"#,
            app = app.url()
        )
    });

    let client = plain_client();
    let token = |user: &'static str| {
        let client = client.clone();
        let url = nginx.url("/_rampart/api/login");
        async move {
            let grant: Value = client
                .post(url)
                .json(&json!({"username": user, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            grant["access_token"].as_str().unwrap().to_owned()
        }
    };
    let vera = token("vera").await;
    let gus = token("gus").await;

    let anonymous = client.get(nginx.url("/reports/q1")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "nginx passes Rampart's 401 on");
    let forbidden = client
        .get(nginx.url("/reports/q1"))
        .bearer_auth(&gus)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let allowed = client
        .get(nginx.url("/reports/q1"))
        .bearer_auth(&vera)
        .header("x-rampart-user", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let echo: Value = allowed.json().await.unwrap();
    assert_eq!(
        echo["headers"]["x-rampart-user"], "vera",
        "nginx overwrote the forged header with Rampart's answer"
    );
    assert_eq!(echo["headers"]["x-rampart-roles"], "viewer");
    assert!(
        echo["headers"]["x-rampart-signature"]
            .as_str()
            .unwrap()
            .starts_with("v1=")
    );
    assert_eq!(echo["uri"], "/reports/q1");
}

#[tokio::test]
async fn forward_auth_can_send_browsers_to_the_portal() {
    let app = Upstream::start("app").await;
    let rampart = Rampart::start(&plaintext_config(&[app.url()], "", ""));
    let client = plain_client();
    // As Traefik would ask: the original URI in X-Forwarded-Uri, a browser's Accept header.
    let browser = client
        .get(rampart.plain_url("/_rampart/auth?require=authenticated&redirect=browser"))
        .header("x-forwarded-uri", "/reports/q1?week=3")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    assert_eq!(
        browser.headers()["location"],
        "/_rampart/login?rd=%2Freports%2Fq1%3Fweek%3D3"
    );
    // API clients, and proxies that did not ask for redirects, get 401.
    let api = client
        .get(rampart.plain_url("/_rampart/auth?require=authenticated&redirect=browser"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let nginx_style = client
        .get(rampart.plain_url("/_rampart/auth"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(nginx_style.status(), 401);
}
