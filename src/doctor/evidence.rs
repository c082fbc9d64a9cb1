//! What `iamstorm doctor` observed, step by step: plain data gathered by
//! the other `doctor` modules and judged by `verdict`. Every field is what
//! the target answered (or why it could not be asked), never a conclusion;
//! serialised as is under `"evidence"` in `--json`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything one doctor run saw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evidence {
    /// Where the requests went, for humans.
    pub target: String,
    /// The failing request the user named.
    pub action: String,
    pub resource: String,
    pub instance: InstanceEvidence,
    /// Runbook step 4: the IMDS token flow and the credentials it serves.
    pub imds: ImdsEvidence,
    /// Runbook step 1: `sts:GetCallerIdentity` with the instance's credentials.
    pub identity: Option<IdentityEvidence>,
    /// Runbook step 4: which profile is associated, which is expected.
    pub association: AssociationEvidence,
    /// Runbook steps 2 and 3: the role's policies and trust.
    pub role: Option<RoleEvidence>,
    /// Runbook step 1: `iam:SimulatePrincipalPolicy` for the request.
    pub simulation: Option<SimulationEvidence>,
    /// Runbook step 1: the request itself, through the real SDK with the
    /// instance's IMDS credentials.
    pub probe: Option<ProbeEvidence>,
    /// Runbook step 5: a short capped burst of the same request.
    pub burst: Option<BurstEvidence>,
    /// The FAQ: repeated probes while a grant may still be propagating.
    pub propagation: Option<PropagationEvidence>,
}

/// The instance being diagnosed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InstanceEvidence {
    pub instance_id: Option<String>,
    /// The scenario's fleet group, when known.
    pub group: Option<String>,
    pub imds_endpoint: String,
}

/// One HTTP exchange with IMDS.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImdsCall {
    /// `None`: no HTTP answer (refused, timed out).
    pub status: Option<u16>,
    /// The transport error, or a note on the answer.
    pub detail: Option<String>,
    pub latency_ms: f64,
}

impl ImdsCall {
    pub fn ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// The IMDS token flow and credential document, asked directly over HTTP.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImdsEvidence {
    /// `PUT /latest/api/token`.
    pub token_put: Option<ImdsCall>,
    /// Whether the token answer echoed its TTL header (the Rust SDK needs it).
    pub token_ttl_s: Option<u64>,
    /// `GET /latest/meta-data/iam/info` with the token.
    pub info_get: Option<ImdsCall>,
    pub instance_profile_arn: Option<String>,
    /// `GET …/iam/security-credentials/` with the token: the role name.
    pub role_get: Option<ImdsCall>,
    pub role_name: Option<String>,
    /// `GET …/iam/security-credentials/ROLE` with the token.
    pub credentials_get: Option<ImdsCall>,
    /// The document's `Code` (`Success`, `AssumeRoleUnauthorizedAccess`, …).
    pub credentials_code: Option<String>,
    pub credentials_message: Option<String>,
    /// Seconds since IMDS last refreshed them (`LastUpdated`).
    pub credentials_age_s: Option<i64>,
    /// Seconds until `Expiration` (negative: expired).
    pub credentials_expires_in_s: Option<i64>,
    /// A GET without a token: 401 means IMDSv1 is refused (good).
    pub v1_get: Option<ImdsCall>,
}

/// How IMDS failed, when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImdsFailure {
    /// No HTTP answer at all.
    Unreachable,
    /// 429.
    Throttled,
    /// 5xx.
    Unavailable,
    /// 401/403 on the token flow.
    TokenRefused,
}

impl ImdsEvidence {
    /// The first failure of the token flow or credential fetch, with the
    /// call it happened on.
    pub fn failure(&self) -> Option<(ImdsFailure, &'static str, &ImdsCall)> {
        let calls = [
            ("PUT /latest/api/token", &self.token_put),
            ("GET iam/security-credentials/", &self.role_get),
            ("GET iam/security-credentials/ROLE", &self.credentials_get),
        ];
        for (name, call) in calls {
            let Some(call) = call else { continue };
            let kind = match call.status {
                None => ImdsFailure::Unreachable,
                Some(429) => ImdsFailure::Throttled,
                Some(s) if s >= 500 => ImdsFailure::Unavailable,
                Some(401) | Some(403) => ImdsFailure::TokenRefused,
                _ => continue,
            };
            return Some((kind, name, call));
        }
        None
    }

    /// No instance profile: IMDS answers 404 for the role list or iam/info.
    pub fn no_role(&self) -> bool {
        let is_404 = |c: &Option<ImdsCall>| c.as_ref().is_some_and(|c| c.status == Some(404));
        is_404(&self.role_get) || (self.role_get.is_none() && is_404(&self.info_get))
    }
}

/// `sts:GetCallerIdentity` as the instance.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdentityEvidence {
    pub arn: Option<String>,
    pub account: Option<String>,
    /// Outcome class when it failed.
    pub error_class: Option<String>,
    pub error: Option<String>,
}

