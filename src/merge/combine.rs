//! The exact merge of shards' results, pure (no files, no network): loaded
//! shards in, one summary + time series + histograms out.
//!
//! Exact where it can be: latency percentiles come from the shards'
//! HdrHistograms added together (`latency.hlog` per second × op × class for
//! corrected latency, `latency_raw.hlog` per op × class for raw), never from
//! averaged percentiles; counts, late starts, refusals and sub-reasons are
//! sums. Shards are aligned on wall-clock: each one's intervals move by its
//! start's distance from the earliest shard's, rounded to whole intervals
//! (histograms are moved whole, never split). What only one shard measures
//! — the timeline, its propagation — comes from the shard that owns it.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::observe::outcome::OutcomeClass;
use crate::report::csv::TimeseriesRow;
use crate::report::hlog::{LoggedHistogram, tag_text};
use crate::report::summary::{ClassCounts, ClassSpan, OpSummary, PercentilesMs, RatePerS};
use crate::report::{self, Summary};
use crate::shard::ShardInfo;
use crate::thresholds::Threshold;

/// One shard's results, read from its directory.
#[derive(Clone, Debug)]
pub struct LoadedShard {
    /// Where it came from (a directory, or the S3 prefix it was fetched from).
    pub source: String,
    /// The local directory its files were read from.
    pub dir: std::path::PathBuf,
    pub summary: Summary,
    pub info: ShardInfo,
    pub rows: Vec<TimeseriesRow>,
    /// `latency.hlog`: corrected latency per interval × op × class.
    pub corrected: Vec<LoggedHistogram>,
    /// `latency_raw.hlog`: raw latency per op × class over the run.
    pub raw: Vec<LoggedHistogram>,
}

/// What `summary.json` → `merged` records about a merge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// The shard count every shard declared.
    pub shards: u32,
    /// The shard indices merged, ascending.
    pub merged: Vec<u32>,
    /// The shard indices absent (merged anyway only with `--allow-missing`).
    pub missing: Vec<u32>,
    /// Per merged shard (same order): where its results came from.
    pub sources: Vec<String>,
    /// The earliest shard's start, Unix ms: the merged run's t0.
    pub started_unix_ms: u64,
    /// Latest shard start minus earliest (ms): how together they started.
    pub start_spread_ms: u64,
    /// Per merged shard: intervals its data moved by to align on wall-clock.
    pub shift_intervals: Vec<u64>,
    /// Per merged shard: its measured clock offset to the target (ms).
    pub clock_offsets_ms: Vec<Option<f64>>,
}

/// A merged result set, ready to write.
pub struct Merged {
    pub summary: Summary,
    pub rows: Vec<TimeseriesRow>,
    pub op_names: Vec<String>,
    /// (interval, op, class) → corrected latency, µs.
    pub corrected: BTreeMap<(u64, usize, OutcomeClass), Histogram<u64>>,
    /// (op, class) → raw latency over the run, µs.
    pub raw: BTreeMap<(usize, OutcomeClass), Histogram<u64>>,
    pub interval: Duration,
    /// The whole run, for the raw log's one interval.
    pub duration: Duration,
}

fn add_into<K: Ord>(
    map: &mut BTreeMap<K, Histogram<u64>>,
    key: K,
    h: &Histogram<u64>,
) -> Result<(), String> {
    match map.get_mut(&key) {
        Some(acc) => acc
            .add(h)
            .map_err(|e| format!("histograms with different bounds: {e:?}")),
        None => {
            map.insert(key, h.clone());
            Ok(())
        }
    }
}

fn round_milli(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn per_s(count: f64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        round_milli(count / duration_s)
    } else {
        0.0
    }
}

