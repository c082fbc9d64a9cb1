//! Instance profile actions.

use super::{no_role, params, xml};
use crate::sim::query::{Params, QueryError};
use crate::sim::state::SimState;

fn no_profile(name: &str) -> QueryError {
    QueryError::new(
        404,
        "NoSuchEntity",
        format!("Instance Profile {name} cannot be found."),
    )
}

/// Runs `action` if it is an instance profile action.
pub fn handle(
    state: &SimState,
    action: &str,
    params: &Params,
) -> Option<Result<String, QueryError>> {
    let now = state.clock.elapsed();
    Some(match action {
        "CreateInstanceProfile" => (|| {
            let name = params.required("InstanceProfileName")?;
            let path = params::path(params)?;
            let p =
                state
                    .iam_write()
                    .create_instance_profile(name, &path, now, state.now_wall())?;
            Ok(format!(
                "<InstanceProfile>{}</InstanceProfile>",
                xml::profile_fields(&p, None)
            ))
        })(),
        "GetInstanceProfile" => params.required("InstanceProfileName").and_then(|name| {
            let snap = state.iam_read().latest();
            let p = snap.profiles.get(name).ok_or_else(|| no_profile(name))?;
            let role = p.role.as_ref().and_then(|r| snap.roles.get(r));
            Ok(format!(
                "<InstanceProfile>{}</InstanceProfile>",
                xml::profile_fields(p, role)
            ))
        }),
        "ListInstanceProfiles" => {
            let snap = state.iam_read().latest();
            let prefix = params::path_prefix(params);
            let members = snap
                .profiles
                .values()
                .filter(|p| p.path.starts_with(prefix))
                .map(|p| {
                    let role = p.role.as_ref().and_then(|r| snap.roles.get(r));
                    format!("<member>{}</member>", xml::profile_fields(p, role))
                })
                .collect();
            params::page(params, "InstanceProfiles", members)
        }
        "ListInstanceProfilesForRole" => params.required("RoleName").and_then(|name| {
            let snap = state.iam_read().latest();
            let role = snap.roles.get(name).ok_or_else(|| no_role(name))?;
            let members = snap
                .profiles
                .values()
                .filter(|p| p.role.as_deref() == Some(name))
                .map(|p| format!("<member>{}</member>", xml::profile_fields(p, Some(role))))
                .collect();
            params::page(params, "InstanceProfiles", members)
        }),
        "AddRoleToInstanceProfile" => (|| {
            let profile = params.required("InstanceProfileName")?;
            let role = params.required("RoleName")?;
            state
                .iam_write()
                .add_role_to_instance_profile(profile, role, now)?;
            Ok(String::new())
        })(),
        "RemoveRoleFromInstanceProfile" => (|| {
            let profile = params.required("InstanceProfileName")?;
            let role = params.required("RoleName")?;
            state
                .iam_write()
                .remove_role_from_instance_profile(profile, role, now)?;
            Ok(String::new())
        })(),
        "DeleteInstanceProfile" => params
            .required("InstanceProfileName")
            .and_then(|name| state.iam_write().delete_instance_profile(name, now))
            .map(|()| String::new()),
        _ => return None,
    })
}
