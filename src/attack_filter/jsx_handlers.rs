//! JSX's event handlers, which a React question or an assistant's answer holds in every
//! other line: `<button onClick={() => setCount(count + 1)}>`, `<form onSubmit={handle}>`.
//!
//! To HTML they are event handlers, and both libinjection and the handler rule counted them
//! as XSS: one answer with a component in it blocked the rest of a conversation, which the
//! client resends with every turn. Yet as HTML most of them cannot run. An unquoted attribute
//! value ends at the first space or `>`, so the handler's code is `{()` or `{(e)`: a block
//! that is never closed, a syntax error, and nothing runs. A value that only names a function
//! (`{handleSubmit}`, `{this.onChange}`) runs, and does nothing.
//!
//! The XSS checks therefore read a value with such handlers renamed (`onClick` to
//! `noClick`), when that is provably all they are: the value is the text the application
//! receives (no decoding layer changed it: `&#32;` would put a space inside the attribute
//! value), and the handler's code holds nothing that could hide a brace from the count
//! (quotes, backticks, `/`, `\`, `&`, `<`). Handlers that could run, `onclick={alert(1)}`,
//! `onerror={(alert(1))}` or `onclick=alert(1)`, are read as before, and so is everything else
//! in the value.

/// `text` with each event handler renamed whose JSX-style code cannot run as HTML; `None`
/// when there is none.
pub(super) fn without_inert_handlers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut renamed: Option<Vec<u8>> = None;
    for brace in memchr::memchr_iter(b'{', bytes) {
        let Some(name) = handler_name_before(bytes, brace) else {
            continue;
        };
        if is_inert(unquoted_value(&bytes[brace..])) {
            let out = renamed.get_or_insert_with(|| bytes.to_vec());
            out[name] = b'n';
            out[name + 1] = b'o';
        }
    }
    // Only ASCII letters were replaced by ASCII letters: the bytes are still UTF-8.
    renamed.map(|bytes| String::from_utf8(bytes).expect("ASCII replaced by ASCII"))
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

/// An unquoted attribute value: up to the first space or `>`.
fn unquoted_value(from: &[u8]) -> &[u8] {
    let end = from
        .iter()
        .position(|&b| is_html_space(b) || b == b'>')
        .unwrap_or(from.len());
    &from[..end]
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

fn trim_html_space_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| !is_html_space(b))
        .map_or(0, |at| at + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::without_inert_handlers;

    #[test]
    fn handlers_html_cuts_short_or_that_only_name_a_function_are_renamed() {
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
        ] {
            assert_eq!(
                without_inert_handlers(text).as_deref(),
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
            "a json {\"key\": {\"on\": 1}}",
            "const x = {a: 1}",
            "plain prose",
        ] {
            assert_eq!(without_inert_handlers(text), None, "{text}");
        }
    }
}
