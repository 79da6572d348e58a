//! HTML's text tags around a command in rich text: `<p>Run <code>curl … | sh</code> then
//! restart.</p>`, which a rich-text editor or a chat client that sends HTML posts.
//!
//! The shell reads `<` and `>` as redirections, so the tag right after a command (`sh</code>`)
//! made the shell rules read a command with its input redirected: a sentence that passes as
//! text was refused as HTML. As shell, `sh </code>` reads its input from the file `/code`,
//! which is not there, and runs nothing; as HTML it is formatting. The shell form therefore
//! reads such tags as spaces: an element of text (`code`, `pre`, `p`, `b`, `li`, …), opened or
//! closed, without attributes or with only `class`, `id`, `lang` or `dir` of plain words
//! (`<code class="language-bash">`). A tag with any other attribute, or another element, is
//! read as before, and so is everything between the tags: `<code>;id</code>` is `;id`.

/// The elements that hold text and run, load or link nothing.
const TEXT_ELEMENTS: [&[u8]; 47] = [
    b"p",
    b"br",
    b"hr",
    b"div",
    b"span",
    b"code",
    b"pre",
    b"kbd",
    b"samp",
    b"var",
    b"tt",
    b"b",
    b"i",
    b"u",
    b"s",
    b"em",
    b"strong",
    b"small",
    b"mark",
    b"del",
    b"ins",
    b"sub",
    b"sup",
    b"q",
    b"cite",
    b"abbr",
    b"blockquote",
    b"ul",
    b"ol",
    b"li",
    b"dl",
    b"dt",
    b"dd",
    b"table",
    b"thead",
    b"tbody",
    b"tr",
    b"td",
    b"th",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"details",
    b"summary",
];

/// Attributes that only name or describe the element.
const PLAIN_ATTRIBUTES: [&[u8]; 4] = [b"class", b"id", b"lang", b"dir"];

/// `text` (lowercased) with each text tag replaced by a space; `None` when it has none.
pub(super) fn without_text_tags(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    // A tag holds no `<` after its first byte, so the next `<` is always past the last tag.
    for open in memchr::memchr_iter(b'<', bytes) {
        let Some(len) = text_tag_len(&bytes[open..]) else {
            continue;
        };
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        // `<` and `>` are ASCII: both ends are character boundaries.
        out.push_str(&text[copied..open]);
        out.push(' ');
        copied = open + len;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// The length of the text tag `tag` starts with (at its `<`), if it is one.
fn text_tag_len(tag: &[u8]) -> Option<usize> {
    let mut at = 1 + usize::from(tag.get(1) == Some(&b'/'));
    let name = word_at(tag, at);
    if !TEXT_ELEMENTS.contains(&&tag[at..at + name]) {
        return None;
    }
    at += name;
    loop {
        at += tag[at..].iter().take_while(|&&b| b == b' ').count();
        match tag.get(at)? {
            b'>' => return Some(at + 1),
            b'/' if tag.get(at + 1) == Some(&b'>') => return Some(at + 2),
            _ => {}
        }
        let attribute = word_at(tag, at);
        // A space must come before an attribute, as HTML's tokenizer reads one.
        if attribute == 0
            || tag[at - 1] != b' '
            || !PLAIN_ATTRIBUTES.contains(&&tag[at..at + attribute])
        {
            return None;
        }
        at += attribute;
        if tag.get(at) == Some(&b'=') {
            at += 1 + plain_value_len(&tag[at + 1..])?;
        }
    }
}

/// The length of the run of letters, digits and `-` at `at`.
fn word_at(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count()
}

/// The length of an attribute value of plain words, quoted or not (`"language-bash"`, `x1`).
fn plain_value_len(value: &[u8]) -> Option<usize> {
    let is_plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b' ');
    match value.first()? {
        &quote @ (b'"' | b'\'') => {
            let inner = value[1..].iter().take_while(|b| is_plain(b)).count();
            (value.get(1 + inner) == Some(&quote)).then_some(inner + 2)
        }
        _ => {
            let len = value
                .iter()
                .take_while(|b| is_plain(b) && **b != b' ')
                .count();
            (len > 0).then_some(len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_text_tags;

    #[test]
    fn text_tags_become_spaces() {
        for (text, expected) in [
            (
                "<p>run <code>curl -fssl https://get.example.com | sh</code> then restart.</p>",
                " run  curl -fssl https://get.example.com | sh  then restart. ",
            ),
            (
                "<pre><code class=\"language-bash\">ls -la</code></pre>",
                "  ls -la  ",
            ),
            ("a<br/>b<br />c<hr>", "a b c "),
            ("<code>;id</code>", " ;id "),
            ("<li id=step-1 class='x y'>go</li>", " go "),
        ] {
            assert_eq!(without_text_tags(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn other_tags_and_redirections_stay() {
        for text in [
            "cat</etc/passwd",
            "sh <code",
            "x <a href=\"http://x.example\">link</a>",
            "<code onclick=\"alert(1)\">x",
            "<code class=\"$(id)\">x",
            "<code class=x$(id)>x",
            "<codex>",
            "<p/class=x>",
            "<script>alert(1)</script>",
            "id > /tmp/out",
            "plain words",
        ] {
            assert_eq!(without_text_tags(text), None, "{text}");
        }
    }
}
