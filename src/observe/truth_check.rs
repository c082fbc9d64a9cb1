//! The classifier checked against the double's ground truth: a seeded
//! reservoir sample of the run's (request id, class) pairs — every request
//! equally likely to be in it, memory fixed at [`SAMPLE_SIZE`] — is looked
//! up after the run (`POST /_iamstorm/requests/lookup`) and tallied into a
//! confusion matrix of the double's verdict × the harness's class.
//!
//! Requests that never reached the double (no credentials, connection
//! failures, timeouts before an answer) carry no request id; they are
//! counted per class, not sampled.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::observe::outcome::OutcomeClass;

/// Requests kept for the check.
pub const SAMPLE_SIZE: usize = 20_000;

/// A uniform sample of the run's answered requests.
pub struct Reservoir {
    rng: ChaCha8Rng,
    capacity: usize,
    seen: u64,
    kept: Vec<(String, OutcomeClass)>,
    /// Requests without a request id, by class.
    no_id: BTreeMap<OutcomeClass, u64>,
}

impl Reservoir {
    pub fn new(seed: u64, capacity: usize) -> Reservoir {
        Reservoir {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7275_7468),
            capacity,
            seen: 0,
            kept: Vec::with_capacity(capacity.min(1024)),
            no_id: BTreeMap::new(),
        }
    }

    /// Offers one answered request (algorithm R).
    pub fn offer(&mut self, request_id: Option<&str>, class: OutcomeClass) {
        let Some(id) = request_id else {
            *self.no_id.entry(class).or_default() += 1;
            return;
        };
        self.seen += 1;
        if self.kept.len() < self.capacity {
            self.kept.push((id.to_owned(), class));
        } else {
            let j = self.rng.random_range(0..self.seen);
            if (j as usize) < self.capacity {
                self.kept[j as usize] = (id.to_owned(), class);
            }
        }
    }

    /// Requests offered with an id.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn sample(&self) -> &[(String, OutcomeClass)] {
        &self.kept
    }

    pub fn no_request_id(&self) -> &BTreeMap<OutcomeClass, u64> {
        &self.no_id
    }
}

/// The class the harness should report for a verdict of the double, when
/// one class is right; `None` for verdicts several classes can honestly
/// describe (a generic error, an injected fault).
pub fn expected_class(verdict_kind: &str) -> Option<OutcomeClass> {
    match verdict_kind {
        "ok" => Some(OutcomeClass::Ok),
        "denied" => Some(OutcomeClass::AccessDenied),
        "throttled" => Some(OutcomeClass::Throttled),
        "auth_failed" => Some(OutcomeClass::AuthError),
        _ => None,
    }
}

/// One cell of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixCell {
    /// The double's verdict (`ok`, `denied`, `throttled`, `auth_failed`,
    /// `error`, `fault`).
    pub truth: String,
    /// The harness's class.
    pub class: OutcomeClass,
    pub count: u64,
    /// Whether this cell is an agreement, a disagreement, or neither
    /// (verdicts without a single right class).
    pub agrees: Option<bool>,
    /// One request id of the cell, to look at (`GET /_iamstorm/requests/ID`).
    pub example_request_id: String,
}

/// The check's result, as `summary.json` → `classifier` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierCheck {
    /// Answered requests with a request id, and how many were sampled.
    pub requests_with_id: u64,
    pub sampled: usize,
    /// Sampled ids the double had a verdict for.
    pub found: u64,
    /// Sampled ids it no longer (evicted) or never (unknown) knew.
    pub not_found: u64,
    /// Requests that never got an answer with an id, by class.
    pub no_request_id: BTreeMap<OutcomeClass, u64>,
    /// Verdict × class, non-empty cells, by count descending.
    pub matrix: Vec<MatrixCell>,
    /// Agreeing / (agreeing + disagreeing) found requests; `null` when
    /// none had a single right class.
    pub agreement: Option<f64>,
}

