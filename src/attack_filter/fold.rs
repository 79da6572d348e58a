//! Per-language canonical forms: the evasions each interpreter forgives, removed so one
//! pattern covers every spelling. All functions take already decoded, lowercased text.

use std::borrow::Cow;

use super::quoted_code::without_quoted_code;
use super::text_tags::without_text_tags;
use super::{Needle, has_any_byte};

static COMMENT_OPEN: Needle = Needle::new("/*");
static COMMENT_CLOSE: Needle = Needle::new("*/");
static DOUBLE_SPACE: Needle = Needle::new("  ");

/// SQL: comments become spaces (`un/**/ion` stays split, as MySQL sees it, but `union/**/select`
/// reads `union select`); MySQL's executable comments `/*!50000select*/` keep their content;
/// whitespace runs (also `+`, which many apps decode as space, and the control characters
/// SQL Server reads as blanks, sqlmap's `space2mssqlblank`) become one space.
pub fn sql(text: &str) -> Cow<'_, str> {
    // Most values have nothing to fold: no allocation for them on the request path.
    if !COMMENT_OPEN.is_in(text)
        && !has_blank_control(text)
        && !has_any_byte(text, b"+")
        && !DOUBLE_SPACE.is_in(text)
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = COMMENT_OPEN.find(rest) {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = COMMENT_CLOSE.find(after);
        let inner = &after[..end.unwrap_or(after.len())];
        if let Some(executable) = inner.strip_prefix('!') {
            out.push(' ');
            out.push_str(executable.trim_start_matches(|c: char| c.is_ascii_digit()));
        }
        out.push(' ');
        rest = end.map_or("", |end| &after[end + 2..]);
    }
    out.push_str(rest);
    Cow::Owned(collapse_whitespace(&out))
}

/// Line comments where they stand for a space between two words, as sqlmap's `space2hash`
/// and `space2dash` put them (`1'#x\nand#x\n'1'='1`, `1--x\nand--x\n1 like 1`): a comment
/// against the word before it, of at most 32 bytes without a space, that a line break ends,
/// becomes a space; `None` when there is none. The comments are MySQL's `#` and standard
/// SQL's `--` (which MySQL reads as one only before a space, so not here), the latter only
/// after a word, a quote or a `)` and before more: a `--` that ends an injection is left to
/// the rules that read it, and a Markdown table's `|---|` is no comment. Since only some
/// databases read each, this is a second SQL form, not part of [`sql`]; a Markdown heading or
/// a hashtag (after a space or a line break) is no such comment.
pub fn line_comments_as_spaces(text: &str) -> Option<String> {
    const MAX_COMMENT: usize = 32;
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let closes_a_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'\'' | b'"' | b')');
    for at in memchr::memchr2_iter(b'#', b'-', bytes) {
        if at < copied || at == 0 || bytes[at - 1].is_ascii_whitespace() {
            continue;
        }
        let dashes = bytes[at] == b'-';
        if dashes && (bytes.get(at + 1) != Some(&b'-') || !closes_a_token(bytes[at - 1])) {
            continue;
        }
        let comment = &bytes[at..bytes.len().min(at + MAX_COMMENT + 1)];
        let Some(end) = comment.iter().position(|&b| b == b'\n') else {
            continue;
        };
        if comment[..end].contains(&b' ') {
            continue;
        }
        let next = bytes.get(at + end + 1);
        if dashes && !next.is_some_and(|&b| !b.is_ascii_whitespace() && b != b'-') {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..at]);
        out.push(' ');
        copied = at + end + 1;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(collapse_whitespace(&out))
}

/// Shell: quotes, backslashes and carets inside words vanish (`c'a't`, `c\at`, `c^at` are
/// `cat`), `$IFS`-style separators and empty expansions (`$@`, `$9`) become spaces or nothing,
/// and brace lists `{cat,/etc/passwd}` read as words. Markdown code quoted in prose is left
/// out ([`super::quoted_code`]): it is text about commands; HTML's text tags around it are
/// spaces ([`super::text_tags`]).
pub fn shell(text: &str) -> Cow<'_, str> {
    match without_text_tags(text) {
        // The untagged copy is the result when nothing more folds: no second copy of it.
        Some(untagged) => match shell_of_prose(&untagged) {
            Cow::Borrowed(_) => Cow::Owned(untagged),
            Cow::Owned(folded) => Cow::Owned(folded),
        },
        None => shell_of_prose(text),
    }
}

