//! Who is calling: the credential store (long-term keys and the session
//! credentials the double issued through IMDS and STS) and request
//! authentication for the Query-protocol services (STS, IAM).
//!
//! S3 requests are authenticated by `s3s`, which asks this store for the
//! secret (`sim::s3`); STS and IAM requests are verified here with our own
//! SigV4 verifier (`sigv4`), because `s3s` rejects the `iam` scope.

pub mod sigv4;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::rng;

/// The largest clock difference AWS accepts between a request's
/// `x-amz-date` and the server (15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Upper bound on stored session credentials; expired ones are pruned when
/// it is reached, and issuing fails loudly past it (an internal limit, not
/// a client error).
const MAX_SESSIONS: usize = 200_000;

/// Who a key belongs to.
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    /// The account's root / administrator identity: allowed everything, as
    /// AWS's account root is for same-account resources.
    Root {
        account_id: String,
        user_arn: String,
    },
    /// A role session (IMDS instance credentials or `sts:AssumeRole`).
    AssumedRole {
        account_id: String,
        role_name: String,
        session_name: String,
        /// The EC2 instance whose IMDS minted the credentials (supplied to
        /// policies as `ec2:SourceInstanceARN`).
        source_instance_arn: Option<Arc<str>>,
        /// Session policies and tags passed to `AssumeRole`.
        session: Arc<SessionContext>,
    },
}

/// A managed or inline session policy, enforced as `PolicyType::Session`
/// for every request made with the session's credentials.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionPolicy {
    /// `Policy`: the parsed inline document.
    Inline(Arc<crate::sim::iam::policy::PolicyDocument>),
    /// `PolicyArns.member.N.arn`: resolved at each request's IAM snapshot.
    Managed(String),
}

/// What `AssumeRole` attached to a session beyond the role itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionContext {
    pub policies: Vec<SessionPolicy>,
    /// Session tags (`aws:PrincipalTag/*`), overriding the role's tags.
    pub tags: Vec<(String, String)>,
}

impl Principal {
    /// A plain role session: no session policies or tags, no instance.
    pub fn role_session(account_id: &str, role_name: &str, session_name: &str) -> Self {
        Principal::AssumedRole {
            account_id: account_id.to_owned(),
            role_name: role_name.to_owned(),
            session_name: session_name.to_owned(),
            source_instance_arn: None,
            session: Arc::default(),
        }
    }
}

impl Principal {
    /// The ARN AWS reports for this caller (`GetCallerIdentity`, messages).
    pub fn arn(&self) -> String {
        match self {
            Principal::Root { user_arn, .. } => user_arn.clone(),
            Principal::AssumedRole {
                account_id,
                role_name,
                session_name,
                ..
            } => {
                format!("arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}")
            }
        }
    }

    pub fn account_id(&self) -> &str {
        match self {
            Principal::Root { account_id, .. } | Principal::AssumedRole { account_id, .. } => {
                account_id
            }
        }
    }
}

/// One access key and what it is.
#[derive(Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Session credentials carry a token that must accompany every request.
    pub session_token: Option<String>,
    pub expires_at: Option<SystemTime>,
    pub principal: Principal,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Why authentication failed, mapped to each protocol's error code.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthFailure {
    UnknownKey,
    BadSignature(String),
    ExpiredToken,
    InvalidToken,
    Skewed,
    Missing(String),
}

impl AuthFailure {
    /// The Query-protocol (STS/IAM) error: (HTTP status, code, message).
    pub fn query_error(&self) -> (u16, &'static str, String) {
        match self {
            AuthFailure::UnknownKey => (
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".to_owned(),
            ),
            AuthFailure::BadSignature(_) => (
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
            ),
            AuthFailure::ExpiredToken => (
                400,
                "ExpiredToken",
                "The security token included in the request is expired".to_owned(),
            ),
            AuthFailure::InvalidToken => (
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".to_owned(),
            ),
            AuthFailure::Skewed => (
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.".to_owned(),
            ),
            AuthFailure::Missing(what) => (
                403,
                "IncompleteSignature",
                format!("The request signature is incomplete: {what}"),
            ),
        }
    }
}

/// All keys the double knows.
pub struct CredentialStore {
    keys: RwLock<HashMap<String, Arc<Credential>>>,
    seed: u64,
    issued: std::sync::atomic::AtomicU64,
    /// When each session credential was issued (monotonic), for the
    /// new-credential lag (`SimConfig::new_credential_lag`).
    issued_at: RwLock<HashMap<String, Instant>>,
}

