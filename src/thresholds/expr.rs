//! Threshold expressions: `METRIC[{filter}] CMP VALUE[unit]`, parsed into
//! data. Grammar and units:
//!
//! - metrics: `latency.{p50,p90,p99,max}` and `latency_raw.…` (ms);
//!   `ratio.CLASS` (0..1, or `%`); `count.CLASS`, `requests`, `late_starts`,
//!   `refused` (counts); `rate.achieved` (req/s); `propagation.{p50,p90,p99,max}`
//!   (stable time, ms) and `propagation.first.…` (first expected outcome);
//!   `propagation.error.max` (|measured − truth|, ms); `exposure.max` (ms)
//!   and `exposure.requests`.
//! - filters: `{op=NAME}` (a load entry's name or its API, e.g.
//!   `s3:GetObject`) on request metrics; `{kind=grant|revoke}` on
//!   propagation and exposure metrics.
//! - comparisons: `<`, `<=`, `>`, `>=`, `==`, `!=`.
//! - values: durations `50ms`, `1.5s`, `2m` (a bare number is ms);
//!   ratios `0.01` or `1%`; counts and rates as numbers (`/s` allowed).
//! - an optional suffix `abort_on_fail` (or `abort_on_fail after 10s`):
//!   judged every second while the run goes (from `after` on), and the
//!   first failure stops the load. Request metrics only: propagation is
//!   known only once the run is over.

use crate::observe::outcome::OutcomeClass;

/// A percentile statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P99,
    Max,
}

impl Stat {
    /// The summary.json key.
    pub fn key(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::Max => "max",
        }
    }

    fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "p50" => Stat::P50,
            "p90" => Stat::P90,
            "p99" => Stat::P99,
            "max" => Stat::Max,
            _ => return None,
        })
    }
}

/// What a threshold measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Corrected (`raw = false`) or raw latency, ms.
    Latency {
        stat: Stat,
        raw: bool,
    },
    Ratio(OutcomeClass),
    Count(OutcomeClass),
    Requests,
    LateStarts,
    Refused,
    RateAchieved,
    /// Stable (`first = false`) or first-outcome propagation delay, ms.
    Propagation {
        stat: Stat,
        first: bool,
    },
    /// |measured stable max − truth max|, ms (the double only).
    PropagationErrorMax,
    ExposureMax,
    ExposureRequests,
}

/// How the observed value must relate to the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => observed < limit,
            Cmp::Le => observed <= limit,
            Cmp::Gt => observed > limit,
            Cmp::Ge => observed >= limit,
            Cmp::Eq => observed == limit,
            Cmp::Ne => observed != limit,
        }
    }
}

/// One parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As written (trimmed): reports and JUnit test names use it.
    pub text: String,
    pub metric: Metric,
    /// `{op=…}`.
    pub op: Option<String>,
    /// `{kind=…}`: `grant` or `revoke`.
    pub kind: Option<String>,
    pub cmp: Cmp,
    /// In the metric's unit (ms for durations, 0..1 for ratios).
    pub limit: f64,
    /// `abort_on_fail [after D]`: judged live from `D` into the run; a
    /// failure stops the load. `None`: judged at the end only.
    pub abort_after: Option<std::time::Duration>,
}

/// The suffix that makes a threshold abort the run.
const ABORT: &str = "abort_on_fail";

/// Splits `abort_on_fail [after DURATION]` off the end of `body`; returns
/// the expression before it and the delay. `offset`: `body`'s position in
/// the text as written (for error positions).
fn split_abort(
    body: &str,
    offset: usize,
) -> Result<(&str, Option<std::time::Duration>), ExprError> {
    let Some(at) = body.find(ABORT) else {
        return Ok((body, None));
    };
    let tail = body[at + ABORT.len()..].trim();
    let after = if tail.is_empty() {
        std::time::Duration::ZERO
    } else {
        let tail_at = offset + at + ABORT.len() + 1;
        let Some(d) = tail.strip_prefix("after") else {
            return Err(err(
                tail_at,
                format!("unexpected {tail:?} after {ABORT}"),
                "write `abort_on_fail` or `abort_on_fail after 10s` at the end",
            ));
        };
        crate::scenario::parse_duration(d.trim()).map_err(|e| {
            err(
                tail_at,
                format!("invalid delay {:?} after {ABORT}: {e}", d.trim()),
                "write a duration, for example `abort_on_fail after 10s`",
            )
        })?
    };
    Ok((body[..at].trim_end(), Some(after)))
}

