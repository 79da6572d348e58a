//! What the attack filter costs per JSON body, by step: the walk over the body alone ("parse"),
//! the whole inspection (walk included), the same
//! body resent by the same client (its values then come from the filter's cache of clean
//! values), and the parts of an inspection (decoding, folding, the libinjection SQL and HTML
//! tokenizers).
//!
//!     cargo run --release --example filter_cost
//!
//! Three 1 KB bodies: one long word (`"x"` repeated, what bench/shield.sh sent until
//! 2026-11-24), prose with punctuation in one field, and a chat request shaped like the one
//! bench/shield.sh sends now (a few fields, a system and a user message). The per-step columns
//! time the longest text of each. Results are in docs/BENCHMARKS.md.
//!
//! The "cold" column is the whole inspection again, with 4 MiB of other memory written between
//! calls, as a busy server's networking and other requests do between two bodies on one core:
//! a loop that inspects nothing else keeps the filter's tables and code in cache, and reads
//! low against what `perf` finds in a loaded server.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rampart::attack_filter::{
    AttackFilter, FilterPolicy, Verdict, decode, fold, inputs, structural,
};
use rampart::json_walk::{self, JsonLimits};

const ROUNDS: u32 = 20_000;

fn per_call(mut work: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        work();
    }
    started.elapsed() / ROUNDS
}

/// Like [`per_call`], with `other` (written through) pushing the work's memory out of the
/// core's caches before each call; only the calls are timed.
fn per_cold_call(other: &mut [u8], mut work: impl FnMut()) -> Duration {
    const ROUNDS: u32 = 2_000;
    let mut spent = Duration::ZERO;
    for _ in 0..ROUNDS {
        for line in other.chunks_mut(64) {
            line[0] = line[0].wrapping_add(1);
        }
        let started = Instant::now();
        work();
        spent += started.elapsed();
    }
    spent / ROUNDS
}

fn main() {
    let filter = AttackFilter::new();
    let policy = FilterPolicy::default();
    let sentence = "Hello there, I'd like to know whether the blue cotton shirt (size M) is still \
                    available; my order #4411 didn't arrive. Thanks! ";
    let chat = serde_json::json!({
        "model": "assistant-large",
        "temperature": 0.7,
        "max_tokens": 512,
        "user": "customer-4821",
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant for an online \
                shop. Answer briefly and politely."},
            {"role": "user", "content": sentence.repeat(6)},
        ],
    });
    let bodies = [
        (
            "x",
            format!("{{\"message\": \"{}\"}}", "x".repeat(980)),
            "/message",
        ),
        (
            "prose",
            format!("{{\"message\": \"{}\"}}", sentence.repeat(8)),
            "/message",
        ),
        ("chat", chat.to_string(), "/messages/1/content"),
    ];
    println!(
        "{:<6} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "body", "parse", "inspect", "cold", "resent", "decode", "folds", "sqli", "xss"
    );
    let mut other = vec![0u8; 4 << 20];
    for (label, body, longest) in &bodies {
        let value: serde_json::Value = serde_json::from_str(body).expect("the bodies are JSON");
        let text = value
            .pointer(longest)
            .and_then(|text| text.as_str())
            .expect("a message");
        let parse = per_call(|| {
            black_box(json_walk::walk(body.as_bytes(), &JsonLimits::NONE, &mut ()).is_ok());
        });
        let inspect = per_call(|| {
            let mut verdict = Verdict::default();
            black_box(
                inputs::inspect_json_body(&filter, &policy, body.as_bytes(), &mut verdict).is_ok(),
            );
            black_box(verdict);
        });
        let cold = per_cold_call(&mut other, || {
            let mut verdict = Verdict::default();
            black_box(
                inputs::inspect_json_body(&filter, &policy, body.as_bytes(), &mut verdict).is_ok(),
            );
            black_box(verdict);
        });
        // The same body again from the same client, as a chat client resends its history:
        // every value was found clean before, and is only looked up.
        let client = std::net::IpAddr::from([192, 0, 2, 1]);
        let again = per_call(|| {
            let mut verdict = Verdict::for_client(client);
            black_box(
                inputs::inspect_json_body(&filter, &policy, body.as_bytes(), &mut verdict).is_ok(),
            );
            black_box(verdict);
        });
        let decode = per_call(|| {
            black_box(decode::decode(text));
        });
        let folds = per_call(|| {
            black_box(fold::sql(text));
            black_box(fold::shell(text));
        });
        let sqli = per_call(|| {
            black_box(structural::sqli(text));
        });
        let xss = per_call(|| {
            black_box(structural::xss(text));
        });
        println!(
            "{label:<6} {parse:>8.2?} {inspect:>9.2?} {cold:>9.2?} {again:>9.2?} {decode:>8.2?} {folds:>8.2?} {sqli:>8.2?} {xss:>8.2?}"
        );
    }
}
