//! Role actions: create/get/list/delete, trust policy, inline policies,
//! tags and permissions boundaries.

use super::params::{self, member_list};
use super::{no_role, xml};
use crate::sim::iam::store::RoleOptions;
use crate::sim::query::{Params, QueryError, element};
use crate::sim::state::SimState;

/// Runs `action` if it is a role action.
pub fn handle(
    state: &SimState,
    action: &str,
    params: &Params,
) -> Option<Result<String, QueryError>> {
    let now = state.clock.elapsed();
    Some(match action {
        "CreateRole" => create_role(state, params),
        "GetRole" => params.required("RoleName").and_then(|name| {
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            Ok(xml::role(role))
        }),
        "ListRoles" => {
            let snap = state.iam_read().latest();
            let prefix = params::path_prefix(params);
            let members = snap
                .roles
                .values()
                .filter(|r| r.path.starts_with(prefix))
                .map(|r| xml::role_member(r))
                .collect();
            params::page(params, "Roles", members)
        }
        "DeleteRole" => params
            .required("RoleName")
            .and_then(|name| state.iam_write().delete_role(name, now))
            .map(|()| String::new()),
        "UpdateAssumeRolePolicy" => (|| {
            let name = params.required("RoleName")?;
            let doc = params.required("PolicyDocument")?;
            state
                .iam_write()
                .update_assume_role_policy(name, doc, now)?;
            Ok(String::new())
        })(),
        "PutRolePolicy" => (|| {
            let name = params.required("RoleName")?;
            let policy = params.required("PolicyName")?;
            let doc = params.required("PolicyDocument")?;
            state.iam_write().put_role_policy(name, policy, doc, now)?;
            Ok(String::new())
        })(),
        "GetRolePolicy" => get_role_policy(state, params),
        "DeleteRolePolicy" => (|| {
            let name = params.required("RoleName")?;
            let policy = params.required("PolicyName")?;
            state.iam_write().delete_role_policy(name, policy, now)?;
            Ok(String::new())
        })(),
        "ListRolePolicies" => params.required("RoleName").and_then(|name| {
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members = role.inline.keys().map(|k| element("member", k)).collect();
            params::page(params, "PolicyNames", members)
        }),
        "TagRole" => params.required("RoleName").and_then(|name| {
            state
                .iam_write()
                .tag_role(name, &params::tags(params), now)
                .map(|()| String::new())
        }),
        "UntagRole" => params.required("RoleName").and_then(|name| {
            let keys = member_list(params, "TagKeys");
            state
                .iam_write()
                .untag_role(name, &keys, now)
                .map(|()| String::new())
        }),
        "ListRoleTags" => params.required("RoleName").and_then(|name| {
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members = role
                .tags
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<member>{}{}</member>",
                        element("Key", k),
                        element("Value", v)
                    )
                })
                .collect();
            params::page(params, "Tags", members)
        }),
        "PutRolePermissionsBoundary" => (|| {
            let name = params.required("RoleName")?;
            let arn = params.required("PermissionsBoundary")?;
            state
                .iam_write()
                .put_role_permissions_boundary(name, arn, now)?;
            Ok(String::new())
        })(),
        "DeleteRolePermissionsBoundary" => params.required("RoleName").and_then(|name| {
            state
                .iam_write()
                .delete_role_permissions_boundary(name, now)
                .map(|()| String::new())
        }),
        _ => return None,
    })
}

fn create_role(state: &SimState, params: &Params) -> Result<String, QueryError> {
    let name = params.required("RoleName")?;
    let trust = params.required("AssumeRolePolicyDocument")?;
    let path = params::path(params)?;
    let max_session_duration_s = params
        .get("MaxSessionDuration")
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                QueryError::new(
                    400,
                    "ValidationError",
                    format!("1 validation error detected: Value '{s}' at 'maxSessionDuration' failed to satisfy constraint: Member must be a number"),
                )
            })
        })
        .transpose()?;
    let options = RoleOptions {
        max_session_duration_s,
        tags: params::tags(params),
        permissions_boundary: params.get("PermissionsBoundary").map(str::to_owned),
    };
    let role = state.iam_write().create_role(
        name,
        &path,
        trust,
        &options,
        state.clock.elapsed(),
        state.now_wall(),
    )?;
    Ok(xml::role(&role))
}

fn get_role_policy(state: &SimState, params: &Params) -> Result<String, QueryError> {
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
        element("PolicyDocument", &xml::encode_doc(&p.text)),
    ))
}
