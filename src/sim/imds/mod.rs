//! IMDS for each simulated instance, on its own loopback port: the IMDSv2
//! token flow (and IMDSv1 when `HttpTokens=optional`), `iam/info`, and
//! role credentials issued for the associated instance profile's role — or
//! `AssumeRoleUnauthorizedAccess` when the role's trust policy does not
//! allow `ec2.amazonaws.com`, as on AWS.
//!
//! An `Instance` also holds what EC2 knows of it (association, metadata
//! options, launch facts) and its fault knobs (`controls`). Credentials
//! rotate `instance_credentials_rotate_before` ahead of expiry; a reboot
//! drops them so the next fetch mints fresh ones.
//!
//! Credential documents also draw from a fleet-wide budget when one is set
//! (`imds_fleet_per_s`: the credential service every instance shares), so a
//! scale-out stampede can be throttled with `429` while each instance is
//! far below its own quota.
//!
//! Tokens stay valid for their whole TTL, across reboots too: the Rust SDK
//! never fetches a new token after a 401 (`shared/reference/imds-sdk-probe.md`
//! §5), and a simulated instance's application does not restart.

pub mod admin_api;
pub mod association;
pub mod controls;
mod listener;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{Credential, Principal};
use super::clock::iso8601;
use super::iam::authz;
use super::rng;
use super::state::SimState;
use super::throttle::QuotaClass;
use association::{Association, Associations};
use controls::{Controls, OutageMode};

const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest token TTL IMDS grants (6 h).
const MAX_TOKEN_TTL_S: u64 = 21_600;
/// Outstanding tokens kept per instance; expired ones are pruned first.
const MAX_TOKENS: usize = 10_000;
/// Seed stream for IMDS latency jitter.
const STREAM_IMDS_JITTER: u64 = 0x1D5;

/// The instance metadata options EC2 reports and IMDS obeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataOptions {
    /// `HttpTokens=required`: IMDSv1 (no token) is answered 401.
    pub http_tokens_required: bool,
    /// `HttpPutResponseHopLimit` (1..=64). Recorded and reported only: on
    /// loopback there is no IP hop to count.
    pub hop_limit: u8,
    /// `HttpEndpoint=enabled`; disabled IMDS answers 403.
    pub endpoint_enabled: bool,
}

/// What happened at this instance's IMDS, for the admin API.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled_429: AtomicU64,
    /// The part of `throttled_429` the fleet-wide credential budget
    /// (`imds_fleet_per_s`) answered, not this instance's own quota.
    pub fleet_throttled_429: AtomicU64,
    pub unavailable_503: AtomicU64,
    pub unauthorized_401: AtomicU64,
    pub credentials_minted: AtomicU64,
    pub connections_dropped: AtomicU64,
    pub open_connections: AtomicUsize,
}

