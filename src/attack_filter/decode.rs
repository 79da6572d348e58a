//! Undoing the encodings attackers hide behind, so detectors see what the app will see.
//!
//! A value is decoded in layers until nothing changes (at most [`MAX_ROUNDS`] times): percent
//! escapes (also `%uXXXX` and double encoding), overlong UTF-8 (`%c0%ae` is `.`), fullwidth
//! forms (`＜` is `<`), HTML character references and JavaScript escapes (`\x3c`, `\u003c`).
//! NUL bytes are dropped: C-based apps stop at them, so `java\0script:` means `javascript:`.
//! A value that is base64 as a whole is decoded too, as a second subject.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Decoding stops after this many rounds; deeper nesting is itself suspicious but rare.
const MAX_ROUNDS: usize = 4;

/// Values up to this long are checked for [`ENCODING_BYTES`] byte by byte before decoding.
const SHORT_VALUE: usize = 32;

/// The bytes a layer of [`decode_once`] starts from: `%` (percent escapes), NUL, `0xEF` and
/// `0xE2` (the lead bytes of fullwidth forms and of circled letters and digits), `&` (character
/// references) and `\` (JavaScript escapes).
static ENCODING_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    table[b'%' as usize] = true;
    table[0] = true;
    table[0xEF] = true;
    table[0xE2] = true;
    table[b'&' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Fully decoded text of `raw`.
pub fn decode(raw: &str) -> Cow<'_, str> {
    // A short value without any of the bytes the layers start from is its own decoding: one
    // table lookup per byte instead of each layer's vector search, whose set-up costs more
    // than a path segment or a header value takes to read.
    if raw.len() <= SHORT_VALUE && !raw.bytes().any(|b| ENCODING_BYTES[usize::from(b)]) {
        return Cow::Borrowed(raw);
    }
    decode_layers(raw)
}

/// [`decode`] without its shortcut.
fn decode_layers(raw: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(raw);
    for _ in 0..MAX_ROUNDS {
        match decode_once(&current) {
            Some(next) => current = Cow::Owned(next),
            None => break,
        }
    }
    current
}

/// True if `raw` holds a NUL byte, or `%00` still encoded (a value decoded once by the form or
/// query parser). Text never does; a NUL is there to cut a string short in a C-based layer
/// (`shell.php%00.jpg`).
pub fn has_null_byte(raw: &str) -> bool {
    // One vector search for both bytes: setting up a substring search for `%00` cost more
    // than most values take to read.
    let bytes = raw.as_bytes();
    memchr::memchr2_iter(0, b'%', bytes).any(|at| bytes[at] == 0 || bytes[at..].starts_with(b"%00"))
}

/// One name or value of a query string or form body: `+` for a space, `%XX` escapes. Bytes
/// that are not UTF-8 are read as [`decode`] reads them, overlong forms of ASCII as that ASCII
/// (`%C0%A7` is `'` to some decoders), where a standard parser puts U+FFFD and hides what a
/// lenient backend sees.
pub fn form_component(bytes: &[u8]) -> Cow<'_, str> {
    if !bytes.iter().any(|&b| b == b'+' || b == b'%') {
        return match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(utf8_lenient(bytes)),
        };
    }
    let spaced: Cow<'_, [u8]> = if bytes.contains(&b'+') {
        Cow::Owned(
            bytes
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(bytes)
    };
    let decoded = percent_decode(&spaced).map_or(spaced, Cow::Owned);
    match String::from_utf8(decoded.into_owned()) {
        Ok(text) => Cow::Owned(text),
        Err(err) => Cow::Owned(utf8_lenient(err.as_bytes())),
    }
}

