//! Replica propagation model: how a change to IAM state reaches the
//! authorizers that enforce it (AWS: "eventually consistent", seconds with a
//! long tail; reads of IAM state are immediate while enforcement lags).
//!
//! Every change gets a version. Each of N replicas applies version v at
//! `published_at + delay`, where the delay comes from a seeded distribution,
//! and never before it applied v-1 (a replica applies changes in order). A
//! request is evaluated at the version its replica has applied at that
//! instant; which replica serves a request is the [`Routing`]. Every
//! application time is kept: it is the ground truth the harness measures
//! itself against.
//!
//! Grants and revokes may have their own delay distributions. A change's
//! kind comes from its publisher ([`Replicas::publish_with`]); a plain
//! [`Replicas::publish`] infers it from the IAM action that starts the label
//! (see [`ChangeKind::infer`]).

use std::time::Duration;

use serde::Serialize;

use super::rng;

/// Longest delay any model produces: a lognormal tail is unbounded, a run
/// is not.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);
/// Most samples an empirical distribution may hold.
pub const MAX_EMPIRICAL_SAMPLES: usize = 100_000;

/// The standard normal quantile at 0.99: lognormal sigma = ln(p99/median) / Z_99.
const Z_99: f64 = 2.326_347_874_040_840_8;

/// How long one replica takes to apply one change (also used by fault
/// injection for latency).
#[derive(Clone, Debug, PartialEq)]
pub enum DelayModel {
    /// Every draw is exactly this long.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform { min: Duration, max: Duration },
    /// Lognormal with this median and 99th percentile (`p99 >= median > 0`):
    /// mu = ln(median), sigma = ln(p99 / median) / 2.326. Capped at [`MAX_DELAY`].
    LogNormal { median: Duration, p99: Duration },
    /// One of these measured samples, each equally likely.
    Empirical(Vec<Duration>),
}

impl DelayModel {
    /// Why the model cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match self {
            DelayModel::Fixed(_) => None,
            DelayModel::Uniform { min, max } if min > max => Some(format!(
                "uniform needs min <= max (got min {min:?}, max {max:?})"
            )),
            DelayModel::Uniform { .. } => None,
            DelayModel::LogNormal { median, .. } if median.is_zero() => {
                Some("lognormal needs a median above zero".to_owned())
            }
            DelayModel::LogNormal { median, p99 } if p99 < median => Some(format!(
                "lognormal needs p99 >= median (got median {median:?}, p99 {p99:?})"
            )),
            DelayModel::LogNormal { .. } => None,
            DelayModel::Empirical(samples) if samples.is_empty() => {
                Some("empirical needs at least one sample".to_owned())
            }
            DelayModel::Empirical(samples) if samples.len() > MAX_EMPIRICAL_SAMPLES => Some(
                format!("empirical takes at most {MAX_EMPIRICAL_SAMPLES} samples"),
            ),
            DelayModel::Empirical(_) => None,
        }
    }

    /// The delay for one draw; `v` is a derived random word (`rng::derive`).
    /// The same word always gives the same delay.
    pub fn draw(&self, v: u64) -> Duration {
        let unit = rng::unit_f64(v);
        match self {
            DelayModel::Fixed(d) => *d,
            DelayModel::Uniform { min, max } => {
                assert!(min <= max, "uniform delay model needs min <= max");
                *min + (*max - *min).mul_f64(unit)
            }
            DelayModel::LogNormal { median, p99 } => {
                assert!(!median.is_zero() && p99 >= median, "lognormal parameters");
                let (mu, sigma) = lognormal_params(*median, *p99);
                let x = (mu + sigma * normal_quantile(unit)).exp();
                Duration::try_from_secs_f64(x)
                    .unwrap_or(MAX_DELAY)
                    .min(MAX_DELAY)
            }
            DelayModel::Empirical(samples) => {
                assert!(!samples.is_empty(), "empirical model has samples");
                let i = ((unit * samples.len() as f64) as usize).min(samples.len() - 1);
                samples[i]
            }
        }
    }

    /// A JSON description for the ground truth (`/_iamstorm/propagation`).
    pub fn describe(&self) -> serde_json::Value {
        let ms = |d: &Duration| d.as_millis() as u64;
        match self {
            DelayModel::Fixed(d) => serde_json::json!({ "model": "fixed", "delay_ms": ms(d) }),
            DelayModel::Uniform { min, max } => {
                serde_json::json!({ "model": "uniform", "min_ms": ms(min), "max_ms": ms(max) })
            }
            DelayModel::LogNormal { median, p99 } => {
                let (mu, sigma) = lognormal_params(*median, *p99);
                serde_json::json!({
                    "model": "lognormal", "median_ms": ms(median), "p99_ms": ms(p99),
                    "mu_ln_s": mu, "sigma": sigma,
                })
            }
            DelayModel::Empirical(samples) => serde_json::json!({
                "model": "empirical",
                "samples": samples.len(),
                "min_ms": samples.iter().min().map(ms),
                "max_ms": samples.iter().max().map(ms),
            }),
        }
    }
}

