//! Propagation tracker: how long one measured IAM change took to be enforced,
//! per instance and overall, and how that compares with the double's ground
//! truth.
//!
//! Pure and clock-free: it is fed `(instance, time, class)` observations of
//! the probe op and does arithmetic on them. Memory is a few numbers per
//! instance, never one entry per observation.
//!
//! Definitions, for a change acknowledged by the IAM API at `acked`:
//! - *expected* outcome: `ok` after a grant, `access_denied` after a revoke;
//!   the *contrary* one is the other of the two. Every other class
//!   (throttled, timeouts, ...) says nothing about policy and is ignored.
//! - *delay*: first expected outcome − `acked`.
//! - *stable*: the first expected outcome with no contrary one after it,
//!   − `acked`. An instance whose last policy-bearing outcome is contrary has
//!   no stable time.
//! - *flap*: one return to the contrary outcome after the expected one had
//!   been seen (allow → deny → allow after a grant), as requests hit
//!   replicas at different policy versions.
//! - *exposure* (revokes): requests that still succeeded at or after
//!   `acked`, and how long after `acked` the last one was.
//!
//! - *enforcement curve*: probe outcomes binned by time after `acked`
//!   ([`ENFORCEMENT_BIN_MS`] bins, expected vs contrary). With requests
//!   spread over replicas, the expected share of a bin estimates the
//!   fraction of the target enforcing the change at that time — the delay
//!   distribution `iamstorm calibrate` fits. Observations before `acked`
//!   land in the first bin; after [`ENFORCEMENT_BINS_MAX`] bins the curve
//!   stops (the change is long settled by then).
//! - a tracker *ends* when a later measured change on the same probe is
//!   sent ([`PropagationTracker::end_at`]): after that, the probe's outcomes
//!   describe the new change, not this one.
//!
//! Delays are signed milliseconds: enforcement can beat the API's answer
//! back to the harness, and hiding that would bias the error versus truth.
//! Observations earlier than the change was sent are ignored.

use std::time::Duration;

use crate::observe::outcome::OutcomeClass;

/// Which way a measured change moves a permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The probe op should start succeeding.
    Grant,
    /// The probe op should start being denied.
    Revoke,
}

impl ChangeKind {
    /// The word reports use (`"grant"`, `"revoke"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Grant => "grant",
            ChangeKind::Revoke => "revoke",
        }
    }

    /// The outcome that shows the change has reached a replica.
    pub const fn expected(self) -> OutcomeClass {
        match self {
            ChangeKind::Grant => OutcomeClass::Ok,
            ChangeKind::Revoke => OutcomeClass::AccessDenied,
        }
    }

    /// The outcome that shows it has not (yet, or any more).
    pub const fn contrary(self) -> OutcomeClass {
        match self {
            ChangeKind::Grant => OutcomeClass::AccessDenied,
            ChangeKind::Revoke => OutcomeClass::Ok,
        }
    }
}

/// One IAM change whose propagation is measured, as the timeline executed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Grant or revoke.
    pub kind: ChangeKind,
    /// The timeline action that made the change, as reports name it
    /// (e.g. `put-role-policy app-role/s3-read`).
    pub action: String,
    /// The op whose outcomes probe it (a load entry's name).
    pub probe: String,
    /// When the IAM call was sent, since run start.
    pub at: Duration,
    /// When the IAM API acknowledged it, since run start; delays count from
    /// here, because that is when a deploy script would move on.
    pub acked: Duration,
}

/// The double's ground truth for one change: when each authorizer replica
/// applied it, since run start. Only a simulated target has this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// One entry per replica that applied the change.
    pub replica_applied: Vec<Duration>,
}

/// p50/p90/p99/max of a set of delays, ms (nearest-rank percentiles: every
/// value reported is one that was observed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DelayMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl DelayMs {
    /// Percentiles of `values`, or `None` when there are none (a percentile
    /// of nothing would be a made-up zero).
    pub fn of(values: &[f64]) -> Option<DelayMs> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| -> Option<f64> {
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted.get(rank.max(1) - 1).copied()
        };
        Some(DelayMs {
            p50: at(0.50)?,
            p90: at(0.90)?,
            p99: at(0.99)?,
            max: *sorted.last()?,
        })
    }
}

