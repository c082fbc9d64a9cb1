//! The double's shared state and the one data-plane decision every front
//! end makes: pick a replica, evaluate IAM at its version, log the verdict.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::auth::{Credential, CredentialStore, Principal};
use super::clock::{SimClock, ms};
use super::consistency::{PropagationConfig, RouteKey};
use super::faults::Faults;
use super::iam::authz::{self, AuthzDecision, RequestFacts};
use super::iam::store::IamState;
use super::imds::Instance;
use super::s3::ObjectStore;
use super::throttle::{Quotas, Throttle};
use super::truth::{RequestId, TruthLog, VerdictKind, VerdictParts};

/// The AWS documentation's example key pair: the default administrator
/// credentials of the double (never valid on real AWS).
pub const EXAMPLE_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const EXAMPLE_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Everything the double can be configured with. `Default` is what
/// `iamstorm sim` serves. Its `Debug` redacts the admin secret key.
#[derive(Clone)]
pub struct SimConfig {
    /// Edge listener (S3, STS, IAM, admin API). Port 0 picks a free port.
    pub listen: SocketAddr,
    pub account_id: String,
    pub region: String,
    pub seed: u64,
    pub admin_access_key_id: String,
    pub admin_secret_access_key: String,
    pub propagation: PropagationConfig,
    pub quotas: Quotas,
    /// Lifetime of credentials served by IMDS.
    pub instance_credentials_ttl: Duration,
    /// IMDS mints new credentials this long before the old ones expire
    /// (AWS: "at least five minutes"); capped at half the TTL, so a short
    /// TTL compresses the rotation schedule for tests.
    pub instance_credentials_rotate_before: Duration,
    /// How long after an EC2 association change IMDS starts serving the new
    /// instance profile (assumption: AWS publishes no figure; a reboot
    /// applies it at once).
    pub imds_association_lag: Duration,
    /// Longest IMDS session token TTL granted (AWS: 21,600 s).
    pub imds_token_ttl_max: Duration,
    /// New instances require IMDSv2 tokens (`HttpTokens=required`, the
    /// default of AMIs with `imdsSupport=v2.0`).
    pub imds_http_tokens_required: bool,
    /// New instances' `HttpPutResponseHopLimit` (2 with `imdsSupport=v2.0`).
    pub imds_hop_limit: u8,
    /// How many recent request verdicts the admin API can answer for.
    pub truth_capacity: usize,
    /// Largest object body accepted by PutObject.
    pub max_object_bytes: u64,
    /// Total bytes the in-memory object store may hold.
    pub max_store_bytes: u64,
    /// Smallest multipart part but the last (S3: 5 MiB; lower it in tests).
    pub s3_min_part_bytes: u64,
    /// Largest Query-protocol (STS/IAM) request body.
    pub max_query_body_bytes: usize,
    /// At most this many simulated instances (each has an IMDS listener).
    pub max_instances: usize,
    /// For this long after the double issues session credentials, requests
    /// signed with them fail as an unknown key (`InvalidClientTokenId` /
    /// `InvalidAccessKeyId`), as new keys do on AWS for seconds. Default 0.
    pub new_credential_lag: Duration,
    /// Serve the admin API to non-loopback peers too (default: refuse them).
    pub admin_allow_remote: bool,
    /// Serve the admin API at all (`iamstorm sim --no-admin` closes it once
    /// seeded: [`crate::sim::SimHandle::close_admin`]).
    pub admin_enabled: bool,
    /// At most this many open connections on the edge listener; more wait
    /// in the kernel's accept queue.
    pub max_connections: usize,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("seed", &self.seed)
            .field("admin_access_key_id", &self.admin_access_key_id)
            .field("admin_secret_access_key", &"<redacted>")
            .field("propagation", &self.propagation)
            .field("quotas", &self.quotas)
            .field("instance_credentials_ttl", &self.instance_credentials_ttl)
            .field(
                "instance_credentials_rotate_before",
                &self.instance_credentials_rotate_before,
            )
            .field("imds_association_lag", &self.imds_association_lag)
            .field("imds_token_ttl_max", &self.imds_token_ttl_max)
            .field("imds_http_tokens_required", &self.imds_http_tokens_required)
            .field("imds_hop_limit", &self.imds_hop_limit)
            .field("truth_capacity", &self.truth_capacity)
            .field("max_object_bytes", &self.max_object_bytes)
            .field("max_store_bytes", &self.max_store_bytes)
            .field("s3_min_part_bytes", &self.s3_min_part_bytes)
            .field("max_query_body_bytes", &self.max_query_body_bytes)
            .field("max_instances", &self.max_instances)
            .field("new_credential_lag", &self.new_credential_lag)
            .field("admin_allow_remote", &self.admin_allow_remote)
            .field("admin_enabled", &self.admin_enabled)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            account_id: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            seed: 1,
            admin_access_key_id: EXAMPLE_ACCESS_KEY_ID.to_owned(),
            admin_secret_access_key: EXAMPLE_SECRET_ACCESS_KEY.to_owned(),
            propagation: PropagationConfig::default(),
            quotas: Quotas::default(),
            instance_credentials_ttl: Duration::from_secs(6 * 3600),
            instance_credentials_rotate_before: Duration::from_secs(5 * 60),
            imds_association_lag: Duration::from_secs(5),
            imds_token_ttl_max: Duration::from_secs(21_600),
            imds_http_tokens_required: true,
            imds_hop_limit: 2,
            truth_capacity: 1_000_000,
            max_object_bytes: 64 * 1024 * 1024,
            max_store_bytes: 1024 * 1024 * 1024,
            s3_min_part_bytes: 5 * 1024 * 1024,
            max_query_body_bytes: 1024 * 1024,
            max_instances: 1024,
            new_credential_lag: Duration::ZERO,
            admin_allow_remote: false,
            admin_enabled: true,
            max_connections: crate::sim::server::MAX_CONNECTIONS,
        }
    }
}

