//! The one summary of a run that every report format renders, and the
//! verdict: plain-words sentences computed from it.
//!
//! [`Summary::build`] is the only place metrics and propagation results turn
//! into reportable numbers (ms, per-second rates, spans); the JSON, CSV and
//! console writers only format. [`verdict_lines`] is a pure function of the
//! summary, so the sentences a user reads can be tested from numbers alone
//! and recomputed from a stored `summary.json`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::observe::metrics::{Latency, Metrics, Select};
use crate::observe::outcome::OutcomeClass;
use crate::observe::propagation::{DelayMs, ENFORCEMENT_BIN_MS, PropagationResult};

/// Version of the `summary.json` layout; bumped on any incompatible change
/// so `compare` and `merge` can refuse what they do not understand.
pub const SCHEMA_VERSION: u32 = 1;

/// What identifies a run, from the CLI and the scenario; metrics do not know
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The results directory's name.
    pub run_id: String,
    /// The seed every random choice derived from: printed so a run can be
    /// replayed.
    pub seed: u64,
    /// The scenario's name.
    pub scenario: String,
    /// How long the load ran; rates are counts divided by this.
    pub duration: Duration,
    /// The API each metrics op calls (`s3:GetObject`), by op index; empty
    /// when unknown.
    pub op_apis: Vec<String>,
}

/// Count per outcome class. Serialized as a map with every class present,
/// zeros included, so a consumer never has to guess whether a missing key
/// means zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts([u64; OutcomeClass::COUNT]);

impl ClassCounts {
    /// The count of one class.
    pub fn get(&self, class: OutcomeClass) -> u64 {
        self.0[class.index()]
    }

    /// Counts `n` more of `class`.
    pub fn add(&mut self, class: OutcomeClass, n: u64) {
        self.0[class.index()] += n;
    }

    /// All classes added up.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Classes with a non-zero count, in report order, with their counts.
    pub fn non_zero(&self) -> impl Iterator<Item = (OutcomeClass, u64)> + '_ {
        OutcomeClass::ALL
            .into_iter()
            .map(|c| (c, self.get(c)))
            .filter(|&(_, n)| n > 0)
    }

    fn from_metrics(metrics: &Metrics, op: Option<usize>) -> ClassCounts {
        let mut counts = ClassCounts::default();
        for class in OutcomeClass::ALL {
            counts.0[class.index()] = metrics.count(Select {
                op,
                class: Some(class),
            });
        }
        counts
    }
}

impl Serialize for ClassCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(OutcomeClass::COUNT))?;
        for class in OutcomeClass::ALL {
            map.serialize_entry(class.as_str(), &self.get(class))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ClassCounts {
    /// Reads the map back; a class missing from it counts zero, and an
    /// unknown class is an error (a newer schema, say so rather than drop it).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut counts = ClassCounts::default();
        for (name, n) in map {
            let class = OutcomeClass::ALL
                .into_iter()
                .find(|c| c.as_str() == name)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown outcome class {name:?}"))
                })?;
            counts.0[class.index()] = n;
        }
        Ok(counts)
    }
}

/// p50/p90/p99/max in milliseconds: the shape of every latency and delay
/// distribution in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PercentilesMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl PercentilesMs {
    /// From a µs histogram; all zeros when it is empty (the request count
    /// next to it says there was nothing).
    pub fn from_histogram_us(h: &Histogram<u64>) -> PercentilesMs {
        let ms = |us: u64| us as f64 / 1000.0;
        PercentilesMs {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

impl From<DelayMs> for PercentilesMs {
    fn from(d: DelayMs) -> PercentilesMs {
        PercentilesMs {
            p50: d.p50,
            p90: d.p90,
            p99: d.p99,
            max: d.max,
        }
    }
}

/// Intended versus achieved request rate. When achieved falls short of
/// target the load generator, not the target, is the bottleneck.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RatePerS {
    /// What the pacer aimed for; `null` for closed-model load, which has no
    /// target.
    pub target: Option<f64>,
    /// Completed requests per second of run.
    pub achieved: f64,
    /// Per interval, requests by actual send against the target (open
    /// model only): the pacer's accuracy, ±1 % being the bar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_interval: Option<IntervalAccuracy>,
}

/// The per-interval accuracy of an op's achieved rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalAccuracy {
    /// Intervals judged (those with a target of at least one request).
    pub intervals: u32,
    /// The largest deviation from target, signed percent.
    pub worst_error_pct: f64,
    /// Intervals more than 1 % off target.
    pub intervals_outside_1pct: u32,
}

impl From<crate::observe::metrics::RateAccuracy> for IntervalAccuracy {
    fn from(a: crate::observe::metrics::RateAccuracy) -> IntervalAccuracy {
        IntervalAccuracy {
            intervals: a.intervals,
            worst_error_pct: round_milli(a.worst_error_pct),
            intervals_outside_1pct: a.intervals_outside_tolerance,
        }
    }
}

/// When one outcome class was seen on one op: the verdict's evidence for
/// "appeared at 21 s" and "stopped at 13 s".
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassSpan {
    /// Start of the first interval with this class, s since run start.
    pub first_s: f64,
    /// End of the last interval with this class, s since run start.
    pub last_s: f64,
    /// The op's achieved rate (all classes) in that first interval.
    pub rate_per_s_at_first: f64,
    /// The op's target rate in that first interval, if the pacer set one.
    pub rate_per_s_target_at_first: Option<f64>,
}

/// One op's share of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// The op's name: the load entry's `name`, else its API.
    pub op: String,
    /// The API it calls, e.g. `s3:GetObject`; `null` when unknown.
    pub api: Option<String>,
    /// Requests of this op.
    pub requests: u64,
    /// Those requests by class, every class present.
    pub counts_by_class: ClassCounts,
    /// Corrected latency (from intended start), all classes.
    pub latency_ms: PercentilesMs,
    /// Raw latency (from actual send), all classes.
    pub latency_raw_ms: PercentilesMs,
    /// Target and achieved rate over the run.
    pub rate_per_s: RatePerS,
    /// Requests that started later than intended.
    pub late_starts: u64,
    /// Requests not sent: every worker of their instance was busy.
    pub refused: u64,
    /// When each class that occurred was seen (classes with no requests are
    /// absent).
    pub class_spans: BTreeMap<OutcomeClass, ClassSpan>,
    /// The classifier's sub-reasons per class (`implicit`, `SlowDown`, ...),
    /// for classes that had any.
    pub details_by_class: BTreeMap<OutcomeClass, BTreeMap<String, u64>>,
}

/// Ground-truth delays of a change, ms after the IAM API acknowledged it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthDelayMs {
    /// Median replica.
    pub p50: f64,
    /// 99th percentile replica.
    pub p99: f64,
    /// Last replica.
    pub max: f64,
}

