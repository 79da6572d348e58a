//! Redaction: finds personal data and secrets in free text (log lines, audit details, error
//! messages) and replaces them before the text is written anywhere. One pattern with one
//! branch per kind finds candidates in a single pass; each candidate is then confirmed by
//! its checksum or parser (Luhn for cards, mod 97 for IBANs, PESEL and German tax id check
//! digits, IP address parsing), so ordinary numbers are left alone.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use regex::{Captures, Regex};
use serde::Deserialize;

use super::pseudonym::Pseudonymizer;

/// How client addresses appear after redaction.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IpMode {
    /// The last octet (IPv4) or everything after the /48 (IPv6) zeroed: `203.0.113.0`.
    #[default]
    Mask,
    /// A keyed pseudonym: `ip-3f9a0c1b2d4e5f60`, the same for the same address.
    Pseudonymize,
    /// Unchanged.
    Keep,
}

/// The candidates, one named branch per kind; at one position the first branch wins, so the
/// more specific kinds come first.
static CANDIDATES: LazyLock<Regex> = LazyLock::new(|| {
    let branches = [
        // A JSON Web Token: three base64url parts, the first two JSON objects (`eyJ`).
        r"(?P<jwt>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)",
        // `password=...`, `"token": "..."`, `Authorization: Bearer ...`: the name stays.
        r#"(?i)(?P<secret_name>(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|authorization|cookie)\\?["']?\s*[=:]\s*\\?["']?)(?P<secret_value>(?:(?:bearer|basic)\s+)?[^&\s"'\\,;}]+)"#,
        // Well-known API key formats: Rampart's, OpenAI's, AWS access key ids, GitHub,
        // Slack, GitLab.
        r"(?P<api_key>rk_[A-Za-z0-9_-]{16,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,})",
        r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
        r"(?P<iban>(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b))",
        // Card numbers start with 2-6 (Mastercard, Amex, Visa, Discover...), which keeps
        // millisecond timestamps (`17...`) out.
        r"(?P<card>(?-u:\b)[2-6][0-9](?:[ -]?[0-9]){11,17}(?-u:\b))",
        // PESEL and the German tax id are 11 digits (the tax id also as `12 345 678 901`).
        r"(?P<id11>(?-u:\b)(?:[0-9]{11}|[0-9]{2} [0-9]{3} [0-9]{3} [0-9]{3})(?-u:\b))",
        // International numbers (`+48 601 234 567`, `0049 30 1234567`) and `(555) 123-4567`.
        r"(?P<phone>(?:\+|(?-u:\b)00)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,6}(?-u:\b)|\([0-9]{3}\) ?[0-9]{3}-[0-9]{4}(?-u:\b))",
        r"(?P<ipv4>(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b))",
        r"(?P<ipv6>(?i:[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}))",
    ];
    Regex::new(&branches.join("|")).expect("the redaction patterns compile")
});

/// Replaces personal data and secrets; cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    pseudonyms: Option<Arc<Pseudonymizer>>,
    ip_mode: IpMode,
}

impl Redactor {
    /// Masks everything, pseudonyms nowhere: for text without a key at hand (error messages).
    pub fn masking() -> Self {
        Self::default()
    }

    /// E-mail addresses (and addresses, when `ip_mode` says so) become keyed pseudonyms.
    pub fn new(pseudonyms: Arc<Pseudonymizer>, ip_mode: IpMode) -> Self {
        Self {
            pseudonyms: Some(pseudonyms),
            ip_mode,
        }
    }