/// Tallies looked-up verdicts (`None`: not found) against the sample.
pub fn tally(reservoir: &Reservoir, verdicts: &[Option<String>]) -> ClassifierCheck {
    assert_eq!(
        verdicts.len(),
        reservoir.sample().len(),
        "one verdict per sampled request"
    );
    let mut cells: BTreeMap<(String, OutcomeClass), (u64, String)> = BTreeMap::new();
    let (mut found, mut not_found) = (0, 0);
    for ((id, class), verdict) in reservoir.sample().iter().zip(verdicts) {
        match verdict {
            None => not_found += 1,
            Some(kind) => {
                found += 1;
                let e = cells
                    .entry((kind.clone(), *class))
                    .or_insert_with(|| (0, id.clone()));
                e.0 += 1;
            }
        }
    }
    let mut matrix: Vec<MatrixCell> = cells
        .into_iter()
        .map(|((truth, class), (count, example))| MatrixCell {
            agrees: expected_class(&truth).map(|c| c == class),
            truth,
            class,
            count,
            example_request_id: example,
        })
        .collect();
    matrix.sort_by(|a, b| b.count.cmp(&a.count).then(a.truth.cmp(&b.truth)));
    let judged = |want: bool| {
        matrix
            .iter()
            .filter(|c| c.agrees == Some(want))
            .map(|c| c.count)
            .sum::<u64>()
    };
    let (agree, disagree) = (judged(true), judged(false));
    ClassifierCheck {
        requests_with_id: reservoir.seen(),
        sampled: reservoir.sample().len(),
        found,
        not_found,
        no_request_id: reservoir.no_request_id().clone(),
        matrix,
        agreement: (agree + disagree > 0).then(|| agree as f64 / (agree + disagree) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reservoir_keeps_a_uniform_fixed_size_sample() {
        let mut r = Reservoir::new(7, 100);
        for i in 0..10_000u64 {
            r.offer(Some(&format!("{i:016x}")), OutcomeClass::Ok);
        }
        r.offer(None, OutcomeClass::Timeout);
        assert_eq!(r.sample().len(), 100);
        assert_eq!(r.seen(), 10_000);
        assert_eq!(r.no_request_id()[&OutcomeClass::Timeout], 1);
        // Uniform: about half the kept ids come from the second half.
        let late = r
            .sample()
            .iter()
            .filter(|(id, _)| u64::from_str_radix(id, 16).expect("hex") >= 5_000)
            .count();
        assert!(
            (30..=70).contains(&late),
            "{late} of 100 from the second half"
        );
        // Seeded: the same offers keep the same sample.
        let mut again = Reservoir::new(7, 100);
        for i in 0..10_000u64 {
            again.offer(Some(&format!("{i:016x}")), OutcomeClass::Ok);
        }
        assert_eq!(again.sample(), r.sample());
    }

    #[test]
    fn the_matrix_counts_agreements_and_names_disagreements() {
        let mut r = Reservoir::new(1, 10);
        let classes = [
            OutcomeClass::Ok,
            OutcomeClass::Ok,
            OutcomeClass::AccessDenied,
            OutcomeClass::AuthError, // misread: the double throttled it
            OutcomeClass::ServerError,
        ];
        for (i, c) in classes.iter().enumerate() {
            r.offer(Some(&format!("id{i}")), *c);
        }
        let verdicts = [
            Some("ok".to_owned()),
            Some("ok".to_owned()),
            Some("denied".to_owned()),
            Some("throttled".to_owned()),
            None,
        ];
        let check = tally(&r, &verdicts);
        assert_eq!((check.found, check.not_found), (4, 1));
        assert_eq!(check.matrix[0].truth, "ok");
        assert_eq!(check.matrix[0].count, 2);
        let wrong = check
            .matrix
            .iter()
            .find(|c| c.agrees == Some(false))
            .expect("a disagreement");
        assert_eq!(
            (wrong.truth.as_str(), wrong.class),
            ("throttled", OutcomeClass::AuthError)
        );
        assert_eq!(wrong.example_request_id, "id3");
        assert_eq!(check.agreement, Some(0.75));
    }
}
