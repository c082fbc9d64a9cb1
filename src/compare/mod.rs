//! `iamstorm compare BASELINE CURRENT`: the headline metrics of two runs
//! side by side, each with a direction (lower or higher is better) and a
//! tolerance, so a CI job fails on a regression and not on noise.
//!
//! Both sides are `summary.json` files (or the directories holding them),
//! read as JSON so any schema-1 summary compares. Ops are matched by name,
//! measured changes by position and action. A metric present on one side
//! only is listed, never judged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::Exit;
use crate::observe::outcome::OutcomeClass;

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// How much worse than the baseline still passes: the larger of a
/// relative and an absolute allowance (the absolute one keeps tiny values
/// — 0.3 ms latencies, 0 errors — from failing on noise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Fraction of the baseline, e.g. 0.10.
    pub relative: f64,
    /// In the metric's unit.
    pub absolute: f64,
}

/// One compared metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `latency.p99{op=reads}`, `ratio.throttled`, `propagation.max{change=1}`.
    pub metric: String,
    pub unit: &'static str,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub better: Better,
    pub tolerance: Tolerance,
    /// `Some(true)`: worse than the tolerance allows.
    pub regressed: Option<bool>,
}

/// The command's options.
#[derive(Clone, Debug, Default)]
pub struct CompareOptions {
    pub baseline: PathBuf,
    pub current: PathBuf,
    /// `METRIC_PREFIX=VALUE[%]` overrides, e.g. `latency=20%`,
    /// `ratio.throttled=0.02`.
    pub tolerances: Vec<String>,
    /// Also write the Markdown table here.
    pub out: Option<PathBuf>,
}

fn default_tolerance(metric: &str) -> Tolerance {
    let t = |relative, absolute| Tolerance { relative, absolute };
    if metric.starts_with("latency") && metric.contains(".max") {
        // One slow request moves a max: only a large change means anything.
        t(1.0, 5.0)
    } else if metric.starts_with("latency") && metric.contains(".p50") {
        t(0.10, 0.5)
    } else if metric.starts_with("latency") {
        t(0.20, 1.0)
    } else if metric.starts_with("ratio.") {
        t(0.0, 0.005)
    } else if metric.starts_with("rate.") {
        t(0.05, 1.0)
    } else if metric.starts_with("propagation") || metric.starts_with("exposure.max") {
        t(0.20, 200.0)
    } else {
        // Counts: late starts, refusals, exposure requests.
        t(0.10, 10.0)
    }
}

/// Parses `PREFIX=VALUE[%]`: `%` makes it relative, else absolute.
fn parse_override(text: &str) -> Result<(String, Option<f64>, Option<f64>), String> {
    let (prefix, value) = text.split_once('=').ok_or_else(|| {
        format!(
            "--tolerance {text:?}: write METRIC=VALUE, e.g. latency=20% or ratio.throttled=0.02"
        )
    })?;
    let (number, relative) = match value.trim().strip_suffix('%') {
        Some(n) => (n, true),
        None => (value.trim(), false),
    };
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("--tolerance {text:?}: {value:?} is not a non-negative number"))?;
    Ok(if relative {
        (prefix.trim().to_owned(), Some(n / 100.0), None)
    } else {
        (prefix.trim().to_owned(), None, Some(n))
    })
}

/// Reads a summary from a file or a results directory.
pub fn read_summary(path: &Path) -> Result<Value, String> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "cannot read {}: {e} (pass a results directory or its summary.json)",
            file.display()
        )
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not JSON: {e}",
            file.display(),
            e.line(),
            e.column()
        )
    })?;
    if v["schema_version"].as_u64() != Some(u64::from(crate::report::summary::SCHEMA_VERSION)) {
        return Err(format!(
            "{}: schema_version {} is not {} (re-run with this iamstorm, or use the iamstorm that wrote it)",
            file.display(),
            v["schema_version"],
            crate::report::summary::SCHEMA_VERSION
        ));
    }
    Ok(v)
}

