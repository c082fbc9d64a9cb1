//! The estimators behind `iamstorm calibrate`: pure arithmetic on what a
//! run recorded, no I/O.
//!
//! - [`fit_delay`]: a propagation delay distribution from enforcement
//!   curves. With probes spread over the target's authorizers, the share of
//!   probes at time `t` after the ack that already see a change estimates
//!   `F(t)`, the fraction of the target enforcing it — the CDF of "the delay
//!   after which a random request sees the change". Bins from several
//!   changes are pooled (a mixture of their CDFs), made monotone by
//!   isotonic regression (pool adjacent violators, weighted by probe
//!   counts), and read back as quantiles.
//! - [`fit_quota`]: a token-bucket rate from per-second counts. The first
//!   throttled second gives the *onset* (the offered rate when throttling
//!   began — later than the quota by however much burst the bucket had);
//!   the requests that still succeeded in the seconds after it are what the
//!   bucket refills, i.e. the quota itself, which is what a double needs.

/// Quantiles the fitted delay distribution is read at: `(k − 0.5) / N`.
pub const DELAY_SAMPLES: usize = 20;
/// Policy-bearing probes below which a delay fit is refused.
pub const MIN_PROBES: u64 = 50;
/// A second is throttled when more than this share of its requests were.
pub const THROTTLED_SHARE: f64 = 0.01;

/// Pooled probe outcomes of one enforcement bin.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CurveBin {
    /// Bin start, ms after the ack.
    pub t_ms: u64,
    pub expected: u64,
    pub contrary: u64,
}

/// A fitted delay distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayFit {
    /// [`DELAY_SAMPLES`] delays, ms, ascending: equally likely draws.
    pub samples_ms: Vec<u64>,
    /// Median, ms.
    pub median_ms: u64,
    /// 99th percentile, ms (a lower bound when `coverage` < 0.99).
    pub p99_ms: u64,
    /// The fitted share of probes that saw the change by the last bin;
    /// quantiles above it are set to the last bin (lower bounds).
    pub coverage: f64,
    /// Policy-bearing probes used.
    pub probes: u64,
}

/// Why a distribution could not be fitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("only {probes} probes saw allow/deny (at least {MIN_PROBES} are needed)")]
    TooFewProbes { probes: u64 },
}

/// Fits the delay distribution to `bins` (any order, duplicates of a bin
/// from several changes allowed) of width `bin_ms`.
pub fn fit_delay(bins: &[CurveBin], bin_ms: u64) -> Result<DelayFit, FitError> {
    assert!(bin_ms > 0, "enforcement bins have a width");
    let pooled = pool(bins);
    let probes: u64 = pooled.iter().map(|b| b.expected + b.contrary).sum();
    if probes < MIN_PROBES {
        return Err(FitError::TooFewProbes { probes });
    }
    let fitted = isotonic(&pooled);
    // Each bin's share describes its middle.
    let mid = |b: &CurveBin| (b.t_ms + bin_ms / 2) as f64;
    let coverage = fitted.last().copied().unwrap_or(0.0);
    let last_ms = pooled.last().map_or(0.0, mid);
    let quantile = |q: f64| -> u64 {
        let Some(i) = fitted.iter().position(|&f| f >= q) else {
            return last_ms.round() as u64;
        };
        let (x1, f1) = (mid(&pooled[i]), fitted[i]);
        let (x0, f0) = if i == 0 {
            (0.0, 0.0)
        } else {
            (mid(&pooled[i - 1]), fitted[i - 1])
        };
        let x = if f1 > f0 {
            x0 + (x1 - x0) * (q - f0) / (f1 - f0)
        } else {
            x1
        };
        x.max(0.0).round() as u64
    };
    let samples_ms = (1..=DELAY_SAMPLES)
        .map(|k| quantile((k as f64 - 0.5) / DELAY_SAMPLES as f64))
        .collect();
    Ok(DelayFit {
        samples_ms,
        median_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        coverage,
        probes,
    })
}

