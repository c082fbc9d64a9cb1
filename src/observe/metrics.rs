//! Interval metrics: counts and latency histograms per (interval, op,
//! outcome class), plus whole-run totals, in memory bounded by
//! seconds × ops × classes and never by the number of requests.
//!
//! Every sample is bucketed by its *intended* start (the pacer's schedule),
//! not by when it completed, so a stall shows up in the second it was meant
//! to happen. Two latencies are kept: *corrected* (from the intended start,
//! free of coordinated omission — the one thresholds and reports lead with)
//! and *raw* (from the actual send, what the target itself took).
//!
//! An interval is *open* while samples for it may still arrive; it holds two
//! full HdrHistograms per (op, class) seen. Once the newest interval is more
//! than the seal lag ahead, older intervals are *sealed*: reduced to a small
//! [`IntervalRow`] each and merged losslessly (`Histogram::add`) into the
//! whole-run totals. So the number of live histograms depends on the seal lag
//! and the number of ops, not on the run's length or request count
//! (Invariant 4). A sample that arrives for an already sealed interval still
//! counts exactly in the totals and in its row's count and max; only that
//! row's p50/p99 cannot include it, and [`Metrics::samples_after_seal`] says
//! how often that happened.
//!
//! This module knows nothing of file formats; `report/` renders it.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::observe::outcome::OutcomeClass;

/// Highest latency the histograms resolve, µs (60 s). Slower requests are
/// recorded as 60 s: anything that slow is a failure however it is counted.
pub const LATENCY_US_MAX: u64 = 60_000_000;

/// Significant figures of every histogram: 0.1 % resolution, enough to tell
/// p99 from p99.9 at any scale.
const LATENCY_SIGFIG: u8 = 3;

/// How far behind the newest interval an interval stays open by default.
/// Samples arrive when requests complete, up to the SDK timeout after their
/// intended start; ten seconds covers ordinary timeouts while keeping only a
/// handful of intervals' histograms alive.
pub const DEFAULT_SEAL_LAG: Duration = Duration::from_secs(10);

/// Distinct sub-reasons remembered per (op, class); past this they are
/// counted under [`DETAIL_OTHER`] so a chatty error message cannot grow
/// memory without bound.
pub const MAX_DETAILS_PER_CELL: usize = 16;

/// The sub-reason under which details beyond [`MAX_DETAILS_PER_CELL`] count.
pub const DETAIL_OTHER: &str = "other";

/// The per-interval rate tolerance [`Metrics::rate_accuracy`] counts
/// against, percent of target.
pub const RATE_TOLERANCE_PCT: f64 = 1.0;

/// Intervals whose actual sends are counted for [`Metrics::rate_accuracy`]
/// (about 12 days of 1-s intervals); a sample past it — a clock gone wrong
/// — is left out of that count rather than growing memory.
const MAX_SENT_INTERVALS: usize = 1 << 20;

/// Achieved (by actual send) versus target requests per interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateAccuracy {
    /// Intervals with a target of at least one request.
    pub intervals: u32,
    /// The largest deviation, signed percent of target (negative: short).
    pub worst_error_pct: f64,
    /// Intervals off by more than [`RATE_TOLERANCE_PCT`].
    pub intervals_outside_tolerance: u32,
}

/// One finished request, as the aggregator receives it from a worker. Plain
/// numbers only, so it is cheap to send over a bounded channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Index into the op names given to [`Metrics::new`].
    pub op: usize,
    /// How the request ended.
    pub class: OutcomeClass,
    /// When the pacer meant the request to start, since run start; decides
    /// the interval.
    pub intended_offset: Duration,
    /// Completion minus intended start, µs (coordinated-omission free).
    pub latency_corrected_us: u64,
    /// Completion minus actual send, µs.
    pub latency_raw_us: u64,
    /// The request was sent later than intended by more than the scheduler's
    /// tolerance: the load generator, not the target, fell behind.
    pub late: bool,
}

/// A duration in whole µs, saturating: the unit of [`Sample`] latencies, so
/// a worker's `Duration`s convert the same way everywhere.
pub fn saturating_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Which latency a histogram holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// From the intended start: what a user of the system would have seen.
    Corrected,
    /// From the actual send: what the target took.
    Raw,
}

/// Which cells a query adds up; `None` means "all". A struct rather than two
/// bare `Option` arguments so call sites read as what they ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Select {
    /// Only this op index.
    pub op: Option<usize>,
    /// Only this outcome class.
    pub class: Option<OutcomeClass>,
}

