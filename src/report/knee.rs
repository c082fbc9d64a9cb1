//! The capacity knee of a ramp: the highest rate an op sustained before it
//! broke — more than [`THROTTLED_SHARE`] of a second's requests throttled,
//! or that second's p99 above the op's SLO (its `latency.p99{op=…} < X`
//! threshold, when the scenario sets one). Found for every op whose target
//! rate moved during the run (a ramp, steps, a spike); flat loads have no
//! knee to find.

use serde::{Deserialize, Serialize};

use crate::observe::outcome::OutcomeClass;
use crate::report::csv::TimeseriesRow;
use crate::report::summary::{Summary, fmt_rate, fmt_s};
use crate::thresholds::expr::{Cmp, Metric, Stat};

/// A second is broken when more than this share of it was throttled.
pub const THROTTLED_SHARE: f64 = 0.01;
/// A target that moves by this factor makes a ramp.
const RAMP_FACTOR: f64 = 1.5;

/// One op's knee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    pub op: String,
    /// The highest rate sustained before the first broken second; `null`
    /// when the op broke at once or never broke (see `reason`).
    pub rate_per_s: Option<f64>,
    /// When the first broken second began, s; `null` when none broke.
    pub broke_at_s: Option<f64>,
    /// The p99 SLO used, ms, from the op's threshold.
    pub slo_p99_ms: Option<f64>,
    /// What broke, in words.
    pub reason: String,
    /// When throttling broke it: the median requests per second that still
    /// succeeded in the throttled seconds after the first — the quota the
    /// target refills, below the knee by its burst allowance.
    #[serde(default)]
    pub sustained_per_s: Option<f64>,
}

/// The op's p99 SLO from a `latency.p99{op=…} <[=] X` threshold.
fn slo_ms(summary: &Summary, op: &str, api: Option<&str>) -> Option<f64> {
    summary
        .thresholds
        .iter()
        .filter_map(|t| crate::thresholds::parse(&t.threshold).ok())
        .filter(|t| {
            t.metric
                == Metric::Latency {
                    stat: Stat::P99,
                    raw: false,
                }
                && matches!(t.cmp, Cmp::Lt | Cmp::Le)
                && t.op.as_deref().is_some_and(|o| o == op || Some(o) == api)
        })
        .map(|t| t.limit)
        .reduce(f64::min)
}

/// Knees of every ramped op, in the summary's op order.
pub fn find(summary: &Summary, rows: &[TimeseriesRow]) -> Vec<Knee> {
    let mut out = Vec::new();
    for op in &summary.ops {
        // Per second: total, throttled, worst p99, target.
        let mut seconds: std::collections::BTreeMap<u64, (u64, u64, f64, Option<f64>)> =
            Default::default();
        for r in rows.iter().filter(|r| r.op == op.op) {
            let s = seconds.entry(r.second as u64).or_insert((0, 0, 0.0, None));
            s.0 += r.count;
            if r.class == OutcomeClass::Throttled {
                s.1 += r.count;
            }
            s.2 = s.2.max(r.latency_ms_p99);
            s.3 = s.3.or(r.rate_per_s_target);
        }
        let targets: Vec<f64> = seconds
            .values()
            .filter_map(|s| s.3)
            .filter(|t| *t > 0.0)
            .collect();
        let (lo, hi) = (
            targets.iter().copied().fold(f64::INFINITY, f64::min),
            targets.iter().copied().fold(0.0, f64::max),
        );
        if targets.is_empty() || hi < lo * RAMP_FACTOR {
            continue;
        }
        let slo = slo_ms(summary, &op.op, op.api.as_deref());
        let sustained = crate::calibrate::fit::fit_quota(
            &seconds
                .iter()
                .map(
                    |(&second, &(total, throttled, _, _))| crate::calibrate::fit::Second {
                        second,
                        total,
                        ok: total - throttled,
                        throttled,
                    },
                )
                .collect::<Vec<_>>(),
        )
        .filter(|f| f.throttled_seconds > 1)
        .map(|f| f.quota_per_s as f64);
        let mut best: Option<f64> = None;
        let mut knee = None;
        for (&second, &(total, throttled, p99, _)) in &seconds {
            if total == 0 {
                continue;
            }
            let share = throttled as f64 / total as f64;
            let why = if share > THROTTLED_SHARE {
                Some(format!(
                    "{:.1} % throttled at {}/s from {}",
                    share * 100.0,
                    fmt_rate(total as f64),
                    fmt_s(second as f64)
                ))
            } else {
                slo.filter(|&slo| p99 > slo).map(|slo| {
                    format!(
                        "p99 {p99:.1} ms over the {slo:.0} ms SLO at {}/s from {}",
                        fmt_rate(total as f64),
                        fmt_s(second as f64)
                    )
                })
            };
            match why {
                Some(reason) => {
                    knee = Some(Knee {
                        op: op.op.clone(),
                        rate_per_s: best,
                        broke_at_s: Some(second as f64),
                        slo_p99_ms: slo,
                        sustained_per_s: sustained.filter(|_| share > THROTTLED_SHARE),
                        reason,
                    });
                    break;
                }
                None => best = Some(best.map_or(total as f64, |b: f64| b.max(total as f64))),
            }
        }
        out.push(knee.unwrap_or_else(|| Knee {
            op: op.op.clone(),
            rate_per_s: None,
            broke_at_s: None,
            slo_p99_ms: slo,
            sustained_per_s: None,
            reason: format!(
                "no knee: held up to {}/s without throttling{}",
                fmt_rate(best.unwrap_or(0.0)),
                if slo.is_some() {
                    " or breaking the SLO"
                } else {
                    ""
                }
            ),
        }));
    }
    out
}

