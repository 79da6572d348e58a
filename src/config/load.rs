//! Reading the config file: TOML → environment overrides → typed sections → validation, with every
//! problem located at `file:line` (or at the environment variable that set the value).

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use super::{Config, validate};

/// Where a problem sits: a line of the file, or the environment variable that set the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File { file: String, line: Option<usize> },
    Env { var: String },
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    /// Dotted key path, `route[2].upstream`; empty for file-level problems.
    pub key: String,
    /// What is wrong and, where it helps, how to fix it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File {
                file,
                line: Some(line),
            } => write!(f, "{file}:{line}: ")?,
            Location::File { file, line: None } => write!(f, "{file}: ")?,
            Location::Env { var } => write!(f, "environment variable {var}: ")?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

/// Every problem found in one configuration, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Loads and validates the config file at `path`, applying `RAMPART_*` environment overrides.
pub fn load(path: &Path) -> Result<Config, Problems> {
    load_checked(path, Checks::All)
}

/// Like [`load`], for the management commands (`rampart audit`, `ban`, `user`, …), which start
/// no listener: the listener's certificate files are not read. An expired or broken
/// certificate is an incident of its own; it must not also lock the operator out of
/// `rampart audit export` or `rampart ban`.
pub fn load_for_management(path: &Path) -> Result<Config, Problems> {
    load_checked(path, Checks::ForManagement)
}

/// How much cross-section checking a load does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    All,
    /// Everything but the files only the listener reads.
    ForManagement,
    None,
}

fn load_checked(path: &Path, checks: Checks) -> Result<Config, Problems> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        Problems(vec![Problem {
            location: Location::File {
                file: origin.clone(),
                line: None,
            },
            key: String::new(),
            reason: format!("cannot read the config file: {err}"),
        }])
    })?;
    read(&origin, &text, std::env::vars(), checks)
}

/// Like [`load`], on text already read; `origin` names it in messages.
pub fn load_str(
    origin: &str,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, Problems> {
    read(origin, text, env, Checks::All)
}

/// Every section at its defaults with the `RAMPART_*` overrides of `env` applied, not
/// checked as a whole: what the management commands (`rampart ban`, `audit`, `alerts`) work
/// with when no config file is given. It has no routes, which they do not need.
pub fn defaults(env: impl IntoIterator<Item = (String, String)>) -> Result<Config, Problems> {
    read("defaults", "", env, Checks::None)
}

fn read(
    origin: &str,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
    checks: Checks,
) -> Result<Config, Problems> {
    let spans = match DeTable::parse(text) {
        Ok(spans) => spans,
        Err(err) => {
            let line = err.span().map(|span| line_at(text, span.start));
            return Err(Problems(vec![Problem {
                location: Location::File {
                    file: origin.to_owned(),
                    line,
                },
                key: String::new(),
                reason: format!("invalid TOML: {}", err.message().trim_end()),
            }]));
        }
    };
    let mut report = Report {
        origin,
        text,
        spans: spans.get_ref(),
        overrides: Vec::new(),
        problems: Vec::new(),
    };
    let mut table: toml::Table = text
        .parse()
        .expect("the same text already parsed as TOML above");
    apply_env_overrides(&mut table, env, &mut report);
    let config = read_sections(table, &mut report);
    if checks != Checks::None && report.problems.is_empty() {
        for (path, reason) in validate::check(&config, checks == Checks::All) {
            report.push(&path, reason);
        }
    }
    if report.problems.is_empty() {
        Ok(config)
    } else {
        Err(Problems(report.problems))
    }
}

/// Top-level keys; anything else in the file is a mistake.
const SECTIONS: [&str; 21] = [
    "mode",
    "data_dir",
    "listen",
    "admin",
    "log",
    "security_headers",
    "errors",
    "storage",
    "identity",
    "redis",
    "rate_limit",
    "bans",
    "cookies",
    "audit",
    "privacy",
    "alerts",
    "sla",
    "otlp",
    "role",
    "upstream",
    "route",
];

fn read_sections(mut table: toml::Table, report: &mut Report<'_>) -> Config {
    for key in table.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            report.push(
                &KeyPath::key(key),
                format!("unknown key; expected one of: {}", SECTIONS.join(", ")),
            );
        }
    }
    let mut take = |key: &str| table.remove(key);
    Config {
        mode: section(take("mode"), "mode", report),
        data_dir: take("data_dir")
            .and_then(|v| deserialize_at(v, KeyPath::key("data_dir"), report))
            .unwrap_or_else(|| "./rampart-data".into()),
        listen: section(take("listen"), "listen", report),
        admin: section(take("admin"), "admin", report),
        log: section(take("log"), "log", report),
        security_headers: section(take("security_headers"), "security_headers", report),
        errors: section(take("errors"), "errors", report),
        storage: section(take("storage"), "storage", report),
        identity: section(take("identity"), "identity", report),
        redis: section(take("redis"), "redis", report),
        rate_limit: section(take("rate_limit"), "rate_limit", report),
        bans: section(take("bans"), "bans", report),
        cookies: section(take("cookies"), "cookies", report),
        audit: section(take("audit"), "audit", report),
        privacy: section(take("privacy"), "privacy", report),
        alerts: section(take("alerts"), "alerts", report),
        sla: section(take("sla"), "sla", report),
        otlp: section(take("otlp"), "otlp", report),
        roles: list(take("role"), "role", report),
        upstreams: list(take("upstream"), "upstream", report),
        routes: list(take("route"), "route", report),
    }
}