/// One simulated EC2 instance: EC2's record of it and its IMDS.
pub struct Instance {
    pub id: String,
    pub imds_addr: SocketAddr,
    /// Launch order (0-based), from which seeded ids derive.
    pub index: u64,
    pub private_ip: String,
    pub launched_at: SystemTime,
    pub counters: Counters,
    associations: Mutex<Associations>,
    associations_made: AtomicU64,
    metadata: Mutex<MetadataOptions>,
    controls: Mutex<Controls>,
    limiter: Mutex<Option<Arc<DefaultDirectRateLimiter>>>,
    tokens: Mutex<HashMap<String, Instant>>,
    credentials: Mutex<Option<Arc<Credential>>>,
    tokens_issued: AtomicU64,
    /// Bumped whenever controls change: the accept loop re-reads them.
    wake: tokio::sync::watch::Sender<u64>,
    /// Bumped when a `refuse` outage starts: open connections are dropped.
    kill: tokio::sync::watch::Sender<u64>,
    /// Whether the IMDS port is open (false during a `refuse` outage).
    listening: tokio::sync::watch::Sender<bool>,
    /// Set by `terminate`: the accept loop closes the port and ends.
    terminated: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Instance {
    fn new(state: &SimState, index: u64, imds_addr: SocketAddr, profile: Option<String>) -> Self {
        let id = format!(
            "i-{:017x}",
            rng::derive(state.config.seed, rng::STREAM_IDS, 1 << 40 | index) >> 4
        );
        let host = index + 10;
        let now = Instant::now();
        let instance = Self {
            id,
            imds_addr,
            index,
            private_ip: format!("10.0.{}.{}", (host >> 8) & 0xff, host & 0xff),
            launched_at: SystemTime::now(),
            counters: Counters::default(),
            associations: Mutex::new(Associations::new(None, now)),
            associations_made: AtomicU64::new(0),
            metadata: Mutex::new(MetadataOptions {
                http_tokens_required: state.config.imds_http_tokens_required,
                hop_limit: state.config.imds_hop_limit,
                endpoint_enabled: true,
            }),
            controls: Mutex::new(Controls::default()),
            limiter: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            credentials: Mutex::new(None),
            tokens_issued: AtomicU64::new(0),
            wake: tokio::sync::watch::channel(0).0,
            kill: tokio::sync::watch::channel(0).0,
            listening: tokio::sync::watch::channel(true).0,
            terminated: std::sync::atomic::AtomicBool::new(false),
        };
        if let Some(profile) = profile {
            let a = instance.new_association(state.config.seed, profile);
            *lock(&instance.associations) = Associations::new(Some(a), now);
        }
        instance
    }

    /// A fresh `iip-assoc-…` for `profile`, seeded.
    pub fn new_association(&self, seed: u64, profile: String) -> Association {
        let n = self.associations_made.fetch_add(1, Ordering::Relaxed);
        let v = rng::derive(seed, rng::STREAM_IDS, 2 << 40 | self.index << 20 | n);
        Association {
            id: format!("iip-assoc-{:017x}", v >> 4),
            profile,
            since: SystemTime::now(),
        }
    }

    /// The association EC2 reports.
    pub fn association(&self) -> Option<Association> {
        lock(&self.associations).current().cloned()
    }

    /// The association IMDS serves now (lags EC2 after a change).
    pub fn imds_association(&self) -> Option<Association> {
        lock(&self.associations).imds_view(Instant::now()).cloned()
    }

    /// Changes the association; IMDS follows `lag` later.
    pub fn set_association(&self, next: Option<Association>, lag: Duration) {
        lock(&self.associations).set(next, Instant::now(), lag);
    }

    /// A reboot: IMDS serves the current association at once and drops its
    /// cached credentials, so the next fetch mints fresh ones.
    pub fn reboot(&self) {
        lock(&self.associations).apply_now(Instant::now());
        *lock(&self.credentials) = None;
    }

    pub fn metadata(&self) -> MetadataOptions {
        *lock(&self.metadata)
    }

    pub fn set_metadata(&self, options: MetadataOptions) {
        *lock(&self.metadata) = options;
    }

    pub fn controls(&self) -> Controls {
        lock(&self.controls).clone()
    }

    /// Replaces the fault knobs and wakes the accept loop.
    pub fn set_controls(&self, controls: Controls) {
        let refuse = controls.outage_at(Instant::now()) == Some(OutageMode::Refuse);
        *lock(&self.limiter) = controls
            .rate_per_s
            .and_then(NonZeroU32::new)
            .map(|r| Arc::new(RateLimiter::direct(Quota::per_second(r))));
        *lock(&self.controls) = controls;
        if refuse {
            self.kill.send_modify(|g| *g += 1);
        }
        self.wake.send_modify(|g| *g += 1);
    }

    /// Terminates the instance: its IMDS port closes and open connections
    /// are dropped (`POST /_iamstorm/reset`).
    pub fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        self.kill.send_modify(|g| *g += 1);
        self.wake.send_modify(|g| *g += 1);
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// Waits (at most `timeout`) until the IMDS port is closed.
    pub async fn await_closed(&self, timeout: Duration) -> bool {
        let mut rx = self.listening.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|open| !*open))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits (at most `timeout`) until the port is open or closed as the
    /// controls in force say, so an admin call returns with them applied.
    pub async fn await_listener_settled(&self, timeout: Duration) -> bool {
        let want_open = self.outage(Instant::now()).0 != Some(OutageMode::Refuse);
        let mut rx = self.listening.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|open| *open == want_open))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Every outstanding token expires now: later GETs with them get 401.
    pub fn expire_tokens(&self) -> usize {
        let mut tokens = lock(&self.tokens);
        let n = tokens.len();
        tokens.clear();
        n
    }

    /// The credentials IMDS last served, if any.
    pub fn cached_credentials(&self) -> Option<Arc<Credential>> {
        lock(&self.credentials).clone()
    }

    fn outage(&self, now: Instant) -> (Option<OutageMode>, Option<Instant>) {
        let c = lock(&self.controls);
        (c.outage_at(now), c.outage.and_then(|(_, until)| until))
    }

    /// For the admin API.
    pub fn to_json(&self) -> serde_json::Value {
        let now = Instant::now();
        let m = self.metadata();
        let (current, imds, visible_in_ms) = {
            let a = lock(&self.associations);
            (
                a.current().map(|x| x.profile.clone()),
                a.imds_view(now).map(|x| x.profile.clone()),
                a.visible_at().saturating_duration_since(now).as_millis() as u64,
            )
        };
        let creds = self.cached_credentials();
        let c = &self.counters;
        serde_json::json!({
            "instance_id": self.id,
            "imds_endpoint": format!("http://{}", self.imds_addr),
            "instance_profile": current,
            "imds_instance_profile": imds,
            "imds_association_visible_in_ms": visible_in_ms,
            "metadata_options": {
                "http_tokens": if m.http_tokens_required { "required" } else { "optional" },
                "hop_limit": m.hop_limit,
                "http_endpoint": if m.endpoint_enabled { "enabled" } else { "disabled" },
            },
            "controls": self.controls().to_json(now),
            "credentials": creds.map(|c| serde_json::json!({
                "access_key_id": c.access_key_id,
                "expiration": c.expires_at.map(iso8601),
            })),
            "counters": {
                "requests": c.requests.load(Ordering::Relaxed),
                "throttled_429": c.throttled_429.load(Ordering::Relaxed),
                "fleet_throttled_429": c.fleet_throttled_429.load(Ordering::Relaxed),
                "unavailable_503": c.unavailable_503.load(Ordering::Relaxed),
                "unauthorized_401": c.unauthorized_401.load(Ordering::Relaxed),
                "credentials_minted": c.credentials_minted.load(Ordering::Relaxed),
                "connections_dropped": c.connections_dropped.load(Ordering::Relaxed),
                "open_connections": c.open_connections.load(Ordering::Relaxed),
            },
        })
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    text(
        status,
        Bytes::from(status.canonical_reason().unwrap_or("").to_owned()),
    )
}

