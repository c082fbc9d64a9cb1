//! Runbook steps 1–3 on IAM's control plane, through the real SDK with the
//! operator's credentials: who the instance is (`sts:GetCallerIdentity`
//! with the instance's own credentials), `iam:SimulatePrincipalPolicy`,
//! the role's inline, attached and boundary policies (which statements
//! bear on the request), and the trust policy. Reading IAM is never a
//! mutation; an answer such as AccessDenied is recorded, not fatal.
//!
//! Statement matching here is a reading aid (action and resource globs,
//! conditions flagged, not evaluated): the decision itself is the
//! target's, from the simulation and the probe.

use aws_sdk_iam::error::ProvideErrorMetadata;

use super::evidence::StatementMatch;
use super::evidence::{IdentityEvidence, PolicyEvidence, RoleEvidence, SimulationEvidence};
use crate::guard::undo::decode_policy;
use crate::observe::classify::classify_error;

/// Most statements listed per role (a reading aid, not an inventory).
const MAX_STATEMENTS_LISTED: usize = 20;
/// Most attached managed policies read per role.
const MAX_ATTACHED_POLICIES: usize = 20;

fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => crate::target::error_chain(e),
    }
}

/// `sts:GetCallerIdentity` with the instance's credentials.
pub async fn identity(sts: &aws_sdk_sts::Client) -> IdentityEvidence {
    match sts.get_caller_identity().send().await {
        Ok(who) => IdentityEvidence {
            arn: who.arn().map(str::to_owned),
            account: who.account().map(str::to_owned),
            ..Default::default()
        },
        Err(e) => IdentityEvidence {
            error_class: Some(classify_error(&e).class.as_str().to_owned()),
            error: Some(describe(&e)),
            ..Default::default()
        },
    }
}

/// The role name in an assumed-role ARN (`…:assumed-role/ROLE/SESSION`).
pub fn role_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.split(":assumed-role/").nth(1)?;
    rest.split('/').next().filter(|r| !r.is_empty())
}

/// The profile name in an instance-profile ARN (`…:instance-profile/PATH/NAME`).
pub fn profile_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.split(":instance-profile/").nth(1)?;
    rest.rsplit('/').next().filter(|p| !p.is_empty())
}

/// `iam:SimulatePrincipalPolicy` for the role on one action and resource.
pub async fn simulate(
    iam: &aws_sdk_iam::Client,
    role_arn: &str,
    action: &str,
    resource: &str,
) -> SimulationEvidence {
    match iam
        .simulate_principal_policy()
        .policy_source_arn(role_arn)
        .action_names(action)
        .resource_arns(resource)
        .send()
        .await
    {
        Ok(out) => {
            let Some(r) = out.evaluation_results().first() else {
                return SimulationEvidence {
                    error: Some("no evaluation result".to_owned()),
                    ..Default::default()
                };
            };
            SimulationEvidence {
                decision: Some(r.eval_decision().as_str().to_owned()),
                matched: r
                    .matched_statements()
                    .iter()
                    .filter_map(|m| m.source_policy_id().map(str::to_owned))
                    .collect(),
                error: None,
            }
        }
        Err(e) => SimulationEvidence {
            error: Some(describe(&e)),
            ..Default::default()
        },
    }
}