/// The metrics a summary offers, by name: (value, unit, direction).
fn metrics(s: &Value) -> BTreeMap<String, (f64, &'static str, Better)> {
    let mut m = BTreeMap::new();
    let num = |v: &Value| v.as_f64();
    let mut request_metrics = |suffix: &str, v: &Value, requests: f64| {
        for stat in ["p50", "p99", "max"] {
            if let Some(x) = num(&v["latency_ms"][stat]) {
                m.insert(format!("latency.{stat}{suffix}"), (x, "ms", Better::Lower));
            }
        }
        if let Some(x) = num(&v["latency_raw_ms"]["p99"]) {
            m.insert(format!("latency_raw.p99{suffix}"), (x, "ms", Better::Lower));
        }
        if let Some(x) = num(&v["rate_per_s"]["achieved"]) {
            m.insert(format!("rate.achieved{suffix}"), (x, "/s", Better::Higher));
        }
        if requests > 0.0 {
            for class in OutcomeClass::ALL {
                if let Some(c) = num(&v["counts_by_class"][class.as_str()]) {
                    let better = if class == OutcomeClass::Ok {
                        Better::Higher
                    } else {
                        Better::Lower
                    };
                    m.insert(
                        format!("ratio.{}{suffix}", class.as_str()),
                        (c / requests, "", better),
                    );
                }
            }
        }
        for key in ["late_starts", "refused"] {
            if let Some(x) = num(&v[key]) {
                m.insert(format!("{key}{suffix}"), (x, "", Better::Lower));
            }
        }
    };
    request_metrics("", s, num(&s["requests_total"]).unwrap_or(0.0));
    for op in s["ops"].as_array().into_iter().flatten() {
        let name = op["op"].as_str().unwrap_or("?");
        request_metrics(
            &format!("{{op={name}}}"),
            op,
            num(&op["requests"]).unwrap_or(0.0),
        );
    }
    for (i, p) in s["propagation"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let suffix = format!("{{change={}}}", i + 1);
        if let Some(x) = num(&p["stable_ms"]["max"]) {
            m.insert(format!("propagation.max{suffix}"), (x, "ms", Better::Lower));
        }
        if let Some(x) = num(&p["delay_ms"]["p99"]) {
            m.insert(
                format!("propagation.first.p99{suffix}"),
                (x, "ms", Better::Lower),
            );
        }
        if p["kind"] == "revoke" {
            m.insert(
                format!("exposure.max{suffix}"),
                (num(&p["exposure_ms"]).unwrap_or(0.0), "ms", Better::Lower),
            );
            if let Some(x) = num(&p["exposure_requests"]) {
                m.insert(format!("exposure.requests{suffix}"), (x, "", Better::Lower));
            }
        }
    }
    m
}

