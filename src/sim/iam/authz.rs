//! The data plane's one question — may this principal do this action on
//! this resource, at this snapshot? — answered with AWS's evaluation and
//! message, plus trust-policy checks for IMDS and `sts:AssumeRole`.
//!
//! Which policies apply to a role session: the role's inline and attached
//! managed policies (identity-based), its permissions boundary, the
//! session's own policies (`AssumeRole`'s `Policy`/`PolicyArns`) and the
//! resource's policy the front end supplies. Which condition keys: the
//! principal-derived ones built here ([`principal_keys`]) plus the
//! request's own from the front end ([`RequestFacts::keys`]).

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::eval::{
    self, ContextKeys, Decision, PolicyRef, PolicyType, RequestContext, TrustPrincipal,
};
use super::policy::{PolicyDocument, PolicyKind, Version};
use super::store::{Role, Snapshot};
use crate::sim::auth::{Principal, SessionPolicy};
use crate::sim::clock::iso8601;

/// Which kind of "no".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyKind {
    Implicit,
    Explicit,
}

/// The policy whose statement decided (allow or explicit deny).
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedPolicy {
    /// Inline policy name or managed policy ARN.
    pub name: String,
    pub policy_type: PolicyType,
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
    /// The deciding policy (`None` for implicit denies and the root).
    pub matched: Option<Box<MatchedPolicy>>,
}

/// What a front end knows about one request beyond who, what and which:
/// the resource's own policy (a bucket policy), the request's condition
/// keys (`aws:SourceIp`, `aws:SecureTransport`, `aws:RequestedRegion`,
/// `s3:prefix`, ...) and the wall-clock time (`aws:CurrentTime`,
/// `aws:EpochTime`; `SimState::evaluate` fills it in when `None`). The
/// principal-derived keys (`aws:PrincipalArn`, ...) are added by
/// [`authorize`] itself.
#[derive(Debug, Default, Clone)]
pub struct RequestFacts<'a> {
    /// The resource-based policy and the name messages give it.
    pub resource_policy: Option<(&'a PolicyDocument, &'a str)>,
    /// Condition keys; a key inserted twice is multi-valued.
    pub keys: Vec<(&'a str, &'a str)>,
    /// The request's time; without it the time keys are absent.
    pub now: Option<SystemTime>,
}

impl RequestFacts<'_> {
    /// No resource policy, no request keys, no time.
    pub const NONE: RequestFacts<'static> = RequestFacts {
        resource_policy: None,
        keys: Vec::new(),
        now: None,
    };
}

/// A session policy ARN that no longer resolves grants nothing (a policy
/// of the type is present, none of it allows): fail closed.
static EMPTY_SESSION_POLICY: LazyLock<PolicyDocument> = LazyLock::new(|| PolicyDocument {
    version: Version::V2012_10_17,
    id: None,
    kind: PolicyKind::Identity,
    statements: Vec::new(),
});