/// (mu, sigma) of ln(delay in seconds).
fn lognormal_params(median: Duration, p99: Duration) -> (f64, f64) {
    let mu = median.as_secs_f64().ln();
    let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z_99;
    (mu, sigma)
}

/// The standard normal quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9): one uniform in, one normal deviate out,
/// so the model's p99 is exactly the configured p99.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Whether a change widens or narrows what is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Grant,
    Revoke,
    /// Neither is known (e.g. a trust policy rewrite): the default delay.
    Unclassified,
}

impl ChangeKind {
    /// Infers the kind from a label that starts with the IAM action, as
    /// the IAM store's labels do ("DetachRolePolicy r-arn"): `Delete*`,
    /// `Detach*` and `Remove*` revoke; `Put*`, `Attach*`, `Add*` and
    /// `Create*` grant; anything else is unclassified. A heuristic: a
    /// `PutRolePolicy` that narrows a policy is really a revoke — a
    /// publisher that knows better calls [`Replicas::publish_with`].
    pub fn infer(label: &str) -> Self {
        let action = label.split_whitespace().next().unwrap_or("");
        let starts = |p: &[&str]| p.iter().any(|p| action.starts_with(p));
        if starts(&["Delete", "Detach", "Remove"]) {
            ChangeKind::Revoke
        } else if starts(&["Put", "Attach", "Add", "Create"]) {
            ChangeKind::Grant
        } else {
            ChangeKind::Unclassified
        }
    }
}

/// Which replica serves a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Each request independently (a hash of seed and request id): a
    /// client sees flapping while a change propagates.
    Random,
    /// Every request on one TCP connection goes to one replica (as behind a
    /// connection-level load balancer).
    StickyConnection,
    /// Every request of one principal goes to one replica. For instance
    /// credentials the principal is `assumed-role/ROLE/INSTANCE-ID`, so this
    /// is "per instance", and it survives credential rotation (a per-key
    /// hash would not).
    StickyInstance,
}

/// What a request is routed by.
pub struct RouteKey<'a> {
    pub request_seq: u64,
    /// The connection the request came on, when known.
    pub connection: Option<u64>,
    /// The caller's ARN, when authenticated.
    pub principal: Option<&'a str>,
}