/// What one instance's probes showed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceResult {
    /// Instance index.
    pub instance: usize,
    /// `ok`/`access_denied` observations since the change was sent.
    pub observations: u64,
    /// Observations of other classes, which say nothing about policy.
    pub ignored: u64,
    /// First expected outcome − acked, ms; `None`: never reached.
    pub delay_ms: Option<f64>,
    /// Start of the final run of expected outcomes − acked, ms; `None`: the
    /// last policy-bearing outcome was contrary (or there was none).
    pub stable_ms: Option<f64>,
    /// Returns to the contrary outcome after the expected one was seen.
    pub flaps: u32,
    /// Revokes: requests that succeeded at or after acked.
    pub exposure_requests: u64,
    /// Revokes: last such success − acked, ms.
    pub exposure_ms: Option<f64>,
}

/// Ground truth summarised and compared with what was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TruthResult {
    /// Replicas that applied the change.
    pub replicas: usize,
    /// Replica apply time − acked, ms: median.
    pub delay_ms_p50: f64,
    /// Replica apply time − acked, ms: 99th percentile.
    pub delay_ms_p99: f64,
    /// Replica apply time − acked, ms: the last replica.
    pub delay_ms_max: f64,
    /// Measured stable delay (max over instances) − truth max delay, ms.
    /// Positive: the harness saw the change later than it happened (probe
    /// spacing, routing luck). `None` when some instance never became
    /// stable, since then the measured max is unknown.
    pub error_ms_max: Option<f64>,
}

/// Everything measured about one change.
#[derive(Clone, Debug, PartialEq)]
pub struct PropagationResult {
    /// The change measured.
    pub change: Change,
    /// One entry per instance, in index order.
    pub instances: Vec<InstanceResult>,
    /// Instances that saw the expected outcome at least once.
    pub instances_reached: usize,
    /// Instances whose last policy-bearing outcome was the expected one.
    pub instances_stable: usize,
    /// Instances that never saw the expected outcome: reported, not dropped,
    /// because they are the interesting ones.
    pub unreached: Vec<usize>,
    /// Instances that saw it but ended on the contrary outcome.
    pub unstable: Vec<usize>,
    /// Per-instance delays (reached instances only).
    pub delay_ms: Option<DelayMs>,
    /// Per-instance stable times (stable instances only).
    pub stable_ms: Option<DelayMs>,
    /// Flaps over all instances.
    pub flaps: u64,
    /// Revokes: successes after acked, over all instances.
    pub exposure_requests: u64,
    /// Revokes: latest success after acked, over all instances, ms.
    pub exposure_ms: Option<f64>,
    /// Comparison with the double's ground truth, when given.
    pub truth: Option<TruthResult>,
    /// Probe outcomes by time after the ack, bins with any, in time order.
    pub enforcement: Vec<EnforcementBin>,
}

/// Width of one enforcement-curve bin, ms.
pub const ENFORCEMENT_BIN_MS: u64 = 100;
/// Bins kept per change: 5 minutes after the ack.
pub const ENFORCEMENT_BINS_MAX: usize = 3000;

/// One enforcement-curve bin: probe outcomes in
/// `[start_ms, start_ms + ENFORCEMENT_BIN_MS)` after the ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnforcementBin {
    pub start_ms: u64,
    /// Outcomes showing the change (ok after a grant, denied after a revoke).
    pub expected: u64,
    /// Outcomes showing the old state.
    pub contrary: u64,
}

/// Per-instance running state: a handful of numbers, whatever the run length.
#[derive(Clone, Copy, Debug, Default)]
struct InstanceState {
    observations: u64,
    ignored: u64,
    first_expected: Option<Duration>,
    stable_since: Option<Duration>,
    last_was_expected: Option<bool>,
    flaps: u32,
    exposure_requests: u64,
    last_exposure: Option<Duration>,
}

/// Tracks one change. Feed it every probe observation of the changed action
/// from the moment the change is sent; ask for the [`PropagationResult`] at
/// any time (usually at the end of the run).
#[derive(Clone, Debug)]
pub struct PropagationTracker {
    change: Change,
    instances: Vec<InstanceState>,
    /// `[expected, contrary]` per bin after the ack; grows up to
    /// [`ENFORCEMENT_BINS_MAX`].
    curve: Vec<[u64; 2]>,
    /// Observations from here on belong to a later change.
    until: Option<Duration>,
}

/// Upper bound on instance indexes, so a corrupt index cannot make the
/// tracker allocate without limit. Far above any fleet one machine can drive.
pub const MAX_INSTANCES: usize = 1 << 20;

impl PropagationTracker {
    /// Starts tracking `change` over a fleet of `instances`. Instances that
    /// never report are counted as unreached; an instance index beyond the
    /// count (scale-out) extends the fleet.
    pub fn new(change: Change, instances: usize) -> PropagationTracker {
        assert!(
            instances <= MAX_INSTANCES,
            "{instances} instances exceed MAX_INSTANCES"
        );
        PropagationTracker {
            change,
            instances: vec![InstanceState::default(); instances],
            curve: Vec::new(),
            until: None,
        }
    }

