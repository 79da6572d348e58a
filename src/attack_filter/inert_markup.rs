//! Markup that cannot run, which a web developer's questions and an assistant's answers hold
//! in every other line: JSX's event handlers (`<button onClick={() => setCount(count + 1)}>`,
//! `<form onSubmit={handle}>`), the HTML5 doctype (`<!DOCTYPE html>`) and the `meta` tags
//! that describe a page (`<meta name="viewport" content="…">`).
//!
//! Both libinjection and the handler rule counted them as XSS (libinjection counts every
//! doctype and every `meta`): one answer with a component or a page in it blocked the rest of
//! a conversation, which the client resends with every turn. Yet a doctype runs nothing, nor
//! does a `meta` that only describes the page, and as HTML most JSX
//! handlers cannot run either. An unquoted attribute value ends at the first space or `>`, so
//! the handler's code is `{()` or `{(e)`: a block that is never closed, a syntax error, and
//! nothing runs. A value that only names a function (`{handleSubmit}`, `{this.onChange}`) runs,
//! and does nothing.
//!
//! The XSS checks therefore read a value with such handlers renamed (`onClick` to `noClick`)
//! and such doctypes and `meta` tags turned into text, when that is provably all they are: the
//! value is the text the application receives (the caller checks that no decoding layer
//! changed it: a `&#32;` would put a space inside the attribute value), and the handler's code
//! holds nothing that could hide a brace from the count (quotes, backticks, `/`, `\`, `&`,
//! `<`). Handlers that could run, `onclick={alert(1)}`, `onerror={(alert(1))}` or
//! `onclick=alert(1)`, are read as before, and so is everything else in the value; a doctype
//! with anything after `html` (an external DTD, an internal subset) is left to the XXE rules,
//! and a `meta` with `http-equiv`, `charset` or any other attribute is read as before.
//!
//! The same goes for a tag that embeds or fetches only through its attributes and has none:
//! `<object>`, `<iframe>`, `<embed>`, `<base>`, `<link>`, …. Code holds them as type arguments
//! (`Local<Object> result`, `Ref<Frame>`), and prose names them (`put an <iframe> in it`).
//! Without a `src`, `data` or `href` they load nothing, and a handler needs an attribute too.
//!
//! And a picture inlined as a `data:` URL of a raster image type (`<img src="data:image/png;
//! base64,…">`), which a rich-text editor writes for every screenshot pasted into it: a PNG,
//! JPEG, GIF or WebP is drawn, never run, in whatever element loads it, and a browser takes a
//! `data:` URL's type as written. libinjection counts every attribute value that starts with
//! `data` as XSS; in these the scheme loses its first letter (`-ata:image/png`).
//! `data:text/html`, `data:image/svg+xml` (SVG runs script when a frame or an object loads
//! it) and everything else in the value, a handler on the same `img` included, are read as
//! before.

use super::Needle;

