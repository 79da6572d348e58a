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

/// Fully decoded text of `raw`.
pub fn decode(raw: &str) -> Cow<'_, str> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'%' | b'&' | b'\\' | 0) || b >= 0x80)
    {
        return Cow::Borrowed(raw);
    }
    let mut current = Cow::Borrowed(raw);
    for _ in 0..MAX_ROUNDS {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = Cow::Owned(next);
    }
    current
}

/// The text inside `raw` if the whole value is base64 of mostly printable UTF-8.
pub fn base64_payload(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.len() < 16
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
    {
        return None;
    }
    // Words and numbers are not base64 worth decoding: real encodings mix cases and digits.
    let has_upper = trimmed.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = trimmed.bytes().any(|b| b.is_ascii_lowercase());
    if !(has_upper && has_lower) {
        return None;
    }
    let bytes = STANDARD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= text.chars().count() * 9).then_some(text)
}

fn decode_once(input: &str) -> String {
    let bytes = percent_decode(input.as_bytes());
    let text = utf8_lenient(&bytes);
    let text = html_unescape(&text);
    js_unescape(&text)
}

/// `%XX` and `%uXXXX`; malformed escapes stay as they are.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if let Some(byte) = hex_pair(input.get(i + 1..i + 3)) {
                out.push(byte);
                i += 3;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(c) = hex_char(input.get(i + 2..i + 6))
            {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex_pair(digits: Option<&[u8]>) -> Option<u8> {
    let digits = std::str::from_utf8(digits?).ok()?;
    u8::from_str_radix(digits, 16).ok()
}

fn hex_char(digits: Option<&[u8]>) -> Option<char> {
    let digits = std::str::from_utf8(digits?).ok()?;
    char::from_u32(u32::from_str_radix(digits, 16).ok()?)
}

/// UTF-8 that also accepts the overlong forms of ASCII some decoders let through, maps
/// fullwidth ASCII to ASCII and drops NUL; other invalid bytes are read as Latin-1.
fn utf8_lenient(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Overlong two-byte ASCII: 110_0000x 10xxxxxx.
        if (b == 0xC0 || b == 0xC1) && bytes.get(i + 1).is_some_and(|c| c & 0xC0 == 0x80) {
            let c = ((b & 0x1F) << 6) | (bytes[i + 1] & 0x3F);
            push_char(&mut out, char::from(c));
            i += 2;
            continue;
        }
        // Overlong three-byte ASCII: E0 80..81 xx.
        if b == 0xE0
            && bytes.get(i + 1).is_some_and(|c| c & 0xFE == 0x80)
            && bytes.get(i + 2).is_some_and(|c| c & 0xC0 == 0x80)
        {
            let c = ((bytes[i + 1] & 0x01) << 6) | (bytes[i + 2] & 0x3F);
            push_char(&mut out, char::from(c));
            i += 3;
            continue;
        }
        let width = utf8_width(b);
        match bytes
            .get(i..i + width)
            .and_then(|s| std::str::from_utf8(s).ok())
        {
            Some(s) => {
                for c in s.chars() {
                    push_char(&mut out, c);
                }
                i += width;
            }
            None => {
                push_char(&mut out, char::from(b));
                i += 1;
            }
        }
    }
    out
}

fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\0' => {}
        // Fullwidth ASCII variants (U+FF01..U+FF5E) read as ASCII by many normalizers.
        '\u{FF01}'..='\u{FF5E}' => {
            out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c));
        }
        c => out.push(c),
    }
}

/// Numeric (`&#60;`, `&#x3c;`, also without `;`) and the named references that matter for
/// markup and URLs.
fn html_unescape(input: &str) -> String {
    if !input.contains('&') {
        return input.to_owned();
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match html_reference(rest) {
            Some((c, len)) => {
                push_char(&mut out, c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
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
    const NAMED: [(&str, char); 16] = [
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
    ];
    NAMED.iter().find_map(|(name, c)| {
        body.get(..name.len())
            .filter(|head| head.eq_ignore_ascii_case(name))
            .map(|_| (*c, 1 + name.len()))
    })
}

/// `\xNN` and `\uNNNN` (also `\u{N}`), as in JavaScript and JSON strings.
fn js_unescape(input: &str) -> String {
    if !input.contains('\\') {
        return input.to_owned();
    }
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
                close.filter(|&n| (1..=6).contains(&n)).and_then(|n| {
                    let digits = std::str::from_utf8(&bytes[i + 3..i + 3 + n]).ok()?;
                    let c = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
                    Some((c, n + 4))
                })
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
    out.push_str(&input[copied..]);
    out
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
        ];
        for (raw, expected) in cases {
            assert_eq!(decode(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn only_whole_base64_values_with_printable_text_are_decoded() {
        assert_eq!(
            base64_payload("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert_eq!(
            base64_payload("JHtqbmRpOmxkYXA6Ly94fQ").as_deref(),
            Some("${jndi:ldap://x}")
        );
        assert_eq!(base64_payload("hello world this is text"), None);
        assert_eq!(base64_payload("abcdefghijklmnopqrstuvwxyz"), None);
        assert_eq!(base64_payload("iVBORw0KGgoAAAANSUhEUgAA"), None, "binary");
    }
}
