//! LDAP filter injection: a value that closes the filter it is placed in and opens another
//! (`*)(uid=*))(|(uid=*`, `admin)(&)`, `x)!(sn=*`, `val)|(uid=*`, `test) ( & `), or the filter
//! that is always true, `(&)`.
//!
//! Text before the break-out holds none of the filter syntax, so a whole filter sent as a value
//! (`(&(objectCategory=group)(cn=x))`, an LDAP browser's search) is not one; an attribute must
//! touch the parentheses (`Option B) (cost=5)` is prose).
//!
//! This is a check of its own rather than a pattern rule: "the first byte of filter syntax is
//! `)`" is a pattern anchored at the start whose prefix runs over any text without that syntax,
//! so in the regex set that reads prose it kept a second copy of nearly every state for as long
//! as a value had no parenthesis or colon: 1.4 MB of the set's 5.1 MB of states after the
//! prompt corpus.

use std::sync::LazyLock;

use regex::Regex;

/// The bytes of LDAP filter syntax that can come before a break-out.
static FILTER_SYNTAX: [bool; 256] = {
    let mut table = [false; 256];
    let bytes = b":()&|!<>~";
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
};

/// From the first closing parenthesis on: the filter closed, then another opened with an
/// attribute that touches it, or an operator (also inside a second parenthesis,
/// `admin*)((|userpassword=*)`) before a filter, a parenthesis or the value's end. A merge
/// request cited after a name in parentheses (`Jonas Hahnfeld) (!2109)`) is no operator.
static BREAKOUT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\)+(?:[&|!]?\([a-z0-9_.-]+[~<>]?=|\s*[&|!]?\s*(?:\(\s*)+[&|!]\s*(?:[()]|$|[a-z_][a-z0-9_.-]*[~<>]?=))")
        .expect("the break-out pattern compiles")
});

/// The break-out in `text` (decoded and lowercased), if it injects into an LDAP filter.
pub(super) fn filter_injection(text: &str) -> Option<&str> {
    // Prose mostly holds no filter syntax at all: one pass over it, and nothing more.
    let first = text.bytes().position(|b| FILTER_SYNTAX[usize::from(b)])?;
    let rest = &text[first..];
    always_true_filter(text).or_else(|| BREAKOUT.find(rest).map(|found| &rest[..found.end()]))
}

/// `(&)`, also with spaces inside. A word's `(&)` before a space or punctuation names the
/// character (`the control operator ampersand (&), the shell …`).
fn always_true_filter(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let names_the_character = |open: usize| {
        bytes.get(open..open + 3) == Some(b"(&)")
            && open >= 2
            && bytes[open - 1] == b' '
            && bytes[open - 2].is_ascii_alphabetic()
            && bytes
                .get(open + 3)
                .is_none_or(|b| matches!(b, b' ' | b',' | b'.' | b';' | b':' | b'!' | b'?'))
    };
    memchr::memchr_iter(b'(', bytes).find_map(|open| {
        if names_the_character(open) {
            return None;
        }
        let inside = text[open + 1..].trim_start();
        let after_and = inside.strip_prefix('&')?.trim_start();
        after_and.starts_with(')').then(|| {
            let close = text.len() - after_and.len();
            &text[open..=close]
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_count_when_a_value_breaks_out_of_one() {
        for attack in [
            "*)(uid=*))(|(uid=*",
            "admin)(&)",
            "printer)(uid=*)",
            "eb9adbd87d)!(sn=*",
            "aaa*aaa)(cn>=bob)",
            "john)(sn~=smith",
            "admin)(|",
            "admin*)((|userpassword=*)",
            "x)( ( & (uid=*",
            "val)&(cn=admin",
            "test) ( & ",
            "test))(&(objectclass=*",
            "session=value)(uid=*",
            "(&)",
            "x ( & ) y",
        ] {
            assert!(filter_injection(attack).is_some(), "{attack:?}");
        }
        for text in [
            "(&(objectcategory=computer)  (useraccountcontrol:1.2.840.113556.1.4.803:=8192))",
            "(useraccountcontrol:1.2.840.113556.1.4.803:=67108864)(&(objectcategory=group))",
            "option b) (cost=5) is cheaper",
            "f(x)(y=2)",
            "see (1)(a=b)",
            "(a+b)*c",
            "tom & jerry (and friends)",
            "by jonas hahnfeld) (!2109)",
            "the control operator ampersand (&), the shell runs it",
            "join them with an ampersand (&).",
            "simon mcvittie and jan steffens) (!1932, !1941, #2323)",
            "",
        ] {
            assert_eq!(filter_injection(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_fragment_is_the_break_out() {
        assert_eq!(filter_injection("admin)(uid=*"), Some(")(uid="));
        assert_eq!(filter_injection("x (  & ) y"), Some("(  & )"));
    }
}