/// Compares two summaries.
pub fn compare(
    baseline: &Value,
    current: &Value,
    overrides: &[String],
) -> Result<Vec<Row>, String> {
    let overrides: Vec<(String, Option<f64>, Option<f64>)> = overrides
        .iter()
        .map(|o| parse_override(o))
        .collect::<Result<_, _>>()?;
    let (b, c) = (metrics(baseline), metrics(current));
    // Changes are matched by position: check they are the same changes.
    let actions = |s: &Value| -> Vec<String> {
        s["propagation"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["action"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (ab, ac) = (actions(baseline), actions(current));
    let names: std::collections::BTreeSet<&String> = b.keys().chain(c.keys()).collect();
    let mut rows = Vec::new();
    for name in names {
        let (bv, cv) = (b.get(name), c.get(name));
        let (unit, better) = bv.or(cv).map(|&(_, u, d)| (u, d)).expect("one side has it");
        let mut tolerance = default_tolerance(name);
        // The longest matching prefix wins; a `%` sets the relative part only.
        if let Some((_, rel, abs)) = overrides
            .iter()
            .filter(|(p, _, _)| name.starts_with(p.as_str()))
            .max_by_key(|(p, _, _)| p.len())
        {
            if let Some(r) = rel {
                tolerance = Tolerance {
                    relative: *r,
                    absolute: 0.0,
                };
            }
            if let Some(a) = abs {
                tolerance = Tolerance {
                    relative: 0.0,
                    absolute: *a,
                };
            }
        }
        let same_change = !name.contains("{change=") || {
            let i: usize = name
                .split("{change=")
                .nth(1)
                .and_then(|r| r.trim_end_matches('}').parse().ok())
                .unwrap_or(0);
            ab.get(i.wrapping_sub(1)) == ac.get(i.wrapping_sub(1))
        };
        let regressed = match (bv, cv) {
            (Some(&(b, ..)), Some(&(c, ..))) if same_change => {
                let allowance = (b.abs() * tolerance.relative).max(tolerance.absolute);
                Some(match better {
                    Better::Lower => c > b + allowance,
                    Better::Higher => c < b - allowance,
                })
            }
            _ => None,
        };
        rows.push(Row {
            metric: name.clone(),
            unit,
            baseline: bv.map(|v| v.0),
            current: cv.map(|v| v.0),
            better,
            tolerance,
            regressed,
        });
    }
    Ok(rows)
}

fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".to_owned(),
        Some(v) if unit.is_empty() && v.fract() != 0.0 => format!("{v:.4}"),
        Some(v) if unit == "ms" => format!("{v:.1} ms"),
        Some(v) if unit == "/s" => format!("{v:.1}/s"),
        Some(v) => format!("{v}"),
    }
}

/// The comparison as Markdown: regressions first, then everything else.
pub fn render(rows: &[Row], baseline: &str, current: &str) -> String {
    let regressions = rows.iter().filter(|r| r.regressed == Some(true)).count();
    let mut out = String::new();
    let _ = writeln!(out, "# iamstorm compare");
    let _ = writeln!(out);
    let _ = writeln!(out, "Baseline `{baseline}` → current `{current}`");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        if regressions == 0 {
            "**PASS** — no metric regressed beyond its tolerance".to_owned()
        } else {
            format!("**FAIL** — {regressions} metric(s) regressed beyond their tolerance")
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| | metric | baseline | current | delta | tolerance |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let mut ordered: Vec<&Row> = rows.iter().collect();
    ordered.sort_by_key(|r| (r.regressed != Some(true), r.regressed.is_none()));
    for r in ordered {
        let mark = match r.regressed {
            Some(true) => "❌",
            Some(false) => "✅",
            None => "·",
        };
        let delta = match (r.baseline, r.current) {
            (Some(b), Some(c)) if b != 0.0 => format!("{:+.1} %", (c - b) / b.abs() * 100.0),
            (Some(b), Some(c)) => format!("{:+}", c - b),
            _ => "—".to_owned(),
        };
        let tol = format!(
            "{}{} {}",
            match r.better {
                Better::Lower => "≤ +",
                Better::Higher => "≥ −",
            },
            if r.tolerance.relative > 0.0 {
                format!("{:.0} %", r.tolerance.relative * 100.0)
            } else {
                String::new()
            },
            if r.tolerance.absolute > 0.0 {
                let sep = if r.tolerance.relative > 0.0 {
                    "or "
                } else {
                    ""
                };
                format!("{sep}{}", fmt_value(Some(r.tolerance.absolute), r.unit))
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {} | {} | {delta} | {} |",
            r.metric,
            fmt_value(r.baseline, r.unit),
            fmt_value(r.current, r.unit),
            tol.trim()
        );
    }
    out
}

/// The `compare` command: prints the Markdown, exits 1 on a regression.
pub fn run(opts: &CompareOptions) -> Exit {
    let result = (|| {
        let b = read_summary(&opts.baseline)?;
        let c = read_summary(&opts.current)?;
        let rows = compare(&b, &c, &opts.tolerances)?;
        Ok::<_, String>(rows)
    })();
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            errln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let text = render(
        &rows,
        &opts.baseline.display().to_string(),
        &opts.current.display().to_string(),
    );
    out!("{text}");
    if let Some(out) = &opts.out
        && let Err(e) = crate::report::write_atomic(out, |w| w.write_all(text.as_bytes()))
    {
        errln!("error: cannot write {}: {e}", out.display());
        return Exit::BadInput;
    }
    if rows.iter().any(|r| r.regressed == Some(true)) {
        Exit::ThresholdsFailed
    } else {
        Exit::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(p99: f64, throttled: u64, exposure: f64) -> Value {
        json!({
            "schema_version": 1,
            "requests_total": 1000,
            "counts_by_class": {"ok": 1000 - throttled, "throttled": throttled},
            "latency_ms": {"p50": 2.0, "p99": p99, "max": 50.0},
            "latency_raw_ms": {"p99": p99},
            "rate_per_s": {"achieved": 100.0},
            "late_starts": 0, "refused": 0,
            "ops": [{"op": "reads", "requests": 1000,
                     "counts_by_class": {"ok": 1000 - throttled, "throttled": throttled},
                     "latency_ms": {"p50": 2.0, "p99": p99, "max": 50.0},
                     "rate_per_s": {"achieved": 100.0}}],
            "propagation": [{"kind": "revoke", "action": "delete-role-policy r/p",
                             "stable_ms": {"max": 900.0}, "delay_ms": {"p99": 500.0},
                             "exposure_ms": exposure, "exposure_requests": 10}]
        })
    }

    fn row<'a>(rows: &'a [Row], metric: &str) -> &'a Row {
        rows.iter()
            .find(|r| r.metric == metric)
            .unwrap_or_else(|| panic!("{metric} compared"))
    }

    #[test]
    fn noise_passes_and_regressions_fail() {
        let base = summary(20.0, 10, 800.0);
        // p99 +5 % and +0.2 pp throttling: within tolerance.
        let rows = compare(&base, &summary(21.0, 12, 850.0), &[]).expect("compares");
        assert!(rows.iter().all(|r| r.regressed != Some(true)), "{rows:?}");
        // p99 +50 %, throttling +2 pp, exposure +1 s: regressions.
        let rows = compare(&base, &summary(30.0, 30, 1800.0), &[]).expect("compares");
        assert_eq!(row(&rows, "latency.p99").regressed, Some(true));
        assert_eq!(row(&rows, "latency.p99{op=reads}").regressed, Some(true));
        assert_eq!(row(&rows, "ratio.throttled").regressed, Some(true));
        assert_eq!(row(&rows, "ratio.ok").regressed, Some(true));
        assert_eq!(row(&rows, "exposure.max{change=1}").regressed, Some(true));
        // Faster is never a regression.
        let rows = compare(&base, &summary(5.0, 0, 100.0), &[]).expect("compares");
        assert!(rows.iter().all(|r| r.regressed != Some(true)), "{rows:?}");
        let md = render(&rows, "a", "b");
        assert!(md.contains("**PASS**"), "{md}");
    }

    #[test]
    fn tolerances_can_be_overridden_by_prefix() {
        let base = summary(20.0, 10, 800.0);
        let cur = summary(30.0, 10, 800.0);
        let rows = compare(&base, &cur, &["latency=60%".into()]).expect("compares");
        assert_eq!(row(&rows, "latency.p99").regressed, Some(false));
        let rows = compare(&base, &cur, &["latency=60%".into(), "latency.p99=5".into()])
            .expect("compares");
        assert_eq!(row(&rows, "latency.p99").regressed, Some(true));
        assert_eq!(row(&rows, "latency.p99").tolerance.absolute, 5.0);
        assert!(compare(&base, &cur, &["latency".into()]).is_err());
        assert!(compare(&base, &cur, &["latency=-3%".into()]).is_err());
    }

    #[test]
    fn different_changes_and_one_sided_metrics_are_listed_not_judged() {
        let base = summary(20.0, 10, 800.0);
        let mut cur = summary(20.0, 10, 5000.0);
        cur["propagation"][0]["action"] = json!("detach-role-policy r/arn");
        cur["ops"][0]["op"] = json!("writes");
        let rows = compare(&base, &cur, &[]).expect("compares");
        assert_eq!(row(&rows, "exposure.max{change=1}").regressed, None);
        assert_eq!(row(&rows, "latency.p99{op=reads}").current, None);
        assert_eq!(row(&rows, "latency.p99{op=writes}").baseline, None);
    }
}