/// `raw` as ASP on IIS reads it, when that differs: a `%` that starts no escape is dropped
/// before a letter or a digit, so `%S%E%L%E%C%T` is `SELECT` there. Other servers keep such a
/// `%` (a batch file's `%G`, a format's `%s`), so this is a second reading of the value, not a
/// layer of [`decode`].
pub fn iis_reading(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    for at in memchr::memchr_iter(b'%', bytes) {
        let stray = escape_at(bytes, at).is_none();
        if stray && bytes.get(at + 1).is_some_and(u8::is_ascii_alphanumeric) {
            let out = out.get_or_insert_with(|| String::with_capacity(raw.len()));
            out.push_str(&raw[copied..at]);
            copied = at + 1;
        }
    }
    let mut out = out?;
    out.push_str(&raw[copied..]);
    Some(out)
}

/// `bytes` as text if they are mostly printable UTF-8: a base64 value's payload worth reading.
pub fn printable_text(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= text.chars().count() * 9).then_some(text)
}

/// The bytes inside `raw` if the whole value is base64 that mixes cases, as an encoding of
/// anything but a word does.
pub fn base64_bytes(raw: &str) -> Option<Vec<u8>> {
    let trimmed = raw.trim();
    if !may_be_base64(trimmed)
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
    {
        return None;
    }
    STANDARD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')))
        .ok()
}

/// Whether `text` is long enough to encode an injection (`admin' --` is `YWRtaW4nIC0t`) and
/// mixes cases: words and numbers are not base64 worth decoding, real encodings mix cases and
/// digits. Shorter, a random id decodes to printable text too often: one in a few hundred of
/// eight characters does, and the rules read some of that as SQL (`QCEiZDpm` is `@!"d:f`).
pub fn may_be_base64(text: &str) -> bool {
    text.len() >= 12
        && text.bytes().any(|b| b.is_ascii_uppercase())
        && text.bytes().any(|b| b.is_ascii_lowercase())
}

/// One layer of every encoding, or `None` when `input` holds none. Each layer is skipped
/// unless the byte that starts its escapes is present, so ordinary text costs one scan per
/// layer and no copy.
fn decode_once(input: &str) -> Option<String> {
    let mut changed: Option<String> = None;
    if let Some(bytes) = percent_decode(input.as_bytes()) {
        changed = Some(utf8_lenient(&bytes));
    }
    let layers: [fn(&str) -> Option<String>; 3] = [normalize_chars, html_unescape, js_unescape];
    for layer in layers {
        if let Some(next) = layer(changed.as_deref().unwrap_or(input)) {
            changed = Some(next);
        }
    }
    changed
}

/// `%XX` and `%uXXXX`, or `None` when there is no well-formed escape; malformed escapes
/// stay as they are.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut at = memchr::memchr(b'%', input)?;
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    while at < input.len() {
        let next = match escape_at(input, at) {
            Some((escape, len)) => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
                out.extend_from_slice(&input[copied..at]);
                match escape {
                    Escape::Byte(byte) => out.push(byte),
                    Escape::Char(c) => {
                        out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes())
                    }
                }
                copied = at + len;
                copied
            }
            None => at + 1,
        };
        at = match memchr::memchr(b'%', &input[next..]) {
            Some(offset) => next + offset,
            None => input.len(),
        };
    }
    let mut out = out?;
    out.extend_from_slice(&input[copied..]);
    Some(out)
}

/// The escape that the `%` at `input[at]` starts, and its length: `%XX` or `%uXXXX`.
fn escape_at(input: &[u8], at: usize) -> Option<(Escape, usize)> {
    if let Some(byte) = hex_pair(input.get(at + 1..at + 3)) {
        Some((Escape::Byte(byte), 3))
    } else if matches!(input.get(at + 1), Some(b'u' | b'U')) {
        hex_char(input.get(at + 2..at + 6)).map(|c| (Escape::Char(best_fit(c)), 6))
    } else {
        None
    }
}

