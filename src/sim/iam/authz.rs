//! The data plane's one question — may this principal do this action on
//! this resource, at this snapshot? — answered with AWS's evaluation and
//! message, plus trust-policy checks for IMDS and `sts:AssumeRole`. A
//! role's identity-based policies are its inline and attached managed ones.

use super::eval::{
    self, ContextKeys, Decision, PolicyRef, PolicyType, RequestContext, TrustPrincipal,
};
use super::policy::PolicyDocument;
use super::store::{Role, Snapshot};
use crate::sim::auth::Principal;

/// Which kind of "no".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyKind {
    Implicit,
    Explicit,
}

/// The answer, owned (it outlives the snapshot it was computed from).
#[derive(Clone, Debug)]
pub struct AuthzDecision {
    /// `None` when allowed.
    pub deny: Option<DenyKind>,
    /// Ground truth in plain words: which statement allowed or denied.
    pub reason: String,
    /// AWS's AccessDenied message (empty when allowed).
    pub message: String,
}

/// What a front end knows about one request beyond who, what and which:
/// the resource's own policy (a bucket policy) and the request's condition
/// keys (`aws:SourceIp`, `aws:SecureTransport`, `s3:prefix`, ...). The
/// principal-derived keys (`aws:PrincipalArn`, ...) are added by
/// [`authorize`] itself.
#[derive(Debug, Default)]
pub struct RequestFacts<'a> {
    /// The resource-based policy and the name messages give it.
    pub resource_policy: Option<(&'a PolicyDocument, &'a str)>,
    /// Condition keys; a key inserted twice is multi-valued.
    pub keys: Vec<(&'a str, &'a str)>,
}

impl RequestFacts<'_> {
    /// No resource policy, no request keys.
    pub const NONE: RequestFacts<'static> = RequestFacts {
        resource_policy: None,
        keys: Vec::new(),
    };
}

pub fn authorize(
    snapshot: &Snapshot,
    principal: &Principal,
    action: &str,
    resource: &str,
    facts: &RequestFacts<'_>,
) -> AuthzDecision {
    let principal_arn = principal.arn();
    let role_name = match principal {
        Principal::Root { .. } => {
            return AuthzDecision {
                deny: None,
                reason: "account root".to_owned(),
                message: String::new(),
            };
        }
        Principal::AssumedRole { role_name, .. } => role_name,
    };
    let mut policies: Vec<PolicyRef<'_>> = snapshot
        .roles
        .get(role_name)
        .map(|role| {
            // Inline policies are named by name, managed ones by ARN (as
            // AWS's explicit-deny message names them).
            let inline = role
                .inline
                .values()
                .map(|p| PolicyRef::identity(&p.doc, &p.name));
            let managed = role
                .attached
                .iter()
                .filter_map(|arn| snapshot.policies.get(arn))
                .map(|p| PolicyRef::identity(&p.doc, &p.arn));
            inline.chain(managed).collect()
        })
        .unwrap_or_default();
    if let Some((document, name)) = facts.resource_policy {
        policies.push(PolicyRef {
            document,
            policy_type: PolicyType::ResourceBased,
            name,
        });
    }
    let mut ctx = RequestContext::new(&principal_arn, action, resource);
    ctx = ctx
        .with_key("aws:PrincipalArn", &principal_arn)
        .with_key("aws:PrincipalAccount", principal.account_id());
    for (key, value) in &facts.keys {
        ctx.keys.insert(key, value);
    }
    let decision = eval::evaluate(&policies, &ctx);
    let (deny, message) = match decision {
        Decision::Allow(_) => (None, String::new()),
        Decision::ExplicitDeny(_) => (
            Some(DenyKind::Explicit),
            eval::access_denied_message(&principal_arn, action, resource, &decision),
        ),
        Decision::ImplicitDeny { .. } => (
            Some(DenyKind::Implicit),
            eval::access_denied_message(&principal_arn, action, resource, &decision),
        ),
    };
    AuthzDecision {
        deny,
        reason: decision.to_string(),
        message,
    }
}

/// Whether `service` (e.g. `ec2.amazonaws.com`) may assume `role`.
pub fn trust_allows_service(role: &Role, service: &str) -> bool {
    eval::trust_allows(
        &role.trust,
        &TrustPrincipal::Service(service),
        "sts:AssumeRole",
        &ContextKeys::new(),
    )
}

/// Whether `caller` may assume `role` (root of the same account is trusted
/// only when the trust policy names the account or the caller).
pub fn trust_allows_principal(role: &Role, caller: &Principal) -> bool {
    let arn = caller.arn();
    eval::trust_allows(
        &role.trust,
        &TrustPrincipal::Aws {
            arn: &arn,
            account: caller.account_id(),
        },
        "sts:AssumeRole",
        &ContextKeys::new(),
    )
}
