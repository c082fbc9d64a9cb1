//! The IAM Query API (`https://iam.amazonaws.com/doc/2010-05-08/`): each
//! action parses its parameters, asks the store, and renders AWS's XML.
//! One module per entity family; `xml` and `params` hold the shared shapes.

mod account;
mod params;
mod policies;
mod profiles;
mod roles;
mod simulate;
mod xml;

use crate::sim::query::{Params, QueryError};
use crate::sim::state::SimState;

/// The IAM actions the double serves.
pub const ACTIONS: &[&str] = &[
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "CreateInstanceProfile",
    "GetInstanceProfile",
    "ListInstanceProfiles",
    "ListInstanceProfilesForRole",
    "AddRoleToInstanceProfile",
    "RemoveRoleFromInstanceProfile",
    "DeleteInstanceProfile",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "GetAccountSummary",
];

/// The resource an IAM action is authorized against.
pub fn resource_arn(state: &SimState, action: &str, params: &Params) -> String {
    let account = &state.config.account_id;
    match action {
        "ListRoles"
        | "ListPolicies"
        | "ListInstanceProfiles"
        | "GetAccountSummary"
        | "SimulateCustomPolicy" => "*".to_owned(),
        "CreateInstanceProfile"
        | "GetInstanceProfile"
        | "DeleteInstanceProfile"
        | "AddRoleToInstanceProfile"
        | "RemoveRoleFromInstanceProfile" => {
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
        "GetPolicy"
        | "DeletePolicy"
        | "CreatePolicyVersion"
        | "GetPolicyVersion"
        | "ListPolicyVersions"
        | "DeletePolicyVersion"
        | "SetDefaultPolicyVersion" => params.get("PolicyArn").unwrap_or("*").to_owned(),
        "SimulatePrincipalPolicy" => params.get("PolicySourceArn").unwrap_or("*").to_owned(),
        _ => format!(
            "arn:aws:iam::{account}:role/{}",
            params.get("RoleName").unwrap_or("*")
        ),
    }
}

/// Runs one IAM action; `Ok` is the inner `<…Result>` XML.
pub fn handle(state: &SimState, action: &str, params: &Params) -> Result<String, QueryError> {
    if let Some(out) = roles::handle(state, action, params)
        .or_else(|| policies::handle(state, action, params))
        .or_else(|| profiles::handle(state, action, params))
    {
        return out;
    }
    match action {
        "SimulatePrincipalPolicy" => simulate::simulate_principal_policy(state, params),
        "SimulateCustomPolicy" => simulate::simulate_custom_policy(params),
        "GetAccountSummary" => Ok(account::get_account_summary(state)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_action_is_handled() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let state = SimState::new(Default::default(), rx);
        let empty = Params::parse(b"", None);
        for action in ACTIONS {
            if let Err(e) = handle(&state, action, &empty) {
                assert_ne!(e.code, "InvalidAction", "{action} is not dispatched");
            }
        }
    }
}
