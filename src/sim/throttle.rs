//! AWS-shaped request quotas: token buckets per (service, API) — and for S3
//! per bucket and read/write class — refilled at the configured rate.
//!
//! Only the decision lives here (throttle or not, and which bucket); each
//! front end renders it in its own wire shape (`503 SlowDown` for S3,
//! `400 Throttling` for Query APIs, `429` for IMDS, `503
//! RequestLimitExceeded` for EC2).
//!
//! Every default is overridable (SimConfig, scenario `[sim.quotas]`), and
//! single APIs can get their own rate (`api_per_s`, e.g. `sts:AssumeRole`),
//! as AWS runs a bucket per API. A JSON-protocol 429 on demand is a fault
//! rule (`sim::faults`), not a quota.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Requests per second per bucket. Defaults follow AWS's documented or
/// observed figures (see `shared/reference/aws-behavior.md` B.2, B.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// S3 GET/HEAD per prefix. Documented: "at least 5,500 GET/HEAD
    /// requests per second per partitioned prefix" (AWS re:Post, S3 503).
    pub s3_read_per_s: u32,
    /// S3 PUT/COPY/POST/DELETE per prefix. Documented: at least 3,500.
    pub s3_write_per_s: u32,
    /// Each STS API. Observed: ~600/s for AssumeRole per account and
    /// Region (awslabs/mountpoint-s3#1358); AWS publishes no figure.
    pub sts_per_s: u32,
    /// Each IAM API. Assumption: 100/s; AWS publishes no figure, only that
    /// IAM and STS run independent buckets per API.
    pub iam_per_s: u32,
    /// IMDS per instance. Assumption from the documented link-local
    /// allowance of 1,024 packets/s per ENI; AWS publishes no IMDS rate.
    pub imds_per_s: u32,
    /// Credential fetches per second across every instance's IMDS: the
    /// credential service behind them, a shared bottleneck a scale-out
    /// stampede can exhaust (over it IMDS answers `429`, as its per-instance
    /// throttle does). Assumption: AWS publishes no such figure, so it is
    /// off (`None`) unless a scenario models it.
    pub imds_fleet_per_s: Option<u32>,
    /// Per-API overrides by `service:Api` (e.g. `sts:AssumeRole` = 300):
    /// replace the class rate above for that API's bucket. Empty by default.
    pub api_per_s: BTreeMap<String, u32>,
    /// Each EC2 API: refill per second; the bucket holds
    /// [`EC2_BURST_SECONDS`] seconds' worth (AWS's non-mutating actions:
    /// 100 tokens, refilled 20/s).
    pub ec2_per_s: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            s3_read_per_s: 5500,
            s3_write_per_s: 3500,
            sts_per_s: 600,
            iam_per_s: 100,
            imds_per_s: 1024,
            imds_fleet_per_s: None,
            api_per_s: BTreeMap::new(),
            ec2_per_s: 20,
        }
    }
}

/// Which quota a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaClass {
    S3Read,
    S3Write,
    Sts,
    Iam,
    Imds,
    /// The fleet-wide IMDS credential budget: one bucket, only when
    /// [`Quotas::imds_fleet_per_s`] is set.
    ImdsFleet,
    /// EC2 Query API, one bucket per action (`503 RequestLimitExceeded`).
    Ec2,
}

/// The one bucket of [`QuotaClass::ImdsFleet`].
pub const IMDS_FLEET_BUCKET: &str = "imds:fleet-credentials";

/// An EC2 bucket holds this many seconds of refill (100 tokens at 20/s).
pub const EC2_BURST_SECONDS: u32 = 5;

/// Upper bound on distinct buckets, so a client inventing bucket or API
/// names cannot grow the map without limit; past it, requests share one
/// overflow bucket per class.
const MAX_BUCKETS: usize = 4096;

