//! How one part of a multipart body is read: as a form field, whose text the filter inspects,
//! or as a file, which the upload checks judge.
//!
//! Backends decide this from the part's `Content-Disposition`, and they do not agree, so a part
//! is read the way that leaves no backend an unchecked reading:
//! - the parameter names are compared without case, as PHP, Go and busboy compare them
//!   (`FILENAME="a.exe"` is a file to all three), and `filename*` (RFC 6266) names a file too;
//! - an empty `filename=""` is a field to Go and a file to busboy: such a part is both
//!   inspected as text and judged as a file (browsers send it for an empty file input, with no
//!   content);
//! - a disposition that names its field or file twice, or a part with two dispositions, is
//!   refused, as backends pick different ones.

use std::borrow::Cow;

use http::header;

/// What a part is, read from its headers.
#[derive(Debug, PartialEq, Eq)]
pub struct FormPart {
    /// The field name; `None` for the unnamed parts of `multipart/related`.
    pub name: Option<String>,
    /// The file name as the client gave it (`filename*` decoded), when not empty.
    pub file_name: Option<String>,
    /// Judged by the upload checks.
    pub is_file: bool,
    /// Inspected as text by the filter.
    pub is_field: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PartError(&'static str);

impl FormPart {
    /// Reads a part of a body of subtype `form-data` (`form`) or another (`related`,
    /// `mixed`), where a part of a type that is not text is a file too.
    pub fn read(field: &multer::Field<'_>, form: bool) -> Result<Self, PartError> {
        let mut dispositions = field.headers().get_all(header::CONTENT_DISPOSITION).iter();
        let disposition = dispositions.next().map(|value| value.as_bytes());
        if dispositions.next().is_some() {
            return Err(PartError("a part has two Content-Disposition headers"));
        }
        let mut part = Self::from_disposition(disposition.unwrap_or_default())?;
        if !form && part.is_field && field.content_type().is_some_and(|t| !is_textual(t)) {
            part.is_file = true;
            part.is_field = false;
        }
        Ok(part)
    }

    fn from_disposition(disposition: &[u8]) -> Result<Self, PartError> {
        let text = String::from_utf8_lossy(disposition);
        let (mut name, mut file_name, mut extended_file_name) = (None, None, None);
        for (key, value) in parameters(&text) {
            let is = |wanted: &str| key.eq_ignore_ascii_case(wanted);
            let slot = if is("name") {
                &mut name
            } else if is("filename") {
                &mut file_name
            } else if is("filename*") {
                &mut extended_file_name
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(PartError(
                    "a part's Content-Disposition names its field or file twice",
                ));
            }
        }
        let extended_file_name = extended_file_name.map(|value| decode_extended(&value));
        let has_file_name = file_name.is_some() || extended_file_name.is_some();
        let file_name = extended_file_name
            .or(file_name)
            .filter(|name| !name.is_empty());
        Ok(Self {
            name,
            is_file: has_file_name,
            is_field: file_name.is_none(),
            file_name,
        })
    }
}

/// `text/*`, JSON, XML and forms: a part of such a type is a field outside `form-data`.
fn is_textual(media: &mime::Mime) -> bool {
    media.type_() == mime::TEXT
        || matches!(
            media.subtype().as_str(),
            "json" | "xml" | "x-www-form-urlencoded"
        )
        || matches!(media.suffix().map(|s| s.as_str()), Some("json" | "xml"))
}

/// The `key=value` parameters after the disposition type, values unquoted.
fn parameters(disposition: &str) -> impl Iterator<Item = (&str, String)> {
    let mut rest = disposition.split_once(';').map_or("", |(_, params)| params);
    std::iter::from_fn(move || {
        loop {
            let trimmed = rest.trim_start_matches([' ', '\t', ';']);
            if trimmed.is_empty() {
                return None;
            }
            let key_end = trimmed.find(['=', ';']).unwrap_or(trimmed.len());
            let key = trimmed[..key_end].trim();
            if !trimmed[key_end..].starts_with('=') {
                rest = &trimmed[key_end..];
                continue; // a parameter without a value
            }
            let value = trimmed[key_end + 1..].trim_start();
            let (value, after) = match value.strip_prefix('"') {
                Some(quoted) => unquote(quoted),
                None => {
                    let end = value.find(';').unwrap_or(value.len());
                    (value[..end].trim_end().to_owned(), &value[end..])
                }
            };
            rest = after;
            return Some((key, value));
        }
    })
}

/// A quoted string's value and the text after it. Only `\"` is an escape: browsers send a
/// Windows path's backslashes as they are (`C:\\Users\\a.png`, `..\\1.7z`).
fn unquote(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (value, &quoted[at + 1..]),
            '\\' if chars.peek().is_some_and(|&(_, next)| next == '"') => {
                value.push('"');
                chars.next();
            }
            c => value.push(c),
        }
    }
    (value, "")
}

/// `UTF-8''na%C3%AFve.txt` (RFC 8187): the percent-decoded value after the charset and
/// language.
fn decode_extended(value: &str) -> String {
    let encoded = value.splitn(3, '\'').nth(2).unwrap_or(value);
    match super::decode::form_component(encoded.replace('+', "%2B").as_bytes()) {
        Cow::Borrowed(text) => text.to_owned(),
        Cow::Owned(text) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(disposition: &str) -> FormPart {
        FormPart::from_disposition(disposition.as_bytes()).unwrap()
    }

    #[test]
    fn file_names_are_found_as_every_backend_finds_them() {
        for disposition in [
            r#"form-data; name="photo"; filename="a.exe""#,
            r#"form-data; name="photo"; FILENAME="a.exe""#,
            r#"Form-Data; Name="photo"; FileName = "a.exe""#,
            r#"form-data; name="photo"; filename*=UTF-8''a%2Eexe"#,
            r#"form-data; name=photo; filename=a.exe"#,
        ] {
            let part = part(disposition);
            assert_eq!(part.name.as_deref(), Some("photo"), "{disposition}");
            assert_eq!(part.file_name.as_deref(), Some("a.exe"), "{disposition}");
            assert!(part.is_file && !part.is_field, "{disposition}");
        }
        let field = part(r#"form-data; name="comment""#);
        assert!(field.is_field && !field.is_file);
        let quoted = part(r#"form-data; name="a; filename=x"; filename="b\".png""#);
        assert_eq!(quoted.name.as_deref(), Some("a; filename=x"));
        assert_eq!(quoted.file_name.as_deref(), Some("b\".png"));
        let windows = part(r#"form-data; name="f"; filename="..\1.7z""#);
        assert_eq!(windows.file_name.as_deref(), Some(r"..\1.7z"));
    }

    #[test]
    fn an_empty_file_name_is_read_both_ways() {
        let empty = part(r#"form-data; name="q"; filename="""#);
        assert!(empty.is_file && empty.is_field);
        assert_eq!(empty.file_name, None);
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        for disposition in [
            r#"form-data; name="a"; name="b""#,
            r#"form-data; name="f"; filename="a.png"; FILENAME="a.html""#,
        ] {
            assert!(
                FormPart::from_disposition(disposition.as_bytes()).is_err(),
                "{disposition}"
            );
        }
        let both = part(r#"form-data; name="f"; filename="a.png"; filename*=UTF-8''%C3%A9.png"#);
        assert_eq!(both.file_name.as_deref(), Some("é.png"), "filename* wins");
    }
}
