//! Rate profiles and arrival schedules: the math of *when* an open-model
//! request is meant to start.
//!
//! A profile is a rate over the entry's window (time measured from the
//! entry's `start`). Its integral Λ(t) is the expected number of arrivals by
//! `t`; a schedule inverts it. Uniform arrivals put the k-th request where
//! Λ reaches `k + phase`; Poisson arrivals add exponential(1) gaps in Λ-space
//! (time rescaling of an inhomogeneous Poisson process), drawn from the run
//! seed, so both follow the profile and both are reproducible.

use std::time::Duration;

use crate::sim::rng;

/// One stage of a `steps` profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub rate_per_s: f64,
    pub length: Duration,
}

/// A rate over an entry's window. Times are from the entry's start.
#[derive(Debug, Clone, PartialEq)]
pub enum RateProfile {
    /// The same rate throughout.
    Constant { rate_per_s: f64 },
    /// Linear from `from_per_s` at the start to `to_per_s` at the end.
    Ramp { from_per_s: f64, to_per_s: f64 },
    /// Stages in order; after the last one, its rate holds until the end.
    Steps { stages: Vec<Stage> },
    /// `base_per_s`, and `peak_per_s` from `at` for `length`.
    Spike {
        base_per_s: f64,
        peak_per_s: f64,
        at: Duration,
        length: Duration,
    },
    /// `mean + amplitude · sin(2π t / period)`; `amplitude <= mean`.
    Sine {
        mean_per_s: f64,
        amplitude_per_s: f64,
        period: Duration,
    },
}

/// How arrivals are spread around the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrivals {
    /// Evenly spaced (in Λ): the k-th request exactly where the integral
    /// reaches k.
    #[default]
    Uniform,
    /// A Poisson process with the profile as its intensity.
    Poisson,
}

impl RateProfile {
    /// The rate at `t_s` seconds into a window `window_s` long.
    pub fn rate_at(&self, t_s: f64, window_s: f64) -> f64 {
        match self {
            RateProfile::Constant { rate_per_s } => *rate_per_s,
            RateProfile::Ramp {
                from_per_s,
                to_per_s,
            } => {
                let f = if window_s > 0.0 {
                    (t_s / window_s).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                from_per_s + (to_per_s - from_per_s) * f
            }
            RateProfile::Steps { stages } => {
                let mut begin = 0.0;
                for s in stages {
                    let end = begin + s.length.as_secs_f64();
                    if t_s < end {
                        return s.rate_per_s;
                    }
                    begin = end;
                }
                stages.last().map_or(0.0, |s| s.rate_per_s)
            }
            RateProfile::Spike {
                base_per_s,
                peak_per_s,
                at,
                length,
            } => {
                let (a, b) = (at.as_secs_f64(), (*at + *length).as_secs_f64());
                if (a..b).contains(&t_s) {
                    *peak_per_s
                } else {
                    *base_per_s
                }
            }
            RateProfile::Sine {
                mean_per_s,
                amplitude_per_s,
                period,
            } => {
                let w = std::f64::consts::TAU / period.as_secs_f64();
                mean_per_s + amplitude_per_s * (w * t_s).sin()
            }
        }
    }

    /// Λ(t): expected arrivals in `[0, t_s]` of a window `window_s` long.
    pub fn cumulative(&self, t_s: f64, window_s: f64) -> f64 {
        let t = t_s.clamp(0.0, window_s.max(0.0));
        match self {
            RateProfile::Constant { rate_per_s } => rate_per_s * t,
            RateProfile::Ramp {
                from_per_s,
                to_per_s,
            } => {
                if window_s <= 0.0 {
                    return 0.0;
                }
                from_per_s * t + (to_per_s - from_per_s) * t * t / (2.0 * window_s)
            }
            RateProfile::Steps { stages } => {
                let (mut begin, mut total) = (0.0, 0.0);
                for s in stages {
                    let end = begin + s.length.as_secs_f64();
                    if t <= end {
                        return total + s.rate_per_s * (t - begin);
                    }
                    total += s.rate_per_s * (end - begin);
                    begin = end;
                }
                total + stages.last().map_or(0.0, |s| s.rate_per_s) * (t - begin)
            }
            RateProfile::Spike {
                base_per_s,
                peak_per_s,
                at,
                length,
            } => {
                let (a, b) = (at.as_secs_f64(), (*at + *length).as_secs_f64());
                let inside = (t.min(b) - a).max(0.0);
                base_per_s * t + (peak_per_s - base_per_s) * inside
            }
            RateProfile::Sine {
                mean_per_s,
                amplitude_per_s,
                period,
            } => {
                let p = period.as_secs_f64();
                let w = std::f64::consts::TAU / p;
                mean_per_s * t + amplitude_per_s / w * (1.0 - (w * t).cos())
            }
        }
    }

    /// Expected arrivals in `[from_s, to_s)` of run time, for an entry that
    /// runs this profile over `[start_s, end_s)`; 0 outside it.
    pub fn expected_between(&self, start_s: f64, end_s: f64, from_s: f64, to_s: f64) -> f64 {
        let (from, to) = (from_s.max(start_s), to_s.min(end_s));
        if to <= from {
            return 0.0;
        }
        let window = end_s - start_s;
        self.cumulative(to - start_s, window) - self.cumulative(from - start_s, window)
    }

    /// The same shape at `factor` times the rate (a mix op's share).
    pub fn scaled(&self, factor: f64) -> RateProfile {
        assert!(factor > 0.0 && factor <= 1.0, "share {factor}");
        match self {
            RateProfile::Constant { rate_per_s } => RateProfile::Constant {
                rate_per_s: rate_per_s * factor,
            },
            RateProfile::Ramp {
                from_per_s,
                to_per_s,
            } => RateProfile::Ramp {
                from_per_s: from_per_s * factor,
                to_per_s: to_per_s * factor,
            },
            RateProfile::Steps { stages } => RateProfile::Steps {
                stages: stages
                    .iter()
                    .map(|s| Stage {
                        rate_per_s: s.rate_per_s * factor,
                        length: s.length,
                    })
                    .collect(),
            },
            RateProfile::Spike {
                base_per_s,
                peak_per_s,
                at,
                length,
            } => RateProfile::Spike {
                base_per_s: base_per_s * factor,
                peak_per_s: peak_per_s * factor,
                at: *at,
                length: *length,
            },
            RateProfile::Sine {
                mean_per_s,
                amplitude_per_s,
                period,
            } => RateProfile::Sine {
                mean_per_s: mean_per_s * factor,
                amplitude_per_s: amplitude_per_s * factor,
                period: *period,
            },
        }
    }

    /// The highest rate the profile reaches.
    pub fn peak_per_s(&self) -> f64 {
        match self {
            RateProfile::Constant { rate_per_s } => *rate_per_s,
            RateProfile::Ramp {
                from_per_s,
                to_per_s,
            } => from_per_s.max(*to_per_s),
            RateProfile::Steps { stages } => {
                stages.iter().map(|s| s.rate_per_s).fold(0.0, f64::max)
            }
            RateProfile::Spike {
                base_per_s,
                peak_per_s,
                ..
            } => base_per_s.max(*peak_per_s),
            RateProfile::Sine {
                mean_per_s,
                amplitude_per_s,
                ..
            } => mean_per_s + amplitude_per_s,
        }
    }
}

/// The intended start times of one instance's share of an entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    profile: RateProfile,
    window_s: f64,
    /// This instance's fraction of the entry's rate.
    share: f64,
    /// Offset in Λ-space, in `[0, 1)`, so instances interleave.
    phase: f64,
    arrivals: Arrivals,
    seed: u64,
    stream: u64,
    /// Λ-position of the last arrival handed out (Poisson), or the count (uniform).
    position: f64,
    drawn: u64,
}

