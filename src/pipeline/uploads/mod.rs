//! Uploads: every file, a part of a multipart body or, on a route that names the types it
//! accepts, a whole body, is judged by its content, never by the name or type the client
//! claims. Magic bytes (the `infer` crate) decide the type, which must be on the route's
//! allowlist; HTML, SVG, JavaScript and executables are always refused, also when they hide
//! behind another format's header (a PNG signature followed by `<script>`), and so are PDFs
//! that run JavaScript or launch programs, read as a viewer reads them ([`pdf`]). Optionally
//! each file goes to a clamd.

use std::sync::LazyLock;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod pdf;

use super::input::InputConfig;
use crate::attack_filter::form_part::FormPart;
use crate::error::GatewayError;

/// Default largest file (the seeds' 5 MB).
const DEFAULT_MAX_FILE: u64 = 5 * 1024 * 1024;

/// Markup that makes a browser run code when the file is served back from the site's origin.
static ACTIVE_MARKUP: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "<script",
            "<html",
            "<svg",
            "<!doctype html",
            "<iframe",
            "<object",
            "<embed",
            "<body",
            "<?php",
            "javascript:",
            "<meta http-equiv",
        ])
        .expect("the markers compile")
});

/// How much of a file of a known format is searched for markup.
const SNIFFED_BYTES: usize = 1024;

/// Names and types clients use for files that are refused whatever the content says.
const REFUSED_EXTENSIONS: [&str; 12] = [
    "html", "htm", "xhtml", "shtml", "svg", "svgz", "js", "mjs", "exe", "dll", "bat", "sh",
];
const REFUSED_CLAIMS: [&str; 6] = [
    "text/html",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/javascript",
    "application/javascript",
    "application/x-msdownload",
];

/// A route's upload rules.
pub struct UploadPolicy {
    allowed: Vec<String>,
    max_file: u64,
    max_total: Option<u64>,
    scanner: Option<Scanner>,
}

impl UploadPolicy {
    pub fn build(config: &InputConfig) -> Result<Self, String> {
        Ok(Self {
            allowed: config
                .upload_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect(),
            max_file: config.upload_max_file.map_or(DEFAULT_MAX_FILE, |s| s.0),
            max_total: config.upload_max_total.map(|s| s.0),
            scanner: config.upload_scanner.as_ref().map(|address| Scanner {
                address: address.clone(),
            }),
        })
    }

    /// Whether the route names the file types it accepts, which makes it an upload route.
    pub fn restricts_types(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Checks every file in a buffered multipart body ([`FormPart`]).
    pub async fn check(&self, boundary: &str, form: bool, body: Bytes) -> Result<(), GatewayError> {
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut total: u64 = 0;
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let part = FormPart::read(&field, form).map_err(malformed)?;
            if !part.is_file {
                continue;
            }
            let file_name = part.file_name.unwrap_or_default();
            // Parts of `multipart/related` have no names; errors count them from 1.
            let name = part
                .name
                .unwrap_or_else(|| format!("part {}", field.index() + 1));
            let claimed = field
                .content_type()
                .map(|m| m.essence_str().to_ascii_lowercase());
            let data = field.bytes().await.map_err(malformed)?;
            total += data.len() as u64;
            if let Some(max) = self.max_total
                && total > max
            {
                return Err(too_large(
                    &name,
                    format!("the files add up to more than {max} bytes"),
                ));
            }
            self.check_file(&name, &file_name, claimed.as_deref(), &data)
                .await?;
        }
        Ok(())
    }

    /// Checks a request body that is itself the file, on a route that names the types it
    /// accepts: a browser uploads with `fetch(url, {method: "PUT", body: file})` as often as
    /// with a form. `claimed` is the body's `Content-Type`; errors name the field `body`.
    pub async fn check_body(&self, claimed: Option<&str>, data: &[u8]) -> Result<(), GatewayError> {
        self.check_file("body", "", claimed, data).await
    }

