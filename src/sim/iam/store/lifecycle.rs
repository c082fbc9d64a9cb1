//! IAM changes beyond creating and attaching: deleting roles, policies and
//! instance profiles (with IAM's `DeleteConflict` rules), role tags,
//! permissions boundaries and managed policy versions. Each successful
//! change is one new snapshot, propagated to the replicas like any other.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    IamState, InstanceProfile, MAX_POLICY_VERSIONS, MAX_TAGS_PER_ROLE, ManagedPolicy,
    PolicyVersion, Snapshot, edit_role, limit_exceeded, no_such_entity, no_such_policy,
    parse_document,
};
use crate::sim::iam::policy::{self, PolicyKind, SizeQuota};
use crate::sim::query::QueryError;

/// `DeleteConflict` (409), as IAM answers deleting something still in use.
fn delete_conflict(message: impl Into<String>) -> QueryError {
    QueryError::new(409, "DeleteConflict", message)
}

fn validation(message: impl Into<String>) -> QueryError {
    QueryError::new(400, "ValidationError", message)
}

/// Merges `new` tags over `existing`, checking IAM's tag rules (key
/// 1..=128 chars, value 0..=256, at most 50 per role).
pub(super) fn validated_tags(
    new: &[(String, String)],
    existing: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, QueryError> {
    let mut tags = existing.clone();
    for (key, value) in new {
        if key.is_empty() || key.chars().count() > 128 || key.starts_with("aws:") {
            return Err(validation(format!(
                "1 validation error detected: Value '{key}' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128 and not start with aws:"
            )));
        }
        if value.chars().count() > 256 {
            return Err(validation(format!(
                "1 validation error detected: Value at 'tags.member.value' for key '{key}' failed to satisfy constraint: Member must have length less than or equal to 256"
            )));
        }
        tags.insert(key.clone(), value.clone());
    }
    if tags.len() > MAX_TAGS_PER_ROLE {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for TagsPerRole: {MAX_TAGS_PER_ROLE}"
        )));
    }
    Ok(tags)
}

/// The customer managed policy `arn`, refusing AWS-managed ones (which
/// only AWS may change).
fn customer_policy<'s>(
    snap: &'s Snapshot,
    arn: &str,
) -> Result<&'s Arc<ManagedPolicy>, QueryError> {
    let p = snap.policies.get(arn).ok_or_else(|| no_such_policy(arn))?;
    if p.is_aws_managed() {
        return Err(QueryError::new(
            403,
            "AccessDenied",
            format!("{arn} is an AWS managed policy and cannot be changed."),
        ));
    }
    Ok(p)
}

fn no_such_version(arn: &str, version: &str) -> QueryError {
    QueryError::new(
        404,
        "NoSuchEntity",
        format!("Policy {arn} version {version} does not exist or is not deletable."),
    )
}

impl IamState {
    /// DeleteRole: `DeleteConflict` while it has inline or attached
    /// policies or is in an instance profile, as IAM requires.
    pub fn delete_role(&mut self, role: &str, now: Duration) -> Result<(), QueryError> {
        self.mutate(format!("DeleteRole {role}"), now, |snap, _| {
            let r = snap
                .roles
                .get(role)
                .ok_or_else(|| no_such_entity("role", role))?;
            if !r.inline.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            if !r.attached.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            if snap
                .profiles
                .values()
                .any(|p| p.role.as_deref() == Some(role))
            {
                return Err(delete_conflict(
                    "Cannot delete entity, must remove roles from instance profile first.",
                ));
            }
            snap.roles.remove(role);
            Ok(())
        })
    }

    /// TagRole: adds or overwrites tags.
    pub fn tag_role(
        &mut self,
        role: &str,
        tags: &[(String, String)],
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(format!("TagRole {role}"), now, |snap, _| {
            edit_role(snap, role, |r| {
                r.tags = validated_tags(tags, &r.tags)?;
                Ok(())
            })
        })
    }