fn shell_of_prose(text: &str) -> Cow<'_, str> {
    match without_quoted_code(text) {
        Some(prose) => match shell_of(&prose) {
            Cow::Borrowed(_) => Cow::Owned(prose),
            Cow::Owned(folded) => Cow::Owned(folded),
        },
        None => shell_of(text),
    }
}

fn shell_of(text: &str) -> Cow<'_, str> {
    if unchanged_by_shell(text) {
        return Cow::Borrowed(text);
    }
    shell_folded(text)
}

/// True when [`shell_folded`] would return `text` as it is: no byte it rewrites outside a
/// brace list, no double space, and every quote a prose apostrophe (`wasn't`). Most prose is
/// decided by a few vector searches, without copying it into a new string and comparing.
fn unchanged_by_shell(text: &str) -> bool {
    let bytes = text.as_bytes();
    !has_any_byte(text, b"\\^${[\t\r`")
        && !DOUBLE_SPACE.is_in(text)
        && memchr::memchr2_iter(b'\'', b'"', bytes).all(|at| is_prose_apostrophe(bytes, at))
}

fn shell_folded(text: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut in_brace_list = false;
    let mut brace_lists = BraceLists::new(bytes);
    let special = match memchr::memchr(b'{', bytes) {
        Some(_) => &SHELL_SPECIAL,
        None => &SHELL_SPECIAL_WITHOUT_BRACES,
    };
    let mut i = 0;
    loop {
        // Ordinary text is copied a run at a time; every special byte is ASCII, so the run
        // ends on a character boundary.
        let run = bytes[i..]
            .iter()
            .position(|&b| special[usize::from(b)])
            .unwrap_or(bytes.len() - i);
        out.push_str(&text[i..i + run]);
        i += run;
        if i == bytes.len() {
            break;
        }
        let rest = &text[i..];
        match bytes[i] {
            b'$' if let Some(len) = ifs_len(rest) => {
                out.push(' ');
                i += len;
                continue;
            }
            b'\'' | b'"' if is_prose_apostrophe(bytes, i) => out.push(char::from(bytes[i])),
            b'\'' | b'"' | b'\\' | b'^' => {}
            // `$@`, `$*` and positional parameters expand to nothing outside functions; a
            // price (`$15`, `$4.99`) is left as it is.
            b'$' if matches!(bytes.get(i + 1), Some(b'@' | b'*'))
                || bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && !is_price(&bytes[i + 1..]) =>
            {
                i += 1
            }
            // Bash's ANSI-C and locale quoting (`$'\x63at'`, once decoded `$'cat'`) quote
            // like plain quotes.
            b'$' if matches!(bytes.get(i + 1), Some(b'\'' | b'"')) => {}
            // A variable inside a word (`cat$u /etc$u/passwd`, `ca${x}t`) is an unset one that
            // splits a command's name from the rules; it expands to nothing.
            b'$' if i > 0
                && bytes[i - 1].is_ascii_alphanumeric()
                && let Some(len) = inner_variable_len(rest) =>
            {
                i += len;
                continue;
            }
            // An empty substitution inside a word (`who$()ami`) runs nothing and expands to
            // nothing.
            b'$' if i > 0 && bytes[i - 1].is_ascii_alphanumeric() && rest.starts_with("$()") => {
                i += 3;
                continue;
            }
            b'`' if i > 0
                && bytes[i - 1].is_ascii_alphanumeric()
                && rest.starts_with("``")
                && bytes.get(i + 2).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                i += 2;
                continue;
            }
            // Glob classes: `/etc/pa[s]swd` is `/etc/passwd`; wider classes stand for `?`.
            b'[' if rest.len() >= 3
                && rest.as_bytes()[2] == b']'
                && rest.as_bytes()[1] != b'!'
                && rest.as_bytes()[1].is_ascii() =>
            {
                out.push(char::from(rest.as_bytes()[1]));
                i += 3;
                continue;
            }
            b'{' if brace_lists.opens_list(i) => {
                in_brace_list = true;
                out.push(' ');
            }
            b',' | b'}' if in_brace_list => {
                in_brace_list = bytes[i] == b',';
                out.push(' ');
            }
            b'\t' | b'\r' => out.push(' '),
            other => out.push(char::from(other)),
        }
        i += 1;
    }
    let folded = collapse_spaces(out);
    // A stray `}` or `$` changes nothing: then the caller need not read the text twice.
    if folded == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(folded)
    }
}

