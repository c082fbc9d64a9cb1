//! `SimulatePrincipalPolicy` (the runbook's step 1) and
//! `SimulateCustomPolicy`: the same evaluator as enforcement, run against
//! the control plane's newest snapshot (immediately consistent — unlike
//! enforcement), honouring `ContextEntries`.

use super::no_role;
use super::params::member_list;
use crate::sim::auth::Principal;
use crate::sim::iam::authz::{self, DenyKind, MatchedPolicy, RequestFacts};
use crate::sim::iam::eval::{self, Decision, PolicyRef, PolicyType, RequestContext};
use crate::sim::iam::policy::{PolicyDocument, PolicyKind};
use crate::sim::iam::store::parse_document;
use crate::sim::query::{Params, QueryError, element};
use crate::sim::state::SimState;

/// `ContextEntries.member.N.ContextKeyName` with its
/// `ContextKeyValues.member.M` values, as (key, value) pairs (a key with
/// several values appears several times).
fn context_entries(params: &Params) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some(key) = params.get(&format!("ContextEntries.member.{n}.ContextKeyName")) else {
            break;
        };
        for value in member_list(
            params,
            &format!("ContextEntries.member.{n}.ContextKeyValues"),
        ) {
            out.push((key, value));
        }
    }
    out
}

fn actions_and_resources(params: &Params) -> Result<(Vec<&str>, Vec<&str>), QueryError> {
    let actions = member_list(params, "ActionNames");
    if actions.is_empty() {
        return Err(QueryError::new(
            400,
            "ValidationError",
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut resources = member_list(params, "ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    Ok((actions, resources))
}

/// How AWS labels a matched policy's source.
fn source_type(m: &MatchedPolicy) -> &'static str {
    match m.policy_type {
        PolicyType::IdentityBased if m.name.starts_with("arn:aws:iam::aws:policy/") => {
            "aws-managed"
        }
        PolicyType::IdentityBased if m.name.starts_with("arn:") => "user-managed",
        PolicyType::IdentityBased => "role",
        PolicyType::ResourceBased => "resource",
        _ => "IAM Policy",
    }
}

fn result_member(
    action: &str,
    resource: &str,
    deny: Option<DenyKind>,
    matched: Option<(&str, &str)>,
) -> String {
    let verdict = match deny {
        None => "allowed",
        Some(DenyKind::Implicit) => "implicitDeny",
        Some(DenyKind::Explicit) => "explicitDeny",
    };
    let statements: String = matched
        .map(|(id, kind)| {
            format!(
                "<member>{}{}</member>",
                element("SourcePolicyId", id),
                element("SourcePolicyType", kind)
            )
        })
        .unwrap_or_default();
    format!(
        "<member>{}{}{}<MatchedStatements>{statements}</MatchedStatements><MissingContextValues/></member>",
        element("EvalActionName", action),
        element("EvalResourceName", resource),
        element("EvalDecision", verdict),
    )
}

fn results(members: String) -> String {
    format!("<EvaluationResults>{members}</EvaluationResults><IsTruncated>false</IsTruncated>")
}

/// How the role's current policies (identity, boundary) decide each
/// action on each resource. Only role sources are supported.
pub fn simulate_principal_policy(state: &SimState, params: &Params) -> Result<String, QueryError> {
    let source = params.required("PolicySourceArn")?;
    let (actions, resources) = actions_and_resources(params)?;
    let role_prefix = format!("arn:aws:iam::{}:role/", state.config.account_id);
    let role_name = source
        .strip_prefix(&role_prefix)
        .and_then(|path| path.rsplit('/').next())
        .ok_or_else(|| QueryError::new(400, "InvalidInput", format!("Invalid ARN {source}: the double simulates role sources (arn:aws:iam::ACCOUNT:role/NAME)")))?;
    let snap = state.iam_read().latest();
    if !snap.roles.contains_key(role_name) {
        return Err(no_role(role_name));
    }
    let principal =
        Principal::role_session(&state.config.account_id, role_name, "iam-policy-simulation");
    let facts = RequestFacts {
        keys: context_entries(params),
        now: Some(state.now_wall()),
        ..RequestFacts::default()
    };
    let mut members = String::new();
    for action in &actions {
        for resource in &resources {
            let d = authz::authorize(&snap, &principal, action, resource, &facts);
            let matched = d
                .matched
                .as_ref()
                .map(|m| (m.name.as_str(), source_type(m)));
            members.push_str(&result_member(action, resource, d.deny, matched));
        }
    }
    Ok(results(members))
}

/// Parses `Name.member.N` policy documents, named `Name.N` as AWS's
/// `SourcePolicyId` names them.
fn input_policies(
    params: &Params,
    list: &str,
) -> Result<Vec<(String, PolicyDocument)>, QueryError> {
    member_list(params, list)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            Ok((
                format!("{list}.{}", i + 1),
                parse_document(text, PolicyKind::Identity)?,
            ))
        })
        .collect()
}

/// Evaluates the given identity policies (and optional boundary policies)
/// for each action and resource.
pub fn simulate_custom_policy(params: &Params) -> Result<String, QueryError> {
    let identity = input_policies(params, "PolicyInputList")?;
    if identity.is_empty() {
        return Err(QueryError::new(
            400,
            "ValidationError",
            "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
        ));
    }
    let boundary = input_policies(params, "PermissionsBoundaryPolicyInputList")?;
    let (actions, resources) = actions_and_resources(params)?;
    let caller = params.get("CallerArn").unwrap_or("");
    let keys = context_entries(params);
    let policies: Vec<PolicyRef<'_>> = identity
        .iter()
        .map(|(name, doc)| PolicyRef::identity(doc, name))
        .chain(boundary.iter().map(|(name, doc)| PolicyRef {
            document: doc,
            policy_type: PolicyType::PermissionsBoundary,
            name,
        }))
        .collect();
    let mut members = String::new();
    for action in &actions {
        for resource in &resources {
            let mut ctx = RequestContext::new(caller, action, resource);
            for (k, v) in &keys {
                ctx.keys.insert(k, v);
            }
            let decision = eval::evaluate(&policies, &ctx);
            let (deny, matched) = match decision {
                Decision::Allow(m) => (None, Some(m)),
                Decision::ExplicitDeny(m) => (Some(DenyKind::Explicit), Some(m)),
                Decision::ImplicitDeny { .. } => (Some(DenyKind::Implicit), None),
            };
            let matched = matched.map(|m| (m.policy_name, "IAM Policy"));
            members.push_str(&result_member(action, resource, deny, matched));
        }
    }
    Ok(results(members))
}
