//! Undo for every change the timeline can make to a real target: which
//! resource a change touches (checked against the scenario's `mutable`
//! list), the prior state read before the change (as the steps that bring
//! it back), and applying those steps through the SDK. Steps are
//! idempotent — deleting what is already gone counts as done — so a
//! rollback can be repeated after a partial one.

use aws_sdk_iam::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};

use crate::chaos::{describe, has_code};
use crate::scenario::{Mutable, TimelineKind};

/// One SDK call that undoes (part of) a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum UndoStep {
    PutRolePolicy {
        role: String,
        policy_name: String,
        document: String,
    },
    DeleteRolePolicy {
        role: String,
        policy_name: String,
    },
    AttachRolePolicy {
        role: String,
        policy_arn: String,
    },
    DetachRolePolicy {
        role: String,
        policy_arn: String,
    },
    UpdateAssumeRolePolicy {
        role: String,
        document: String,
    },
    PutRolePermissionsBoundary {
        role: String,
        policy_arn: String,
    },
    DeleteRolePermissionsBoundary {
        role: String,
    },
    SetDefaultPolicyVersion {
        policy_arn: String,
        version_id: String,
    },
    /// Deletes every version of the policy not in `keep` (the ones a
    /// `create-policy-version` added, even if the run died before it
    /// learned their ids).
    DeletePolicyVersionsExcept {
        policy_arn: String,
        keep: Vec<String>,
    },
    PutBucketPolicy {
        bucket: String,
        document: String,
    },
    DeleteBucketPolicy {
        bucket: String,
    },
}

impl std::fmt::Display for UndoStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndoStep::PutRolePolicy {
                role, policy_name, ..
            } => write!(f, "iam:PutRolePolicy {role}/{policy_name} (prior document)"),
            UndoStep::DeleteRolePolicy { role, policy_name } => {
                write!(f, "iam:DeleteRolePolicy {role}/{policy_name}")
            }
            UndoStep::AttachRolePolicy { role, policy_arn } => {
                write!(f, "iam:AttachRolePolicy {role} {policy_arn}")
            }
            UndoStep::DetachRolePolicy { role, policy_arn } => {
                write!(f, "iam:DetachRolePolicy {role} {policy_arn}")
            }
            UndoStep::UpdateAssumeRolePolicy { role, .. } => {
                write!(f, "iam:UpdateAssumeRolePolicy {role} (prior trust)")
            }
            UndoStep::PutRolePermissionsBoundary { role, policy_arn } => {
                write!(f, "iam:PutRolePermissionsBoundary {role} {policy_arn}")
            }
            UndoStep::DeleteRolePermissionsBoundary { role } => {
                write!(f, "iam:DeleteRolePermissionsBoundary {role}")
            }
            UndoStep::SetDefaultPolicyVersion {
                policy_arn,
                version_id,
            } => write!(f, "iam:SetDefaultPolicyVersion {policy_arn} {version_id}"),
            UndoStep::DeletePolicyVersionsExcept { policy_arn, keep } => write!(
                f,
                "iam:DeletePolicyVersion {policy_arn} (all but {})",
                keep.join(",")
            ),
            UndoStep::PutBucketPolicy { bucket, .. } => {
                write!(f, "s3:PutBucketPolicy {bucket} (prior policy)")
            }
            UndoStep::DeleteBucketPolicy { bucket } => write!(f, "s3:DeleteBucketPolicy {bucket}"),
        }
    }
}

/// The resource a timeline action changes on the target; `None` for
/// actions that change nothing there (fleet and double-only actions).
pub fn resource(kind: &TimelineKind) -> Option<Mutable> {
    use TimelineKind as K;
    match kind {
        K::PutRolePolicy { role, .. }
        | K::DeleteRolePolicy { role, .. }
        | K::AttachRolePolicy { role, .. }
        | K::DetachRolePolicy { role, .. }
        | K::UpdateAssumeRolePolicy { role, .. }
        | K::PutRolePermissionsBoundary { role, .. }
        | K::DeleteRolePermissionsBoundary { role } => Some(Mutable::Role(role.clone())),
        K::CreatePolicyVersion { policy_arn, .. } => Some(Mutable::Policy(policy_arn.clone())),
        K::PutBucketPolicy { bucket, .. } | K::DeleteBucketPolicy { bucket } => {
            Some(Mutable::Bucket(bucket.clone()))
        }
        _ => None,
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); a document that
/// already is JSON is returned as is.
pub fn decode_policy(document: &str) -> String {
    if document.trim_start().starts_with('{') {
        return document.to_owned();
    }
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

const NO_ENTITY: &[&str] = &["NoSuchEntity"];
const NO_BUCKET_POLICY: &[&str] = &["NoSuchBucketPolicy"];

/// Whether `role` has `policy_arn` attached now.
async fn attached(iam: &aws_sdk_iam::Client, role: &str, policy_arn: &str) -> Result<bool, String> {
    let mut marker = None;
    loop {
        let page = iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if page
            .attached_policies()
            .iter()
            .any(|p| p.policy_arn() == Some(policy_arn))
        {
            return Ok(true);
        }
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_owned()),
            _ => return Ok(false),
        }
    }
}