/// The set of token buckets, created on first use.
pub struct Throttle {
    quotas: Quotas,
    buckets: RwLock<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl Throttle {
    pub fn new(quotas: Quotas) -> Self {
        Self {
            quotas,
            buckets: RwLock::new(HashMap::new()),
        }
    }

    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    fn rate(&self, class: QuotaClass) -> u32 {
        match class {
            QuotaClass::S3Read => self.quotas.s3_read_per_s,
            QuotaClass::S3Write => self.quotas.s3_write_per_s,
            QuotaClass::Sts => self.quotas.sts_per_s,
            QuotaClass::Iam => self.quotas.iam_per_s,
            QuotaClass::Imds => self.quotas.imds_per_s,
            QuotaClass::ImdsFleet => self.quotas.imds_fleet_per_s.unwrap_or(u32::MAX),
            QuotaClass::Ec2 => self.quotas.ec2_per_s,
        }
    }

    /// Forgets every bucket's usage (`POST /_iamstorm/reset`).
    pub fn clear(&self) {
        self.buckets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The rate of `key`'s bucket: a per-API override when the key names
    /// one (`service:Api`), else the class rate.
    fn rate_for(&self, class: QuotaClass, key: &str) -> u32 {
        self.quotas
            .api_per_s
            .get(key)
            .copied()
            .unwrap_or_else(|| self.rate(class))
    }

    /// Takes one token from `key`'s bucket. `Err(key)` names the bucket that
    /// ran dry (ground truth for the admin API).
    pub fn check(&self, class: QuotaClass, key: &str) -> Result<(), String> {
        let limiter = self.limiter(class, key);
        limiter.check().map_err(|_| key.to_owned())
    }

    /// Takes one token from the fleet-wide IMDS credential budget; always
    /// `Ok` when no budget is configured. `Err` names the bucket.
    pub fn check_imds_fleet(&self) -> Result<(), String> {
        match self.quotas.imds_fleet_per_s {
            None => Ok(()),
            Some(_) => self.check(QuotaClass::ImdsFleet, IMDS_FLEET_BUCKET),
        }
    }

    fn limiter(&self, class: QuotaClass, key: &str) -> Arc<DefaultDirectRateLimiter> {
        if let Some(l) = self.read_map().get(key) {
            return l.clone();
        }
        let mut map = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        let key = if map.len() >= MAX_BUCKETS {
            format!("{class:?}:overflow")
        } else {
            key.to_owned()
        };
        let rate = NonZeroU32::new(self.rate_for(class, &key)).unwrap_or(NonZeroU32::MIN);
        let mut quota = Quota::per_second(rate);
        if class == QuotaClass::Ec2 {
            let burst =
                rate.saturating_mul(NonZeroU32::new(EC2_BURST_SECONDS).unwrap_or(NonZeroU32::MIN));
            quota = quota.allow_burst(burst);
        }
        map.entry(key)
            .or_insert_with(|| Arc::new(RateLimiter::direct(quota)))
            .clone()
    }

    fn read_map(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<DefaultDirectRateLimiter>>> {
        self.buckets.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_throttles() {
        let t = Throttle::new(Quotas {
            s3_read_per_s: 10,
            ..Quotas::default()
        });
        let allowed = (0..50)
            .filter(|_| t.check(QuotaClass::S3Read, "s3:read:b").is_ok())
            .count();
        // Burst = one second's worth; a few more may refill while the loop runs.
        assert!((10..=12).contains(&allowed), "allowed {allowed}");
        assert_eq!(
            t.check(QuotaClass::S3Read, "s3:read:b"),
            Err("s3:read:b".to_owned())
        );
    }

    #[test]
    fn buckets_are_independent() {
        let t = Throttle::new(Quotas {
            s3_read_per_s: 1,
            ..Quotas::default()
        });
        assert!(t.check(QuotaClass::S3Read, "s3:read:a").is_ok());
        assert!(t.check(QuotaClass::S3Read, "s3:read:b").is_ok());
        assert!(t.check(QuotaClass::S3Read, "s3:read:a").is_err());
    }

    #[test]
    fn the_imds_fleet_budget_is_one_bucket_and_off_by_default() {
        let off = Throttle::new(Quotas::default());
        assert!((0..5000).all(|_| off.check_imds_fleet().is_ok()));
        let t = Throttle::new(Quotas {
            imds_fleet_per_s: Some(5),
            ..Quotas::default()
        });
        let allowed = (0..50).filter(|_| t.check_imds_fleet().is_ok()).count();
        assert!((5..=6).contains(&allowed), "allowed {allowed}");
        assert_eq!(t.check_imds_fleet(), Err(IMDS_FLEET_BUCKET.to_owned()));
        // Per-instance IMDS buckets are untouched by it.
        assert!(t.check(QuotaClass::Imds, "imds:i-1").is_ok());
    }

    #[test]
    fn a_per_api_override_replaces_the_class_rate_for_that_api_only() {
        let t = Throttle::new(Quotas {
            sts_per_s: 1000,
            api_per_s: BTreeMap::from([("sts:AssumeRole".to_owned(), 2)]),
            ..Quotas::default()
        });
        let allowed = |key: &str| {
            (0..20)
                .filter(|_| t.check(QuotaClass::Sts, key).is_ok())
                .count()
        };
        assert!(allowed("sts:AssumeRole") <= 3);
        assert_eq!(allowed("sts:GetCallerIdentity"), 20);
        t.clear();
        assert!(t.check(QuotaClass::Sts, "sts:AssumeRole").is_ok());
    }
}