    /// UntagRole: removing an absent key is not an error (as on AWS).
    pub fn untag_role(
        &mut self,
        role: &str,
        keys: &[&str],
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(format!("UntagRole {role}"), now, |snap, _| {
            edit_role(snap, role, |r| {
                for k in keys {
                    r.tags.remove(*k);
                }
                Ok(())
            })
        })
    }

    /// PutRolePermissionsBoundary: the managed policy must exist.
    pub fn put_role_permissions_boundary(
        &mut self,
        role: &str,
        policy_arn: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("PutRolePermissionsBoundary {role}={policy_arn}"),
            now,
            |snap, _| {
                if !snap.policies.contains_key(policy_arn) {
                    return Err(no_such_policy(policy_arn));
                }
                edit_role(snap, role, |r| {
                    r.permissions_boundary = Some(policy_arn.to_owned());
                    Ok(())
                })
            },
        )
    }

    /// DeleteRolePermissionsBoundary (assumption: idempotent when none is set).
    pub fn delete_role_permissions_boundary(
        &mut self,
        role: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("DeleteRolePermissionsBoundary {role}"),
            now,
            |snap, _| {
                edit_role(snap, role, |r| {
                    r.permissions_boundary = None;
                    Ok(())
                })
            },
        )
    }

    /// RemoveRoleFromInstanceProfile: `NoSuchEntity` when the role is not in it.
    pub fn remove_role_from_instance_profile(
        &mut self,
        profile: &str,
        role: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("RemoveRoleFromInstanceProfile {profile}-{role}"),
            now,
            |snap, _| {
                if !snap.roles.contains_key(role) {
                    return Err(no_such_entity("role", role));
                }
                let old = snap
                    .profiles
                    .get(profile)
                    .ok_or_else(|| no_such_entity("instance profile", profile))?;
                if old.role.as_deref() != Some(role) {
                    return Err(QueryError::new(
                        404,
                        "NoSuchEntity",
                        format!("Role {role} in Instance Profile {profile} cannot be found."),
                    ));
                }
                let new = InstanceProfile {
                    role: None,
                    ..(**old).clone()
                };
                snap.profiles.insert(profile.to_owned(), Arc::new(new));
                Ok(())
            },
        )
    }

    /// DeleteInstanceProfile: `DeleteConflict` while it holds a role.
    pub fn delete_instance_profile(
        &mut self,
        profile: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("DeleteInstanceProfile {profile}"),
            now,
            |snap, _| {
                let p = snap
                    .profiles
                    .get(profile)
                    .ok_or_else(|| no_such_entity("instance profile", profile))?;
                if p.role.is_some() {
                    return Err(delete_conflict(
                        "Cannot delete entity, must remove roles from instance profile first.",
                    ));
                }
                snap.profiles.remove(profile);
                Ok(())
            },
        )
    }

    /// DeletePolicy: `DeleteConflict` while attached, used as a boundary,
    /// or holding non-default versions.
    pub fn delete_policy(&mut self, arn: &str, now: Duration) -> Result<(), QueryError> {
        self.mutate(format!("DeletePolicy {arn}"), now, |snap, _| {
            let p = customer_policy(snap, arn)?;
            if snap.attachment_count(arn) > 0 {
                return Err(delete_conflict("Cannot delete a policy attached to entities."));
            }
            if snap.boundary_usage_count(arn) > 0 {
                return Err(delete_conflict(
                    "Cannot delete a policy used as a permissions boundary.",
                ));
            }
            if p.versions.len() > 1 {
                return Err(delete_conflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."));
            }
            snap.policies.remove(arn);
            Ok(())
        })
    }

    /// CreatePolicyVersion: at most five versions (`LimitExceeded`);
    /// `set_default` makes it the enforced one.
    pub fn create_policy_version(
        &mut self,
        arn: &str,
        text: &str,
        set_default: bool,
        now: Duration,
        wall: SystemTime,
    ) -> Result<PolicyVersion, QueryError> {
        let doc = Arc::new(parse_document(text, PolicyKind::Identity)?);
        SizeQuota::Managed
            .check(policy::policy_size(text), arn)
            .map_err(|e| QueryError::new(409, e.code(), e.message().to_owned()))?;
        self.mutate(format!("CreatePolicyVersion {arn}"), now, |snap, _| {
            let old = customer_policy(snap, arn)?;
            if old.versions.len() >= MAX_POLICY_VERSIONS {
                return Err(limit_exceeded(format!("A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version.")));
            }
            let mut new = (**old).clone();
            let version = PolicyVersion {
                id: format!("v{}", new.next_version),
                text: text.to_owned(),
                doc,
                created: wall,
            };
            new.next_version += 1;
            new.versions.push(version.clone());
            if set_default {
                make_default(&mut new, &version.id, wall);
            }
            snap.policies.insert(arn.to_owned(), Arc::new(new));
            Ok(version)
        })
    }

    /// SetDefaultPolicyVersion: enforcement switches when the change
    /// reaches each replica.
    pub fn set_default_policy_version(
        &mut self,
        arn: &str,
        version_id: &str,
        now: Duration,
        wall: SystemTime,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("SetDefaultPolicyVersion {arn}@{version_id}"),
            now,
            |snap, _| {
                let old = customer_policy(snap, arn)?;
                if !old.versions.iter().any(|v| v.id == version_id) {
                    return Err(QueryError::new(
                        404,
                        "NoSuchEntity",
                        format!("Policy {arn} version {version_id} does not exist."),
                    ));
                }
                let mut new = (**old).clone();
                make_default(&mut new, version_id, wall);
                snap.policies.insert(arn.to_owned(), Arc::new(new));
                Ok(())
            },
        )
    }

    /// DeletePolicyVersion: never the default one (`DeleteConflict`).
    pub fn delete_policy_version(
        &mut self,
        arn: &str,
        version_id: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("DeletePolicyVersion {arn}@{version_id}"),
            now,
            |snap, _| {
                let old = customer_policy(snap, arn)?;
                if old.default_version_id == version_id {
                    return Err(delete_conflict(
                        "Cannot delete the default version of a policy.",
                    ));
                }
                let mut new = (**old).clone();
                let before = new.versions.len();
                new.versions.retain(|v| v.id != version_id);
                if new.versions.len() == before {
                    return Err(no_such_version(arn, version_id));
                }
                snap.policies.insert(arn.to_owned(), Arc::new(new));
                Ok(())
            },
        )
    }
}