    /// One file's size, type and, with a scanner, its scan.
    async fn check_file(
        &self,
        field: &str,
        file_name: &str,
        claimed: Option<&str>,
        data: &[u8],
    ) -> Result<(), GatewayError> {
        let size = data.len() as u64;
        if size > self.max_file {
            return Err(too_large(
                field,
                format!("the file is {size} bytes, the limit is {}", self.max_file),
            ));
        }
        self.judge(file_name, claimed, data)
            .map_err(|reason| refused(field, reason))?;
        if let Some(scanner) = &self.scanner {
            scanner.scan(field, data).await?;
        }
        Ok(())
    }

    /// Why a file is refused, if it is.
    fn judge(&self, file_name: &str, claimed: Option<&str>, data: &[u8]) -> Result<(), String> {
        let extension = file_name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default();
        if REFUSED_EXTENSIONS.contains(&extension.as_str())
            || claimed.is_some_and(|c| REFUSED_CLAIMS.contains(&c))
        {
            return Err("HTML, SVG, JavaScript and executable files are not accepted".into());
        }
        let detected = infer::get(data);
        if let Some(kind) = detected {
            let refused = kind.matcher_type() == infer::MatcherType::App
                || matches!(
                    kind.mime_type(),
                    "text/html" | "text/xml" | "text/x-shellscript"
                );
            if refused {
                return Err(format!("{} files are not accepted", kind.mime_type()));
            }
        }
        // Markup deep inside a file of a known format (a manual's text in a PDF) runs nowhere:
        // browsers sniff HTML only at a file's start, old Internet Explorer in its first 256
        // bytes.
        let sniffed = match detected {
            Some(_) => &data[..data.len().min(SNIFFED_BYTES)],
            None => data,
        };
        if ACTIVE_MARKUP.is_match(sniffed) {
            return Err("the file contains HTML or script markup".into());
        }
        if pdf::is_pdf(data)
            && let Some(reason) = pdf::refusal(data)
        {
            return Err(reason.into());
        }
        if self.allowed.is_empty() {
            return Ok(());
        }
        let accepted = match detected {
            Some(kind) => self.allowed.iter().any(|allowed| {
                allowed == kind.extension()
                    || allowed == kind.mime_type()
                    || (allowed == "jpeg" && kind.extension() == "jpg")
                    || allowed
                        .strip_suffix("/*")
                        .is_some_and(|group| kind.mime_type().starts_with(&format!("{group}/")))
            }),
            None => self.allowed.iter().any(|a| a == "text") && std::str::from_utf8(data).is_ok(),
        };
        if accepted {
            Ok(())
        } else {
            Err(format!(
                "{} files are not accepted here; send one of: {}",
                detected.map_or("unrecognised", |k| k.extension()),
                self.allowed.join(", ")
            ))
        }
    }
}

/// A 400 for a multipart body that cannot be read, or one whose parts are ambiguous.
pub(super) fn malformed(err: impl std::fmt::Display) -> GatewayError {
    GatewayError::InvalidRequest(format!("the multipart body is malformed: {err}"))
}

fn refused(field: &str, reason: String) -> GatewayError {
    GatewayError::InputRejected {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "upload_refused",
        field: field.to_owned(),
        reason,
    }
}

fn too_large(field: &str, reason: String) -> GatewayError {
    GatewayError::InputRejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        field: field.to_owned(),
        reason,
    }
}

/// A clamd, spoken to with its `INSTREAM` command over TCP or a Unix socket.
struct Scanner {
    address: String,
}

impl Scanner {
    /// How long one scan may take before the upload is refused as unscannable.
    const TIMEOUT: Duration = Duration::from_secs(30);

