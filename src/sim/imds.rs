//! IMDSv2 for each simulated instance, on its own loopback port: the token
//! flow, `iam/info`, and role credentials issued for the instance profile's
//! role — or `AssumeRoleUnauthorizedAccess` when the role's trust policy
//! does not allow `ec2.amazonaws.com`, as on AWS.
//!
//! Tokens stay valid for their whole TTL: the Rust SDK never fetches a new
//! token after a 401 (`shared/reference/imds-sdk-probe.md` §5).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{Credential, Principal};
use super::clock::iso8601;
use super::iam::authz;
use super::rng;
use super::state::SimState;
use super::throttle::QuotaClass;

const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest token TTL IMDS grants (6 h).
const MAX_TOKEN_TTL_S: u64 = 21_600;
/// Outstanding tokens kept per instance; expired ones are pruned first.
const MAX_TOKENS: usize = 10_000;
/// AWS makes new credentials available at least this long before expiry.
const ROTATE_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// One simulated EC2 instance as IMDS sees it.
pub struct Instance {
    pub id: String,
    pub imds_addr: SocketAddr,
    /// The associated instance profile (None: no role attached).
    pub profile: Mutex<Option<String>>,
    tokens: Mutex<HashMap<String, Instant>>,
    credentials: Mutex<Option<Arc<Credential>>>,
    tokens_issued: std::sync::atomic::AtomicU64,
}

impl Instance {
    pub fn new(id: String, imds_addr: SocketAddr, profile: Option<String>) -> Self {
        Self {
            id,
            imds_addr,
            profile: Mutex::new(profile),
            tokens: Mutex::new(HashMap::new()),
            credentials: Mutex::new(None),
            tokens_issued: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn profile(&self) -> Option<String> {
        self.profile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
    if state
        .throttle
        .check(QuotaClass::Imds, &format!("imds:{}", instance.id))
        .is_err()
    {
        return Ok(status_only(StatusCode::TOO_MANY_REQUESTS));
    }
    let path = req.uri().path().to_owned();
    if req.method() == Method::PUT && path == "/latest/api/token" {
        return Ok(put_token(&state, &instance, &req));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(status_only(StatusCode::METHOD_NOT_ALLOWED));
    }
    if !token_valid(&instance, &req) {
        return Ok(status_only(StatusCode::UNAUTHORIZED));
    }
    Ok(get(&state, &instance, &path))
}

fn put_token(
    state: &SimState,
    instance: &Instance,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if req.headers().contains_key("x-forwarded-for") {
        return status_only(StatusCode::FORBIDDEN);
    }
    let ttl_s = req
        .headers()
        .get(TOKEN_TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TOKEN_TTL_S).contains(t));
    let Some(ttl_s) = ttl_s else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let n = instance
        .tokens_issued
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = rng::derive(
        state.config.seed,
        rng::STREAM_IDS,
        rng::mix64(instance.imds_addr.port() as u64) ^ n,
    );
    let token = format!("AQAEA{:016x}{:016x}==", seed, rng::mix64(seed));
    let now = Instant::now();
    {
        let mut tokens = instance.tokens.lock().unwrap_or_else(|e| e.into_inner());
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

fn token_valid(instance: &Instance, req: &Request<Incoming>) -> bool {
    let Some(token) = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let tokens = instance.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens.get(token).is_some_and(|exp| *exp > Instant::now())
}

/// The role attached through the instance profile, at the control plane.
fn attached_role(state: &SimState, instance: &Instance) -> Option<(String, String, String)> {
    let profile = instance.profile()?;
    let snap = state.iam_read().latest();
    let p = snap.profiles.get(&profile)?;
    let role = p.role.clone()?;
    Some((role, p.arn.clone(), p.id.clone()))
}

fn get(state: &SimState, instance: &Instance, path: &str) -> Response<Full<Bytes>> {
    let rest = path.trim_start_matches("/latest/meta-data");
    match rest {
        "" | "/" => text(
            StatusCode::OK,
            "ami-id\nhostname\niam/\ninstance-id\nlocal-ipv4\n",
        ),
        "/instance-id" => text(StatusCode::OK, instance.id.clone()),
        "/ami-id" => text(StatusCode::OK, "ami-0123456789abcdef0"),
        "/local-ipv4" | "/hostname" => text(StatusCode::OK, "127.0.0.1"),
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
                    credentials_json(state, instance, &role, extended)
                }
                _ => status_only(StatusCode::NOT_FOUND),
            }
        }
    }
}

fn credentials_json(
    state: &SimState,
    instance: &Instance,
    role: &str,
    extended: bool,
) -> Response<Full<Bytes>> {
    let now = SystemTime::now();
    // Like every enforcement decision, the trust check sees a replica's view.
    let trusted = {
        let iam = state.iam_read();
        let seq = instance
            .tokens_issued
            .load(std::sync::atomic::Ordering::Relaxed);
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
        let mut slot = instance
            .credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let fresh = slot.as_ref().filter(|c| {
            matches!(&c.principal, Principal::AssumedRole { role_name, .. } if role_name == role)
                && c.expires_at.is_some_and(|e| e > now + ROTATE_BEFORE_EXPIRY)
        });
        match fresh {
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
    let n = state
        .instances
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .len() as u64;
    let id = format!(
        "i-{:017x}",
        rng::derive(state.config.seed, rng::STREAM_IDS, 1 << 40 | n) >> 4
    );
    let instance = Arc::new(Instance::new(id.clone(), addr, profile));
    state
        .instances
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, instance.clone());
    let (st, inst) = (state.clone(), instance.clone());
    tokio::spawn(super::server::serve(
        listener,
        state.shutdown.clone(),
        move |req| handle(st.clone(), inst.clone(), req),
    ));
    Ok(instance)
}