/// A parse error: what is wrong, where in the expression (byte offset),
/// and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub at: usize,
    pub help: String,
}

fn err(at: usize, message: impl Into<String>, help: impl Into<String>) -> ExprError {
    ExprError {
        message: message.into(),
        at,
        help: help.into(),
    }
}

const METRICS_HELP: &str = "metrics: latency.p99, latency_raw.p99, ratio.CLASS, count.CLASS, requests, late_starts, refused, rate.achieved, propagation.p99, propagation.first.p99, propagation.error.max, exposure.max, exposure.requests";

/// Parses `text`.
pub fn parse(text: &str) -> Result<Threshold, ExprError> {
    let trimmed_start = text.len() - text.trim_start().len();
    let written = text.trim();
    let (body, abort_after) = split_abort(written, trimmed_start)?;
    // The first comparison character outside a `{…}` filter.
    let mut depth = 0usize;
    let cmp_at = body
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && matches!(c, '<' | '>' | '=' | '!')
        })
        .map(|(i, _)| i)
        .ok_or_else(|| match body.find('{') {
            Some(open) if depth > 0 => err(
                trimmed_start + open,
                "unclosed filter",
                "write the filter as {op=s3:GetObject} or {kind=grant}",
            ),
            _ => err(
                trimmed_start + body.len(),
                "no comparison",
                "write METRIC < VALUE, for example latency.p99 < 50ms",
            ),
        })?;
    let (lhs, rest) = body.split_at(cmp_at);
    let (cmp, cmp_len) = match rest.get(..2) {
        Some("<=") => (Cmp::Le, 2),
        Some(">=") => (Cmp::Ge, 2),
        Some("==") => (Cmp::Eq, 2),
        Some("!=") => (Cmp::Ne, 2),
        _ => match rest.as_bytes()[0] {
            b'<' => (Cmp::Lt, 1),
            b'>' => (Cmp::Gt, 1),
            _ => {
                return Err(err(
                    trimmed_start + cmp_at,
                    "unknown comparison",
                    "use <, <=, >, >=, == or !=",
                ));
            }
        },
    };
    let lhs = lhs.trim_end();
    let (name, filter, filter_at) = match lhs.find('{') {
        None => (lhs, None, 0),
        Some(open) => {
            let Some(inner) = lhs[open + 1..].strip_suffix('}') else {
                return Err(err(
                    trimmed_start + open,
                    "unclosed filter",
                    "write the filter as {op=s3:GetObject} or {kind=grant}",
                ));
            };
            (&lhs[..open], Some(inner), trimmed_start + open + 1)
        }
    };
    let metric = metric(name).ok_or_else(|| {
        err(
            trimmed_start,
            format!("unknown metric {name:?}"),
            METRICS_HELP,
        )
    })?;
    let (mut op, mut kind) = (None, None);
    if let Some(filter) = filter {
        for part in filter.split(',') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(err(
                    filter_at,
                    format!("filter {part:?} is not key=value"),
                    "write {op=NAME} or {kind=grant}",
                ));
            };
            let (key, value) = (key.trim(), value.trim().trim_matches('"'));
            match key {
                "op" if is_request_metric(&metric) => op = Some(value.to_owned()),
                "kind" if !is_request_metric(&metric) && matches!(value, "grant" | "revoke") => {
                    kind = Some(value.to_owned())
                }
                "kind" if !is_request_metric(&metric) => {
                    return Err(err(
                        filter_at,
                        format!("kind {value:?} is neither grant nor revoke"),
                        "write {kind=grant} or {kind=revoke}",
                    ));
                }
                _ => {
                    let allowed = if is_request_metric(&metric) {
                        "op"
                    } else {
                        "kind"
                    };
                    return Err(err(
                        filter_at,
                        format!("{name} takes no `{key}` filter"),
                        format!("{name} is filtered by {allowed}"),
                    ));
                }
            }
        }
    }
    let after = &rest[cmp_len..];
    let value_at = trimmed_start + cmp_at + cmp_len + (after.len() - after.trim_start().len());
    let limit = value(&metric, after.trim(), value_at)?;
    if abort_after.is_some() && !is_request_metric(&metric) {
        return Err(err(
            trimmed_start + body.len(),
            format!("{name} cannot abort the run: propagation is measured once the run is over"),
            "use abort_on_fail on request metrics (latency, ratio, count, rate, refused)",
        ));
    }
    Ok(Threshold {
        text: written.to_owned(),
        metric,
        op,
        kind,
        cmp,
        limit,
        abort_after,
    })
}

