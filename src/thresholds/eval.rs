//! Evaluates parsed thresholds against a run's `summary.json` (as a JSON
//! value, so a live run and `iamstorm report DIR` judge identically).
//!
//! Aggregation rules, chosen so a threshold never passes by averaging a bad
//! part away:
//! - request metrics with `{op=…}` take the ops whose name or API matches
//!   (a mix's name matches all its `NAME/OP` rows);
//!   counts and rates sum over them, ratios divide sums, latency takes the
//!   worst matching op's percentile. Without a filter: the run's totals.
//! - propagation metrics take the worst measured change (of `{kind=…}`);
//!   a change with an instance that never became stable has no stable time,
//!   so a stable-time threshold on it fails with that reason.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expr::{Metric, Threshold};

/// One threshold's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written.
    pub threshold: String,
    /// The value compared, in the metric's unit (ms, ratio, count, req/s);
    /// `null` when there was nothing to measure.
    pub observed: Option<f64>,
    pub passed: bool,
    /// Why, in words: `"p99 41.2 ms < 50 ms"` or what was missing.
    pub reason: String,
}

/// Judges `t` against `summary`.
pub fn evaluate(t: &Threshold, summary: &Value) -> ThresholdResult {
    let observed = observe(t, summary);
    let (observed, passed, reason) = match observed {
        Ok(v) => {
            let passed = t.cmp.holds(v, t.limit);
            (
                Some(v),
                passed,
                format!("observed {}", fmt_value(&t.metric, v)),
            )
        }
        Err(why) => (None, false, why),
    };
    ThresholdResult {
        threshold: t.text.clone(),
        observed,
        passed,
        reason,
    }
}

/// Judges every threshold.
pub fn evaluate_all(thresholds: &[Threshold], summary: &Value) -> Vec<ThresholdResult> {
    thresholds.iter().map(|t| evaluate(t, summary)).collect()
}

fn fmt_value(m: &Metric, v: f64) -> String {
    match m {
        Metric::Latency { .. }
        | Metric::Propagation { .. }
        | Metric::PropagationErrorMax
        | Metric::ExposureMax => format!("{v:.1} ms"),
        Metric::Ratio(_) => format!("{:.3} %", v * 100.0),
        Metric::RateAchieved => format!("{v:.1}/s"),
        _ => format!("{v}"),
    }
}