impl CredentialStore {
    pub fn new(seed: u64) -> Self {
        Self {
            keys: RwLock::new(HashMap::new()),
            seed,
            issued: std::sync::atomic::AtomicU64::new(0),
            issued_at: RwLock::new(HashMap::new()),
        }
    }

    /// When session credential `access_key_id` was issued; `None` for
    /// long-term keys and unknown ones.
    pub fn issued_at(&self, access_key_id: &str) -> Option<Instant> {
        self.issued_at
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .copied()
    }

    /// Forgets every session credential, keeping long-term keys (reset).
    pub fn retain_long_term(&self) {
        self.write().retain(|_, c| c.session_token.is_none());
        self.issued_at
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn insert(&self, cred: Credential) {
        self.write()
            .insert(cred.access_key_id.clone(), Arc::new(cred));
    }

    pub fn get(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .cloned()
    }

    /// Issues fresh session credentials (`ASIA…`) for a role session.
    pub fn issue_session(&self, principal: Principal, expires_at: SystemTime) -> Arc<Credential> {
        let n = self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let word = |i: u64| rng::derive(self.seed, rng::STREAM_IDS, n << 8 | i);
        let key_id = format!("ASIA{:016X}", word(0));
        let secret = format!("{:016x}{:016x}{:08x}", word(1), word(2), word(3) as u32);
        let token = format!(
            "IQoJb3JpZ2luX2VjE{:016x}{:016x}{:016x}",
            word(4),
            word(5),
            word(6)
        );
        let cred = Arc::new(Credential {
            access_key_id: key_id.clone(),
            secret_access_key: secret,
            session_token: Some(token),
            expires_at: Some(expires_at),
            principal,
        });
        let mut keys = self.write();
        if keys.len() >= MAX_SESSIONS {
            let now = SystemTime::now();
            keys.retain(|_, c| c.expires_at.is_none_or(|e| e > now));
        }
        assert!(
            keys.len() < MAX_SESSIONS,
            "session credential store is full ({MAX_SESSIONS})"
        );
        keys.insert(key_id.clone(), cred.clone());
        let mut issued_at = self.issued_at.write().unwrap_or_else(|e| e.into_inner());
        if issued_at.len() >= keys.len() {
            // Sessions were pruned above: forget their issue times too.
            issued_at.retain(|k, _| keys.contains_key(k));
        }
        issued_at.insert(key_id, Instant::now());
        cred
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Credential>>> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves a key for a request signed at `now`: checks existence,
    /// expiry and the session token. The signature is checked by the caller
    /// (which has the request).
    pub fn resolve(
        &self,
        access_key_id: &str,
        presented_token: Option<&str>,
        now: SystemTime,
    ) -> Result<Arc<Credential>, AuthFailure> {
        let cred = self.get(access_key_id).ok_or(AuthFailure::UnknownKey)?;
        match (&cred.session_token, presented_token) {
            (Some(expected), Some(got)) if constant_time_eq(expected, got) => {}
            (Some(_), _) => return Err(AuthFailure::InvalidToken),
            (None, _) => {}
        }
        if cred.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthFailure::ExpiredToken);
        }
        Ok(cred)
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Authenticates a Query-protocol request (STS, IAM): SigV4 header auth over
/// the raw form body. Returns the credential and the signing scope's service.
pub fn authenticate_query(
    store: &CredentialStore,
    parts: &http::request::Parts,
    body: &[u8],
    now: SystemTime,
) -> Result<(Arc<Credential>, String), AuthFailure> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthFailure::Missing("no Authorization header".to_owned()))?;
    let auth =
        sigv4::parse_authorization(header).map_err(|e| AuthFailure::Missing(e.to_string()))?;
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthFailure::Missing("no x-amz-date header".to_owned()))?;
    let signed_at =
        sigv4::parse_amz_date(amz_date).map_err(|e| AuthFailure::Missing(e.to_string()))?;
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_SKEW {
        return Err(AuthFailure::Skewed);
    }
    let token = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let cred = store.resolve(&auth.access_key_id, token, now)?;
    let payload_sha256_hex = sha256_hex(body);
    let pairs = sigv4::header_pairs(&parts.headers);
    let req = sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &pairs,
        payload_sha256_hex: &payload_sha256_hex,
    };
    sigv4::verify(
        &req,
        &auth,
        &cred.secret_access_key,
        sigv4::UriEncoding::Normalized,
    )
    .map_err(|e| AuthFailure::BadSignature(e.to_string()))?;
    Ok((cred, auth.service))
}

pub fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}
