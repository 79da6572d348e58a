//! What a PDF runs when it opens: JavaScript and launch actions. A viewer decodes a name's
//! `#xx` escapes (`/J#61vaScript` is `/JavaScript`) and, since PDF 1.5, reads dictionaries
//! from compressed object streams; both are read here as a viewer reads them, so neither
//! hides an action. An object stream that cannot be read so (encrypted, under another filter,
//! or damaged) is refused: what cannot be read cannot be cleared. An encrypted PDF that keeps
//! its objects uncompressed is read, as encryption leaves names readable.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::ZlibDecoder;

/// Most bytes the object streams of one file may inflate to (a bomb stops here).
const INFLATED_BUDGET: u64 = 32 * 1024 * 1024;

/// Acrobat finds the header anywhere in a file's first KiB, so a file may start with other
/// bytes and still open as a PDF.
pub(super) fn is_pdf(data: &[u8]) -> bool {
    memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_some()
}

/// Why a PDF is refused, if it is.
pub(super) fn refusal(data: &[u8]) -> Option<&'static str> {
    const ACTIONS: &str = "the PDF contains JavaScript or launch actions";
    if has_action(data) {
        return Some(ACTIONS);
    }
    let mut budget = INFLATED_BUDGET;
    for (dictionary, content) in streams(data) {
        if !names(dictionary).any(|name| *name == *b"First" || *name == *b"ObjStm") {
            continue;
        }
        let filters: Vec<_> = names(dictionary).filter(|n| is_filter(n)).collect();
        let inflated = match filters.as_slice() {
            // Uncompressed, the objects were read with the rest of the file.
            [] => continue,
            [flate] if **flate == *b"FlateDecode" && !has_name(dictionary, b"DecodeParms") => {
                match inflate(content, &mut budget) {
                    Ok(inflated) => inflated,
                    Err(_) if has_name(data, b"Encrypt") => {
                        return Some(
                            "the PDF is encrypted and keeps its objects compressed, so it \
                             cannot be checked for scripts; send it without password protection",
                        );
                    }
                    Err(reason) => return Some(reason),
                }
            }
            _ => return Some("the PDF's object streams use a filter that cannot be checked"),
        };
        if has_action(&inflated) {
            return Some(ACTIONS);
        }
    }
    None
}

fn has_action(text: &[u8]) -> bool {
    names(text).any(|name| *name == *b"JavaScript" || *name == *b"Launch")
}

fn has_name(text: &[u8], wanted: &[u8]) -> bool {
    names(text).any(|name| *name == *wanted)
}

/// The standard stream filters, in full and abbreviated.
fn is_filter(name: &[u8]) -> bool {
    matches!(
        name,
        b"FlateDecode"
            | b"Fl"
            | b"ASCIIHexDecode"
            | b"AHx"
            | b"ASCII85Decode"
            | b"A85"
            | b"LZWDecode"
            | b"LZW"
            | b"RunLengthDecode"
            | b"RL"
            | b"CCITTFaxDecode"
            | b"JBIG2Decode"
            | b"DCTDecode"
            | b"JPXDecode"
            | b"Crypt"
    )
}

/// The names in `text` (`/Type`, `/J#61vaScript`), their `#xx` escapes decoded.
fn names(text: &[u8]) -> impl Iterator<Item = Cow<'_, [u8]>> {
    memchr::memchr_iter(b'/', text).map(move |slash| {
        let rest = &text[slash + 1..];
        let end = rest
            .iter()
            .position(|&b| is_delimiter(b))
            .unwrap_or(rest.len());
        decode_name(&rest[..end])
    })
}

/// PDF whitespace and delimiters, which end a name.
fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'\0'
            | b'\t'
            | b'\n'
            | b'\x0c'
            | b'\r'
            | b' '
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'/'
            | b'%'
    )
}

fn decode_name(name: &[u8]) -> Cow<'_, [u8]> {
    if !name.contains(&b'#') {
        return Cow::Borrowed(name);
    }
    let mut decoded = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'#')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(value) => {
                decoded.push(value);
                rest = &tail[2..];
            }
            None => {
                decoded.push(byte);
                rest = tail;
            }
        }
    }
    Cow::Owned(decoded)
}

