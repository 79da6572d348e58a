use super::blacklists::{
    AttributeType, BLACK_ATTR_EVENTS, BLACK_ATTRS, BLACK_TAGS, BLACK_URL_PROTOCOLS,
    html_decode_char_at,
};
use super::html5::{Html5Flags, Html5State, TokenType};

use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XssResult {
    Safe,
    Xss,
}

impl XssResult {
    pub fn is_injection(&self) -> bool {
        matches!(self, XssResult::Xss)
    }
}

impl fmt::Display for XssResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XssResult::Safe => write!(f, "Safe"),
            XssResult::Xss => write!(f, "XSS"),
        }
    }
}

pub struct XssDetector {
    // Currently stateless, but kept for future expansion
}

impl XssDetector {
    pub fn new() -> Self {
        Self {}
    }

    pub fn detect(&self, input: &[u8]) -> XssResult {
        // Test input across all 5 HTML parsing contexts
        let contexts = [
            Html5Flags::DataState,
            Html5Flags::ValueNoQuote,
            Html5Flags::ValueSingleQuote,
            Html5Flags::ValueDoubleQuote,
            Html5Flags::ValueBackQuote,
        ];

        for &context in &contexts {
            if Self::is_xss(input, context) {
                return XssResult::Xss;
            }
        }

        XssResult::Safe
    }

    pub fn is_xss(input: &[u8], flags: Html5Flags) -> bool {
        let mut html5 = Html5State::new(input, flags);
        let mut attr = AttributeType::None;

        while html5.next() {
            if html5.token_type != TokenType::AttrValue {
                attr = AttributeType::None;
            }

            if html5.token_type == TokenType::Doctype {
                return true;
            } else if html5.token_type == TokenType::TagNameOpen {
                if Self::is_black_tag(&html5.token_start[..html5.token_len]) {
                    return true;
                }
            } else if html5.token_type == TokenType::AttrName {
                attr = Self::is_black_attr(&html5.token_start[..html5.token_len]);
            } else if html5.token_type == TokenType::AttrValue {
                match attr {
                    AttributeType::None => {
                        // break equivalent 
                    }
                    AttributeType::Black => {
                        return true;
                    }
                    AttributeType::AttrUrl => {
                        if Self::is_black_url(&html5.token_start[..html5.token_len]) {
                            return true;
                        }
                    }
                    AttributeType::Style => {
                        return true;
                    }
                    AttributeType::AttrIndirect => {
                        // an attribute name is specified in a _value_
                        if Self::is_black_attr(&html5.token_start[..html5.token_len]) != AttributeType::None {
                            return true;
                        }
                    }
                }
                attr = AttributeType::None;
            } else if html5.token_type == TokenType::TagComment {
                // IE uses a "`" as a tag ending char
                if html5.token_start[..html5.token_len].contains(&b'`') {
                    return true;
                }

                // IE conditional comment
                if html5.token_len > 3 {
                    if html5.token_start[0] == b'[' &&
                        (html5.token_start[1] == b'i' || html5.token_start[1] == b'I') &&
                        (html5.token_start[2] == b'f' || html5.token_start[2] == b'F') {
                        return true;
                    }
                    if (html5.token_start[0] == b'x' || html5.token_start[0] == b'X') &&
                        (html5.token_start[1] == b'm' || html5.token_start[1] == b'M') &&
                        (html5.token_start[2] == b'l' || html5.token_start[2] == b'L') {
                        return true;
                    }
                }

                if html5.token_len > 5 {
                    // IE <?import pseudo-tag
                    if Self::cstrcasecmp_with_null(b"IMPORT", &html5.token_start[..6]) {
                        return true;
                    }

                    // XML Entity definition
                    if Self::cstrcasecmp_with_null(b"ENTITY", &html5.token_start[..6]) {
                        return true;
                    }
                }
            }
        }
        
        false
    }

