//! `GetAccountSummary`: entity counts and IAM's default quotas (the
//! quotas the double enforces are its constants; the rest are AWS's
//! documented defaults for entities the double does not model).

use crate::sim::iam::policy::{
    MAX_INLINE_GROUP_POLICY_CHARS, MAX_INLINE_ROLE_POLICY_CHARS, MAX_INLINE_USER_POLICY_CHARS,
    MAX_MANAGED_POLICY_CHARS,
};
use crate::sim::iam::store::{
    MAX_ATTACHED_POLICIES_PER_ROLE, MAX_CUSTOMER_MANAGED_POLICIES, MAX_INSTANCE_PROFILES,
    MAX_POLICY_VERSIONS, MAX_ROLES,
};
use crate::sim::query::element;
use crate::sim::state::SimState;

pub fn get_account_summary(state: &SimState) -> String {
    let snap = state.iam_read().latest();
    let customer: Vec<_> = snap
        .policies
        .values()
        .filter(|p| !p.is_aws_managed())
        .collect();
    let versions_in_use: usize = customer
        .iter()
        .filter(|p| snap.attachment_count(&p.arn) > 0)
        .map(|p| p.versions.len())
        .sum();
    let entries: [(&str, usize); 32] = [
        ("Users", 0),
        ("UsersQuota", 5000),
        ("Groups", 0),
        ("GroupsQuota", 300),
        ("GroupsPerUserQuota", 10),
        ("ServerCertificates", 0),
        ("ServerCertificatesQuota", 20),
        ("SigningCertificatesPerUserQuota", 2),
        ("AccessKeysPerUserQuota", 2),
        ("MFADevices", 0),
        ("MFADevicesInUse", 0),
        ("AccountMFAEnabled", 0),
        ("AccountAccessKeysPresent", 1),
        ("AccountSigningCertificatesPresent", 0),
        ("UserPolicySizeQuota", MAX_INLINE_USER_POLICY_CHARS),
        ("GroupPolicySizeQuota", MAX_INLINE_GROUP_POLICY_CHARS),
        ("RolePolicySizeQuota", MAX_INLINE_ROLE_POLICY_CHARS),
        ("PolicySizeQuota", MAX_MANAGED_POLICY_CHARS),
        ("AttachedPoliciesPerUserQuota", 10),
        ("AttachedPoliciesPerGroupQuota", 10),
        (
            "AttachedPoliciesPerRoleQuota",
            MAX_ATTACHED_POLICIES_PER_ROLE,
        ),
        ("Policies", customer.len()),
        ("PoliciesQuota", MAX_CUSTOMER_MANAGED_POLICIES),
        ("PolicyVersionsInUse", versions_in_use),
        ("PolicyVersionsInUseQuota", 10_000),
        ("VersionsPerPolicyQuota", MAX_POLICY_VERSIONS),
        ("Roles", snap.roles.len()),
        ("RolesQuota", MAX_ROLES),
        ("InstanceProfiles", snap.profiles.len()),
        ("InstanceProfilesQuota", MAX_INSTANCE_PROFILES),
        ("Providers", 0),
        ("GlobalEndpointTokenVersion", 1),
    ];
    let map: String = entries
        .iter()
        .map(|(k, v)| {
            format!(
                "<entry>{}{}</entry>",
                element("key", k),
                element("value", &v.to_string())
            )
        })
        .collect();
    format!("<SummaryMap>{map}</SummaryMap>")
}