/// `%uXXXX` is IIS's escape, and IIS reads some characters as the ASCII they look like: the
/// division slash `∕` (U+2215) as `/` and the set minus `∖` (U+2216) as `\`
/// (`..%u2216..%u2216windows`).
fn best_fit(c: char) -> char {
    match c {
        '\u{2215}' => '/',
        '\u{2216}' => '\\',
        c => c,
    }
}

enum Escape {
    Byte(u8),
    Char(char),
}

fn hex_pair(digits: Option<&[u8]>) -> Option<u8> {
    match digits? {
        [high, low] => Some(hex_digit(*high)? << 4 | hex_digit(*low)?),
        _ => None,
    }
}

fn hex_char(digits: Option<&[u8]>) -> Option<char> {
    let digits = digits?;
    let value = digits.iter().try_fold(0u32, |value, &d| {
        Some(value << 4 | u32::from(hex_digit(d)?))
    })?;
    char::from_u32(value)
}

fn hex_digit(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

/// UTF-8 that also accepts the overlong forms of ASCII some decoders let through; other
/// invalid bytes are read as Latin-1. (Fullwidth forms and NUL are the next layer's.)
fn utf8_lenient(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let chunk = rest.utf8_chunks().next().expect("rest is not empty");
        out.push_str(chunk.valid());
        rest = &rest[chunk.valid().len()..];
        if rest.is_empty() {
            break;
        }
        // `rest` starts with an invalid sequence.
        let (c, len) = overlong_ascii(rest).unwrap_or((char::from(rest[0]), 1));
        out.push(c);
        rest = &rest[len..];
    }
    out
}

/// An overlong encoding of an ASCII character at the start of `bytes`: two bytes
/// (`C0`/`C1` `10xxxxxx`) or three (`E0` `80`/`81` `10xxxxxx`).
fn overlong_ascii(bytes: &[u8]) -> Option<(char, usize)> {
    let continuation = |b: &u8| b & 0xC0 == 0x80;
    match bytes {
        [first @ (0xC0 | 0xC1), second, ..] if continuation(second) => {
            Some((char::from(((first & 0x1F) << 6) | (second & 0x3F)), 2))
        }
        [0xE0, second @ (0x80 | 0x81), third, ..] if continuation(third) => {
            Some((char::from(((second & 0x01) << 6) | (third & 0x3F)), 3))
        }
        _ => None,
    }
}

/// Fullwidth ASCII read as ASCII and NUL dropped, or `None` when there is neither. Every
/// fullwidth form (U+FF01..U+FF5E) is UTF-8 `EF BC xx` or `EF BD xx`.
fn normalize_chars(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    if memchr::memchr2(0, 0xEF, bytes).is_none() && !has_enclosed_alphanumeric(bytes) {
        return None;
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        push_char(&mut out, c);
    }
    (out != input).then_some(out)
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\0' => {}
        // Fullwidth ASCII variants (U+FF01..U+FF5E) read as ASCII by many normalizers.
        '\u{FF01}'..='\u{FF5E}' => {
            out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c));
        }
        // Circled digits and letters, which a URL parser's IDNA mapping turns into ASCII in a
        // host: `http://①②⑦.⓪.⓪.①/` is `http://127.0.0.1/`.
        '\u{2460}'..='\u{2473}' => {
            let number = c as u32 - 0x2460 + 1;
            out.push_str(itoa::Buffer::new().format(number));
        }
        '\u{24EA}' => out.push('0'),
        '\u{24B6}'..='\u{24CF}' => out.push(char::from(b'A' + (c as u32 - 0x24B6) as u8)),
        '\u{24D0}'..='\u{24E9}' => out.push(char::from(b'a' + (c as u32 - 0x24D0) as u8)),
        c => out.push(c),
    }
}

/// True if `bytes` hold a character of Unicode's enclosed alphanumerics (U+2460..U+24FF, in
/// UTF-8 `E2 91..93 xx`): found by their lead byte, which curly quotes and dashes share.
fn has_enclosed_alphanumeric(bytes: &[u8]) -> bool {
    memchr::memchr_iter(0xE2, bytes).any(|at| matches!(bytes.get(at + 1), Some(0x91..=0x93)))
}

