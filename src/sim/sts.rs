//! The STS Query API (`https://sts.amazonaws.com/doc/2011-06-15/`):
//! `GetCallerIdentity` and `AssumeRole` (trust policy checked at the
//! caller's replica, like every enforcement decision).

use std::time::Duration;

use super::auth::Principal;
use super::clock::iso8601;
use super::iam::authz;
use super::query::{Params, QueryError, element};
use super::state::SimState;
use super::truth::RequestId;

pub const ACTIONS: &[&str] = &["GetCallerIdentity", "AssumeRole"];

/// The resource an STS action is authorized against (`None`: never denied,
/// as `sts:GetCallerIdentity` is not subject to policy).
pub fn resource_arn(action: &str, params: &Params) -> Option<String> {
    match action {
        "GetCallerIdentity" => None,
        _ => Some(params.get("RoleArn").unwrap_or("*").to_owned()),
    }
}

/// The `UserId` AWS reports: the account id for root, `ROLEID:session` for sessions.
fn user_id(state: &SimState, principal: &Principal) -> String {
    match principal {
        Principal::Root { account_id, .. } => account_id.clone(),
        Principal::AssumedRole {
            role_name,
            session_name,
            ..
        } => {
            let snap = state.iam_read().latest();
            let role_id = snap
                .roles
                .get(role_name)
                .map(|r| r.role_id.clone())
                .unwrap_or_default();
            format!("{role_id}:{session_name}")
        }
    }
}

/// Runs one STS action; `Ok` is the inner `<…Result>` XML.
pub fn handle(
    state: &SimState,
    id: RequestId,
    action: &str,
    params: &Params,
    principal: &Principal,
) -> Result<String, QueryError> {
    match action {
        "GetCallerIdentity" => Ok(format!(
            "{}{}{}",
            element("Arn", &principal.arn()),
            element("UserId", &user_id(state, principal)),
            element("Account", principal.account_id()),
        )),
        "AssumeRole" => assume_role(state, id, params, principal),
        other => Err(QueryError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

fn assume_role(
    state: &SimState,
    id: RequestId,
    params: &Params,
    caller: &Principal,
) -> Result<String, QueryError> {
    let role_arn = params.required("RoleArn")?;
    let session_name = params.required("RoleSessionName")?;
    if session_name.len() < 2
        || session_name.len() > 64
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2..=64"
            ),
        ));
    }
    let duration_s: u64 = match params.get("DurationSeconds") {
        None => 3600,
        Some(s) => s
            .parse()
            .ok()
            .filter(|d| (900..=43_200).contains(d))
            .ok_or_else(|| QueryError::new(400, "ValidationError", format!("1 validation error detected: Value '{s}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")))?,
    };
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    let (_, snapshot) = {
        let iam = state.iam_read();
        let replica = state.route(id, Some(caller), iam.replica_count());
        iam.at_replica(replica, state.clock.elapsed())
    };
    let not_authorized = || {
        QueryError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn()
            ),
        )
    };
    let role = snapshot
        .roles
        .get(role_name)
        .filter(|r| r.arn == role_arn)
        .ok_or_else(not_authorized)?;
    if !authz::trust_allows_principal(role, caller) {
        return Err(not_authorized());
    }
    let expires_at = state.now_wall() + Duration::from_secs(duration_s);
    let principal = Principal::AssumedRole {
        account_id: state.config.account_id.clone(),
        role_name: role.name.clone(),
        session_name: session_name.to_owned(),
    };
    let arn = principal.arn();
    let cred = state.creds.issue_session(principal, expires_at);
    Ok(format!(
        "<AssumedRoleUser>{}{}</AssumedRoleUser><Credentials>{}{}{}{}</Credentials>",
        element("AssumedRoleId", &format!("{}:{session_name}", role.role_id)),
        element("Arn", &arn),
        element("AccessKeyId", &cred.access_key_id),
        element("SecretAccessKey", &cred.secret_access_key),
        element(
            "SessionToken",
            cred.session_token.as_deref().unwrap_or_default()
        ),
        element("Expiration", &iso8601(expires_at)),
    ))
}
