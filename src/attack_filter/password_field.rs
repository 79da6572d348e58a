//! What a password field is read for. A password is a string an app hashes, compares with a
//! stored one or binds to a directory with: it is never rendered, run, fetched or opened. The
//! attacks that reach it are SQL (a login query that quotes it: `' or '1'='1`), an LDAP
//! filter or bind, a NoSQL operator, and a Log4Shell lookup in a failed login's log line.
//!
//! Generated passwords are random symbols, and random symbols are what the markup, shell and
//! path rules read code in: one password in about a thousand of 12 to 20 letters, digits and
//! `!@#$%^&*` was refused, mostly as SQL (`rw2^@YQp#d3PoSRm`, a name, an operator, a variable
//! and a comment to libinjection) or a command (`…&nL`, the `nl` program after `&`). A
//! refused password locks its owner out for good, so only those families are read, and SQL
//! only when the password holds what can end a string (a quote or a backslash).

use super::{Family, FamilySet, Location, decode};

/// The families read in the value `raw` of the field `name`, out of `families`.
pub(super) fn families_for(
    families: FamilySet,
    location: Location,
    name: &str,
    raw: &str,
) -> FamilySet {
    if !matches!(location, Location::Body | Location::Query) || !names_a_password(name) {
        return families;
    }
    const READ: [Family; 3] = [Family::Sqli, Family::Nosql, Family::Java];
    let mut kept = Family::ALL
        .into_iter()
        .filter(|family| !READ.contains(family))
        .fold(families, FamilySet::without);
    let ends_a_string = |text: &str| {
        text.bytes()
            .any(|b| matches!(b, b'\'' | b'"' | b'`' | b'\\'))
    };
    if !ends_a_string(&decode::decode(raw)) {
        kept = kept.without(Family::Sqli);
    }
    kept
}

/// `password`, `new_password`, `user[passwd]`, `credentials.passphrase`, `pwd`, `pass`.
fn names_a_password(name: &str) -> bool {
    let name = name.as_bytes();
    // Most names hold no `p`: one search rules them out, before any splitting.
    if memchr::memchr2(b'p', b'P', name).is_none() {
        return false;
    }
    let last = name
        .rsplit(|&b| matches!(b, b'.' | b'[' | b']'))
        .find(|part| !part.is_empty())
        .unwrap_or(name);
    let holds = |word: &[u8]| {
        last.windows(word.len())
            .any(|window| window.eq_ignore_ascii_case(word))
    };
    [b"passw".as_slice(), b"passphrase"].into_iter().any(holds)
        || [b"pwd".as_slice(), b"pass", b"pw"]
            .into_iter()
            .any(|name| last.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_fields_are_named_in_every_style() {
        for name in [
            "password",
            "new_password",
            "user[passwd]",
            "credentials.passPhrase",
            "pwd",
            "Password_Confirmation",
        ] {
            assert!(names_a_password(name), "{name}");
        }
        for name in [
            "passport",
            "compass",
            "q",
            "content",
            "messages.content",
            "pass.note",
        ] {
            assert!(!names_a_password(name), "{name}");
        }
    }

    #[test]
    fn a_password_is_read_for_sql_only_with_what_ends_a_string() {
        let all = FamilySet::ALL;
        let read = |raw| families_for(all, Location::Body, "password", raw);
        let random = read("rw2^@YQp#d3PoSRm");
        assert!(!random.contains(Family::Sqli));
        assert!(!random.contains(Family::Rce));
        assert!(!random.contains(Family::Xss));
        assert!(random.contains(Family::Nosql));
        assert!(random.contains(Family::Java));
        assert!(read("' or '1'='1").contains(Family::Sqli));
        assert!(read("%27%20or%201%3D1--").contains(Family::Sqli));
        // Other fields, and a password in a header or cookie, are read for everything.
        assert_eq!(families_for(all, Location::Body, "comment", "x&nl"), all);
        assert_eq!(families_for(all, Location::Header, "password", "x&nl"), all);
    }
}
