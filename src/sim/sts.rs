//! The STS Query API (`https://sts.amazonaws.com/doc/2011-06-15/`):
//! `GetCallerIdentity`, `GetSessionToken` and `AssumeRole` with session
//! policies (`Policy`, `PolicyArns`), `DurationSeconds`, `ExternalId` and
//! session `Tags`. The trust policy is checked at the caller's replica,
//! like every enforcement decision; session policies and tags travel with
//! the issued credentials and apply to every request made with them.

use std::sync::Arc;
use std::time::Duration;

use super::auth::{Principal, SessionContext, SessionPolicy};
use super::clock::iso8601;
use super::iam::authz;
use super::iam::policy::{self, PolicyKind};
use super::iam::store::Snapshot;
use super::query::{Params, QueryError, element};
use super::state::SimState;
use super::truth::RequestId;

pub const ACTIONS: &[&str] = &["GetCallerIdentity", "AssumeRole", "GetSessionToken"];

/// AWS's limit on the plaintext of session policies and tags together,
/// reported as `PackedPolicySize` percent. AWS packs them into a
/// compressed binary form; the double counts characters without
/// whitespace (an approximation: the percentages differ from AWS's).
pub const MAX_PACKED_CHARS: usize = 2048;
/// At most this many `PolicyArns` and session `Tags` (AWS's limits).
pub const MAX_POLICY_ARNS: usize = 10;
pub const MAX_SESSION_TAGS: usize = 50;
/// Role chaining caps sessions at one hour.
pub const ROLE_CHAINING_MAX_S: u64 = 3600;
/// `GetSessionToken` with root credentials: 900..=3600 s, default 3600.
pub const ROOT_SESSION_MAX_S: u64 = 3600;

/// The resource an STS action is authorized against (`None`: never denied,
/// as `sts:GetCallerIdentity` and `sts:GetSessionToken` are not subject to
/// policy).
pub fn resource_arn(action: &str, params: &Params) -> Option<String> {
    match action {
        "GetCallerIdentity" | "GetSessionToken" => None,
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
        "GetSessionToken" => get_session_token(state, params, principal),
        other => Err(QueryError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

fn validation(message: impl Into<String>) -> QueryError {
    QueryError::new(400, "ValidationError", message)
}

/// `DurationSeconds` within AWS's model bounds (900..=43200), or `default`.
fn duration_param(params: &Params, default: u64) -> Result<u64, QueryError> {
    match params.get("DurationSeconds") {
        None => Ok(default),
        Some(s) => s
            .parse()
            .ok()
            .filter(|d| (900..=43_200).contains(d))
            .ok_or_else(|| validation(format!("1 validation error detected: Value '{s}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"))),
    }
}

fn credentials_xml(cred: &crate::sim::auth::Credential) -> String {
    format!(
        "<Credentials>{}{}{}{}</Credentials>",
        element("AccessKeyId", &cred.access_key_id),
        element("SecretAccessKey", &cred.secret_access_key),
        element(
            "SessionToken",
            cred.session_token.as_deref().unwrap_or_default()
        ),
        element(
            "Expiration",
            &cred.expires_at.map(iso8601).unwrap_or_default()
        ),
    )
}

/// Temporary credentials with the caller's own permissions. Only long-term
/// (root/admin) keys may call it; the double's sessions are all roles.
fn get_session_token(
    state: &SimState,
    params: &Params,
    caller: &Principal,
) -> Result<String, QueryError> {
    if matches!(caller, Principal::AssumedRole { .. }) {
        return Err(QueryError::new(
            403,
            "AccessDenied",
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let duration_s = duration_param(params, ROOT_SESSION_MAX_S)?;
    if duration_s > ROOT_SESSION_MAX_S {
        return Err(validation(format!(
            "The requested DurationSeconds exceeds the {ROOT_SESSION_MAX_S} seconds allowed for root user sessions."
        )));
    }
    let expires_at = state.now_wall() + Duration::from_secs(duration_s);
    let cred = state.creds.issue_session(caller.clone(), expires_at);
    Ok(credentials_xml(&cred))
}

/// What `AssumeRole` was asked to attach to the session.
struct SessionRequest {
    context: SessionContext,
    /// `PackedPolicySize`, when anything was packed.
    packed_percent: Option<usize>,
}

fn session_request(params: &Params) -> Result<SessionRequest, QueryError> {
    let mut context = SessionContext::default();
    let mut packed_chars = 0;
    if let Some(text) = params.get("Policy") {
        let doc = policy::parse_policy(text, PolicyKind::Identity)
            .map_err(|e| QueryError::new(400, "MalformedPolicyDocument", e.to_string()))?;
        packed_chars += policy::policy_size(text);
        context.policies.push(SessionPolicy::Inline(Arc::new(doc)));
    }
    let arns: Vec<&str> = (1..)
        .map_while(|i| params.get(&format!("PolicyArns.member.{i}.arn")))
        .collect();
    if arns.len() > MAX_POLICY_ARNS {
        return Err(validation(format!(
            "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"
        )));
    }
    for arn in arns {
        if !(arn.starts_with("arn:aws:iam::") && arn.contains(":policy/")) {
            return Err(QueryError::new(
                400,
                "InvalidParameterValue",
                format!("Invalid policy ARN: {arn}"),
            ));
        }
        packed_chars += arn.len();
        context
            .policies
            .push(SessionPolicy::Managed(arn.to_owned()));
    }
    for i in 1.. {
        let Some(key) = params.get(&format!("Tags.member.{i}.Key")) else {
            break;
        };
        let value = params
            .get(&format!("Tags.member.{i}.Value"))
            .unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(validation(format!(
                "1 validation error detected: Value '{key}' at 'tags.{i}.member.key' failed to satisfy constraint: key 1..=128 and value 0..=256 characters"
            )));
        }
        if context
            .tags
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            return Err(QueryError::new(
                400,
                "InvalidParameterValue",
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        packed_chars += key.len() + value.len();
        context.tags.push((key.to_owned(), value.to_owned()));
    }
    if context.tags.len() > MAX_SESSION_TAGS {
        return Err(validation(format!(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_SESSION_TAGS}"
        )));
    }
    let anything = !context.policies.is_empty() || !context.tags.is_empty();
    let packed_percent = anything.then(|| (packed_chars * 100).div_ceil(MAX_PACKED_CHARS));
    if let Some(pct) = packed_percent
        && packed_chars > MAX_PACKED_CHARS
    {
        return Err(QueryError::new(
            400,
            "PackedPolicyTooLarge",
            format!("Packed policy consumes {pct}% of allotted space, please use smaller policy."),
        ));
    }
    Ok(SessionRequest {
        context,
        packed_percent,
    })
}

fn validate_session_name(session_name: &str) -> Result<(), QueryError> {
    let ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2..=64"
        )))
    }
}

fn validate_external_id(external_id: &str) -> Result<(), QueryError> {
    let ok = (2..=1224).contains(&external_id.len())
        && external_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{external_id}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and length 2..=1224"
        )))
    }
}