pub struct SimState {
    pub config: SimConfig,
    pub clock: SimClock,
    pub creds: CredentialStore,
    pub iam: RwLock<IamState>,
    pub throttle: Throttle,
    pub truth: TruthLog,
    pub objects: ObjectStore,
    pub instances: RwLock<HashMap<String, Arc<Instance>>>,
    pub faults: Faults,
    /// Turns true when the double shuts down; every listener watches it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Whether `/_iamstorm/` is served (starts as `config.admin_enabled`).
    pub admin_open: std::sync::atomic::AtomicBool,
}

/// The outcome of a data-plane authorization, with where it was decided.
pub struct Evaluated {
    pub decision: AuthzDecision,
    pub replica: u16,
    pub version: u64,
}

impl SimState {
    pub fn new(config: SimConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        let creds = CredentialStore::new(config.seed);
        creds.insert(Credential {
            access_key_id: config.admin_access_key_id.clone(),
            secret_access_key: config.admin_secret_access_key.clone(),
            session_token: None,
            expires_at: None,
            principal: Principal::Root {
                account_id: config.account_id.clone(),
                user_arn: format!("arn:aws:iam::{}:root", config.account_id),
            },
        });
        Self {
            clock: SimClock::start(),
            iam: RwLock::new(IamState::new(
                config.account_id.clone(),
                config.propagation.clone(),
                config.seed,
            )),
            throttle: Throttle::new(config.quotas.clone()),
            faults: Faults::new(config.seed),
            truth: TruthLog::new(config.truth_capacity),
            objects: ObjectStore::new(config.max_object_bytes, config.max_store_bytes),
            instances: RwLock::new(HashMap::new()),
            shutdown,
            creds,
            admin_open: std::sync::atomic::AtomicBool::new(config.admin_enabled),
            config,
        }
    }

    pub fn iam_read(&self) -> std::sync::RwLockReadGuard<'_, IamState> {
        self.iam.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn iam_write(&self) -> std::sync::RwLockWriteGuard<'_, IamState> {
        self.iam.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The replica that serves request `id` from `principal`, by the
    /// configured routing (`sim::consistency::Routing`); the connection
    /// comes from the edge (`edge::current_connection`).
    pub fn route(&self, id: RequestId, principal: Option<&Principal>, replicas: usize) -> usize {
        let arn = principal.map(Principal::arn);
        let key = RouteKey {
            request_seq: id.0,
            connection: super::edge::current_connection(),
            principal: arn.as_deref(),
        };
        self.config
            .propagation
            .routing
            .replica(self.config.seed, replicas, &key)
    }

    /// Routes request `id` to a replica ([`SimState::route`]) and
    /// evaluates `action` on `resource` for `principal` at that replica's
    /// IAM version, with the request's own `facts` (resource policy, keys).
    pub fn evaluate(
        &self,
        id: RequestId,
        principal: &Principal,
        action: &str,
        resource: &str,
        facts: &RequestFacts<'_>,
    ) -> Evaluated {
        let now = self.clock.elapsed();
        let iam = self.iam_read();
        let replica = self.route(id, Some(principal), iam.replica_count());
        let (version, snapshot) = iam.at_replica(replica, now);
        drop(iam);
        let decision = if facts.now.is_some() {
            authz::authorize(&snapshot, principal, action, resource, facts)
        } else {
            let timed = RequestFacts {
                now: Some(self.now_wall()),
                ..facts.clone()
            };
            authz::authorize(&snapshot, principal, action, resource, &timed)
        };
        Evaluated {
            decision,
            replica: replica as u16,
            version,
        }
    }

    /// Logs a verdict for the admin API. Each argument is one field of the
    /// verdict; a struct here would only be rebuilt at every call site.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        id: RequestId,
        kind: VerdictKind,
        action: &str,
        principal: Option<&Principal>,
        evaluated: Option<&Evaluated>,
        code: Option<&str>,
        reason: String,
    ) {
        let principal = principal.map(Principal::arn);
        self.truth.record(
            id,
            VerdictParts {
                kind,
                action,
                principal: principal.as_deref(),
                replica: evaluated.map(|e| e.replica),
                version: evaluated.map(|e| e.version),
                code,
                reason: &reason,
                at_ms: ms(self.clock.elapsed()),
            },
        );
    }

    /// The double's wall clock: real time plus any injected clock skew.
    pub fn now_wall(&self) -> SystemTime {
        let skew_ms = self.faults.skew_ms(self.clock.elapsed());
        super::clock::offset(self.clock.now_wall(), skew_ms)
    }

    /// Back to the empty state (`POST /_iamstorm/reset`): no roles,
    /// policies (but the AWS-managed ones), profiles, buckets, instances,
    /// session credentials, faults, quota usage or ground truth. The
    /// administrator key and the configuration stay. Returns the terminated
    /// instances: their IMDS ports close asynchronously
    /// (`Instance::await_closed`).
    pub fn reset(&self) -> Vec<Arc<Instance>> {
        *self.iam_write() = IamState::new(
            self.config.account_id.clone(),
            self.config.propagation.clone(),
            self.config.seed,
        );
        self.objects.clear();
        let instances: Vec<Arc<Instance>> = self
            .instances
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, i)| i)
            .collect();
        for instance in &instances {
            instance.terminate();
        }
        self.creds.retain_long_term();
        self.throttle.clear();
        self.faults.clear();
        self.truth.clear();
        instances
    }
}
