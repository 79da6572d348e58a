//! `rampart user ...` against a real store file (and PostgreSQL when the test script started one).

use std::process::{Command, Output};

use crate::support::{postgres_database, rampart_bin, run_with_input};

/// Store URLs to test: an SQLite file in `dir`, and a fresh PostgreSQL database if available.
fn store_urls(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite://{}/users.db", dir.display())];
    urls.extend(postgres_database());
    urls
}

fn rampart(config: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(rampart_bin());
    command.args(["user", "--config"]).arg(config).args(args);
    run_with_input(command, stdin)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(dir.path()) {
        let config = dir.path().join("rampart.toml");
        std::fs::write(
            &config,
            format!(
                "[listen]\nplaintext = true\n[storage]\nurl = \"{url}\"\n\
                 [[role]]\nname = \"viewer\"\npermissions = [\"reports:read\"]\n\
                 [[role]]\nname = \"admin\"\ninherits = [\"viewer\"]\n\
                 [[upstream]]\nname = \"app\"\ntargets = [\"http://127.0.0.1:1\"]\n[[route]]\npath = \"/\"\nupstream = \"app\"\n"
            ),
        )
        .unwrap();

        let added = rampart(
            &config,
            &["add", "ana", "--role", "admin"],
            "tulip-harbor-seventeen\n",
        );
        assert!(added.status.success(), "{url}: {}", text(&added));
        assert_eq!(text(&added).trim(), "created user ana (roles: admin)");

        let weak = rampart(&config, &["add", "bob"], "password1234\n");
        assert!(!weak.status.success());
        assert!(
            text(&weak).contains("one of the most common passwords"),
            "{}",
            text(&weak)
        );
        let unknown_role = rampart(
            &config,
            &["add", "bob", "--role", "root"],
            "tulip-harbor-seventeen\n",
        );
        assert!(
            text(&unknown_role)
                .contains("`root` is not a defined role; defined roles: admin, viewer"),
            "{}",
            text(&unknown_role)
        );

        assert!(
            rampart(&config, &["set-roles", "ana", "--role", "viewer"], "")
                .status
                .success()
        );
        assert!(rampart(&config, &["disable", "ana"], "").status.success());
        let list = text(&rampart(&config, &["list"], ""));
        let line = list
            .lines()
            .find(|l| l.starts_with("ana"))
            .unwrap_or_else(|| panic!("{list}"));
        assert!(
            line.contains("disabled") && line.ends_with("viewer"),
            "{line}"
        );
        assert!(
            !list.contains("bob"),
            "refused users were not created: {list}"
        );
        assert!(!list.contains("tulip"), "passwords are never printed");
    }
}
