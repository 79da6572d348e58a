//! `rampart check`: one test per kind of mistake, each reported as `file:line: key: reason`.

use std::process::Command;

use crate::support::rampart_bin;

const VALID: &str = r#"mode = "development"

[listen]
address = "127.0.0.1:8443"
plaintext = true

[[upstream]]
name = "app"
targets = ["http://127.0.0.1:5000"]

[[route]]
path = "/"
upstream = "app"
"#;

/// Runs `rampart check` on `text`; returns (exit code, stdout, stderr).
fn check_with_env(text: &str, env: &[(&str, &str)]) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(rampart_bin())
        .args(["check", "--config"])
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        path.display().to_string(),
    )
}

fn problems(text: &str) -> (String, Vec<String>) {
    let (code, _, stderr, path) = check_with_env(text, &[]);
    assert_eq!(code, 2, "check must fail:\n{stderr}");
    let lines = stderr
        .lines()
        .filter(|l| !l.ends_with("found"))
        .map(str::to_owned)
        .collect();
    (path, lines)
}

#[test]
fn a_valid_config_passes() {
    let (code, stdout, stderr, _) = check_with_env(VALID, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.trim_end().ends_with(": OK"));
}

#[test]
fn the_shipped_examples_pass() {
    for example in ["examples/chatbot.toml", "examples/ml-serving.toml"] {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + example;
        let output = Command::new(rampart_bin())
            .args(["check", "--config", &path])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn unknown_key() {
    let (path, lines) = problems(&VALID.replace(
        "plaintext = true",
        "plaintext = true\nlisten_adress = \"x\"",
    ));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:6: listen.listen_adress: unknown field `listen_adress`, expected one of"
        )),
        "{lines:?}"
    );
}

#[test]
fn unknown_section() {
    let (path, lines) = problems(&format!("{VALID}\n[ratelimit]\nx = 1\n"));
    assert!(
        lines[0].starts_with(&format!(
            "{path}:15: ratelimit: unknown key; expected one of"
        )),
        "{lines:?}"
    );
}

#[test]
fn bad_duration() {
    let (path, lines) = problems(&VALID.replace(
        "plaintext = true",
        "plaintext = true\nheader_read_timeout = \"ten seconds\"",
    ));
    assert_eq!(
        lines,
        [format!(
            "{path}:6: listen.header_read_timeout: `ten seconds` is not a duration (expected number at 0); write e.g. \"30s\", \"250ms\" or \"5m\""
        )]
    );
}

#[test]
fn route_to_a_missing_upstream() {
    let (path, lines) = problems(&VALID.replace("upstream = \"app\"", "upstream = \"backend\""));
    assert_eq!(
        lines,
        [format!(
            "{path}:13: route[0].upstream: no [[upstream]] is named `backend`; defined: app"
        )]
    );
}

#[test]
fn production_without_a_certificate() {
    let text = VALID
        .replace("mode = \"development\"", "mode = \"production\"")
        .replace("plaintext = true\n", "");
    let (path, lines) = problems(&text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:3: listen.tls: production mode needs a certificate"
        )),
        "{lines:?}"
    );
}

#[test]
fn certificate_files_that_do_not_exist() {
    let text = VALID.replace(
        "plaintext = true\n",
        "[listen.tls]\ncert = \"/nonexistent/fullchain.pem\"\nkey = \"/nonexistent/privkey.pem\"\n",
    );
    let (path, lines) = problems(&text);
    assert!(
        lines[0].starts_with(&format!(
            "{path}:5: listen.tls: cannot read certificate /nonexistent/fullchain.pem"
        )),
        "{lines:?}"
    );
}

#[test]
fn bad_upstream_target() {
    let (path, lines) = problems(&VALID.replace("http://127.0.0.1:5000", "127.0.0.1:5000/api"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:9: upstream[0].targets[0]: `127.0.0.1:5000/api`"
        )),
        "{lines:?}"
    );
}

#[test]
fn toml_syntax_error() {
    let (path, lines) = problems(&VALID.replace("[listen]", "[listen"));
    assert!(
        lines[0].starts_with(&format!("{path}:3: invalid TOML")),
        "{lines:?}"
    );
}

#[test]
fn several_mistakes_are_all_reported() {
    let text = VALID
        .replace("mode = \"development\"", "mode = \"staging\"")
        .replace("address = \"127.0.0.1:8443\"", "address = \"localhost\"")
        .replace("path = \"/\"", "path = \"/\"\nmethods = [\"FETCH\"]");
    let (_, lines) = problems(&text);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains(":1: mode: unknown variant `staging`"),
        "{lines:?}"
    );
    assert!(lines[1].contains(":4: listen.address:"), "{lines:?}");
    assert!(
        lines[2].contains(":13: route[0].methods[0]: `FETCH` is not an HTTP method"),
        "{lines:?}"
    );
}

#[test]
fn environment_overrides_are_checked_and_blamed() {
    let (code, _, stderr, _) = check_with_env(VALID, &[("RAMPART_LISTEN__MAX_BODY", "lots")]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(
            "environment variable RAMPART_LISTEN__MAX_BODY: listen.max_body: `lots` is not a size"
        ),
        "{stderr}"
    );
    let (code, _, stderr, _) = check_with_env(
        VALID,
        &[
            ("RAMPART_MODE", "production"),
            ("RAMPART_LISTEN__PLAINTEXT", "true"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
}
