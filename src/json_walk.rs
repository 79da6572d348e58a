//! One pass over a JSON document without building it: the route's limits (depth, keys, array
//! length, string length) are checked as the parser goes, and every key and string is handed
//! to a visitor (the attack filter) where it lies in the request's buffer.
//!
//! Building a `serde_json::Value` first allocated every key and string and a map per object,
//! then walked the tree twice (limits, filter) and freed it: about as much work per request as
//! the attack filter itself on a chat turn. Only a JSON Schema needs the tree, and only routes
//! with one build it.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Limits on a JSON document's shape; `usize::MAX` for none.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimits {
    /// Deepest nesting of objects and arrays; the top level is depth 1.
    pub depth: usize,
    /// Most keys in one object.
    pub keys: usize,
    /// Most elements in one array.
    pub array: usize,
    /// Longest string or key, in characters.
    pub string: usize,
}

impl JsonLimits {
    /// No limits of ours (the parser still refuses nesting beyond 128).
    pub const NONE: Self = Self {
        depth: usize::MAX,
        keys: usize::MAX,
        array: usize::MAX,
        string: usize::MAX,
    };
}

/// What a walk hands out. `path` names a field as the attack filter's exclusions do: the keys
/// from the top joined by `.`, array indexes left out (`messages.content`).
pub trait JsonVisitor {
    /// An object key; `path` ends with it.
    fn key(&mut self, path: &str, key: &str);
    /// A string value.
    fn string(&mut self, path: &str, text: &str);
}

/// A walk that only checks the limits.
impl JsonVisitor for () {
    fn key(&mut self, _path: &str, _key: &str) {}
    fn string(&mut self, _path: &str, _text: &str) {}
}

/// Why a walk stopped.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("the JSON body is not valid JSON: {0}")]
    Syntax(serde_json::Error),
    /// A limit was exceeded at `pointer` (a JSON Pointer, `/messages/3/content`).
    #[error("{pointer}: {reason}")]
    Limit { pointer: String, reason: String },
}

/// Walks `body`, checking `limits` and handing keys and strings to `visitor` in document
/// order. Duplicate keys are all visited (a parser that keeps the last must not hide the
/// first from the filter).
pub fn walk(
    body: &[u8],
    limits: &JsonLimits,
    visitor: &mut impl JsonVisitor,
) -> Result<(), WalkError> {
    let mut walker = Walker {
        limits,
        visitor,
        // Room for the paths of most documents, so the path is allocated once, not grown.
        path: String::with_capacity(64),
        violation: None,
    };
    // A body that is UTF-8 throughout (every valid JSON document) is checked once here rather
    // than string by string by the parser; one that is not is parsed from its bytes, for the
    // parser's error saying where.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => parse(&mut serde_json::Deserializer::from_str(text), &mut walker),
        Err(_) => parse(&mut serde_json::Deserializer::from_slice(body), &mut walker),
    };
    match (parsed, walker.violation) {
        (_, Some(violation)) => Err(violation.into_error()),
        (Err(err), None) => Err(WalkError::Syntax(err)),
        (Ok(()), None) => Ok(()),
    }
}

fn parse<'de, R: serde_json::de::Read<'de>, V: JsonVisitor>(
    parser: &mut serde_json::Deserializer<R>,
    walker: &mut Walker<'_, V>,
) -> Result<(), serde_json::Error> {
    Node { walker, depth: 1 }
        .deserialize(&mut *parser)
        .and_then(|()| parser.end())
}

struct Walker<'a, V> {
    limits: &'a JsonLimits,
    visitor: &'a mut V,
    path: String,
    violation: Option<Violation>,
}

/// A limit violation on its way up: each level adds its segment as the error unwinds, so the
/// pointer costs nothing while nothing is wrong.
struct Violation {
    reversed_segments: Vec<String>,
    reason: String,
}

impl Violation {
    fn into_error(self) -> WalkError {
        let mut pointer = String::new();
        for segment in self.reversed_segments.iter().rev() {
            pointer.push('/');
            // JSON Pointer escapes: `~` as `~0`, `/` as `~1`.
            pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        WalkError::Limit {
            pointer,
            reason: self.reason,
        }
    }
}

impl<V: JsonVisitor> Walker<'_, V> {
    /// Records a violation; the returned error only unwinds the parser.
    fn violate<E: de::Error>(&mut self, reason: String) -> E {
        self.violation = Some(Violation {
            reversed_segments: Vec::new(),
            reason,
        });
        E::custom("limit exceeded")
    }

    /// While a violation unwinds, adds the segment of the level it passes through.
    fn unwinding<E>(&mut self, error: E, segment: impl fmt::Display) -> E {
        if let Some(violation) = &mut self.violation {
            violation.reversed_segments.push(segment.to_string());
        }
        error
    }

    fn too_long(&self, text: &str) -> Option<usize> {
        // Bytes bound characters from above: count only when the bytes are over.
        (text.len() > self.limits.string)
            .then(|| text.chars().count())
            .filter(|chars| *chars > self.limits.string)
    }
}

/// A value at `depth`.
struct Node<'w, 'a, V> {
    walker: &'w mut Walker<'a, V>,
    depth: usize,
}