/// Handles one IMDS request for `instance`.
pub async fn handle(
    state: Arc<SimState>,
    instance: Arc<Instance>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = instance.counters.requests.fetch_add(1, Ordering::Relaxed);
    let controls = instance.controls();
    let delay = controls.latency
        + if controls.latency_jitter.is_zero() {
            Duration::ZERO
        } else {
            let v = rng::derive(
                state.config.seed,
                STREAM_IMDS_JITTER,
                instance.index << 40 | n,
            );
            controls.latency_jitter.mul_f64(rng::unit_f64(v))
        };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let resp = answer(&state, &instance, &controls, &req);
    let counter = match resp.status() {
        StatusCode::TOO_MANY_REQUESTS => Some(&instance.counters.throttled_429),
        StatusCode::SERVICE_UNAVAILABLE => Some(&instance.counters.unavailable_503),
        StatusCode::UNAUTHORIZED => Some(&instance.counters.unauthorized_401),
        _ => None,
    };
    if let Some(c) = counter {
        c.fetch_add(1, Ordering::Relaxed);
    }
    Ok(resp)
}

fn answer(
    state: &SimState,
    instance: &Instance,
    controls: &Controls,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if controls.outage_at(Instant::now()).is_some() {
        // A `refuse` outage that began while this request was in flight.
        return status_only(StatusCode::SERVICE_UNAVAILABLE);
    }
    let limiter = lock(&instance.limiter).clone();
    let throttled = match limiter {
        Some(l) => l.check().is_err(),
        None => state
            .throttle
            .check(QuotaClass::Imds, &format!("imds:{}", instance.id))
            .is_err(),
    };
    if throttled {
        return status_only(StatusCode::TOO_MANY_REQUESTS);
    }
    let metadata = instance.metadata();
    if !metadata.endpoint_enabled {
        return status_only(StatusCode::FORBIDDEN);
    }
    let path = req.uri().path();
    if req.method() == Method::PUT && path == "/latest/api/token" {
        return put_token(state, instance, controls, req);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return status_only(StatusCode::METHOD_NOT_ALLOWED);
    }
    let token = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    let allowed = match token {
        // IMDSv2: the token must be one we issued and still valid.
        Some(t) => token_valid(instance, t),
        // IMDSv1: only while tokens are optional.
        None => !metadata.http_tokens_required,
    };
    if !allowed {
        return status_only(StatusCode::UNAUTHORIZED);
    }
    get(state, instance, controls, path)
}