/// The enforcement view the request `id` of `caller` is routed to.
fn replica_snapshot(state: &SimState, id: RequestId, caller: &Principal) -> Arc<Snapshot> {
    let iam = state.iam_read();
    let replica = state.route(id, Some(caller), iam.replica_count());
    iam.at_replica(replica, state.clock.elapsed()).1
}

fn assume_role(
    state: &SimState,
    id: RequestId,
    params: &Params,
    caller: &Principal,
) -> Result<String, QueryError> {
    let role_arn = params.required("RoleArn")?;
    let session_name = params.required("RoleSessionName")?;
    validate_session_name(session_name)?;
    let external_id = params.get("ExternalId");
    if let Some(e) = external_id {
        validate_external_id(e)?;
    }
    let duration_s = duration_param(params, 3600)?;
    let session = session_request(params)?;
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    let snapshot = replica_snapshot(state, id, caller);
    let not_authorized = |action: &str| {
        QueryError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: {action} on resource: {role_arn}",
                caller.arn()
            ),
        )
    };
    let role = snapshot
        .roles
        .get(role_name)
        .filter(|r| r.arn == role_arn)
        .ok_or_else(|| not_authorized("sts:AssumeRole"))?;
    // The trust policy sees the request's keys: sts:ExternalId and the
    // session tags as aws:RequestTag/* and aws:TagKeys.
    let request_tags: Vec<(String, &str)> = session
        .context
        .tags
        .iter()
        .map(|(k, v)| (format!("aws:RequestTag/{k}"), v.as_str()))
        .collect();
    let mut keys: Vec<(&str, &str)> = request_tags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    keys.extend(
        session
            .context
            .tags
            .iter()
            .map(|(k, _)| ("aws:TagKeys", k.as_str())),
    );
    if let Some(e) = external_id {
        keys.push(("sts:ExternalId", e));
    }
    let now = Some(state.now_wall());
    let trusts =
        |action: &str| authz::trust_allows_principal(&snapshot, role, caller, action, &keys, now);
    if !trusts("sts:AssumeRole") {
        return Err(not_authorized("sts:AssumeRole"));
    }
    if !session.context.tags.is_empty() && !trusts("sts:TagSession") {
        return Err(not_authorized("sts:TagSession"));
    }
    if duration_s > role.max_session_duration_s {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    if matches!(caller, Principal::AssumedRole { .. }) && duration_s > ROLE_CHAINING_MAX_S {
        return Err(validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let expires_at = state.now_wall() + Duration::from_secs(duration_s);
    let principal = Principal::AssumedRole {
        account_id: state.config.account_id.clone(),
        role_name: role.name.clone(),
        session_name: session_name.to_owned(),
        source_instance_arn: None,
        session: Arc::new(session.context),
    };
    let arn = principal.arn();
    let cred = state.creds.issue_session(principal, expires_at);
    let packed = session
        .packed_percent
        .map(|p| element("PackedPolicySize", &p.to_string()))
        .unwrap_or_default();
    Ok(format!(
        "<AssumedRoleUser>{}{}</AssumedRoleUser>{}{packed}",
        element("AssumedRoleId", &format!("{}:{session_name}", role.role_id)),
        element("Arn", &arn),
        credentials_xml(&cred),
    ))
}