/// The apostrophe of `wasn't` or `I'd`: a lone quote between two letters, with no other quote
/// in its word and more words after it. To a shell it opens a quoted span that can only close
/// in a later word, so the command it would hide (`ca't /etc/passwd`) becomes one word holding
/// a space, which runs nothing. Keeping it leaves prose unchanged by the fold, which spares a
/// second scan of the text. A lone quote in the value's last word is still removed: a quote
/// the surrounding command supplies may close it (`x'; i'd` + `'`).
fn is_prose_apostrophe(bytes: &[u8], at: usize) -> bool {
    let is_letter = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphabetic);
    if at == 0 || !is_letter(at - 1) || !is_letter(at + 1) {
        return false;
    }
    // Both searches stop at another quote as well as at the word's end: a word of many quotes
    // (`a'a'a'…`) then costs one pass in all, not one per quote.
    let is_quote = |b: u8| matches!(b, b'\'' | b'"' | b'`');
    let stops = |b: &u8| b.is_ascii_whitespace() || is_quote(*b);
    if bytes[..at]
        .iter()
        .rev()
        .find(|b| stops(b))
        .is_some_and(|&b| is_quote(b))
    {
        return false;
    }
    let Some(end) = bytes[at + 1..]
        .iter()
        .position(stops)
        .map(|len| at + 1 + len)
    else {
        return false;
    };
    // More words follow: whitespace here, then something that is not.
    !is_quote(bytes[end]) && bytes[end..].iter().any(|b| !b.is_ascii_whitespace())
}

/// `15`, `4.99`, `1,000` after a `$`: a price, where a shell would read `$1` and a digit,
/// which can hide no letter of a command.
fn is_price(after_dollar: &[u8]) -> bool {
    match after_dollar {
        [_, next, ..] if next.is_ascii_digit() => true,
        [_, b'.' | b',', digit, ..] => digit.is_ascii_digit(),
        _ => false,
    }
}

/// Answers whether the `{` at a position opens a brace list (`{a,b}`: a `,` before the next
/// `}`). Positions are asked in increasing order, so each search resumes where the last one
/// ended and a run of `{{{{…` costs one pass, not one pass per brace.
struct BraceLists<'a> {
    bytes: &'a [u8],
    next_close: usize,
    next_comma: usize,
}

impl<'a> BraceLists<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        // Every `{` is asked about from the byte after it, so 0 is never still ahead.
        Self {
            bytes,
            next_close: 0,
            next_comma: 0,
        }
    }

    fn opens_list(&mut self, open: usize) -> bool {
        let from = open + 1;
        let close = next_at(self.bytes, b'}', from, &mut self.next_close);
        close < self.bytes.len() && next_at(self.bytes, b',', from, &mut self.next_comma) < close
    }
}

/// Position of the first `byte` at or after `from` (the length when none), reusing `cached`
/// when it is still ahead.
fn next_at(bytes: &[u8], byte: u8, from: usize, cached: &mut usize) -> usize {
    if *cached < from {
        *cached = memchr::memchr(byte, &bytes[from..]).map_or(bytes.len(), |at| from + at);
    }
    *cached
}

/// The bytes [`shell`] may rewrite.
const SHELL_SPECIAL: [bool; 256] = byte_set(b"'\"\\^${}[,\t\r`");

/// The same without `,` and `}`, which it rewrites only inside a brace list: for text without
/// a `{`, where prose's commas would otherwise end every run of ordinary text.
const SHELL_SPECIAL_WITHOUT_BRACES: [bool; 256] = byte_set(b"'\"\\^$[\t\r`");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// The length of `$name` or `${name}` at the start of `text`, a name of a letter or `_` and
/// then word characters.
fn inner_variable_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let braced = bytes.get(1) == Some(&b'{');
    let start = if braced { 2 } else { 1 };
    let first = *bytes.get(start)?;
    if !(first.is_ascii_lowercase() || first == b'_') {
        return None;
    }
    let name = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    if braced {
        (bytes.get(start + name) == Some(&b'}')).then_some(start + name + 1)
    } else {
        Some(start + name)
    }
}