    /// Stops tracking at `t` (since run start): a later measured change on
    /// the same probe was sent then. Only the earliest end counts.
    pub fn end_at(&mut self, t: Duration) {
        self.until = Some(self.until.map_or(t, |u| u.min(t)));
    }

    /// The change being tracked.
    pub fn change(&self) -> &Change {
        &self.change
    }

    /// One probe outcome on `instance` at `t` (since run start). Observations
    /// are expected roughly in time order per instance; one arriving late is
    /// treated as the latest.
    pub fn observe(&mut self, instance: usize, t: Duration, class: OutcomeClass) {
        if t < self.change.at || self.until.is_some_and(|u| t >= u) {
            return;
        }
        assert!(
            instance < MAX_INSTANCES,
            "instance index {instance} exceeds MAX_INSTANCES"
        );
        if instance >= self.instances.len() {
            self.instances
                .resize(instance + 1, InstanceState::default());
        }
        let kind = self.change.kind;
        let acked = self.change.acked;
        let state = &mut self.instances[instance];
        let expected = if class == kind.expected() {
            true
        } else if class == kind.contrary() {
            false
        } else {
            state.ignored += 1;
            return;
        };
        state.observations += 1;
        let bin = (t.saturating_sub(acked).as_millis() / u128::from(ENFORCEMENT_BIN_MS)) as usize;
        if bin < ENFORCEMENT_BINS_MAX {
            if bin >= self.curve.len() {
                self.curve.resize(bin + 1, [0, 0]);
            }
            self.curve[bin][usize::from(!expected)] += 1;
        }
        if kind == ChangeKind::Revoke && class == OutcomeClass::Ok && t >= acked {
            state.exposure_requests += 1;
            state.last_exposure = state.last_exposure.max(Some(t));
        }
        if expected {
            state.first_expected = Some(state.first_expected.map_or(t, |first| first.min(t)));
            state.stable_since.get_or_insert(t);
        } else {
            if state.last_was_expected == Some(true) {
                state.flaps += 1;
            }
            state.stable_since = None;
        }
        state.last_was_expected = Some(expected);
    }

    /// What has been measured so far, compared with `truth` when the target
    /// can tell it.
    pub fn result(&self, truth: Option<&Truth>) -> PropagationResult {
        let acked = self.change.acked;
        let instances: Vec<InstanceResult> = self
            .instances
            .iter()
            .enumerate()
            .map(|(instance, s)| InstanceResult {
                instance,
                observations: s.observations,
                ignored: s.ignored,
                delay_ms: s.first_expected.map(|t| signed_ms(t, acked)),
                stable_ms: s.stable_since.map(|t| signed_ms(t, acked)),
                flaps: s.flaps,
                exposure_requests: s.exposure_requests,
                exposure_ms: s.last_exposure.map(|t| signed_ms(t, acked)),
            })
            .collect();
        let delays: Vec<f64> = instances.iter().filter_map(|i| i.delay_ms).collect();
        let stables: Vec<f64> = instances.iter().filter_map(|i| i.stable_ms).collect();
        let unreached: Vec<usize> = instances
            .iter()
            .filter(|i| i.delay_ms.is_none())
            .map(|i| i.instance)
            .collect();
        let unstable: Vec<usize> = instances
            .iter()
            .filter(|i| i.delay_ms.is_some() && i.stable_ms.is_none())
            .map(|i| i.instance)
            .collect();
        let stable_ms = DelayMs::of(&stables);
        let all_stable = !instances.is_empty() && stables.len() == instances.len();
        let measured_max_ms = stable_ms.filter(|_| all_stable).map(|s| s.max);
        PropagationResult {
            change: self.change.clone(),
            instances_reached: delays.len(),
            instances_stable: stables.len(),
            unreached,
            unstable,
            delay_ms: DelayMs::of(&delays),
            stable_ms,
            flaps: instances.iter().map(|i| u64::from(i.flaps)).sum(),
            exposure_requests: instances.iter().map(|i| i.exposure_requests).sum(),
            exposure_ms: instances
                .iter()
                .filter_map(|i| i.exposure_ms)
                .reduce(f64::max),
            truth: truth.and_then(|t| truth_result(t, acked, measured_max_ms)),
            enforcement: self
                .curve
                .iter()
                .enumerate()
                .filter(|(_, [e, c])| e + c > 0)
                .map(|(i, &[expected, contrary])| EnforcementBin {
                    start_ms: i as u64 * ENFORCEMENT_BIN_MS,
                    expected,
                    contrary,
                })
                .collect(),
            instances,
        }
    }
}