fn observe(t: &Threshold, s: &Value) -> Result<f64, String> {
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    match &t.metric {
        Metric::Latency { .. }
        | Metric::Ratio(_)
        | Metric::Count(_)
        | Metric::Requests
        | Metric::LateStarts
        | Metric::Refused
        | Metric::RateAchieved => {
            let ops: Vec<&Value> = match &t.op {
                None => vec![s],
                Some(name) => {
                    let matching: Vec<&Value> = s["ops"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|o| {
                            // A mix's name selects all its rows (`api/s3:GetObject`, ...).
                            let row = o["op"].as_str().unwrap_or_default();
                            row == name
                                || o["api"] == name.as_str()
                                || row
                                    .strip_prefix(name.as_str())
                                    .is_some_and(|r| r.starts_with('/'))
                        })
                        .collect();
                    if matching.is_empty() {
                        return Err(format!("no op named {name:?} ran"));
                    }
                    matching
                }
            };
            let requests = |o: &Value| {
                num(if o.get("requests_total").is_some() {
                    &o["requests_total"]
                } else {
                    &o["requests"]
                })
            };
            let sum = |f: &dyn Fn(&Value) -> f64| ops.iter().map(|o| f(o)).sum::<f64>();
            Ok(match &t.metric {
                Metric::Latency { stat, raw } => {
                    let key = if *raw { "latency_raw_ms" } else { "latency_ms" };
                    let with_requests: Vec<&&Value> =
                        ops.iter().filter(|o| requests(o) > 0.0).collect();
                    if with_requests.is_empty() {
                        return Err("no request completed, so there is no latency".into());
                    }
                    with_requests
                        .iter()
                        .map(|o| num(&o[key][stat.key()]))
                        .fold(f64::MIN, f64::max)
                }
                Metric::Ratio(class) => {
                    let total = sum(&requests);
                    if total == 0.0 {
                        return Err("no request completed, so there is no ratio".into());
                    }
                    sum(&|o| num(&o["counts_by_class"][class.as_str()])) / total
                }
                Metric::Count(class) => sum(&|o| num(&o["counts_by_class"][class.as_str()])),
                Metric::Requests => sum(&requests),
                Metric::LateStarts => sum(&|o| num(&o["late_starts"])),
                Metric::Refused => sum(&|o| num(&o["refused"])),
                Metric::RateAchieved => sum(&|o| num(&o["rate_per_s"]["achieved"])),
                _ => unreachable!("request metrics only"),
            })
        }
        Metric::Propagation { .. }
        | Metric::PropagationErrorMax
        | Metric::ExposureMax
        | Metric::ExposureRequests => {
            let changes: Vec<&Value> = s["propagation"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| t.kind.as_deref().is_none_or(|k| p["kind"] == k))
                .collect();
            let what = t.kind.as_deref().map_or("change".to_owned(), str::to_owned);
            if changes.is_empty() {
                return Err(format!(
                    "no {what} was measured (add measure = \"grant\" or \"revoke\" to a timeline action)"
                ));
            }
            match &t.metric {
                Metric::Propagation { stat, first } => {
                    let key = if *first { "delay_ms" } else { "stable_ms" };
                    let mut worst = f64::MIN;
                    for c in &changes {
                        let unsettled = if *first {
                            c["instances_unreached"].as_array().map_or(0, Vec::len)
                        } else {
                            c["instances"].as_u64().unwrap_or(0) as usize
                                - c["instances_stable"].as_u64().unwrap_or(0) as usize
                        };
                        if unsettled > 0 || c[key].is_null() {
                            return Err(format!(
                                "the {} of {} at {} s never {} on {unsettled} instance(s)",
                                c["kind"].as_str().unwrap_or("change"),
                                c["action"].as_str().unwrap_or("?"),
                                c["at_s"],
                                if *first { "reached" } else { "settled" }
                            ));
                        }
                        worst = worst.max(num(&c[key][stat.key()]));
                    }
                    Ok(worst)
                }
                Metric::PropagationErrorMax => {
                    let errors: Vec<f64> = changes
                        .iter()
                        .filter_map(|c| c["error_ms_max"].as_f64())
                        .map(f64::abs)
                        .collect();
                    errors.into_iter().reduce(f64::max).ok_or_else(|| {
                        "no change has ground truth to compare with (the double only)".into()
                    })
                }
                Metric::ExposureMax => Ok(changes
                    .iter()
                    .filter_map(|c| c["exposure_ms"].as_f64())
                    .fold(0.0, f64::max)),
                Metric::ExposureRequests => {
                    Ok(changes.iter().map(|c| num(&c["exposure_requests"])).sum())
                }
                _ => unreachable!("propagation metrics only"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::expr::parse;
    use super::*;
    use serde_json::json;

    fn summary() -> Value {
        json!({
            "requests_total": 1000,
            "counts_by_class": {"ok": 970, "throttled": 20, "access_denied": 10},
            "latency_ms": {"p50": 2.0, "p90": 5.0, "p99": 40.0, "max": 90.0},
            "latency_raw_ms": {"p50": 1.0, "p90": 4.0, "p99": 30.0, "max": 80.0},
            "rate_per_s": {"target": 100.0, "achieved": 100.0},
            "late_starts": 3, "refused": 0,
            "ops": [
                {"op": "reads", "api": "s3:GetObject", "requests": 600,
                 "counts_by_class": {"ok": 590, "throttled": 0, "access_denied": 10},
                 "latency_ms": {"p50": 2.0, "p90": 5.0, "p99": 45.0, "max": 90.0},
                 "latency_raw_ms": {"p50": 1.0, "p90": 4.0, "p99": 30.0, "max": 80.0},
                 "rate_per_s": {"achieved": 60.0}, "late_starts": 1, "refused": 0},
                {"op": "sts", "api": "sts:AssumeRole", "requests": 400,
                 "counts_by_class": {"ok": 380, "throttled": 20, "access_denied": 0},
                 "latency_ms": {"p50": 2.0, "p90": 5.0, "p99": 12.0, "max": 20.0},
                 "latency_raw_ms": {"p50": 1.0, "p90": 4.0, "p99": 10.0, "max": 15.0},
                 "rate_per_s": {"achieved": 40.0}, "late_starts": 2, "refused": 0}
            ],
            "propagation": [
                {"kind": "grant", "action": "put", "at_s": 3.0, "instances": 4, "instances_stable": 4,
                 "instances_unreached": [], "delay_ms": {"p50": 900.0, "p90": 1000.0, "p99": 1100.0, "max": 1100.0},
                 "stable_ms": {"p50": 2000.0, "p90": 2500.0, "p99": 2900.0, "max": 2900.0},
                 "exposure_requests": 0, "exposure_ms": null, "error_ms_max": -12.0},
                {"kind": "revoke", "action": "delete", "at_s": 9.0, "instances": 4, "instances_stable": 3,
                 "instances_unreached": [], "delay_ms": {"p50": 300.0, "p90": 400.0, "p99": 450.0, "max": 450.0},
                 "stable_ms": {"p50": 700.0, "p90": 800.0, "p99": 800.0, "max": 800.0},
                 "exposure_requests": 120, "exposure_ms": 830.0, "error_ms_max": null}
            ]
        })
    }

    fn judge(text: &str) -> ThresholdResult {
        evaluate(&parse(text).expect("parses"), &summary())
    }

    #[test]
    fn request_metrics_total_or_per_op() {
        assert!(judge("ratio.access_denied < 1.5%").passed);
        assert!(!judge("ratio.access_denied < 1%").passed);
        // 20 of sts:AssumeRole's 400: 5 %, by API or by entry name.
        assert_eq!(
            judge("ratio.throttled{op=sts:AssumeRole} < 0.05").observed,
            Some(0.05)
        );
        assert!(!judge("ratio.throttled{op=sts} < 0.05").passed);
        assert_eq!(
            judge("latency.p99{op=s3:GetObject} < 50ms").observed,
            Some(45.0)
        );
        assert!(!judge("latency.p99 < 40ms").passed);
        assert!(judge("latency_raw.max <= 80ms").passed);
        assert_eq!(judge("late_starts{op=sts} == 2").observed, Some(2.0));
        assert_eq!(judge("rate.achieved >= 100/s").observed, Some(100.0));
        let missing = judge("latency.p99{op=s3:PutObject} < 1s");
        assert!(
            !missing.passed && missing.reason.contains("s3:PutObject"),
            "{missing:?}"
        );
    }

    #[test]
    fn a_mix_name_selects_all_its_rows_and_only_those() {
        let mut s = summary();
        s["ops"][0]["op"] = json!("api/s3:GetObject");
        s["ops"][1]["op"] = json!("api/sts:AssumeRole");
        let t = parse("requests{op=api} == 1000").expect("parses");
        assert_eq!(evaluate(&t, &s).observed, Some(1000.0));
        let row = parse("requests{op=api/s3:GetObject} == 600").expect("parses");
        assert!(evaluate(&row, &s).passed);
        // A prefix that is not the mix's whole name selects nothing.
        let partial = parse("requests{op=ap} > 0").expect("parses");
        assert_eq!(evaluate(&partial, &s).observed, None);
    }

    #[test]
    fn propagation_takes_the_worst_change_and_unsettled_fails() {
        assert_eq!(judge("propagation.first.p99 < 2s").observed, Some(1100.0));
        assert!(judge("propagation.p99{kind=grant} < 3s").passed);
        // The revoke left one instance unsettled: no stable time to compare.
        let r = judge("propagation.p99 < 15s");
        assert!(
            !r.passed && r.reason.contains("never settled on 1"),
            "{r:?}"
        );
        assert_eq!(judge("exposure.max < 1s").observed, Some(830.0));
        assert_eq!(
            judge("exposure.requests{kind=revoke} == 120").observed,
            Some(120.0)
        );
        assert_eq!(judge("propagation.error.max < 50ms").observed, Some(12.0));
        let none = evaluate(
            &parse("exposure.max < 1s").expect("parses"),
            &json!({"propagation": []}),
        );
        assert!(!none.passed && none.reason.contains("measure"), "{none:?}");
    }
}
