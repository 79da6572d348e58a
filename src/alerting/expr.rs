//! Alert conditions in a subset of PromQL, so that one rule text is both evaluated here, on
//! the gateway's own metrics, and exported unchanged to teams that run Prometheus.
//!
//! The subset: instant selectors with label matchers (`=`, `!=`), `rate(...[5m])`,
//! `increase(...[5m])`, `sum`/`max`/`min`/`avg`/`count` with an optional `by (...)`,
//! `histogram_quantile(q, ...)`, `time()`, numbers, `+ - * /`, parentheses and one comparison
//! (`> < >= <= == !=`) that selects the series which fire.

use std::fmt;
use std::time::Duration;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Selector(Selector),
    /// `rate(selector[range])` or `increase(selector[range])`.
    Range {
        function: RangeFunction,
        selector: Selector,
        range: Duration,
    },
    Aggregate {
        op: Aggregation,
        by: Vec<String>,
        expr: Box<Expr>,
    },
    HistogramQuantile {
        quantile: f64,
        expr: Box<Expr>,
    },
    Time,
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: String,
    pub equal: bool,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    Rate,
    Increase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Max,
    Min,
    Avg,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Gt,
    Lt,
    Ge,
    Le,
    Eq,
    Ne,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Gt | Self::Lt | Self::Ge | Self::Le | Self::Eq | Self::Ne
        )
    }
}

/// Why an expression did not parse, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {offset}: {message}")]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