    /// `text` with every confirmed finding replaced; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        CANDIDATES.replace_all(text, |caps: &Captures<'_>| self.replacement(text, caps))
    }

    fn replacement(&self, text: &str, caps: &Captures<'_>) -> String {
        let whole = caps.get(0).map_or("", |m| m.as_str());
        let kept = || whole.to_owned();
        // The digits after a decimal point are a number's fraction, not a card, an id or a
        // phone number: a JSON log line's `"duration_ms":31.488478000000009` stays a number.
        let numeric = ["card", "id11", "phone"]
            .iter()
            .any(|kind| caps.name(kind).is_some());
        if numeric
            && caps
                .get(0)
                .is_some_and(|m| follows_a_decimal_point(text, m.start()))
        {
            return kept();
        }
        if caps.name("jwt").is_some() {
            return "[jwt]".into();
        }
        if let (Some(name), Some(_)) = (caps.name("secret_name"), caps.name("secret_value")) {
            return format!("{}[redacted]", name.as_str());
        }
        if caps.name("api_key").is_some() {
            return "[api-key]".into();
        }
        if caps.name("email").is_some() {
            return match &self.pseudonyms {
                Some(pseudonyms) => pseudonyms.token("email", &whole.to_lowercase()),
                None => "[email]".into(),
            };
        }
        if caps.name("iban").is_some() {
            return if iban_is_valid(whole) {
                "[iban]".into()
            } else {
                kept()
            };
        }
        if caps.name("card").is_some() {
            return if luhn_is_valid(whole) {
                "[card]".into()
            } else {
                kept()
            };
        }
        if caps.name("id11").is_some() {
            let digits: Vec<u8> = whole
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect();
            return if pesel_is_valid(&digits) {
                "[pesel]".into()
            } else if german_tax_id_is_valid(&digits) {
                "[tax-id]".into()
            } else {
                kept()
            };
        }
        if caps.name("phone").is_some() {
            let digits = whole.bytes().filter(u8::is_ascii_digit).count();
            return if (8..=15).contains(&digits) {
                "[phone]".into()
            } else {
                kept()
            };
        }
        // ipv4 or ipv6
        match whole.parse::<IpAddr>() {
            Ok(ip) => self.address(ip).unwrap_or_else(kept),
            Err(_) => kept(),
        }
    }

    /// The replacement of a client address; `None` to keep it. Loopback and unspecified
    /// addresses are the gateway's own (listeners, local upstreams), not anyone's data.
    fn address(&self, ip: IpAddr) -> Option<String> {
        let ip = ip.to_canonical();
        if ip.is_loopback() || ip.is_unspecified() {
            return None;
        }
        match self.ip_mode {
            IpMode::Keep => None,
            IpMode::Pseudonymize => match &self.pseudonyms {
                Some(pseudonyms) => Some(pseudonyms.ip(ip)),
                None => Some(mask_ip(ip)),
            },
            IpMode::Mask => Some(mask_ip(ip)),
        }
    }
}

/// `203.0.113.0` for `203.0.113.9`; the /48 for IPv6.
fn mask_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
        }
    }
}