impl Select {
    /// Everything: the whole run.
    pub const ALL: Select = Select {
        op: None,
        class: None,
    };

    /// One op, all classes.
    pub fn op(op: usize) -> Select {
        Select {
            op: Some(op),
            class: None,
        }
    }

    /// One class, all ops.
    pub fn class(class: OutcomeClass) -> Select {
        Select {
            op: None,
            class: Some(class),
        }
    }

    /// One (op, class) cell.
    pub fn cell(op: usize, class: OutcomeClass) -> Select {
        Select {
            op: Some(op),
            class: Some(class),
        }
    }

    fn matches(self, op: usize, class: OutcomeClass) -> bool {
        self.op.is_none_or(|o| o == op) && self.class.is_none_or(|c| c == class)
    }
}

/// One (interval, op, class) with at least one sample, reduced to the
/// numbers the time series needs. Small and `Copy`: this is what is kept for
/// every second of a long run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntervalRow {
    /// Interval number: `start / interval`.
    pub interval: u64,
    /// Interval start, since run start.
    pub start: Duration,
    /// Op index.
    pub op: usize,
    /// Outcome class.
    pub class: OutcomeClass,
    /// Requests intended to start in this interval that ended in this class.
    pub count: u64,
    /// How many of them started late.
    pub late_starts: u64,
    /// Corrected latency percentiles, µs.
    pub latency_us_p50: u64,
    /// Corrected latency p99, µs.
    pub latency_us_p99: u64,
    /// Corrected latency max, µs.
    pub latency_us_max: u64,
    /// Raw latency p50, µs.
    pub latency_raw_us_p50: u64,
    /// Raw latency p99, µs.
    pub latency_raw_us_p99: u64,
    /// Raw latency max, µs.
    pub latency_raw_us_max: u64,
    /// The pacer's target rate for this op in this interval, if it set one
    /// (closed-model workers have none).
    pub rate_per_s_target: Option<f64>,
}

/// Counters and histograms of one (interval, op, class), or of the whole run.
struct Cell {
    count: u64,
    late_starts: u64,
    corrected: Histogram<u64>,
    raw: Histogram<u64>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGFIG)
        .expect("constant histogram bounds are valid")
}

impl Cell {
    fn new() -> Cell {
        Cell {
            count: 0,
            late_starts: 0,
            corrected: new_histogram(),
            raw: new_histogram(),
        }
    }

    fn record(&mut self, sample: &Sample) {
        self.count += 1;
        self.late_starts += u64::from(sample.late);
        self.corrected
            .saturating_record(sample.latency_corrected_us);
        self.raw.saturating_record(sample.latency_raw_us);
    }

    fn add(&mut self, other: &Cell) {
        self.count += other.count;
        self.late_starts += other.late_starts;
        // All histograms share one set of bounds, so adding cannot overflow
        // the range; a failure here is a bug in this module.
        self.corrected
            .add(&other.corrected)
            .expect("histograms share bounds");
        self.raw.add(&other.raw).expect("histograms share bounds");
    }

    fn row(&self, interval: u64, start: Duration, op: usize, class: OutcomeClass) -> IntervalRow {
        IntervalRow {
            interval,
            start,
            op,
            class,
            count: self.count,
            late_starts: self.late_starts,
            latency_us_p50: self.corrected.value_at_quantile(0.50),
            latency_us_p99: self.corrected.value_at_quantile(0.99),
            latency_us_max: self.corrected.max(),
            latency_raw_us_p50: self.raw.value_at_quantile(0.50),
            latency_raw_us_p99: self.raw.value_at_quantile(0.99),
            latency_raw_us_max: self.raw.max(),
            rate_per_s_target: None,
        }
    }
}

/// Cells of one interval (or of the totals), indexed `op * COUNT + class`;
/// `None` until the first sample, so unseen classes cost nothing.
type Cells = Vec<Option<Cell>>;

/// A sealed interval's corrected-latency histogram — of one (op, class)
/// cell, or of the whole interval when both are `None` — handed out (when
/// kept, [`Metrics::keep_sealed_histograms`]) for `latency.hlog`.
#[derive(Clone, Debug)]
pub struct SealedHistogram {
    pub interval_start: Duration,
    pub interval: Duration,
    pub op: Option<usize>,
    pub class: Option<OutcomeClass>,
    pub corrected: Histogram<u64>,
}