/// One measured IAM change, as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropagationSummary {
    /// The timeline action that made the change.
    pub action: String,
    /// The op whose outcomes measured it.
    pub probe_op: String,
    /// `grant` or `revoke`.
    pub kind: String,
    /// When the change was sent, s since run start.
    pub at_s: f64,
    /// When the IAM API acknowledged it, s since run start; delays count
    /// from here.
    pub acked_s: f64,
    /// Instances probing.
    pub instances: usize,
    /// Instances that saw the expected outcome at least once.
    pub instances_reached: usize,
    /// Instances that ended on the expected outcome.
    pub instances_stable: usize,
    /// Instances that never saw the expected outcome.
    pub instances_unreached: Vec<usize>,
    /// Instances that saw it but ended on the contrary outcome.
    pub instances_unstable: Vec<usize>,
    /// First expected outcome − ack, over reached instances.
    pub delay_ms: Option<PercentilesMs>,
    /// Stable since − ack, over stable instances.
    pub stable_ms: Option<PercentilesMs>,
    /// Returns to the old state after the new one was seen, all instances.
    pub flaps: u64,
    /// Revokes: requests that still succeeded after the ack.
    pub exposure_requests: u64,
    /// Revokes: the last such success, ms after the ack.
    pub exposure_ms: Option<f64>,
    /// The double's replica apply delays; `null` against other targets.
    pub truth_delay_ms: Option<TruthDelayMs>,
    /// Measured stable max − truth max, ms; `null` without truth or when
    /// some instance never became stable.
    pub error_ms_max: Option<f64>,
    /// Width of the `enforcement` bins, ms.
    pub enforcement_bin_ms: u64,
    /// Probe outcomes by time after the ack (bins with any): the share of
    /// `expected` estimates how much of the target enforced the change
    /// then. `iamstorm calibrate` fits its delay model to this.
    pub enforcement: Vec<EnforcementBinSummary>,
}

/// One bin of [`PropagationSummary::enforcement`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnforcementBinSummary {
    /// Bin start, ms after the ack.
    pub t_ms: u64,
    /// Outcomes showing the change.
    pub expected: u64,
    /// Outcomes showing the old state.
    pub contrary: u64,
}

impl From<&PropagationResult> for PropagationSummary {
    fn from(r: &PropagationResult) -> PropagationSummary {
        PropagationSummary {
            action: r.change.action.clone(),
            probe_op: r.change.probe.clone(),
            kind: r.change.kind.as_str().to_owned(),
            at_s: r.change.at.as_secs_f64(),
            acked_s: r.change.acked.as_secs_f64(),
            instances: r.instances.len(),
            instances_reached: r.instances_reached,
            instances_stable: r.instances_stable,
            instances_unreached: r.unreached.clone(),
            instances_unstable: r.unstable.clone(),
            delay_ms: r.delay_ms.map(PercentilesMs::from),
            stable_ms: r.stable_ms.map(PercentilesMs::from),
            flaps: r.flaps,
            exposure_requests: r.exposure_requests,
            exposure_ms: r.exposure_ms,
            truth_delay_ms: r.truth.map(|t| TruthDelayMs {
                p50: t.delay_ms_p50,
                p99: t.delay_ms_p99,
                max: t.delay_ms_max,
            }),
            error_ms_max: r.truth.and_then(|t| t.error_ms_max),
            enforcement_bin_ms: ENFORCEMENT_BIN_MS,
            enforcement: r
                .enforcement
                .iter()
                .map(|b| EnforcementBinSummary {
                    t_ms: b.start_ms,
                    expected: b.expected,
                    contrary: b.contrary,
                })
                .collect(),
        }
    }
}

/// One instance's launch and boot (IMDS token + credential fetch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootSummary {
    pub instance: usize,
    pub instance_id: String,
    pub group: String,
    /// Launch template version it was launched with.
    pub template_version: u32,
    /// When it was launched, s since the load started.
    pub launched_at_s: f64,
    /// Its launch template's boot delay, waited before the boot.
    #[serde(default)]
    pub boot_delay_ms: f64,
    /// The boot itself: IMDS token + first credential fetch.
    pub boot_ms: f64,
    /// When it joined the load (launch + boot delay + boot), s since the
    /// load started; 0 for the starting fleet, up before the load.
    #[serde(default)]
    pub joined_at_s: f64,
    /// Intended start of its first request, s since the load started;
    /// `None` if it sent none.
    #[serde(default)]
    pub first_request_s: Option<f64>,
    /// `ok` or `credentials_unavailable`.
    pub class: OutcomeClass,
    pub detail: Option<String>,
    /// Retired by scale-in before the end.
    pub retired: bool,
    /// The requests it sent, by class.
    #[serde(default)]
    pub counts_by_class: ClassCounts,
}

/// Every measured change of one kind pooled: the distribution a scenario
/// builds by repeating a grant/revoke cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropagationAggregate {
    /// `grant` or `revoke`.
    pub kind: String,
    /// Changes pooled.
    pub changes: usize,
    /// (change, instance) pairs probed.
    pub instances: usize,
    /// First expected outcome − ack over every reached (change, instance).
    pub delay_ms: Option<PercentilesMs>,
    /// Stable since − ack over every settled (change, instance).
    pub stable_ms: Option<PercentilesMs>,
    /// Pairs that never reached / never settled.
    pub unreached: usize,
    pub unsettled: usize,
    pub flaps: u64,
    /// Revokes: successes after the ack, and the longest exposure, ms.
    pub exposure_requests: u64,
    pub exposure_ms_max: Option<f64>,
    /// Measured − true settle time per change (the double only), ms:
    /// percentiles over changes.
    pub error_ms: Option<PercentilesMs>,
}

impl PropagationAggregate {
    /// Pools `results` by kind, grants first.
    pub fn pool(results: &[PropagationResult]) -> Vec<PropagationAggregate> {
        ["grant", "revoke"]
            .into_iter()
            .filter_map(|kind| {
                let of_kind: Vec<&PropagationResult> = results
                    .iter()
                    .filter(|r| r.change.kind.as_str() == kind)
                    .collect();
                if of_kind.is_empty() {
                    return None;
                }
                let pairs = || of_kind.iter().flat_map(|r| r.instances.iter());
                let delays: Vec<f64> = pairs().filter_map(|i| i.delay_ms).collect();
                let stables: Vec<f64> = pairs().filter_map(|i| i.stable_ms).collect();
                let errors: Vec<f64> = of_kind
                    .iter()
                    .filter_map(|r| r.truth.and_then(|t| t.error_ms_max))
                    .collect();
                let instances = pairs().count();
                Some(PropagationAggregate {
                    kind: kind.to_owned(),
                    changes: of_kind.len(),
                    instances,
                    delay_ms: DelayMs::of(&delays).map(PercentilesMs::from),
                    stable_ms: DelayMs::of(&stables).map(PercentilesMs::from),
                    unreached: instances - delays.len(),
                    unsettled: delays.len().saturating_sub(stables.len()),
                    flaps: of_kind.iter().map(|r| r.flaps).sum(),
                    exposure_requests: of_kind.iter().map(|r| r.exposure_requests).sum(),
                    exposure_ms_max: of_kind
                        .iter()
                        .filter_map(|r| r.exposure_ms)
                        .reduce(f64::max),
                    error_ms: DelayMs::of(&errors).map(PercentilesMs::from),
                })
            })
            .collect()
    }
}