    fn is_black_tag(tag_name: &[u8]) -> bool {
        if tag_name.len() < 3 {
            return false;
        }

        // Check explicit blacklist
        for &black_tag in BLACK_TAGS {
            if Self::cstrcasecmp_with_null(black_tag.as_bytes(), tag_name) {
                return true;
            }
        }

        // Check SVG tags (case insensitive) - match C's manual case checking exactly
        if tag_name.len() >= 3 {
            if (tag_name[0] == b's' || tag_name[0] == b'S') &&
               (tag_name[1] == b'v' || tag_name[1] == b'V') &&
               (tag_name[2] == b'g' || tag_name[2] == b'G') {
                return true;
            }
        }

        // Check XSL tags (case insensitive) - match C's manual case checking exactly
        if tag_name.len() >= 3 {
            if (tag_name[0] == b'x' || tag_name[0] == b'X') &&
               (tag_name[1] == b's' || tag_name[1] == b'S') &&
               (tag_name[2] == b'l' || tag_name[2] == b'L') {
                return true;
            }
        }

        false
    }

    fn is_black_attr(attr_name: &[u8]) -> AttributeType {
        if attr_name.len() < 2 {
            return AttributeType::None;
        }
        // (Rampart's patch: the name is looked up in an index of each list, where the
        // original compared it with each of the 300 event names in turn. In a quoted-attribute
        // context every word of prose is an attribute name, and words starting with `on` are
        // common.)

        // Check for event handlers (on* attributes) - match C's manual case checking exactly
        if attr_name.len() >= 5 {
            if (attr_name[0] == b'o' || attr_name[0] == b'O') &&
               (attr_name[1] == b'n' || attr_name[1] == b'N') {
                if let Some(atype) = listed_type(ListedNames::Events, &attr_name[2..]) {
                    return atype;
                }
            }

            // Check XMLNS and XLINK - use prefix matching like C (checks first 5 chars only)
            // (Rampart's patch: the comparison fails at once on a first byte that is neither
            // NUL, which it skips, nor an `x`.)
            if matches!(attr_name[0], 0 | b'x' | b'X')
                && (Self::cstrcasecmp_with_null_limited(b"XMLNS", attr_name, 5)
                    || Self::cstrcasecmp_with_null_limited(b"XLINK", attr_name, 5))
            {
                return AttributeType::Black;
            }
        }

        // Check other blacklisted attributes
        listed_type(ListedNames::Attributes, attr_name).unwrap_or(AttributeType::None)
    }

    fn is_black_url(url: &[u8]) -> bool {
        if url.is_empty() {
            return false;
        }

        // Skip leading whitespace and high-bit characters
        let mut start = 0;
        while start < url.len() {
            let ch = url[start];
            if ch <= 32 || ch >= 127 {
                start += 1;
            } else {
                break;
            }
        }

        if start >= url.len() {
            return false;
        }

        let url_trimmed = &url[start..];

        // Check dangerous protocols
        for &protocol in BLACK_URL_PROTOCOLS {
            if Self::htmlencode_startswith(protocol.as_bytes(), url_trimmed) {
                return true;
            }
        }

        false
    }

    #[allow(dead_code)] // Follows C implementation - may be used in future XSS detection features
    fn is_dangerous_comment(comment: &[u8]) -> bool {
        // IE uses backtick as tag ending character
        if comment.contains(&b'`') {
            return true;
        }

        if comment.len() > 3 {
            // IE conditional comment: [if 
            if comment.len() >= 3
                && comment[0] == b'['
                && (comment[1] == b'i' || comment[1] == b'I')
                && (comment[2] == b'f' || comment[2] == b'F')
            {
                return true;
            }

            // XML processing: xml
            if comment.len() >= 3
                && (comment[0] == b'x' || comment[0] == b'X')
                && (comment[1] == b'm' || comment[1] == b'M')
                && (comment[2] == b'l' || comment[2] == b'L')
            {
                return true;
            }
        }

        if comment.len() > 5 {
            // IE import pseudo-tag
            if Self::cstrcasecmp_with_null(b"IMPORT", &comment[..6]) {
                return true;
            }

            // XML entity definition
            if Self::cstrcasecmp_with_null(b"ENTITY", &comment[..6]) {
                return true;
            }
        }

        false
    }

