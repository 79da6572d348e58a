//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, `cargo +nightly fuzz run NAME`)
//! and for the smoke test below, which runs the same code on every `cargo test`: whatever the
//! bytes, the decoder, the folds, the attack filter and the body validators must answer,
//! never panic or hang.

use bytes::Bytes;

use crate::attack_filter::inputs::{self, BodyKind};
use crate::attack_filter::{AttackFilter, FilterPolicy, Location, Verdict, decode, fold};
use crate::pipeline::input::{InputConfig, InputPolicy};

/// The boundary of multipart bodies the body target builds.
pub const BOUNDARY: &str = "fuzz-boundary";

/// Decodes, folds and inspects `data` as a query value, then inspects it twice more for a
/// client: the second time its clean result may come from the filter's memory of clean values,
/// and must not differ.
pub fn decode_and_inspect(filter: &AttackFilter, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decoded = decode::decode(&text);
    let lower = decoded.to_lowercase();
    std::hint::black_box((fold::sql(&lower), fold::shell(&lower), fold::log4j(&lower)));
    std::hint::black_box((
        decode::base64_bytes(&text).and_then(decode::printable_text),
        decode::iis_reading(&text),
        decode::form_component(data),
        fold::line_comments_as_spaces(&lower),
    ));
    let mut verdict = Verdict::default();
    filter.inspect(
        &FilterPolicy::default(),
        Location::Query,
        "q",
        &text,
        &mut verdict,
    );
    let client = std::net::IpAddr::from([192, 0, 2, 1]);
    for _ in 0..2 {
        let mut remembered = Verdict::for_client(client);
        filter.inspect(
            &FilterPolicy::default(),
            Location::Query,
            "q",
            &text,
            &mut remembered,
        );
        assert_eq!(remembered.findings, verdict.findings, "{text:?}");
    }
}

/// Reads `data` as a request body: the first byte picks JSON, form, multipart (form-data or
/// another subtype), XML, text or a JSON-like body of a binary type; the rest is the body.
/// Runs the attack filter's body inspection and the route validators with tight limits: for
/// JSON, for multipart, and for text as a file sent as the whole body (PDFs included).
pub async fn inspect_body(filter: &AttackFilter, data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let kind = match selector % 7 {
        0 => BodyKind::Json,
        1 => BodyKind::Form,
        2 | 6 => BodyKind::Multipart {
            boundary: BOUNDARY.into(),
            form: selector % 7 == 2,
        },
        3 => BodyKind::Xml,
        4 => BodyKind::JsonLike,
        _ => BodyKind::Text,
    };
    let body = Bytes::copy_from_slice(body);
    let mut verdict = Verdict::default();
    let _ =
        inputs::inspect_body(filter, &FilterPolicy::default(), &kind, &body, &mut verdict).await;
    let policy = InputPolicy::build(&InputConfig {
        json_max_depth: Some(8),
        json_max_keys: Some(8),
        json_max_array_length: Some(8),
        json_max_string_length: Some(64),
        upload_types: vec!["png".into(), "pdf".into(), "text".into()],
        ..InputConfig::default()
    })
    .expect("the fuzzing policy is valid");
    match kind {
        BodyKind::Json => {
            let _ = policy.check_json(&body, &mut ());
        }
        BodyKind::Text => {
            let _ = policy.uploads.check_body(None, &body).await;
        }
        BodyKind::Multipart { boundary, form } => {
            let _ = policy.uploads.check(&boundary, form, body).await;
        }
        _ => {}
    }
}

/// Text no corpus holds: runs of the bytes rules care about, mixed with words, 16 B to 4 KB;
/// the same 2,000 values on every call. What an attacker sends to find states the rule sets
/// have not built (`examples/filter_worst.rs`, and the test that no set outgrows its cache).
pub fn generated_text() -> Vec<String> {
    const PIECES: &[&str] = &[
        "'", "\"", "`", "(", ")", ";", "|", "&", "$", "{", "}", "<", ">", "/", "\\", "--", "#",
        "=", " ", " or ", " and ", "select", "union", "script", "on", "cat", "/etc/", "${", "%27",
        "&#", "x", "1", "é", "漢", "\n",
    ];
    // A fixed linear congruential sequence: the same text on every run.
    let mut state: u64 = 0x5eed;
    let mut next = move |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % bound
    };
    (0..2_000)
        .map(|i| {
            let len = 16 << (i % 9);
            let mut text = String::with_capacity(len + 8);
            while text.len() < len {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds of every shape the parsers know, mutated by a fixed pseudo-random sequence.
    const SEEDS: [&[u8]; 11] = [
        b"{\"a\": [1, {\"b\": \"' or 1=1--\"}], \"c\": null}",
        b"q=%27%20union%20select&x[]=1&%00=%u003c",
        b"--fuzz-boundary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\n<svg>\r\n--fuzz-boundary--\r\n",
        b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a b=\"&x;\">&#x3c;script&#62;</a>",
        b"${jndi:${lower:l}dap://x/${env:HOME}}",
        b"c'a't$IFS/e?c/p*d;{ls,-la}|`id`$(whoami)",
        b"&#0000060;&lt;img src=x onerror=alert(1)&gt; \\u003c \xef\xbc\x9c \xc0\xbc",
        b"[[[[[[[[[[[[{\"\":{\"\":[\"\\ud800\"]}}]]]]]]]]]]]]",
        // Markdown code in prose, with runs of backticks and non-ASCII letters beside them.
        b"run `ls -la` then ``echo `id` `` and\n```sh\ncat /etc/passwd\n```\n\xc3\xa9t\xc3\xa9 `x`.",
        // Search phrases joined by logic.
        b"\"machine learning\" AND (python OR rust) -java 'x' or ('1')",
        // A PDF whose object stream holds an escaped action name.
        b"%PDF-1.5\n5 0 obj<</N 1/First 4/Filter/Fl#61teDecode>>stream\r\n\x78\x9c\x33\x54\x30\x50\xb0\xb1\xd1\x0f\xd6\xf7\x52\x36\x33\x2c\x4b\x0c\x4e\x2e\xca\x2c\x28\xb1\xb3\x03\x00\x41\xc1\x06\x67\r\nendstream",
    ];

    /// xorshift64: reproducible, no dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn mutate(seed: &[u8], state: &mut u64) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..(next(state) % 8) {
            let at = (next(state) as usize) % (data.len() + 1);
            match next(state) % 4 {
                0 if at < data.len() => data[at] = next(state) as u8,
                1 => data.insert(at, next(state) as u8),
                2 if at < data.len() => {
                    data.remove(at);
                }
                _ => {
                    let from = (next(state) as usize) % (data.len() + 1);
                    let piece: Vec<u8> = data[from..].iter().take(16).copied().collect();
                    data.splice(at..at, piece);
                }
            }
        }
        data
    }

    #[tokio::test]
    async fn mutated_inputs_never_panic() {
        let filter = AttackFilter::new();
        let mut state = 0x5eed_u64;
        let mut runs = 0;
        for seed in SEEDS {
            for _ in 0..300 {
                let data = mutate(seed, &mut state);
                decode_and_inspect(&filter, &data);
                for selector in 0..7u8 {
                    let mut body = vec![selector];
                    body.extend_from_slice(&data);
                    inspect_body(&filter, &body).await;
                }
                runs += 1;
            }
        }
        assert_eq!(runs, SEEDS.len() * 300);
    }
}
