//! Python's pickle carrying a call to a function that runs a program: a pickle names a global
//! (a module's attribute) and may call it as it loads, so an app that unpickles a cookie or a
//! field runs `os.system('id')` for whoever wrote it.
//!
//! Two spellings name a global. The text protocol writes `c` (or `i`), the module, a line
//! break, the name and a line break (`cposix\nsystem\n`); the binary protocols push both as
//! strings (`\x8c\x05posix\x94\x8c\x06system\x94\x93`). The text form arrives as a value or
//! as base64 of one; the binary form only as base64, which [`super::decode::base64_bytes`]
//! gives without asking for text.

/// Modules whose functions run programs or code, and those functions.
const DANGEROUS: [(&str, &[&str]); 6] = [
    ("os", OS_FUNCTIONS),
    ("posix", OS_FUNCTIONS),
    ("nt", OS_FUNCTIONS),
    (
        "subprocess",
        &[
            "popen",
            "call",
            "run",
            "check_call",
            "check_output",
            "getoutput",
            "getstatusoutput",
        ],
    ),
    ("builtins", BUILTIN_FUNCTIONS),
    ("__builtin__", BUILTIN_FUNCTIONS),
];

const OS_FUNCTIONS: &[&str] = &[
    "system",
    "popen",
    "execl",
    "execle",
    "execlp",
    "execv",
    "execve",
    "execvp",
    "spawnl",
    "spawnlp",
    "spawnv",
    "spawnvp",
    "posix_spawn",
];

const BUILTIN_FUNCTIONS: &[&str] = &["eval", "exec", "compile", "__import__"];

/// Binary opcodes that push a string: SHORT_BINUNICODE (a length byte) and BINUNICODE (four).
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
/// The memo stores that may sit between the two strings of a global.
const MEMOIZE: u8 = 0x94;
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';

/// `module.name` when `bytes` (a base64 value's payload) holds a pickle's reference to a
/// dangerous global, in either spelling.
pub(super) fn dangerous_global(bytes: &[u8]) -> Option<String> {
    text_global(bytes).or_else(|| binary_global(bytes))
}

/// `module.name` when `bytes` holds the text protocol's reference to a dangerous global: `c`
/// or `i` (after an opcode, not inside a word), then `module\nname\n`. The only spelling a
/// value's text can hold: the binary protocols' opcodes are bytes no text carries.
pub(super) fn text_global(bytes: &[u8]) -> Option<String> {
    memchr::memchr_iter(b'\n', bytes).find_map(|end| {
        let before = &bytes[..end];
        DANGEROUS.iter().find_map(|(module, _)| {
            let opcode_at = before.len().checked_sub(module.len() + 1)?;
            let opens = before.ends_with(module.as_bytes())
                && matches!(before[opcode_at], b'c' | b'i')
                && !opcode_at
                    .checked_sub(1)
                    .is_some_and(|b| before[b].is_ascii_alphanumeric());
            if !opens {
                return None;
            }
            let rest = &bytes[end + 1..];
            named(module.as_bytes(), &rest[..memchr::memchr(b'\n', rest)?])
        })
    })
}

/// Two strings pushed one after the other, with at most a memo store between them.
fn binary_global(bytes: &[u8]) -> Option<String> {
    (0..bytes.len()).find_map(|at| {
        let (module, after) = string_at(bytes, at)?;
        let (name, _) = string_at(bytes, after_memo(bytes, after))?;
        named(module, name)
    })
}

/// Where the opcode after a memo store at `at` starts (MEMOIZE, BINPUT or LONG_BINPUT), or
/// `at` when there is none.
fn after_memo(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at) {
        Some(&MEMOIZE) => at + 1,
        Some(&BINPUT) => at + 2,
        Some(&LONG_BINPUT) => at + 5,
        _ => at,
    }
}

/// The string a binary opcode at `at` pushes, and where the next opcode starts.
fn string_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let (len, start) = match *bytes.get(at)? {
        SHORT_BINUNICODE => (usize::from(*bytes.get(at + 1)?), at + 2),
        BINUNICODE => {
            let len: [u8; 4] = bytes.get(at + 1..at + 5)?.try_into().ok()?;
            (usize::try_from(u32::from_le_bytes(len)).ok()?, at + 5)
        }
        _ => return None,
    };
    let end = start.checked_add(len)?;
    Some((bytes.get(start..end)?, end))
}

fn named(module: &[u8], name: &[u8]) -> Option<String> {
    let (module, functions) = DANGEROUS
        .iter()
        .find(|(dangerous, _)| dangerous.as_bytes() == module)?;
    let name = std::str::from_utf8(name).ok()?;
    functions
        .iter()
        .any(|function| function.eq_ignore_ascii_case(name))
        .then(|| format!("{module}.{name}"))
}

#[cfg(test)]
mod tests {
    use super::dangerous_global;

    #[test]
    fn pickles_that_call_a_program_or_code_are_found() {
        for (pickle, global) in [
            (&b"cposix\nsystem\np0\n(Vid\np1\ntp2\nRp3\n."[..], "posix.system"),
            (b"cos\nsystem\n(S'id'\ntR.", "os.system"),
            (b"(S'id'\nios\nsystem\n.", "os.system"),
            (b"\x80\x03cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.", "posix.system"),
            (
                b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.",
                "posix.system",
            ),
            (
                b"\x80\x03X\x08\x00\x00\x00builtinsq\x00X\x04\x00\x00\x00evalq\x01\x93",
                "builtins.eval",
            ),
            (
                b"\x80\x04\x8c\nsubprocess\x94\x8c\x0ccheck_output\x94\x93.",
                "subprocess.check_output",
            ),
        ] {
            assert_eq!(dangerous_global(pickle).as_deref(), Some(global), "{pickle:?}");
        }
    }

    #[test]
    fn data_pickles_and_text_are_not() {
        for bytes in [
            &b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x03bob\x94s."
                [..],
            b"ccollections\nOrderedDict\n(tR.",
            b"cos\npath\n",
            b"the os\nsystem\nis a word list",
            b"macios\nsystem\n",
            b"\x8c\x02os",
            b"X\xff\xff\xff\xffos",
        ] {
            assert_eq!(dangerous_global(bytes), None, "{bytes:?}");
        }
    }
}
