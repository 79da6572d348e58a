//! The attack filter's slowest values: every value of the test corpora (CRS, benign, developer
//! chat, chat prompts) and generated text, each inspected alone, with the spread of the time
//! per value and per kilobyte and the slowest values named.
//!
//!     cargo run --release --example filter_worst
//!
//! The rules run as regex sets on a lazy DFA, whose cache of states is bounded. A rule that
//! makes the sets need more states than the cache holds does not fail: the regex engine falls
//! back to a slower one, and values take milliseconds instead of microseconds. `filter_cost`
//! shows it on its three bodies; this shows it on any input that reaches new states, which is
//! what an attacker would send. The first line reads every value once, new to the filter, as
//! a server reading varied text does. Results are in docs/BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart::attack_filter::{AttackFilter, FilterPolicy, Location, Verdict};

fn main() {
    let filter = AttackFilter::new();
    let policy = FilterPolicy::default();
    let values = corpus_values();
    // Every value once, in order, each new to the filter: what a server reading varied text
    // pays, states the lazy DFA builds and throws away included (the least of three below
    // leaves that out).
    let started = Instant::now();
    for value in &values {
        let mut verdict = Verdict::default();
        filter.inspect(&policy, Location::Query, "q", value, &mut verdict);
        black_box(verdict);
    }
    let first_reading = started.elapsed();
    let bytes: usize = values.iter().map(String::len).sum();
    println!(
        "every value read once, in order: {:.2?} for {:.1} MB, {:.1} ns per byte",
        first_reading,
        bytes as f64 / 1e6,
        first_reading.as_nanos() as f64 / bytes as f64
    );
    let mut timed: Vec<(Duration, &str)> = values
        .iter()
        .map(|value| {
            // The least of three calls: the value's own cost, not the machine's noise.
            let least = (0..3)
                .map(|_| {
                    let started = Instant::now();
                    let mut verdict = Verdict::default();
                    filter.inspect(&policy, Location::Query, "q", value, &mut verdict);
                    black_box(verdict);
                    started.elapsed()
                })
                .min()
                .expect("three calls");
            (least, value.as_str())
        })
        .collect();
    timed.sort();
    let at = |share: f64| timed[((timed.len() - 1) as f64 * share) as usize].0;
    println!(
        "{} values: p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, max {:.2?}",
        timed.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    let per_kb = |(time, value): &(Duration, &str)| {
        time.as_nanos() as f64 * 1024.0 / value.len().max(64) as f64
    };
    let mut by_rate: Vec<_> = timed.iter().collect();
    by_rate.sort_by(|a, b| per_kb(a).total_cmp(&per_kb(b)));
    println!(
        "per KB (values of 64 B or less count as 64 B): p50 {:.2} µs, max {:.2} µs",
        per_kb(by_rate[by_rate.len() / 2]) / 1000.0,
        per_kb(by_rate[by_rate.len() - 1]) / 1000.0
    );
    println!("slowest:");
    for (time, value) in timed.iter().rev().take(5) {
        let shown: String = value.chars().take(70).collect();
        println!("  {time:>10.2?}  {:>6} B  {shown:?}", value.len());
    }
}

/// Every value of the corpora under tests/corpus, and generated text.
fn corpus_values() -> Vec<String> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let read = |path: &Path| std::fs::read_to_string(path).expect("the corpora are readable");
    let mut values: Vec<String> = Vec::new();
    values.extend(
        read(&corpus.join("benign.txt"))
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("# "))
            .map(str::to_owned),
    );
    values.extend(
        read(&corpus.join("benign-chat.txt"))
            .split("\n%%%%\n")
            .map(str::to_owned),
    );
    for file in ["ordinary.jsonl", "jailbreaks.jsonl"] {
        for line in read(&corpus.join("prompts").join(file)).lines() {
            let prompt: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            values.extend(prompt["text"].as_str().map(str::to_owned));
        }
    }
    // The CRS cases' lines as they stand: payloads, URIs and headers, some percent-encoded.
    for family in std::fs::read_dir(corpus.join("crs")).expect("the CRS corpus") {
        let family = family.expect("a directory entry").path();
        if !family.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(family).expect("a CRS family") {
            let text = read(&file.expect("a directory entry").path());
            values.extend(text.lines().map(|l| l.trim().to_owned()));
        }
    }
    values.extend(rampart::fuzzing::generated_text());
    values.retain(|v| !v.is_empty());
    values
}
