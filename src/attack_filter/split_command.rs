//! A command's name split by the shell's own quoting (`w'h'o'am'i`, `c""at`, `wh\oami`,
//! `who$@ami`, `w^h^o^a^m^i`): the shell joins the pieces back into the command, and nobody
//! writes a word that way but to slip it past a filter that looks for the name.
//!
//! The pattern rules read the shell form of a value, where these pieces are already joined,
//! and find a command after a separator there. A command that is the whole value is weak
//! evidence alone (an admin form may take a command line), but the split is not: it is the
//! evasion itself, so it is conclusive wherever the word stands.
//!
//! Prose has the same marks in other places: an apostrophe (`I'd`), a quoted word (`"cat"`),
//! an apostrophe doubled by SQL escaping (`I''d`), a Windows path (`c:\tools\id`). None splits
//! a name between two of its letters into a command, except the escaped contraction, which is
//! left out by its shape.

use super::fold;

/// Commands an injection runs first: to learn who it is, read files, or fetch and run more.
/// Names that are also English words (`cat`, `set`) count too: split, they are no word.
const COMMANDS: [&str; 52] = [
    "whoami",
    "id",
    "uname",
    "hostname",
    "ifconfig",
    "ipconfig",
    "netstat",
    "ps",
    "cat",
    "tac",
    "ls",
    "dir",
    "echo",
    "printf",
    "printenv",
    "env",
    "set",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "telnet",
    "nslookup",
    "ping",
    "sh",
    "bash",
    "zsh",
    "ksh",
    "dash",
    "csh",
    "tcsh",
    "powershell",
    "pwsh",
    "cmd",
    "python",
    "python3",
    "perl",
    "ruby",
    "php",
    "node",
    "chmod",
    "chown",
    "rm",
    "base64",
    "sleep",
    "systeminfo",
    "tasklist",
    "net",
    "whois",
    "passwd",
    "sudo",
];

/// Bytes that end a shell word: blanks, separators and redirections. (Parentheses do not:
/// `$()` is one of the splits.)
fn ends_word(byte: u8) -> bool {
    byte.is_ascii_whitespace() || matches!(byte, b';' | b'|' | b'&' | b'<' | b'>')
}

/// The first word of `text` (decoded and lowercased) that the shell would join into a
/// command's name from split pieces, if any. Prose has few words with a mark right after a
/// letter, so only those words are read, found by vector searches for the marks.
pub(super) fn split_command_name(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut marks: Vec<usize> = memchr::memchr3_iter(b'\'', b'"', b'\\', bytes)
        .chain(memchr::memchr3_iter(b'^', b'$', b'`', bytes))
        .filter(|&at| at > 0 && bytes[at - 1].is_ascii_alphabetic())
        .collect();
    marks.sort_unstable();
    let mut read_to = 0;
    for at in marks {
        if at < read_to {
            continue;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|&b| ends_word(b))
            .map_or(0, |i| i + 1);
        let end = bytes[at..]
            .iter()
            .position(|&b| ends_word(b))
            .map_or(bytes.len(), |len| at + len);
        read_to = end;
        // Word ends are ASCII bytes, so the word is whole characters.
        let word = &text[start..end];
        if splits_a_command(word) {
            return Some(word);
        }
    }
    None
}

fn splits_a_command(word: &str) -> bool {
    // The name is the last part of a path (`/b'i'n/c'a't`).
    let name = word.rsplit('/').next().unwrap_or(word);
    if !splits_between_letters(name.as_bytes()) || is_escaped_contraction(name) {
        return false;
    }
    let joined = fold::shell(name);
    // A subshell's or a group's parentheses around the name are not part of it.
    let joined = joined.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    joined != name && COMMANDS.contains(&joined)
}

/// True when a quote pair, a backslash, a caret or an expansion that yields nothing stands
/// between two letters of the word. A lone quote does not: it opens a span that the word
/// does not close, as the apostrophe of `I'd` does. Nor does a quote that ends the word
/// (`'echo'`, a quoted word).
fn splits_between_letters(name: &[u8]) -> bool {
    let quotes = name.iter().filter(|&&b| matches!(b, b'\'' | b'"')).count();
    (1..name.len()).any(|at| {
        let opens_split = match name[at] {
            b'\'' | b'"' => quotes >= 2,
            b'\\' | b'^' => true,
            b'$' => matches!(
                name.get(at + 1),
                Some(b'@' | b'*' | b'{' | b'(' | b'0'..=b'9')
            ),
            b'`' => name.get(at + 1) == Some(&b'`'),
            _ => false,
        };
        opens_split && name[at - 1].is_ascii_alphabetic() && {
            let rest = &name[at..];
            let marks = rest.iter().take_while(|&&b| is_mark(b)).count();
            rest.get(marks).is_some_and(u8::is_ascii_alphabetic)
        }
    })
}

/// The bytes of the marks that split a name: quotes, escapes and empty expansions.
fn is_mark(byte: u8) -> bool {
    matches!(
        byte,
        b'\'' | b'"' | b'\\' | b'^' | b'$' | b'@' | b'*' | b'{' | b'}' | b'(' | b')' | b'`'
    ) || byte.is_ascii_digit()
}

/// `I''d`, `it''s`: an apostrophe that SQL escaping doubled, before a contraction's ending.
fn is_escaped_contraction(name: &str) -> bool {
    name.split_once("''").is_some_and(|(stem, ending)| {
        !stem.contains(['\'', '"']) && matches!(ending, "d" | "s" | "t" | "m" | "ll" | "re" | "ve")
    })
}

#[cfg(test)]
mod tests {
    use super::split_command_name;

    #[test]
    fn names_split_by_quotes_escapes_and_empty_expansions_are_found() {
        for value in [
            "w'h'o'am'i",
            "w\"h\"o\"am\"i",
            "wh''oami",
            "c\"\"at /etc/hosts",
            "wh\\oami",
            "who$@ami",
            "who$*ami",
            "i${x}d",
            "who$()ami",
            "w^h^o^a^m^i",
            "/b'i'n/c'a't x",
            "127.0.0.1 && u'n'a'm'e -a",
            "ti''me sh -c w'h'oami",
            "(c'a't /etc/hosts)",
        ] {
            assert!(split_command_name(value).is_some(), "{value}");
        }
    }

    #[test]
    fn prose_with_the_same_marks_is_not_a_split_command() {
        for value in [
            "i'd like a table for two",
            "yes i'd",
            "it''s fine, i''d say",
            "the word \"cat\" and 'id' in quotes",
            "c:\\tools\\id and c:\\bin\\cat",
            "x^2 + y^2",
            "don't 'echo' me",
            "$5 and $@ in a sentence",
            "use `ls` and ``code``",
            "o'brien's cat",
        ] {
            assert_eq!(split_command_name(value), None, "{value}");
        }
    }
}