/// `text` with the markup that cannot run made inert: JSX handlers renamed, HTML5 doctypes and
/// descriptive `meta` tags opened without their `<`; `None` when there is none.
pub(super) fn without_inert_markup(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut inert: Option<Vec<u8>> = None;
    let mut has_tags = false;
    for at in memchr::memchr2_iter(b'{', b'<', bytes) {
        has_tags |= bytes[at] == b'<';
        if bytes[at] == b'{' {
            let Some(name) = handler_name_before(bytes, at) else {
                continue;
            };
            if unquoted_value(&bytes[at..]).is_some_and(is_inert) {
                let out = inert.get_or_insert_with(|| bytes.to_vec());
                out[name] = b'n';
                out[name + 1] = b'o';
            }
        } else if bytes.get(at + 1) == Some(&b'!') && is_html5_doctype(&bytes[at + 2..])
            || is_descriptive_meta(&bytes[at + 1..])
            || is_bare_embedding_tag(&bytes[at + 1..])
        {
            inert.get_or_insert_with(|| bytes.to_vec())[at] = b' ';
        }
    }
    // Outside a tag's attribute, a `data:` URL is text, which nothing reads as XSS.
    if has_tags {
        for at in DATA_IMAGE.find_iter(bytes) {
            if is_raster_image_type(&bytes[at + DATA_IMAGE_LEN..]) {
                inert.get_or_insert_with(|| bytes.to_vec())[at] = b'-';
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes: the text is still UTF-8.
    inert.map(|bytes| String::from_utf8(bytes).expect("ASCII replaced by ASCII"))
}

static DATA_IMAGE: Needle = Needle::new("data:image/");
const DATA_IMAGE_LEN: usize = "data:image/".len();

/// A raster image's subtype, ended by a parameter's `;` or the data's `,`: what follows
/// `data:image/`.
fn is_raster_image_type(after_slash: &[u8]) -> bool {
    const RASTER: [&[u8]; 10] = [
        b"png", b"apng", b"gif", b"jpeg", b"jpg", b"pjpeg", b"webp", b"avif", b"bmp", b"x-icon",
    ];
    RASTER.iter().any(|subtype| {
        after_slash
            .get(..subtype.len())
            .is_some_and(|name| name.eq_ignore_ascii_case(subtype))
            && matches!(after_slash.get(subtype.len()), Some(b';' | b','))
    })
}

/// Tags that load or run something only through an attribute.
const EMBEDDING_TAGS: [&[u8]; 10] = [
    b"object",
    b"embed",
    b"iframe",
    b"frame",
    b"frameset",
    b"applet",
    b"base",
    b"link",
    b"portal",
    b"math",
];

/// One of [`EMBEDDING_TAGS`] opened without attributes (`object>`, `iframe />`): what follows
/// `<`.
fn is_bare_embedding_tag(after_open: &[u8]) -> bool {
    EMBEDDING_TAGS.iter().any(|tag| {
        after_open
            .get(..tag.len())
            .is_some_and(|name| name.eq_ignore_ascii_case(tag))
            && matches!(
                trim_html_space_start(&after_open[tag.len()..]),
                [b'>', ..] | [b'/', b'>', ..]
            )
    })
}

/// `doctype html>` in any case, with HTML's spaces around `html`: what follows `<!`.
fn is_html5_doctype(after_open: &[u8]) -> bool {
    let Some(rest) = after_open
        .get(..7)
        .filter(|word| word.eq_ignore_ascii_case(b"doctype"))
        .map(|_| &after_open[7..])
    else {
        return false;
    };
    let name = trim_html_space_start(rest);
    if name.len() == rest.len() || name.len() < 4 || !name[..4].eq_ignore_ascii_case(b"html") {
        return false;
    }
    trim_html_space_start(&name[4..]).first() == Some(&b'>')
}
/// `meta` and attributes up to `>` that only describe the page, `name`, `property` and
/// `content` (`<meta name="viewport" content="width=device-width">`): what follows `<`. A
/// `meta` with `http-equiv` (a refresh to a `javascript:` URL, a cookie) or `charset` (a page
/// read in another encoding, where an escape may no longer escape) is not.
fn is_descriptive_meta(after_open: &[u8]) -> bool {
    let Some(mut rest) = after_open
        .get(..4)
        .filter(|word| word.eq_ignore_ascii_case(b"meta"))
        .map(|_| &after_open[4..])
    else {
        return false;
    };
    if !rest.first().copied().is_some_and(is_html_space) {
        return false;
    }
    loop {
        rest = trim_html_space_start(rest);
        match rest.first() {
            Some(b'>') => return true,
            Some(b'/') => {
                rest = &rest[1..];
                continue;
            }
            None => return false,
            Some(_) => {}
        }
        let name_len = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphabetic() || b == b'-'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after_equals = trim_html_space_start(&rest[name_len..]).strip_prefix(b"=");
        let Some((_, after)) = after_equals.and_then(|v| attribute_value(trim_html_space_start(v)))
        else {
            return false;
        };
        let describes = [&b"name"[..], b"property", b"content"]
            .iter()
            .any(|allowed| name.eq_ignore_ascii_case(allowed));
        if !describes {
            return false;
        }
        rest = after;
    }
}

/// A quoted or unquoted attribute value without markup in it, and what follows it.
fn attribute_value(from: &[u8]) -> Option<(&[u8], &[u8])> {
    let (value, after) = match from.first()? {
        &quote @ (b'"' | b'\'') => {
            let end = memchr::memchr(quote, &from[1..])?;
            (&from[1..=end], &from[end + 2..])
        }
        _ => {
            let end = from
                .iter()
                .position(|&b| is_html_space(b) || b == b'>')
                .unwrap_or(from.len());
            (&from[..end], &from[end..])
        }
    };
    let plain = !value
        .iter()
        .any(|b| matches!(b, b'<' | b'>' | b'"' | b'\'' | b'`' | b'&'));
    plain.then_some((value, after))
}

/// Where the attribute name starts, when `bytes[brace]` opens the value of an attribute
/// whose name starts with `on` (`onClick={`, `onchange = {`).
fn handler_name_before(bytes: &[u8], brace: usize) -> Option<usize> {
    let before_value = trim_html_space_end(&bytes[..brace]);
    let before_equals = trim_html_space_end(before_value.strip_suffix(b"=")?);
    let start = before_equals
        .iter()
        .rposition(|&b| ends_attribute_name(b))
        .map_or(0, |at| at + 1);
    let name = &before_equals[start..];
    (name.len() > 2 && name[..2].eq_ignore_ascii_case(b"on")).then_some(start)
}

/// The bytes that end an attribute name, or stand before one, as HTML's tokenizer reads it.
fn ends_attribute_name(b: u8) -> bool {
    is_html_space(b) || matches!(b, b'/' | b'>' | b'<' | b'=' | b'"' | b'\'' | b'`')
}

/// The longest handler code read: JSX's are a few words long. Longer code is read as before,
/// and every `{` of a value costs at most this much, however the value repeats `onX={`.
const MAX_CODE: usize = 256;

/// An unquoted attribute value: up to the first space or `>`; `None` when it is longer than
/// [`MAX_CODE`].
fn unquoted_value(from: &[u8]) -> Option<&[u8]> {
    let window = &from[..from.len().min(MAX_CODE + 1)];
    match window.iter().position(|&b| is_html_space(b) || b == b'>') {
        Some(end) => Some(&from[..end]),
        None => (from.len() <= MAX_CODE).then_some(from),
    }
}

/// Whether `code`, a handler's whole code, cannot run: its braces do not balance (a syntax
/// error, so nothing runs), or it only names a function. Code with anything that could hide a
/// brace from the count (a string, a template, a regular expression, a comment, an escape, a
/// character reference) is never called inert.
fn is_inert(code: &[u8]) -> bool {
    if code
        .iter()
        .any(|b| matches!(b, b'\'' | b'"' | b'`' | b'/' | b'\\' | b'&' | b'<'))
    {
        return false;
    }
    let mut depth: i32 = 0;
    for &b in code {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    depth != 0 || names_a_function(code)
}

/// `{name}` or `{a.b.c}`: a reference, which reads a name and calls nothing.
fn names_a_function(code: &[u8]) -> bool {
    let Some(inner) = code
        .strip_prefix(b"{")
        .and_then(|rest| rest.strip_suffix(b"}"))
    else {
        return false;
    };
    inner.split(|&b| b == b'.').all(|part| {
        part.first()
            .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
            && part
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
    })
}

fn is_html_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

fn trim_html_space_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_html_space(b))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_html_space_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| !is_html_space(b))
        .map_or(0, |at| at + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::{MAX_CODE, without_inert_markup};

    #[test]
    fn doctypes_meta_tags_and_handlers_that_cannot_run_are_made_inert() {
        for (text, expected) in [
            (
                "<button onClick={() => setCount(count + 1)}>+</button>",
                "<button noClick={() => setCount(count + 1)}>+</button>",
            ),
            (
                "set onChange={e => setName(e.target.value)}",
                "set noChange={e => setName(e.target.value)}",
            ),
            (
                "<form onSubmit={handleSubmit}>",
                "<form noSubmit={handleSubmit}>",
            ),
            ("<a onclick = {this.open}>", "<a noclick = {this.open}>"),
            // `>` ends the value: the handler is `{()=`.
            ("<b onClick={()=>go(1)}>", "<b noClick={()=>go(1)}>"),
            (
                "<i onA={x} onB={(e) => f(e)}>",
                "<i noA={x} noB={(e) => f(e)}>",
            ),
            ("<!DOCTYPE html>\n<html>", " !DOCTYPE html>\n<html>"),
            ("a page: <!doctype  HTML >", "a page:  !doctype  HTML >"),
            (
                "<meta name=\"viewport\" content=\"width=device-width\" />",
                " meta name=\"viewport\" content=\"width=device-width\" />",
            ),
            (
                "<meta property='og:title' content=Demo>",
                " meta property='og:title' content=Demo>",
            ),
            (
                "Local<Object> ctx = args[1].As<Object>();",
                "Local Object> ctx = args[1].As Object>();",
            ),
            ("put an <iframe /> in it", "put an  iframe /> in it"),
            (
                "<p><img src=\"data:image/png;base64,iVBORw0KGgo=\" width=\"640\"></p>",
                "<p><img src=\"-ata:image/png;base64,iVBORw0KGgo=\" width=\"640\"></p>",
            ),
            (
                "<img src=data:image/JPEG,x alt=a><img src='data:image/webp;base64,UklG'>",
                "<img src=-ata:image/JPEG,x alt=a><img src='-ata:image/webp;base64,UklG'>",
            ),
        ] {
            assert_eq!(
                without_inert_markup(text).as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn handlers_that_could_run_and_other_text_are_left_alone() {
        for text in [
            "<img src=x onerror={alert(1)}>",
            "<div onclick={(alert(1))}>",
            "<div onclick={a}alert(1)>",
            // Braces a string, a comment or a character reference hides from the count.
            "<div onclick={'{';alert(1)}>",
            "<div onclick={alert(1)}<!--{>",
            "<div onclick={alert(1)&#125;>",
            "<div onclick={()&#32;=>alert(1)}>",
            "<div onclick={/{/;alert(1)}>",
            "<div onclick=alert(1)>",
            "<div onclick=\"{() => alert(1)}\">",
            "<div on={()}>",
            // Code longer than a JSX handler is read as before, and read once, not once per `{`.
            &("=onx={".repeat(50_000) + &"x".repeat(MAX_CODE)),
            "a json {\"key\": {\"on\": 1}}",
            "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"http://x.example/x.dtd\">",
            "<!DOCTYPEhtml>",
            "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
            "<meta content=\"0;url=javascript:alert(1)\" http-equiv=\"refresh\">",
            "<meta charset=\"utf-7\">",
            "<meta charset=\"utf-8\">",
            "<meta name=x content=y onload=alert(1)>",
            "<meta name=\"x\" content=\"a\"",
            "<meta name=\"x\" content=\"<script>\">",
            "<metaname=x>",
            "<object data=\"javascript:alert(1)\">",
            "<iframe src=//evil.example>",
            "<iframe/onload=alert(1)>",
            "<embed\tsrc=x.swf>",
            "<objects>",
            // Types that are no raster image, or that run script in a frame or an object.
            "<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\">",
            "<object data=\"data:image/svg+xml;base64,PHN2Zz4=\">",
            "<iframe src=\"data:image/png/../text/html,<script>alert(1)</script>\">",
            "<img src=\"data:image/pngx;base64,AAAA\">",
            "<!DOCTYPE html",
            "const x = {a: 1}",
            "plain prose",
        ] {
            assert_eq!(without_inert_markup(text), None, "{text}");
        }
    }
}
