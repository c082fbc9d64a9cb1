//! The IAM Query API (`https://iam.amazonaws.com/doc/2010-05-08/`): each
//! action parses its parameters, asks the store, and renders AWS's XML.
//! Policy documents in responses are URL-encoded, as IAM returns them.

use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::store::{InstanceProfile, ManagedPolicy, Role};
use crate::sim::clock::iso8601;
use crate::sim::query::{Params, QueryError, element};
use crate::sim::state::SimState;

/// The IAM actions the double serves.
pub const ACTIONS: &[&str] = &[
    "CreateRole",
    "GetRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "CreateInstanceProfile",
    "GetInstanceProfile",
    "AddRoleToInstanceProfile",
    "CreatePolicy",
    "GetPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "SimulatePrincipalPolicy",
];

/// The resource an IAM action is authorized against.
pub fn resource_arn(state: &SimState, action: &str, params: &Params) -> String {
    let account = &state.config.account_id;
    match action {
        "CreateInstanceProfile" | "GetInstanceProfile" => {
            format!(
                "arn:aws:iam::{account}:instance-profile/{}",
                params.get("InstanceProfileName").unwrap_or("*")
            )
        }
        "CreatePolicy" => format!(
            "arn:aws:iam::{account}:policy{}{}",
            params.get("Path").unwrap_or("/"),
            params.get("PolicyName").unwrap_or("*")
        ),
        "GetPolicy" => params.get("PolicyArn").unwrap_or("*").to_owned(),
        "SimulatePrincipalPolicy" => params.get("PolicySourceArn").unwrap_or("*").to_owned(),
        _ => format!(
            "arn:aws:iam::{account}:role/{}",
            params.get("RoleName").unwrap_or("*")
        ),
    }
}

fn encode_doc(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

fn role_xml(r: &Role) -> String {
    format!(
        "<Role>{}{}{}{}{}{}</Role>",
        element("Path", &r.path),
        element("RoleName", &r.name),
        element("RoleId", &r.role_id),
        element("Arn", &r.arn),
        element("CreateDate", &iso8601(r.created)),
        element("AssumeRolePolicyDocument", &encode_doc(&r.trust_text)),
    )
}

fn policy_xml(p: &ManagedPolicy, attachment_count: usize) -> String {
    let created = iso8601(p.created);
    format!(
        "<Policy>{}{}{}{}{}{}{}{}{}{}</Policy>",
        element("PolicyName", &p.name),
        element("PolicyId", &p.policy_id),
        element("Arn", &p.arn),
        element("Path", &p.path),
        element("DefaultVersionId", &p.default_version_id),
        element("AttachmentCount", &attachment_count.to_string()),
        element("PermissionsBoundaryUsageCount", "0"),
        element("IsAttachable", "true"),
        element("CreateDate", &created),
        element("UpdateDate", &created),
    )
}

fn profile_xml(p: &InstanceProfile, role: Option<&Arc<Role>>) -> String {
    let roles = role.map(|r| {
        role_xml(r)
            .replace("<Role>", "<member>")
            .replace("</Role>", "</member>")
    });
    format!(
        "<InstanceProfile>{}{}{}{}{}<Roles>{}</Roles></InstanceProfile>",
        element("Path", &p.path),
        element("InstanceProfileName", &p.name),
        element("InstanceProfileId", &p.id),
        element("Arn", &p.arn),
        element("CreateDate", &iso8601(p.created)),
        roles.unwrap_or_default(),
    )
}

fn path_param(params: &Params) -> Result<String, QueryError> {
    let path = params.get("Path").unwrap_or("/");
    if path.starts_with('/') && path.ends_with('/') && path.len() <= 512 {
        Ok(path.to_owned())
    } else {
        Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "The specified value for path is invalid: {path}. It must begin and end with / and contain only alphanumeric characters and/or / characters."
            ),
        ))
    }
}