/// Precision of the inverse, seconds.
const INVERSE_TOLERANCE_S: f64 = 1e-7;

impl Schedule {
    /// `share` of `profile` over a window `window` long. `stream` tells
    /// this schedule's random draws apart from every other's.
    pub fn new(
        profile: RateProfile,
        window: Duration,
        share: f64,
        phase: f64,
        arrivals: Arrivals,
        seed: u64,
        stream: u64,
    ) -> Schedule {
        assert!(share > 0.0 && share <= 1.0, "share {share}");
        assert!((0.0..1.0).contains(&phase), "phase {phase}");
        Schedule {
            profile,
            window_s: window.as_secs_f64(),
            share,
            phase,
            arrivals,
            seed,
            stream,
            position: 0.0,
            drawn: 0,
        }
    }

    fn lambda(&self, t_s: f64) -> f64 {
        self.share * self.profile.cumulative(t_s, self.window_s)
    }

    /// The smallest t with Λ(t) >= `target`, or `None` past the window.
    fn inverse(&self, target: f64) -> Option<f64> {
        if target > self.lambda(self.window_s) {
            return None;
        }
        let (mut lo, mut hi) = (0.0, self.window_s);
        while hi - lo > INVERSE_TOLERANCE_S {
            let mid = 0.5 * (lo + hi);
            if self.lambda(mid) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }

    /// The next intended start, from the entry's start; `None` when the
    /// window is over.
    pub fn next_offset(&mut self) -> Option<Duration> {
        let target = match self.arrivals {
            Arrivals::Uniform => {
                let t = self.drawn as f64 + self.phase;
                self.drawn += 1;
                t
            }
            Arrivals::Poisson => {
                let u = rng::unit_f64(rng::derive(self.seed, self.stream, self.drawn));
                self.drawn += 1;
                self.position += -(1.0 - u).ln();
                self.position
            }
        };
        let t = self.inverse(target)?;
        (t < self.window_s).then(|| Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(mut s: Schedule) -> Vec<f64> {
        std::iter::from_fn(|| s.next_offset())
            .map(|d| d.as_secs_f64())
            .collect()
    }

    fn per_second(offsets: &[f64], seconds: usize) -> Vec<usize> {
        let mut counts = vec![0; seconds];
        for &t in offsets {
            counts[t as usize] += 1;
        }
        counts
    }

    fn profiles() -> Vec<RateProfile> {
        vec![
            RateProfile::Constant { rate_per_s: 100.0 },
            RateProfile::Ramp {
                from_per_s: 10.0,
                to_per_s: 210.0,
            },
            RateProfile::Steps {
                stages: vec![
                    Stage {
                        rate_per_s: 50.0,
                        length: Duration::from_secs(3),
                    },
                    Stage {
                        rate_per_s: 200.0,
                        length: Duration::from_secs(2),
                    },
                    Stage {
                        rate_per_s: 0.0,
                        length: Duration::from_secs(1),
                    },
                    Stage {
                        rate_per_s: 80.0,
                        length: Duration::from_secs(1),
                    },
                ],
            },
            RateProfile::Spike {
                base_per_s: 20.0,
                peak_per_s: 400.0,
                at: Duration::from_secs(4),
                length: Duration::from_millis(1500),
            },
            RateProfile::Sine {
                mean_per_s: 100.0,
                amplitude_per_s: 80.0,
                period: Duration::from_secs(4),
            },
        ]
    }

    #[test]
    fn the_integral_is_the_sum_of_the_rate() {
        for p in profiles() {
            let steps = 100_000;
            let dt = 10.0 / steps as f64;
            let sum: f64 = (0..steps)
                .map(|i| p.rate_at((i as f64 + 0.5) * dt, 10.0) * dt)
                .sum();
            let exact = p.cumulative(10.0, 10.0);
            assert!((sum - exact).abs() < 0.05, "{p:?}: {sum} vs {exact}");
        }
    }

    #[test]
    fn uniform_counts_per_second_match_the_integral() {
        for p in profiles() {
            let window = Duration::from_secs(10);
            let all = offsets(Schedule::new(
                p.clone(),
                window,
                1.0,
                0.0,
                Arrivals::Uniform,
                1,
                1,
            ));
            for (s, &n) in per_second(&all, 10).iter().enumerate() {
                let expected = p.cumulative(s as f64 + 1.0, 10.0) - p.cumulative(s as f64, 10.0);
                assert!(
                    (n as f64 - expected).abs() <= 1.0,
                    "{p:?} second {s}: {n} vs {expected}"
                );
            }
            assert!(all.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn instance_shares_add_up_to_the_entry() {
        let p = RateProfile::Ramp {
            from_per_s: 0.0,
            to_per_s: 300.0,
        };
        let window = Duration::from_secs(4);
        let total: usize = (0..3)
            .map(|slot| {
                offsets(Schedule::new(
                    p.clone(),
                    window,
                    1.0 / 3.0,
                    slot as f64 / 3.0,
                    Arrivals::Uniform,
                    1,
                    slot,
                ))
                .len()
            })
            .sum();
        assert!((total as f64 - 600.0).abs() <= 3.0, "{total}");
    }

    #[test]
    fn poisson_counts_have_the_mean_and_variance_of_the_integral() {
        // Constant 50/s: per-second counts are Poisson(50): mean 50, variance 50.
        let p = RateProfile::Constant { rate_per_s: 50.0 };
        let all = offsets(Schedule::new(
            p,
            Duration::from_secs(400),
            1.0,
            0.0,
            Arrivals::Poisson,
            42,
            7,
        ));
        let counts = per_second(&all, 400);
        let n = counts.len() as f64;
        let mean = counts.iter().sum::<usize>() as f64 / n;
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        assert!((mean - 50.0).abs() < 1.5, "mean {mean}");
        assert!((var - 50.0).abs() < 12.0, "variance {var}");
        // Not uniform: a uniform schedule has variance ~0.
        assert!(var > 25.0);
    }

    #[test]
    fn poisson_follows_a_ramp_and_is_seeded() {
        let p = RateProfile::Ramp {
            from_per_s: 100.0,
            to_per_s: 1_000.0,
        };
        let make = |seed| {
            offsets(Schedule::new(
                p.clone(),
                Duration::from_secs(10),
                1.0,
                0.0,
                Arrivals::Poisson,
                seed,
                3,
            ))
        };
        let a = make(9);
        assert_eq!(a, make(9));
        assert_ne!(a, make(10));
        let counts = per_second(&a, 10);
        for (s, &n) in counts.iter().enumerate() {
            let expected = p.cumulative(s as f64 + 1.0, 10.0) - p.cumulative(s as f64, 10.0);
            // Five standard deviations of a Poisson count.
            assert!(
                (n as f64 - expected).abs() < 5.0 * expected.sqrt(),
                "second {s}: {n} vs {expected}"
            );
        }
    }

    #[test]
    fn peaks() {
        let peaks: Vec<f64> = profiles().iter().map(RateProfile::peak_per_s).collect();
        assert_eq!(peaks, [100.0, 210.0, 200.0, 400.0, 180.0]);
    }
}