fn luhn_is_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616: move the country code and check digits to the end, letters become 10..35,
/// and the number mod 97 is 1.
fn iban_is_valid(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for &b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// PESEL: weights 1-3-7-9 over the first ten digits, check digit last, and a real birth
/// date (the month carries the century: +20 for the 2000s, +80 for the 1800s, ...).
fn pesel_is_valid(digits: &[u8]) -> bool {
    if digits.len() != 11 {
        return false;
    }
    const WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = digits[..10]
        .iter()
        .zip(WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    if (10 - sum % 10) % 10 != u32::from(digits[10]) {
        return false;
    }
    let month = digits[2] * 10 + digits[3];
    let day = digits[4] * 10 + digits[5];
    (1..=12).contains(&(month % 20)) && (1..=31).contains(&day)
}

/// The German tax id (Steuerliche Identifikationsnummer): no leading zero, one digit of the
/// first ten repeated (two or three times), and an ISO 7064 MOD 11,10 check digit.
fn german_tax_id_is_valid(digits: &[u8]) -> bool {
    if digits.len() != 11 || digits[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &d in &digits[..10] {
        counts[usize::from(d)] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c > 1).count();
    if repeated != 1 || counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product: u32 = 10;
    for &d in &digits[..10] {
        let mut sum = (u32::from(d) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == u32::from(digits[10])
}

/// `text` has a digit and a `.` just before `at`.
fn follows_a_decimal_point(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    at >= 2 && bytes[at - 1] == b'.' && bytes[at - 2].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        Redactor::masking().redact(text).into_owned()
    }

    #[test]
    fn checksums_accept_real_numbers_and_refuse_neighbours() {
        assert!(luhn_is_valid("4111 1111 1111 1111"));
        assert!(!luhn_is_valid("4111 1111 1111 1112"));
        assert!(iban_is_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_is_valid("PL61109010140000071219812874"));
        assert!(!iban_is_valid("DE89 3704 0044 0532 0130 01"));
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<u8>>();
        assert!(pesel_is_valid(&digits("44051401359")));
        assert!(!pesel_is_valid(&digits("44051401358")));
        assert!(german_tax_id_is_valid(&digits("86095742719")));
        assert!(!german_tax_id_is_valid(&digits("86095742718")));
    }

    #[test]
    fn fractions_of_numbers_are_no_personal_data() {
        // A Luhn-valid fraction, and one that opens like an international phone number.
        let line = r#"{"bytes":293,"duration_ms":31.488478000000009,"ratio":1.0049301234567}"#;
        assert_eq!(masked(line), line);
        assert_eq!(masked("card 488478000000009"), "card [card]");
    }

    #[test]
    fn addresses_are_masked_pseudonymized_or_kept() {
        let pseudonyms = Arc::new(Pseudonymizer::new(&[9; 32]));
        let line = "client 203.0.113.9 and 2001:db8:5:6::17 via 127.0.0.1:8080";
        assert_eq!(
            masked(line),
            "client 203.0.113.0 and 2001:db8:5:: via 127.0.0.1:8080"
        );
        let pseudonymized = Redactor::new(pseudonyms.clone(), IpMode::Pseudonymize).redact(line);
        assert!(pseudonymized.contains(&pseudonyms.ip("203.0.113.9".parse().unwrap())));
        assert!(!pseudonymized.contains("203.0.113"));
        assert_eq!(Redactor::new(pseudonyms, IpMode::Keep).redact(line), line);
    }

    #[test]
    fn emails_become_stable_pseudonyms_with_a_key() {
        let redactor = Redactor::new(Arc::new(Pseudonymizer::new(&[9; 32])), IpMode::Mask);
        let a = redactor.redact("from Ana.Nowak@example.com");
        let b = redactor.redact("to ana.nowak@example.com");
        assert!(a.starts_with("from email-"), "{a}");
        assert_eq!(a.trim_start_matches("from "), b.trim_start_matches("to "));
        assert_eq!(masked("mail ana@example.com now"), "mail [email] now");
    }

    #[test]
    fn the_corpus_is_redacted_and_ordinary_text_is_not() {
        let redactor = Redactor::new(Arc::new(Pseudonymizer::new(&[9; 32])), IpMode::Mask);
        let mut kinds = std::collections::BTreeMap::new();
        let mut failures = Vec::new();
        for line in include_str!("../../tests/corpus/pii.tsv").lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let (kind, text) = (fields[0], fields[1]);
            let redacted = redactor.redact(text);
            if kind == "none" && redacted != text {
                failures.push(format!("changed: {text} -> {redacted}"));
            } else if kind != "none" && redacted.contains(fields[2]) {
                failures.push(format!("{kind} left in: {text} -> {redacted}"));
            }
            *kinds.entry(kind).or_insert(0) += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        for kind in [
            "email", "phone", "iban", "card", "ip", "jwt", "api_key", "pesel", "tax_id", "secret",
            "none",
        ] {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) >= 2,
                "{kind}: {kinds:?}"
            );
        }
    }
}