/// Points `policy`'s default at `version_id` (which must exist).
fn make_default(policy: &mut ManagedPolicy, version_id: &str, wall: SystemTime) {
    let v = policy.versions.iter().find(|v| v.id == version_id).cloned();
    assert!(v.is_some(), "default version {version_id} exists");
    if let Some(v) = v {
        policy.default_version_id = v.id;
        policy.text = v.text;
        policy.doc = v.doc;
        policy.updated = wall;
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::super::RoleOptions;
    use super::*;
    use crate::sim::consistency::{DelayModel, PropagationConfig};

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    fn iam() -> IamState {
        let mut iam = IamState::new(
            "123456789012".to_owned(),
            PropagationConfig {
                replicas: 1,
                delay: DelayModel::Fixed(Duration::ZERO),
                ..PropagationConfig::default()
            },
            3,
        );
        iam.create_role(
            "r",
            "/",
            TRUST,
            &RoleOptions::default(),
            Duration::ZERO,
            UNIX_EPOCH,
        )
        .expect("role");
        iam
    }

    #[test]
    fn policy_versions_cap_default_and_delete_rules() {
        let mut iam = iam();
        let p = iam
            .create_policy("p", "/", DOC, Duration::ZERO, UNIX_EPOCH)
            .expect("policy");
        for n in 2..=5 {
            let v = iam
                .create_policy_version(&p.arn, DOC, false, Duration::ZERO, UNIX_EPOCH)
                .expect("version");
            assert_eq!(v.id, format!("v{n}"));
        }
        let e = iam
            .create_policy_version(&p.arn, DOC, true, Duration::ZERO, UNIX_EPOCH)
            .expect_err("sixth version");
        assert_eq!((e.status, e.code.as_str()), (409, "LimitExceeded"));
        let e = iam
            .delete_policy_version(&p.arn, "v1", Duration::ZERO)
            .expect_err("default");
        assert_eq!(e.code, "DeleteConflict");
        iam.set_default_policy_version(&p.arn, "v3", Duration::ZERO, UNIX_EPOCH)
            .expect("set default");
        assert_eq!(iam.latest().policies[&p.arn].default_version_id, "v3");
        iam.delete_policy_version(&p.arn, "v1", Duration::ZERO)
            .expect("v1 no longer default");
        let e = iam
            .delete_policy(&p.arn, Duration::ZERO)
            .expect_err("has versions");
        assert_eq!(e.code, "DeleteConflict");
        // Versions are never renumbered: the next one is v6.
        let v = iam
            .create_policy_version(&p.arn, DOC, false, Duration::ZERO, UNIX_EPOCH)
            .expect("room again");
        assert_eq!(v.id, "v6");
    }

    #[test]
    fn delete_role_conflicts_until_emptied() {
        let mut iam = iam();
        iam.put_role_policy("r", "inline", DOC, Duration::ZERO)
            .expect("inline");
        let arn = "arn:aws:iam::aws:policy/ReadOnlyAccess";
        iam.attach_role_policy("r", arn, Duration::ZERO)
            .expect("attach");
        iam.create_instance_profile("ip", "/", Duration::ZERO, UNIX_EPOCH)
            .expect("profile");
        iam.add_role_to_instance_profile("ip", "r", Duration::ZERO)
            .expect("add");
        let conflict = |iam: &mut IamState| {
            iam.delete_role("r", Duration::ZERO)
                .expect_err("in use")
                .message
        };
        assert!(conflict(&mut iam).contains("delete policies"));
        iam.delete_role_policy("r", "inline", Duration::ZERO)
            .expect("del inline");
        assert!(conflict(&mut iam).contains("detach all policies"));
        let e = iam
            .delete_policy(arn, Duration::ZERO)
            .expect_err("AWS-managed");
        assert_eq!(e.code, "AccessDenied");
        iam.detach_role_policy("r", arn, Duration::ZERO)
            .expect("detach");
        assert!(conflict(&mut iam).contains("instance profile"));
        let e = iam
            .delete_instance_profile("ip", Duration::ZERO)
            .expect_err("holds role");
        assert_eq!(e.code, "DeleteConflict");
        iam.remove_role_from_instance_profile("ip", "r", Duration::ZERO)
            .expect("remove");
        iam.delete_instance_profile("ip", Duration::ZERO)
            .expect("delete profile");
        iam.delete_role("r", Duration::ZERO).expect("delete role");
        assert!(iam.latest().roles.is_empty());
    }

    #[test]
    fn tags_merge_and_cap_at_fifty() {
        let mut iam = iam();
        let tags: Vec<(String, String)> =
            (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        iam.tag_role("r", &tags, Duration::ZERO).expect("50 tags");
        iam.tag_role("r", &[("k0".to_owned(), "new".to_owned())], Duration::ZERO)
            .expect("overwrite is not a new tag");
        assert_eq!(iam.latest().roles["r"].tags["k0"], "new");
        let e = iam
            .tag_role("r", &[("k50".to_owned(), String::new())], Duration::ZERO)
            .expect_err("51st");
        assert_eq!(e.code, "LimitExceeded");
        iam.untag_role("r", &["k0", "absent"], Duration::ZERO)
            .expect("untag");
        assert_eq!(iam.latest().roles["r"].tags.len(), 49);
    }
}