/// Runs one IAM action; `Ok` is the inner `<…Result>` XML.
pub fn handle(state: &SimState, action: &str, params: &Params) -> Result<String, QueryError> {
    let now = state.clock.elapsed();
    let wall = state.now_wall();
    match action {
        "CreateRole" => {
            let name = params.required("RoleName")?;
            let trust = params.required("AssumeRolePolicyDocument")?;
            let path = path_param(params)?;
            let role = state
                .iam_write()
                .create_role(name, &path, trust, now, wall)?;
            Ok(role_xml(&role))
        }
        "GetRole" => {
            let name = params.required("RoleName")?;
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            Ok(role_xml(role))
        }
        "UpdateAssumeRolePolicy" => {
            let name = params.required("RoleName")?;
            let doc = params.required("PolicyDocument")?;
            state
                .iam_write()
                .update_assume_role_policy(name, doc, now)?;
            Ok(String::new())
        }
        "PutRolePolicy" => {
            let name = params.required("RoleName")?;
            let policy = params.required("PolicyName")?;
            let doc = params.required("PolicyDocument")?;
            state.iam_write().put_role_policy(name, policy, doc, now)?;
            Ok(String::new())
        }
        "GetRolePolicy" => {
            let name = params.required("RoleName")?;
            let policy = params.required("PolicyName")?;
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let p = role.inline.get(policy).ok_or_else(|| {
                QueryError::new(
                    404,
                    "NoSuchEntity",
                    format!("The role policy with name {policy} cannot be found."),
                )
            })?;
            Ok(format!(
                "{}{}{}",
                element("RoleName", &role.name),
                element("PolicyName", &p.name),
                element("PolicyDocument", &encode_doc(&p.text)),
            ))
        }
        "DeleteRolePolicy" => {
            let name = params.required("RoleName")?;
            let policy = params.required("PolicyName")?;
            state.iam_write().delete_role_policy(name, policy, now)?;
            Ok(String::new())
        }
        "ListRolePolicies" => {
            let name = params.required("RoleName")?;
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members: String = role.inline.keys().map(|k| element("member", k)).collect();
            Ok(format!(
                "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
            ))
        }
        "CreateInstanceProfile" => {
            let name = params.required("InstanceProfileName")?;
            let path = path_param(params)?;
            let p = state
                .iam_write()
                .create_instance_profile(name, &path, now, wall)?;
            Ok(profile_xml(&p, None))
        }
        "GetInstanceProfile" => {
            let name = params.required("InstanceProfileName")?;
            let snap = state.iam_read().latest();
            let p = snap.profiles.get(name).ok_or_else(|| {
                QueryError::new(
                    404,
                    "NoSuchEntity",
                    format!("Instance Profile {name} cannot be found."),
                )
            })?;
            let role = p.role.as_ref().and_then(|r| snap.roles.get(r));
            Ok(profile_xml(p, role))
        }
        "AddRoleToInstanceProfile" => {
            let profile = params.required("InstanceProfileName")?;
            let role = params.required("RoleName")?;
            state
                .iam_write()
                .add_role_to_instance_profile(profile, role, now)?;
            Ok(String::new())
        }
        "CreatePolicy" => {
            let name = params.required("PolicyName")?;
            let doc = params.required("PolicyDocument")?;
            let path = path_param(params)?;
            let p = state
                .iam_write()
                .create_policy(name, &path, doc, now, wall)?;
            Ok(policy_xml(&p, 0))
        }
        "GetPolicy" => {
            let arn = params.required("PolicyArn")?;
            let snap = state.iam_read().latest();
            let p = snap.policies.get(arn).ok_or_else(|| {
                QueryError::new(404, "NoSuchEntity", format!("Policy {arn} was not found."))
            })?;
            Ok(policy_xml(p, snap.attachment_count(arn)))
        }
        "AttachRolePolicy" => {
            let role = params.required("RoleName")?;
            let arn = params.required("PolicyArn")?;
            state.iam_write().attach_role_policy(role, arn, now)?;
            Ok(String::new())
        }
        "DetachRolePolicy" => {
            let role = params.required("RoleName")?;
            let arn = params.required("PolicyArn")?;
            state.iam_write().detach_role_policy(role, arn, now)?;
            Ok(String::new())
        }
        "SimulatePrincipalPolicy" => simulate_principal_policy(state, params),
        "ListAttachedRolePolicies" => {
            let name = params.required("RoleName")?;
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members: String = role
                .attached
                .iter()
                .filter_map(|arn| snap.policies.get(arn))
                .map(|p| {
                    format!(
                        "<member>{}{}</member>",
                        element("PolicyName", &p.name),
                        element("PolicyArn", &p.arn)
                    )
                })
                .collect();
            Ok(format!(
                "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
            ))
        }
        other => Err(QueryError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2010-05-08"),
        )),
    }
}

fn no_role(name: &str) -> QueryError {
    QueryError::new(
        404,
        "NoSuchEntity",
        format!("The role with name {name} cannot be found."),
    )
}

/// `Name.member.1`, `Name.member.2`, … — a Query-protocol list parameter.
fn member_list<'a>(params: &'a Params, name: &str) -> Vec<&'a str> {
    (1..)
        .map_while(|i| params.get(&format!("{name}.member.{i}")))
        .collect()
}

/// The runbook's step 1: how the role's *current* policies (control plane,
/// immediately consistent — unlike enforcement) decide each action on each
/// resource. Only role sources are supported.
fn simulate_principal_policy(state: &SimState, params: &Params) -> Result<String, QueryError> {
    let source = params.required("PolicySourceArn")?;
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
    let role_prefix = format!("arn:aws:iam::{}:role/", state.config.account_id);
    let role_name = source
        .strip_prefix(&role_prefix)
        .and_then(|path| path.rsplit('/').next())
        .ok_or_else(|| QueryError::new(400, "InvalidInput", format!("Invalid ARN {source}: the double simulates role sources (arn:aws:iam::ACCOUNT:role/NAME)")))?;
    let snap = state.iam_read().latest();
    if !snap.roles.contains_key(role_name) {
        return Err(no_role(role_name));
    }
    let principal = crate::sim::auth::Principal::AssumedRole {
        account_id: state.config.account_id.clone(),
        role_name: role_name.to_owned(),
        session_name: "iam-policy-simulation".to_owned(),
    };
    let mut members = String::new();
    for action in &actions {
        for resource in &resources {
            let decision = super::authz::authorize(
                &snap,
                &principal,
                action,
                resource,
                &super::authz::RequestFacts::NONE,
            );
            let verdict = match decision.deny {
                None => "allowed",
                Some(super::authz::DenyKind::Implicit) => "implicitDeny",
                Some(super::authz::DenyKind::Explicit) => "explicitDeny",
            };
            members.push_str(&format!(
                "<member>{}{}{}<MatchedStatements/><MissingContextValues/></member>",
                element("EvalActionName", action),
                element("EvalResourceName", resource),
                element("EvalDecision", verdict),
            ));
        }
    }
    Ok(format!(
        "<EvaluationResults>{members}</EvaluationResults><IsTruncated>false</IsTruncated>"
    ))
}