/// The prior state of what `kind` changes, as the steps that restore it.
/// Read before the change is made; an error means the change must not be
/// made (it could not be undone).
pub async fn capture(
    iam: &aws_sdk_iam::Client,
    s3: &aws_sdk_s3::Client,
    kind: &TimelineKind,
) -> Result<Vec<UndoStep>, String> {
    use TimelineKind as K;
    let steps = match kind {
        K::PutRolePolicy {
            role, policy_name, ..
        }
        | K::DeleteRolePolicy { role, policy_name } => {
            let prior = iam
                .get_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await;
            match (prior, kind) {
                (Ok(p), _) => vec![UndoStep::PutRolePolicy {
                    role: role.clone(),
                    policy_name: policy_name.clone(),
                    document: decode_policy(p.policy_document()),
                }],
                (Err(e), K::PutRolePolicy { .. }) if has_code(&e, NO_ENTITY) => {
                    vec![UndoStep::DeleteRolePolicy {
                        role: role.clone(),
                        policy_name: policy_name.clone(),
                    }]
                }
                (Err(e), _) if has_code(&e, NO_ENTITY) => Vec::new(),
                (Err(e), _) => return Err(describe(&e)),
            }
        }
        K::AttachRolePolicy { role, policy_arn } => {
            if attached(iam, role, policy_arn).await? {
                Vec::new()
            } else {
                vec![UndoStep::DetachRolePolicy {
                    role: role.clone(),
                    policy_arn: policy_arn.clone(),
                }]
            }
        }
        K::DetachRolePolicy { role, policy_arn } => {
            if attached(iam, role, policy_arn).await? {
                vec![UndoStep::AttachRolePolicy {
                    role: role.clone(),
                    policy_arn: policy_arn.clone(),
                }]
            } else {
                Vec::new()
            }
        }
        K::UpdateAssumeRolePolicy { role, .. }
        | K::PutRolePermissionsBoundary { role, .. }
        | K::DeleteRolePermissionsBoundary { role } => {
            let got = iam
                .get_role()
                .role_name(role)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let Some(r) = got.role() else {
                return Err(format!("GetRole {role} returned no role"));
            };
            match kind {
                K::UpdateAssumeRolePolicy { .. } => vec![UndoStep::UpdateAssumeRolePolicy {
                    role: role.clone(),
                    document: decode_policy(r.assume_role_policy_document().unwrap_or_default()),
                }],
                _ => match r
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                {
                    Some(arn) => vec![UndoStep::PutRolePermissionsBoundary {
                        role: role.clone(),
                        policy_arn: arn.to_owned(),
                    }],
                    None if matches!(kind, K::PutRolePermissionsBoundary { .. }) => {
                        vec![UndoStep::DeleteRolePermissionsBoundary { role: role.clone() }]
                    }
                    None => Vec::new(),
                },
            }
        }
        K::CreatePolicyVersion { policy_arn, .. } => {
            let versions = iam
                .list_policy_versions()
                .policy_arn(policy_arn)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let keep: Vec<String> = versions
                .versions()
                .iter()
                .filter_map(|v| v.version_id().map(str::to_owned))
                .collect();
            let default = versions
                .versions()
                .iter()
                .find(|v| v.is_default_version())
                .and_then(|v| v.version_id())
                .ok_or_else(|| format!("{policy_arn} has no default version"))?;
            vec![
                UndoStep::SetDefaultPolicyVersion {
                    policy_arn: policy_arn.clone(),
                    version_id: default.to_owned(),
                },
                UndoStep::DeletePolicyVersionsExcept {
                    policy_arn: policy_arn.clone(),
                    keep,
                },
            ]
        }
        K::PutBucketPolicy { bucket, .. } | K::DeleteBucketPolicy { bucket } => {
            match s3.get_bucket_policy().bucket(bucket).send().await {
                Ok(p) => vec![UndoStep::PutBucketPolicy {
                    bucket: bucket.clone(),
                    document: p.policy().unwrap_or_default().to_owned(),
                }],
                Err(e) if has_code(&e, NO_BUCKET_POLICY) => match kind {
                    K::PutBucketPolicy { .. } => vec![UndoStep::DeleteBucketPolicy {
                        bucket: bucket.clone(),
                    }],
                    _ => Vec::new(),
                },
                Err(e) => return Err(describe(&e)),
            }
        }
        _ => Vec::new(),
    };
    Ok(steps)
}