    // Case-insensitive string comparison that ignores null bytes - prefix version
    // Replicates C's cstrcasecmp_with_null(pattern, input, n) where n limits input length
    fn cstrcasecmp_with_null_limited(pattern: &[u8], input: &[u8], n: usize) -> bool {
        let mut pattern_idx = 0;
        let mut input_idx = 0;
        let mut remaining = n;
        
        while remaining > 0 && input_idx < input.len() {
            let input_char = input[input_idx];
            input_idx += 1;
            remaining -= 1;
            
            // Skip null bytes in input (like C's cb == '\0')
            if input_char == 0 {
                continue;
            }
            
            // Always advance pattern pointer (like C's ca = a[ai++])
            if pattern_idx >= pattern.len() {
                return false; // Pattern exhausted but input continues within n chars
            }
            let pattern_char = pattern[pattern_idx];
            pattern_idx += 1;
            
            // Convert input character to uppercase (like C)
            let mut cb = input_char;
            if cb >= b'a' && cb <= b'z' {
                cb -= 0x20;
            }
            
            // Compare characters (like C's ca != cb)
            if pattern_char != cb {
                return false;
            }
        }
        
        // Check if pattern is fully consumed (like C's final ca = a[ai++]; ca == '\0')
        pattern_idx >= pattern.len()
    }

    // Case-insensitive string comparison that ignores null bytes
    // Replicates the exact behavior of C's cstrcasecmp_with_null function
    fn cstrcasecmp_with_null(pattern: &[u8], input: &[u8]) -> bool {
        let mut pattern_idx = 0;
        let mut input_idx = 0;
        
        // Loop through input length (like C's n-- > 0)
        while input_idx < input.len() {
            let input_char = input[input_idx];
            input_idx += 1;
            
            // Skip null bytes in input (like C's cb == '\0')
            if input_char == 0 {
                continue;
            }
            
            // Always advance pattern pointer (like C's ca = a[ai++])
            if pattern_idx >= pattern.len() {
                return false; // Pattern exhausted but input continues
            }
            let pattern_char = pattern[pattern_idx];
            pattern_idx += 1;
            
            // Convert input character to uppercase (like C)
            let mut cb = input_char;
            if cb >= b'a' && cb <= b'z' {
                cb -= 0x20;
            }
            
            // Compare characters (like C's ca != cb)
            if pattern_char != cb {
                return false;
            }
        }
        
        // Check if pattern is fully consumed (like C's final ca = a[ai++]; ca == '\0')
        // In C, this reads the next character and checks if it's null terminator
        if pattern_idx >= pattern.len() {
            return true; // Pattern fully consumed (equivalent to C's ca == '\0')
        } else {
            return false; // Pattern not fully consumed (equivalent to C's ca != '\0')
        }
    }

    // HTML-encoded string starts with pattern (case insensitive)
    fn htmlencode_startswith(pattern: &[u8], input: &[u8]) -> bool {
        let mut pattern_idx = 0;
        let mut input_pos = 0;
        let mut first = true;

        while input_pos < input.len() && pattern_idx < pattern.len() {
            let mut consumed = 0;
            let decoded_char = html_decode_char_at(&input[input_pos..], &mut consumed);
            
            input_pos += consumed;

            // Skip leading whitespace and control characters
            if first && decoded_char <= 32 {
                continue;
            }
            first = false;

            // Always ignore null characters
            if decoded_char == 0 {
                continue;
            }

            // Always ignore vertical tab characters  
            if decoded_char == 10 {
                continue;
            }

            // Convert to uppercase
            let mut char_to_compare = decoded_char;
            if char_to_compare >= (b'a' as i32) && char_to_compare <= (b'z' as i32) {
                char_to_compare -= 0x20;
            }

            if pattern[pattern_idx] as i32 != char_to_compare {
                return false;
            }

            pattern_idx += 1;
        }

        pattern_idx == pattern.len()
    }
}