impl Routing {
    /// The replica in `0..replicas` for a request: a pure function of the
    /// seed and the key.
    pub fn replica(self, seed: u64, replicas: usize, key: &RouteKey<'_>) -> usize {
        assert!(replicas >= 1, "at least one replica");
        let index = match (self, key.connection, key.principal) {
            (Routing::StickyConnection, Some(c), _) => c | 1 << 63,
            (Routing::StickyInstance, _, Some(p)) => fnv1a(p.as_bytes()),
            _ => key.request_seq,
        };
        (rng::derive(seed, rng::STREAM_ROUTING, index) % replicas as u64) as usize
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Configuration of the propagation model.
#[derive(Clone, Debug, PartialEq)]
pub struct PropagationConfig {
    pub replicas: u16,
    /// Delay of every change without its own setting below.
    pub delay: DelayModel,
    /// Delay of grants; `None`: `delay`.
    pub grant_delay: Option<DelayModel>,
    /// Delay of revokes; `None`: `delay`.
    pub revoke_delay: Option<DelayModel>,
    pub routing: Routing,
}

impl PropagationConfig {
    pub fn delay_for(&self, kind: ChangeKind) -> &DelayModel {
        let own = match kind {
            ChangeKind::Grant => self.grant_delay.as_ref(),
            ChangeKind::Revoke => self.revoke_delay.as_ref(),
            ChangeKind::Unclassified => None,
        };
        own.unwrap_or(&self.delay)
    }

    /// The settings as JSON, for the ground truth.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "replicas": self.replicas,
            "routing": self.routing,
            "delay": self.delay.describe(),
            "grant_delay": self.delay_for(ChangeKind::Grant).describe(),
            "revoke_delay": self.delay_for(ChangeKind::Revoke).describe(),
        })
    }
}

impl Default for PropagationConfig {
    fn default() -> Self {
        Self {
            replicas: 8,
            delay: DelayModel::Uniform {
                min: Duration::from_millis(1000),
                max: Duration::from_millis(4000),
            },
            grant_delay: None,
            revoke_delay: None,
            routing: Routing::Random,
        }
    }
}

/// One published change and when each replica applied it.
#[derive(Clone, Debug, Serialize)]
pub struct VersionRecord {
    pub version: u64,
    pub label: String,
    /// Grant, revoke or unclassified: which delay distribution it drew from.
    pub kind: ChangeKind,
    /// When the control plane accepted the change (since the double started).
    #[serde(serialize_with = "ser_ms")]
    pub published_at: Duration,
    /// Per replica: when it started enforcing this version.
    #[serde(serialize_with = "ser_ms_vec")]
    pub applied_at: Vec<Duration>,
    /// Per replica: the delay drawn for this version — a pure function of
    /// (seed, version, replica). `applied_at` is `published_at` + this, or
    /// the previous version's application when that is later (in order).
    #[serde(serialize_with = "ser_ms_vec")]
    pub drawn: Vec<Duration>,
    /// Set when an admin `converge` made every replica enforce this
    /// version before its drawn delay ran out (a scenario's starting
    /// state): `applied_at` then holds the converge instant.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_ms")]
    pub converged_at: Option<Duration>,
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn ser_ms_vec<S: serde::Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for d in v {
        seq.serialize_element(&(d.as_millis() as u64))?;
    }
    seq.end()
}

/// The replicas' state: version 0 is the initial state, applied everywhere
/// at time zero.
#[derive(Debug)]
pub struct Replicas {
    config: PropagationConfig,
    seed: u64,
    versions: Vec<VersionRecord>,
}

impl Replicas {
    pub fn new(config: PropagationConfig, seed: u64) -> Self {
        assert!(config.replicas >= 1, "at least one replica");
        for model in [&config.delay]
            .into_iter()
            .chain(config.grant_delay.as_ref())
            .chain(config.revoke_delay.as_ref())
        {
            assert!(model.problem().is_none(), "{:?}", model.problem());
        }
        let n = usize::from(config.replicas);
        Self {
            versions: vec![VersionRecord {
                version: 0,
                label: "initial state".to_owned(),
                kind: ChangeKind::Unclassified,
                published_at: Duration::ZERO,
                applied_at: vec![Duration::ZERO; n],
                drawn: vec![Duration::ZERO; n],
                converged_at: None,
            }],
            config,
            seed,
        }
    }

    pub fn replica_count(&self) -> usize {
        usize::from(self.config.replicas)
    }