/// The role's ARN, trust policy, policies and the statements that bear on
/// the request.
pub async fn role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    action: &str,
    resource: &str,
) -> RoleEvidence {
    let mut r = RoleEvidence {
        name: name.to_owned(),
        ..Default::default()
    };
    match iam.get_role().role_name(name).send().await {
        Ok(out) => {
            if let Some(role) = out.role() {
                r.arn = Some(role.arn().to_owned());
                let trust = role.assume_role_policy_document().map(decode_policy);
                r.trust_allows_ec2 = trust.as_deref().map(trust_allows_ec2);
                r.trust_document = trust;
                r.permissions_boundary = role
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_owned);
            }
        }
        Err(e) => r
            .read_errors
            .push(format!("iam:GetRole {name}: {}", describe(&e))),
    }
    let mut documents: Vec<(String, String)> = Vec::new();
    match iam.list_role_policies().role_name(name).send().await {
        Ok(out) => {
            for policy in out.policy_names() {
                match iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                {
                    Ok(p) => documents.push((
                        format!("inline {policy}"),
                        decode_policy(p.policy_document()),
                    )),
                    Err(e) => r
                        .read_errors
                        .push(format!("iam:GetRolePolicy {policy}: {}", describe(&e))),
                }
            }
        }
        Err(e) => r
            .read_errors
            .push(format!("iam:ListRolePolicies {name}: {}", describe(&e))),
    }
    let mut managed: Vec<(String, String)> = Vec::new();
    match iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
    {
        Ok(out) => {
            for p in out.attached_policies().iter().take(MAX_ATTACHED_POLICIES) {
                if let Some(arn) = p.policy_arn() {
                    managed.push((format!("managed {arn}"), arn.to_owned()));
                }
            }
        }
        Err(e) => r.read_errors.push(format!(
            "iam:ListAttachedRolePolicies {name}: {}",
            describe(&e)
        )),
    }
    if let Some(b) = &r.permissions_boundary {
        managed.push((format!("boundary {b}"), b.clone()));
    }
    for (label, arn) in managed {
        match managed_document(iam, &arn).await {
            Ok(doc) => documents.push((label, doc)),
            Err(e) => r.read_errors.push(format!("{label}: {e}")),
        }
    }
    for (label, doc) in &documents {
        let (count, matches) = statements(label, doc, action, resource);
        r.policies.push(PolicyEvidence {
            policy: label.clone(),
            statements: count,
        });
        r.statements.extend(matches);
    }
    r.statements.truncate(MAX_STATEMENTS_LISTED);
    r
}

/// A managed policy's default version document.
async fn managed_document(iam: &aws_sdk_iam::Client, arn: &str) -> Result<String, String> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| format!("iam:GetPolicy: {}", describe(&e)))?;
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .ok_or("iam:GetPolicy: no default version")?
        .to_owned();
    let v = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| format!("iam:GetPolicyVersion {version}: {}", describe(&e)))?;
    v.policy_version()
        .and_then(|v| v.document())
        .map(decode_policy)
        .ok_or_else(|| format!("iam:GetPolicyVersion {version}: no document"))
}

/// A string or a list of strings, as policy elements are written.
fn strings(v: Option<&serde_json::Value>) -> Vec<&str> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.as_str()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).collect(),
        _ => Vec::new(),
    }
}