impl Default for XssDetector {
    fn default() -> Self {
        Self::new()
    }
}
/// At least as long as every name of [`BLACK_ATTR_EVENTS`] and [`BLACK_ATTRS`] (the longest
/// has 44 bytes). (Rampart's patch.)
const MAX_LISTED_NAME: usize = 48;

/// `name` as `XssDetector::cstrcasecmp_with_null` compares it with a listed name: NUL bytes
/// left out and `a`-`z` upper-cased; `None` when longer than any listed name, which it then
/// equals none of. (Rampart's patch.)
fn folded_name<'b>(name: &[u8], buffer: &'b mut [u8; MAX_LISTED_NAME]) -> Option<&'b [u8]> {
    let mut len = 0;
    for &byte in name.iter().filter(|&&byte| byte != 0) {
        *buffer.get_mut(len)? = byte.to_ascii_uppercase();
        len += 1;
    }
    Some(&buffer[..len])
}

#[derive(Clone, Copy)]
enum ListedNames {
    Events,
    Attributes,
}

impl ListedNames {
    fn list(self) -> &'static [super::blacklists::StringType] {
        match self {
            ListedNames::Events => BLACK_ATTR_EVENTS,
            ListedNames::Attributes => BLACK_ATTRS,
        }
    }
}

/// The type of the first entry of `names` that `name` equals as `cstrcasecmp_with_null`
/// compares them ([`folded_name`]), as the original's scan in list order found it. (Rampart's
/// patch.)
#[cfg(feature = "std")]
fn listed_type(names: ListedNames, name: &[u8]) -> Option<AttributeType> {
    use std::sync::LazyLock;
    static EVENTS: LazyLock<NameIndex> = LazyLock::new(|| NameIndex::new(ListedNames::Events));
    static ATTRIBUTES: LazyLock<NameIndex> =
        LazyLock::new(|| NameIndex::new(ListedNames::Attributes));
    let index = match names {
        ListedNames::Events => &EVENTS,
        ListedNames::Attributes => &ATTRIBUTES,
    };
    // A name without NUL bytes folds to as many bytes, starting with its first upper-cased:
    // most are turned away by their empty bucket before being folded.
    if !name.contains(&0) && !index.may_hold(name) {
        return None;
    }
    let mut buffer = [0u8; MAX_LISTED_NAME];
    index.get(folded_name(name, &mut buffer)?)
}