/// Sums bins with the same start, in time order, dropping empty ones.
fn pool(bins: &[CurveBin]) -> Vec<CurveBin> {
    let mut by_t = std::collections::BTreeMap::<u64, CurveBin>::new();
    for b in bins {
        let e = by_t.entry(b.t_ms).or_insert(CurveBin {
            t_ms: b.t_ms,
            ..CurveBin::default()
        });
        e.expected += b.expected;
        e.contrary += b.contrary;
    }
    by_t.into_values()
        .filter(|b| b.expected + b.contrary > 0)
        .collect()
}

/// Weighted isotonic (non-decreasing) fit of each bin's expected share:
/// pool adjacent violators. Returns one fitted share per bin.
fn isotonic(bins: &[CurveBin]) -> Vec<f64> {
    // Blocks of (sum of expected, weight, bins covered).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(bins.len());
    for b in bins {
        blocks.push((b.expected as f64, (b.expected + b.contrary) as f64, 1));
        while blocks.len() >= 2 {
            let (e1, w1, n1) = blocks[blocks.len() - 1];
            let (e0, w0, n0) = blocks[blocks.len() - 2];
            if e0 / w0 <= e1 / w1 {
                break;
            }
            blocks.pop();
            let top = blocks.len() - 1;
            blocks[top] = (e0 + e1, w0 + w1, n0 + n1);
        }
    }
    blocks
        .iter()
        .flat_map(|&(e, w, n)| std::iter::repeat_n(e / w, n))
        .collect()
}

/// One second of one op: requests answered, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Second {
    pub second: u64,
    pub total: u64,
    pub ok: u64,
    pub throttled: u64,
}

/// A fitted request quota for one op.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaFit {
    /// The first throttled second (s since the run's start).
    pub onset_s: u64,
    /// Requests answered in that second: the offered rate when throttling began.
    pub onset_rate_per_s: u64,
    /// Median successes per second over the throttled seconds after the
    /// onset (the onset itself when it is the only one): the bucket's refill.
    pub quota_per_s: u64,
    /// Throttled seconds seen.
    pub throttled_seconds: usize,
}

