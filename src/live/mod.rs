//! Live view of a running scenario: once a second the aggregator publishes a
//! [`Snapshot`] on a watch channel; [`display`] draws it (an `indicatif`
//! bar on a TTY, a line every few seconds otherwise, nothing with
//! `--quiet`) and [`prometheus`] serves it as Prometheus text on
//! `--metrics-addr`.
//!
//! A snapshot is small and self-contained (totals, not histograms), so
//! publishing never blocks the aggregator on a slow reader.

pub mod display;
pub mod prometheus;

use std::fmt::Write as _;
use std::time::Duration;

use crate::observe::metrics::{Latency, Metrics, Select};
use crate::observe::outcome::OutcomeClass;

/// Per (op, class) totals so far.
#[derive(Clone, Debug, PartialEq)]
pub struct CellTotal {
    pub op: String,
    pub class: OutcomeClass,
    pub count: u64,
}

/// Per op corrected latency so far, ms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpLatency {
    pub op: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub sum_ms: f64,
}

/// What the run looks like now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub duration: Duration,
    /// Requests in the newest complete second, by intended start.
    pub last_second_requests: u64,
    /// Its target over every op; `None` for closed-model load.
    pub last_second_target: Option<f64>,
    /// Its corrected p99, ms; `None` without requests.
    pub last_second_p99_ms: Option<f64>,
    /// Requests so far by class.
    pub totals: [u64; OutcomeClass::COUNT],
    /// The latest timeline action applied, with when (s) and its result.
    pub last_action: Option<(f64, String)>,
    pub cells: Vec<CellTotal>,
    pub latency: Vec<OpLatency>,
}

impl Snapshot {
    /// Builds the snapshot at `elapsed` from the aggregator's metrics.
    pub fn take(
        metrics: &Metrics,
        elapsed: Duration,
        duration: Duration,
        last_action: Option<(f64, String)>,
    ) -> Snapshot {
        let newest_complete = metrics.interval_of(elapsed).checked_sub(1);
        let (last_second_requests, last_second_p99_ms) = newest_complete
            .and_then(|i| metrics.open_interval_stats(i))
            .map_or((0, None), |(by_class, p99_us)| {
                let n: u64 = by_class.iter().sum();
                (n, (n > 0).then_some(p99_us as f64 / 1000.0))
            });
        let last_second_target = newest_complete.and_then(|i| {
            let targets: Vec<f64> = (0..metrics.op_names().len())
                .filter_map(|op| metrics.rate_per_s_target(op, i))
                .collect();
            (!targets.is_empty()).then(|| targets.iter().sum())
        });
        let mut totals = [0u64; OutcomeClass::COUNT];
        let mut cells = Vec::new();
        let mut latency = Vec::new();
        for (op, name) in metrics.op_names().iter().enumerate() {
            for class in OutcomeClass::ALL {
                let count = metrics.count(Select::cell(op, class));
                totals[class.index()] += count;
                if count > 0 {
                    cells.push(CellTotal {
                        op: name.clone(),
                        class,
                        count,
                    });
                }
            }
            let h = metrics.histogram(Select::op(op), Latency::Corrected);
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            latency.push(OpLatency {
                op: name.clone(),
                count: h.len(),
                p50_ms: ms(0.50),
                p90_ms: ms(0.90),
                p99_ms: ms(0.99),
                sum_ms: h.mean() * h.len() as f64 / 1000.0,
            });
        }
        Snapshot {
            elapsed,
            duration,
            last_second_requests,
            last_second_target,
            last_second_p99_ms,
            totals,
            last_action,
            cells,
            latency,
        }
    }

    /// One line: elapsed/remaining, rate achieved/target, p99, classes,
    /// the latest chaos action.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:>4}s/{}s  {}/s",
            self.elapsed.as_secs(),
            self.duration.as_secs(),
            self.last_second_requests
        );
        if let Some(t) = self.last_second_target {
            let _ = write!(line, " (target {t:.0})");
        }
        match self.last_second_p99_ms {
            Some(p99) => {
                let _ = write!(line, "  p99 {p99:.1} ms");
            }
            None => line.push_str("  p99 -"),
        }
        for class in OutcomeClass::ALL {
            let n = self.totals[class.index()];
            if n > 0 || class == OutcomeClass::Ok {
                let _ = write!(line, "  {} {n}", class.as_str());
            }
        }
        if let Some((at, action)) = &self.last_action {
            let _ = write!(line, "  | {at:.1}s {action}");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::fixtures::{metrics, record};

    #[test]
    fn the_snapshot_reads_the_newest_complete_second() {
        let mut m = metrics(&["reads", "writes"]);
        m.set_rate_target(0, Duration::ZERO, 10.0);
        m.set_rate_target(0, Duration::from_secs(1), 10.0);
        for t in (1_000..2_000).step_by(100) {
            record(&mut m, 0, OutcomeClass::Ok, t, 4_000);
        }
        record(&mut m, 1, OutcomeClass::Throttled, 1_500, 900);
        record(&mut m, 0, OutcomeClass::Ok, 2_100, 1_000);
        let s = Snapshot::take(
            &m,
            Duration::from_millis(2_300),
            Duration::from_secs(10),
            Some((1.2, "put-role-policy r/p".into())),
        );
        assert_eq!(s.last_second_requests, 11);
        assert_eq!(s.last_second_target, Some(10.0));
        let p99 = s.last_second_p99_ms.expect("p99");
        assert!((3.9..=4.1).contains(&p99), "{p99}");
        assert_eq!(s.totals[OutcomeClass::Ok.index()], 11);
        assert_eq!(s.totals[OutcomeClass::Throttled.index()], 1);
        assert_eq!(s.cells.len(), 2);
        assert_eq!(
            s.line(),
            "   2s/10s  11/s (target 10)  p99 4.0 ms  ok 11  throttled 1  | 1.2s put-role-policy r/p"
        );
    }
}