fn put_token(
    state: &SimState,
    instance: &Instance,
    controls: &Controls,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if req.headers().contains_key("x-forwarded-for") {
        return status_only(StatusCode::FORBIDDEN);
    }
    let requested_s = req
        .headers()
        .get(TOKEN_TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TOKEN_TTL_S).contains(t));
    let Some(requested_s) = requested_s else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let cap_s = controls
        .token_ttl_max_s
        .unwrap_or(state.config.imds_token_ttl_max.as_secs())
        .max(1);
    let ttl_s = requested_s.min(cap_s);
    let n = instance.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let seed = rng::derive(
        state.config.seed,
        rng::STREAM_IDS,
        rng::mix64(instance.imds_addr.port() as u64) ^ n,
    );
    let token = format!("AQAEA{:016x}{:016x}==", seed, rng::mix64(seed));
    let now = Instant::now();
    {
        let mut tokens = lock(&instance.tokens);
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, exp| *exp > now);
        }
        if tokens.len() >= MAX_TOKENS {
            return status_only(StatusCode::SERVICE_UNAVAILABLE);
        }
        tokens.insert(token.clone(), now + Duration::from_secs(ttl_s));
    }
    let mut resp = text(StatusCode::OK, token);
    if let Ok(v) = http::HeaderValue::from_str(&ttl_s.to_string()) {
        resp.headers_mut().insert(TOKEN_TTL_HEADER, v);
    }
    resp
}

fn token_valid(instance: &Instance, token: &str) -> bool {
    lock(&instance.tokens)
        .get(token)
        .is_some_and(|exp| *exp > Instant::now())
}

/// The role attached through the instance profile IMDS currently serves:
/// (role, profile ARN, profile id), at the control plane.
fn attached_role(state: &SimState, instance: &Instance) -> Option<(String, String, String)> {
    let profile = instance.imds_association()?.profile;
    let snap = state.iam_read().latest();
    let p = snap.profiles.get(&profile)?;
    let role = p.role.clone()?;
    Some((role, p.arn.clone(), p.id.clone()))
}

fn get(
    state: &SimState,
    instance: &Instance,
    controls: &Controls,
    path: &str,
) -> Response<Full<Bytes>> {
    let rest = path.trim_start_matches("/latest/meta-data");
    match rest {
        "" | "/" => text(
            StatusCode::OK,
            "ami-id\nhostname\niam/\ninstance-id\nlocal-ipv4\n",
        ),
        "/instance-id" => text(StatusCode::OK, instance.id.clone()),
        "/ami-id" => text(StatusCode::OK, "ami-0123456789abcdef0"),
        "/local-ipv4" => text(StatusCode::OK, instance.private_ip.clone()),
        "/hostname" => text(
            StatusCode::OK,
            format!("ip-{}.ec2.internal", instance.private_ip.replace('.', "-")),
        ),
        "/iam" | "/iam/" => match attached_role(state, instance) {
            Some(_) => text(StatusCode::OK, "info\nsecurity-credentials/\n"),
            None => status_only(StatusCode::NOT_FOUND),
        },
        "/iam/info" => match attached_role(state, instance) {
            Some((_, arn, id)) => {
                let body = serde_json::json!({
                    "Code": "Success",
                    "LastUpdated": iso8601(SystemTime::now()),
                    "InstanceProfileArn": arn,
                    "InstanceProfileId": id,
                });
                text(StatusCode::OK, body.to_string())
            }
            None => status_only(StatusCode::NOT_FOUND),
        },
        "/iam/security-credentials"
        | "/iam/security-credentials/"
        | "/iam/security-credentials-extended"
        | "/iam/security-credentials-extended/" => match attached_role(state, instance) {
            Some((role, _, _)) => text(StatusCode::OK, role),
            None => status_only(StatusCode::NOT_FOUND),
        },
        other => {
            let (extended, name) =
                if let Some(n) = other.strip_prefix("/iam/security-credentials-extended/") {
                    (true, n)
                } else if let Some(n) = other.strip_prefix("/iam/security-credentials/") {
                    (false, n)
                } else {
                    return status_only(StatusCode::NOT_FOUND);
                };
            match attached_role(state, instance) {
                Some((role, _, _)) if role == name => {
                    credentials_json(state, instance, controls, &role, extended)
                }
                _ => status_only(StatusCode::NOT_FOUND),
            }
        }
    }
}

/// How long before expiry new credentials are minted: the configured lead,
/// at most half the TTL (so a compressed TTL still rotates, not mints per call).
fn rotate_before(state: &SimState) -> Duration {
    state
        .config
        .instance_credentials_rotate_before
        .min(state.config.instance_credentials_ttl / 2)
}

