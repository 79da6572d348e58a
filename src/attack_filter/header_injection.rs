//! Header injection (CRLF injection): a value that carries a line break and, after it, a header
//! line of its own. An application that copies the value into a response header (a redirect's
//! `Location`, a cookie, a download's file name) then sends the attacker's header, or a whole
//! forged response after a blank line (HTTP response splitting); one that copies it into a
//! mail's headers adds the attacker's recipients.
//!
//! Line breaks are ordinary in text: chat messages, text areas and pasted e-mails hold lines
//! that read as headers (`Location: Berlin`, `From: bob@example.com`). Where a value is read
//! decides how much the filter trusts them:
//!
//! - In the request head (path, query, header and cookie values), where a browser never puts a
//!   line break of its own, a line break followed by a header that steers a response or a mail,
//!   a status line, or a page after a blank line is an injection; so is any header line right
//!   after a first line that is a single value (`foobar%0d%0aX-Injected: 1`), and a request
//!   line (`GET http://x HTTP/1.2`, request smuggling).
//! - In a body, only the shape of an injection into a one-line field counts: a first line that
//!   is a single value (an address, a URL, a file name, an id; not a heading such as `Note:`),
//!   then straight away a header that steers a response or a mail.
//!
//! Some servers keep only the low byte of a character in a header, which turns `嘊` (U+560A)
//! and `嘍` (U+560D) into LF and CR: both count as line breaks here.

use memchr::memchr3;

use super::Needle;

static HTTP_VERSION: Needle = Needle::new("http/");

/// The headers whose injection takes over a response: cookies, redirects, the body's framing
/// and type, cross-origin and security policy, and the client address a back end trusts.
const STEERING_HEADERS: [&str; 20] = [
    "set-cookie",
    "set-cookie2",
    "location",
    "refresh",
    "content-type",
    "content-length",
    "content-disposition",
    "content-encoding",
    "content-security-policy",
    "transfer-encoding",
    "link",
    "host",
    "via",
    "x-xss-protection",
    "x-frame-options",
    "cache-control",
    "remote-addr",
    "remote-ip",
    "x-real-ip",
    "originating-ip",
];

/// Header name prefixes of the same kind: `access-control-allow-origin`, `x-forwarded-for`.
const STEERING_PREFIXES: [&str; 2] = ["access-control-", "x-forwarded-"];

/// The mail headers that add recipients or redirect answers; they count with an address.
const MAIL_HEADERS: [&str; 7] = [
    "bcc",
    "cc",
    "to",
    "from",
    "reply-to",
    "sender",
    "return-path",
];

/// HTTP methods that open a request line.
const METHODS: [&str; 9] = [
    "get", "post", "put", "delete", "head", "options", "patch", "connect", "trace",
];

/// What follows a line break.
#[derive(Debug, PartialEq, Eq)]
enum NextLine {
    /// A header that steers a response, a mail header with an address, a status line or a
    /// request line.
    Steering,
    /// Any other `name: value` line.
    Header,
    /// A page: `<html`, `<!doctype` and the like.
    Page,
    Other,
}

/// The injected part (from the line break to the end of its line) if `lower`, a decoded and
/// lowercased value, injects a header; `in_head` when the value is from the request head.
pub fn header_injection(lower: &str, in_head: bool) -> Option<&str> {
    if in_head && let Some(line) = request_line(lower) {
        return Some(line);
    }
    let bytes = lower.as_bytes();
    let first = next_break(bytes, 0)?;
    let mut at = first;
    loop {
        let width = line_break_at(bytes, at)?;
        let (next, blank_line) = skip_breaks(bytes, at + width);
        let single_value = at == first && is_single_value(&lower[..at]);
        let found = match next_line(&lower[next..]) {
            NextLine::Steering => in_head || single_value,
            NextLine::Header => in_head && single_value,
            NextLine::Page => in_head && blank_line,
            NextLine::Other => false,
        };
        if found {
            let end = lower[next..]
                .find(['\r', '\n'])
                .map_or(lower.len(), |len| next + len);
            return Some(&lower[at..end]);
        }
        if !in_head {
            // In a body, only the first line break can end a one-line field.
            return None;
        }
        at = next_break(bytes, next)?;
    }
}

/// The position of the first line break at or after `from`.
fn next_break(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr3(b'\r', b'\n', 0xE5, &bytes[from..])?;
        if line_break_at(bytes, at).is_some() {
            return Some(at);
        }
        from = at + 1;
    }
}

/// The width of the line break at `at`, if there is one.
fn line_break_at(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes[at..] {
        [b'\r' | b'\n', ..] => Some(1),
        [0xE5, 0x98, 0x8A | 0x8D, ..] => Some(3),
        _ => None,
    }
}

/// The position after the line breaks, spaces and tabs from `at`, and whether they held a
/// blank line (two line breaks, as between a response's head and its body).
fn skip_breaks(bytes: &[u8], mut at: usize) -> (usize, bool) {
    let mut breaks = 1;
    loop {
        match bytes.get(at) {
            Some(b' ' | b'\t') => at += 1,
            Some(_) if let Some(width) = line_break_at(bytes, at) => {
                breaks += 1;
                at += width;
            }
            _ => return (at, breaks >= 2),
        }
    }
}

/// A first line that is one value: no space or tab in it, and not a heading or the end of a
/// sentence (`Note:`, `Hi,`, `Thanks!`). Empty counts: the value starts with the break.
fn is_single_value(line: &str) -> bool {
    !line.contains([' ', '\t']) && !line.ends_with([':', ',', '.', '!', '?', ';'])
}