/// The instance profile association against what was expected.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AssociationEvidence {
    /// From EC2 `DescribeIamInstanceProfileAssociations`, else IMDS `iam/info`.
    pub associated_profile: Option<String>,
    /// `"ec2"` or `"imds"`.
    pub associated_source: Option<String>,
    /// The profile IMDS serves (from `iam/info`).
    pub imds_profile: Option<String>,
    pub expected_profile: Option<String>,
    /// `"--expect-profile"` or `"scenario fleet group GROUP"`.
    pub expected_source: Option<String>,
    /// The expected profile's role.
    pub expected_role: Option<String>,
    /// `SimulatePrincipalPolicy` for the expected role (`allowed`, …).
    pub expected_role_decision: Option<String>,
    /// Why EC2 could not be asked.
    pub ec2_error: Option<String>,
}

impl AssociationEvidence {
    /// `Some(false)` when a profile is expected and another (or none) is associated.
    pub fn matches(&self) -> Option<bool> {
        let expected = self.expected_profile.as_deref()?;
        let actual = self
            .associated_profile
            .as_deref()
            .or(self.imds_profile.as_deref());
        Some(actual == Some(expected))
    }
}

/// One statement of a policy that bears on the request.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StatementMatch {
    /// Where it is: `inline s3-read`, `managed arn:…`, `boundary arn:…`.
    pub policy: String,
    /// 0-based position in the policy's `Statement`.
    pub index: usize,
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// Whether the resource matches too (else only the action does).
    pub resource_matches: bool,
    /// The statement has a `Condition` (evaluated by the target, not here).
    pub has_condition: bool,
    /// The statement's JSON, compact.
    pub text: String,
}

/// A policy document read from the target.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyEvidence {
    /// `inline NAME`, `managed ARN` or `boundary ARN`.
    pub policy: String,
    pub statements: usize,
}

/// The instance's role as IAM's control plane reports it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RoleEvidence {
    pub name: String,
    pub arn: Option<String>,
    /// Runbook step 3: whether an Allow statement lets `ec2.amazonaws.com`
    /// assume it. `None`: the trust policy could not be read.
    pub trust_allows_ec2: Option<bool>,
    pub trust_document: Option<String>,
    pub policies: Vec<PolicyEvidence>,
    /// Statements whose action matches the request (resource too, or not).
    pub statements: Vec<StatementMatch>,
    pub permissions_boundary: Option<String>,
    /// Why (part of) the role could not be read.
    pub read_errors: Vec<String>,
}

/// `iam:SimulatePrincipalPolicy` for the request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimulationEvidence {
    /// `allowed`, `implicitDeny` or `explicitDeny`.
    pub decision: Option<String>,
    /// `SourcePolicyId`s of the matched statements.
    pub matched: Vec<String>,
    pub error: Option<String>,
}

impl SimulationEvidence {
    pub fn is(&self, decision: &str) -> bool {
        self.decision.as_deref() == Some(decision)
    }
}

/// One request through the real SDK with the instance's credentials.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProbeEvidence {
    /// The SDK call made (`None`: the action has no probe; simulation only).
    pub call: Option<String>,
    /// Outcome class (`ok`, `access_denied`, `throttled`, …).
    pub class: Option<String>,
    /// Its sub-reason (`implicit`, `explicit`, `SlowDown`, `trust_failure`, …).
    pub detail: Option<String>,
    /// `Code: message` as the target answered.
    pub error: Option<String>,
    pub request_id: Option<String>,
    pub latency_ms: f64,
}

impl ProbeEvidence {
    pub fn class_is(&self, class: &str) -> bool {
        self.class.as_deref() == Some(class)
    }
}

/// Runbook step 5: classes seen in a short capped burst.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BurstEvidence {
    pub requests: u32,
    pub rate_per_s_target: f64,
    pub duration_ms: f64,
    pub counts: BTreeMap<String, u64>,
    /// Each class's count over the burst's duration.
    pub rate_per_s: BTreeMap<String, f64>,
    /// When each class was first seen, ms from the burst's start.
    pub first_at_ms: BTreeMap<String, f64>,
    /// Error codes / sub-reasons seen, with counts.
    pub details: BTreeMap<String, u64>,
}

impl BurstEvidence {
    pub fn count(&self, class: &str) -> u64 {
        self.counts.get(class).copied().unwrap_or(0)
    }
}

/// The FAQ: did a denied request turn to allowed while waiting?
#[derive(Clone, Debug, Default, Serialize)]
pub struct PropagationEvidence {
    pub wait_limit_ms: u64,
    pub waited_ms: f64,
    pub probes: u32,
    pub denied_probes: u32,
    /// First allowed probe, ms after the wait began (right after the
    /// denied probe).
    pub allowed_after_ms: Option<f64>,
    /// First of the allowed run that ended the wait (no denial after it).
    pub stable_after_ms: Option<f64>,
    /// Denied again after an allow (replicas disagreeing).
    pub flaps: u32,
}