/// The run's interval metrics and totals. One per run, owned by the single
/// aggregator that receives every [`Sample`].
pub struct Metrics {
    op_names: Vec<String>,
    interval: Duration,
    seal_lag_intervals: u64,
    /// Intervals that may still receive samples, by interval number.
    open: BTreeMap<u64, Cells>,
    /// Rows of sealed intervals, sorted by (interval, op, class).
    sealed: Vec<IntervalRow>,
    /// Every interval below this number is sealed.
    sealed_before: u64,
    /// Sealed intervals merged, plus samples that arrived after their seal.
    totals: Cells,
    /// Target rate per (interval, op).
    rate_targets: BTreeMap<(u64, usize), f64>,
    /// Sub-reason counts per cell index, capped.
    details: Vec<BTreeMap<String, u64>>,
    samples_after_seal: u64,
    /// Requests not sent because their instance's workers were all busy, per op.
    refused: Vec<u64>,
    /// Requests per (op, interval of their *actual* send): the achieved
    /// rate, which [`Metrics::rate_accuracy`] holds against the targets.
    sent: Vec<Vec<u64>>,
    /// Sealed intervals' histograms not yet drained; `None`: not kept.
    sealed_histograms: Option<Vec<SealedHistogram>>,
}

impl Metrics {
    /// Starts empty metrics for the given ops (a [`Sample::op`] indexes this
    /// list) and interval length (1 s for the time series).
    ///
    /// Panics if `interval` is zero: the plan validates it, so a zero here is
    /// a bug, not bad input.
    pub fn new(op_names: Vec<String>, interval: Duration) -> Metrics {
        assert!(!interval.is_zero(), "metrics interval must be positive");
        let cells = op_names.len() * OutcomeClass::COUNT;
        let op_count = op_names.len();
        let mut metrics = Metrics {
            op_names,
            interval,
            seal_lag_intervals: 0,
            open: BTreeMap::new(),
            sealed: Vec::new(),
            sealed_before: 0,
            totals: empty_cells(cells),
            rate_targets: BTreeMap::new(),
            details: vec![BTreeMap::new(); cells],
            samples_after_seal: 0,
            refused: vec![0; op_count],
            sent: vec![Vec::new(); op_count],
            sealed_histograms: None,
        };
        metrics.seal_lag_intervals = metrics.intervals_covering(DEFAULT_SEAL_LAG);
        metrics
    }

    /// Keeps intervals open for `lag` behind the newest one instead of
    /// [`DEFAULT_SEAL_LAG`]; set it to at least the request timeout so no
    /// sample arrives after its interval is sealed.
    pub fn with_seal_lag(mut self, lag: Duration) -> Metrics {
        self.seal_lag_intervals = self.intervals_covering(lag);
        self
    }

    /// The op names, in index order; reports label rows with them.
    pub fn op_names(&self) -> &[String] {
        &self.op_names
    }

