//! Evaluation of alert expressions on the gateway's own metrics: the registry's text output
//! is sampled at each evaluation and kept for as long as the longest rule looks back, so
//! `rate` and `increase` see the same kind of history Prometheus would.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use super::expr::{Aggregation, BinaryOp, Expr, RangeFunction, Selector};

/// A series' labels, without the metric name.
pub type Labels = BTreeMap<String, String>;

/// The result of an expression: one number, or numbers per label set.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

/// Every sample of one scrape, by metric name.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Unix seconds.
    pub at: f64,
    series: HashMap<String, Vec<(Labels, f64)>>,
}

impl Snapshot {
    /// Reads Prometheus / OpenMetrics text.
    pub fn parse(at: f64, text: &str) -> Self {
        let mut series: HashMap<String, Vec<(Labels, f64)>> = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((name, labels, value)) = parse_sample(line) {
                series.entry(name).or_default().push((labels, value));
            }
        }
        Self { at, series }
    }

    /// Every sample of the metric `name`.
    pub fn samples(&self, name: &str) -> &[(Labels, f64)] {
        self.series.get(name).map_or(&[], Vec::as_slice)
    }

    fn select(&self, selector: &Selector) -> Vec<(Labels, f64)> {
        self.series
            .get(&selector.metric)
            .map(|all| {
                all.iter()
                    .filter(|(labels, _)| {
                        selector.matchers.iter().all(|m| {
                            let value = labels.get(&m.label).map_or("", String::as_str);
                            (value == m.value) == m.equal
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `name{a="1",b="2"} 3.5` → its parts.
fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_owned(), Labels::new(), value));
    };
    let mut labels = Labels::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (label, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => value.push(c),
            }
        }
        let end = end?;
        labels.insert(label.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some((name.to_owned(), labels, value))
}

/// Snapshots from newest back to as old as the longest rule needs.
#[derive(Debug)]
pub struct History {
    snapshots: VecDeque<Snapshot>,
    keep: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("no samples yet")]
    NoSamples,
    #[error("{0}")]
    Unsupported(&'static str),
}

impl History {
    pub fn new(keep: Duration) -> Self {
        Self {
            snapshots: VecDeque::new(),
            keep,
        }
    }

    pub fn record(&mut self, snapshot: Snapshot) {
        let horizon = snapshot.at - self.keep.as_secs_f64();
        self.snapshots.push_back(snapshot);
        // Keep one snapshot at or before the horizon, so a full range always has a start.
        while self.snapshots.len() > 2 && self.snapshots[1].at <= horizon {
            self.snapshots.pop_front();
        }
    }

    fn latest(&self) -> Result<&Snapshot, EvalError> {
        self.snapshots.back().ok_or(EvalError::NoSamples)
    }

    /// The newest snapshot taken at or before `at`, else the oldest one kept.
    fn at_or_before(&self, at: f64) -> Result<&Snapshot, EvalError> {
        self.snapshots
            .iter()
            .rev()
            .find(|s| s.at <= at)
            .or_else(|| self.snapshots.front())
            .ok_or(EvalError::NoSamples)
    }

    /// Evaluates `expr` at the newest snapshot.
    pub fn eval(&self, expr: &Expr) -> Result<Value, EvalError> {
        let latest = self.latest()?;
        Ok(match expr {
            Expr::Number(n) => Value::Scalar(*n),
            Expr::Time => Value::Scalar(latest.at),
            Expr::Selector(selector) => Value::Vector(latest.select(selector)),
            Expr::Range {
                function,
                selector,
                range,
            } => {
                let start = self.at_or_before(latest.at - range.as_secs_f64())?;
                let before = start.select(selector);
                let elapsed = latest.at - start.at;
                let vector = latest
                    .select(selector)
                    .into_iter()
                    .map(|(labels, now)| {
                        let then = before
                            .iter()
                            .find(|(l, _)| *l == labels)
                            .map_or(0.0, |(_, v)| *v);
                        // A counter that went down was reset: all of it is new.
                        let increase = if now >= then { now - then } else { now };
                        let value = match function {
                            RangeFunction::Increase => increase,
                            RangeFunction::Rate if elapsed > 0.0 => increase / elapsed,
                            RangeFunction::Rate => 0.0,
                        };
                        (labels, value)
                    })
                    .collect();
                Value::Vector(vector)
            }
            Expr::Aggregate { op, by, expr } => {
                let Value::Vector(vector) = self.eval(expr)? else {
                    return Err(EvalError::Unsupported("aggregating a number"));
                };
                Value::Vector(aggregate(*op, by, vector))
            }
            Expr::HistogramQuantile { quantile, expr } => {
                let Value::Vector(buckets) = self.eval(expr)? else {
                    return Err(EvalError::Unsupported("histogram_quantile of a number"));
                };
                Value::Vector(histogram_quantile(*quantile, buckets))
            }
            Expr::Binary { op, left, right } => binary(*op, self.eval(left)?, self.eval(right)?),
        })
    }
}

fn aggregate(op: Aggregation, by: &[String], vector: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
    for (labels, value) in vector {
        let key: Labels = labels
            .into_iter()
            .filter(|(name, _)| by.contains(name))
            .collect();
        groups.entry(key).or_default().push(value);
    }
    groups
        .into_iter()
        .map(|(labels, values)| {
            let value = match op {
                Aggregation::Sum => values.iter().sum(),
                Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                Aggregation::Avg => values.iter().sum::<f64>() / values.len() as f64,
                Aggregation::Count => values.len() as f64,
            };
            (labels, value)
        })
        .collect()
}

/// Prometheus' estimate: find the bucket the rank falls in and interpolate linearly in it.
fn histogram_quantile(quantile: f64, buckets: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (mut labels, count) in buckets {
        let Some(le) = labels.remove("le") else {
            continue;
        };
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse() {
                Ok(bound) => bound,
                Err(_) => continue,
            }
        };
        groups.entry(labels).or_default().push((bound, count));
    }
    groups
        .into_iter()
        .filter_map(|(labels, mut buckets)| Some((labels, quantile_of(quantile, &mut buckets)?)))
        .collect()
}

/// The `quantile` of a histogram given as (upper bound, cumulative count) pairs, in any
/// order: the bucket the rank falls in, interpolated linearly. `None` without observations.
pub fn quantile_of(quantile: f64, buckets: &mut [(f64, f64)]) -> Option<f64> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = quantile * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for &(bound, count) in buckets.iter() {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound);
            }
            let in_bucket = count - lower_count;
            let fraction = if in_bucket > 0.0 {
                (rank - lower_count) / in_bucket
            } else {
                1.0
            };
            return Some(lower_bound + (bound - lower_bound) * fraction);
        }
        lower_bound = bound;
        lower_count = count;
    }
    None
}