/// One applied `[[timeline]]` action: when it was due, sent and
/// acknowledged (s from the run's start), and how the target answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineChange {
    /// e.g. `attach-role-policy app-role+arn:…`.
    pub action: String,
    pub scheduled_s: f64,
    pub sent_s: f64,
    pub acked_s: f64,
    /// `"ok"`, or the error the target answered (`Code: message`).
    pub result: String,
    /// Whether its propagation was measured (see `propagation`).
    pub measured: bool,
}

/// Everything a report says about a run. Serialized as `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Layout version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Which run.
    pub run_id: String,
    /// Replays it.
    pub seed: u64,
    /// The scenario's name.
    pub scenario: String,
    /// Load duration, s.
    pub duration_s: f64,
    /// Time-series interval, s.
    pub interval_s: f64,
    /// Completed requests.
    pub requests_total: u64,
    /// Requests by class, every class present.
    pub counts_by_class: ClassCounts,
    /// Corrected latency, all ops and classes.
    pub latency_ms: PercentilesMs,
    /// Raw latency, all ops and classes.
    pub latency_raw_ms: PercentilesMs,
    /// Target (sum over ops) and achieved rate.
    pub rate_per_s: RatePerS,
    /// Requests that started later than intended.
    pub late_starts: u64,
    /// Requests not sent: every worker of their instance was busy.
    pub refused: u64,
    /// Per op, in scenario order.
    pub ops: Vec<OpSummary>,
    /// Per measured IAM change, in timeline order.
    pub propagation: Vec<PropagationSummary>,
    /// Measured changes pooled per kind (grant, revoke).
    #[serde(default)]
    pub propagation_by_kind: Vec<PropagationAggregate>,
    /// Every instance's launch and boot, in index order.
    #[serde(default)]
    pub boots: Vec<BootSummary>,
    /// Capacity knees of ramped ops (`report::knee`).
    #[serde(default)]
    pub knees: Vec<crate::report::knee::Knee>,
    /// The classifier against the double's ground truth (a sample of
    /// requests looked up by id); `null` against other targets.
    #[serde(default)]
    pub classifier: Option<crate::observe::truth_check::ClassifierCheck>,
    /// Every `[[timeline]]` action the run applied, in order (measured or not).
    pub timeline: Vec<TimelineChange>,
    /// What it means, in plain words ([`verdict_lines`]).
    pub verdict_lines: Vec<String>,
    /// Every threshold judged (scenario's, then `--threshold`'s), in order.
    pub thresholds: Vec<crate::thresholds::ThresholdResult>,
    /// Journaled changes undone at the end of a run against a target that
    /// outlives it (endpoint, aws); empty against the embedded double.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<crate::guard::Restored>,
    /// Why the load stopped early: an `abort_on_fail` threshold failed
    /// while the run went (`None`: it ran its course).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// This run was one shard of a sharded run (`--shard`, `--start-at`,
    /// `--results-uri`): which, its clock offset, its share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardInfo>,
    /// This summary was merged from shards by `iamstorm merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<crate::merge::MergeInfo>,
}

impl Summary {
    /// Reduces the run's metrics and propagation results to the summary and
    /// computes its verdict.
    pub fn build(run: RunInfo, metrics: &Metrics, propagation: &[PropagationResult]) -> Summary {
        let duration_s = run.duration.as_secs_f64();
        let mut spans = class_spans(metrics);
        let ops: Vec<OpSummary> = metrics
            .op_names()
            .iter()
            .enumerate()
            .map(|(op, name)| {
                let select = Select::op(op);
                let requests = metrics.count(select);
                let details_by_class = OutcomeClass::ALL
                    .into_iter()
                    .filter_map(|class| {
                        let details = metrics.details(op, class);
                        (!details.is_empty()).then(|| (class, details.clone()))
                    })
                    .collect();
                OpSummary {
                    op: name.clone(),
                    api: run.op_apis.get(op).cloned(),
                    requests,
                    counts_by_class: ClassCounts::from_metrics(metrics, Some(op)),
                    latency_ms: PercentilesMs::from_histogram_us(
                        &metrics.histogram(select, Latency::Corrected),
                    ),
                    latency_raw_ms: PercentilesMs::from_histogram_us(
                        &metrics.histogram(select, Latency::Raw),
                    ),
                    rate_per_s: RatePerS {
                        target: metrics.requests_target(op).map(|n| per_s(n, duration_s)),
                        achieved: per_s(requests as f64, duration_s),
                        per_interval: metrics.rate_accuracy(op).map(IntervalAccuracy::from),
                    },
                    late_starts: metrics.late_starts(select),
                    refused: metrics.refused(Some(op)),
                    class_spans: std::mem::take(&mut spans[op]),
                    details_by_class,
                }
            })
            .collect();
        let requests_total = metrics.count(Select::ALL);
        // A total target exists only if every op has one: closed-model ops
        // have no plan to add up.
        let target = ops
            .iter()
            .map(|o| o.rate_per_s.target)
            .sum::<Option<f64>>()
            .filter(|_| !ops.is_empty())
            .map(round_milli);
        let mut summary = Summary {
            schema_version: SCHEMA_VERSION,
            run_id: run.run_id,
            seed: run.seed,
            scenario: run.scenario,
            duration_s,
            interval_s: metrics.interval().as_secs_f64(),
            requests_total,
            counts_by_class: ClassCounts::from_metrics(metrics, None),
            latency_ms: PercentilesMs::from_histogram_us(
                &metrics.histogram(Select::ALL, Latency::Corrected),
            ),
            latency_raw_ms: PercentilesMs::from_histogram_us(
                &metrics.histogram(Select::ALL, Latency::Raw),
            ),
            rate_per_s: RatePerS {
                target,
                achieved: per_s(requests_total as f64, duration_s),
                per_interval: None,
            },
            late_starts: metrics.late_starts(Select::ALL),
            refused: metrics.refused(None),
            ops,
            propagation: propagation.iter().map(PropagationSummary::from).collect(),
            propagation_by_kind: PropagationAggregate::pool(propagation),
            classifier: None,
            knees: Vec::new(),
            boots: Vec::new(),
            timeline: Vec::new(),
            verdict_lines: Vec::new(),
            thresholds: Vec::new(),
            restored: Vec::new(),
            aborted: None,
            shard: None,
            merged: None,
        };
        summary.verdict_lines = verdict_lines(&summary);
        summary
    }

    /// The op called `name`, if the run had it.
    pub fn op(&self, name: &str) -> Option<&OpSummary> {
        self.ops.iter().find(|o| o.op == name)
    }
}

fn per_s(count: f64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        round_milli(count / duration_s)
    } else {
        0.0
    }
}