    /// The interval length.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The interval number an offset since run start falls in.
    pub fn interval_of(&self, offset: Duration) -> u64 {
        u64::try_from(offset.as_nanos() / self.interval.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The start of interval number `interval`, since run start.
    pub fn interval_start(&self, interval: u64) -> Duration {
        let nanos = self
            .interval
            .as_nanos()
            .saturating_mul(u128::from(interval));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Counts one finished request in its intended interval and, once that
    /// interval is sealed, in the totals. Seals intervals that fell more
    /// than the seal lag behind.
    ///
    /// Panics if `sample.op` is not an index of the op names: samples come
    /// from the plan, so that is a bug.
    pub fn record(&mut self, sample: &Sample) {
        let cell_index = self.cell_index(sample.op, sample.class);
        // Both latencies end at completion, so their difference is how far
        // the send trailed its intended start.
        let send_delay_us = sample
            .latency_corrected_us
            .saturating_sub(sample.latency_raw_us);
        let sent_at = sample.intended_offset + Duration::from_micros(send_delay_us);
        let sent_interval = usize::try_from(self.interval_of(sent_at)).unwrap_or(usize::MAX);
        if let Some(per_interval) = self
            .sent
            .get_mut(sample.op)
            .filter(|_| sent_interval < MAX_SENT_INTERVALS)
        {
            if per_interval.len() <= sent_interval {
                per_interval.resize(sent_interval.saturating_add(1), 0);
            }
            per_interval[sent_interval] += 1;
        }
        let interval = self.interval_of(sample.intended_offset);
        if interval < self.sealed_before {
            self.record_after_seal(interval, cell_index, sample);
            return;
        }
        let cells = self
            .open
            .entry(interval)
            .or_insert_with(|| empty_cells(self.totals.len()));
        cells[cell_index]
            .get_or_insert_with(Cell::new)
            .record(sample);
        let horizon = interval.saturating_sub(self.seal_lag_intervals);
        if horizon > self.sealed_before {
            self.seal_intervals_before(horizon);
        }
    }

    /// Counts the classifier's sub-reason (`"implicit"`, `"SlowDown"`, ...)
    /// for (op, class), so reports can say *which* denial or throttle it
    /// was. Call it alongside [`Metrics::record`] when the outcome has one.
    pub fn record_detail(&mut self, op: usize, class: OutcomeClass, detail: &str) {
        let index = self.cell_index(op, class);
        let details = &mut self.details[index];
        if let Some(count) = details.get_mut(detail) {
            *count += 1;
        } else if details.len() < MAX_DETAILS_PER_CELL {
            details.insert(detail.to_owned(), 1);
        } else {
            *details.entry(DETAIL_OTHER.to_owned()).or_insert(0) += 1;
        }
    }

    /// Records the pacer's target rate for `op` in the interval containing
    /// `at`, so reports can put achieved next to intended. Call once per
    /// interval with that interval's average; a later call replaces it.
    pub fn set_rate_target(&mut self, op: usize, at: Duration, rate_per_s: f64) {
        assert!(op < self.op_names.len(), "op index {op} out of range");
        let interval = self.interval_of(at);
        self.rate_targets.insert((interval, op), rate_per_s);
    }

    /// The target rate of `op` in interval number `interval`, if one was set.
    pub fn rate_per_s_target(&self, op: usize, interval: u64) -> Option<f64> {
        self.rate_targets.get(&(interval, op)).copied()
    }

    /// How many requests the pacer meant to send for `op` over the whole run
    /// (target rate × interval length, summed), or `None` if it never set a
    /// target. Divided by the run's duration this is the overall target rate.
    pub fn requests_target(&self, op: usize) -> Option<f64> {
        let interval_s = self.interval.as_secs_f64();
        self.rate_targets
            .iter()
            .filter(|((_, o), _)| *o == op)
            .map(|(_, rate)| rate * interval_s)
            .reduce(|a, b| a + b)
    }

    /// Seals every interval that ends at or before `at`; the aggregator calls
    /// it when it knows no more samples can arrive for them.
    pub fn seal_before(&mut self, at: Duration) {
        let before = self.interval_of(at);
        if before > self.sealed_before {
            self.seal_intervals_before(before);
        }
    }

    /// One interval's requests by class and corrected p99 (µs) over every
    /// op, while it is open; `None` once sealed or before any sample. The
    /// live display reads the newest complete second with it.
    pub fn open_interval_stats(&self, interval: u64) -> Option<([u64; OutcomeClass::COUNT], u64)> {
        let cells = self.open.get(&interval)?;
        let mut by_class = [0u64; OutcomeClass::COUNT];
        let mut merged = new_histogram();
        for (i, cell) in cells.iter().enumerate() {
            if let Some(cell) = cell {
                by_class[split_cell_index(i).1.index()] += cell.count;
                merged
                    .add(&cell.corrected)
                    .expect("same-bounds histograms always add");
            }
        }
        Some((by_class, merged.value_at_quantile(0.99)))
    }

    /// Keeps each sealed interval's histograms (per cell and for the whole
    /// interval) until [`Metrics::drain_sealed_histograms`] takes them, so
    /// the caller can stream them to a log. Memory stays bounded as long as
    /// the caller drains.
    pub fn keep_sealed_histograms(mut self) -> Metrics {
        self.sealed_histograms = Some(Vec::new());
        self
    }

    /// The histograms sealed since the last call, in (interval, cell)
    /// order, each interval's total first; empty unless kept.
    pub fn drain_sealed_histograms(&mut self) -> Vec<SealedHistogram> {
        self.sealed_histograms
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Seals every interval: the run is over.
    pub fn finish(&mut self) {
        if let Some(&last) = self.open.keys().next_back() {
            self.seal_intervals_before(last.saturating_add(1));
        }
    }

    /// Every (interval, op, class) row with a sample, in (interval, op,
    /// class) order, sealed and open alike, with target rates filled in.
    pub fn rows(&self) -> impl Iterator<Item = IntervalRow> + '_ {
        let open = self.open.iter().flat_map(move |(&interval, cells)| {
            let start = self.interval_start(interval);
            cells.iter().enumerate().filter_map(move |(i, cell)| {
                let (op, class) = split_cell_index(i);
                cell.as_ref().map(|c| c.row(interval, start, op, class))
            })
        });
        self.sealed.iter().copied().chain(open).map(move |mut row| {
            row.rate_per_s_target = self.rate_per_s_target(row.op, row.interval);
            row
        })
    }

    /// Requests counted in the selected cells over the whole run.
    pub fn count(&self, select: Select) -> u64 {
        self.selected_cells(select).map(|c| c.count).sum()
    }

    /// Counts a request of `op` refused by its instance's in-flight cap.
    pub fn record_refused(&mut self, op: usize) {
        if let Some(n) = self.refused.get_mut(op) {
            *n += 1;
        }
    }

    /// Refused requests of `op`, or of every op.
    pub fn refused(&self, op: Option<usize>) -> u64 {
        match op {
            Some(op) => self.refused.get(op).copied().unwrap_or(0),
            None => self.refused.iter().sum(),
        }
    }

    /// How closely `op`'s actual sends kept to its per-interval targets:
    /// every interval with a target is judged, by the requests whose send
    /// fell in it (not their intended start, which would match the target
    /// by construction). `None` for ops without targets (closed model).
    pub fn rate_accuracy(&self, op: usize) -> Option<RateAccuracy> {
        let interval_s = self.interval.as_secs_f64();
        let sent = self.sent.get(op)?;
        let mut accuracy = RateAccuracy::default();
        for (&(interval, _), &rate) in self.rate_targets.iter().filter(|((_, o), _)| *o == op) {
            let expected = rate * interval_s;
            if expected < 1.0 {
                // A second the entry barely touches: one request more or
                // less is not an accuracy statement.
                continue;
            }
            let achieved = usize::try_from(interval)
                .ok()
                .and_then(|i| sent.get(i))
                .copied()
                .unwrap_or(0) as f64;
            let error_pct = (achieved - expected) / expected * 100.0;
            accuracy.intervals += 1;
            if error_pct.abs() > accuracy.worst_error_pct.abs() {
                accuracy.worst_error_pct = error_pct;
            }
            if error_pct.abs() > RATE_TOLERANCE_PCT {
                accuracy.intervals_outside_tolerance += 1;
            }
        }
        (accuracy.intervals > 0).then_some(accuracy)
    }

    /// Late starts in the selected cells over the whole run.
    pub fn late_starts(&self, select: Select) -> u64 {
        self.selected_cells(select).map(|c| c.late_starts).sum()
    }

    /// The selected cells' latencies over the whole run, merged without loss
    /// into one histogram, so any percentile of any slice is exact to the
    /// histogram's resolution (never an average of percentiles).
    pub fn histogram(&self, select: Select, latency: Latency) -> Histogram<u64> {
        let mut merged = new_histogram();
        for cell in self.selected_cells(select) {
            let source = match latency {
                Latency::Corrected => &cell.corrected,
                Latency::Raw => &cell.raw,
            };
            merged.add(source).expect("histograms share bounds");
        }
        merged
    }

    /// Sub-reason counts of (op, class), by name.
    pub fn details(&self, op: usize, class: OutcomeClass) -> &BTreeMap<String, u64> {
        &self.details[self.cell_index(op, class)]
    }

    /// Samples that arrived after their interval was sealed. Non-zero means
    /// the seal lag is shorter than the slowest requests: those samples are
    /// in every count and in the totals, but missed their row's p50/p99.
    pub fn samples_after_seal(&self) -> u64 {
        self.samples_after_seal
    }

    /// Histograms currently allocated. Exposed so tests (and `doctor`) can
    /// check Invariant 4: this is bounded by ops × classes × (seal lag in
    /// intervals + 2) × 2 and does not grow with requests or run length.
    pub fn live_histograms(&self) -> usize {
        let open: usize = self
            .open
            .values()
            .map(|cells| cells.iter().flatten().count())
            .sum();
        2 * (open + self.totals.iter().flatten().count())
    }

    fn intervals_covering(&self, lag: Duration) -> u64 {
        u64::try_from(lag.as_nanos().div_ceil(self.interval.as_nanos())).unwrap_or(u64::MAX)
    }

    fn cell_index(&self, op: usize, class: OutcomeClass) -> usize {
        assert!(op < self.op_names.len(), "op index {op} out of range");
        op * OutcomeClass::COUNT + class.index()
    }

    /// Totals cells and open cells matching `select`; together they hold
    /// every sample exactly once.
    fn selected_cells(&self, select: Select) -> impl Iterator<Item = &Cell> {
        std::iter::once(&self.totals)
            .chain(self.open.values())
            .flat_map(|cells| cells.iter().enumerate())
            .filter_map(move |(i, cell)| {
                let (op, class) = split_cell_index(i);
                cell.as_ref().filter(|_| select.matches(op, class))
            })
    }

    fn seal_intervals_before(&mut self, before: u64) {
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= before {
                break;
            }
            let (interval, cells) = entry.remove_entry();
            let start = self.interval_start(interval);
            if let Some(out) = &mut self.sealed_histograms {
                let mut total = new_histogram();
                for cell in cells.iter().flatten() {
                    total
                        .add(&cell.corrected)
                        .expect("same-bounds histograms always add");
                }
                let sealed = |op, class, corrected| SealedHistogram {
                    interval_start: start,
                    interval: self.interval,
                    op,
                    class,
                    corrected,
                };
                out.push(sealed(None, None, total));
                for (i, cell) in cells.iter().enumerate() {
                    if let Some(cell) = cell {
                        let (op, class) = split_cell_index(i);
                        out.push(sealed(Some(op), Some(class), cell.corrected.clone()));
                    }
                }
            }
            for (i, cell) in cells.into_iter().enumerate() {
                let Some(cell) = cell else { continue };
                let (op, class) = split_cell_index(i);
                self.sealed.push(cell.row(interval, start, op, class));
                match &mut self.totals[i] {
                    Some(total) => total.add(&cell),
                    slot @ None => *slot = Some(cell),
                }
            }
        }
        self.sealed_before = self.sealed_before.max(before);
    }

    fn record_after_seal(&mut self, interval: u64, cell_index: usize, sample: &Sample) {
        self.samples_after_seal += 1;
        self.totals[cell_index]
            .get_or_insert_with(Cell::new)
            .record(sample);
        let (op, class) = split_cell_index(cell_index);
        let key = (interval, op, class);
        let found = self
            .sealed
            .binary_search_by(|r| (r.interval, r.op, r.class).cmp(&key));
        let late = u64::from(sample.late);
        match found {
            Ok(i) => {
                let row = &mut self.sealed[i];
                row.count += 1;
                row.late_starts += late;
                row.latency_us_max = row
                    .latency_us_max
                    .max(sample.latency_corrected_us.min(LATENCY_US_MAX));
                row.latency_raw_us_max = row
                    .latency_raw_us_max
                    .max(sample.latency_raw_us.min(LATENCY_US_MAX));
            }
            Err(i) => {
                let mut cell = Cell::new();
                cell.record(sample);
                let row = cell.row(interval, self.interval_start(interval), op, class);
                self.sealed.insert(i, row);
            }
        }
    }
}

fn empty_cells(len: usize) -> Cells {
    std::iter::repeat_with(|| None).take(len).collect()
}

fn split_cell_index(i: usize) -> (usize, OutcomeClass) {
    (
        i / OutcomeClass::COUNT,
        OutcomeClass::ALL[i % OutcomeClass::COUNT],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(op: usize, class: OutcomeClass, intended_ms: u64, corrected_us: u64) -> Sample {
        Sample {
            op,
            class,
            intended_offset: Duration::from_millis(intended_ms),
            latency_corrected_us: corrected_us,
            latency_raw_us: corrected_us / 2,
            late: false,
        }
    }

    fn two_ops() -> Metrics {
        Metrics::new(
            vec!["s3:GetObject".into(), "sts:GetCallerIdentity".into()],
            Duration::from_secs(1),
        )
    }

    /// A deterministic spread of latencies without a random crate.
    fn latency_us(i: u64) -> u64 {
        1 + (i.wrapping_mul(2_654_435_761) % 250_000)
    }

    #[test]
    fn rate_accuracy_counts_requests_by_their_actual_send() {
        let mut metrics = two_ops();
        for s in 0..3 {
            metrics.set_rate_target(0, Duration::from_secs(s), 10.0);
        }
        // Second 0: ten on time. Second 1: ten intended, but the last two
        // were sent 250 ms late, in second 2. Second 2: ten on time.
        for i in 0..30u64 {
            let late_us = if (18..20).contains(&i) { 250_000 } else { 0 };
            metrics.record(&Sample {
                op: 0,
                class: OutcomeClass::Ok,
                intended_offset: Duration::from_millis(i * 100),
                latency_corrected_us: 2_000 + late_us,
                latency_raw_us: 2_000,
                late: late_us > 0,
            });
        }
        let a = metrics.rate_accuracy(0).expect("targets set");
        assert_eq!(a.intervals, 3);
        assert_eq!(a.intervals_outside_tolerance, 2);
        assert_eq!(a.worst_error_pct, -20.0);
        // By intended start every second would have hit its target.
        let by_intended: Vec<u64> = metrics
            .rows()
            .filter(|r| r.op == 0)
            .map(|r| r.count)
            .collect();
        assert_eq!(by_intended, vec![10, 10, 10]);
        // No target, no judgement.
        assert_eq!(metrics.rate_accuracy(1), None);
    }

    #[test]
    fn merged_percentiles_equal_one_histogram_of_all_samples() {
        let mut metrics = two_ops().with_seal_lag(Duration::from_secs(2));
        let mut reference_corrected = new_histogram();
        let mut reference_raw = new_histogram();
        let classes = [
            OutcomeClass::Ok,
            OutcomeClass::Throttled,
            OutcomeClass::AccessDenied,
        ];
        for i in 0..20_000u64 {
            let s = sample(
                (i % 2) as usize,
                classes[(i % 3) as usize],
                i,
                latency_us(i),
            );
            metrics.record(&s);
            reference_corrected
                .record(s.latency_corrected_us)
                .expect("in range");
            reference_raw.record(s.latency_raw_us).expect("in range");
        }
        // Some intervals are sealed into totals, some still open: both count.
        assert!(!metrics.sealed.is_empty() && !metrics.open.is_empty());
        for (latency, reference) in [
            (Latency::Corrected, &reference_corrected),
            (Latency::Raw, &reference_raw),
        ] {
            let merged = metrics.histogram(Select::ALL, latency);
            assert_eq!(merged.len(), reference.len());
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(
                    merged.value_at_quantile(q),
                    reference.value_at_quantile(q),
                    "q={q}"
                );
            }
            assert_eq!(merged.max(), reference.max());
            assert_eq!(merged.min(), reference.min());
        }
        metrics.finish();
        let after = metrics.histogram(Select::ALL, Latency::Corrected);
        assert_eq!(
            after.value_at_quantile(0.99),
            reference_corrected.value_at_quantile(0.99)
        );
        assert_eq!(metrics.count(Select::ALL), 20_000);
        assert_eq!(metrics.count(Select::op(0)), 10_000);
        assert_eq!(metrics.count(Select::class(OutcomeClass::Throttled)), 6_667);
    }

    #[test]
    fn samples_land_in_the_interval_of_their_intended_start() {
        let mut metrics = two_ops();
        // Intended at 0.5 s but took 3 s: still interval 0.
        metrics.record(&sample(0, OutcomeClass::Ok, 500, 3_000_000));
        metrics.record(&sample(0, OutcomeClass::Ok, 1_200, 1_000));
        metrics.record(&sample(0, OutcomeClass::Ok, 1_999, 2_000));
        metrics.record(&sample(1, OutcomeClass::Throttled, 1_000, 500));
        metrics.finish();
        let rows: Vec<_> = metrics
            .rows()
            .map(|r| (r.interval, r.op, r.class, r.count))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, 0, OutcomeClass::Ok, 1),
                (1, 0, OutcomeClass::Ok, 2),
                (1, 1, OutcomeClass::Throttled, 1),
            ]
        );
        let first = metrics.rows().next().expect("one row");
        assert_eq!(
            first.latency_us_max,
            metrics
                .histogram(Select::cell(0, OutcomeClass::Ok), Latency::Corrected)
                .max()
        );
        assert!(first.latency_us_max >= 3_000_000 && first.latency_us_max < 3_010_000);
    }

    #[test]
    fn live_histograms_do_not_grow_with_requests_or_run_length() {
        let record_run = |requests: u64, seconds: u64| {
            let mut metrics = two_ops();
            for i in 0..requests {
                let intended_ms = i * seconds * 1000 / requests;
                let class = if i % 5 == 0 {
                    OutcomeClass::Throttled
                } else {
                    OutcomeClass::Ok
                };
                metrics.record(&sample((i % 2) as usize, class, intended_ms, latency_us(i)));
            }
            metrics
        };
        let small = record_run(1_000, 5);
        let large = record_run(200_000, 5);
        assert_eq!(small.live_histograms(), large.live_histograms());
        assert_eq!(large.count(Select::ALL), 200_000);

        // A long run keeps only the seal-lag window open.
        let long = record_run(200_000, 600);
        let cells_seen = 4; // 2 ops × {ok, throttled}
        let window = (DEFAULT_SEAL_LAG.as_secs() + 2) as usize;
        assert!(
            long.live_histograms() <= 2 * cells_seen * (window + 1),
            "{}",
            long.live_histograms()
        );
        assert_eq!(long.count(Select::ALL), 200_000);
        assert_eq!(long.rows().map(|r| r.count).sum::<u64>(), 200_000);
    }

    #[test]
    fn a_sample_after_its_seal_still_counts_everywhere_but_row_percentiles() {
        let mut metrics = two_ops().with_seal_lag(Duration::from_secs(1));
        metrics.record(&sample(0, OutcomeClass::Ok, 100, 1_000));
        metrics.record(&sample(0, OutcomeClass::Ok, 5_000, 1_000));
        assert_eq!(metrics.sealed_before, 4);
        metrics.record(&sample(0, OutcomeClass::Ok, 200, 9_000_000));
        metrics.record(&sample(0, OutcomeClass::Timeout, 300, 30_000_000));
        assert_eq!(metrics.samples_after_seal(), 2);
        assert_eq!(metrics.count(Select::ALL), 4);
        let rows: Vec<_> = metrics.rows().filter(|r| r.interval == 0).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].class, rows[0].count), (OutcomeClass::Ok, 2));
        assert!(rows[0].latency_us_max >= 9_000_000);
        assert_eq!((rows[1].class, rows[1].count), (OutcomeClass::Timeout, 1));
        let all = metrics.histogram(Select::ALL, Latency::Corrected);
        assert!(all.max() >= 30_000_000);
    }

    #[test]
    fn late_starts_rate_targets_and_details() {
        let mut metrics = two_ops();
        let mut late = sample(1, OutcomeClass::Ok, 2_500, 10);
        late.late = true;
        metrics.record(&late);
        metrics.record(&sample(1, OutcomeClass::Ok, 2_600, 10));
        metrics.set_rate_target(1, Duration::from_millis(2_000), 100.0);
        metrics.set_rate_target(1, Duration::from_millis(3_000), 300.0);
        assert_eq!(metrics.late_starts(Select::op(1)), 1);
        assert_eq!(metrics.late_starts(Select::op(0)), 0);
        assert_eq!(metrics.requests_target(1), Some(400.0));
        assert_eq!(metrics.requests_target(0), None);
        let row = metrics.rows().next().expect("a row");
        assert_eq!((row.late_starts, row.rate_per_s_target), (1, Some(100.0)));

        for i in 0..40 {
            metrics.record_detail(0, OutcomeClass::AccessDenied, &format!("reason-{i}"));
        }
        metrics.record_detail(0, OutcomeClass::AccessDenied, "reason-0");
        let details = metrics.details(0, OutcomeClass::AccessDenied);
        assert_eq!(details.len(), MAX_DETAILS_PER_CELL + 1);
        assert_eq!(details.get("reason-0"), Some(&2));
        assert_eq!(
            details.get(DETAIL_OTHER),
            Some(&(40 - MAX_DETAILS_PER_CELL as u64))
        );
    }

    #[test]
    fn durations_convert_to_whole_microseconds() {
        assert_eq!(saturating_us(Duration::from_nanos(1_999)), 1);
        assert_eq!(saturating_us(Duration::MAX), u64::MAX);
    }

    #[test]
    fn latencies_beyond_the_range_saturate_instead_of_failing() {
        let mut metrics = two_ops();
        metrics.record(&sample(0, OutcomeClass::Timeout, 0, u64::MAX));
        metrics.record(&sample(0, OutcomeClass::Ok, 0, 0));
        let h = metrics.histogram(Select::op(0), Latency::Corrected);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= LATENCY_US_MAX);
    }
}