fn truth_result(
    truth: &Truth,
    acked: Duration,
    measured_max_ms: Option<f64>,
) -> Option<TruthResult> {
    let delays: Vec<f64> = truth
        .replica_applied
        .iter()
        .map(|&t| signed_ms(t, acked))
        .collect();
    let d = DelayMs::of(&delays)?;
    Some(TruthResult {
        replicas: delays.len(),
        delay_ms_p50: d.p50,
        delay_ms_p99: d.p99,
        delay_ms_max: d.max,
        error_ms_max: measured_max_ms.map(|m| round_us(m - d.max)),
    })
}

/// `t − reference` in ms, signed, rounded to the microsecond so reports do
/// not print float noise.
fn signed_ms(t: Duration, reference: Duration) -> f64 {
    let nanos = t.as_nanos() as i128 - reference.as_nanos() as i128;
    round_us(nanos as f64 / 1e6)
}

fn round_us(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutcomeClass::{AccessDenied as D, Ok as O, Throttled as T, Timeout};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn change(kind: ChangeKind) -> Change {
        Change {
            kind,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: ms(10_000),
            acked: ms(10_200),
        }
    }

    fn feed(tracker: &mut PropagationTracker, instance: usize, seq: &[(u64, OutcomeClass)]) {
        for &(t, class) in seq {
            tracker.observe(instance, ms(t), class);
        }
    }

    #[test]
    fn enforcement_curve_bins_outcomes_after_the_ack() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 2);
        // Ack at 10.2 s: 10.1 s (before the ack) lands in bin 0 with 10.25 s;
        // 10.45 s in bin 2; throttling is not policy and is left out.
        feed(&mut tr, 0, &[(10_100, D), (10_250, D), (10_450, O)]);
        feed(&mut tr, 1, &[(10_260, O), (10_470, O), (10_480, T)]);
        let r = tr.result(None);
        assert_eq!(
            r.enforcement,
            vec![
                EnforcementBin {
                    start_ms: 0,
                    expected: 1,
                    contrary: 2
                },
                EnforcementBin {
                    start_ms: 200,
                    expected: 2,
                    contrary: 0
                },
            ]
        );
        // Far beyond the kept window: counted per instance, not binned.
        let late = 10_200 + ENFORCEMENT_BIN_MS * ENFORCEMENT_BINS_MAX as u64;
        tr.observe(0, ms(late), O);
        let r = tr.result(None);
        assert_eq!(r.enforcement.len(), 2);
        assert_eq!(r.instances[0].observations, 4);
    }

    #[test]
    fn a_tracker_ignores_what_follows_its_end() {
        // A revoke at 15 s on the same probe ends the grant's tracking: the
        // denials that follow it are the revoke's, not grant flaps.
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 1);
        feed(&mut tr, 0, &[(10_300, D), (11_000, O), (14_000, O)]);
        tr.end_at(ms(15_000));
        tr.end_at(ms(16_000)); // a later end does not reopen anything
        feed(&mut tr, 0, &[(15_000, D), (15_500, D)]);
        let r = tr.result(None);
        assert_eq!(r.flaps, 0);
        assert_eq!(r.instances_stable, 1);
        assert_eq!(r.instances[0].stable_ms, Some(800.0));
        assert_eq!(r.enforcement.iter().map(|b| b.contrary).sum::<u64>(), 1);
    }

    #[test]
    fn grant_with_flaps() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 2);
        // Pre-change successes are ignored; then deny, allow, deny (flap), allow, allow.
        feed(
            &mut tr,
            0,
            &[
                (9_000, O),
                (10_100, D),
                (11_000, O),
                (11_500, D),
                (12_000, O),
                (12_500, O),
            ],
        );
        // Clean: deny, deny, allow.
        feed(&mut tr, 1, &[(10_300, D), (10_800, D), (11_200, O)]);
        let r = tr.result(None);
        let i0 = r.instances[0];
        assert_eq!(
            (i0.delay_ms, i0.stable_ms, i0.flaps, i0.observations),
            (Some(800.0), Some(1_800.0), 1, 5)
        );
        let i1 = r.instances[1];
        assert_eq!(
            (i1.delay_ms, i1.stable_ms, i1.flaps),
            (Some(1_000.0), Some(1_000.0), 0)
        );
        assert_eq!(
            (r.instances_reached, r.instances_stable, r.flaps),
            (2, 2, 1)
        );
        let stable = r.stable_ms.expect("both stable");
        assert_eq!((stable.p50, stable.max), (1_000.0, 1_800.0));
        assert_eq!(r.delay_ms.map(|d| d.max), Some(1_000.0));
        assert!(r.unreached.is_empty() && r.unstable.is_empty());
        assert_eq!((r.exposure_requests, r.exposure_ms), (0, None));
    }

    #[test]
    fn revoke_with_exposure() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Revoke), 1);
        // An ok before acked is not exposure; two after are, the last at 11.4 s.
        feed(
            &mut tr,
            0,
            &[
                (10_100, O),
                (10_600, O),
                (10_900, D),
                (11_400, O),
                (11_900, D),
                (12_000, D),
            ],
        );
        let r = tr.result(None);
        let i = r.instances[0];
        assert_eq!((i.exposure_requests, i.exposure_ms), (2, Some(1_200.0)));
        assert_eq!(
            (i.delay_ms, i.stable_ms, i.flaps),
            (Some(700.0), Some(1_700.0), 1)
        );
        assert_eq!((r.exposure_requests, r.exposure_ms), (2, Some(1_200.0)));
    }

    #[test]
    fn an_instance_that_never_converges_is_reported() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 4);
        feed(&mut tr, 0, &[(10_500, O)]);
        feed(&mut tr, 1, &[(10_500, D), (11_000, D), (15_000, D)]);
        feed(&mut tr, 2, &[(10_500, O), (11_000, D)]);
        // Instance 3 never reports at all.
        let r = tr.result(Some(&Truth {
            replica_applied: vec![ms(10_400)],
        }));
        assert_eq!(r.instances_reached, 2);
        assert_eq!(r.instances_stable, 1);
        assert_eq!(r.unreached, vec![1, 3]);
        assert_eq!(r.unstable, vec![2]);
        assert_eq!(r.delay_ms.map(|d| d.max), Some(300.0));
        // With unreached instances the measured max is unknown: no error.
        let truth = r.truth.expect("truth given");
        assert_eq!(truth.error_ms_max, None);
    }

    #[test]
    fn other_classes_are_ignored() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 1);
        feed(
            &mut tr,
            0,
            &[
                (10_300, D),
                (10_400, T),
                (10_500, O),
                (10_600, Timeout),
                (10_700, T),
                (10_800, O),
            ],
        );
        let i = tr.result(None).instances[0];
        assert_eq!((i.observations, i.ignored, i.flaps), (3, 3, 0));
        assert_eq!((i.delay_ms, i.stable_ms), (Some(300.0), Some(300.0)));
    }

    #[test]
    fn scale_out_instances_extend_the_fleet() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 1);
        feed(&mut tr, 3, &[(10_300, O)]);
        let r = tr.result(None);
        assert_eq!(r.instances.len(), 4);
        assert_eq!(r.unreached, vec![0, 1, 2]);
    }

    #[test]
    fn truth_error_is_measured_max_minus_truth_max() {
        let mut tr = PropagationTracker::new(change(ChangeKind::Grant), 2);
        feed(&mut tr, 0, &[(10_300, D), (12_000, O)]);
        feed(&mut tr, 1, &[(13_450, O)]);
        let replica_applied = (0..10).map(|i| ms(10_200 + 300 * i)).collect();
        let r = tr.result(Some(&Truth { replica_applied }));
        let t = r.truth.expect("truth given");
        assert_eq!(t.replicas, 10);
        assert_eq!(
            (t.delay_ms_p50, t.delay_ms_p99, t.delay_ms_max),
            (1_200.0, 2_700.0, 2_700.0)
        );
        // Measured: stable max 3 250 ms; truth max 2 700 ms.
        assert_eq!(t.error_ms_max, Some(550.0));

        // The harness can see a change before its ack returns: negative values.
        let mut early = PropagationTracker::new(change(ChangeKind::Grant), 1);
        feed(&mut early, 0, &[(10_050, O)]);
        let r = early.result(Some(&Truth {
            replica_applied: vec![ms(10_100)],
        }));
        assert_eq!(r.delay_ms.map(|d| d.max), Some(-150.0));
        assert_eq!(r.truth.and_then(|t| t.error_ms_max), Some(-50.0));
        assert_eq!(early.result(Some(&Truth::default())).truth, None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let d = DelayMs::of(&values).expect("non-empty");
        assert_eq!((d.p50, d.p90, d.p99, d.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(DelayMs::of(&[]), None);
        let one = DelayMs::of(&[7.0]).expect("one value");
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
    }
}