fn is_request_metric(m: &Metric) -> bool {
    !matches!(
        m,
        Metric::Propagation { .. }
            | Metric::PropagationErrorMax
            | Metric::ExposureMax
            | Metric::ExposureRequests
    )
}

fn metric(name: &str) -> Option<Metric> {
    let parts: Vec<&str> = name.split('.').collect();
    Some(match parts.as_slice() {
        ["latency", s] => Metric::Latency {
            stat: Stat::parse(s)?,
            raw: false,
        },
        ["latency_raw", s] => Metric::Latency {
            stat: Stat::parse(s)?,
            raw: true,
        },
        ["ratio", c] => Metric::Ratio(class(c)?),
        ["count", c] => Metric::Count(class(c)?),
        ["requests"] => Metric::Requests,
        ["late_starts"] => Metric::LateStarts,
        ["refused"] => Metric::Refused,
        ["rate", "achieved"] => Metric::RateAchieved,
        ["propagation", "error", "max"] => Metric::PropagationErrorMax,
        ["propagation", "first", s] => Metric::Propagation {
            stat: Stat::parse(s)?,
            first: true,
        },
        ["propagation", s] => Metric::Propagation {
            stat: Stat::parse(s)?,
            first: false,
        },
        ["exposure", "max"] => Metric::ExposureMax,
        ["exposure", "requests"] => Metric::ExposureRequests,
        _ => return None,
    })
}

fn class(name: &str) -> Option<OutcomeClass> {
    OutcomeClass::ALL.into_iter().find(|c| c.as_str() == name)
}

fn is_duration(m: &Metric) -> bool {
    matches!(
        m,
        Metric::Latency { .. }
            | Metric::Propagation { .. }
            | Metric::PropagationErrorMax
            | Metric::ExposureMax
    )
}