impl<'de, V: JsonVisitor> DeserializeSeed<'de> for Node<'_, '_, V> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, V: JsonVisitor> Visitor<'de> for Node<'_, '_, V> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        let walker = self.walker;
        if let Some(chars) = walker.too_long(text) {
            let limit = walker.limits.string;
            return Err(walker.violate(format!("is {chars} characters long, the limit is {limit}")));
        }
        walker.visitor.string(&walker.path, text);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let walker = self.walker;
        if self.depth > walker.limits.depth {
            let limit = walker.limits.depth;
            return Err(walker.violate(format!("nests deeper than {limit} levels")));
        }
        let mut index = 0;
        loop {
            let item = Node {
                walker: &mut *walker,
                depth: self.depth + 1,
            };
            match items.next_element_seed(item) {
                Ok(Some(())) => {}
                Ok(None) => return Ok(()),
                Err(err) => return Err(walker.unwinding(err, index)),
            }
            index += 1;
            if index > walker.limits.array {
                let limit = walker.limits.array;
                return Err(walker.violate(format!("has more than {limit} elements")));
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let walker = self.walker;
        if self.depth > walker.limits.depth {
            let limit = walker.limits.depth;
            return Err(walker.violate(format!("nests deeper than {limit} levels")));
        }
        let mut count = 0;
        while let Some(key) = entries.next_key_seed(KeySeed)? {
            count += 1;
            if count > walker.limits.keys {
                let limit = walker.limits.keys;
                return Err(walker.violate(format!("has more than {limit} keys")));
            }
            if walker.too_long(&key).is_some() {
                let limit = walker.limits.string;
                let error = walker.violate(format!("key is longer than {limit} characters"));
                return Err(walker.unwinding(error, key));
            }
            let parent_len = walker.path.len();
            if parent_len > 0 {
                walker.path.push('.');
            }
            walker.path.push_str(&key);
            walker.visitor.key(&walker.path, &key);
            let value = Node {
                walker: &mut *walker,
                depth: self.depth + 1,
            };
            if let Err(err) = entries.next_value_seed(value) {
                return Err(walker.unwinding(err, key));
            }
            walker.path.truncate(parent_len);
        }
        Ok(())
    }
}

/// An object key: borrowed from the body unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(key.into())
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(key.to_owned().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what a walk hands out.
    #[derive(Default)]
    struct Seen(Vec<String>);

    impl JsonVisitor for Seen {
        fn key(&mut self, path: &str, key: &str) {
            self.0.push(format!("key {path} {key}"));
        }
        fn string(&mut self, path: &str, text: &str) {
            self.0.push(format!("string {path} {text}"));
        }
    }

    fn limits(depth: usize, keys: usize, array: usize, string: usize) -> JsonLimits {
        JsonLimits {
            depth,
            keys,
            array,
            string,
        }
    }

    fn violation(body: &str, limits: &JsonLimits) -> (String, String) {
        match walk(body.as_bytes(), limits, &mut ()) {
            Err(WalkError::Limit { pointer, reason }) => (pointer, reason),
            other => panic!("expected a limit violation for {body}, got {other:?}"),
        }
    }

    #[test]
    fn keys_and_strings_are_visited_in_order_with_their_path() {
        let mut seen = Seen::default();
        let body = r#"{"a": [1, {"b": "x\u0027y"}], "c": null, "a": "again", "d": {"e": ["f"]}}"#;
        walk(body.as_bytes(), &JsonLimits::NONE, &mut seen).unwrap();
        assert_eq!(
            seen.0,
            [
                "key a a",
                "key a.b b",
                "string a.b x'y",
                "key c c",
                "key a a",
                "string a again",
                "key d d",
                "key d.e e",
                "string d.e f",
            ]
        );
        let mut top = Seen::default();
        walk(br#""top""#, &JsonLimits::NONE, &mut top).unwrap();
        assert_eq!(top.0, ["string  top"]);
    }

    #[test]
    fn limits_name_the_field_by_json_pointer() {
        let strict = limits(3, 3, 2, 5);
        assert!(walk(br#"{"a": [1, 2], "b": {"c": "hello"}}"#, &strict, &mut ()).is_ok());
        let (pointer, reason) = violation(r#"{"m": [{"text": "toolong"}]}"#, &strict);
        assert_eq!(pointer, "/m/0/text");
        assert!(reason.contains("7 characters"), "{reason}");
        assert_eq!(violation(r#"{"a": [1, 2, 3]}"#, &strict).0, "/a");
        let (pointer, reason) = violation(r#"{"a": 1, "b": 2, "c": 3, "d": 4}"#, &strict);
        assert_eq!(pointer, "");
        assert!(reason.contains("more than 3 keys"), "{reason}");
        assert_eq!(
            violation(r#"{"a/b": {"x~": [[1]]}}"#, &strict).0,
            "/a~1b/x~0/0"
        );
        assert_eq!(violation(r#"{"long-key": 1}"#, &strict).0, "/long-key");
        // Characters, not bytes: five accented letters pass.
        assert!(walk("\"żółty\"".as_bytes(), &strict, &mut ()).is_ok());
    }

    #[test]
    fn nesting_is_limited_before_the_parser_limit() {
        let depth = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let sixty_four = limits(64, usize::MAX, usize::MAX, usize::MAX);
        assert!(walk(depth(64).as_bytes(), &sixty_four, &mut ()).is_ok());
        let (pointer, reason) = violation(&depth(65), &sixty_four);
        assert!(reason.contains("deeper than 64"), "{reason}");
        assert_eq!(pointer, "/0".repeat(64));
        // Without a limit of ours, the parser's own (128) still holds.
        assert!(matches!(
            walk(depth(200).as_bytes(), &JsonLimits::NONE, &mut ()),
            Err(WalkError::Syntax(_))
        ));
    }

    #[test]
    fn malformed_documents_are_syntax_errors() {
        for body in [&b"{\"a\": "[..], b"[1, 2", b"{} trailing", b"", b"\"\xff\""] {
            assert!(
                matches!(
                    walk(body, &JsonLimits::NONE, &mut ()),
                    Err(WalkError::Syntax(_))
                ),
                "{body:?}"
            );
        }
    }
}