    async fn scan(&self, field: &str, data: &[u8]) -> Result<(), GatewayError> {
        let verdict = tokio::time::timeout(Self::TIMEOUT, self.ask(data)).await;
        match verdict {
            Ok(Ok(reply)) if reply.ends_with("OK") => Ok(()),
            Ok(Ok(reply)) if reply.ends_with("FOUND") => {
                let signature = reply
                    .trim_start_matches("stream:")
                    .trim_end_matches("FOUND")
                    .trim();
                tracing::warn!(field, signature, "the virus scanner refused an upload");
                Err(refused(
                    field,
                    format!("the virus scanner found {signature}"),
                ))
            }
            outcome => {
                let error = match outcome {
                    Ok(Ok(reply)) => reply,
                    Ok(Err(err)) => err.to_string(),
                    Err(_) => "timed out".into(),
                };
                tracing::error!(scanner = %self.address, error, "the virus scanner failed; refusing the upload");
                Err(GatewayError::Unavailable)
            }
        }
    }

    async fn ask(&self, data: &[u8]) -> std::io::Result<String> {
        if self.address.starts_with('/') {
            let stream = tokio::net::UnixStream::connect(&self.address).await?;
            instream(stream, data).await
        } else {
            let stream = tokio::net::TcpStream::connect(&self.address).await?;
            instream(stream, data).await
        }
    }
}