/// Parses `text`.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser { text, pos: 0 };
    let expr = parser.comparison()?;
    parser.skip_space();
    if parser.pos < text.len() {
        return Err(parser.error("unexpected text after the expression"));
    }
    Ok(expr)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.to_owned(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Consumes `token` (after spaces) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), ParseError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{token}`")))
        }
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.sum()?;
        for (token, op) in [
            (">=", BinaryOp::Ge),
            ("<=", BinaryOp::Le),
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            (">", BinaryOp::Gt),
            ("<", BinaryOp::Lt),
        ] {
            if self.eat(token) {
                let right = self.sum()?;
                return Ok(Expr::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                });
            }
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat("+") {
                BinaryOp::Add
            } else if self.eat("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.product()?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.primary()?;
        loop {
            let op = if self.eat("*") {
                BinaryOp::Mul
            } else if self.eat("/") {
                BinaryOp::Div
            } else {
                return Ok(left);
            };
            let right = self.primary()?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_space();
        if self.eat("(") {
            let inner = self.sum()?;
            self.expect(")")?;
            return Ok(inner);
        }
        if self
            .rest()
            .starts_with(|c: char| c.is_ascii_digit() || c == '.')
        {
            return Ok(Expr::Number(self.number()?));
        }
        let name = self.identifier()?;
        match name.as_str() {
            "rate" | "increase" => {
                let function = if name == "rate" {
                    RangeFunction::Rate
                } else {
                    RangeFunction::Increase
                };
                self.expect("(")?;
                let selector = self.selector()?;
                self.expect("[")?;
                let range = self.duration()?;
                self.expect("]")?;
                self.expect(")")?;
                Ok(Expr::Range {
                    function,
                    selector,
                    range,
                })
            }
            "sum" | "max" | "min" | "avg" | "count" => {
                let op = match name.as_str() {
                    "sum" => Aggregation::Sum,
                    "max" => Aggregation::Max,
                    "min" => Aggregation::Min,
                    "avg" => Aggregation::Avg,
                    _ => Aggregation::Count,
                };
                let mut by = Vec::new();
                if self.eat("by") {
                    self.expect("(")?;
                    loop {
                        by.push(self.identifier()?);
                        if !self.eat(",") {
                            break;
                        }
                    }
                    self.expect(")")?;
                }
                self.expect("(")?;
                let expr = self.sum()?;
                self.expect(")")?;
                Ok(Expr::Aggregate {
                    op,
                    by,
                    expr: Box::new(expr),
                })
            }
            "histogram_quantile" => {
                self.expect("(")?;
                let quantile = self.number()?;
                self.expect(",")?;
                let expr = self.sum()?;
                self.expect(")")?;
                Ok(Expr::HistogramQuantile {
                    quantile,
                    expr: Box::new(expr),
                })
            }
            "time" => {
                self.expect("(")?;
                self.expect(")")?;
                Ok(Expr::Time)
            }
            _ => {
                self.pos -= name.len();
                Ok(Expr::Selector(self.selector()?))
            }
        }
    }

    fn identifier(&mut self) -> Result<String, ParseError> {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(self.rest().len());
        if len == 0 || self.rest().starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error("expected a name"));
        }
        let name = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(name)
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        let metric = self.identifier()?;
        let mut matchers = Vec::new();
        if self.eat("{") && !self.eat("}") {
            loop {
                let label = self.identifier()?;
                let equal = if self.eat("!=") {
                    false
                } else if self.eat("=") {
                    true
                } else {
                    return Err(self.error("expected `=` or `!=`"));
                };
                let value = self.string()?;
                matchers.push(Matcher {
                    label,
                    equal,
                    value,
                });
                if self.eat("}") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(Selector { metric, matchers })
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.expect("\"")?;
        let end = self
            .rest()
            .find('"')
            .ok_or_else(|| self.error("unterminated string"))?;
        let value = self.rest()[..end].to_owned();
        self.pos += end + 1;
        Ok(value)
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e'))
            .unwrap_or(self.rest().len());
        let value = self.rest()[..len]
            .parse()
            .map_err(|_| self.error("expected a number"))?;
        self.pos += len;
        Ok(value)
    }

    fn duration(&mut self) -> Result<Duration, ParseError> {
        self.skip_space();
        let len = self.rest().find(']').unwrap_or(self.rest().len());
        let text = &self.rest()[..len];
        let duration = humantime::parse_duration(text.trim())
            .map_err(|_| self.error("expected a duration like 5m"))?;
        self.pos += len;
        Ok(duration)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.metric)?;
        if !self.matchers.is_empty() {
            let matchers: Vec<String> = self
                .matchers
                .iter()
                .map(|m| {
                    format!(
                        "{}{}\"{}\"",
                        m.label,
                        if m.equal { "=" } else { "!=" },
                        m.value
                    )
                })
                .collect();
            write!(f, "{{{}}}", matchers.join(","))?;
        }
        Ok(())
    }
}

impl Expr {
    /// The longest range any part of the expression looks back over.
    pub fn longest_range(&self) -> Duration {
        match self {
            Expr::Range { range, .. } => *range,
            Expr::Aggregate { expr, .. } | Expr::HistogramQuantile { expr, .. } => {
                expr.longest_range()
            }
            Expr::Binary { left, right, .. } => left.longest_range().max(right.longest_range()),
            Expr::Number(_) | Expr::Selector(_) | Expr::Time => Duration::ZERO,
        }
    }

    /// Every metric the expression reads.
    pub fn metrics(&self, out: &mut Vec<String>) {
        match self {
            Expr::Selector(selector) | Expr::Range { selector, .. } => {
                out.push(selector.metric.clone());
            }
            Expr::Aggregate { expr, .. } | Expr::HistogramQuantile { expr, .. } => {
                expr.metrics(out);
            }
            Expr::Binary { left, right, .. } => {
                left.metrics(out);
                right.metrics(out);
            }
            Expr::Number(_) | Expr::Time => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_expressions_parse() {
        for text in [
            "min(rampart_upstream_targets_up) == 0",
            "sum(rate(rampart_http_requests_total{status=\"5xx\"}[5m])) / sum(rate(rampart_http_requests_total[5m])) > 0.05",
            "histogram_quantile(0.95, sum by (le) (rate(rampart_http_request_duration_seconds_bucket[5m]))) > 0.5",
            "rampart_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400",
            "sum by (route) (increase(rampart_rate_limited_total{route!=\"_login\"}[10m])) >= 100",
        ] {
            let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(
                matches!(expr, Expr::Binary { op, .. } if op.is_comparison()),
                "{text}"
            );
        }
    }

    #[test]
    fn structure_and_errors() {
        let expr = parse("sum by (le, route) (rate(m_bucket{a=\"1\",b!=\"2\"}[90s]))").unwrap();
        let Expr::Aggregate { op, by, expr } = expr else {
            panic!("an aggregation");
        };
        assert_eq!(op, Aggregation::Sum);
        assert_eq!(by, ["le", "route"]);
        assert_eq!(expr.longest_range(), Duration::from_secs(90));
        let Expr::Range { selector, .. } = *expr else {
            panic!("a range function");
        };
        assert_eq!(selector.to_string(), "m_bucket{a=\"1\",b!=\"2\"}");
        assert!(parse("rate(m[5m]").is_err());
        assert!(parse("m{a=1}").is_err());
        assert_eq!(parse("m >").unwrap_err().offset, 3);
        assert!(parse("m > 1 junk").is_err());
    }
}