fn apply(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    let truth = |t: bool| t.then_some(a);
    match op {
        BinaryOp::Add => Some(a + b),
        BinaryOp::Sub => Some(a - b),
        BinaryOp::Mul => Some(a * b),
        // Like PromQL, x/0 is ±Inf or NaN; a comparison on it then decides.
        BinaryOp::Div => Some(a / b),
        BinaryOp::Gt => truth(a > b),
        BinaryOp::Lt => truth(a < b),
        BinaryOp::Ge => truth(a >= b),
        BinaryOp::Le => truth(a <= b),
        BinaryOp::Eq => truth(a == b),
        BinaryOp::Ne => truth(a != b),
    }
}

fn binary(op: BinaryOp, left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => match apply(op, a, b) {
            Some(v) if !op.is_comparison() => Value::Scalar(v),
            Some(v) => Value::Vector(vec![(Labels::new(), v)]),
            None => Value::Vector(Vec::new()),
        },
        (Value::Vector(v), Value::Scalar(b)) => Value::Vector(
            v.into_iter()
                .filter_map(|(l, a)| apply(op, a, b).map(|r| (l, r)))
                .collect(),
        ),
        (Value::Scalar(a), Value::Vector(v)) => Value::Vector(
            v.into_iter()
                .filter_map(|(l, b)| {
                    let result = apply(op, a, b)?;
                    // A comparison keeps the vector's own value.
                    Some((l, if op.is_comparison() { b } else { result }))
                })
                .collect(),
        ),
        (Value::Vector(left), Value::Vector(right)) => Value::Vector(
            left.into_iter()
                .filter_map(|(labels, a)| {
                    let (_, b) = right.iter().find(|(l, _)| *l == labels)?;
                    apply(op, a, *b).map(|r| (labels, r))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::expr::parse;

    fn history(scrapes: &[(f64, &str)]) -> History {
        let mut history = History::new(Duration::from_secs(600));
        for (at, text) in scrapes {
            history.record(Snapshot::parse(*at, text));
        }
        history
    }

    fn firing(history: &History, text: &str) -> Vec<(Labels, f64)> {
        match history.eval(&parse(text).unwrap()).unwrap() {
            Value::Vector(v) => v,
            Value::Scalar(s) => panic!("a number: {s}"),
        }
    }

    #[test]
    fn samples_parse_with_labels_and_escapes() {
        let (name, labels, value) =
            parse_sample(r#"m_total{route="/a\"b",status="2xx"} 7"#).unwrap();
        assert_eq!(name, "m_total");
        assert_eq!(labels["route"], "/a\"b");
        assert_eq!(labels["status"], "2xx");
        assert_eq!(value, 7.0);
        assert_eq!(parse_sample("up 1").unwrap().2, 1.0);
    }

    #[test]
    fn error_ratio_fires_over_the_window() {
        let h = history(&[
            (
                0.0,
                "req_total{status=\"2xx\"} 100\nreq_total{status=\"5xx\"} 0\n",
            ),
            (
                300.0,
                "req_total{status=\"2xx\"} 190\nreq_total{status=\"5xx\"} 10\n",
            ),
        ]);
        let rule = "sum(rate(req_total{status=\"5xx\"}[5m])) / sum(rate(req_total[5m])) > 0.05";
        let fired = firing(&h, rule);
        assert_eq!(fired.len(), 1);
        assert!((fired[0].1 - 0.1).abs() < 1e-9);
        assert!(firing(&h, &rule.replace("0.05", "0.2")).is_empty());
    }

    #[test]
    fn counter_resets_and_short_history_are_handled() {
        let h = history(&[(0.0, "c_total 50\n"), (60.0, "c_total 5\n")]);
        assert_eq!(firing(&h, "increase(c_total[10m]) > 1")[0].1, 5.0);
        let one = history(&[(0.0, "c_total 50\n")]);
        assert!(firing(&one, "increase(c_total[5m]) > 0").is_empty());
    }

    #[test]
    fn quantiles_gauges_and_time_work() {
        let h = history(&[
            (
                0.0,
                "d_bucket{le=\"0.1\"} 0\nd_bucket{le=\"0.5\"} 0\nd_bucket{le=\"1\"} 0\nd_bucket{le=\"+Inf\"} 0\n",
            ),
            (
                60.0,
                "d_bucket{le=\"0.1\"} 50\nd_bucket{le=\"0.5\"} 90\nd_bucket{le=\"1\"} 100\nd_bucket{le=\"+Inf\"} 100\nexpiry 100060\nup{u=\"a\"} 1\nup{u=\"b\"} 0\n",
            ),
        ]);
        let p95 = firing(
            &h,
            "histogram_quantile(0.95, sum by (le) (rate(d_bucket[5m]))) > 0.5",
        );
        assert!((p95[0].1 - 0.75).abs() < 1e-9, "{p95:?}");
        assert_eq!(firing(&h, "expiry - time() < 86400 * 2").len(), 1);
        assert!(firing(&h, "expiry - time() < 3600").is_empty());
        let down = firing(&h, "up == 0");
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].0["u"], "b");
        assert_eq!(firing(&h, "min(up) == 0").len(), 1);
    }
}
