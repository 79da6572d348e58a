//! Server-side request forgery to an address inside the server's network, written so that a
//! pattern does not see it: `http://0251.0376.0251.0376/` (octal), `http://0xA9.0xFE.0xA9.0xFE/`
//! (hex), `http://169.254.43518/` (the last part filling the remaining bytes),
//! `http://7147006462/` (a number past 32 bits that wraps), `ssh://0177.00.00.01`,
//! `http://[::ffff:a9fe:a9fe]/`, `http://[fe80::1%25eth0]/`. URL parsers read all of these as
//! an IPv4 or IPv6 address (the WHATWG URL standard's IPv4 parser takes one to four parts, each
//! decimal, octal with a leading `0` or hex with `0x`), and so do the HTTP clients apps fetch
//! with.
//!
//! The host of a URL at the start of the value is read as those parsers read it. A host that
//! is an address in loopback, link-local (cloud metadata, ECS credentials), private or shared
//! (carrier-grade NAT, Alibaba's metadata) space, or `0.0.0.0`, counts when it is written any
//! other way than the plain dotted quad or a plain IPv6 address: nobody writes `0177.0.0.1`
//! but to get past a filter. The plain spellings are the pattern rules' (`rfi-loopback-url`,
//! `rfi-metadata-endpoint`, and `rfi-ip-url`, a weak signal for private addresses, which
//! webhooks and internal tools use).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The address of an internal host in `lower` (decoded and lowercased), when a URL at its
/// start names one in a spelling other than the plain one.
pub(super) fn obfuscated_internal_host(lower: &str) -> Option<&str> {
    let (host, slashes) = url_host(lower.trim_start())?;
    let internal = match host.strip_prefix('[') {
        Some(bracketed) => {
            let address = bracketed.strip_suffix(']')?;
            // A zone (`fe80::1%eth0`, `%25eth0` in a URL) names an interface: link-local.
            let (address, zone) = match address.split_once('%') {
                Some((address, _)) => (address, true),
                None => (address, false),
            };
            let address: Ipv6Addr = address.parse().ok()?;
            internal_v6(address, zone)
        }
        None => {
            // IDNA maps the ideographic and full-width full stops to dots
            // (`169。254。169。254`).
            let dotted = match host.is_ascii() {
                true => Cow::Borrowed(host),
                false => Cow::Owned(host.replace(['\u{3002}', '\u{ff0e}', '\u{ff61}'], ".")),
            };
            // `http:127.0.0.1`, without the slashes the pattern rules look for, is no plain
            // spelling either.
            let (address, plain) = ipv4(&dotted)?;
            !(plain && slashes && host.is_ascii()) && internal_v4(address)
        }
    };
    internal.then_some(host)
}

/// The host of the URL `text` starts with: after a scheme and `//` (or straight after `http:`
/// and `https:`, which URL parsers read as if the slashes were there), without user
/// information and port; and whether the slashes were there.
fn url_host(text: &str) -> Option<(&str, bool)> {
    // A scheme is short: only the first bytes are searched, not all of a long text.
    let colon = text.bytes().take(17).position(|b| b == b':')?;
    let scheme = &text[..colon];
    let scheme_like = !scheme.is_empty()
        && scheme.as_bytes()[0].is_ascii_alphabetic()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'));
    if !scheme_like {
        return None;
    }
    let rest = &text[colon + 1..];
    let special = matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp");
    let (authority, slashes) = match rest.strip_prefix("//") {
        Some(authority) => (authority, true),
        None if special => (rest.trim_start_matches(['/', '\\']), false),
        None => return None,
    };
    // Special schemes end the authority at a backslash too.
    let end = authority
        .find(|c: char| matches!(c, '/' | '?' | '#' | '\\') || c.is_whitespace())
        .unwrap_or(authority.len());
    let authority = &authority[..end];
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host_and_port.rfind([':', ']']) {
        Some(at) if host_and_port.as_bytes()[at] == b':' => {
            let port = &host_and_port[at + 1..];
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            &host_and_port[..at]
        }
        _ => host_and_port,
    };
    (!host.is_empty()).then_some((host, slashes))
}

/// `host` read as an IPv4 address by the WHATWG URL standard: one to four parts (a trailing
/// dot allowed), each decimal, octal (`0` first) or hex (`0x` first), the last filling the
/// bytes the others leave. Also true: whether it is the plain dotted quad. A single number past
/// 32 bits is read modulo 2^32, as C's `inet_aton` and some clients do.
fn ipv4(host: &str) -> Option<(Ipv4Addr, bool)> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let mut numbers = [0u128; 4];
    let mut count = 0;
    let mut plain = true;
    for part in host.split('.') {
        if count == numbers.len() {
            return None;
        }
        let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
        plain &= radix == 10;
        if digits.is_empty() && radix == 10 {
            return None;
        }
        // At most 64 bits' worth: longer is no number any parser takes.
        if digits.len() > 22 || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        if !digits.is_empty() {
            numbers[count] = u128::from_str_radix(digits, radix).ok()?;
        }
        count += 1;
    }
    let (last, leading) = numbers[..count].split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let width = 8 * (4 - leading.len() as u32);
    let last = match leading.len() {
        0 => *last % (1 << 32),
        _ if *last >= 1 << width => return None,
        _ => *last,
    };
    plain &= leading.len() == 3 && last <= 255;
    let value = leading
        .iter()
        .enumerate()
        .fold(last, |value, (i, &n)| value | n << (24 - 8 * i as u32));
    Some((Ipv4Addr::from(u32::try_from(value).ok()?), plain))
}