fn round_milli(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// First and last interval of every (op, class), with the op's rate in the
/// first one. One pass over the rows; the per-interval request counts it
/// keeps are bounded by seconds × ops.
fn class_spans(metrics: &Metrics) -> Vec<BTreeMap<OutcomeClass, ClassSpan>> {
    let mut requests: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut first_last: BTreeMap<(usize, OutcomeClass), (u64, u64)> = BTreeMap::new();
    for row in metrics.rows() {
        *requests.entry((row.op, row.interval)).or_default() += row.count;
        first_last
            .entry((row.op, row.class))
            .and_modify(|(first, last)| {
                *first = (*first).min(row.interval);
                *last = (*last).max(row.interval);
            })
            .or_insert((row.interval, row.interval));
    }
    let interval_s = metrics.interval().as_secs_f64();
    let mut spans = vec![BTreeMap::new(); metrics.op_names().len()];
    for ((op, class), (first, last)) in first_last {
        let in_first = requests.get(&(op, first)).copied().unwrap_or(0);
        spans[op].insert(
            class,
            ClassSpan {
                first_s: metrics.interval_start(first).as_secs_f64(),
                last_s: metrics.interval_start(last.saturating_add(1)).as_secs_f64(),
                rate_per_s_at_first: per_s(in_first as f64, interval_s),
                rate_per_s_target_at_first: metrics.rate_per_s_target(op, first),
            },
        );
    }
    spans
}

/// The verdict: what the numbers mean, one sentence per finding, in words a
/// user who has never seen this tool understands. Each sentence names the
/// cause *and* the cause it is not, because telling AccessDenied causes
/// apart is the point of the tool. Pure: a function of the summary only.
pub fn verdict_lines(s: &Summary) -> Vec<String> {
    let mut lines = Vec::new();
    if s.requests_total == 0 {
        lines.push(
            "No requests completed, so there is nothing to judge: check that the scenario's load names an op and \
             that the run lasted long enough."
                .to_owned(),
        );
        return lines;
    }
    for p in &s.propagation {
        propagation_verdict(s, p, &mut lines);
    }
    for op in &s.ops {
        access_denied_verdict(s, op, &mut lines);
    }
    for op in &s.ops {
        throttle_verdict(op, &mut lines);
    }
    other_failures_verdict(s, &mut lines);
    if s.late_starts > 0 {
        let shortfall = match s.rate_per_s.target {
            Some(target) if s.rate_per_s.achieved < target => format!(
                ", and the target was offered {} req/s of the planned {} req/s",
                fmt_rate(s.rate_per_s.achieved),
                fmt_rate(target)
            ),
            _ => String::new(),
        };
        lines.push(format!(
            "{} started late because the load generator fell behind its schedule: their latency includes that \
             wait{shortfall}.",
            fmt_requests(s.late_starts)
        ));
    }
    if s.refused > 0 {
        lines.push(format!(
            "{} were not sent: every worker of their instance was busy at the intended start \
             (raise workers_per_instance, or the target is slower than the rate needs).",
            fmt_requests(s.refused)
        ));
    }
    if s.counts_by_class.get(OutcomeClass::Ok) == s.requests_total {
        lines.push(format!(
            "All {} succeeded: no access denials, throttling or credential failures.",
            fmt_requests(s.requests_total)
        ));
    }
    lines
}

fn propagation_verdict(s: &Summary, p: &PropagationSummary, lines: &mut Vec<String>) {
    let action = &p.action;
    let at = fmt_s(p.at_s);
    let n = p.instances;
    if n == 0 {
        lines.push(format!(
            "The {} of {action} at {at} was not probed by any instance, so its propagation was not measured.",
            p.kind
        ));
        return;
    }
    let is_grant = p.kind == "grant";
    let (new_state, old_state) = if is_grant {
        ("a success", "denied")
    } else {
        ("a deny", "allowed")
    };
    let stable_max = p.stable_ms.map(|d| d.max);
    if !p.instances_unreached.is_empty() {
        let k = p.instances_unreached.len();
        let consequence = if is_grant {
            "the permission is still missing there, or propagation takes longer than the run"
        } else {
            "the revoke had not taken effect there, so the permission was still usable"
        };
        lines.push(format!(
            "After the {} of {action} at {at}, {k} of {n} instances never saw {new_state} before the run ended \
             (instances {}): {consequence}.",
            p.kind,
            fmt_list(&p.instances_unreached)
        ));
    } else if !p.instances_unstable.is_empty() {
        let k = p.instances_unstable.len();
        lines.push(format!(
            "After the {} of {action} at {at}, {k} of {n} instances had flipped back to being {old_state} when \
             the run ended: replicas still disagreed, so the change had not settled within the run.",
            p.kind
        ));
    } else if let Some(max) = stable_max {
        let denied_seen = s
            .op(action)
            .map_or(s.counts_by_class, |o| o.counts_by_class)
            .get(OutcomeClass::AccessDenied);
        if is_grant && denied_seen > 0 {
            lines.push(format!(
                "AccessDenied was transient and ended {} after the policy change granting {action} at {at}: a \
                 propagation race, not a missing permission.",
                fmt_ms(max)
            ));
        } else if is_grant {
            lines.push(format!(
                "The grant of {action} at {at} took effect on {} within {}.",
                fmt_all_instances(n),
                fmt_ms(max)
            ));
        } else {
            lines.push(format!(
                "The revoke of {action} at {at} was enforced on {} within {}.",
                fmt_all_instances(n),
                fmt_ms(max)
            ));
        }
    }
    if p.flaps > 0 {
        let (from, back) = if is_grant {
            ("allowed", "denied")
        } else {
            ("denied", "allowed")
        };
        lines.push(format!(
            "While the {} of {action} propagated, instances flapped {} (first {from}, then {back} again) as \
             requests reached replicas at different policy versions.",
            p.kind,
            fmt_times(p.flaps)
        ));
    }
    if !is_grant && p.exposure_requests > 0 {
        let last = p
            .exposure_ms
            .map(|ms| format!(", the last {} after it", fmt_ms(ms)))
            .unwrap_or_default();
        lines.push(format!(
            "{} still succeeded after the revoke of {action} was acknowledged{last}: that is the exposure window \
             of an eventually consistent revoke.",
            fmt_requests(p.exposure_requests)
        ));
    }
    if let (Some(truth), Some(error), Some(max)) = (p.truth_delay_ms, p.error_ms_max, stable_max) {
        lines.push(format!(
            "The double's ground truth has the last replica applying the {} of {action} {} after the ack; the \
             harness measured {}, an error of {}.",
            p.kind,
            fmt_ms(truth.max),
            fmt_ms(max),
            fmt_signed_ms(error)
        ));
    }
}

/// The classifier check in words, when it found disagreements or could
/// not judge: agreement itself is in the reports' tables.
pub fn classifier_verdict(s: &Summary) -> Option<String> {
    let c = s.classifier.as_ref()?;
    let wrong: Vec<&crate::observe::truth_check::MatrixCell> = c
        .matrix
        .iter()
        .filter(|m| m.agrees == Some(false))
        .collect();
    if wrong.is_empty() {
        return None;
    }
    let n: u64 = wrong.iter().map(|m| m.count).sum();
    let first = wrong[0];
    Some(format!(
        "The classifier disagreed with the double's ground truth on {} of {} sampled requests (e.g. the double \
         said {} and the harness counted {}: request {}) — treat those classes' counts with care.",
        fmt_count(n),
        fmt_count(c.found),
        first.truth,
        first.class.as_str(),
        first.example_request_id
    ))
}

/// Denials that only instances of some launch template versions got: the
/// template points at a role without the permission.
pub fn launch_template_verdict(s: &Summary) -> Option<String> {
    let versions: std::collections::BTreeSet<(String, u32)> = s
        .boots
        .iter()
        .map(|b| (b.group.clone(), b.template_version))
        .collect();
    if versions.len() < 2 {
        return None;
    }
    let denied = |b: &&BootSummary| b.counts_by_class.get(OutcomeClass::AccessDenied) > 0;
    let clean = |b: &&BootSummary| {
        b.counts_by_class.get(OutcomeClass::AccessDenied) == 0
            && b.counts_by_class.get(OutcomeClass::Ok) > 0
    };
    let mut bad = Vec::new();
    for (group, version) in &versions {
        let of: Vec<&BootSummary> = s
            .boots
            .iter()
            .filter(|b| &b.group == group && b.template_version == *version)
            .collect();
        if !of.is_empty()
            && of.iter().all(denied)
            && of
                .iter()
                .all(|b| b.counts_by_class.get(OutcomeClass::Ok) == 0)
        {
            bad.push((group.clone(), *version, of.len()));
        }
    }
    let others_fine = s.boots.iter().filter(clean).count();
    if bad.is_empty() || others_fine == 0 {
        return None;
    }
    let list: Vec<String> = bad
        .iter()
        .map(|(g, v, n)| format!("{n} instance(s) of {g} launched from template v{v}"))
        .collect();
    Some(format!(
        "AccessDenied came only from {} — every request they sent was denied while {others_fine} instance(s) \
         launched from other template versions succeeded: that launch template's instance profile points at a \
         role without the permission. Fix the template and replace those instances.",
        list.join(" and ")
    ))
}

/// Boots of instances launched mid-run (scale-out, replace, reboot), in
/// words: how long they took to join, and why some got no credentials (a
/// credential stampede on scale-out).
pub fn boot_verdict(s: &Summary) -> Option<String> {
    let late: Vec<&BootSummary> = s.boots.iter().filter(|b| b.launched_at_s > 0.0).collect();
    if late.is_empty() {
        return None;
    }
    let failed: Vec<&&BootSummary> = late
        .iter()
        .filter(|b| b.class != OutcomeClass::Ok)
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2], v[v.len() - 1])
    };
    let (boot_p50, boot_max) = median(late.iter().map(|b| b.boot_ms).collect());
    let delayed = late.iter().any(|b| b.boot_delay_ms > 0.0);
    let joined = if delayed {
        let (p50, _) = median(
            late.iter()
                .map(|b| (b.joined_at_s - b.launched_at_s) * 1000.0)
                .collect(),
        );
        format!(
            " joined the load p50 {} after launch (boot delay + boot) and",
            fmt_ms(p50)
        )
    } else {
        String::new()
    };
    let mut why: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for b in &failed {
        *why.entry(b.detail.as_deref().unwrap_or("unspecified"))
            .or_default() += 1;
    }
    let why: Vec<String> = why.iter().map(|(d, n)| format!("{d} {n}")).collect();
    let cause = if failed.is_empty() {
        String::new()
    } else if failed
        .iter()
        .all(|b| b.detail.as_deref() == Some("imds_throttled"))
    {
        " — IMDS throttled the stampede of credential fetches (429): too many instances fetched credentials at once \
         (they retry on their first requests); stagger the launch or raise the credential budget"
            .to_owned()
    } else {
        " — IMDS could not serve the stampede of credential fetches (they retry on their first requests)".to_owned()
    };
    Some(format!(
        "{} instances started mid-run (scale-out, replace or reboot){joined} booted in p50 {} / max {}; {} got no credentials at boot{}{cause}.",
        late.len(),
        fmt_ms(boot_p50),
        fmt_ms(boot_max),
        failed.len(),
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        },
    ))
}

