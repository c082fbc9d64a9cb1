//! Replica propagation model: how a change to IAM state reaches the
//! authorizers that enforce it (AWS: "eventually consistent", seconds with a
//! long tail; reads of IAM state are immediate while enforcement lags).
//!
//! Every change gets a version. Each of N replicas applies version v at
//! `published_at + delay`, where the delay comes from a seeded distribution,
//! and never before it applied v-1 (a replica applies changes in order). A
//! request is evaluated at the version its replica has applied at that
//! instant. Every application time is kept: it is the ground truth the
//! harness measures itself against.

use std::time::Duration;

use super::rng;

/// How long one replica takes to apply one change.
#[derive(Clone, Debug, PartialEq)]
pub enum DelayModel {
    /// Every replica applies after exactly this long.
    Fixed(Duration),
    /// Each (replica, change) draws uniformly from `[min, max]`.
    Uniform { min: Duration, max: Duration },
}

impl DelayModel {
    fn draw(&self, unit: f64) -> Duration {
        match self {
            DelayModel::Fixed(d) => *d,
            DelayModel::Uniform { min, max } => {
                assert!(min <= max, "uniform delay model needs min <= max");
                *min + (*max - *min).mul_f64(unit)
            }
        }
    }
}

/// Configuration of the propagation model.
#[derive(Clone, Debug, PartialEq)]
pub struct PropagationConfig {
    pub replicas: u16,
    pub delay: DelayModel,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        Self {
            replicas: 8,
            delay: DelayModel::Uniform {
                min: Duration::from_millis(1000),
                max: Duration::from_millis(4000),
            },
        }
    }
}

/// One published change and when each replica applied it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionRecord {
    pub version: u64,
    pub label: String,
    /// When the control plane accepted the change (since the double started).
    #[serde(serialize_with = "ser_ms")]
    pub published_at: Duration,
    /// Per replica: when it started enforcing this version.
    #[serde(serialize_with = "ser_ms_vec")]
    pub applied_at: Vec<Duration>,
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
        let n = usize::from(config.replicas);
        Self {
            versions: vec![VersionRecord {
                version: 0,
                label: "initial state".to_owned(),
                published_at: Duration::ZERO,
                applied_at: vec![Duration::ZERO; n],
            }],
            config,
            seed,
        }
    }

    pub fn replica_count(&self) -> usize {
        usize::from(self.config.replicas)
    }

    /// Publishes the next version at `at` and returns it. Delays are a pure
    /// function of (seed, version, replica).
    pub fn publish(&mut self, label: String, at: Duration) -> u64 {
        let version = self.versions.len() as u64;
        let previous = &self.versions[self.versions.len() - 1];
        let applied_at = (0..self.replica_count())
            .map(|r| {
                let v = rng::derive(self.seed, rng::STREAM_PROPAGATION, version << 16 | r as u64);
                let own = at + self.config.delay.draw(rng::unit_f64(v));
                own.max(previous.applied_at[r])
            })
            .collect();
        self.versions.push(VersionRecord {
            version,
            label,
            published_at: at,
            applied_at,
        });
        version
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

    fn uniform(min_ms: u64, max_ms: u64) -> PropagationConfig {
        PropagationConfig {
            replicas: 8,
            delay: DelayModel::Uniform {
                min: Duration::from_millis(min_ms),
                max: Duration::from_millis(max_ms),
            },
        }
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
                delay: DelayModel::Fixed(Duration::from_secs(2)),
            },
            1,
        );
        r.publish("v1".into(), Duration::from_secs(5));
        assert_eq!(r.version_at(0, Duration::from_millis(6999)), 0);
        assert_eq!(r.version_at(0, Duration::from_secs(7)), 1);
        assert_eq!(r.version_at(1, Duration::from_secs(100)), 1);
    }
}