/// Loopback, `0.0.0.0` (which reaches the host itself), link-local, private and shared
/// (carrier-grade NAT) space.
fn internal_v4(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    address.is_loopback()
        || address.is_unspecified()
        || address.is_link_local()
        || address.is_private()
        || (a == 100 && (64..128).contains(&b))
}

/// Loopback, unspecified, link-local (or any address with a zone), and IPv4 addresses mapped
/// or translated into IPv6 that are internal. Unique local addresses (`fd00::/8`) are private
/// space that a plain IPv6 URL names as plainly as any: left to `rfi-ip-url`.
fn internal_v6(address: Ipv6Addr, zone: bool) -> bool {
    // Mapped (`::ffff:a.b.c.d`) and the deprecated compatible form (`::a.b.c.d`).
    let embedded = address
        .to_ipv4()
        .or_else(|| {
            // NAT64's well-known prefix 64:ff9b::/96.
            let segments = address.segments();
            (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
                let [.., high, low] = segments;
                Ipv4Addr::from(u32::from(high) << 16 | u32::from(low))
            })
        })
        .is_some_and(internal_v4);
    zone || address.is_loopback()
        || address.is_unspecified()
        || address.is_unicast_link_local()
        || embedded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_in_any_spelling_are_found() {
        for (url, host) in [
            ("http://0251.0376.0251.0376/", "0251.0376.0251.0376"),
            (
                "http://0251.00376.000251.0000376/",
                "0251.00376.000251.0000376",
            ),
            ("http://0xa9.0xfe.0xa9.0xfe/", "0xa9.0xfe.0xa9.0xfe"),
            ("http://169.254.43518/", "169.254.43518"),
            ("http://169.16689662/", "169.16689662"),
            ("http://7147006462/", "7147006462"),
            ("http://0x41414141a9fea9fe/", "0x41414141a9fea9fe"),
            ("ssh://0177.00.00.01", "0177.00.00.01"),
            ("rtmp://017700000001", "017700000001"),
            ("http:0x7f.1", "0x7f.1"),
            ("https:\\\\0x0a.0.0.1\\x", "0x0a.0.0.1"),
            ("gopher://user:pw@0300.0250.0.1:70/_", "0300.0250.0.1"),
            ("http://127.1/", "127.1"),
            ("http:127.0.0.1", "127.0.0.1"),
            (
                "http://169\u{3002}254\u{3002}169\u{3002}254/",
                "169\u{3002}254\u{3002}169\u{3002}254",
            ),
            ("http://10.1/", "10.1"),
            ("http://0/", "0"),
            ("http://100.100.100.0x0c8/", "100.100.100.0x0c8"),
            ("http://[fe80::1%25eth0]/", "[fe80::1%25eth0]"),
            ("http://[fe80::%zone1]", "[fe80::%zone1]"),
            ("http://[::ffff:a9fe:a9fe]/", "[::ffff:a9fe:a9fe]"),
            ("http://[64:ff9b::7f00:1]/", "[64:ff9b::7f00:1]"),
            ("http://[::]:8080/", "[::]"),
            ("http://[0:0:0:0:0:0:0:1]/", "[0:0:0:0:0:0:0:1]"),
            ("http://[::7f00:1]/", "[::7f00:1]"),
        ] {
            assert_eq!(obfuscated_internal_host(url), Some(host), "{url}");
        }
    }

    #[test]
    fn public_and_plain_addresses_and_other_text_pass() {
        for text in [
            // Plain spellings are the pattern rules'.
            "http://127.0.0.1/",
            "http://192.168.0.1/admin",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/",
            // Public addresses and names.
            "http://8.8.8.8/",
            "http://0x08.0x08.0x08.0x08/",
            "http://[2001:db8::1]/",
            "http://[::808:808]/",
            "https://example.com:8443/x",
            "http://10.example.com/",
            "http://1.2.3.4.5/",
            "http://256.1.1.1/",
            "http:0xabcdef",
            // Not a URL at the start.
            "see http://0x7f.1/ later",
            "ratio 3:0177",
            "mailto:0177.0.0.1",
            "time: 10.1",
            "",
        ] {
            assert_eq!(obfuscated_internal_host(text), None, "{text}");
        }
    }
}