/// A single section: absent means its defaults.
fn section<T: DeserializeOwned + Default>(
    value: Option<toml::Value>,
    key: &str,
    report: &mut Report<'_>,
) -> T {
    value
        .and_then(|value| deserialize_at(value, KeyPath::key(key), report))
        .unwrap_or_default()
}

/// An array of tables such as `[[route]]`: each element is read on its own so that every broken
/// one is reported.
fn list<T: DeserializeOwned>(
    value: Option<toml::Value>,
    key: &str,
    report: &mut Report<'_>,
) -> Vec<T> {
    match value {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| deserialize_at(item, KeyPath::key(key).index(i), report))
            .collect(),
        Some(_) => {
            report.push(
                &KeyPath::key(key),
                format!("must be a list of tables: write each entry under a [[{key}]] header"),
            );
            Vec::new()
        }
    }
}

fn deserialize_at<T: DeserializeOwned>(
    value: toml::Value,
    at: KeyPath,
    report: &mut Report<'_>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            let mut path = at;
            for segment in err.path().iter() {
                path = match segment {
                    serde_path_to_error::Segment::Seq { index } => path.index(*index),
                    serde_path_to_error::Segment::Map { key } => path.child(key),
                    serde_path_to_error::Segment::Enum { variant } => path.child(variant),
                    serde_path_to_error::Segment::Unknown => path,
                };
            }
            report.push(&path, err.into_inner().message().to_owned());
            None
        }
    }
}

// === impl environment overrides ===

/// Applies `RAMPART_SECTION__KEY=value` variables: `__` separates levels, a number selects an
/// element of a `[[list]]`, and the value is read as TOML when it parses (`true`, `10`,
/// `["a"]`) and as a plain string otherwise. A variable is an override when it has a `__` (an
/// unknown section there is an error, to catch typos) or names a top-level key exactly
/// (`RAMPART_MODE`); other `RAMPART_*` variables belong to someone else and are left alone.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    report: &mut Report<'_>,
) {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| {
            name.strip_prefix("RAMPART_").is_some_and(|rest| {
                rest.contains("__") || SECTIONS.contains(&rest.to_ascii_lowercase().as_str())
            })
        })
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let segments: Vec<String> = var["RAMPART_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let path =
            segments
                .iter()
                .fold(KeyPath::default(), |path, seg| match seg.parse::<usize>() {
                    Ok(i) => path.index(i),
                    Err(_) => path.child(seg),
                });
        let problem = if !SECTIONS.contains(&segments[0].as_str()) {
            Some(format!(
                "`{}` is not a config section; expected one of: {}",
                segments[0],
                SECTIONS.join(", ")
            ))
        } else {
            set_path(table, &segments, env_value(&raw)).err()
        };
        match problem {
            Some(reason) => report.problems.push(Problem {
                location: Location::Env { var },
                key: path.to_string(),
                reason,
            }),
            None => report.overrides.push((path, var)),
        }
    }
}

fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(
    table: &mut toml::Table,
    segments: &[String],
    value: toml::Value,
) -> Result<(), String> {
    let (last, parents) = segments
        .split_last()
        .expect("split always yields a segment");
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let next = match entry {
            toml::Value::Array(items) => {
                let index_text = segments.get(depth + 1).cloned().unwrap_or_default();
                let Ok(index) = index_text.parse::<usize>() else {
                    return Err(format!("`{segment}` is a list; name an element by number"));
                };
                // The index segment is consumed here; skip it in the walk below.
                return set_in_list(items, index, &segments[depth + 2..], value);
            }
            toml::Value::Table(inner) => inner,
            _ => return Err(format!("`{segment}` is not a table")),
        };
        current = next;
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn set_in_list(
    items: &mut [toml::Value],
    index: usize,
    rest: &[String],
    value: toml::Value,
) -> Result<(), String> {
    let len = items.len();
    let Some(toml::Value::Table(item)) = items.get_mut(index) else {
        return Err(format!(
            "element {index} does not exist (the file defines {len})"
        ));
    };
    if rest.is_empty() {
        return Err("name a key inside the element".into());
    }
    set_path(item, rest, value)
}

// === impl key paths and line numbers ===

/// A position in the config tree, displayed as `route[2].security_headers.hsts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(crate) fn key(key: &str) -> Self {
        Self(vec![Segment::Key(key.to_owned())])
    }
    pub(crate) fn child(mut self, key: &str) -> Self {
        self.0.push(Segment::Key(key.to_owned()));
        self
    }
    pub(crate) fn index(mut self, index: usize) -> Self {
        self.0.push(Segment::Index(index));
        self
    }
    fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