/// Numeric (`&#60;`, `&#x3c;`, also without `;`) and the named references that matter for
/// markup and URLs.
fn html_unescape(input: &str) -> Option<String> {
    memchr::memchr(b'&', input.as_bytes())?;
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut changed = false;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match html_reference(rest) {
            Some((c, len)) => {
                push_char(&mut out, c);
                rest = &rest[len..];
                changed = true;
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The character a reference at the start of `s` stands for, and the reference's length.
fn html_reference(s: &str) -> Option<(char, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| char::from(*b).is_digit(radix))
            .count();
        if len == 0 || len > 8 {
            return None;
        }
        let c = char::from_u32(u32::from_str_radix(&digits[..len], radix).ok()?)?;
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((c, 1 + prefix + len + semicolon));
    }
    const NAMED: [(&str, char); 19] = [
        ("lt;", '<'),
        ("gt;", '>'),
        ("quot;", '"'),
        ("apos;", '\''),
        ("amp;", '&'),
        ("colon;", ':'),
        ("sol;", '/'),
        ("bsol;", '\\'),
        ("lpar;", '('),
        ("rpar;", ')'),
        ("tab;", '\t'),
        ("newline;", '\n'),
        ("period;", '.'),
        ("grave;", '`'),
        ("lbrace;", '{'),
        ("rbrace;", '}'),
        ("lcub;", '{'),
        ("rcub;", '}'),
        ("dollar;", '$'),
    ];
    NAMED.iter().find_map(|(name, c)| {
        body.get(..name.len())
            .filter(|head| head.eq_ignore_ascii_case(name))
            .map(|_| (*c, 1 + name.len()))
    })
}

/// `\xNN` and `\uNNNN` (also `\u{N}`), as in JavaScript and JSON strings.
fn js_unescape(input: &str) -> Option<String> {
    memchr::memchr(b'\\', input.as_bytes())?;
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let decoded = match bytes[i + 1] {
            b'x' | b'X' => hex_pair(bytes.get(i + 2..i + 4)).map(|b| (char::from(b), 4)),
            b'u' | b'U' if bytes.get(i + 2) == Some(&b'{') => {
                let close = bytes[i + 3..].iter().position(|&b| b == b'}');
                close
                    .filter(|&n| (1..=6).contains(&n))
                    .and_then(|n| Some((hex_char(bytes.get(i + 3..i + 3 + n))?, n + 4)))
            }
            b'u' | b'U' => hex_char(bytes.get(i + 2..i + 6)).map(|c| (c, 6)),
            _ => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push_str(&input[copied..i]);
                push_char(&mut out, c);
                i += len;
                copied = i;
            }
            None => i += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&input[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_undone_until_nothing_changes() {
        let cases = [
            ("plain text", "plain text"),
            ("%3Cscript%3E", "<script>"),
            ("%253Cscript%253E", "<script>"),
            ("%u003cscript%u003e", "<script>"),
            ("..%u2216..%u2215etc", "..\\../etc"),
            ("%c0%ae%c0%ae%c0%af", "../"),
            ("&#x3c;img&#62;", "<img>"),
            ("&lt;svg&gt;", "<svg>"),
            ("&#106&#97&#118&#97", "java"),
            ("java&Tab;script", "java\tscript"),
            ("\\x3cscript\\u003e", "<script>"),
            ("\\u{3c}b", "<b"),
            ("\u{FF1C}script\u{FF1E}", "<script>"),
            ("java\0script:", "javascript:"),
            ("%26lt%3Bb%26gt%3B", "<b>"),
            ("100% cotton", "100% cotton"),
            ("50%", "50%"),
            ("C:\\Users\\me", "C:\\Users\\me"),
            ("Zürich – naïve", "Zürich – naïve"),
            ("%e0%80%bcb", "<b"),
            ("%ff%3C", "\u{ff}<"),
            ("%+f %2 %zz %u12", "%+f %2 %zz %u12"),
            ("a%00b\\u0000c", "abc"),
            ("\\u{1F600}", "\u{1F600}"),
            ("&amp;lt;", "<"),
            ("%24&lcub;\\u006A&#110;di:x&rcub;", "${jndi:x}"),
            ("&dollar;&lbrace;x&rbrace;", "${x}"),
            ("AT&T & co", "AT&T & co"),
            ("http://①②⑦.⓪.⓪.①/", "http://127.0.0.1/"),
            ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ ⑳", "localhost 20"),
            ("“Zürich” – ①", "“Zürich” – 1"),
            ("“quoted” — dash", "“quoted” — dash"),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn the_shortcut_for_short_values_gives_what_the_layers_give() {
        let benign = include_str!("../../tests/corpus/benign.txt");
        let edges = [
            "",
            "api",
            "items",
            "42",
            ".env",
            "%2eenv",
            "&#46;git",
            "\\x2egit",
            "\u{FF0E}env",
            "a\0b",
            "ab%",
            "x&",
            "y\\",
            "\u{FF01}",
            "\u{E9}t\u{E9}",
        ];
        let values = benign.split_whitespace().chain(benign.lines()).chain(edges);
        let mut short = 0;
        for value in values {
            assert_eq!(decode(value), decode_layers(value), "{value:?}");
            short += usize::from(value.len() <= SHORT_VALUE);
        }
        assert!(short > 1000, "{short}");
        assert!(matches!(decode("items"), Cow::Borrowed("items")));
        assert_eq!(decode("%2eenv"), ".env");
    }

    #[test]
    fn iis_drops_a_percent_that_starts_no_escape_before_a_letter_or_digit() {
        for (raw, expected) in [
            (
                "1 %U%N%I%O%N %S%E%L%E%C%T 0%x7%e",
                Some("1 UNION SELECT 0x7e"),
            ),
            ("%3C%s%c%r%i%p%t%3E", Some("%3Cscript%3E")),
            ("%+f %2 %zz %u12 %u0041", Some("%+f 2 zz u12 %u0041")),
            ("100% cotton, 50%", None),
            ("%41%u0042", None),
        ] {
            assert_eq!(iis_reading(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn form_components_keep_what_lenient_decoders_read() {
        for (raw, expected) in [
            (&b"plain"[..], "plain"),
            (b"a+b%20c", "a b c"),
            (b"1%C0%A7%C0%A0or", "1' or"),
            (b"%E2%80%9Cq%E2%80%9D", "\u{201C}q\u{201D}"),
            (b"%bf%27", "\u{bf}'"),
            (b"100%", "100%"),
        ] {
            assert_eq!(form_component(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn null_bytes_are_found_raw_or_still_encoded() {
        for raw in ["shell.php%00.jpg", "a\0b", "%%00", "100% off%00"] {
            assert!(has_null_byte(raw), "{raw:?}");
        }
        for raw in ["", "100% cotton", "50%", "%0", "%0a", "plain"] {
            assert!(!has_null_byte(raw), "{raw:?}");
        }
    }

    fn base64_text(raw: &str) -> Option<String> {
        printable_text(base64_bytes(raw)?)
    }

    #[test]
    fn only_whole_base64_values_with_printable_text_are_decoded() {
        assert_eq!(
            base64_text("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert_eq!(
            base64_text("JHtqbmRpOmxkYXA6Ly94fQ").as_deref(),
            Some("${jndi:ldap://x}")
        );
        assert_eq!(base64_text("hello world this is text"), None);
        assert_eq!(base64_text("abcdefghijklmnopqrstuvwxyz"), None);
        assert_eq!(base64_text("iVBORw0KGgoAAAANSUhEUgAA"), None, "binary");
    }
}
