//! Which key of a pattern a request addresses: uniform, or Zipf-distributed
//! (a few hot keys, a long tail), each pick a pure function of the run
//! seed, the stream and the request index.
//!
//! Zipf uses rejection-inversion sampling (Hörmann & Derflinger, 1996), so
//! it needs no table and works for patterns of any length.

use crate::sim::rng;

/// How keys are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum KeyChoice {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// Key `k` (0-based) with probability ∝ 1 / (k + 1)^exponent.
    Zipf { exponent: f64 },
}

/// A ready sampler over `n` keys.
#[derive(Debug, Clone)]
pub enum KeySampler {
    Uniform { n: u64 },
    Zipf(Zipf),
}

impl KeySampler {
    /// `n >= 1` keys chosen by `choice`.
    pub fn new(choice: KeyChoice, n: u64) -> KeySampler {
        assert!(n >= 1, "a key pattern has at least one key");
        match choice {
            KeyChoice::Uniform => KeySampler::Uniform { n },
            KeyChoice::Zipf { exponent } => KeySampler::Zipf(Zipf::new(n, exponent)),
        }
    }

    /// The 0-based key index of request `index` in stream `stream`.
    pub fn pick(&self, seed: u64, stream: u64, index: u64) -> u64 {
        match self {
            KeySampler::Uniform { n } => rng::derive(seed, stream, index) % n,
            KeySampler::Zipf(z) => {
                let base = rng::derive(seed, stream, index);
                let mut attempt = 0u64;
                loop {
                    let u = rng::unit_f64(rng::mix64(base ^ attempt));
                    if let Some(k) = z.try_sample(u) {
                        return k - 1;
                    }
                    attempt += 1;
                }
            }
        }
    }
}

/// Rejection-inversion Zipf over ranks `1..=n`.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl Zipf {
    pub fn new(n: u64, exponent: f64) -> Zipf {
        assert!(
            exponent > 0.0 && exponent.is_finite(),
            "exponent {exponent}"
        );
        let mut z = Zipf {
            n: n as f64,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.s = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// One attempt from a uniform `u` in [0, 1): a rank, or `None` (rejected).
    fn try_sample(&self, u: f64) -> Option<u64> {
        let u = self.h_integral_n + u * (self.h_integral_x1 - self.h_integral_n);
        let x = self.h_integral_inverse(u);
        let k = (x + 0.5).floor().clamp(1.0, self.n);
        (k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k)).then_some(k as u64)
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.exponent) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x − 1) / x, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(sampler: &KeySampler, n: usize, draws: u64) -> Vec<f64> {
        let mut counts = vec![0u64; n];
        for i in 0..draws {
            counts[sampler.pick(5, 9, i) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn zipf_matches_its_probabilities() {
        for exponent in [0.8, 1.0, 1.5] {
            let n = 20;
            let observed = histogram(
                &KeySampler::new(KeyChoice::Zipf { exponent }, n),
                20,
                200_000,
            );
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-exponent)).sum();
            for (k, p) in observed.iter().enumerate() {
                let expected = ((k + 1) as f64).powf(-exponent) / norm;
                assert!(
                    (p - expected).abs() < 0.006,
                    "s={exponent} key {k}: {p} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn zipf_works_on_huge_patterns_and_uniform_is_flat() {
        let z = KeySampler::new(KeyChoice::Zipf { exponent: 1.2 }, u64::from(u32::MAX));
        assert!((0..1000).all(|i| z.pick(1, 2, i) < u64::from(u32::MAX)));
        let flat = histogram(&KeySampler::new(KeyChoice::Uniform, 10), 10, 100_000);
        assert!(flat.iter().all(|p| (p - 0.1).abs() < 0.01), "{flat:?}");
        let one = KeySampler::new(KeyChoice::Zipf { exponent: 2.0 }, 1);
        assert_eq!(one.pick(1, 1, 1), 0);
    }

    #[test]
    fn picks_are_seeded() {
        let z = KeySampler::new(KeyChoice::Zipf { exponent: 1.0 }, 1000);
        let a: Vec<u64> = (0..50).map(|i| z.pick(7, 1, i)).collect();
        let b: Vec<u64> = (0..50).map(|i| z.pick(7, 1, i)).collect();
        let c: Vec<u64> = (0..50).map(|i| z.pick(8, 1, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