fn access_denied_verdict(s: &Summary, op: &OpSummary, lines: &mut Vec<String>) {
    let denied = op.counts_by_class.get(OutcomeClass::AccessDenied);
    if denied == 0 {
        return;
    }
    let name = &op.op;
    let why = denial_words(op)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    if op.counts_by_class.get(OutcomeClass::Ok) == 0 {
        lines.push(format!(
            "{} to {name} {} denied{why} and none ever succeeded: the role is missing this permission — not a \
             propagation delay, so waiting will not fix it.",
            fmt_requests(denied),
            were(denied)
        ));
        return;
    }
    // A measured change probed by this op already explains its denials.
    if s.propagation.iter().any(|p| &p.probe_op == name) {
        return;
    }
    let spans = (
        op.class_spans.get(&OutcomeClass::AccessDenied),
        op.class_spans.get(&OutcomeClass::Ok),
    );
    if let (Some(d), Some(ok)) = spans
        && d.last_s < ok.last_s
    {
        lines.push(format!(
            "AccessDenied on {name} appeared from {} to {} and then stopped while requests kept succeeding: it \
             was transient — a propagation race or a credentials switch, not a missing permission.",
            fmt_s(d.first_s),
            fmt_s(d.last_s)
        ));
    } else {
        lines.push(format!(
            "{} of {} to {name} {} denied{why} while others succeeded, until the end of the run: some instances or \
             replicas lack the permission — check launch templates, instance profiles and recent policy changes.",
            fmt_count(denied),
            fmt_requests(op.requests),
            were(denied)
        ));
    }
}

fn throttle_verdict(op: &OpSummary, lines: &mut Vec<String>) {
    let throttled = op.counts_by_class.get(OutcomeClass::Throttled);
    let Some(span) = op
        .class_spans
        .get(&OutcomeClass::Throttled)
        .filter(|_| throttled > 0)
    else {
        return;
    };
    let codes = op
        .details_by_class
        .get(&OutcomeClass::Throttled)
        .map(|d| format!(" ({})", d.keys().cloned().collect::<Vec<_>>().join(", ")))
        .unwrap_or_default();
    let target = span
        .rate_per_s_target_at_first
        .map(|t| format!(" against a {} req/s target", fmt_rate(t)))
        .unwrap_or_default();
    lines.push(format!(
        "Throttling{codes} appeared at {} on {} when it ran at {} req/s{target}: {} {} rate limited — it is rate \
         limiting, not a permissions problem.",
        fmt_s(span.first_s),
        op.op,
        fmt_rate(span.rate_per_s_at_first),
        fmt_requests(throttled),
        were(throttled)
    ));
}