/// `Ok` on success or when the step's target state already holds.
fn done<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    result: Result<impl Sized, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    already: &[&str],
) -> Result<(), String> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, already) => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

/// Applies one undo step.
pub async fn apply(
    iam: &aws_sdk_iam::Client,
    s3: &aws_sdk_s3::Client,
    step: &UndoStep,
) -> Result<(), String> {
    match step {
        UndoStep::PutRolePolicy {
            role,
            policy_name,
            document,
        } => done(
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await,
            &[],
        ),
        UndoStep::DeleteRolePolicy { role, policy_name } => done(
            iam.delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await,
            NO_ENTITY,
        ),
        UndoStep::AttachRolePolicy { role, policy_arn } => done(
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
            &[],
        ),
        UndoStep::DetachRolePolicy { role, policy_arn } => done(
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
            NO_ENTITY,
        ),
        UndoStep::UpdateAssumeRolePolicy { role, document } => done(
            iam.update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
                .await,
            &[],
        ),
        UndoStep::PutRolePermissionsBoundary { role, policy_arn } => done(
            iam.put_role_permissions_boundary()
                .role_name(role)
                .permissions_boundary(policy_arn)
                .send()
                .await,
            &[],
        ),
        UndoStep::DeleteRolePermissionsBoundary { role } => done(
            iam.delete_role_permissions_boundary()
                .role_name(role)
                .send()
                .await,
            NO_ENTITY,
        ),
        UndoStep::SetDefaultPolicyVersion {
            policy_arn,
            version_id,
        } => done(
            iam.set_default_policy_version()
                .policy_arn(policy_arn)
                .version_id(version_id)
                .send()
                .await,
            &[],
        ),
        UndoStep::DeletePolicyVersionsExcept { policy_arn, keep } => {
            let versions = iam
                .list_policy_versions()
                .policy_arn(policy_arn)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            for v in versions.versions() {
                let Some(id) = v.version_id() else { continue };
                if keep.iter().any(|k| k == id) || v.is_default_version() {
                    continue;
                }
                done(
                    iam.delete_policy_version()
                        .policy_arn(policy_arn)
                        .version_id(id)
                        .send()
                        .await,
                    NO_ENTITY,
                )?;
            }
            Ok(())
        }
        UndoStep::PutBucketPolicy { bucket, document } => done(
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(document)
                .send()
                .await,
            &[],
        ),
        UndoStep::DeleteBucketPolicy { bucket } => done(
            s3.delete_bucket_policy().bucket(bucket).send().await,
            NO_BUCKET_POLICY,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_decode_once() {
        let json = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(json, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(decode_policy(&encoded), json);
        assert_eq!(decode_policy(json), json, "plain JSON stays as is");
    }

    #[test]
    fn steps_round_trip_through_json() {
        let steps = vec![
            UndoStep::PutRolePolicy {
                role: "app".into(),
                policy_name: "p".into(),
                document: "{}".into(),
            },
            UndoStep::DeletePolicyVersionsExcept {
                policy_arn: "arn:aws:iam::1:policy/x".into(),
                keep: vec!["v1".into()],
            },
        ];
        let text = serde_json::to_string(&steps).expect("json");
        assert!(text.contains(r#""call":"put-role-policy""#), "{text}");
        let back: Vec<UndoStep> = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, steps);
    }

    #[test]
    fn only_target_changes_have_a_resource() {
        let put = TimelineKind::PutRolePolicy {
            role: "app".into(),
            policy_name: "p".into(),
            document: "{}".into(),
        };
        assert_eq!(resource(&put), Some(Mutable::Role("app".into())));
        let bucket = TimelineKind::DeleteBucketPolicy { bucket: "b".into() };
        assert_eq!(resource(&bucket), Some(Mutable::Bucket("b".into())));
        let reboot = TimelineKind::RebootInstance { group: None };
        assert_eq!(resource(&reboot), None);
    }
}