struct Report<'a> {
    origin: &'a str,
    text: &'a str,
    spans: &'a DeTable<'a>,
    /// Keys set from the environment, and the variable that set each.
    overrides: Vec<(KeyPath, String)>,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn push(&mut self, path: &KeyPath, reason: String) {
        let location = match self.overrides.iter().find(|(set, _)| path.starts_with(set)) {
            Some((_, var)) => Location::Env { var: var.clone() },
            None => Location::File {
                file: self.origin.to_owned(),
                line: Some(line_at(self.text, self.offset_of(path))),
            },
        };
        self.problems.push(Problem {
            location,
            key: path.to_string(),
            reason,
        });
    }

    /// Byte offset of the deepest part of `path` present in the file: the key itself when it is
    /// there, else the table that should hold it.
    fn offset_of(&self, path: &KeyPath) -> usize {
        let mut offset = 0;
        let mut table = Some(self.spans);
        let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
        for segment in &path.0 {
            let value = match (segment, table, array) {
                (Segment::Key(key), Some(t), _) => match t.iter().find(|(k, _)| k.get_ref() == key)
                {
                    Some((k, v)) => {
                        offset = k.span().start;
                        v
                    }
                    None => break,
                },
                (Segment::Index(i), _, Some(items)) => match items.get(*i) {
                    Some(item) => {
                        offset = item.span().start;
                        item
                    }
                    None => break,
                },
                _ => break,
            };
            (table, array) = match value.get_ref() {
                DeValue::Table(t) => (Some(t), None),
                DeValue::Array(a) => (None, Some(&a[..])),
                _ => (None, None),
            };
        }
        offset
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
mode = "development"

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

    #[test]
    fn management_commands_load_a_config_whose_certificate_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rampart.toml");
        let text = MINIMAL.replace(
            "plaintext = true",
            "[listen.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"",
        );
        std::fs::write(&path, text).unwrap();
        let refused = load(&path).unwrap_err().to_string();
        assert!(refused.contains("listen.tls"), "{refused}");
        let config = load_for_management(&path).expect("loads without reading the certificate");
        assert!(config.listen.tls.is_some());
    }

    fn problems(text: &str) -> Vec<String> {
        problems_with_env(text, &[])
    }

    fn problems_with_env(text: &str, env: &[(&str, &str)]) -> Vec<String> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        match load_str("rampart.toml", text, env) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn minimal_config_loads() {
        let config = load_str("rampart.toml", MINIMAL, []).unwrap();
        assert_eq!(config.routes.len(), 1);
        assert_eq!(
            config.upstreams[0].targets[0].to_string(),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("plaintext = true", "plaintext = true\nadress = \"x\"");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("rampart.toml:7: listen.adress: unknown field `adress`"),
            "{found:?}"
        );
    }

    #[test]
    fn every_broken_section_is_reported() {
        let text = MINIMAL
            .replace("mode = \"development\"", "mode = \"prod\"")
            .replace("path = \"/\"", "path = \"/\"\ntimeout = 5");
        let found = problems(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("rampart.toml:2: mode: unknown variant `prod`"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("rampart.toml:14: route[0].timeout: unknown field"),
            "{found:?}"
        );
    }

    #[test]
    fn syntax_error_points_at_the_line() {
        let found = problems("mode = \"development\"\n[listen\naddress = 1\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("rampart.toml:2: invalid TOML"),
            "{found:?}"
        );
    }

    #[test]
    fn env_overrides_replace_file_values() {
        let env = [
            ("RAMPART_LISTEN__ADDRESS", "127.0.0.1:9999"),
            ("RAMPART_ROUTE__0__PATH", "/api"),
        ];
        let config = load_str(
            "rampart.toml",
            MINIMAL,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(config.listen.address.port(), 9999);
        assert_eq!(config.routes[0].path, "/api");
    }

    #[test]
    fn bad_env_values_are_blamed_on_the_variable() {
        let found = problems_with_env(
            MINIMAL,
            &[("RAMPART_LISTEN__HEADER_READ_TIMEOUT", "forever")],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "environment variable RAMPART_LISTEN__HEADER_READ_TIMEOUT: listen.header_read_timeout: `forever` is not a duration"
            ),
            "{found:?}"
        );
        let found = problems_with_env(MINIMAL, &[("RAMPART_LISTN__ADDRESS", "x")]);
        assert!(
            found[0].contains("`listn` is not a config section"),
            "{found:?}"
        );
    }
}
