//! Hard caps on what a run may send: a fleet-wide rate and a total request
//! count. Checked twice — against the scenario's plan before anything is
//! sent (a plan over a cap is refused), and per request while the run goes
//! (a [`Budget`] every sender asks before it sends), so closed-model loops
//! and Poisson bursts cannot exceed them either.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::scenario::{LoadModel, Scenario};

/// The caps in force for a run; `None`: uncapped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Caps {
    pub max_rate_per_s: Option<f64>,
    pub max_requests: Option<u64>,
}

/// Real AWS's caps when neither the scenario nor the command line sets one.
pub const AWS_DEFAULT_CAPS: Caps = Caps {
    max_rate_per_s: Some(50.0),
    max_requests: Some(10_000),
};

/// What the scenario plans to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The highest fleet-wide open-model rate, averaged over 100 ms.
    pub peak_rate_per_s: f64,
    /// Open-model requests expected over the run.
    pub requests: f64,
    /// Whether some entry is closed-model (its volume is unknown up front).
    pub closed_entries: usize,
}

/// The scenario's planned volume.
pub fn plan(scenario: &Scenario) -> Plan {
    const STEP_S: f64 = 0.1;
    let duration_s = scenario.duration.as_secs_f64();
    let steps = (duration_s / STEP_S).ceil() as usize;
    let mut peak = 0.0_f64;
    for step in 0..steps {
        let (lo, hi) = (
            step as f64 * STEP_S,
            ((step + 1) as f64 * STEP_S).min(duration_s),
        );
        let mut expected = 0.0;
        for e in &scenario.load {
            let Some(profile) = e.model.profile() else {
                continue;
            };
            expected +=
                profile.expected_between(e.start.as_secs_f64(), e.end.as_secs_f64(), lo, hi);
        }
        if hi > lo {
            peak = peak.max(expected / (hi - lo));
        }
    }
    let requests = scenario
        .load
        .iter()
        .filter_map(|e| {
            let window = (e.end - e.start).as_secs_f64();
            e.model.profile().map(|p| p.cumulative(window, window))
        })
        .sum();
    Plan {
        peak_rate_per_s: peak,
        requests,
        closed_entries: scenario
            .load
            .iter()
            .filter(|e| matches!(e.model, LoadModel::Closed { .. }))
            .count(),
    }
}

/// Why a plan is over its caps, one line per cap, with the way out.
pub fn check(plan: &Plan, caps: &Caps) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(max) = caps.max_rate_per_s
        && plan.peak_rate_per_s > max * 1.0001
    {
        problems.push(format!(
            "the scenario peaks at {:.1} requests/s, above the rate cap of {max}/s\n  help: lower the load, or raise the cap with --max-rate (or [target] max_rate) after checking the target can take it",
            plan.peak_rate_per_s
        ));
    }
    if let Some(max) = caps.max_requests
        && plan.requests > max as f64
    {
        problems.push(format!(
            "the scenario plans {:.0} requests, above the cap of {max}\n  help: shorten the run, or raise the cap with --max-requests (or [target] max_requests)",
            plan.requests
        ));
    }
    problems
}

/// The per-request side of the caps, shared by every sender.
pub struct Budget {
    remaining: Option<AtomicU64>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Requests refused by the rate cap.
    rate_refused: AtomicU64,
}

/// A sender's answer from the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Send,
    /// Over the rate cap this instant: do not send this one.
    RateCapped,
    /// The request cap is spent: send nothing more.
    Exhausted,
}

impl Budget {
    pub fn new(caps: &Caps) -> Self {
        let limiter = caps.max_rate_per_s.map(|rate| {
            // A whole second's worth of burst at most, at least one request.
            let per_s = NonZeroU32::new(rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)
                .unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(per_s))
                .allow_burst(per_s);
            RateLimiter::direct(quota)
        });
        Self {
            remaining: caps.max_requests.map(AtomicU64::new),
            limiter,
            rate_refused: AtomicU64::new(0),
        }
    }

    /// No caps: every request is admitted at no cost.
    pub fn unlimited() -> Self {
        Self::new(&Caps::default())
    }

    /// Takes one request from the request cap; `false` once it is spent.
    fn take_one(&self) -> bool {
        self.remaining.as_ref().is_none_or(|r| {
            r.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    /// Takes one request from the budget (open model: refuse, never wait).
    pub fn admit(&self) -> Admit {
        if !self.take_one() {
            return Admit::Exhausted;
        }
        if let Some(limiter) = &self.limiter
            && limiter.check().is_err()
        {
            self.rate_refused.fetch_add(1, Ordering::Relaxed);
            // The request was not sent: give its slot back.
            if let Some(remaining) = &self.remaining {
                remaining.fetch_add(1, Ordering::AcqRel);
            }
            return Admit::RateCapped;
        }
        Admit::Send
    }

    /// Takes one request, waiting for the rate cap (closed model: a loop
    /// slows down rather than skipping); `false` once the request cap is spent.
    pub async fn admit_wait(&self) -> bool {
        if !self.take_one() {
            return false;
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        true
    }

    /// Whether the request cap is spent.
    pub fn exhausted(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|r| r.load(Ordering::Acquire) == 0)
    }

    /// Requests refused by the rate cap so far.
    pub fn rate_refused(&self) -> u64 {
        self.rate_refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_cap_admits_exactly_n() {
        let b = Budget::new(&Caps {
            max_rate_per_s: None,
            max_requests: Some(3),
        });
        let admitted = (0..10).filter(|_| b.admit() == Admit::Send).count();
        assert_eq!(admitted, 3);
        assert!(b.exhausted());
        assert_eq!(b.admit(), Admit::Exhausted);
    }

    #[test]
    fn the_rate_cap_refuses_a_burst_beyond_a_second_and_keeps_the_count() {
        let b = Budget::new(&Caps {
            max_rate_per_s: Some(5.0),
            max_requests: Some(100),
        });
        let admitted = (0..50).filter(|_| b.admit() == Admit::Send).count();
        assert!((5..=6).contains(&admitted), "admitted {admitted}");
        assert_eq!(b.rate_refused(), 50 - admitted as u64);
        assert!(!b.exhausted(), "refused requests do not spend the budget");
    }

    #[test]
    fn unlimited_admits_everything() {
        let b = Budget::unlimited();
        assert!((0..10_000).all(|_| b.admit() == Admit::Send));
    }

    #[test]
    fn plans_over_caps_are_explained() {
        let plan = Plan {
            peak_rate_per_s: 500.0,
            requests: 12_000.0,
            closed_entries: 0,
        };
        let problems = check(&plan, &AWS_DEFAULT_CAPS);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("500.0 requests/s") && problems[0].contains("--max-rate"));
        assert!(problems[1].contains("12000 requests") && problems[1].contains("--max-requests"));
        assert!(check(&plan, &Caps::default()).is_empty());
    }
}
