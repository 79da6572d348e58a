//! Vulnerability scanners and attack tools that name themselves in `User-Agent`: sqlmap,
//! Nikto, Nuclei, WPScan and their kin, as CRS's scanner detection blocks them. A scanner
//! that hides behind a browser's name is left to the other rules; one that does not is
//! refused before its first probe lands, and its refusals count toward a ban.
//!
//! Only the `User-Agent` header is read: a chat message that asks how to run sqlmap names the
//! tool without being it. An operator who scans their own site excludes the family for that
//! header (`attack_filter_exclude = ["scanner@header:user-agent"]`).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Names as the tools write them in their default `User-Agent`, each distinctive enough that
/// no browser, crawler, library or monitoring agent carries it.
const SCANNERS: [&str; 38] = [
    "acunetix",
    "arachni",
    "bsqlbf",
    "commix",
    "dirbuster",
    "dotdotpwn",
    "fimap",
    "fuzz faster u fool",
    "gobuster",
    "grendel-scan",
    "havij",
    "jaeles",
    "jorgee",
    "masscan",
    "morfeus",
    "netsparker",
    "nessus",
    "nikto",
    "nmap nse",
    "nmap scripting engine",
    "nsauditor",
    "nuclei",
    "openvas",
    "pangolin",
    "paros",
    "skipfish",
    "sqlmap",
    "sqlninja",
    "struts-pwn",
    "w3af",
    "webinspect",
    "webshag",
    "webvulnscan",
    "wfuzz",
    "whatweb",
    "wpscan",
    "xsstrike",
    "zgrab",
];

static FINDER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(SCANNERS)
        .expect("the scanner names build an automaton")
});

/// The scanner `user_agent` names, when it names one as a word of its own (`sqlmap/1.7.2`,
/// `Mozilla/5.0 (compatible; Nuclei)`), not inside a longer word.
pub fn named_in(user_agent: &str) -> Option<&'static str> {
    let bytes = user_agent.as_bytes();
    let is_word_byte = |at: Option<usize>| {
        at.and_then(|at| bytes.get(at))
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    FINDER
        .find_iter(user_agent)
        .find(|found| {
            let before = found.start().checked_sub(1);
            !is_word_byte(before) && !is_word_byte(Some(found.end()))
        })
        .map(|found| SCANNERS[found.pattern().as_usize()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_are_named_by_their_default_user_agents() {
        for (user_agent, scanner) in [
            ("sqlmap/1.7.2#stable (https://sqlmap.org)", "sqlmap"),
            (
                "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
                "nikto",
            ),
            (
                "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
                "nmap scripting engine",
            ),
            (
                "WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)",
                "wpscan",
            ),
            ("Fuzz Faster U Fool v2.1.0", "fuzz faster u fool"),
            (
                "Mozilla/5.0 (Windows NT 10.0) Nuclei - Open-source project",
                "nuclei",
            ),
            ("gobuster/3.6", "gobuster"),
        ] {
            assert_eq!(named_in(user_agent), Some(scanner), "{user_agent}");
        }
    }

    #[test]
    fn browsers_crawlers_and_libraries_are_no_scanners() {
        for user_agent in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "Prometheus/2.48.0",
            "Mozilla/5.0 (Macintosh) Paroscope/1.0",
            "SuperNiktoFan/1.0",
        ] {
            assert_eq!(named_in(user_agent), None, "{user_agent}");
        }
    }
}