/// A list's names grouped by first letter and length, so that a lookup compares a name with
/// the one to three listed names that could equal it. Every listed name starts with `A`-`Z`.
/// (Rampart's patch.)
#[cfg(feature = "std")]
struct NameIndex {
    /// Sorted by bucket, and within one in list order, the first of equal names only.
    entries: Vec<(&'static [u8], AttributeType)>,
    /// Per bucket, its range of `entries`.
    buckets: Vec<(u16, u16)>,
}

#[cfg(feature = "std")]
impl NameIndex {
    fn new(names: ListedNames) -> Self {
        let mut entries: Vec<(&'static [u8], AttributeType)> = Vec::new();
        for entry in names.list() {
            let name = entry.name.as_bytes();
            if !entries.iter().any(|&(listed, _)| listed == name) {
                entries.push((name, entry.atype));
            }
        }
        entries.sort_by_key(|&(name, _)| Self::bucket(name).expect("listed names fit a bucket"));
        let mut buckets = vec![(0u16, 0u16); 26 * (MAX_LISTED_NAME + 1)];
        for (at, &(name, _)) in entries.iter().enumerate() {
            let at = u16::try_from(at).expect("lists are short");
            let bucket = &mut buckets[Self::bucket(name).expect("listed names fit a bucket")];
            if bucket.0 == bucket.1 {
                *bucket = (at, at);
            }
            bucket.1 = at + 1;
        }
        Self { entries, buckets }
    }

    fn bucket(name: &[u8]) -> Option<usize> {
        Self::bucket_of(*name.first()?, name.len())
    }

    /// The bucket of a folded name of `len` bytes that starts with `first`.
    fn bucket_of(first: u8, len: usize) -> Option<usize> {
        let letter = first.is_ascii_uppercase().then(|| first - b'A')?;
        (len <= MAX_LISTED_NAME).then(|| usize::from(letter) * (MAX_LISTED_NAME + 1) + len)
    }

    /// Whether a listed name may equal `name` once folded, judged by its first byte and
    /// length alone; for a name without NUL bytes.
    fn may_hold(&self, name: &[u8]) -> bool {
        name.first()
            .and_then(|first| Self::bucket_of(first.to_ascii_uppercase(), name.len()))
            .is_some_and(|bucket| self.buckets[bucket].0 != self.buckets[bucket].1)
    }

    fn get(&self, name: &[u8]) -> Option<AttributeType> {
        let (start, end) = self.buckets[Self::bucket(name)?];
        self.entries[usize::from(start)..usize::from(end)]
            .iter()
            .find(|&&(listed, _)| listed == name)
            .map(|&(_, atype)| atype)
    }
}

/// Without `std`, the list is scanned in order, comparing folded names. (Rampart's patch.)
#[cfg(not(feature = "std"))]
fn listed_type(names: ListedNames, name: &[u8]) -> Option<AttributeType> {
    let mut buffer = [0u8; MAX_LISTED_NAME];
    let name = folded_name(name, &mut buffer)?;
    names
        .list()
        .iter()
        .find(|entry| entry.name.as_bytes() == name)
        .map(|entry| entry.atype)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original `is_black_attr`: each list scanned in order with `cstrcasecmp_with_null`.
    fn scanned(attr_name: &[u8]) -> AttributeType {
        if attr_name.len() < 2 {
            return AttributeType::None;
        }
        if attr_name.len() >= 5 {
            if attr_name[..2].eq_ignore_ascii_case(b"on") {
                for event in BLACK_ATTR_EVENTS {
                    if XssDetector::cstrcasecmp_with_null(event.name.as_bytes(), &attr_name[2..]) {
                        return event.atype;
                    }
                }
            }
            if XssDetector::cstrcasecmp_with_null_limited(b"XMLNS", attr_name, 5)
                || XssDetector::cstrcasecmp_with_null_limited(b"XLINK", attr_name, 5)
            {
                return AttributeType::Black;
            }
        }
        for attr in BLACK_ATTRS {
            if XssDetector::cstrcasecmp_with_null(attr.name.as_bytes(), attr_name) {
                return attr.atype;
            }
        }
        AttributeType::None
    }

    #[test]
    fn the_indexed_lookup_finds_what_the_scan_found() {
        let listed = BLACK_ATTR_EVENTS
            .iter()
            .map(|event| format!("on{}", event.name))
            .chain(BLACK_ATTRS.iter().map(|attr| attr.name.to_owned()));
        let mut names: Vec<Vec<u8>> = Vec::new();
        for name in listed {
            let lower = name.to_ascii_lowercase();
            let mut with_nul = lower.clone().into_bytes();
            with_nul.insert(with_nul.len() / 2, 0);
            names.extend([
                name.clone().into_bytes(),
                lower.clone().into_bytes(),
                with_nul,
                format!("{lower}x").into_bytes(),
                lower[1..].as_bytes().to_vec(),
                lower[..lower.len() - 1].as_bytes().to_vec(),
            ]);
        }
        names.extend(
            [
                "", "o", "on", "onx", "only", "once", "\0on\0load", "on\0load", "o\0nload",
                "xmlnsfoo", "\0xmlns", "XLink:href", "x\0link", "x", "to", "the",
            ]
                .map(|name| name.as_bytes().to_vec()),
        );
        names.push("on".bytes().chain(std::iter::repeat_n(b'a', 60)).collect());
        for name in &names {
            assert_eq!(
                XssDetector::is_black_attr(name),
                scanned(name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
