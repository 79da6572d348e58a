//! Request bodies sent compressed (`Content-Encoding: gzip`). Apps decode them before parsing
//! (Express's body parsers inflate gzip and deflate by default), so the checks read the body
//! decoded, as the app will; the upstream still gets it as sent.
//!
//! Read raw, a compressed body is binary noise: benign ones were refused (a NUL byte read as
//! path truncation, gzip bytes as broken JSON) and an attack inside passed unseen.

use std::io::Read;

use bytes::Bytes;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use http::{HeaderMap, StatusCode, header};

use crate::error::GatewayError;

/// The codings of a request body, as its `Content-Encoding` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    /// zlib-wrapped DEFLATE (RFC 9110 §8.4.1.2), as zlib's and Node's `inflate` read it.
    Deflate,
}

/// `body` as the app will read it: decoded when its `Content-Encoding` is gzip or deflate.
/// Decoding stops at `limit` bytes (`413`): a small body can inflate a thousandfold. A coding
/// Rampart cannot read is refused (`415`), as is a body its coding does not fit (`400`).
pub fn decode(headers: &HeaderMap, body: Bytes, limit: u64) -> Result<Bytes, GatewayError> {
    let mut decoded = Vec::new();
    let read = match coding(headers)? {
        Coding::Identity => return Ok(body),
        Coding::Gzip => MultiGzDecoder::new(&body[..])
            .take(limit.saturating_add(1))
            .read_to_end(&mut decoded),
        Coding::Deflate => ZlibDecoder::new(&body[..])
            .take(limit.saturating_add(1))
            .read_to_end(&mut decoded),
    };
    if read.is_err() {
        return Err(GatewayError::InvalidRequest(
            "the body does not decode as its Content-Encoding says".into(),
        ));
    }
    if decoded.len() as u64 > limit {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    Ok(Bytes::from(decoded))
}

/// Whether the body is compressed with a coding [`decode`] reads.
pub fn is_decodable(headers: &HeaderMap) -> bool {
    matches!(coding(headers), Ok(Coding::Gzip | Coding::Deflate))
}

/// The one coding applied to the body; `identity` entries are no coding.
fn coding(headers: &HeaderMap) -> Result<Coding, GatewayError> {
    let mut found = Coding::Identity;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().map_err(|_| unsupported("not readable"))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let coding = match name.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                _ => return Err(unsupported(name)),
            };
            if found != Coding::Identity {
                return Err(unsupported("more than one coding"));
            }
            found = coding;
        }
    }
    Ok(found)
}

fn unsupported(what: &str) -> GatewayError {
    GatewayError::InputRejected {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        field: "header:content-encoding".into(),
        reason: format!("is {what}; send the body uncompressed, gzip or deflate"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use http::HeaderValue;

    use super::*;

    fn headers(encoding: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        headers
    }

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        Bytes::from(encoder.finish().unwrap())
    }

    #[test]
    fn gzip_and_deflate_bodies_are_decoded() {
        let body = br#"{"q": "1' or '1'='1"}"#;
        for encoding in ["gzip", "x-gzip", "GZIP", "identity, gzip"] {
            let decoded = decode(&headers(encoding), gzip(body), 1024).unwrap();
            assert_eq!(decoded, &body[..], "{encoding}");
        }
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(body).unwrap();
        let deflated = Bytes::from(encoder.finish().unwrap());
        assert_eq!(
            decode(&headers("deflate"), deflated, 1024).unwrap(),
            &body[..]
        );
        // Concatenated members are all read, as gunzip reads them.
        let mut two = gzip(b"first ").to_vec();
        two.extend_from_slice(&gzip(b"second"));
        assert_eq!(
            decode(&headers("gzip"), Bytes::from(two), 1024).unwrap(),
            &b"first second"[..]
        );
    }

    #[test]
    fn plain_bodies_are_handed_back_as_they_are() {
        let body = Bytes::from_static(b"hello");
        assert_eq!(
            decode(&HeaderMap::new(), body.clone(), 1).unwrap(),
            body,
            "no decoding, no limit: the size was checked as the body arrived"
        );
        assert!(!is_decodable(&headers("identity")));
        assert!(is_decodable(&headers("gzip")));
        assert!(!is_decodable(&headers("br")));
    }

    #[test]
    fn bombs_broken_bodies_and_unknown_codings_are_refused() {
        let bomb = gzip(&vec![0; 1 << 20]);
        assert!(bomb.len() < 2048, "{}", bomb.len());
        assert_eq!(
            decode(&headers("gzip"), bomb, 100_000),
            Err(GatewayError::BodyTooLarge { limit: 100_000 })
        );
        let broken = decode(&headers("gzip"), Bytes::from_static(b"not gzip"), 1024);
        assert!(
            matches!(broken, Err(GatewayError::InvalidRequest(_))),
            "{broken:?}"
        );
        for encoding in ["br", "zstd", "gzip, gzip", "compress"] {
            let refused = decode(&headers(encoding), gzip(b"x"), 1024).unwrap_err();
            assert_eq!(
                refused.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{encoding}"
            );
        }
    }
}