    pub fn config(&self) -> &PropagationConfig {
        &self.config
    }

    /// Publishes the next version at `at`, its kind inferred from the
    /// label ([`ChangeKind::infer`]).
    pub fn publish(&mut self, label: String, at: Duration) -> u64 {
        let kind = ChangeKind::infer(&label);
        self.publish_with(label, at, kind)
    }

    /// Publishes the next version at `at` as a change of `kind` and returns
    /// it. Delays are a pure function of (seed, version, replica).
    pub fn publish_with(&mut self, label: String, at: Duration, kind: ChangeKind) -> u64 {
        let version = self.versions.len() as u64;
        let previous = &self.versions[self.versions.len() - 1];
        let model = self.config.delay_for(kind);
        let drawn: Vec<Duration> = (0..self.replica_count())
            .map(|r| {
                let v = rng::derive(self.seed, rng::STREAM_PROPAGATION, version << 16 | r as u64);
                model.draw(v)
            })
            .collect();
        let applied_at = drawn
            .iter()
            .enumerate()
            .map(|(r, d)| (at + *d).max(previous.applied_at[r]))
            .collect();
        self.versions.push(VersionRecord {
            version,
            label,
            kind,
            published_at: at,
            applied_at,
            drawn,
            converged_at: None,
        });
        version
    }

    /// Makes every replica enforce every published version from `now` on:
    /// versions still pending somewhere get `applied_at = now` there and
    /// are marked `converged_at`. Returns how many versions it touched.
    /// Application times stay non-decreasing in version per replica, since
    /// every pending time is replaced by the same `now`.
    pub fn converge(&mut self, now: Duration) -> usize {
        let mut touched = 0;
        for record in &mut self.versions {
            let mut pending = false;
            for t in &mut record.applied_at {
                if *t > now {
                    *t = now;
                    pending = true;
                }
            }
            if pending {
                record.converged_at = Some(now);
                touched += 1;
            }
        }
        touched
    }

    /// The newest version replica `replica` enforces at `now`.
    pub fn version_at(&self, replica: usize, now: Duration) -> u64 {
        // applied_at is non-decreasing in version for a fixed replica.
        let applied = self
            .versions
            .partition_point(|v| v.applied_at[replica] <= now);
        assert!(applied >= 1, "version 0 is applied at time zero");
        (applied - 1) as u64
    }