fn other_failures_verdict(s: &Summary, lines: &mut Vec<String>) {
    let count = |c| s.counts_by_class.get(c);
    let credentials = count(OutcomeClass::CredentialsUnavailable);
    if credentials > 0 {
        lines.push(format!(
            "{} failed because instance credentials could not be fetched from IMDS{}: the app had no identity to \
             sign with — an IMDS or instance-profile problem, not a policy one.",
            fmt_requests(credentials),
            details_suffix(s, OutcomeClass::CredentialsUnavailable)
        ));
    }
    let auth = count(OutcomeClass::AuthError);
    if auth > 0 {
        lines.push(format!(
            "{} {} rejected for bad credentials{}: expired tokens, unknown keys, bad signatures or clock skew — \
             not a missing permission.",
            fmt_requests(auth),
            were(auth),
            details_suffix(s, OutcomeClass::AuthError)
        ));
        let expired: u64 = s
            .ops
            .iter()
            .filter_map(|op| {
                op.details_by_class
                    .get(&OutcomeClass::AuthError)?
                    .get("ExpiredToken")
            })
            .sum();
        let from_s = s
            .ops
            .iter()
            .filter_map(|op| op.class_spans.get(&OutcomeClass::AuthError))
            .map(|span| span.first_s)
            .reduce(f64::min);
        if let (true, Some(from_s)) = (expired > 0, from_s) {
            lines.push(format!(
                "{} {} signed with expired credentials (ExpiredToken) from {}: the SDK kept signing with credentials \
                 it could not refresh — check IMDS health and throttling around credential rotation. Applications \
                 often log this as \"access denied\"; it is not a policy decision.",
                fmt_requests(expired),
                were(expired),
                fmt_s(from_s)
            ));
        }
    }
    let client = count(OutcomeClass::ClientError);
    if client > 0 {
        lines.push(format!(
            "{} failed with other client errors{}: the request did not fit the target (a missing bucket or key, a \
             bad parameter) — not an IAM decision.",
            fmt_requests(client),
            details_suffix(s, OutcomeClass::ClientError)
        ));
    }
    let server = count(OutcomeClass::ServerError);
    if server > 0 {
        lines.push(format!(
            "{} failed with server errors{}: the target itself failed — not an IAM decision.",
            fmt_requests(server),
            details_suffix(s, OutcomeClass::ServerError)
        ));
    }
    let (timeouts, connection) = (
        count(OutcomeClass::Timeout),
        count(OutcomeClass::Connection),
    );
    let transport: Vec<String> = [(timeouts, "timed out"), (connection, "could not connect")]
        .into_iter()
        .filter(|&(n, _)| n > 0)
        .map(|(n, what)| format!("{} {what}", fmt_requests(n)))
        .collect();
    if !transport.is_empty() {
        lines.push(format!(
            "{}: transport problems between the harness and the target, not IAM.",
            transport.join(" and ")
        ));
    }
}

/// The most common AccessDenied sub-reason of an op, in words.
fn denial_words(op: &OpSummary) -> Option<&'static str> {
    let details = op.details_by_class.get(&OutcomeClass::AccessDenied)?;
    let (top, _) = details
        .iter()
        .max_by_key(|&(name, n)| (*n, std::cmp::Reverse(name)))?;
    Some(match top.as_str() {
        "implicit" => "no policy allows it",
        "explicit" => "a policy explicitly denies it",
        "implicit_boundary" => "the permissions boundary does not allow it",
        "explicit_boundary" => "the permissions boundary explicitly denies it",
        "implicit_session" => "the session policy does not allow it",
        "explicit_session" => "the session policy explicitly denies it",
        "explicit_resource" => "the bucket policy explicitly denies it",
        _ => return None,
    })
}

/// ` (provider_timed_out 10, not_loaded 2)` over all ops, or nothing.
fn details_suffix(s: &Summary, class: OutcomeClass) -> String {
    let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
    for op in &s.ops {
        for (name, n) in op.details_by_class.get(&class).into_iter().flatten() {
            *merged.entry(name.as_str()).or_default() += n;
        }
    }
    if merged.is_empty() {
        return String::new();
    }
    let mut by_count: Vec<(&str, u64)> = merged.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = by_count
        .iter()
        .map(|(name, n)| format!("{name} {}", fmt_count(*n)))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// `1,234,567`.
pub(crate) fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn fmt_requests(n: u64) -> String {
    if n == 1 {
        "1 request".to_owned()
    } else {
        format!("{} requests", fmt_count(n))
    }
}

fn were(n: u64) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

fn fmt_all_instances(n: usize) -> String {
    if n == 1 {
        "its only instance".to_owned()
    } else {
        format!("all {n} instances")
    }
}

fn fmt_times(n: u64) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{} times", fmt_count(n))
    }
}

/// A rate rounded to a whole request per second, with separators.
pub(crate) fn fmt_rate(rate_per_s: f64) -> String {
    fmt_count(rate_per_s.max(0.0).round() as u64)
}

/// Per-interval rate accuracy: `0 of 10 (+0.4 %)`; `-` without targets.
pub(crate) fn fmt_interval_accuracy(accuracy: Option<IntervalAccuracy>) -> String {
    accuracy.map_or_else(
        || "-".to_owned(),
        |a| {
            format!(
                "{} of {} ({:+.1} %)",
                a.intervals_outside_1pct, a.intervals, a.worst_error_pct
            )
        },
    )
}

/// Seconds: whole numbers without decimals (`21 s`), others with one.
pub(crate) fn fmt_s(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{seconds:.1} s")
    }
}

/// A delay: `850 ms` below a second, `3.1 s` above.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms.abs() < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn fmt_signed_ms(ms: f64) -> String {
    let sign = if ms > 0.0 { "+" } else { "" };
    format!("{sign}{}", fmt_ms(ms))
}

fn fmt_list(items: &[usize]) -> String {
    const SHOWN: usize = 8;
    let mut parts: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
    if items.len() > SHOWN {
        parts.push(format!("and {} more", items.len() - SHOWN));
    }
    parts.join(", ")
}