fn statement_list(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
    match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(one @ serde_json::Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run, `?` one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative match with backtracking to the last `*`: linear-ish, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether an element (`Action`/`NotAction`, `Resource`/`NotResource`)
/// covers `value`; `None` when the statement has neither form.
fn covers(
    stmt: &serde_json::Value,
    key: &str,
    not_key: &str,
    value: &str,
    ignore_case: bool,
) -> Option<bool> {
    if stmt.get(key).is_some() {
        return Some(
            strings(stmt.get(key))
                .iter()
                .any(|p| glob(p, value, ignore_case)),
        );
    }
    if stmt.get(not_key).is_some() {
        return Some(
            !strings(stmt.get(not_key))
                .iter()
                .any(|p| glob(p, value, ignore_case)),
        );
    }
    None
}

/// How many statements `doc` has and which of them match `action` (and
/// whether also `resource`). A document that is not JSON has none.
pub fn statements(
    label: &str,
    doc: &str,
    action: &str,
    resource: &str,
) -> (usize, Vec<StatementMatch>) {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) else {
        return (0, Vec::new());
    };
    let list = statement_list(&doc);
    let matches = list
        .iter()
        .enumerate()
        .filter(|(_, s)| covers(s, "Action", "NotAction", action, true) == Some(true))
        .map(|(index, s)| StatementMatch {
            policy: label.to_owned(),
            index,
            sid: s.get("Sid").and_then(|v| v.as_str()).map(str::to_owned),
            effect: s
                .get("Effect")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_owned(),
            resource_matches: covers(s, "Resource", "NotResource", resource, false)
                .unwrap_or(false),
            has_condition: s.get("Condition").is_some(),
            text: s.to_string(),
        })
        .collect();
    (list.len(), matches)
}

/// Runbook step 3: an Allow statement names `ec2.amazonaws.com` as a
/// service principal for `sts:AssumeRole`, and no Deny does.
pub fn trust_allows_ec2(doc: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) else {
        return false;
    };
    let names_ec2 = |s: &serde_json::Value| {
        let principal = s.get("Principal");
        let service = principal.and_then(|p| p.get("Service"));
        principal.and_then(|p| p.as_str()) == Some("*")
            || strings(service)
                .iter()
                .any(|svc| svc.starts_with("ec2.amazonaws.com"))
    };
    let assumes = |s: &serde_json::Value| {
        strings(s.get("Action"))
            .iter()
            .any(|a| glob(a, "sts:AssumeRole", true))
    };
    let effect =
        |s: &serde_json::Value, e: &str| s.get("Effect").and_then(|v| v.as_str()) == Some(e);
    let list = statement_list(&doc);
    let allowed = list
        .iter()
        .any(|s| effect(s, "Allow") && names_ec2(s) && assumes(s));
    let denied = list
        .iter()
        .any(|s| effect(s, "Deny") && names_ec2(s) && assumes(s) && s.get("Condition").is_none());
    allowed && !denied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_iam_wildcards() {
        assert!(glob("s3:Get*", "s3:GetObject", true));
        assert!(glob("S3:getobject", "s3:GetObject", true));
        assert!(!glob("s3:Put*", "s3:GetObject", true));
        assert!(glob(
            "arn:aws:s3:::assets/*",
            "arn:aws:s3:::assets/obj-1",
            false
        ));
        assert!(!glob(
            "arn:aws:s3:::logs/*",
            "arn:aws:s3:::assets/obj-1",
            false
        ));
        assert!(glob(
            "arn:aws:s3:::a?sets/*",
            "arn:aws:s3:::assets/x",
            false
        ));
        assert!(glob("*", "", false));
        assert!(!glob("a*b*c", "aXbY", false));
    }

    #[test]
    fn statements_report_action_matches_and_resource_matches() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Logs","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::logs/*"},
            {"Effect":"Deny","NotAction":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::assets/secret*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let (n, m) = statements(
            "inline x",
            doc,
            "s3:GetObject",
            "arn:aws:s3:::assets/secret-1",
        );
        assert_eq!(n, 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].sid.as_deref(), Some("Logs"));
        assert!(!m[0].resource_matches);
        assert_eq!(m[1].index, 2);
        assert!(m[1].resource_matches && m[1].has_condition);
    }

    #[test]
    fn trust_needs_ec2_and_assume_role() {
        assert!(trust_allows_ec2(crate::setup::TRUST_EC2));
        assert!(!trust_allows_ec2(crate::setup::TRUST_OTHER_SERVICE));
        assert!(!trust_allows_ec2("not json"));
        assert!(trust_allows_ec2(
            r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ec2.amazonaws.com"]},"Action":["sts:AssumeRole","sts:TagSession"]}}"#
        ));
    }

    #[test]
    fn names_come_out_of_arns() {
        assert_eq!(
            role_from_arn("arn:aws:sts::123456789012:assumed-role/app-role/i-0abc"),
            Some("app-role")
        );
        assert_eq!(
            profile_from_arn("arn:aws:iam::123456789012:instance-profile/path/app-profile"),
            Some("app-profile")
        );
        assert_eq!(role_from_arn("arn:aws:iam::123456789012:user/bob"), None);
    }
}