fn credentials_json(
    state: &SimState,
    instance: &Instance,
    controls: &Controls,
    role: &str,
    extended: bool,
) -> Response<Full<Bytes>> {
    // Every instance's credentials come from one credential service: its
    // budget (when modelled) is shared, so a stampede of fresh instances
    // can exhaust it while each instance is far below its own quota.
    if state.throttle.check_imds_fleet().is_err() {
        instance
            .counters
            .fleet_throttled_429
            .fetch_add(1, Ordering::Relaxed);
        return status_only(StatusCode::TOO_MANY_REQUESTS);
    }
    let now = SystemTime::now();
    // Like every enforcement decision, the trust check sees a replica's view.
    let trusted = {
        let iam = state.iam_read();
        let seq = instance.tokens_issued.load(Ordering::Relaxed);
        let replica = (rng::derive(
            state.config.seed,
            rng::STREAM_ROUTING,
            rng::mix64(seq) ^ instance.imds_addr.port() as u64,
        ) % iam.replica_count() as u64) as usize;
        let (_, snap) = iam.at_replica(replica, state.clock.elapsed());
        snap.roles
            .get(role)
            .is_some_and(|r| authz::trust_allows_service(r, "ec2.amazonaws.com"))
    };
    if !trusted {
        let body = serde_json::json!({
            "Code": "AssumeRoleUnauthorizedAccess",
            "Message": format!("EC2 cannot assume the role {role}.  Please see documentation at https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html#troubleshoot_iam-ec2_errors-info-doc."),
            "LastUpdated": iso8601(now),
        });
        return text(StatusCode::OK, body.to_string());
    }
    let cred = {
        let mut slot = lock(&instance.credentials);
        let lead = rotate_before(state);
        let usable = slot.as_ref().filter(|c| {
            matches!(&c.principal, Principal::AssumedRole { role_name, .. } if role_name == role)
                && (controls.stale_credentials || c.expires_at.is_some_and(|e| e > now + lead))
        });
        match usable {
            Some(c) => c.clone(),
            None => {
                let principal = Principal::AssumedRole {
                    account_id: state.config.account_id.clone(),
                    role_name: role.to_owned(),
                    session_name: instance.id.clone(),
                    source_instance_arn: Some(
                        format!(
                            "arn:aws:ec2:{}:{}:instance/{}",
                            state.config.region, state.config.account_id, instance.id
                        )
                        .into(),
                    ),
                    session: Default::default(),
                };
                let c = state
                    .creds
                    .issue_session(principal, now + state.config.instance_credentials_ttl);
                instance
                    .counters
                    .credentials_minted
                    .fetch_add(1, Ordering::Relaxed);
                *slot = Some(c.clone());
                c
            }
        }
    };
    let mut body = serde_json::json!({
        "Code": "Success",
        "LastUpdated": iso8601(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": cred.access_key_id,
        "SecretAccessKey": cred.secret_access_key,
        "Token": cred.session_token,
        "Expiration": cred.expires_at.map(iso8601),
    });
    if extended {
        body["AccountId"] = serde_json::Value::String(state.config.account_id.clone());
    }
    text(StatusCode::OK, body.to_string())
}

/// Looks an instance up by id.
pub fn find(state: &SimState, id: &str) -> Option<Arc<Instance>> {
    state
        .instances
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
}

/// Every instance, in launch order.
pub fn all(state: &SimState) -> Vec<Arc<Instance>> {
    let mut v: Vec<_> = state
        .instances
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    v.sort_by_key(|i| i.index);
    v
}

/// Starts a new instance with its own IMDS listener on 127.0.0.1.
pub async fn launch(
    state: &Arc<SimState>,
    profile: Option<String>,
) -> Result<Arc<Instance>, String> {
    {
        let instances = state.instances.read().unwrap_or_else(|e| e.into_inner());
        if instances.len() >= state.config.max_instances {
            return Err(format!(
                "the double already runs {} instances (max_instances); scale in or raise the limit",
                instances.len()
            ));
        }
    }
    if let Some(p) = &profile
        && !state.iam_read().latest().profiles.contains_key(p)
    {
        return Err(format!(
            "instance profile {p} does not exist; create it with iam:CreateInstanceProfile first"
        ));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("cannot bind an IMDS port on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let instance = {
        let mut instances = state.instances.write().unwrap_or_else(|e| e.into_inner());
        let index = instances.len() as u64;
        let instance = Arc::new(Instance::new(state, index, addr, profile));
        instances.insert(instance.id.clone(), instance.clone());
        instance
    };
    tokio::spawn(listener::serve(state.clone(), instance.clone(), listener));
    Ok(instance)
}
