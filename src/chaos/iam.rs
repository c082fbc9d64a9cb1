//! IAM timeline actions, through the real IAM SDK client with the
//! operator's credentials. Each names the label the double gives the IAM
//! version it publishes (`sim::iam::store`), so a measurement can find
//! the double's ground truth for it.

use super::{Applied, describe};
use crate::scenario::{TimelineKind, Trust};
use crate::setup::{TRUST_EC2, TRUST_OTHER_SERVICE};

/// Applies one IAM action; anything else is a bug in the caller.
pub(super) async fn apply(iam: &aws_sdk_iam::Client, kind: &TimelineKind) -> Applied {
    let (label, truth_label, result) = match kind {
        TimelineKind::PutRolePolicy {
            role,
            policy_name,
            document,
        } => (
            format!("put-role-policy {role}/{policy_name}"),
            format!("PutRolePolicy {role}/{policy_name}"),
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::DeleteRolePolicy { role, policy_name } => (
            format!("delete-role-policy {role}/{policy_name}"),
            format!("DeleteRolePolicy {role}/{policy_name}"),
            iam.delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::AttachRolePolicy { role, policy_arn } => (
            format!("attach-role-policy {role}+{policy_arn}"),
            format!("AttachRolePolicy {role}+{policy_arn}"),
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::DetachRolePolicy { role, policy_arn } => (
            format!("detach-role-policy {role}-{policy_arn}"),
            format!("DetachRolePolicy {role}-{policy_arn}"),
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::CreatePolicyVersion {
            policy_arn,
            document,
            set_as_default,
        } => (
            format!(
                "create-policy-version {policy_arn}{}",
                if *set_as_default { " (default)" } else { "" }
            ),
            format!("CreatePolicyVersion {policy_arn}"),
            iam.create_policy_version()
                .policy_arn(policy_arn)
                .policy_document(document)
                .set_as_default(*set_as_default)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::UpdateAssumeRolePolicy { role, trust } => {
            let (name, document) = match trust {
                Trust::Ec2 => ("ec2", TRUST_EC2.to_owned()),
                Trust::Nobody => ("none", TRUST_OTHER_SERVICE.to_owned()),
                Trust::Document(doc) => ("file", doc.clone()),
            };
            (
                format!("update-assume-role-policy {role} trust={name}"),
                format!("UpdateAssumeRolePolicy {role}"),
                iam.update_assume_role_policy()
                    .role_name(role)
                    .policy_document(document)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| describe(&e)),
            )
        }
        TimelineKind::PutRolePermissionsBoundary { role, policy_arn } => (
            format!("put-role-permissions-boundary {role}={policy_arn}"),
            format!("PutRolePermissionsBoundary {role}={policy_arn}"),
            iam.put_role_permissions_boundary()
                .role_name(role)
                .permissions_boundary(policy_arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::DeleteRolePermissionsBoundary { role } => (
            format!("delete-role-permissions-boundary {role}"),
            format!("DeleteRolePermissionsBoundary {role}"),
            iam.delete_role_permissions_boundary()
                .role_name(role)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        // The dispatcher in `chaos::apply` sends only IAM actions here.
        other => return super::refused(other),
    };
    Applied {
        label,
        truth_label,
        result,
    }
}