/// Merges `shards` (ascending index, no duplicates: the caller checked)
/// and judges `gates` on the result. `missing` is recorded and named.
pub fn combine(
    shards: &[LoadedShard],
    missing: &[u32],
    gates: &[Threshold],
) -> Result<Merged, String> {
    let owner = shards
        .first()
        .ok_or_else(|| "no shards to merge".to_owned())?;
    let interval_s = owner.summary.interval_s;
    let interval_ms = (interval_s * 1e3).round().max(1.0) as u64;
    let interval = Duration::from_millis(interval_ms);
    let t0_ms = shards
        .iter()
        .map(|s| s.info.started_unix_ms)
        .min()
        .unwrap_or_default();
    let t_last_ms = shards
        .iter()
        .map(|s| s.info.started_unix_ms)
        .max()
        .unwrap_or_default();
    // Ops in the owner's order, then any only others had.
    let mut op_names: Vec<String> = Vec::new();
    for s in shards {
        for o in &s.summary.ops {
            if !op_names.contains(&o.op) {
                op_names.push(o.op.clone());
            }
        }
    }
    let op_index = |name: &str| op_names.iter().position(|n| n == name);
    let mut tags: BTreeMap<String, (usize, OutcomeClass)> = BTreeMap::new();
    for (i, name) in op_names.iter().enumerate() {
        for class in OutcomeClass::ALL {
            tags.insert(tag_text(name, class.as_str()), (i, class));
        }
    }

    let mut corrected: BTreeMap<(u64, usize, OutcomeClass), Histogram<u64>> = BTreeMap::new();
    let mut raw: BTreeMap<(usize, OutcomeClass), Histogram<u64>> = BTreeMap::new();
    let mut targets: BTreeMap<(u64, usize), f64> = BTreeMap::new();
    let mut shifts = Vec::with_capacity(shards.len());
    for s in shards {
        if (s.summary.interval_s - interval_s).abs() > 1e-9 {
            return Err(format!(
                "{}: interval {} s differs from the first shard's {} s",
                s.source, s.summary.interval_s, interval_s
            ));
        }
        let shift = ((s.info.started_unix_ms - t0_ms) as f64 / interval_ms as f64).round() as u64;
        shifts.push(shift);
        // Every request is in exactly one tagged histogram: check the log
        // holds what the summary counted before trusting either.
        let mut logged: BTreeMap<usize, u64> = BTreeMap::new();
        for h in &s.corrected {
            let Some(tag) = &h.tag else {
                continue; // the whole interval: rebuilt from the cells
            };
            let &(op, class) = tags.get(tag).ok_or_else(|| {
                format!(
                    "{}: latency.hlog tag {tag:?} names no op of its summary.json",
                    s.source
                )
            })?;
            let at = (h.interval_start.as_millis() as f64 / interval_ms as f64).round() as u64;
            add_into(&mut corrected, (at + shift, op, class), &h.histogram)
                .map_err(|e| format!("{}: latency.hlog: {e}", s.source))?;
            *logged.entry(op).or_default() += h.histogram.len();
        }
        for o in &s.summary.ops {
            let op = op_index(&o.op).expect("collected above");
            let in_log = logged.get(&op).copied().unwrap_or(0);
            if in_log != o.requests {
                return Err(format!(
                    "{}: latency.hlog holds {in_log} requests of {:?} but summary.json counts {}: the log is incomplete, so the merge could not be exact\n  help: re-fetch the shard's files (a partial upload?)",
                    s.source, o.op, o.requests
                ));
            }
        }
        let mut raw_logged: BTreeMap<usize, u64> = BTreeMap::new();
        for h in &s.raw {
            let Some(tag) = &h.tag else { continue };
            let &(op, class) = tags.get(tag).ok_or_else(|| {
                format!(
                    "{}: latency_raw.hlog tag {tag:?} names no op of its summary.json",
                    s.source
                )
            })?;
            add_into(&mut raw, (op, class), &h.histogram)
                .map_err(|e| format!("{}: latency_raw.hlog: {e}", s.source))?;
            *raw_logged.entry(op).or_default() += h.histogram.len();
        }
        for o in &s.summary.ops {
            let op = op_index(&o.op).expect("collected above");
            if raw_logged.get(&op).copied().unwrap_or(0) != o.requests {
                return Err(format!(
                    "{}: latency_raw.hlog does not hold the {} requests summary.json counts for {:?}",
                    s.source, o.requests, o.op
                ));
            }
        }
        // Rate targets are additive: one per (second, op) per shard.
        let mut seen: BTreeMap<(u64, usize), f64> = BTreeMap::new();
        for r in &s.rows {
            if let (Some(t), Some(op)) = (r.rate_per_s_target, op_index(&r.op)) {
                let at = (r.second * 1e3 / interval_ms as f64).round() as u64;
                seen.entry((at + shift, op)).or_insert(t);
            }
        }
        for (k, t) in seen {
            *targets.entry(k).or_default() += t;
        }
    }

    let us_ms = |us: u64| us as f64 / 1000.0;
    let rows: Vec<TimeseriesRow> = corrected
        .iter()
        .map(|(&(at, op, class), h)| TimeseriesRow {
            second: (at * interval_ms) as f64 / 1e3,
            op: op_names[op].clone(),
            class,
            count: h.len(),
            latency_ms_p50: us_ms(h.value_at_quantile(0.50)),
            latency_ms_p99: us_ms(h.value_at_quantile(0.99)),
            latency_ms_max: us_ms(h.max()),
            rate_per_s_target: targets.get(&(at, op)).map(|t| round_milli(*t)),
        })
        .collect();

    let duration_s = shards
        .iter()
        .map(|s| s.summary.duration_s)
        .fold(0.0, f64::max);
    let duration = Duration::from_secs_f64(duration_s);
    let spans = class_spans(&rows, &op_names, interval_s);
    let empty = || -> Result<Histogram<u64>, String> {
        Histogram::new_with_bounds(1, crate::observe::metrics::LATENCY_US_MAX, 3)
            .map_err(|e| format!("{e:?}"))
    };
    let mut ops = Vec::with_capacity(op_names.len());
    let mut all_corrected = empty()?;
    let mut all_raw = empty()?;
    for (op, name) in op_names.iter().enumerate() {
        let mut c = empty()?;
        for ((_, o, _), h) in &corrected {
            if *o == op {
                c.add(h).map_err(|e| format!("{e:?}"))?;
            }
        }
        let mut r = empty()?;
        for ((o, _), h) in &raw {
            if *o == op {
                r.add(h).map_err(|e| format!("{e:?}"))?;
            }
        }
        all_corrected.add(&c).map_err(|e| format!("{e:?}"))?;
        all_raw.add(&r).map_err(|e| format!("{e:?}"))?;
        let parts: Vec<&OpSummary> = shards
            .iter()
            .filter_map(|s| s.summary.ops.iter().find(|o| o.op == *name))
            .collect();
        let mut counts = ClassCounts::default();
        let mut details: BTreeMap<OutcomeClass, BTreeMap<String, u64>> = BTreeMap::new();
        for p in &parts {
            for (class, n) in p.counts_by_class.non_zero() {
                counts.add(class, n);
            }
            for (class, d) in &p.details_by_class {
                let cell = details.entry(*class).or_default();
                for (k, n) in d {
                    *cell.entry(k.clone()).or_default() += n;
                }
            }
        }
        let requests: u64 = parts.iter().map(|p| p.requests).sum();
        ops.push(OpSummary {
            op: name.clone(),
            api: parts.iter().find_map(|p| p.api.clone()),
            requests,
            counts_by_class: counts,
            latency_ms: PercentilesMs::from_histogram_us(&c),
            latency_raw_ms: PercentilesMs::from_histogram_us(&r),
            rate_per_s: RatePerS {
                // A total only if every shard planned one (closed: none).
                target: parts
                    .iter()
                    .map(|p| p.rate_per_s.target)
                    .sum::<Option<f64>>()
                    .map(round_milli),
                achieved: per_s(requests as f64, duration_s),
                // Per-interval accuracy is by actual send, which shards do
                // not export; the merged time series shows the rates.
                per_interval: None,
            },
            late_starts: parts.iter().map(|p| p.late_starts).sum(),
            refused: parts.iter().map(|p| p.refused).sum(),
            class_spans: spans.get(op).cloned().unwrap_or_default(),
            details_by_class: details,
        });
    }

    let mut summary = owner.summary.clone();
    summary.seed = owner.info.seed_base;
    summary.duration_s = duration_s;
    summary.requests_total = ops.iter().map(|o| o.requests).sum();
    let mut counts = ClassCounts::default();
    for o in &ops {
        for (class, n) in o.counts_by_class.non_zero() {
            counts.add(class, n);
        }
    }
    summary.counts_by_class = counts;
    summary.latency_ms = PercentilesMs::from_histogram_us(&all_corrected);
    summary.latency_raw_ms = PercentilesMs::from_histogram_us(&all_raw);
    summary.rate_per_s = RatePerS {
        target: ops
            .iter()
            .map(|o| o.rate_per_s.target)
            .sum::<Option<f64>>()
            .filter(|_| !ops.is_empty())
            .map(round_milli),
        achieved: per_s(summary.requests_total as f64, duration_s),
        per_interval: None,
    };
    summary.late_starts = ops.iter().map(|o| o.late_starts).sum();
    summary.refused = ops.iter().map(|o| o.refused).sum();
    summary.ops = ops;
    // Observations pooled: every shard's measured changes (only the owner
    // makes changes, so normally only its).
    summary.propagation = shards
        .iter()
        .flat_map(|s| s.summary.propagation.clone())
        .collect();
    summary.propagation_by_kind = shards
        .iter()
        .flat_map(|s| s.summary.propagation_by_kind.clone())
        .collect();
    summary.timeline = shards
        .iter()
        .filter(|s| s.info.owns_timeline)
        .flat_map(|s| s.summary.timeline.clone())
        .collect();
    let mut offset = 0;
    summary.boots = Vec::new();
    for s in shards {
        for b in &s.summary.boots {
            let mut b = b.clone();
            b.instance += offset;
            summary.boots.push(b);
        }
        offset += s.summary.boots.len();
    }
    summary.restored = shards
        .iter()
        .flat_map(|s| s.summary.restored.clone())
        .collect();
    summary.aborted = shards.iter().find_map(|s| s.summary.aborted.clone());
    // Each shard checked a sample of its own requests: samples of different
    // sizes do not add up to one uniform sample. They stay per shard.
    summary.classifier = None;
    summary.knees = Vec::new();
    summary.thresholds = Vec::new();
    summary.shard = None;
    summary.merged = Some(MergeInfo {
        shards: owner.info.count,
        merged: shards.iter().map(|s| s.info.index).collect(),
        missing: missing.to_vec(),
        sources: shards.iter().map(|s| s.source.clone()).collect(),
        started_unix_ms: t0_ms,
        start_spread_ms: t_last_ms - t0_ms,
        shift_intervals: shifts,
        clock_offsets_ms: shards.iter().map(|s| s.info.clock_offset_ms).collect(),
    });
    let mut verdicts = Vec::new();
    if !missing.is_empty() {
        verdicts.push(format!(
            "Partial merge: {} of {} shards are missing ({}), so every count and rate covers only part of the run.",
            missing.len(),
            owner.info.count,
            missing
                .iter()
                .map(|i| format!("shard {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    verdicts.extend(report::verdict_lines(&summary));
    verdicts.extend(report::summary::launch_template_verdict(&summary));
    verdicts.extend(report::summary::boot_verdict(&summary));
    summary.verdict_lines = verdicts;
    if !gates.is_empty() {
        let judged = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
        summary.thresholds = crate::thresholds::evaluate_all(gates, &judged);
    }
    summary.knees = report::knee::find(&summary, &rows);
    summary
        .verdict_lines
        .extend(summary.knees.iter().map(report::knee::verdict));
    Ok(Merged {
        summary,
        rows,
        op_names,
        corrected,
        raw,
        interval,
        duration,
    })
}

/// First and last interval of every (op, class), with the op's rate in the
/// first: what `Summary::build` computes from a run's metrics, here from
/// the merged rows.
fn class_spans(
    rows: &[TimeseriesRow],
    op_names: &[String],
    interval_s: f64,
) -> Vec<BTreeMap<OutcomeClass, ClassSpan>> {
    let key = |second: f64| (second * 1e3).round() as u64;
    let mut requests: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut first_last: BTreeMap<(usize, OutcomeClass), (u64, u64)> = BTreeMap::new();
    let mut target_at: BTreeMap<(usize, u64), f64> = BTreeMap::new();
    for r in rows {
        let Some(op) = op_names.iter().position(|n| *n == r.op) else {
            continue;
        };
        let at = key(r.second);
        *requests.entry((op, at)).or_default() += r.count;
        if let Some(t) = r.rate_per_s_target {
            target_at.insert((op, at), t);
        }
        first_last
            .entry((op, r.class))
            .and_modify(|(f, l)| {
                *f = (*f).min(at);
                *l = (*l).max(at);
            })
            .or_insert((at, at));
    }
    let mut spans = vec![BTreeMap::new(); op_names.len()];
    for ((op, class), (first, last)) in first_last {
        let in_first = requests.get(&(op, first)).copied().unwrap_or(0);
        spans[op].insert(
            class,
            ClassSpan {
                first_s: first as f64 / 1e3,
                last_s: last as f64 / 1e3 + interval_s,
                rate_per_s_at_first: per_s(in_first as f64, interval_s),
                rate_per_s_target_at_first: target_at.get(&(op, first)).copied(),
            },
        );
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::metrics::{Latency, Select};
    use crate::report::summary::fixtures::{metrics, record, summarize};

    /// A shard of `count` whose requests are (at ms, latency µs), started
    /// at `started_unix_ms`: its summary, time series and both logs, as
    /// a run writes them.
    fn shard(index: u32, count: u32, started_unix_ms: u64, samples: &[(u64, u64)]) -> LoadedShard {
        let mut m = metrics(&["reads"]).keep_sealed_histograms();
        for &(at_ms, us) in samples {
            record(&mut m, 0, OutcomeClass::Ok, at_ms, us);
        }
        m.finish();
        let corrected = m
            .drain_sealed_histograms()
            .into_iter()
            .map(|h| LoggedHistogram {
                interval_start: h.interval_start,
                interval: h.interval,
                tag: h
                    .op
                    .zip(h.class)
                    .map(|(_, c)| tag_text("reads", c.as_str())),
                histogram: h.corrected,
            })
            .collect();
        let raw = vec![LoggedHistogram {
            interval_start: Duration::ZERO,
            interval: Duration::from_secs(3),
            tag: Some(tag_text("reads", "ok")),
            histogram: m.histogram(Select::cell(0, OutcomeClass::Ok), Latency::Raw),
        }];
        let mut summary = summarize(&m, 3, &[]);
        let info = ShardInfo {
            index,
            count,
            source: "--shard".into(),
            seed_base: 42,
            started_unix_ms,
            start_at: None,
            start_late_ms: None,
            clock_offset_ms: None,
            clock_offset_uncertainty_ms: None,
            instances: 1,
            instances_total: count,
            entry_shares: vec![1.0 / f64::from(count)],
            owns_timeline: index == 0,
            thresholds: vec!["requests >= 5".into()],
            results_uri: None,
        };
        summary.shard = Some(info.clone());
        LoadedShard {
            source: format!("shard{index}"),
            dir: std::path::PathBuf::from(format!("shard{index}")),
            rows: crate::report::csv::rows_from_metrics(&m),
            summary,
            info,
            corrected,
            raw,
        }
    }

    #[test]
    fn shards_align_on_wall_clock_and_add_up_exactly() {
        // Shard 1 started a second after shard 0: its second 0 is shard 0's 1.
        let a = shard(0, 2, 10_000, &[(100, 1_000), (1_100, 3_000)]);
        let b = shard(
            1,
            2,
            11_020,
            &[(200, 2_000), (1_300, 9_000), (1_400, 4_000)],
        );
        let gate = crate::thresholds::parse("requests >= 5").expect("parses");
        let merged = combine(&[a, b], &[], &[gate]).expect("merges");
        let per_second: Vec<(f64, u64)> = merged.rows.iter().map(|r| (r.second, r.count)).collect();
        assert_eq!(per_second, vec![(0.0, 1), (1.0, 2), (2.0, 2)]);
        // One histogram of every sample, as if one process had sent them all.
        let one = |values: &[u64]| {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            for v in values {
                h.record(*v).expect("in range");
            }
            PercentilesMs::from_histogram_us(&h)
        };
        assert_eq!(merged.rows[1].latency_ms_max, one(&[3_000, 2_000]).max);
        let s = &merged.summary;
        assert_eq!(s.requests_total, 5);
        assert_eq!(s.latency_ms, one(&[1_000, 3_000, 2_000, 9_000, 4_000]));
        assert_eq!(s.latency_raw_ms, one(&[500, 1_500, 1_000, 4_500, 2_000]));
        assert_eq!(s.seed, 42);
        let info = s.merged.as_ref().expect("merge info");
        assert_eq!(info.shift_intervals, vec![0, 1]);
        assert_eq!(info.start_spread_ms, 1_020);
        assert!(s.thresholds[0].passed, "{:?}", s.thresholds);
    }

    #[test]
    fn a_log_that_lost_requests_is_an_error_not_an_undercount() {
        let mut a = shard(0, 1, 10_000, &[(100, 1_000), (1_100, 3_000)]);
        a.corrected.retain(|h| h.interval_start.is_zero());
        let e = combine(&[a], &[], &[]).err().expect("refused");
        assert!(
            e.contains("latency.hlog holds 1 requests of \"reads\" but summary.json counts 2"),
            "{e}"
        );
    }
}