fn value(metric: &Metric, text: &str, at: usize) -> Result<f64, ExprError> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().map_err(|_| {
        err(
            at,
            format!("{text:?} is not a number"),
            "write a number with an optional unit: 50ms, 1.5s, 1%, 0.01, 200/s",
        )
    })?;
    if !n.is_finite() {
        return Err(err(at, "the limit is not finite", "write a finite number"));
    }
    let unit_at = at + split + (unit.len() - unit.trim_start().len());
    let unit = unit.trim();
    let scaled = match (is_duration(metric), &metric, unit) {
        (true, _, "" | "ms") => n,
        (true, _, "us") => n / 1000.0,
        (true, _, "s") => n * 1000.0,
        (true, _, "m") => n * 60_000.0,
        (false, Metric::Ratio(_), "") => n,
        (false, Metric::Ratio(_), "%") => n / 100.0,
        (false, Metric::RateAchieved, "" | "/s") => n,
        (false, _, "") => n,
        _ => {
            let help = if is_duration(metric) {
                "this metric is a duration: use us, ms, s or m"
            } else if matches!(metric, Metric::Ratio(_)) {
                "a ratio is 0..1 or a percentage like 1%"
            } else {
                "this metric is a count: write a plain number"
            };
            return Err(err(
                unit_at,
                format!("unit {unit:?} does not fit this metric"),
                help,
            ));
        }
    };
    Ok(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_on_fail_is_a_suffix_with_an_optional_delay() {
        let t = parse("ratio.access_denied < 1% abort_on_fail").expect("parses");
        assert_eq!(t.abort_after, Some(std::time::Duration::ZERO));
        assert_eq!(t.limit, 0.01);
        assert_eq!(t.text, "ratio.access_denied < 1% abort_on_fail");
        let t = parse(" latency.p99 < 50ms abort_on_fail after 10s ").expect("parses");
        assert_eq!(t.abort_after, Some(std::time::Duration::from_secs(10)));
        assert_eq!(t.limit, 50.0);
        assert_eq!(
            parse("latency.p99 < 50ms").expect("parses").abort_after,
            None
        );
        let e = parse("latency.p99 < 50ms abort_on_fail soon").expect_err("junk");
        assert!(e.message.contains("unexpected \"soon\""), "{e:?}");
        let e = parse("latency.p99 < 50ms abort_on_fail after 10").expect_err("unit");
        assert!(e.message.contains("invalid delay"), "{e:?}");
        let e = parse("propagation.p99 < 5s abort_on_fail").expect_err("not live");
        assert!(e.message.contains("cannot abort the run"), "{e:?}");
    }

    #[test]
    fn the_issue_examples_parse() {
        let t = parse("latency.p99{op=s3:GetObject} < 50ms").expect("parses");
        assert_eq!(
            t.metric,
            Metric::Latency {
                stat: Stat::P99,
                raw: false
            }
        );
        assert_eq!(t.op.as_deref(), Some("s3:GetObject"));
        assert_eq!((t.cmp, t.limit), (Cmp::Lt, 50.0));
        let t = parse("ratio.access_denied < 0.01").expect("parses");
        assert_eq!(t.metric, Metric::Ratio(OutcomeClass::AccessDenied));
        let t = parse("ratio.throttled{op=sts:AssumeRole} < 5%").expect("parses");
        assert!((t.limit - 0.05).abs() < 1e-12);
        let t = parse(" propagation.p99 < 15s ").expect("parses");
        assert_eq!(t.limit, 15_000.0);
        assert_eq!(t.text, "propagation.p99 < 15s");
        let t = parse("exposure.max{kind=revoke} <= 5s").expect("parses");
        assert_eq!(
            (t.metric, t.kind.as_deref(), t.cmp),
            (Metric::ExposureMax, Some("revoke"), Cmp::Le)
        );
        assert_eq!(
            parse("rate.achieved >= 200/s").expect("parses").limit,
            200.0
        );
        assert_eq!(parse("count.ok != 0").expect("parses").cmp, Cmp::Ne);
    }

    #[test]
    fn mistakes_say_where_and_what_to_write() {
        let e = parse("latency.p98 < 5ms").expect_err("bad stat");
        assert!(e.message.contains("unknown metric"), "{e:?}");
        let e = parse("latency.p99 5ms").expect_err("no comparison");
        assert!(e.help.contains("METRIC < VALUE"));
        let e = parse("ratio.throttled < 5ms").expect_err("unit");
        assert_eq!(e.at, "ratio.throttled < ".len() + 1);
        let e = parse("propagation.p99{op=x} < 1s").expect_err("filter");
        assert!(e.help.contains("kind"), "{e:?}");
        let e = parse("exposure.max{kind=sideways} < 1s").expect_err("kind");
        assert!(e.message.contains("sideways"));
        let e = parse("latency.p99{op=x < 1s").expect_err("unclosed");
        assert_eq!(e.at, "latency.p99".len());
        assert!(parse("latency.p99 < fast").is_err());
    }
}