/// Fits the op's quota from its per-second counts (any order); `None` when
/// no second was throttled (the quota is above what was offered).
pub fn fit_quota(seconds: &[Second]) -> Option<QuotaFit> {
    let mut seconds = seconds.to_vec();
    seconds.sort_by_key(|s| s.second);
    let throttled: Vec<&Second> = seconds
        .iter()
        .filter(|s| s.total > 0 && s.throttled as f64 > THROTTLED_SHARE * s.total as f64)
        .collect();
    let onset = *throttled.first()?;
    // The onset second may still have spent burst; the later ones run on refill.
    let saturated = if throttled.len() > 1 {
        &throttled[1..]
    } else {
        &throttled[..]
    };
    let mut ok: Vec<u64> = saturated.iter().map(|s| s.ok).collect();
    ok.sort_unstable();
    Some(QuotaFit {
        onset_s: onset.second,
        onset_rate_per_s: onset.total,
        quota_per_s: ok[ok.len() / 2].max(1),
        throttled_seconds: throttled.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(t_ms: u64, expected: u64, contrary: u64) -> CurveBin {
        CurveBin {
            t_ms,
            expected,
            contrary,
        }
    }

    #[test]
    fn a_step_at_two_seconds_is_recovered() {
        // Every probe denied until 2 s, allowed after: a fixed 2 s delay.
        let bins: Vec<CurveBin> = (0..40)
            .map(|i| {
                if i < 20 {
                    bin(i * 100, 0, 10)
                } else {
                    bin(i * 100, 10, 0)
                }
            })
            .collect();
        let fit = fit_delay(&bins, 100).expect("enough probes");
        assert!(fit.samples_ms.iter().all(|&s| (1950..=2050).contains(&s)));
        assert_eq!(fit.coverage, 1.0);
        assert_eq!(fit.probes, 400);
    }

    #[test]
    fn a_linear_ramp_reads_back_as_uniform_quantiles() {
        // F rises linearly from 0 at 1 s to 1 at 3 s: uniform(1 s, 3 s).
        let bins: Vec<CurveBin> = (0..40)
            .map(|i| {
                let mid_s = (i as f64 * 100.0 + 50.0) / 1000.0;
                let f = ((mid_s - 1.0) / 2.0).clamp(0.0, 1.0);
                let expected = (f * 1000.0).round() as u64;
                bin(i * 100, expected, 1000 - expected)
            })
            .collect();
        let fit = fit_delay(&bins, 100).expect("enough probes");
        assert!((fit.median_ms as i64 - 2000).abs() <= 60, "{fit:?}");
        for (k, &s) in fit.samples_ms.iter().enumerate() {
            let want = 1000.0 + 2000.0 * (k as f64 + 0.5) / DELAY_SAMPLES as f64;
            assert!((s as f64 - want).abs() <= 60.0, "sample {k}: {s} vs {want}");
        }
    }

    #[test]
    fn noise_is_made_monotone_and_pooled_changes_mix() {
        // Two changes' bins at the same offsets pool; a dip is smoothed away.
        let a = [
            bin(0, 0, 10),
            bin(100, 8, 2),
            bin(200, 6, 4),
            bin(300, 10, 0),
        ];
        let b = [
            bin(0, 0, 10),
            bin(100, 2, 8),
            bin(200, 6, 4),
            bin(300, 10, 0),
        ];
        let all: Vec<CurveBin> = a.iter().chain(&b).copied().collect();
        let pooled = pool(&all);
        assert_eq!(pooled.len(), 4);
        assert_eq!(pooled[1], bin(100, 10, 10));
        let f = isotonic(&[
            bin(0, 0, 10),
            bin(100, 8, 2),
            bin(200, 6, 4),
            bin(300, 10, 0),
        ]);
        assert!(f.windows(2).all(|w| w[0] <= w[1]), "{f:?}");
        assert_eq!(f[1], f[2]);
        assert!((f[1] - 0.7).abs() < 1e-9);
    }

    #[test]
    fn an_unfinished_change_reports_its_coverage() {
        // Only half the probes ever saw it: the upper quantiles are lower bounds.
        let bins: Vec<CurveBin> = (0..10).map(|i| bin(i * 100, 5, 5)).collect();
        let fit = fit_delay(&bins, 100).expect("enough probes");
        assert_eq!(fit.coverage, 0.5);
        assert_eq!(*fit.samples_ms.last().expect("samples"), 950);
        let few = [bin(0, 3, 4)];
        assert_eq!(
            fit_delay(&few, 100),
            Err(FitError::TooFewProbes { probes: 7 })
        );
    }

    #[test]
    fn the_quota_is_what_succeeds_while_throttled() {
        let s = |second, total, ok, throttled| Second {
            second,
            total,
            ok,
            throttled,
        };
        // Ramp 100 → 500/s against a 300/s bucket with a 300-request burst:
        // throttling starts late (burst), then ~300/s succeed.
        let seconds = [
            s(0, 100, 100, 0),
            s(1, 200, 200, 0),
            s(2, 300, 300, 0),
            s(3, 400, 400, 0),
            s(4, 450, 440, 10),
            s(5, 500, 301, 199),
            s(6, 500, 299, 201),
            s(7, 500, 300, 200),
        ];
        let fit = fit_quota(&seconds).expect("throttled");
        assert_eq!(fit.onset_s, 4);
        assert_eq!(fit.onset_rate_per_s, 450);
        assert_eq!(fit.quota_per_s, 300);
        assert_eq!(fit.throttled_seconds, 4);
        // 1 % or less is noise, not throttling.
        assert_eq!(fit_quota(&[s(0, 1000, 990, 10)]), None);
    }
}
