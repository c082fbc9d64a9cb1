//! AWS's XML shapes for IAM entities. Policy documents in responses are
//! URL-encoded, as IAM returns them.

use std::collections::BTreeMap;
use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::sim::clock::iso8601;
use crate::sim::iam::store::{InstanceProfile, ManagedPolicy, PolicyVersion, Role, Snapshot};
use crate::sim::query::element;

pub fn encode_doc(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// A role's fields shared by every shape (`ListRoles` members, profiles).
fn role_fields(r: &Role) -> String {
    format!(
        "{}{}{}{}{}{}{}",
        element("Path", &r.path),
        element("RoleName", &r.name),
        element("RoleId", &r.role_id),
        element("Arn", &r.arn),
        element("CreateDate", &iso8601(r.created)),
        element("AssumeRolePolicyDocument", &encode_doc(&r.trust_text)),
        element("MaxSessionDuration", &r.max_session_duration_s.to_string()),
    )
}

/// `<Role>` as `CreateRole`/`GetRole` return it: with boundary and tags.
pub fn role(r: &Role) -> String {
    let boundary = r.permissions_boundary.as_ref().map(|arn| {
        format!(
            "<PermissionsBoundary>{}{}</PermissionsBoundary>",
            element("PermissionsBoundaryType", "Policy"),
            element("PermissionsBoundaryArn", arn)
        )
    });
    let tags = if r.tags.is_empty() {
        String::new()
    } else {
        format!("<Tags>{}</Tags>", tag_members(&r.tags))
    };
    format!(
        "<Role>{}{}{tags}</Role>",
        role_fields(r),
        boundary.unwrap_or_default()
    )
}

/// A role as a list `<member>` (`ListRoles`, instance profiles).
pub fn role_member(r: &Role) -> String {
    format!("<member>{}</member>", role_fields(r))
}

pub fn tag_members(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "<member>{}{}</member>",
                element("Key", k),
                element("Value", v)
            )
        })
        .collect()
}

/// A managed policy's fields (`<Policy>` or a list member's content).
pub fn policy_fields(p: &ManagedPolicy, snap: &Snapshot) -> String {
    format!(
        "{}{}{}{}{}{}{}{}{}{}",
        element("PolicyName", &p.name),
        element("PolicyId", &p.policy_id),
        element("Arn", &p.arn),
        element("Path", &p.path),
        element("DefaultVersionId", &p.default_version_id),
        element(
            "AttachmentCount",
            &snap.attachment_count(&p.arn).to_string()
        ),
        element(
            "PermissionsBoundaryUsageCount",
            &snap.boundary_usage_count(&p.arn).to_string()
        ),
        element("IsAttachable", "true"),
        element("CreateDate", &iso8601(p.created)),
        element("UpdateDate", &iso8601(p.updated)),
    )
}

pub fn policy(p: &ManagedPolicy, snap: &Snapshot) -> String {
    format!("<Policy>{}</Policy>", policy_fields(p, snap))
}

/// A version's fields; the document only where AWS returns it
/// (`GetPolicyVersion`), not in `ListPolicyVersions`/`CreatePolicyVersion`.
pub fn version_fields(v: &PolicyVersion, default_id: &str, with_document: bool) -> String {
    let doc = if with_document {
        element("Document", &encode_doc(&v.text))
    } else {
        String::new()
    };
    format!(
        "{doc}{}{}{}",
        element("VersionId", &v.id),
        element("IsDefaultVersion", &(v.id == default_id).to_string()),
        element("CreateDate", &iso8601(v.created)),
    )
}

/// An instance profile's fields with its role (if any).
pub fn profile_fields(p: &InstanceProfile, role: Option<&Arc<Role>>) -> String {
    format!(
        "{}{}{}{}{}<Roles>{}</Roles>",
        element("Path", &p.path),
        element("InstanceProfileName", &p.name),
        element("InstanceProfileId", &p.id),
        element("Arn", &p.arn),
        element("CreateDate", &iso8601(p.created)),
        role.map(|r| role_member(r)).unwrap_or_default(),
    )
}