/// The verdict line for a knee.
pub fn verdict(k: &Knee) -> String {
    match k.rate_per_s {
        Some(rate) => format!(
            "Capacity knee of {}: {}/s — the highest rate sustained before it broke ({}){}.",
            k.op,
            fmt_rate(rate),
            k.reason,
            k.sustained_per_s.map_or_else(String::new, |q| format!(
                "; once throttled it served {}/s, the quota behind the burst — plan below that",
                fmt_rate(q)
            ))
        ),
        None if k.broke_at_s.is_some() => format!(
            "{} broke in its first second ({}): the ramp started above capacity — start it lower.",
            k.op, k.reason
        ),
        None => format!("{}: {} — ramp higher to find the knee.", k.op, k.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::csv::rows_from_metrics;
    use crate::report::summary::fixtures::{metrics, record, summarize};

    /// A ramp 100 → 600/s over 6 s; from 400/s on, 5 % are throttled.
    fn ramp() -> (crate::observe::metrics::Metrics, Summary) {
        let mut m = metrics(&["reads"]);
        for s in 0..6u64 {
            let rate = 100 + s * 100;
            m.set_rate_target(0, std::time::Duration::from_secs(s), rate as f64);
            for i in 0..rate {
                let throttled = rate >= 400 && i % 20 == 0;
                let class = if throttled {
                    OutcomeClass::Throttled
                } else {
                    OutcomeClass::Ok
                };
                let latency_us = if rate >= 300 { 30_000 } else { 2_000 };
                record(&mut m, 0, class, s * 1000 + i * 1000 / rate, latency_us);
            }
        }
        let s = summarize(&m, 6, &[]);
        (m, s)
    }

    #[test]
    fn the_knee_is_the_last_rate_before_throttling() {
        let (m, s) = ramp();
        let knees = find(&s, &rows_from_metrics(&m));
        assert_eq!(knees.len(), 1);
        let k = &knees[0];
        assert_eq!(k.rate_per_s, Some(300.0));
        assert_eq!(k.broke_at_s, Some(3.0));
        assert!(
            k.reason.starts_with("5.0 % throttled at 400/s"),
            "{}",
            k.reason
        );
        assert!(
            verdict(k).starts_with("Capacity knee of reads: 300/s"),
            "{}",
            verdict(k)
        );
        // 400, 500, 600/s offered with 5 % throttled: 380, 475, 570 served;
        // the seconds after the first throttled one say 475 and 570.
        assert_eq!(k.sustained_per_s, Some(570.0));
        assert!(
            verdict(k).contains("once throttled it served 570/s"),
            "{}",
            verdict(k)
        );
    }

    #[test]
    fn an_slo_threshold_moves_the_knee_down() {
        let (m, mut s) = ramp();
        s.thresholds.push(crate::thresholds::ThresholdResult {
            threshold: "latency.p99{op=reads} < 20ms".into(),
            observed: None,
            passed: false,
            reason: String::new(),
        });
        let k = &find(&s, &rows_from_metrics(&m))[0];
        assert_eq!(k.rate_per_s, Some(200.0));
        assert_eq!(k.slo_p99_ms, Some(20.0));
        assert!(
            k.reason
                .starts_with("p99 30.0 ms over the 20 ms SLO at 300/s"),
            "{}",
            k.reason
        );
    }

    #[test]
    fn a_flat_load_has_no_knee() {
        let mut m = metrics(&["reads"]);
        for s in 0..3u64 {
            m.set_rate_target(0, std::time::Duration::from_secs(s), 50.0);
            record(&mut m, 0, OutcomeClass::Ok, s * 1000, 1_000);
        }
        let s = summarize(&m, 3, &[]);
        assert!(find(&s, &rows_from_metrics(&m)).is_empty());
    }
}