/// `zINSTREAM`: the file in length-prefixed chunks, a zero-length chunk, then one reply.
async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    data: &[u8],
) -> std::io::Result<String> {
    const CHUNK: usize = 64 * 1024;
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in data.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).expect("chunks are 64 KiB");
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::new();
    stream.take(4096).read_to_end(&mut reply).await?;
    let reply = String::from_utf8_lossy(&reply);
    Ok(reply.trim_end_matches(['\0', '\n']).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    fn policy(types: &[&str]) -> UploadPolicy {
        UploadPolicy::build(&InputConfig {
            upload_types: types.iter().map(|t| (*t).to_owned()).collect(),
            ..InputConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn the_content_decides_not_the_claim() {
        let images = policy(&["png", "jpeg", "pdf"]);
        assert!(images.judge("cat.png", Some("image/png"), PNG).is_ok());
        assert!(
            images.judge("cat.gif", Some("image/gif"), PNG).is_ok(),
            "a PNG is a PNG"
        );
        let polyglot = [PNG, b"<html><script>alert(1)</script>".as_slice()].concat();
        assert!(
            images
                .judge("cat.png", Some("image/png"), &polyglot)
                .unwrap_err()
                .contains("markup")
        );
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
        assert!(images.judge("a.jpg", None, jpeg).is_ok());
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert!(
            images
                .judge("a.png", Some("image/png"), zip)
                .unwrap_err()
                .contains("zip")
        );
        assert!(
            images.judge("notes.txt", None, b"hello").is_err(),
            "text is not on the list"
        );
        assert!(
            policy(&["text"])
                .judge("notes.csv", None, b"a,b\n1,2\n")
                .is_ok()
        );
    }

    #[test]
    fn active_content_is_always_refused() {
        let any = policy(&[]);
        let elf = [b"\x7fELF\x02\x01\x01".as_slice(), &[0; 64]].concat();
        for (name, claim, data) in [
            (
                "x.svg",
                None,
                b"<svg xmlns='http://www.w3.org/2000/svg'/>".as_slice(),
            ),
            ("x.txt", Some("image/svg+xml"), b"hello".as_slice()),
            ("x.html", None, b"hi".as_slice()),
            ("page.txt", None, b"<!DOCTYPE html><p>hi".as_slice()),
            ("a.bin", None, b"MZ\x90\0\x03\0\0\0\x04\0\0\0".as_slice()),
            ("a.bin", None, elf.as_slice()),
            (
                "doc.pdf",
                None,
                b"%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"
                    .as_slice(),
            ),
        ] {
            assert!(
                any.judge(name, claim, data).is_err(),
                "{name}: {:?}",
                String::from_utf8_lossy(data)
            );
        }
        assert!(
            any.judge("doc.pdf", None, b"%PDF-1.7\n1 0 obj << /Type /Catalog >>")
                .is_ok()
        );
        let manual = [
            b"%PDF-1.7\n".as_slice(),
            &[b' '; 2000],
            b"BT (definitions_name {<object definition>}) Tj ET",
        ]
        .concat();
        assert!(
            any.judge("asn1.pdf", None, &manual).is_ok(),
            "markup in a page's text"
        );
        assert!(
            any.judge("notes.txt", Some("text/plain"), b"5 < 6 and <b>bold</b>")
                .is_ok()
        );
    }

    fn multipart(files: &[(&str, &str, &[u8])]) -> (String, Bytes) {
        let boundary = "XyZ".to_owned();
        let mut body = Vec::new();
        for (field, name, data) in files {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (boundary, Bytes::from(body))
    }

    #[tokio::test]
    async fn sizes_are_capped_per_file_and_in_total() {
        let policy = UploadPolicy::build(&InputConfig {
            upload_max_file: Some(crate::config::ByteSize(100)),
            upload_max_total: Some(crate::config::ByteSize(120)),
            ..InputConfig::default()
        })
        .unwrap();
        let (boundary, body) =
            multipart(&[("a", "a.txt", &[b'a'; 80]), ("b", "b.txt", &[b'b'; 60])]);
        match policy.check(&boundary, true, body).await {
            Err(GatewayError::InputRejected { status, field, .. }) => {
                assert_eq!(
                    (status, field.as_str()),
                    (StatusCode::PAYLOAD_TOO_LARGE, "b")
                );
            }
            other => panic!("{other:?}"),
        }
        let (boundary, body) = multipart(&[("a", "a.txt", &[b'a'; 101])]);
        assert!(policy.check(&boundary, true, body).await.is_err());
        let (boundary, body) = multipart(&[("a", "a.txt", &[b'a'; 100])]);
        assert!(policy.check(&boundary, true, body).await.is_ok());
    }

    /// A stand-in clamd on loopback that speaks INSTREAM and flags the EICAR test string.
    async fn fake_clamd() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut command = [0u8; 10];
                    socket.read_exact(&mut command).await.unwrap();
                    assert_eq!(&command, b"zINSTREAM\0");
                    let mut data = Vec::new();
                    loop {
                        let len = socket.read_u32().await.unwrap() as usize;
                        if len == 0 {
                            break;
                        }
                        let mut chunk = vec![0; len];
                        socket.read_exact(&mut chunk).await.unwrap();
                        data.extend(chunk);
                    }
                    let infected = data.windows(4).any(|w| w == b"EICA");
                    let reply: &[u8] = if infected {
                        b"stream: Eicar-Signature FOUND\0"
                    } else {
                        b"stream: OK\0"
                    };
                    socket.write_all(reply).await.unwrap();
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn the_scanner_decides_and_fails_closed() {
        let scanned = |address: String| {
            UploadPolicy::build(&InputConfig {
                upload_scanner: Some(address),
                ..InputConfig::default()
            })
            .unwrap()
        };
        let policy = scanned(fake_clamd().await);
        let big = vec![b'x'; 200_000];
        let (boundary, body) = multipart(&[("doc", "a.txt", &big)]);
        assert!(
            policy.check(&boundary, true, body).await.is_ok(),
            "several chunks"
        );
        let (boundary, body) =
            multipart(&[("doc", "a.txt", b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")]);
        match policy.check(&boundary, true, body).await {
            Err(GatewayError::InputRejected { reason, field, .. }) => {
                assert_eq!(field, "doc");
                assert!(reason.contains("Eicar-Signature"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let policy = scanned(closed.to_string());
        let (boundary, body) = multipart(&[("doc", "a.txt", b"hello")]);
        assert_eq!(
            policy.check(&boundary, true, body).await,
            Err(GatewayError::Unavailable)
        );
    }
}
