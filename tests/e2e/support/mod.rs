//! Shared test fixtures: the gateway process, a scriptable upstream, certificates and clients.

pub mod receiver;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

pub use upstream::Upstream;

/// A running `rampart serve` process; killed when dropped.
pub struct Rampart {
    child: Child,
    pub gateway: SocketAddr,
    pub admin: SocketAddr,
    pub http_redirect: Option<SocketAddr>,
    /// Holds the config and data files for the life of the process.
    _dir: tempfile::TempDir,
    logs: Arc<Mutex<Vec<String>>>,
}

/// A self-signed certificate for `localhost`, written as PEM files.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl TestCert {
    pub fn write(dir: &Path, name: &str) -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        Self {
            cert,
            key,
            der: generated.cert.der().clone(),
        }
    }

    /// Overwrites `path`'s files with this certificate (as a renewal would).
    pub fn install_as(&self, target: &TestCert) {
        std::fs::copy(&self.key, &target.key).unwrap();
        std::fs::copy(&self.cert, &target.cert).unwrap();
    }

    pub fn toml(&self) -> String {
        format!(
            "cert = \"{}\"\nkey = \"{}\"\n",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// Runs `command` with `stdin` as its input and collects its output.
pub fn run_with_input(mut command: Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn rampart_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

impl Rampart {
    /// Writes `config` to a temp dir and starts `rampart serve` on it, waiting until every
    /// listener reports its address.
    pub fn start(config: &str) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), config)
    }

    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Self {
        let path = dir.path().join("rampart.toml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(rampart_bin());
        command
            .arg("serve")
            .arg("--config")
            .arg(&path)
            // Each gateway gets its own store and keys.
            .env("RAMPART_DATA_DIR", dir.path().join("data"));
        Self::spawn(command, dir)
    }

    pub fn spawn(mut command: Command, dir: tempfile::TempDir) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the rampart binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let logs = logs.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let mut listeners = std::collections::HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(listeners.contains_key("gateway") && listeners.contains_key("admin")) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(remaining) {
                Ok(line) => line,
                Err(_) => panic!(
                    "rampart did not start; output:\n{}",
                    logs.lock().unwrap().join("\n")
                ),
            };
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["event"] == "listening"
            {
                let address: SocketAddr = event["address"].as_str().unwrap().parse().unwrap();
                listeners.insert(event["listener"].as_str().unwrap().to_owned(), address);
            }
        }
        // A redirect listener, if configured, is announced right after the others.
        let redirect_wait = Instant::now() + Duration::from_millis(300);
        while let Ok(line) =
            rx.recv_timeout(redirect_wait.saturating_duration_since(Instant::now()))
        {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["listener"] == "http_redirect"
            {
                listeners.insert(
                    "http_redirect".into(),
                    event["address"].as_str().unwrap().parse().unwrap(),
                );
            }
        }
        Self {
            child,
            gateway: listeners["gateway"],
            admin: listeners["admin"],
            http_redirect: listeners.get("http_redirect").copied(),
            _dir: dir,
            logs,
        }
    }

    /// The data directory `start_in` gives the gateway.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// Runs `rampart user ARGS` on this gateway's config and store, with `stdin` as input.
    pub fn user_command(&self, args: &[&str], stdin: &str) -> std::process::Output {
        self.command("user", args, stdin)
    }

    /// Runs `rampart SUBCOMMAND ARGS` on this gateway's config and store.
    pub fn command(&self, subcommand: &str, args: &[&str], stdin: &str) -> std::process::Output {
        let mut command = Command::new(rampart_bin());
        command
            .arg(subcommand)
            .arg("--config")
            .arg(self._dir.path().join("rampart.toml"))
            .args(args)
            .env("RAMPART_DATA_DIR", self.data_dir());
        run_with_input(command, stdin)
    }

    /// Adds a user with `rampart user add`.
    pub fn add_user(&self, name: &str, password: &str, roles: &[&str]) {
        let mut args = vec!["add", name];
        for role in roles {
            args.extend(["--role", role]);
        }
        let output = self.user_command(&args, &format!("{password}\n"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a Unix signal (`TERM`, `HUP`, ...) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("rampart did not exit within {within:?}");
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until a log line satisfies `matches`.
    pub fn wait_for_log(&self, within: Duration, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.logs().into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no matching log line; logs:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The Prometheus text from the admin listener.
    pub async fn metrics(&self) -> String {
        plain_client()
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn plain_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway)
    }

    pub fn tls_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.gateway.port())
    }
}

impl Drop for Rampart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that trusts `cert` and resolves `localhost` to the gateway; `h2` offers HTTP/2.
pub fn tls_client(
    cert: &CertificateDer<'static>,
    gateway: SocketAddr,
    h2: bool,
) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    reqwest::Client::builder()
        .cookie_store(true)
        .tls_backend_preconfigured(config)
        .resolve("localhost", gateway)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A fresh PostgreSQL database URL when the test script started a server.
pub fn postgres_database() -> Option<String> {
    let admin_url = std::env::var("RAMPART_TEST_POSTGRES_URL").ok()?;
    let name = format!("rampart_e2e_{}", uuid::Uuid::now_v7().simple());
    let created = Command::new("psql")
        .args([
            admin_url.as_str(),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .unwrap();
    assert!(created.success());
    Some(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}

/// The Redis server the test script started, if any.
pub fn redis_url() -> Option<String> {
    std::env::var("RAMPART_TEST_REDIS_URL").ok()
}

pub fn plain_client() -> reqwest::Client {
    // reqwest needs a process-wide provider even for plain HTTP; a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends raw bytes and returns the whole answer as text (until the server closes or 5 s pass).
pub async fn raw_exchange(rampart: &Rampart, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(rampart.gateway)
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A plaintext gateway config in front of `targets`; `extra` is appended (routes, sections).
pub fn plaintext_config(targets: &[String], listen_extra: &str, extra: &str) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"
[listen]
address = "127.0.0.1:0"
plaintext = true
{listen_extra}

[admin]
address = "127.0.0.1:0"

[[upstream]]
name = "app"
targets = [{targets}]
{extra}

[[route]]
path = "/"
upstream = "app"
"#,
        targets = targets.join(", ")
    )
}

/// A TLS gateway config with `cert` in front of `upstream`; the extras go into `[listen]` and
/// `[listen.tls]`.
pub fn tls_config(
    cert: &TestCert,
    upstream: &Upstream,
    listen_extra: &str,
    tls_extra: &str,
) -> String {
    format!(
        r#"
[listen]
address = "127.0.0.1:0"
{listen_extra}
[listen.tls]
{tls}{tls_extra}
[admin]
address = "127.0.0.1:0"
[[upstream]]
name = "app"
targets = ["{target}"]
[[route]]
path = "/"
upstream = "app"
"#,
        tls = cert.toml(),
        target = upstream.url()
    )
}

/// Parses a response body as the error envelope and checks its shape.
pub async fn envelope(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}