/// Length of an `$IFS` / `${IFS}` / `$IFS$9` separator at the start of `text`.
fn ifs_len(text: &str) -> Option<usize> {
    for form in ["${ifs}", "$ifs"] {
        if text.starts_with(form) {
            let mut len = form.len();
            let rest = &text.as_bytes()[len..];
            if rest.first() == Some(&b'$') && rest.get(1).is_some_and(u8::is_ascii_digit) {
                len += 2;
            }
            return Some(len);
        }
    }
    None
}

/// Log4j lookups: `${lower:j}`, `${upper:N}`, `${::-d}`, `${env:X:-i}`, `${date:'j'}` and
/// friends resolve to the letters they hide, innermost first, so `${${lower:j}ndi:` reads
/// `${jndi:`.
pub fn log4j(text: &str) -> String {
    let mut current = text.to_owned();
    // Each pass resolves the innermost lookups; nesting deeper than this is not plausible.
    for _ in 0..8 {
        let Some(next) = resolve_innermost(&current) else {
            break;
        };
        current = next;
    }
    current
}

fn resolve_innermost(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    // Each `}` closes the nearest `${` before it: that lookup has nothing nested inside.
    while let Some(close) = rest.find('}') {
        let head = &rest[..close];
        match head.rfind("${") {
            Some(open) => {
                out.push_str(&head[..open]);
                match lookup_value(&head[open + 2..]) {
                    Some(value) => {
                        out.push_str(&value);
                        changed = true;
                    }
                    None => out.push_str(&rest[open..=close]),
                }
            }
            None => out.push_str(&rest[..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// What a harmless-looking lookup evaluates to; `None` for lookups that stay (like `jndi:`).
fn lookup_value(inner: &str) -> Option<String> {
    let (prefix, arg) = inner.split_once(':')?;
    match prefix.trim() {
        "lower" | "upper" => Some(arg.to_owned()),
        // `${::-x}`, `${env:NOPE:-x}`, `${sys:x:-y}`: the default after `:-`.
        "" | "env" | "sys" | "main" | "ctx" | "bundle" | "k8s" | "docker" | "spring" | "web"
        | "jvmrunargs" | "map" | "sd" | "event" | "marker" | "java" | "log4j" => arg
            .split_once(":-")
            .map(|(_, default)| default.to_owned())
            .or_else(|| arg.strip_prefix('-').map(str::to_owned)),
        "date" => Some(arg.trim_matches('\'').to_owned()),
        _ => None,
    }
}

/// Runs of spaces become one; line breaks stay, since they separate shell commands.
fn collapse_spaces(text: String) -> String {
    if !DOUBLE_SPACE.is_in(&text) {
        return text;
    }
    String::from_utf8(without_repeated_spaces(text.as_bytes()))
        .expect("only ASCII spaces were dropped")
}

/// `bytes` with every run of spaces cut to one: the text between runs is copied whole, found
/// with a vector search for two spaces.
fn without_repeated_spaces(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut copied = 0;
    for double in DOUBLE_SPACE.find_iter(bytes) {
        if double < copied {
            continue;
        }
        // Keep the run's first space, skip the rest.
        out.extend_from_slice(&bytes[copied..=double]);
        copied = double
            + bytes[double..]
                .iter()
                .position(|&byte| byte != b' ')
                .unwrap_or(bytes.len() - double);
    }
    out.extend_from_slice(&bytes[copied..]);
    out
}

fn collapse_whitespace(text: &str) -> String {
    // Three passes that each cost about a byte's instruction or less, where reading character
    // by character cost ten: every blank becomes spaces (the ASCII ones in a byte map that
    // the compiler vectorizes, the rare Unicode ones where their lead bytes are), then runs of
    // spaces are cut to one.
    let mut spaced: Vec<u8> = text
        .bytes()
        .map(|byte| {
            // `+` is a space to every form decoder, and `union+select` in a path or raw body
            // reaches apps that decode it as one; no SQL keyword needs a literal `+` beside
            // it. ASCII's whitespace is among the blank controls.
            if byte == b'+' || is_blank_control_byte(byte) {
                b' '
            } else {
                byte
            }
        })
        .collect();
    // Unicode's other whitespace (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
    // U+202F, U+205F, U+3000) starts with one of these four bytes.
    for lead in memchr::memchr3_iter(0xc2, 0xe1, 0xe2, text.as_bytes())
        .chain(memchr::memchr_iter(0xe3, text.as_bytes()))
    {
        if let Some(c) = text.get(lead..).and_then(|rest| rest.chars().next())
            && c.is_whitespace()
        {
            spaced[lead..lead + c.len_utf8()].fill(b' ');
        }
    }
    String::from_utf8(without_repeated_spaces(&spaced))
        .expect("whole characters were kept or made spaces")
}

/// A control character SQL Server reads as a blank between tokens (`1%05union%07select`):
/// every C0 control but NUL, which ends a string to C and is a finding of its own.
fn is_blank_control_byte(byte: u8) -> bool {
    // 0x01..=0x1f, as one comparison the compiler vectorizes in `has_blank_control`.
    byte.wrapping_sub(1) < 0x1f
}

/// Whether `text` holds a [`is_blank_control_byte`] character (tab and line breaks included): one
/// pass without an early exit, which the compiler vectorizes.
fn has_blank_control(text: &str) -> bool {
    text.bytes()
        .fold(false, |seen, b| seen | is_blank_control_byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of every script and blank: the corpora's values and a few edge cases.
    fn mixed_texts() -> impl Iterator<Item = &'static str> {
        include_str!("../../tests/corpus/benign.txt")
            .lines()
            .chain(include_str!("../../tests/corpus/naughty-strings/blns.txt").lines())
            .chain([
                "",
                "+",
                "  a  ",
                "x++y",
                "\u{1}\u{1f}z\t\n\r",
                "a\u{a0}\u{2003} \u{3000}b\u{1680}c\u{205f}d\u{202f}e\u{200b}f",
                "é  ü\n\tß\u{85}",
                "日本語 テキスト\u{2028}改行",
            ])
    }

    #[test]
    fn whitespace_collapses_as_it_does_read_character_by_character() {
        let by_character = |text: &str| {
            let mut out = String::new();
            let mut space = false;
            for c in text.chars() {
                let blank = c.is_whitespace() || c == '+' || ('\u{1}'..='\u{1f}').contains(&c);
                if !blank {
                    out.push(c);
                } else if !space {
                    out.push(' ');
                }
                space = blank;
            }
            out
        };
        for text in mixed_texts() {
            assert_eq!(collapse_whitespace(text), by_character(text), "{text:?}");
        }
    }

    /// The shortcut may only skip work: wherever it says "unchanged", the fold agrees.
    #[test]
    fn the_unchanged_shortcut_agrees_with_the_fold() {
        let benign = include_str!("../../tests/corpus/benign.txt");
        let mut shortcut_taken = 0;
        let samples = benign.lines().chain([
            "I wasn't there, but I'd go again",
            "it's mine",
            "x'; i'd",
            "ca't /etc/passwd now",
            "a'a'a'a b",
            "{a,b} and c",
            "say \"hi\" there",
            "don't  stop",
            "price $15, not $1",
        ]);
        for text in samples {
            let text = text.to_lowercase();
            if unchanged_by_shell(&text) {
                shortcut_taken += 1;
                assert_eq!(shell_folded(&text), text.as_str(), "{text}");
            }
        }
        assert!(shortcut_taken > 100, "{shortcut_taken}");
    }

    #[test]
    fn sql_comments_fold_to_spaces_and_executable_comments_keep_content() {
        assert_eq!(sql("1/**/union/**/select"), "1 union select");
        assert_eq!(sql("1 /*!50000union*/ /*!select*/ 2"), "1 union select 2");
        assert_eq!(sql("a\n\t b"), "a b");
        assert_eq!(sql("1\u{5}union\u{7}select\u{1f}1"), "1 union select 1");
        assert_eq!(sql("a\0b"), "a\0b");
        assert_eq!(sql("unterminated /* comment"), "unterminated ");
    }

    #[test]
    fn line_comments_that_stand_for_spaces_fold() {
        for (text, expected) in [
            ("1'#abc\nand#x\n'1'='1", Some("1' and '1'='1")),
            ("1--nvw\nand--nvw\n1 like 1", Some("1 and 1 like 1")),
            ("1'--\nor--x\n'a'='a", Some("1' or 'a'='a")),
            // Dashes that end an injection, or sit in prose or a Markdown table, stay.
            ("1' or 1=1--x\n", None),
            ("well -- said\nyes", None),
            ("|---|---|\n|a|b|", None),
            ("a---x\nb", Some("a b")),
            ("admin'#\nor#\n'1'='1'--#\n-", Some("admin' or '1'='1'-- -")),
            ("a#\n# heading\n#tag\nb", Some("a # heading #tag b")),
            ("# heading\ntext #tag\nmore", None),
            ("admin'#", None),
            ("x#a long comment with spaces\ny", None),
        ] {
            assert_eq!(
                line_comments_as_spaces(text).as_deref(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn shell_evasions_fold_to_plain_words() {
        assert_eq!(shell("c'a't /etc/pa\"ss\"wd"), "cat /etc/passwd");
        assert_eq!(shell("c\\at${ifs}/etc/passwd"), "cat /etc/passwd");
        assert_eq!(shell("cat$ifs$9/etc/passwd"), "cat /etc/passwd");
        assert_eq!(shell("{cat,/etc/passwd}"), " cat /etc/passwd ");
        assert_eq!(shell("who$@ami"), "whoami");
        assert_eq!(shell(";cat$u /etc$u/passwd"), ";cat /etc/passwd");
        assert_eq!(shell(";$'cat' /etc/passwd"), ";cat /etc/passwd");
        assert_eq!(shell("ca${x}t /etc/passwd"), "cat /etc/passwd");
        assert_eq!(shell("echo $home and ${user}"), "echo $home and ${user}");
        assert_eq!(shell("w^h^o^a^m^i"), "whoami");
        assert_eq!(shell(";pi``ng -c 1 x; w``hoami"), ";ping -c 1 x; whoami");
        assert_eq!(shell(";who$()ami"), ";whoami");
        // Backticks that do not split a word stay.
        assert_eq!(shell_of("a`` b ``c"), "a`` b ``c");
        assert_eq!(shell("cost $() here"), "cost $() here");
        assert_eq!(shell("/etc/pa[s]swd /bi[n]/sh"), "/etc/passwd /bin/sh");
        assert_eq!(shell("a'b'\nid"), "ab\nid", "newlines separate commands");
        // Evasions with one quote in a word: at the value's end, or beside a non-letter.
        assert_eq!(shell("x'; i'd"), "x; id");
        assert_eq!(shell("x'; cat '/etc/passwd"), "x; cat /etc/passwd");
        assert_eq!(shell(";$1cat /etc/passwd"), ";cat /etc/passwd");
        assert_eq!(shell("c$9at /etc/passwd"), "cat /etc/passwd");
        assert_eq!(shell("ca''t /etc/passwd"), "cat /etc/passwd");
        // Prose keeps its apostrophes and prices: the fold leaves it as it is.
        for prose in [
            "it wasn't there and i'd like a refund",
            "we're sure it's fine, aren't we",
            "it costs $15, or $4.99 on sale, $1,000 in total",
        ] {
            assert!(matches!(shell(prose), Cow::Borrowed(_)), "{prose}");
        }
        assert!(matches!(shell("plain words"), Cow::Borrowed(_)));
        assert!(matches!(sql("plain words"), Cow::Borrowed(_)));
    }

    #[test]
    fn log4j_lookups_resolve_to_their_letters() {
        assert_eq!(log4j("${${lower:j}ndi:ldap://x}"), "${jndi:ldap://x}");
        assert_eq!(
            log4j("${${::-j}${::-n}${::-d}${::-i}:rmi://x}"),
            "${jndi:rmi://x}"
        );
        assert_eq!(log4j("${${env:nope:-j}ndi:dns://x}"), "${jndi:dns://x}");
        assert_eq!(log4j("${${upper:j}${date:'n'}di:x}"), "${jndi:x}");
        assert_eq!(log4j("price ${total}"), "price ${total}");
    }
}
