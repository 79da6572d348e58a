//! Replays the OWASP CRS regression corpus and Rampart's own benign corpus through the attack
//! filter, per attack family. Floors below are the measured rates rounded down: a change that
//! loses detection or adds a false positive fails here. `RAMPART_WRITE_REPORT=1` rewrites
//! `docs/attack-filter.md` with the numbers of this run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use rampart::attack_filter::inputs::{
    BodyKind, declares_readable_charset, inspect_body, inspect_head,
};
use rampart::attack_filter::{AttackFilter, FilterPolicy, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
struct TestFile {
    rule_id: u32,
    #[serde(default)]
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
struct TestCase {
    test_id: u32,
    #[serde(default)]
    stages: Vec<Stage>,
}

#[derive(Deserialize)]
struct Stage {
    input: Input,
    output: Output,
}

#[derive(Deserialize)]
struct Input {
    #[serde(default = "default_uri")]
    uri: String,
    #[serde(default)]
    headers: BTreeMap<String, serde_norway::Value>,
    data: Option<serde_norway::Value>,
    encoded_request: Option<String>,
}

fn default_uri() -> String {
    "/".into()
}

#[derive(Deserialize, Default)]
struct Output {
    #[serde(default)]
    log: Log,
}

#[derive(Deserialize, Default)]
struct Log {
    #[serde(default)]
    expect_ids: Vec<u32>,
    #[serde(default)]
    no_expect_ids: Vec<u32>,
}

/// One replayable request from the corpus.
struct Case {
    family: String,
    id: String,
    attack: bool,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The values of a corpus file of one value per line: blank lines and lines starting with
/// `# ` are left out.
fn corpus_values(file: &str) -> Vec<String> {
    std::fs::read_to_string(corpus_dir().join(file))
        .unwrap()
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("# "))
        .map(str::to_owned)
        .collect()
}

/// Every case of the CRS files; requests given only as raw bytes (`encoded_request`) are
/// skipped and counted.
fn crs_cases() -> (Vec<Case>, usize) {
    let mut cases = Vec::new();
    let mut skipped = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(corpus_dir().join("crs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let family = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let parsed: TestFile = serde_norway::from_str(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            for test in parsed.tests {
                for stage in test.stages {
                    let log = &stage.output.log;
                    let attack = !log.expect_ids.is_empty();
                    if !attack && log.no_expect_ids.is_empty() {
                        continue;
                    }
                    let input = stage.input;
                    if input.encoded_request.is_some() {
                        skipped += 1;
                        continue;
                    }
                    let headers = header_map(&input.headers);
                    let mut body = input.data.map(yaml_text).unwrap_or_default();
                    // YAML keeps multipart bodies with bare `\n`; clients send CRLF.
                    let multipart = headers
                        .get(http::header::CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes().starts_with(b"multipart/"));
                    if multipart && !body.contains("\r\n") {
                        body = body.replace('\n', "\r\n");
                    }
                    cases.push(Case {
                        family: family.clone(),
                        id: format!("{}-{}", parsed.rule_id, test.test_id),
                        attack,
                        uri: request_uri(&input.uri),
                        headers,
                        body: body.into(),
                    });
                }
            }
        }
    }
    (cases, skipped)
}

/// The URI as a client would send it: bytes that are not allowed in a request target are
/// percent-encoded.
fn request_uri(raw: &str) -> Uri {
    let mut encoded = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
        {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

fn yaml_text(value: serde_norway::Value) -> String {
    match value {
        serde_norway::Value::String(s) => s,
        serde_norway::Value::Sequence(lines) => lines
            .into_iter()
            .map(yaml_text)
            .collect::<Vec<_>>()
            .join("\r\n"),
        other => serde_norway::to_string(&other).unwrap_or_default(),
    }
}

fn header_map(headers: &BTreeMap<String, serde_norway::Value>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(yaml_text(value.clone()).as_bytes()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

async fn verdict(filter: &AttackFilter, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Verdict {
    let policy = FilterPolicy::default();
    let mut verdict = Verdict::default();
    inspect_head(filter, &policy, uri, headers, &mut verdict);
    // A body the filter cannot parse is refused outright (fail closed), as is a multipart
    // body whose boundary is not clear.
    let readable_charset = headers
        .get(http::header::CONTENT_TYPE)
        .is_none_or(|value| declares_readable_charset(value.to_str().unwrap_or_default()));
    let unreadable = match BodyKind::of(headers) {
        Ok(Some(_)) if !body.is_empty() && !readable_charset => true,
        Ok(Some(kind)) => inspect_body(filter, &policy, &kind, body, &mut verdict)
            .await
            .is_err(),
        Ok(None) => false,
        Err(_) => !body.is_empty(),
    };
    if unreadable {
        verdict.score = verdict.score.max(policy.threshold);
    }
    verdict
}

fn blocked(verdict: &Verdict) -> bool {
    verdict.score >= FilterPolicy::default().threshold
}

#[derive(Default)]
struct Tally {
    attacks: usize,
    detected: usize,
    benign: usize,
    flagged: usize,
    false_positives: Vec<String>,
}

#[tokio::test]
async fn crs_regression_corpus_detection_and_false_positives_per_family() {
    let filter = AttackFilter::new();
    let (cases, skipped) = crs_cases();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    // To read cases while working on the rules: RAMPART_SHOW=miss (attacks let through), fp
    // (legitimate cases flagged) or hit (attacks caught), and RAMPART_SHOW_FAMILY=942 for one
    // rule file.
    let show = std::env::var("RAMPART_SHOW").ok();
    for case in &cases {
        let verdict = verdict(&filter, &case.uri, &case.headers, &case.body).await;
        let tally = tallies.entry(case.family.clone()).or_default();
        let hit = blocked(&verdict);
        if case.attack {
            tally.attacks += 1;
            tally.detected += usize::from(hit);
        } else {
            tally.benign += 1;
            if hit {
                tally.flagged += 1;
                let rules: Vec<_> = verdict.findings.iter().map(|f| f.rule).collect();
                tally
                    .false_positives
                    .push(format!("{} ({})", case.id, rules.join(", ")));
            }
        }
        if let Some(show) = &show {
            let wanted = match show.as_str() {
                "miss" => case.attack && !hit,
                "hit" => case.attack && hit,
                "fp" => !case.attack && hit,
                _ => false,
            };
            if wanted
                && case.family.contains(
                    std::env::var("RAMPART_SHOW_FAMILY")
                        .as_deref()
                        .unwrap_or(""),
                )
            {
                println!(
                    "{} {} {:?} {:?} {:?}",
                    case.family,
                    case.id,
                    case.uri,
                    String::from_utf8_lossy(&case.body),
                    verdict
                        .findings
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                );
            }
        }
    }
    let report = report(&tallies, skipped, cases.len());
    println!("{report}");
    if std::env::var_os("RAMPART_WRITE_REPORT").is_some() {
        write_report_section(&report);
    }
    let detected: usize = tallies.values().map(|t| t.detected).sum();
    let flagged: usize = tallies.values().map(|t| t.flagged).sum();
    // Measured on 2026-12-07: 1,690 detected (with the 921 protocol-attack files), 70 flagged
    // (most of them attacks that assert only that one other CRS rule stays quiet, like
    // 932230-21: `\ncat /etc/passwd;`, 942160-12: `/BENChmARk(2999/**/999,Md5(/`,
    // 942101-11: `24+union+all+select+1,2,3`, 942120-30: `user'collate foo--`, a quote
    // break-out and a comment, "legitimate" to the CRS only because `foo` is no collation, or
    // 934120-52: `http:0xA9.0xFE.0xA9`, a link-local address in hex that is not the metadata
    // service's).
    assert!(detected >= 1_693, "detection fell to {detected}");
    assert!(flagged <= 70, "false positives rose to {flagged}");
}

fn report(tallies: &BTreeMap<String, Tally>, skipped: usize, total: usize) -> String {
    let mut out = String::new();
    out.push_str("| CRS rule file | attacks | detected | rate | legitimate | flagged | rate |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let (mut a, mut d, mut b, mut f) = (0, 0, 0, 0);
    for (family, t) in tallies {
        out.push_str(&format!(
            "| {family} | {} | {} | {:.1}% | {} | {} | {:.1}% |\n",
            t.attacks,
            t.detected,
            percent(t.detected, t.attacks),
            t.benign,
            t.flagged,
            percent(t.flagged, t.benign)
        ));
        a += t.attacks;
        d += t.detected;
        b += t.benign;
        f += t.flagged;
    }
    out.push_str(&format!(
        "| **all** | {a} | {d} | {:.1}% | {b} | {f} | {:.1}% |\n",
        percent(d, a),
        percent(f, b)
    ));
    out.push_str(&format!(
        "\n{total} cases replayed; {skipped} given only as raw bytes (`encoded_request`) skipped.\n"
    ));
    out
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn write_report_section(section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/attack-filter.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- crs-report:start -->\n", "<!-- crs-report:end -->");
    let updated = match (doc.find(start), doc.find(end)) {
        (Some(s), Some(e)) => format!("{}{start}{section}{}", &doc[..s], &doc[e..]),
        _ => format!("{doc}\n{start}{section}{end}\n"),
    };
    std::fs::write(path, updated).unwrap();
}

/// Rampart's own corpus of tricky legitimate inputs: each value as a query parameter, a form
/// field and a JSON string must pass.
#[tokio::test]
async fn benign_corpus_has_no_false_positives() {
    let filter = AttackFilter::new();
    let values = corpus_values("benign.txt");
    assert!(
        values.len() >= 300,
        "the corpus holds {} values",
        values.len()
    );
    let mut flagged = Vec::new();
    for value in &values {
        let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let query: Uri = format!("/search?q={encoded}").parse().unwrap();
        let form_headers = content_type("application/x-www-form-urlencoded");
        let json = serde_json::json!({ "message": value }).to_string();
        let requests = [
            (query, HeaderMap::new(), Bytes::new()),
            (
                Uri::from_static("/form"),
                form_headers,
                Bytes::from(format!("q={encoded}")),
            ),
            (
                Uri::from_static("/chat"),
                content_type("application/json"),
                Bytes::from(json),
            ),
        ];
        for (uri, headers, body) in requests {
            let verdict = verdict(&filter, &uri, &headers, &body).await;
            if blocked(&verdict) {
                let rules: Vec<_> = verdict.findings.iter().map(|f| f.to_string()).collect();
                flagged.push(format!("{value:?} at {uri}: {}", rules.join("; ")));
            }
        }
    }
    println!(
        "benign corpus: {} values, {} flagged",
        values.len(),
        flagged.len()
    );
    assert!(
        flagged.is_empty(),
        "false positives:\n{}",
        flagged.join("\n")
    );
}

fn content_type(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(value));
    headers
}

/// A chat request's body, as chat clients send it: the whole conversation so far.
fn chat_body(messages: &[&str]) -> Bytes {
    let roles = ["user", "assistant"];
    let messages: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, content)| serde_json::json!({ "role": roles[i % 2], "content": content }))
        .collect();
    let body = serde_json::json!({ "model": "m", "messages": messages });
    Bytes::from(body.to_string())
}

/// The `messages` the filter blocks, each sent alone as a chat request, and
/// the number of messages.
async fn blocked_chat_messages<'a>(
    filter: &AttackFilter,
    messages: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, usize) {
    let mut blocked_messages = Vec::new();
    let mut total = 0;
    for message in messages {
        total += 1;
        let verdict = verdict(
            filter,
            &Uri::from_static("/v1/chat/completions"),
            &content_type("application/json"),
            &chat_body(&[message]),
        )
        .await;
        if blocked(&verdict) {
            let rules: Vec<_> = verdict.findings.iter().map(|f| f.to_string()).collect();
            blocked_messages.push(format!("{message:?}: {}", rules.join("; ")));
        }
    }
    (blocked_messages, total)
}

/// A coding assistant's chat (questions and answers full of Markdown code spans and fenced
/// blocks of shell, SQL, Python and configuration) and messages with markup, e-mail headers,
/// quotes and symbols. Each message passes alone, and the whole conversation passes as one
/// request, as a client resends it.
#[tokio::test]
async fn developer_chat_passes() {
    let filter = AttackFilter::new();
    let text = std::fs::read_to_string(corpus_dir().join("benign-chat.txt")).unwrap();
    let messages: Vec<&str> = text
        .split("\n%%%%\n")
        .filter(|m| !m.starts_with("# "))
        .map(|m| m.trim_matches('\n'))
        .collect();
    assert!(messages.len() >= 60, "{} messages", messages.len());
    let (blocked_messages, total) = blocked_chat_messages(&filter, messages.iter().copied()).await;
    println!(
        "developer chat: {total} messages, {} blocked",
        blocked_messages.len()
    );
    assert!(
        blocked_messages.is_empty(),
        "false positives:\n{}",
        blocked_messages.join("\n")
    );
    let conversation = verdict(
        &filter,
        &Uri::from_static("/v1/chat/completions"),
        &content_type("application/json"),
        &chat_body(&messages),
    )
    .await;
    assert!(!blocked(&conversation), "{:?}", conversation.findings);
}

/// The prompt corpus (`tests/corpus/prompts`) as chat messages: ordinary messages and
/// jailbreak prompts. Neither is a web attack (prompt injection is the LLM guard's work),
/// except one jailbreak that hands a model's tool an SQL injection
/// (`query: 'cats; DROP TABLE users;--'`), which the filter should block: the ceiling below.
#[tokio::test]
async fn chat_prompts_are_not_web_attacks() {
    let filter = AttackFilter::new();
    // Each file, the fewest prompts it holds and the most that may be blocked.
    for (file, at_least, most_blocked) in
        [("ordinary.jsonl", 300, 0), ("jailbreaks.jsonl", 1_200, 1)]
    {
        let lines = std::fs::read_to_string(corpus_dir().join("prompts").join(file)).unwrap();
        let prompts: Vec<String> = lines
            .lines()
            .map(|line| {
                let prompt: serde_json::Value = serde_json::from_str(line).unwrap();
                prompt["text"].as_str().unwrap().to_owned()
            })
            .collect();
        let (blocked_prompts, total) =
            blocked_chat_messages(&filter, prompts.iter().map(String::as_str)).await;
        println!("{file}: {total} prompts, {} blocked", blocked_prompts.len());
        assert!(
            total >= at_least && blocked_prompts.len() <= most_blocked,
            "{file}: {blocked_prompts:#?}"
        );
    }
}

/// Payloads of the kinds public lists collect (`tests/corpus/payload-lists.txt`), each sent as
/// a query value. Eleven pass on purpose (lone operators, addresses that are no attack until
/// an app fetches them; `docs/attack-filter.md`); more passing is lost detection.
#[tokio::test]
async fn payload_lists_beyond_the_crs() {
    let passed = payloads_passing("", |payload| {
        let encoded: String = form_urlencoded::byte_serialize(payload.as_bytes()).collect();
        format!("/search?q={encoded}")
    })
    .await;
    assert!(passed.len() <= 11, "{} passed: {passed:#?}", passed.len());
}

/// The same payloads at the end of a path, as an app's catch-all route (`/files/{*path}`,
/// `/proxy/{*url}`) receives them: escaped as a URL's path escapes them, with their slashes
/// kept, so that most of them span several segments (`/files/http://127.1/admin`,
/// `/files/1/**/union/**/select/**/1,2`).
#[tokio::test]
async fn payload_lists_in_a_catch_all_path() {
    let passed = payloads_passing(" in the path", |payload| {
        format!("/files/{}", escaped(payload, b"-._~/"))
    })
    .await;
    // Measured on 2026-12-07: 459 of 476 (393 when the path was read only segment by
    // segment). The six more than in a query string are a NUL byte escaped twice
    // (`%2500`), a glob whose `?` the path escapes, and two pickles in base64.
    assert!(passed.len() <= 17, "{} passed: {passed:#?}", passed.len());
}

/// The same payloads base64-encoded as a whole value, as an app that decodes a parameter (a
/// state, a cursor, a filter) receives them.
#[tokio::test]
async fn payload_lists_in_base64() {
    use base64::Engine as _;
    let passed = payloads_passing(" in base64", |payload| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        format!("/search?state={}", escaped(&encoded, b""))
    })
    .await;
    // Measured on 2026-12-07: 446 of 476 (426 when values under 16 characters were not
    // decoded). Of the 19 more than in a query string, 15 are under 9 bytes (`; id`,
    // `${7*7}`), which base64 writes in fewer than 12 characters, too short to tell from an
    // id; two are a NUL byte as the text `%00`, two are pickles already in base64.
    assert!(passed.len() <= 30, "{} passed: {passed:#?}", passed.len());
}

/// The payloads of `payload-lists.txt` that pass when each is sent as the request `uri_of`
/// makes of it; prints how many were blocked, `how` they were sent.
async fn payloads_passing(how: &str, uri_of: impl Fn(&str) -> String) -> Vec<String> {
    let filter = AttackFilter::new();
    let payloads = corpus_values("payload-lists.txt");
    assert!(
        payloads.len() >= 476,
        "the corpus shrank to {}",
        payloads.len()
    );
    let mut passed = Vec::new();
    for payload in payloads.iter() {
        let uri: Uri = uri_of(payload).parse().unwrap();
        if !blocked(&verdict(&filter, &uri, &HeaderMap::new(), &Bytes::new()).await) {
            passed.push(payload.clone());
        }
    }
    println!(
        "{} of {} payloads blocked{how}",
        payloads.len() - passed.len(),
        payloads.len()
    );
    passed
}

/// The Big List of Naughty Strings (`tests/corpus/naughty-strings`): its injection sections
/// are blocked, up to the floor below, and the rest (unicode, emoji, quotes, numbers,
/// reserved words, terminal escapes) passes, each as a query parameter and a JSON value.
#[tokio::test]
async fn naughty_strings() {
    const INJECTION_SECTIONS: [&str; 7] = [
        "Script Injection",
        "SQL Injection",
        "Server Code Injection",
        "Command Injection (Ruby)",
        "XXE Injection (XML)",
        "File Inclusion",
        "Known CVEs and Vulnerabilities",
    ];
    let filter = AttackFilter::new();
    let text = std::fs::read_to_string(corpus_dir().join("naughty-strings/blns.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut injections, mut blocked_injections) = (0, 0);
    let mut blocked_benign = Vec::new();
    let mut section = "";
    for (i, line) in lines.iter().enumerate() {
        if let Some(comment) = line.strip_prefix('#') {
            // A section's title is the comment line followed by a bare `#`.
            if lines.get(i + 1) == Some(&"#") {
                section = comment.trim();
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let encoded: String = form_urlencoded::byte_serialize(line.as_bytes()).collect();
        let query: Uri = format!("/search?q={encoded}").parse().unwrap();
        let json = Bytes::from(serde_json::json!({ "q": line }).to_string());
        let in_query = blocked(&verdict(&filter, &query, &HeaderMap::new(), &Bytes::new()).await);
        let in_json = blocked(
            &verdict(
                &filter,
                &Uri::from_static("/search"),
                &content_type("application/json"),
                &json,
            )
            .await,
        );
        if INJECTION_SECTIONS.contains(&section) {
            injections += 1;
            blocked_injections += usize::from(in_query && in_json);
        } else if in_query || in_json {
            blocked_benign.push(format!("{section}: {line:?}"));
        }
    }
    println!(
        "naughty strings: {blocked_injections} of {injections} injections blocked, {} other strings blocked",
        blocked_benign.len()
    );
    assert!(blocked_benign.is_empty(), "{blocked_benign:#?}");
    // Measured on 2026-12-06: 248 of 263; most of the rest is no attack alone (`%`, `--help`).
    assert!(
        injections >= 250 && blocked_injections >= 248,
        "{blocked_injections} of {injections}"
    );
}

/// SQL injections rewritten by the evasions of sqlmap's tamper scripts, one at a time and in
/// pairs, each sent in the raw query string as sqlmap sends it. Only two results may pass:
/// the two shortest bases in base64 (`MSBBTkQgMT0x` is too short and too plain to be worth
/// decoding; `docs/attack-filter.md`).
#[tokio::test]
async fn sql_injections_through_sqlmap_tampers() {
    const BASES: [&str; 12] = [
        "1 AND 1=1",
        "1' AND '1'='1",
        "1 UNION SELECT username,password FROM users",
        "1' UNION ALL SELECT NULL,NULL,NULL-- -",
        "1 AND SLEEP(5)",
        "1' AND (SELECT 1 FROM (SELECT SLEEP(5))a)-- -",
        "1 OR 1=1",
        "admin' OR '1'='1'-- -",
        "1; DROP TABLE users",
        "1 AND extractvalue(1,concat(0x7e,version()))",
        "1' ORDER BY 5-- -",
        "-1 UNION SELECT 1,@@version,3",
    ];
    type Tamper = fn(&str) -> String;
    let tampers: [(&str, Tamper); 24] = [
        ("space2comment", |p| p.replace(' ', "/**/")),
        ("space2plus", |p| p.replace(' ', "+")),
        ("space2randomblank", |p| {
            let blanks = ["%09", "%0A", "%0C", "%0D"];
            let mut n = 0;
            p.chars()
                .map(|c| match c {
                    ' ' => {
                        n += 1;
                        blanks[n % 4].to_owned()
                    }
                    c => c.to_string(),
                })
                .collect()
        }),
        ("space2hash", |p| p.replace(' ', "%23xZq%0A")),
        ("space2dash", |p| p.replace(' ', "--nVw%0A")),
        ("randomcase", |p| {
            p.chars()
                .enumerate()
                .map(|(i, c)| match i % 3 {
                    0 => c.to_ascii_lowercase(),
                    _ => c.to_ascii_uppercase(),
                })
                .collect()
        }),
        ("charencode", |p| {
            p.bytes().map(|b| format!("%{b:02X}")).collect()
        }),
        ("chardoubleencode", |p| {
            p.bytes().map(|b| format!("%25{b:02X}")).collect()
        }),
        ("charunicodeencode", |p| {
            p.bytes().map(|b| format!("%u00{b:02X}")).collect()
        }),
        ("apostrophemask", |p| p.replace('\'', "%EF%BC%87")),
        ("apostrophenullencode", |p| p.replace('\'', "%00%27")),
        // The first quote as `%bf%27`, which `addslashes` turns into a GBK character and a
        // free quote; a comment closes the rest.
        ("unmagicquotes", |p| {
            let p = p.replacen('\'', "%bf%27", 1);
            match p.contains("%bf%27") && !["#", "--", "/*"].iter().any(|c| p.contains(c)) {
                true => format!("{p}-- -"),
                false => p,
            }
        }),
        ("overlongutf8", |p| {
            p.replace('\'', "%C0%A7").replace(' ', "%C0%A0")
        }),
        ("percentage", |p| {
            p.chars()
                .map(|c| match c.is_ascii_alphabetic() {
                    true => format!("%{c}"),
                    false => c.to_string(),
                })
                .collect()
        }),
        ("between", |p| p.replace("1=1", "1 BETWEEN 1 AND 1")),
        ("equaltorlike", |p| p.replace('=', " RLIKE ")),
        ("sleep2getlock", |p| {
            p.replace("SLEEP(5)", "GET_LOCK('ETgP',5)")
        }),
        // The control characters SQL Server reads as blanks.
        ("space2mssqlblank", |p| {
            let mut n = 0;
            p.chars()
                .map(|c| match c {
                    ' ' => {
                        n += 1;
                        format!("%{:02X}", 1 + n % 15)
                    }
                    c => c.to_string(),
                })
                .collect()
        }),
        ("symboliclogical", |p| {
            p.replace(" AND ", " && ").replace(" OR ", " || ")
        }),
        ("equaltolike", |p| p.replace('=', " LIKE ")),
        ("multiplespaces", |p| p.replace(' ', "    ")),
        ("htmlencode", |p| {
            p.chars()
                .map(|c| match c.is_ascii_alphanumeric() {
                    true => c.to_string(),
                    false => format!("&#{};", u32::from(c)),
                })
                .collect()
        }),
        ("base64encode", |p| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(p)
        }),
        ("versionedkeywords", |p| {
            ["UNION", "SELECT", "AND", "OR", "FROM", "SLEEP", "ORDER"]
                .iter()
                .fold(p.to_owned(), |p, k| p.replace(k, &format!("/*!50000{k}*/")))
        }),
    ];
    let filter = AttackFilter::new();
    let mut sent = 0;
    let mut passed = Vec::new();
    let mut send = async |name: String, payload: String| {
        sent += 1;
        let uri: Uri = format!("/search?q={}", raw_query_value(&payload))
            .parse()
            .unwrap();
        if !blocked(&verdict(&filter, &uri, &HeaderMap::new(), &Bytes::new()).await) {
            passed.push(format!("{name}: {payload}"));
        }
    };
    for base in BASES {
        for (i, (name, tamper)) in tampers.iter().enumerate() {
            send(name.to_string(), tamper(base)).await;
            // Each tamper after a whitespace or case one, as sqlmap chains them (`percentage`,
            // which would split the escapes of the blank ones, after `space2comment`).
            let (first, before) = tampers[i % 6];
            send(format!("{first}+{name}"), tamper(&before(base))).await;
        }
    }
    println!("sqlmap tampers: {} of {sent} blocked", sent - passed.len());
    // All of them since the eighth session, which decodes base64 from 12 characters
    // (`MSBBTkQgMT0x` is `1 AND 1=1`).
    assert!(passed.is_empty(), "{} passed: {passed:#?}", passed.len());
}

/// `value` as sqlmap puts a tampered payload into a URL: what the tamper escaped stays as it
/// is, everything else that a query string cannot hold is escaped.
fn raw_query_value(value: &str) -> String {
    escaped(value, b"%-._~*/,()@!")
}

/// `value` with every byte but ASCII letters, digits and `kept` escaped as `%XX`.
fn escaped(value: &str, kept: &[u8]) -> String {
    value
        .bytes()
        .map(|b| match b.is_ascii_alphanumeric() || kept.contains(&b) {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}
