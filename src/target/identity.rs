//! The raw engine's identity cache: one per instance, over the same
//! credentials provider its SDK clients use (IMDS through the SDK's
//! `ImdsCredentialsProvider`), so both engines take credentials down the
//! same path and see the same rotations and failures.
//!
//! Why a cache of our own rather than the SDK's `LazyCache`: the SDK's
//! cache is driven by its orchestrator (`resolve_cached_identity` takes
//! `RuntimeComponents` and a `ConfigBag`, and answers through a boxed
//! future); outside it that is a lot of machinery per request. This one is
//! a read lock and an `Arc` clone on the hot path, and it keeps the SDK
//! cache's rules: refresh `buffer × (1 − jitter)` before expiry (buffer
//! `[sdk] identity_cache_buffer`, default the SDK's 10 s; jitter in
//! [0, 0.5), here fixed per instance), identities without an expiry kept
//! 15 minutes, one load at a time, a load timeout (the SDK's pessimistic
//! one with retries off: 2 × max(connect timeout, 3.1 s)), and a failed
//! load is not cached (the next request tries again).

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;

/// The SDK's default refresh buffer.
pub const DEFAULT_BUFFER: Duration = Duration::from_secs(10);
/// How long an identity without an expiry is kept (the SDK's default).
const DEFAULT_EXPIRATION: Duration = Duration::from_secs(15 * 60);
/// The SDK's default connect timeout, the floor of its load timeout.
const SDK_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Credentials for signing, cached until shortly before they expire.
pub struct CredentialsCache {
    provider: SharedCredentialsProvider,
    /// Refresh this long before expiry (the buffer with its jitter applied).
    refresh_before: Duration,
    load_timeout: Duration,
    current: RwLock<Option<Cached>>,
    /// Held while loading, so concurrent requests share one load.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    identity: Identity,
    /// When it stops being served: expiry − refresh_before.
    refresh_at: SystemTime,
}

impl CredentialsCache {
    /// A cache over `provider`. `jitter_key` picks the instance's jitter
    /// (its instance id), so a fleet does not refresh in lockstep.
    pub fn new(
        provider: SharedCredentialsProvider,
        buffer: Option<Duration>,
        connect_timeout: Duration,
        jitter_key: &str,
    ) -> Self {
        let jitter = jitter_fraction(jitter_key);
        assert!((0.0..0.5).contains(&jitter), "the SDK's jitter range");
        Self {
            provider,
            refresh_before: buffer.unwrap_or(DEFAULT_BUFFER).mul_f64(1.0 - jitter),
            load_timeout: connect_timeout.max(SDK_CONNECT_TIMEOUT) * 2,
            current: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The identity to sign with: the cached one while it is fresh, else a
    /// new one from the provider. A provider failure is the request's
    /// outcome (`credentials_unavailable`), exactly as in the SDK.
    pub async fn identity(&self) -> Result<Identity, CredentialsError> {
        if let Some(identity) = self.fresh(SystemTime::now()) {
            return Ok(identity);
        }
        let _loading = self.loading.lock().await;
        // Another request may have loaded while this one waited.
        if let Some(identity) = self.fresh(SystemTime::now()) {
            return Ok(identity);
        }
        let credentials = match tokio::time::timeout(
            self.load_timeout,
            self.provider.provide_credentials(),
        )
        .await
        {
            Ok(result) => result?,
            Err(_) => return Err(CredentialsError::provider_timed_out(self.load_timeout)),
        };
        let now = SystemTime::now();
        let expiry = credentials.expiry().unwrap_or(now + DEFAULT_EXPIRATION);
        let identity = Identity::from(credentials);
        let cached = Cached {
            identity: identity.clone(),
            refresh_at: expiry
                .checked_sub(self.refresh_before)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(cached);
        Ok(identity)
    }

    fn fresh(&self, now: SystemTime) -> Option<Identity> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.identity.clone())
    }
}

/// A fraction in [0, 0.5) from `key` (FNV-1a, a splitmix64 finalizer so
/// the top bits depend on every byte, then the top 52 bits).
fn jitter_fraction(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 12) as f64 / (1u64 << 52) as f64 * 0.5
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::future::ProvideCredentials as ProvideFuture;

    use super::*;

    /// Hands out key `AKID<n>` on its n-th call, valid for `ttl`, and counts calls.
    #[derive(Debug)]
    struct Rotating {
        calls: Arc<AtomicU32>,
        ttl: Duration,
        fail: bool,
    }

    impl ProvideCredentials for Rotating {
        fn provide_credentials<'a>(&'a self) -> ProvideFuture<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return ProvideFuture::ready(Err(CredentialsError::not_loaded(
                    "could not communicate with IMDS",
                )));
            }
            ProvideFuture::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + self.ttl),
                "test",
            )))
        }
    }

    fn cache(ttl: Duration, buffer: Duration, fail: bool) -> (CredentialsCache, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = SharedCredentialsProvider::new(Rotating {
            calls: calls.clone(),
            ttl,
            fail,
        });
        let cache = CredentialsCache::new(provider, Some(buffer), Duration::from_secs(1), "i-1");
        (cache, calls)
    }

    fn key(identity: &Identity) -> String {
        identity
            .data::<Credentials>()
            .expect("credentials")
            .access_key_id()
            .to_owned()
    }

    #[tokio::test]
    async fn fresh_credentials_are_loaded_once_even_by_concurrent_requests() {
        let (cache, calls) = cache(Duration::from_secs(3600), Duration::from_secs(10), false);
        let got = futures::future::join_all((0..16).map(|_| cache.identity())).await;
        assert!(
            got.iter()
                .all(|g| g.as_ref().map(key).ok() == Some("AKID0".into()))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_inside_the_buffer_are_reloaded() {
        // Valid for 5 s, refreshed 10 × (0.5..1) s early: stale on arrival,
        // so every request loads again — the SDK's rule too.
        let (cache, calls) = cache(Duration::from_secs(5), Duration::from_secs(10), false);
        let first = cache.identity().await.expect("loads");
        let second = cache.identity().await.expect("loads");
        assert_eq!(
            (key(&first), key(&second)),
            ("AKID0".into(), "AKID1".into())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_is_the_error_and_is_not_cached() {
        let (cache, calls) = cache(Duration::from_secs(3600), Duration::from_secs(10), true);
        for _ in 0..2 {
            let e = cache.identity().await.expect_err("no credentials");
            assert_eq!(
                crate::observe::classify::credentials_detail(&e),
                "imds_unreachable"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn jitter_is_in_the_sdk_range_and_spreads() {
        let fractions: Vec<f64> = (0..64)
            .map(|i| jitter_fraction(&format!("i-{i:017x}")))
            .collect();
        assert!(fractions.iter().all(|f| (0.0..0.5).contains(f)));
        let low = fractions.iter().filter(|f| **f < 0.25).count();
        assert!((16..=48).contains(&low), "{low} of 64 below 0.25");
    }
}