/// The keys AWS derives from the caller, as owned (key, value) pairs.
/// `aws:username` is absent for roles and the root, as on AWS.
pub fn principal_keys(
    snapshot: &Snapshot,
    principal: &Principal,
    now: Option<SystemTime>,
) -> Vec<(String, String)> {
    let mut keys = vec![(
        "aws:PrincipalAccount".to_owned(),
        principal.account_id().to_owned(),
    )];
    match principal {
        Principal::Root {
            account_id,
            user_arn,
        } => {
            keys.push(("aws:PrincipalArn".into(), user_arn.clone()));
            keys.push(("aws:PrincipalType".into(), "Account".into()));
            keys.push(("aws:userid".into(), account_id.clone()));
        }
        Principal::AssumedRole {
            account_id,
            role_name,
            session_name,
            source_instance_arn,
            session,
        } => {
            let role = snapshot.roles.get(role_name);
            // For a role session aws:PrincipalArn is the role's ARN.
            let role_arn = role.map_or_else(
                || format!("arn:aws:iam::{account_id}:role/{role_name}"),
                |r| r.arn.clone(),
            );
            keys.push(("aws:PrincipalArn".into(), role_arn));
            keys.push(("aws:PrincipalType".into(), "AssumedRole".into()));
            let role_id = role.map_or("", |r| r.role_id.as_str());
            keys.push(("aws:userid".into(), format!("{role_id}:{session_name}")));
            let mut tags: std::collections::BTreeMap<&str, &str> = role
                .map(|r| {
                    r.tags
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            // Session tags override role tags with the same key.
            for (k, v) in &session.tags {
                tags.insert(k, v);
            }
            for (k, v) in tags {
                keys.push((format!("aws:PrincipalTag/{k}"), v.to_owned()));
            }
            if let Some(arn) = source_instance_arn {
                keys.push(("ec2:SourceInstanceARN".into(), arn.to_string()));
            }
        }
    }
    if let Some(now) = now {
        keys.push(("aws:CurrentTime".into(), iso8601(now)));
        let epoch_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        keys.push(("aws:EpochTime".into(), epoch_s.to_string()));
    }
    keys
}

/// The session policies of `principal`, resolved at `snapshot`.
fn session_policies<'s>(snapshot: &'s Snapshot, principal: &'s Principal) -> Vec<PolicyRef<'s>> {
    let Principal::AssumedRole { session, .. } = principal else {
        return Vec::new();
    };
    session
        .policies
        .iter()
        .map(|p| match p {
            SessionPolicy::Inline(doc) => PolicyRef {
                document: doc,
                policy_type: PolicyType::Session,
                name: "",
            },
            SessionPolicy::Managed(arn) => PolicyRef {
                document: snapshot
                    .policies
                    .get(arn)
                    .map_or(&*EMPTY_SESSION_POLICY, |m| &*m.doc),
                policy_type: PolicyType::Session,
                name: arn,
            },
        })
        .collect()
}

pub fn authorize(
    snapshot: &Snapshot,
    principal: &Principal,
    action: &str,
    resource: &str,
    facts: &RequestFacts<'_>,
) -> AuthzDecision {
    let principal_arn = principal.arn();
    let mut policies: Vec<PolicyRef<'_>> = Vec::new();
    // The account root needs no identity policy, but an explicit deny in a
    // resource policy still binds it (front ends leave the resource policy
    // out where AWS exempts the root, e.g. S3's Get/Put/DeleteBucketPolicy).
    let is_root = matches!(principal, Principal::Root { .. });
    if let Principal::AssumedRole { role_name, .. } = principal
        && let Some(role) = snapshot.roles.get(role_name)
    {
        // Inline policies are named by name, managed ones by ARN (as
        // AWS's explicit-deny message names them).
        policies.extend(
            role.inline
                .values()
                .map(|p| PolicyRef::identity(&p.doc, &p.name)),
        );
        policies.extend(
            role.attached
                .iter()
                .filter_map(|arn| snapshot.policies.get(arn))
                .map(|p| PolicyRef::identity(&p.doc, &p.arn)),
        );
        if let Some(arn) = &role.permissions_boundary {
            policies.push(PolicyRef {
                document: snapshot
                    .policies
                    .get(arn)
                    .map_or(&*EMPTY_SESSION_POLICY, |p| &*p.doc),
                policy_type: PolicyType::PermissionsBoundary,
                name: arn,
            });
        }
    }
    policies.extend(session_policies(snapshot, principal));
    if let Some((document, name)) = facts.resource_policy {
        policies.push(PolicyRef {
            document,
            policy_type: PolicyType::ResourceBased,
            name,
        });
    }
    // The context keys (a dozen owned strings) only matter to conditions
    // and policy variables; most requests' policies have neither.
    let reads_keys = policies.iter().any(|p| p.document.reads_context_keys());
    let derived = if reads_keys {
        principal_keys(snapshot, principal, facts.now)
    } else {
        Vec::new()
    };
    let mut ctx = RequestContext::new(&principal_arn, action, resource);
    for (key, value) in &derived {
        ctx.keys.insert(key, value);
    }
    if reads_keys {
        for (key, value) in &facts.keys {
            ctx.keys.insert(key, value);
        }
    }
    let decision = eval::evaluate(&policies, &ctx);
    if is_root && !matches!(decision, Decision::ExplicitDeny(_)) {
        return AuthzDecision {
            deny: None,
            reason: "account root".to_owned(),
            message: String::new(),
            matched: None,
        };
    }
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
        matched: decision.statement().map(|m| {
            Box::new(MatchedPolicy {
                name: m.policy_name.to_owned(),
                policy_type: m.policy_type,
            })
        }),
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

/// Whether `caller` may perform `action` (`sts:AssumeRole`,
/// `sts:TagSession`) on `role` under its trust policy, with the request's
/// `keys` (`sts:ExternalId`, `aws:RequestTag/*`, ...) and the caller's own
/// keys (`aws:PrincipalArn`, `aws:PrincipalTag/*`, ...). The root of the
/// same account is trusted only when the trust policy names the account
/// or the caller.
pub fn trust_allows_principal(
    snapshot: &Snapshot,
    role: &Role,
    caller: &Principal,
    action: &str,
    keys: &[(&str, &str)],
    now: Option<SystemTime>,
) -> bool {
    let arn = caller.arn();
    let derived = principal_keys(snapshot, caller, now);
    let mut ctx = ContextKeys::new();
    for (k, v) in &derived {
        ctx.insert(k, v);
    }
    for (k, v) in keys {
        ctx.insert(k, v);
    }
    eval::trust_allows(
        &role.trust,
        &TrustPrincipal::Aws {
            arn: &arn,
            account: caller.account_id(),
        },
        action,
        &ctx,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::sim::auth::SessionContext;
    use crate::sim::consistency::{DelayModel, PropagationConfig};
    use crate::sim::iam::store::{IamState, RoleOptions};

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    fn snapshot() -> Arc<Snapshot> {
        let mut iam = IamState::new(
            "123456789012".to_owned(),
            PropagationConfig {
                replicas: 1,
                delay: DelayModel::Fixed(Duration::ZERO),
                ..PropagationConfig::default()
            },
            1,
        );
        let options = RoleOptions {
            tags: vec![
                ("team".to_owned(), "red".to_owned()),
                ("cost".to_owned(), "42".to_owned()),
            ],
            ..RoleOptions::default()
        };
        iam.create_role("r", "/svc/", TRUST, &options, Duration::ZERO, UNIX_EPOCH)
            .expect("role");
        iam.latest()
    }

    #[test]
    fn principal_keys_for_a_role_session() {
        let snap = snapshot();
        let role_id = snap.roles["r"].role_id.clone();
        let principal = Principal::AssumedRole {
            account_id: "123456789012".to_owned(),
            role_name: "r".to_owned(),
            session_name: "i-1".to_owned(),
            source_instance_arn: Some("arn:aws:ec2:us-east-1:123456789012:instance/i-1".into()),
            session: Arc::new(SessionContext {
                policies: Vec::new(),
                tags: vec![("team".to_owned(), "blue".to_owned())],
            }),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let keys: BTreeMap<String, String> = principal_keys(&snap, &principal, Some(now))
            .into_iter()
            .collect();
        let get = |k: &str| keys.get(k).map(String::as_str);
        assert_eq!(
            get("aws:PrincipalArn"),
            Some("arn:aws:iam::123456789012:role/svc/r"),
            "a session's aws:PrincipalArn is its role's ARN"
        );
        assert_eq!(get("aws:PrincipalType"), Some("AssumedRole"));
        assert_eq!(get("aws:userid"), Some(format!("{role_id}:i-1").as_str()));
        assert_eq!(get("aws:username"), None, "roles have no aws:username");
        assert_eq!(
            get("aws:PrincipalTag/team"),
            Some("blue"),
            "session tag wins"
        );
        assert_eq!(get("aws:PrincipalTag/cost"), Some("42"), "role tag kept");
        assert_eq!(
            get("ec2:SourceInstanceARN"),
            Some("arn:aws:ec2:us-east-1:123456789012:instance/i-1")
        );
        assert_eq!(get("aws:EpochTime"), Some("1700000000"));
        assert_eq!(get("aws:CurrentTime"), Some("2023-11-14T22:13:20Z"));
    }

    /// The context keys are skipped for policies that cannot read them;
    /// policies that can still see every key.
    #[test]
    fn context_keys_reach_conditions_and_variables_and_plain_policies_need_none() {
        let with_inline = |doc: &str| {
            let mut snap = (*snapshot()).clone();
            let mut role = (*snap.roles["r"]).clone();
            let doc = crate::sim::iam::policy::parse_policy(
                doc,
                crate::sim::iam::policy::PolicyKind::Identity,
            )
            .expect("policy");
            role.inline.insert(
                "p".to_owned(),
                Arc::new(crate::sim::iam::store::InlinePolicy {
                    name: "p".to_owned(),
                    text: String::new(),
                    doc,
                }),
            );
            snap.roles.insert("r".to_owned(), Arc::new(role));
            snap
        };
        let principal = Principal::role_session("123456789012", "r", "i-1");
        let allowed = |snap: &Snapshot, resource: &str| {
            authorize(
                snap,
                &principal,
                "s3:GetObject",
                resource,
                &RequestFacts::default(),
            )
            .deny
            .is_none()
        };
        // A policy variable: the role's tag team=red.
        let variable = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"}]}"#;
        let snap = with_inline(variable);
        assert!(snap.roles["r"].inline["p"].doc.reads_context_keys());
        assert!(allowed(&snap, "arn:aws:s3:::b/red/x"));
        assert!(!allowed(&snap, "arn:aws:s3:::b/blue/x"));
        // A condition on the same key.
        let condition = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/cost":"42"}}}]}"#;
        let snap = with_inline(condition);
        assert!(snap.roles["r"].inline["p"].doc.reads_context_keys());
        assert!(allowed(&snap, "arn:aws:s3:::b/any"));
        let other = condition.replace("\"42\"", "\"7\"");
        assert!(!allowed(&with_inline(&other), "arn:aws:s3:::b/any"));
        // Neither: no keys are read, and the decision is the same.
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let snap = with_inline(plain);
        assert!(!snap.roles["r"].inline["p"].doc.reads_context_keys());
        assert!(allowed(&snap, "arn:aws:s3:::b/x"));
        assert!(!allowed(&snap, "arn:aws:s3:::c/x"));
    }

    #[test]
    fn missing_managed_session_policy_fails_closed() {
        let snap = snapshot();
        let mut principal = Principal::role_session("123456789012", "r", "s");
        if let Principal::AssumedRole { session, .. } = &mut principal {
            *session = Arc::new(SessionContext {
                policies: vec![SessionPolicy::Managed(
                    "arn:aws:iam::123456789012:policy/deleted".to_owned(),
                )],
                tags: Vec::new(),
            });
        }
        let mut iam_snap = (*snap).clone();
        let admin = iam_snap
            .policies
            .get("arn:aws:iam::aws:policy/AdministratorAccess")
            .expect("seeded")
            .arn
            .clone();
        let mut role = (*iam_snap.roles["r"]).clone();
        role.attached.insert(admin);
        iam_snap.roles.insert("r".to_owned(), Arc::new(role));
        let d = authorize(
            &iam_snap,
            &principal,
            "s3:GetObject",
            "*",
            &RequestFacts::NONE,
        );
        assert_eq!(d.deny, Some(DenyKind::Implicit));
        assert!(
            d.message.contains("because no session policy allows"),
            "{}",
            d.message
        );
    }
}