/// Each stream's dictionary (from its object's `obj` keyword) and content (up to the next
/// `endstream`: a viewer falls back to it when `/Length` lies).
fn streams(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    memchr::memmem::find_iter(data, b"stream").filter_map(move |at| {
        let before = data[..at].trim_ascii_end();
        if !before.ends_with(b">>") {
            return None; // `endstream`, or the word in a string
        }
        let after = &data[at + b"stream".len()..];
        let content = after
            .strip_prefix(b"\r\n")
            .or_else(|| after.strip_prefix(b"\n"))?;
        let dictionary_start = memchr::memmem::rfind(before, b"obj").map_or(0, |o| o + 3);
        let end = memchr::memmem::find(content, b"endstream").unwrap_or(content.len());
        Some((&before[dictionary_start..], &content[..end]))
    })
}

fn inflate(content: &[u8], budget: &mut u64) -> Result<Vec<u8>, &'static str> {
    let mut inflated = Vec::new();
    ZlibDecoder::new(content)
        .take(*budget + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| "an object stream of the PDF is damaged")?;
    let size = inflated.len() as u64;
    if size > *budget {
        return Err("the PDF's object streams inflate to more than can be checked");
    }
    *budget -= size;
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn compressed(text: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    /// A PDF 1.5 file whose catalog sits in an object stream with this dictionary.
    fn with_object_stream(dictionary: &str, content: &[u8]) -> Vec<u8> {
        [
            b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n5 0 obj\n".as_slice(),
            dictionary.as_bytes(),
            b"\nstream\r\n",
            content,
            b"\r\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
        ]
        .concat()
    }

    const OPENS_SCRIPT: &[u8] =
        b"1 0 << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>";
    const PLAIN_CATALOG: &[u8] = b"1 0 << /Type /Catalog /Pages 2 0 R >>";

    #[test]
    fn escaped_names_are_read_as_a_viewer_reads_them() {
        for action in [
            "/JavaScript",
            "/J#61vaScript",
            "/#4Aava#53cript",
            "/L#61unch",
        ] {
            let pdf = format!("%PDF-1.4\n1 0 obj << /OpenAction << /S {action} >> >> endobj");
            assert!(refusal(pdf.as_bytes()).is_some(), "{action}");
        }
        let benign = b"%PDF-1.4\n1 0 obj << /Title (JavaScript: The Good Parts) /J#61 1 >> endobj";
        assert_eq!(refusal(benign), None);
        assert_eq!(
            decode_name(b"A#2"),
            b"A#2".as_slice(),
            "a broken escape stays"
        );
    }

    #[test]
    fn object_streams_are_inflated_and_read() {
        let dictionary = "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>";
        let hidden = with_object_stream(dictionary, &compressed(OPENS_SCRIPT));
        assert!(is_pdf(&hidden));
        assert_eq!(
            refusal(&hidden),
            Some("the PDF contains JavaScript or launch actions")
        );
        // pdf.js reads an object stream without its /Type.
        let untyped = with_object_stream(
            "<</N 1/First 4/Filter/Fl#61teDecode>>",
            &compressed(OPENS_SCRIPT),
        );
        assert!(refusal(&untyped).is_some());
        let plain = with_object_stream(dictionary, &compressed(PLAIN_CATALOG));
        assert_eq!(refusal(&plain), None);
    }

    #[test]
    fn object_streams_that_cannot_be_read_are_refused() {
        let hex = with_object_stream(
            "<< /Type /ObjStm /N 1 /First 4 /Filter [/ASCIIHexDecode /FlateDecode] >>",
            b"78 9c",
        );
        assert!(refusal(&hex).unwrap().contains("filter"));
        let encrypted = with_object_stream(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>",
            b"\x8a\x11\xf3 not zlib",
        );
        assert!(refusal(&encrypted).unwrap().contains("damaged"));
        let encrypted = [encrypted.as_slice(), b"trailer << /Encrypt 6 0 R >>"].concat();
        assert!(refusal(&encrypted).unwrap().contains("password protection"));
        let bomb = with_object_stream(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>",
            &compressed(&vec![b' '; INFLATED_BUDGET as usize + 1]),
        );
        assert!(refusal(&bomb).unwrap().contains("more than"));
        // Other streams (page content, fonts, images) hold no dictionaries and are not read.
        let content = with_object_stream("<< /Filter /DCTDecode >>", b"\xff\xd8\xff\xe0");
        assert_eq!(refusal(&content), None);
    }

    #[test]
    fn a_header_within_the_first_kib_makes_a_pdf() {
        assert!(is_pdf(
            &[b"junk ".repeat(100).as_slice(), b"%PDF-1.7"].concat()
        ));
        assert!(!is_pdf(
            &[b"junk ".repeat(300).as_slice(), b"%PDF-1.7"].concat()
        ));
    }
}