    pub fn records(&self) -> &[VersionRecord] {
        &self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converge_applies_pending_versions_now_and_marks_them() {
        let mut r = Replicas::new(with(DelayModel::Fixed(Duration::from_secs(5))), 1);
        r.publish("put-role-policy a".into(), Duration::from_secs(1));
        r.publish("put-role-policy b".into(), Duration::from_secs(2));
        r.publish("put-role-policy c".into(), Duration::from_secs(10));
        // At 6 s version 1 is applied everywhere (1 + 5); 2 and 3 are pending.
        assert_eq!(r.converge(Duration::from_secs(6)), 2);
        for rep in 0..r.replica_count() {
            assert_eq!(r.version_at(rep, Duration::from_secs(6)), 3);
        }
        let recs = r.records();
        assert_eq!(recs[1].converged_at, None);
        assert_eq!(recs[1].applied_at[0], Duration::from_secs(6));
        assert_eq!(recs[2].converged_at, Some(Duration::from_secs(6)));
        assert_eq!(recs[3].applied_at, vec![Duration::from_secs(6); r.replica_count()]);
        // Later versions draw their delays as before.
        r.publish("put-role-policy d".into(), Duration::from_secs(7));
        assert_eq!(r.records()[4].applied_at[0], Duration::from_secs(12));
        assert_eq!(r.converge(Duration::from_secs(8)), 1);
        assert_eq!(r.records()[4].applied_at[0], Duration::from_secs(8));
        assert_eq!(r.converge(Duration::from_secs(20)), 0);
    }

    fn with(delay: DelayModel) -> PropagationConfig {
        PropagationConfig {
            replicas: 8,
            delay,
            ..PropagationConfig::default()
        }
    }

    fn uniform(min_ms: u64, max_ms: u64) -> PropagationConfig {
        with(DelayModel::Uniform {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        })
    }

    fn draws(model: &DelayModel, n: u64) -> Vec<Duration> {
        let mut v: Vec<Duration> = (0..n).map(|i| model.draw(rng::derive(5, 99, i))).collect();
        v.sort();
        v
    }

    fn quantile(sorted: &[Duration], q: f64) -> Duration {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
    }

    #[test]
    fn delays_stay_within_the_model_bounds() {
        let mut r = Replicas::new(uniform(1000, 4000), 7);
        let at = Duration::from_secs(10);
        let v = r.publish("grant".into(), at);
        for t in &r.records()[v as usize].applied_at {
            assert!(
                *t >= at + Duration::from_millis(1000) && *t <= at + Duration::from_millis(4000)
            );
        }
    }

    #[test]
    fn same_seed_same_schedule_other_seed_differs() {
        let mut a = Replicas::new(uniform(1000, 4000), 7);
        let mut b = Replicas::new(uniform(1000, 4000), 7);
        let mut c = Replicas::new(uniform(1000, 4000), 8);
        for r in [&mut a, &mut b, &mut c] {
            r.publish("x".into(), Duration::from_secs(1));
        }
        assert_eq!(a.records()[1].applied_at, b.records()[1].applied_at);
        assert_ne!(a.records()[1].applied_at, c.records()[1].applied_at);
    }

    #[test]
    fn a_replica_applies_versions_in_order() {
        let mut r = Replicas::new(uniform(0, 5000), 3);
        r.publish("slow".into(), Duration::from_secs(1));
        r.publish("fast".into(), Duration::from_millis(1001));
        for rep in 0..8 {
            assert!(r.records()[2].applied_at[rep] >= r.records()[1].applied_at[rep]);
        }
    }

    #[test]
    fn version_at_follows_the_schedule() {
        let mut r = Replicas::new(
            PropagationConfig {
                replicas: 2,
                ..with(DelayModel::Fixed(Duration::from_secs(2)))
            },
            1,
        );
        r.publish("v1".into(), Duration::from_secs(5));
        assert_eq!(r.version_at(0, Duration::from_millis(6999)), 0);
        assert_eq!(r.version_at(0, Duration::from_secs(7)), 1);
        assert_eq!(r.version_at(1, Duration::from_secs(100)), 1);
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let model = DelayModel::LogNormal {
            median: Duration::from_secs(3),
            p99: Duration::from_secs(9),
        };
        let d = draws(&model, 20_000);
        let (p50, p99) = (quantile(&d, 0.5), quantile(&d, 0.99));
        assert!(
            p50 > Duration::from_millis(2850) && p50 < Duration::from_millis(3150),
            "{p50:?}"
        );
        assert!(
            p99 > Duration::from_millis(8300) && p99 < Duration::from_millis(9700),
            "{p99:?}"
        );
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.99) - Z_99).abs() < 1e-6);
        assert!((normal_quantile(0.01) + Z_99).abs() < 1e-6);
        assert!((normal_quantile(0.841_344_746) - 1.0).abs() < 1e-6);
        assert!(normal_quantile(0.0).is_finite() && normal_quantile(1.0).is_finite());
    }

    #[test]
    fn a_degenerate_lognormal_is_fixed_and_extreme_tails_are_capped() {
        let fixed = DelayModel::LogNormal {
            median: Duration::from_secs(2),
            p99: Duration::from_secs(2),
        };
        assert!(
            draws(&fixed, 100)
                .iter()
                .all(|d| d.abs_diff(Duration::from_secs(2)) < Duration::from_millis(1))
        );
        let wild = DelayModel::LogNormal {
            median: Duration::from_secs(1),
            p99: Duration::from_secs(1_000_000),
        };
        assert!(draws(&wild, 2000).iter().all(|d| *d <= MAX_DELAY));
    }

    #[test]
    fn empirical_draws_only_its_samples_and_all_of_them() {
        let samples = vec![
            Duration::from_millis(100),
            Duration::from_millis(2000),
            Duration::from_millis(9000),
        ];
        let d = draws(&DelayModel::Empirical(samples.clone()), 3000);
        for s in &samples {
            let n = d.iter().filter(|x| *x == s).count();
            assert!((800..1200).contains(&n), "{s:?} drawn {n} times");
        }
        assert_eq!(d.len(), 3000);
    }

    #[test]
    fn problems_name_the_bad_parameter() {
        let bad = [
            DelayModel::Uniform {
                min: Duration::from_secs(2),
                max: Duration::from_secs(1),
            },
            DelayModel::LogNormal {
                median: Duration::ZERO,
                p99: Duration::from_secs(1),
            },
            DelayModel::LogNormal {
                median: Duration::from_secs(3),
                p99: Duration::from_secs(1),
            },
            DelayModel::Empirical(vec![]),
        ];
        for m in bad {
            assert!(m.problem().is_some(), "{m:?}");
        }
        assert!(DelayModel::Fixed(Duration::ZERO).problem().is_none());
    }

    #[test]
    fn grants_and_revokes_draw_from_their_own_models() {
        let config = PropagationConfig {
            grant_delay: Some(DelayModel::Fixed(Duration::from_secs(1))),
            revoke_delay: Some(DelayModel::Fixed(Duration::from_secs(10))),
            ..with(DelayModel::Fixed(Duration::from_secs(5)))
        };
        let mut r = Replicas::new(config, 1);
        r.publish("PutRolePolicy r/p".into(), Duration::ZERO);
        r.publish("DeleteRolePolicy r/p".into(), Duration::from_secs(100));
        r.publish("UpdateAssumeRolePolicy r".into(), Duration::from_secs(200));
        r.publish_with("x".into(), Duration::from_secs(300), ChangeKind::Revoke);
        let recs = r.records();
        assert_eq!(recs[1].kind, ChangeKind::Grant);
        assert_eq!(recs[1].applied_at[0], Duration::from_secs(1));
        assert_eq!(recs[2].kind, ChangeKind::Revoke);
        assert_eq!(recs[2].applied_at[0], Duration::from_secs(110));
        assert_eq!(recs[3].kind, ChangeKind::Unclassified);
        assert_eq!(recs[3].applied_at[0], Duration::from_secs(205));
        assert_eq!(recs[4].applied_at[0], Duration::from_secs(310));
    }

    #[test]
    fn sticky_routing_keeps_a_key_on_one_replica_and_random_spreads() {
        let key = |seq, connection, principal| RouteKey {
            request_seq: seq,
            connection,
            principal,
        };
        let per = |routing: Routing, f: &dyn Fn(u64) -> RouteKey<'static>| {
            let mut seen: Vec<usize> = (0..64).map(|i| routing.replica(9, 16, &f(i))).collect();
            seen.sort();
            seen.dedup();
            seen.len()
        };
        let arn = "arn:aws:sts::1:assumed-role/r/i-1";
        assert_eq!(
            per(Routing::StickyConnection, &|i| key(i, Some(7), None)),
            1
        );
        assert_eq!(
            per(Routing::StickyInstance, &|i| key(i, None, Some(arn))),
            1
        );
        assert!(per(Routing::Random, &|i| key(i, Some(7), Some(arn))) > 8);
        // Different connections land on different replicas.
        assert!(per(Routing::StickyConnection, &|i| key(0, Some(i), None)) > 8);
        // Without the key it routes by request.
        assert!(per(Routing::StickyInstance, &|i| key(i, None, None)) > 8);
    }
}
