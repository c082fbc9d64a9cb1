//! Managed policy actions: create/get/list/delete, attachments and
//! versions. A default-version change is an IAM change like any other:
//! enforcement switches as it reaches each replica.

use super::params;
use super::{no_role, xml};
use crate::sim::query::{Params, QueryError, element};
use crate::sim::state::SimState;

fn no_policy(arn: &str) -> QueryError {
    QueryError::new(404, "NoSuchEntity", format!("Policy {arn} was not found."))
}

/// Runs `action` if it is a managed policy action.
pub fn handle(
    state: &SimState,
    action: &str,
    params: &Params,
) -> Option<Result<String, QueryError>> {
    let now = state.clock.elapsed();
    let wall = state.now_wall();
    Some(match action {
        "CreatePolicy" => (|| {
            let name = params.required("PolicyName")?;
            let doc = params.required("PolicyDocument")?;
            let path = params::path(params)?;
            let p = state
                .iam_write()
                .create_policy(name, &path, doc, now, wall)?;
            Ok(xml::policy(&p, &state.iam_read().latest()))
        })(),
        "GetPolicy" => params.required("PolicyArn").and_then(|arn| {
            let snap = state.iam_read().latest();
            let p = snap.policies.get(arn).ok_or_else(|| no_policy(arn))?;
            Ok(xml::policy(p, &snap))
        }),
        "ListPolicies" => list_policies(state, params),
        "DeletePolicy" => params
            .required("PolicyArn")
            .and_then(|arn| state.iam_write().delete_policy(arn, now))
            .map(|()| String::new()),
        "AttachRolePolicy" => (|| {
            let role = params.required("RoleName")?;
            let arn = params.required("PolicyArn")?;
            state.iam_write().attach_role_policy(role, arn, now)?;
            Ok(String::new())
        })(),
        "DetachRolePolicy" => (|| {
            let role = params.required("RoleName")?;
            let arn = params.required("PolicyArn")?;
            state.iam_write().detach_role_policy(role, arn, now)?;
            Ok(String::new())
        })(),
        "ListAttachedRolePolicies" => params.required("RoleName").and_then(|name| {
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members = role
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
            params::page(params, "AttachedPolicies", members)
        }),
        "CreatePolicyVersion" => (|| {
            let arn = params.required("PolicyArn")?;
            let doc = params.required("PolicyDocument")?;
            let set_default = params::bool_param(params, "SetAsDefault")?;
            let v = state
                .iam_write()
                .create_policy_version(arn, doc, set_default, now, wall)?;
            let default_id = if set_default { v.id.as_str() } else { "" };
            Ok(format!(
                "<PolicyVersion>{}</PolicyVersion>",
                xml::version_fields(&v, default_id, false)
            ))
        })(),
        "GetPolicyVersion" => (|| {
            let arn = params.required("PolicyArn")?;
            let id = params.required("VersionId")?;
            let snap = state.iam_read().latest();
            let p = snap.policies.get(arn).ok_or_else(|| no_policy(arn))?;
            let v = p.versions.iter().find(|v| v.id == id).ok_or_else(|| {
                QueryError::new(
                    404,
                    "NoSuchEntity",
                    format!("Policy {arn} version {id} does not exist or is not attachable."),
                )
            })?;
            Ok(format!(
                "<PolicyVersion>{}</PolicyVersion>",
                xml::version_fields(v, &p.default_version_id, true)
            ))
        })(),
        "ListPolicyVersions" => params.required("PolicyArn").and_then(|arn| {
            let snap = state.iam_read().latest();
            let p = snap.policies.get(arn).ok_or_else(|| no_policy(arn))?;
            // Newest first, as AWS lists them.
            let members = p
                .versions
                .iter()
                .rev()
                .map(|v| {
                    format!(
                        "<member>{}</member>",
                        xml::version_fields(v, &p.default_version_id, false)
                    )
                })
                .collect();
            params::page(params, "Versions", members)
        }),
        "DeletePolicyVersion" => (|| {
            let arn = params.required("PolicyArn")?;
            let id = params.required("VersionId")?;
            state.iam_write().delete_policy_version(arn, id, now)?;
            Ok(String::new())
        })(),
        "SetDefaultPolicyVersion" => (|| {
            let arn = params.required("PolicyArn")?;
            let id = params.required("VersionId")?;
            state
                .iam_write()
                .set_default_policy_version(arn, id, now, wall)?;
            Ok(String::new())
        })(),
        _ => return None,
    })
}

/// ListPolicies: `Scope` (`All`, `AWS`, `Local`), `OnlyAttached`,
/// `PathPrefix`, paginated.
fn list_policies(state: &SimState, params: &Params) -> Result<String, QueryError> {
    let scope = params.get("Scope").unwrap_or("All");
    if !matches!(scope, "All" | "AWS" | "Local") {
        return Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
            ),
        ));
    }
    let only_attached = params::bool_param(params, "OnlyAttached")?;
    let prefix = params::path_prefix(params);
    let snap = state.iam_read().latest();
    let members = snap
        .policies
        .values()
        .filter(|p| match scope {
            "AWS" => p.is_aws_managed(),
            "Local" => !p.is_aws_managed(),
            _ => true,
        })
        .filter(|p| !only_attached || snap.attachment_count(&p.arn) > 0)
        .filter(|p| p.path.starts_with(prefix))
        .map(|p| format!("<member>{}</member>", xml::policy_fields(p, &snap)))
        .collect();
    params::page(params, "Policies", members)
}
