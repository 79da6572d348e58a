//! A value that is nothing but the path of a file that holds secrets (`.env`,
//! `/home/u/.ssh/id_rsa`, `../.git/config`, `WEB-INF/web.xml`, `~/.aws/credentials`): what a
//! file parameter carries when someone probes for file disclosure.
//!
//! The same names in a sentence are a question about them (`where does ~/.aws/credentials
//! live?`) and count only as a signal (`lfi-sensitive-file`). This check is a function rather
//! than a pattern rule because "the whole value is one path" is a pattern anchored at both
//! ends, whose prefix runs over every value without a space and doubles the states of the set
//! that reads prose.

/// Files an attacker reads for credentials or for the app's configuration, by their last
/// path segments. `.env` also stands for its variants (`.env.local`, `.env.production`).
const SECRET_FILES: [&str; 29] = [
    ".env",
    ".ssh/id_rsa",
    ".ssh/id_dsa",
    ".ssh/id_ecdsa",
    ".ssh/id_ed25519",
    ".ssh/authorized_keys",
    ".ssh/known_hosts",
    ".aws/credentials",
    ".aws/config",
    ".docker/config.json",
    ".kube/config",
    ".git/config",
    ".git/head",
    ".git/index",
    ".git-credentials",
    ".svn/entries",
    ".htpasswd",
    ".htaccess",
    ".npmrc",
    ".netrc",
    ".pgpass",
    ".bash_history",
    "web-inf/web.xml",
    "tomcat-users.xml",
    "wp-config.php",
    "config/database.yml",
    "config/secrets.yml",
    "config/master.key",
    "web.config",
];

/// Longer values are no file parameter.
const MAX_PATH_BYTES: usize = 512;

/// The path, if `text` (decoded and lowercased) is one path that names a secret file.
pub(super) fn secret_file_path(text: &str) -> Option<&str> {
    let path = text.trim();
    if path.is_empty() || path.len() > MAX_PATH_BYTES || path.contains(char::is_whitespace) {
        return None;
    }
    let file = path.strip_prefix("file:").unwrap_or(path);
    // A null byte or a query cut off a suffix the app appends (`.env%00.png`).
    let file = file.split(['\0', '?', '#']).next().unwrap_or(file);
    let names = |name: &str| {
        file.len() >= name.len()
            && file.is_char_boundary(file.len() - name.len())
            && segments_equal(&file[file.len() - name.len()..], name)
            && file[..file.len() - name.len()]
                .bytes()
                .next_back()
                .is_none_or(|b| matches!(b, b'/' | b'\\' | b'~' | b':'))
    };
    let env_variant = file
        .rsplit(['/', '\\'])
        .next()
        .and_then(|last| last.strip_prefix(".env."))
        .is_some_and(|variant| {
            !variant.is_empty() && variant.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    (env_variant || SECRET_FILES.iter().any(|name| names(name))).then_some(path)
}

/// Compares a path's tail with a name, a backslash matching a slash (Windows reads both).
fn segments_equal(tail: &str, name: &str) -> bool {
    tail.bytes()
        .zip(name.bytes())
        .all(|(a, b)| a == b || a == b'\\' && b == b'/')
}

#[cfg(test)]
mod tests {
    use super::secret_file_path;

    #[test]
    fn a_value_that_is_the_path_of_a_secret_file_is_found() {
        for value in [
            ".env",
            "../.env",
            "/var/www/html/.env.production",
            "/home/user/.ssh/id_rsa",
            "~/.aws/credentials",
            "../../.git/config",
            "/.git/HEAD",
            "/WEB-INF/web.xml",
            "..\\..\\web.config",
            "/usr/local/tomcat/conf/tomcat-users.xml",
            "file:///root/.bash_history",
            "../config/database.yml",
            " .htpasswd ",
            "/app/.env\0.png",
        ] {
            assert!(secret_file_path(&value.to_lowercase()).is_some(), "{value}");
        }
    }

    #[test]
    fn the_names_in_prose_or_in_longer_names_are_not_a_path_value() {
        for value in [
            "where does ~/.aws/credentials live?",
            "copy .env.example to .env",
            "my.env",
            "dotenv",
            ".envrc",
            ".env.",
            "/docs/web.config.md",
            "xwp-config.php",
            "production.environment",
        ] {
            assert_eq!(secret_file_path(value), None, "{value}");
        }
    }
}