fn next_line(line: &str) -> NextLine {
    let first_line = line.split(['\r', '\n']).next().unwrap_or_default();
    // A status line opens a forged response, a request line a smuggled request.
    if is_http_version(first_line) || is_request_line(first_line) {
        return NextLine::Steering;
    }
    if ["<html", "<!doctype", "<head", "<body", "<meta"]
        .iter()
        .any(|tag| line.starts_with(tag))
    {
        return NextLine::Page;
    }
    let name_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        .count();
    let name = &line[..name_len];
    // `Remote-addr\r\r:` is read as `Remote-addr:` by some parsers.
    let Some(value) = line[name_len..]
        .trim_start_matches([' ', '\t', '\r'])
        .strip_prefix(':')
    else {
        return NextLine::Other;
    };
    let value = value.split(['\r', '\n']).next().unwrap_or_default().trim();
    if name_len < 2 || !name.bytes().any(|b| b.is_ascii_alphabetic()) || value.is_empty() {
        return NextLine::Other;
    }
    let steering = STEERING_HEADERS.contains(&name)
        || STEERING_PREFIXES.iter().any(|p| name.starts_with(p))
        || MAIL_HEADERS.contains(&name) && value.contains('@');
    if steering {
        NextLine::Steering
    } else {
        NextLine::Header
    }
}

/// A request line in the value (`GET http://x HTTP/1.2`): a second request for a proxy or
/// back end that reads the value as part of the stream (request smuggling).
fn request_line(lower: &str) -> Option<&str> {
    if !HTTP_VERSION.is_in(lower) {
        return None;
    }
    lower.split(['\r', '\n']).find(|line| is_request_line(line))
}

fn is_request_line(line: &str) -> bool {
    // `+` as well: a text body is not form-decoded (`aaa%0aGET+/+HTTP/1.1`).
    let mut words = line.split([' ', '\t', '+']).filter(|w| !w.is_empty());
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(method), Some(_), Some(version))
            if METHODS.contains(&method) && is_http_version(version)
    )
}

/// `http/1.1`, `http/2`: the protocol name and a digit.
fn is_http_version(text: &str) -> bool {
    text.strip_prefix("http/")
        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
}

/// True if `text` holds a line break (including `嘊` and `嘍`): in a path or a parameter name
/// there is no legitimate one.
pub fn has_line_break(text: &str) -> bool {
    next_break(text.as_bytes(), 0).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> bool {
        header_injection(&text.to_lowercase(), true).is_some()
    }

    fn body(text: &str) -> bool {
        header_injection(&text.to_lowercase(), false).is_some()
    }

    #[test]
    fn response_splitting_in_the_head_is_found() {
        for attack in [
            "foobar\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK",
            "\r\nSet-Cookie: session=attacker",
            "/next\nLocation: http://evil.example",
            "x\r\nrefresh: 0; url=http://evil.example",
            "\r\nRemote-addr\r\r\r: foo.bar.com",
            "Headerdata\rInjectedHeader: response_splitting_code",
            "munchmuch\r\n\r\n<HTML><title></title></HTML>",
            "a@example.com\nBcc: victim@example.com",
            "Hello there\r\nCc: someone@example.com",
            "x\u{560A}\u{560D}Set-Cookie: a=b",
            "GET http://www.foo.bar HTTP/1.2",
            "aaa\rHEAD http://example.com/ HTTP/1.1",
        ] {
            assert!(head(attack), "{attack:?}");
        }
    }

    #[test]
    fn line_breaks_in_the_head_without_a_header_pass() {
        for text in [
            "line one\nline two",
            "test\nnext=more",
            "\nlocation:\n",
            "Check this out:\nLink text here",
            "Name: Bob\nNotes: none",
            "The HTTP/2 protocol and GET requests",
            "嘍嘍 我哋走啦",
            "100\r\n200",
        ] {
            assert!(!head(text), "{text:?}");
        }
    }

    #[test]
    fn a_body_field_counts_only_as_a_one_line_value_followed_by_a_steering_header() {
        for attack in [
            "foobar\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK",
            "victim@example.com\r\nBcc: list@example.com",
            "https://example.com/next\nLocation: https://evil.example",
            "report.pdf\r\nContent-Type: text/html",
            "\r\nSet-Cookie: a=b",
            "\nPOST / HTTP/1.1",
            "aaa\nGET / HTTP/1.1",
        ] {
            assert!(body(attack), "{attack:?}");
        }
        for text in [
            "Here's what I get:\nHTTP/1.1 302 Found\nLocation: /login",
            "Hi,\nFrom: bob@example.com\nTo: alice@example.com",
            "Update:\nLocation: Berlin",
            "Name: Bob\nLocation: Berlin",
            "Summary\nPros: fast\nCons: slow",
            "I get this header back\r\nSet-Cookie: a=b",
            "GET /api/users HTTP/1.1\nHost: example.com",
            "Here's my request:\nGET /api/users HTTP/1.1",
            "aaa\r\nGet /foo\r",
            "soundtrack Gympl\r\nanything",
            "get it\n",
        ] {
            assert!(!body(text), "{text:?}");
        }
    }

    #[test]
    fn line_breaks_are_found_also_as_wide_characters() {
        assert!(has_line_break("foo\nbar"));
        assert!(has_line_break("parameter\r"));
        assert!(has_line_break("a\u{560A}b"));
        assert!(!has_line_break("index.php/info.php"));
        assert!(!has_line_break("日本語"));
    }
}
