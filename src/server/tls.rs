//! TLS for the public listener: rustls with ALPN h2/http1.1, certificates reloaded without a
//! restart when their files change or on SIGHUP, and self-signed certificates for development.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::Notify;

use crate::audit::Audit;
use crate::config::TlsVersion;
use crate::identity::events::SecurityEvent;
use crate::observability::metrics::Metrics;

/// Reads and checks a certificate chain and its private key; the error says which file is wrong.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|err| format!("cannot read certificate {}: {err}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no PEM certificate found in {}", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| format!("cannot read private key {}: {err}", key.display()))?;
    let signing_key = any_supported_type(&key_der)
        .map_err(|err| format!("unsupported private key in {}: {err}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|err| {
        format!(
            "{} and {} do not belong together: {err}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(certified)
}

/// The expiry (Unix seconds) of the leaf certificate of `key`.
pub fn expiry(key: &CertifiedKey) -> Option<i64> {
    key.cert
        .first()
        .and_then(|leaf| super::cert_expiry::not_after(leaf))
}

/// What `rampart check` runs on `[listen.tls]`.
pub fn check_files(cert: &Path, key: &Path) -> Result<(), String> {
    load_certified_key(cert, key).map(drop)
}

/// Builds the rustls server config around a resolver, so certificates can change under it.
pub fn server_config(resolver: Arc<CertResolver>, min_version: TlsVersion) -> ServerConfig {
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// Hands the current certificate to every handshake; swapped atomically on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            current: RwLock::new(Arc::new(key)),
        }
    }

    fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Watches the certificate files and reloads them when they change or when `reload` is
/// notified (SIGHUP). A broken new file is logged and the old certificate kept: a typo in a
/// renewal must not take the site down.
pub struct CertReloader {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub resolver: Arc<CertResolver>,
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
}

impl CertReloader {
    pub async fn run(self, reload: Arc<Notify>) {
        let mut seen = self.fingerprint();
        loop {
            let forced = tokio::select! {
                _ = tokio::time::sleep(self.interval) => false,
                _ = reload.notified() => true,
            };
            let now = self.fingerprint();
            if !forced && now == seen {
                continue;
            }
            seen = now;
            match load_certified_key(&self.cert, &self.key) {
                Ok(key) => {
                    self.metrics.certificate_loaded(expiry(&key));
                    self.resolver.replace(key);
                    self.metrics.cert_reloaded(true);
                    let detail = self.cert.display().to_string();
                    let event = SecurityEvent::Reloaded {
                        what: "tls_certificate",
                        ok: true,
                        detail: &detail,
                    };
                    self.audit.emit(&event, "").await;
                    tracing::info!(event = "tls_reloaded", cert = %self.cert.display(), "certificate reloaded");
                }
                Err(reason) => {
                    self.metrics.cert_reloaded(false);
                    let event = SecurityEvent::Reloaded {
                        what: "tls_certificate",
                        ok: false,
                        detail: &reason,
                    };
                    self.audit.emit(&event, "").await;
                    tracing::error!(event = "tls_reload_failed", %reason, "keeping the previous certificate");
                }
            }
        }
    }

    fn fingerprint(&self) -> [Option<(SystemTime, u64)>; 2] {
        let stamp = |path: &Path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        [stamp(&self.cert), stamp(&self.key)]
    }
}

/// Returns the paths of a self-signed certificate for localhost under `dir`, making one on first
/// use. Only for development: browsers will warn, and that is the point.
pub fn self_signed(dir: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if load_certified_key(&cert, &key).is_ok() {
        return Ok((cert, key));
    }
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(&cert, generated.cert.pem())?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    Ok((cert, key))
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path()).unwrap();
        let first = std::fs::read(&cert).unwrap();
        assert!(load_certified_key(&cert, &key).is_ok());
        self_signed(dir.path()).unwrap();
        assert_eq!(
            first,
            std::fs::read(&cert).unwrap(),
            "an existing certificate is kept"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn mismatched_or_missing_files_are_explained() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (cert_a, _) = self_signed(a.path()).unwrap();
        let (_, key_b) = self_signed(b.path()).unwrap();
        let err = load_certified_key(&cert_a, &key_b).unwrap_err();
        assert!(err.contains("do not belong together"), "{err}");
        let err = load_certified_key(Path::new("/nonexistent.crt"), &key_b).unwrap_err();
        assert!(
            err.contains("cannot read certificate /nonexistent.crt"),
            "{err}"
        );
    }
}
