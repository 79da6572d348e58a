//! Cookie flags on the app's `Set-Cookie` headers (`[cookies]`): every cookie gets `Secure` on
//! TLS listeners, `HttpOnly` unless page scripts must read it, and a `SameSite` when it has
//! none, so an app written without them does not leak sessions to scripts or other sites.

use http::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;

/// `[cookies]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CookiesConfig {
    /// Add the missing flags to the app's cookies.
    pub enforce: bool,
    /// `SameSite` for cookies that set none: `"Lax"` or `"Strict"`.
    pub same_site: SameSite,
    /// Cookies page scripts must read (e.g. `["theme", "XSRF-TOKEN"]`): no `HttpOnly` added.
    pub script_readable: Vec<String>,
}

impl Default for CookiesConfig {
    fn default() -> Self {
        Self {
            enforce: true,
            same_site: SameSite::Lax,
            script_readable: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SameSite {
    Lax,
    Strict,
}

/// Adds the missing flags to every `Set-Cookie` in `headers`.
pub fn harden(headers: &mut HeaderMap, tls: bool, config: &CookiesConfig) {
    if !config.enforce || !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let hardened: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| harden_one(value, tls, config))
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in hardened {
        headers.append(header::SET_COOKIE, value);
    }
}

fn harden_one(value: &HeaderValue, tls: bool, config: &CookiesConfig) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value.clone();
    };
    let mut parts = text.split(';').map(str::trim);
    let name = parts
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(name, _)| name.trim());
    let (mut secure, mut http_only, mut same_site) = (false, false, false);
    for attribute in parts {
        let key = attribute.split('=').next().unwrap_or_default().trim();
        secure |= key.eq_ignore_ascii_case("secure");
        http_only |= key.eq_ignore_ascii_case("httponly");
        same_site |= key.eq_ignore_ascii_case("samesite");
    }
    let mut out = text.trim_end_matches([';', ' ']).to_owned();
    if tls && !secure {
        out.push_str("; Secure");
    }
    if !http_only && !config.script_readable.iter().any(|n| n == name) {
        out.push_str("; HttpOnly");
    }
    if !same_site {
        out.push_str(match config.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
        });
    }
    HeaderValue::try_from(out).unwrap_or_else(|_| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardened(cookies: &[&str], tls: bool, config: &CookiesConfig) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(header::SET_COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        harden(&mut headers, tls, config);
        headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn missing_flags_are_added_and_present_ones_kept() {
        let config = CookiesConfig {
            script_readable: vec!["theme".into()],
            ..CookiesConfig::default()
        };
        let out = hardened(
            &[
                "sid=abc; Path=/",
                "theme=dark",
                "pref=1; secure; HTTPONLY; SameSite=Strict",
                "cross=1; SameSite=None; Secure",
            ],
            true,
            &config,
        );
        assert_eq!(out[0], "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax");
        assert_eq!(out[1], "theme=dark; Secure; SameSite=Lax");
        assert_eq!(out[2], "pref=1; secure; HTTPONLY; SameSite=Strict");
        assert_eq!(out[3], "cross=1; SameSite=None; Secure; HttpOnly");
        let plain = hardened(&["sid=abc"], false, &CookiesConfig::default());
        assert_eq!(
            plain[0], "sid=abc; HttpOnly; SameSite=Lax",
            "no Secure over plain HTTP"
        );
        let off = CookiesConfig {
            enforce: false,
            ..CookiesConfig::default()
        };
        assert_eq!(hardened(&["sid=abc"], true, &off)[0], "sid=abc");
    }
}