/// Runs built from samples, shared by the report modules' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::Duration;

    use super::{RunInfo, Summary};
    use crate::observe::metrics::{Metrics, Sample};
    use crate::observe::outcome::OutcomeClass;
    use crate::observe::propagation::PropagationResult;

    /// One request of `op` intended at `at_ms` taking `latency_us`.
    pub fn record(
        metrics: &mut Metrics,
        op: usize,
        class: OutcomeClass,
        at_ms: u64,
        latency_us: u64,
    ) {
        metrics.record(&Sample {
            op,
            class,
            intended_offset: Duration::from_millis(at_ms),
            latency_corrected_us: latency_us,
            latency_raw_us: latency_us / 2,
            late: false,
        });
    }

    /// Metrics for the given ops at a 1 s interval.
    pub fn metrics(ops: &[&str]) -> Metrics {
        Metrics::new(
            ops.iter().map(|s| (*s).to_owned()).collect(),
            Duration::from_secs(1),
        )
    }

    /// The summary of a `seconds`-long run.
    pub fn summarize(
        metrics: &Metrics,
        seconds: u64,
        propagation: &[PropagationResult],
    ) -> Summary {
        let run = RunInfo {
            run_id: "run-1".into(),
            seed: 42,
            scenario: "propagation-race".into(),
            duration: Duration::from_secs(seconds),
            op_apis: Vec::new(),
        };
        Summary::build(run, metrics, propagation)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::fixtures::{metrics, record, summarize};
    use super::*;
    use crate::observe::propagation::{Change, ChangeKind, PropagationTracker, Truth};
    use OutcomeClass::{AccessDenied, CredentialsUnavailable, Ok as Success, Throttled};

    fn has(lines: &[String], needle: &str) -> bool {
        lines.iter().any(|l| l.contains(needle))
    }

    /// A grant at 10 s acked at 10.2 s; two instances probe every 100 ms,
    /// denied until 13.3 s.
    fn grant_race() -> (Metrics, PropagationResult) {
        let mut m = metrics(&["s3:GetObject"]);
        let change = Change {
            kind: ChangeKind::Grant,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::from_millis(10_000),
            acked: Duration::from_millis(10_200),
        };
        let mut tracker = PropagationTracker::new(change, 2);
        for t in (10_000..20_000).step_by(100) {
            for instance in 0..2 {
                let class = if t < 13_300 - instance as u64 * 1_000 {
                    AccessDenied
                } else {
                    Success
                };
                record(&mut m, 0, class, t, 2_000);
                tracker.observe(instance, Duration::from_millis(t), class);
            }
        }
        let truth = Truth {
            replica_applied: vec![Duration::from_millis(12_000), Duration::from_millis(13_250)],
        };
        (m, tracker.result(Some(&truth)))
    }

    #[test]
    fn changes_of_a_kind_pool_into_one_distribution() {
        let (_, first) = grant_race();
        let (_, second) = grant_race();
        let pooled = PropagationAggregate::pool(&[first.clone(), second]);
        assert_eq!(pooled.len(), 1, "no revoke measured, no revoke row");
        let g = &pooled[0];
        assert_eq!((g.kind.as_str(), g.changes, g.instances), ("grant", 2, 4));
        assert_eq!((g.unreached, g.unsettled), (0, 0));
        // Instance 1 sees the grant at 12.3 s, instance 0 at 13.3 s (ack 10.2 s).
        let d = g.delay_ms.expect("delays");
        assert_eq!((d.p50, d.max), (2_100.0, 3_100.0));
        assert_eq!(g.flaps, 2 * first.flaps);
        let e = g.error_ms.expect("truth on both");
        assert_eq!(
            e.p50,
            first.truth.and_then(|t| t.error_ms_max).expect("error")
        );
    }

    #[test]
    fn transient_access_denied_is_a_propagation_race() {
        let (m, result) = grant_race();
        let s = summarize(&m, 20, &[result]);
        let lines = &s.verdict_lines;
        assert!(
            has(
                lines,
                "AccessDenied was transient and ended 3.1 s after the policy change granting s3:GetObject at 10 s: \
                 a propagation race, not a missing permission."
            ),
            "{lines:#?}"
        );
        assert!(has(lines, "ground truth"), "{lines:#?}");
        assert!(has(lines, "an error of +50 ms"), "{lines:#?}");
        assert!(!has(lines, "missing this permission"), "{lines:#?}");
        assert!(!has(lines, "All "), "{lines:#?}");
    }

    #[test]
    fn transient_access_denied_without_a_measured_change_is_told_from_its_span() {
        let mut m = metrics(&["s3:GetObject"]);
        for t in (0..30_000).step_by(250) {
            let class = if (10_000..13_000).contains(&t) {
                AccessDenied
            } else {
                Success
            };
            record(&mut m, 0, class, t, 1_000);
        }
        let lines = summarize(&m, 30, &[]).verdict_lines;
        assert!(
            has(
                &lines,
                "AccessDenied on s3:GetObject appeared from 10 s to 13 s and then stopped"
            ),
            "{lines:#?}"
        );
        assert!(has(&lines, "not a missing permission"), "{lines:#?}");
    }

    #[test]
    fn persistent_access_denied_is_a_missing_permission() {
        let mut m = metrics(&["s3:GetObject", "s3:PutObject"]);
        for t in (0..10_000).step_by(100) {
            record(&mut m, 0, Success, t, 1_000);
            record(&mut m, 1, AccessDenied, t, 1_000);
            m.record_detail(1, AccessDenied, "implicit");
        }
        let lines = summarize(&m, 10, &[]).verdict_lines;
        assert!(
            has(
                &lines,
                "100 requests to s3:PutObject were denied (no policy allows it) and none ever succeeded: the role \
                 is missing this permission — not a propagation delay"
            ),
            "{lines:#?}"
        );
        assert!(!has(&lines, "transient"), "{lines:#?}");
    }

    #[test]
    fn denials_mixed_with_successes_to_the_end_point_at_the_fleet() {
        let mut m = metrics(&["s3:GetObject"]);
        for t in (0..10_000).step_by(100) {
            record(
                &mut m,
                0,
                if t % 400 == 0 { AccessDenied } else { Success },
                t,
                1_000,
            );
        }
        let lines = summarize(&m, 10, &[]).verdict_lines;
        assert!(
            has(
                &lines,
                "25 of 100 requests to s3:GetObject were denied while others succeeded"
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn throttling_is_rate_limiting_not_permissions() {
        let mut m = metrics(&["s3:GetObject"]);
        for second in 0..30u64 {
            m.set_rate_target(0, Duration::from_secs(second), 6_000.0);
            for i in 0..100u64 {
                let class = if second >= 21 && i % 4 == 0 {
                    Throttled
                } else {
                    Success
                };
                record(&mut m, 0, class, second * 1_000 + i * 10, 1_000);
                if class == Throttled {
                    m.record_detail(0, Throttled, "SlowDown");
                }
            }
        }
        let s = summarize(&m, 30, &[]);
        assert_eq!(s.rate_per_s.target, Some(6_000.0));
        let lines = &s.verdict_lines;
        assert!(
            has(
                lines,
                "Throttling (SlowDown) appeared at 21 s on s3:GetObject when it ran at 100 req/s against a 6,000 \
                 req/s target: 225 requests were rate limited — it is rate limiting, not a permissions problem."
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn credentials_unavailable_blames_imds() {
        let mut m = metrics(&["s3:GetObject"]);
        for i in 0..100 {
            let class = if i < 12 {
                CredentialsUnavailable
            } else {
                Success
            };
            record(&mut m, 0, class, i * 10, 1_000);
            if class == CredentialsUnavailable {
                m.record_detail(
                    0,
                    class,
                    if i < 10 {
                        "provider_timed_out"
                    } else {
                        "not_loaded"
                    },
                );
            }
        }
        let lines = summarize(&m, 1, &[]).verdict_lines;
        assert!(
            has(
                &lines,
                "12 requests failed because instance credentials could not be fetched from IMDS \
                 (provider_timed_out 10, not_loaded 2)"
            ),
            "{lines:#?}"
        );
        assert!(!has(&lines, "All "), "{lines:#?}");
    }

    #[test]
    fn all_ok_says_so_and_nothing_else() {
        let mut m = metrics(&["s3:GetObject"]);
        for i in 0..12_000 {
            record(&mut m, 0, Success, i, 1_000);
        }
        let lines = summarize(&m, 12, &[]).verdict_lines;
        assert_eq!(
            lines,
            vec!["All 12,000 requests succeeded: no access denials, throttling or credential failures.".to_owned()]
        );
    }

    #[test]
    fn revoke_reports_enforcement_and_exposure() {
        let mut m = metrics(&["s3:GetObject"]);
        let change = Change {
            kind: ChangeKind::Revoke,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::from_secs(5),
            acked: Duration::from_secs(5),
        };
        let mut tracker = PropagationTracker::new(change, 1);
        for t in (5_000..10_000).step_by(100) {
            let class = if t < 7_000 { Success } else { AccessDenied };
            record(&mut m, 0, class, t, 1_000);
            tracker.observe(0, Duration::from_millis(t), class);
        }
        let lines = summarize(&m, 10, &[tracker.result(None)]).verdict_lines;
        assert!(
            has(
                &lines,
                "The revoke of s3:GetObject at 5 s was enforced on its only instance within 2.0 s."
            ),
            "{lines:#?}"
        );
        assert!(
            has(
                &lines,
                "20 requests still succeeded after the revoke of s3:GetObject was acknowledged, the last 1.9 s after it"
            ),
            "{lines:#?}"
        );
        assert!(!has(&lines, "mixed"), "{lines:#?}");
    }

    #[test]
    fn a_grant_that_never_reaches_an_instance_is_named() {
        let mut m = metrics(&["s3:GetObject"]);
        let change = Change {
            kind: ChangeKind::Grant,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::ZERO,
            acked: Duration::ZERO,
        };
        let mut tracker = PropagationTracker::new(change, 3);
        for t in (0..5_000).step_by(100) {
            record(&mut m, 0, Success, t, 1_000);
            tracker.observe(0, Duration::from_millis(t), Success);
            record(&mut m, 0, AccessDenied, t, 1_000);
            tracker.observe(1, Duration::from_millis(t), AccessDenied);
        }
        let lines = summarize(&m, 5, &[tracker.result(None)]).verdict_lines;
        assert!(
            has(
                &lines,
                "2 of 3 instances never saw a success before the run ended (instances 1, 2)"
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn late_starts_name_the_shortfall_only_when_there_is_one() {
        // 100 req/s planned and sent for 2 s; the last half second late.
        let mut m = metrics(&["s3:GetObject"]);
        for t in (0..2_000).step_by(10) {
            m.set_rate_target(0, Duration::from_millis(t), 100.0);
            m.record(&crate::observe::metrics::Sample {
                op: 0,
                class: Success,
                intended_offset: Duration::from_millis(t),
                latency_corrected_us: 5_000,
                latency_raw_us: 1_000,
                late: t >= 1_500,
            });
        }
        let on_target = summarize(&m, 2, &[]).verdict_lines;
        assert!(
            has(
                &on_target,
                "50 requests started late because the load generator fell behind its schedule: their latency \
                 includes that wait."
            ),
            "{on_target:#?}"
        );
        // Two more seconds were planned but nothing was sent in them.
        m.set_rate_target(0, Duration::from_secs(2), 100.0);
        m.set_rate_target(0, Duration::from_secs(3), 100.0);
        let short = summarize(&m, 4, &[]).verdict_lines;
        assert!(
            has(
                &short,
                "and the target was offered 50 req/s of the planned 100 req/s."
            ),
            "{short:#?}"
        );
        assert!(has(&short, "All 200 requests succeeded"), "{short:#?}");
    }

    #[test]
    fn a_total_target_needs_every_op_to_have_one() {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        m.set_rate_target(0, Duration::ZERO, 100.0);
        record(&mut m, 0, Success, 0, 1_000);
        record(&mut m, 1, Success, 0, 1_000);
        let s = summarize(&m, 1, &[]);
        assert_eq!(s.ops[0].rate_per_s.target, Some(100.0));
        assert_eq!(s.rate_per_s.target, None);
        m.set_rate_target(1, Duration::ZERO, 20.0);
        assert_eq!(summarize(&m, 1, &[]).rate_per_s.target, Some(120.0));
    }

    #[test]
    fn a_grant_still_flapping_at_the_end_is_unsettled() {
        let m = {
            let mut m = metrics(&["s3:GetObject"]);
            record(&mut m, 0, Success, 0, 1_000);
            m
        };
        let change = Change {
            kind: ChangeKind::Grant,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::ZERO,
            acked: Duration::ZERO,
        };
        let mut tracker = PropagationTracker::new(change, 2);
        for (instance, class) in [(0, Success), (1, Success), (1, AccessDenied)] {
            tracker.observe(instance, Duration::from_millis(100), class);
        }
        let lines = summarize(&m, 1, &[tracker.result(None)]).verdict_lines;
        assert!(
            has(
                &lines,
                "1 of 2 instances had flipped back to being denied when the run ended"
            ),
            "{lines:#?}"
        );
        assert!(
            has(
                &lines,
                "instances flapped once (first allowed, then denied again)"
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn no_requests_is_said_plainly() {
        let m = metrics(&["s3:GetObject"]);
        let lines = summarize(&m, 5, &[]).verdict_lines;
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("No requests completed"));
    }

    #[test]
    fn summary_numbers_come_from_the_metrics() {
        let (m, result) = grant_race();
        let s = summarize(&m, 20, &[result]);
        assert_eq!(s.requests_total, 200);
        assert_eq!(s.counts_by_class.total(), 200);
        assert_eq!(s.counts_by_class.get(AccessDenied), 33 + 23);
        assert_eq!(s.rate_per_s.achieved, 10.0);
        assert_eq!(s.rate_per_s.target, None);
        let op = &s.ops[0];
        let span = op.class_spans[&AccessDenied];
        assert_eq!(
            (span.first_s, span.last_s, span.rate_per_s_at_first),
            (10.0, 14.0, 20.0)
        );
        assert_eq!(op.latency_ms.p99, 2.0);
        assert_eq!(op.latency_raw_ms.p99, 1.0);
        let p = &s.propagation[0];
        assert_eq!((p.instances, p.instances_reached, p.flaps), (2, 2, 0));
        assert_eq!(p.stable_ms.map(|d| d.max), Some(3_100.0));
        assert_eq!(p.truth_delay_ms.map(|t| t.max), Some(3_050.0));
        assert_eq!(p.error_ms_max, Some(50.0));
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_000), "1,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_ms(850.4), "850 ms");
        assert_eq!(fmt_ms(3_149.0), "3.1 s");
        assert_eq!(fmt_signed_ms(50.0), "+50 ms");
        assert_eq!(fmt_s(21.0), "21 s");
        assert_eq!(fmt_s(2.5), "2.5 s");
        assert_eq!(
            fmt_list(&(0..10).collect::<Vec<_>>()),
            "0, 1, 2, 3, 4, 5, 6, 7, and 2 more"
        );
    }
}
