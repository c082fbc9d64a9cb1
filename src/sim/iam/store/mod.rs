//! IAM state: roles (trust policy, inline policies, attached managed
//! policies), managed policies (customer and AWS-managed) and instance
//! profiles, as an append-only list of immutable snapshots, one per change.
//!
//! The control plane (Get*/List*) always reads the newest snapshot — AWS's
//! IAM reads are immediately consistent. Enforcement reads the snapshot its
//! replica has applied (`sim::consistency`), which is how a change that the
//! API has acknowledged can still be denied for a few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::policy::{self, PolicyDocument, PolicyKind, SizeQuota};
use crate::sim::consistency::{PropagationConfig, Replicas, VersionRecord};
use crate::sim::query::QueryError;

mod aws_managed;
mod lifecycle;

pub use aws_managed::{
    ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS, S3_FULL_ACCESS, S3_READ_ONLY_ACCESS,
};

/// IAM's documented default quotas that the double enforces
/// (Service Quotas: RolesPerAccount 1,000, InstanceProfilesPerAccount 1,000).
pub const MAX_ROLES: usize = 1000;
pub const MAX_INSTANCE_PROFILES: usize = 1000;
/// Versions kept per managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// Tags per role.
pub const MAX_TAGS_PER_ROLE: usize = 50;
/// `MaxSessionDuration` bounds and default (seconds).
pub const DEFAULT_MAX_SESSION_DURATION_S: u64 = 3600;
pub const MAX_SESSION_DURATION_RANGE_S: std::ops::RangeInclusive<u64> = 3600..=43_200;
/// Aggregate inline policy size per role, excluding whitespace.
pub const MAX_INLINE_POLICY_CHARS_PER_ROLE: usize = 10_240;
/// Managed policies attached to one role (IAM's default quota).
pub const MAX_ATTACHED_POLICIES_PER_ROLE: usize = 10;
/// Customer managed policies per account.
pub const MAX_CUSTOMER_MANAGED_POLICIES: usize = 1500;

#[derive(Debug, Clone)]
pub struct InlinePolicy {
    pub name: String,
    /// The document as the caller sent it (GetRolePolicy returns it).
    pub text: String,
    pub doc: PolicyDocument,
}

/// One version of a managed policy.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ... (never reused).
    pub id: String,
    /// The document as the caller sent it.
    pub text: String,
    pub doc: Arc<PolicyDocument>,
    pub created: SystemTime,
}

/// A managed policy (customer or AWS-managed) with its versions.
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub name: String,
    pub policy_id: String,
    /// `arn:aws:iam::ACCOUNT:policy/PATH/NAME` or `arn:aws:iam::aws:policy/NAME`.
    pub arn: String,
    pub path: String,
    pub created: SystemTime,
    /// When the default version last changed.
    pub updated: SystemTime,
    /// The default version's id.
    pub default_version_id: String,
    /// The default version's document as the caller sent it.
    pub text: String,
    /// The default version's document: what enforcement evaluates.
    pub doc: Arc<PolicyDocument>,
    /// Every version, oldest first (at most [`MAX_POLICY_VERSIONS`]).
    pub versions: Vec<PolicyVersion>,
    /// The number the next `CreatePolicyVersion` gets.
    pub next_version: u32,
}

impl ManagedPolicy {
    /// Whether AWS owns it (`arn:aws:iam::aws:policy/...`).
    pub fn is_aws_managed(&self) -> bool {
        self.arn.starts_with("arn:aws:iam::aws:policy/")
    }
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub role_id: String,
    pub arn: String,
    pub path: String,
    pub created: SystemTime,
    pub trust_text: String,
    pub trust: PolicyDocument,
    pub inline: BTreeMap<String, Arc<InlinePolicy>>,
    /// ARNs of the attached managed policies.
    pub attached: BTreeSet<String>,
    /// Role tags (`aws:PrincipalTag/*` for its sessions).
    pub tags: BTreeMap<String, String>,
    /// The longest `AssumeRole` session (`DurationSeconds` ceiling).
    pub max_session_duration_s: u64,
    /// The managed policy ARN capping the role's identity policies.
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InstanceProfile {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub created: SystemTime,
    /// AWS allows at most one role per instance profile.
    pub role: Option<String>,
}

/// One immutable view of IAM.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub roles: BTreeMap<String, Arc<Role>>,
    pub profiles: BTreeMap<String, Arc<InstanceProfile>>,
    /// Managed policies by ARN.
    pub policies: BTreeMap<String, Arc<ManagedPolicy>>,
}

impl Snapshot {
    /// How many roles have the policy `arn` attached (AttachmentCount).
    pub fn attachment_count(&self, arn: &str) -> usize {
        self.roles
            .values()
            .filter(|r| r.attached.contains(arn))
            .count()
    }

    /// How many roles use the policy `arn` as their permissions boundary.
    pub fn boundary_usage_count(&self, arn: &str) -> usize {
        self.roles
            .values()
            .filter(|r| r.permissions_boundary.as_deref() == Some(arn))
            .count()
    }

    /// The initial state: no roles or profiles, the AWS-managed policies
    /// the double knows.
    pub fn initial() -> Self {
        let mut snap = Snapshot::default();
        for p in aws_managed::policies() {
            snap.policies.insert(p.arn.clone(), Arc::new(p));
        }
        snap
    }
}

/// CreateRole's optional parameters.
#[derive(Debug, Default, Clone)]
pub struct RoleOptions {
    pub max_session_duration_s: Option<u64>,
    pub tags: Vec<(String, String)>,
    pub permissions_boundary: Option<String>,
}

/// IAM state with its version history and replica schedule.
pub struct IamState {
    pub account_id: String,
    snapshots: Vec<Arc<Snapshot>>,
    replicas: Replicas,
    ids: u64,
}

fn no_such_entity(kind: &str, name: &str) -> QueryError {
    QueryError::new(
        404,
        "NoSuchEntity",
        format!("The {kind} with name {name} cannot be found."),
    )
}

fn no_such_policy(arn: &str) -> QueryError {
    QueryError::new(
        404,
        "NoSuchEntity",
        format!("Policy {arn} does not exist or is not attachable."),
    )
}

/// `EntityAlreadyExists` (409), as IAM answers a duplicate name.
fn already_exists(message: impl Into<String>) -> QueryError {
    QueryError::new(409, "EntityAlreadyExists", message)
}

/// `LimitExceeded` (409), as IAM answers a quota hit.
fn limit_exceeded(message: impl Into<String>) -> QueryError {
    QueryError::new(409, "LimitExceeded", message)
}

fn malformed(e: impl std::fmt::Display) -> QueryError {
    QueryError::new(400, "MalformedPolicyDocument", e.to_string())
}

/// Parses a document the way IAM validates it on write.
pub fn parse_document(text: &str, kind: PolicyKind) -> Result<PolicyDocument, QueryError> {
    policy::parse_policy(text, kind).map_err(malformed)
}

impl IamState {
    pub fn new(account_id: String, propagation: PropagationConfig, seed: u64) -> Self {
        Self {
            account_id,
            snapshots: vec![Arc::new(Snapshot::initial())],
            replicas: Replicas::new(propagation, seed),
            ids: 0,
        }
    }

    /// The control-plane view: always the newest.
    pub fn latest(&self) -> Arc<Snapshot> {
        self.snapshots[self.snapshots.len() - 1].clone()
    }

    pub fn replica_count(&self) -> usize {
        self.replicas.replica_count()
    }

    /// The enforcement view of one replica at `now`.
    pub fn at_replica(&self, replica: usize, now: Duration) -> (u64, Arc<Snapshot>) {
        let v = self.replicas.version_at(replica, now);
        (v, self.snapshots[v as usize].clone())
    }

    pub fn propagation_records(&self) -> &[VersionRecord] {
        self.replicas.records()
    }

    /// Every replica enforces the newest version from `now` on (see
    /// [`Replicas::converge`]); returns how many versions were pending.
    pub fn converge(&mut self, now: Duration) -> usize {
        self.replicas.converge(now)
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}{:017X}", crate::sim::rng::mix64(self.ids) >> 4)
    }

    /// Applies a change to a copy of the newest snapshot; on success it
    /// becomes a new version, published to the replicas at `now`.
    fn mutate<T>(
        &mut self,
        label: String,
        now: Duration,
        f: impl FnOnce(&mut Snapshot, &mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        let mut next = (*self.latest()).clone();
        let out = f(&mut next, self)?;
        self.snapshots.push(Arc::new(next));
        let v = self.replicas.publish(label, now);
        assert_eq!(
            v as usize,
            self.snapshots.len() - 1,
            "snapshot and replica versions agree"
        );
        Ok(out)
    }

    pub fn create_role(
        &mut self,
        name: &str,
        path: &str,
        trust_text: &str,
        options: &RoleOptions,
        now: Duration,
        wall: SystemTime,
    ) -> Result<Arc<Role>, QueryError> {
        validate_name(name, "roleName", 64)?;
        let trust = parse_document(trust_text, PolicyKind::Trust)?;
        let max_session_duration_s = match options.max_session_duration_s {
            None => DEFAULT_MAX_SESSION_DURATION_S,
            Some(s) if MAX_SESSION_DURATION_RANGE_S.contains(&s) => s,
            Some(s) => {
                return Err(QueryError::new(
                    400,
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{s}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"
                    ),
                ));
            }
        };
        let tags = lifecycle::validated_tags(&options.tags, &BTreeMap::new())?;
        self.mutate(format!("CreateRole {name}"), now, |snap, this| {
            if let Some(arn) = &options.permissions_boundary
                && !snap.policies.contains_key(arn)
            {
                return Err(no_such_policy(arn));
            }
            if snap.roles.contains_key(name) {
                return Err(already_exists(format!(
                    "Role with name {name} already exists."
                )));
            }
            if snap.roles.len() >= MAX_ROLES {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for RolesPerAccount: {MAX_ROLES}"
                )));
            }
            let role = Arc::new(Role {
                name: name.to_owned(),
                role_id: this.next_id("AROA"),
                arn: format!("arn:aws:iam::{}:role{}{name}", this.account_id, path),
                path: path.to_owned(),
                created: wall,
                trust_text: trust_text.to_owned(),
                trust,
                inline: BTreeMap::new(),
                attached: BTreeSet::new(),
                tags,
                max_session_duration_s,
                permissions_boundary: options.permissions_boundary.clone(),
            });
            snap.roles.insert(name.to_owned(), role.clone());
            Ok(role)
        })
    }

    pub fn update_assume_role_policy(
        &mut self,
        role: &str,
        trust_text: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        let trust = parse_document(trust_text, PolicyKind::Trust)?;
        self.mutate(format!("UpdateAssumeRolePolicy {role}"), now, |snap, _| {
            edit_role(snap, role, |r| {
                r.trust_text = trust_text.to_owned();
                r.trust = trust;
                Ok(())
            })
        })
    }

    pub fn put_role_policy(
        &mut self,
        role: &str,
        policy_name: &str,
        text: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        validate_name(policy_name, "policyName", 128)?;
        let doc = parse_document(text, PolicyKind::Identity)?;
        self.mutate(format!("PutRolePolicy {role}/{policy_name}"), now, |snap, _| {
            edit_role(snap, role, |r| {
            let inline = &mut r.inline;
            inline.insert(
                policy_name.to_owned(),
                Arc::new(InlinePolicy { name: policy_name.to_owned(), text: text.to_owned(), doc }),
            );
            let total: usize = inline
                .values()
                .map(|p| p.text.chars().filter(|c| !c.is_whitespace()).count())
                .sum();
            if total > MAX_INLINE_POLICY_CHARS_PER_ROLE {
                return Err(limit_exceeded(format!("Maximum policy size of {MAX_INLINE_POLICY_CHARS_PER_ROLE} bytes exceeded for role {role}")));
            }
            Ok(())
            })
        })
    }

    pub fn delete_role_policy(
        &mut self,
        role: &str,
        policy_name: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("DeleteRolePolicy {role}/{policy_name}"),
            now,
            |snap, _| {
                edit_role(snap, role, |r| match r.inline.remove(policy_name) {
                    Some(_) => Ok(()),
                    None => Err(no_such_entity("role policy", policy_name)),
                })
            },
        )
    }

    pub fn create_instance_profile(
        &mut self,
        name: &str,
        path: &str,
        now: Duration,
        wall: SystemTime,
    ) -> Result<Arc<InstanceProfile>, QueryError> {
        validate_name(name, "instanceProfileName", 128)?;
        self.mutate(
            format!("CreateInstanceProfile {name}"),
            now,
            |snap, this| {
                if snap.profiles.contains_key(name) {
                    return Err(already_exists(format!(
                        "Instance Profile {name} already exists."
                    )));
                }
                if snap.profiles.len() >= MAX_INSTANCE_PROFILES {
                    return Err(limit_exceeded(
                        "Cannot exceed quota for InstanceProfilesPerAccount",
                    ));
                }
                let p = Arc::new(InstanceProfile {
                    name: name.to_owned(),
                    id: this.next_id("AIPA"),
                    arn: format!(
                        "arn:aws:iam::{}:instance-profile{}{name}",
                        this.account_id, path
                    ),
                    path: path.to_owned(),
                    created: wall,
                    role: None,
                });
                snap.profiles.insert(name.to_owned(), p.clone());
                Ok(p)
            },
        )
    }

    pub fn add_role_to_instance_profile(
        &mut self,
        profile: &str,
        role: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("AddRoleToInstanceProfile {profile}+{role}"),
            now,
            |snap, _| {
                if !snap.roles.contains_key(role) {
                    return Err(no_such_entity("role", role));
                }
                let old = snap
                    .profiles
                    .get(profile)
                    .ok_or_else(|| no_such_entity("instance profile", profile))?;
                if old.role.is_some() {
                    return Err(limit_exceeded(
                        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
                    ));
                }
                let new = InstanceProfile {
                    name: old.name.clone(),
                    id: old.id.clone(),
                    arn: old.arn.clone(),
                    path: old.path.clone(),
                    created: old.created,
                    role: Some(role.to_owned()),
                };
                snap.profiles.insert(profile.to_owned(), Arc::new(new));
                Ok(())
            },
        )
    }

    /// CreatePolicy: a customer managed policy at
    /// `arn:aws:iam::ACCOUNT:policy{path}{name}` with default version `v1`.
    pub fn create_policy(
        &mut self,
        name: &str,
        path: &str,
        text: &str,
        now: Duration,
        wall: SystemTime,
    ) -> Result<Arc<ManagedPolicy>, QueryError> {
        validate_name(name, "policyName", 128)?;
        let doc = Arc::new(parse_document(text, PolicyKind::Identity)?);
        SizeQuota::Managed
            .check(policy::policy_size(text), name)
            .map_err(|e| QueryError::new(409, e.code(), e.message().to_owned()))?;
        let arn = format!("arn:aws:iam::{}:policy{path}{name}", self.account_id);
        self.mutate(format!("CreatePolicy {name}"), now, |snap, this| {
            // Names are unique per account, whatever the path.
            let taken = snap
                .policies
                .values()
                .any(|p| !p.is_aws_managed() && p.name == name);
            if taken {
                return Err(already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let customer = snap
                .policies
                .values()
                .filter(|p| !p.is_aws_managed())
                .count();
            if customer >= MAX_CUSTOMER_MANAGED_POLICIES {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for PoliciesPerAccount: {MAX_CUSTOMER_MANAGED_POLICIES}"
                )));
            }
            let p = Arc::new(ManagedPolicy {
                name: name.to_owned(),
                policy_id: this.next_id("ANPA"),
                arn: arn.clone(),
                path: path.to_owned(),
                created: wall,
                updated: wall,
                default_version_id: "v1".to_owned(),
                text: text.to_owned(),
                doc: doc.clone(),
                versions: vec![PolicyVersion {
                    id: "v1".to_owned(),
                    text: text.to_owned(),
                    doc,
                    created: wall,
                }],
                next_version: 2,
            });
            snap.policies.insert(arn.clone(), p.clone());
            Ok(p)
        })
    }

    /// AttachRolePolicy. Attaching an already attached policy succeeds
    /// (as on AWS) and still counts as a change.
    pub fn attach_role_policy(
        &mut self,
        role: &str,
        policy_arn: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("AttachRolePolicy {role}+{policy_arn}"),
            now,
            |snap, _| {
                let old = snap
                    .roles
                    .get(role)
                    .ok_or_else(|| no_such_entity("role", role))?;
                if !snap.policies.contains_key(policy_arn) {
                    return Err(no_such_policy(policy_arn));
                }
                if !old.attached.contains(policy_arn)
                    && old.attached.len() >= MAX_ATTACHED_POLICIES_PER_ROLE
                {
                    return Err(limit_exceeded(format!(
                        "Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_POLICIES_PER_ROLE}"
                    )));
                }
                let mut new = (**old).clone();
                new.attached.insert(policy_arn.to_owned());
                snap.roles.insert(role.to_owned(), Arc::new(new));
                Ok(())
            },
        )
    }

    /// DetachRolePolicy: `NoSuchEntity` when the policy is not attached.
    pub fn detach_role_policy(
        &mut self,
        role: &str,
        policy_arn: &str,
        now: Duration,
    ) -> Result<(), QueryError> {
        self.mutate(
            format!("DetachRolePolicy {role}-{policy_arn}"),
            now,
            |snap, _| {
                edit_role(snap, role, |r| {
                    if r.attached.remove(policy_arn) {
                        Ok(())
                    } else {
                        Err(QueryError::new(
                            404,
                            "NoSuchEntity",
                            format!("Policy {policy_arn} was not found."),
                        ))
                    }
                })
            },
        )
    }
}

/// Replaces `role` in `snap` with an edited copy (snapshots are immutable
/// once published, so every role change is copy-on-write).
fn edit_role(
    snap: &mut Snapshot,
    role: &str,
    edit: impl FnOnce(&mut Role) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    let mut new = (**snap
        .roles
        .get(role)
        .ok_or_else(|| no_such_entity("role", role))?)
    .clone();
    edit(&mut new)?;
    snap.roles.insert(role.to_owned(), Arc::new(new));
    Ok(())
}

/// IAM's name rule: 1..=max of `[\w+=,.@-]`.
fn validate_name(name: &str, field: &str, max: usize) -> Result<(), QueryError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1..={max}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::sim::consistency::DelayModel;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const READ_ONLY_ARN: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";

    fn state_with_role() -> IamState {
        let mut iam = IamState::new(
            "123456789012".to_owned(),
            PropagationConfig {
                replicas: 2,
                delay: DelayModel::Fixed(Duration::ZERO),
                ..PropagationConfig::default()
            },
            7,
        );
        iam.create_role(
            "r",
            "/",
            TRUST,
            &RoleOptions::default(),
            Duration::ZERO,
            UNIX_EPOCH,
        )
        .expect("create role");
        iam
    }

    fn version(iam: &IamState) -> usize {
        iam.propagation_records().len() - 1
    }

    #[test]
    fn aws_managed_policies_are_seeded_in_the_initial_snapshot() {
        let iam = state_with_role();
        let snap = iam.latest();
        let ro = snap.policies.get(READ_ONLY_ARN).expect("seeded");
        assert!(ro.is_aws_managed());
        assert_eq!(
            ro.doc.statements.len(),
            1,
            "one statement with five actions"
        );
        assert!(
            snap.policies
                .contains_key("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        );
        assert_eq!(
            iam.at_replica(0, Duration::ZERO).1.policies.len(),
            4,
            "version 0 already has them (S3 read-only/full, ReadOnlyAccess, AdministratorAccess)"
        );
    }

    #[test]
    fn attach_and_detach_each_bump_the_version() {
        let mut iam = state_with_role();
        let v0 = version(&iam);
        iam.attach_role_policy("r", READ_ONLY_ARN, Duration::from_millis(10))
            .expect("attach");
        assert_eq!(version(&iam), v0 + 1);
        assert!(iam.latest().roles["r"].attached.contains(READ_ONLY_ARN));
        assert_eq!(iam.latest().attachment_count(READ_ONLY_ARN), 1);
        let label = &iam.propagation_records()[v0 + 1].label;
        assert_eq!(label, &format!("AttachRolePolicy r+{READ_ONLY_ARN}"));

        iam.detach_role_policy("r", READ_ONLY_ARN, Duration::from_millis(20))
            .expect("detach");
        assert_eq!(version(&iam), v0 + 2);
        assert!(iam.latest().roles["r"].attached.is_empty());
        // The older snapshot still has it: enforcement can lag.
        let (v, old) = iam.at_replica(0, Duration::from_millis(15));
        assert_eq!(v as usize, v0 + 1);
        assert!(old.roles["r"].attached.contains(READ_ONLY_ARN));
    }

    #[test]
    fn failed_mutations_do_not_bump_the_version() {
        let mut iam = state_with_role();
        let v0 = version(&iam);
        let e = iam
            .attach_role_policy("r", "arn:aws:iam::aws:policy/Nope", Duration::ZERO)
            .expect_err("unknown policy");
        assert_eq!((e.status, e.code.as_str()), (404, "NoSuchEntity"));
        let e = iam
            .detach_role_policy("r", READ_ONLY_ARN, Duration::ZERO)
            .expect_err("not attached");
        assert_eq!(e.code, "NoSuchEntity");
        let e = iam
            .attach_role_policy("ghost", READ_ONLY_ARN, Duration::ZERO)
            .expect_err("no role");
        assert_eq!(e.code, "NoSuchEntity");
        assert_eq!(version(&iam), v0);
    }

    #[test]
    fn create_policy_names_limits_and_size() {
        let mut iam = state_with_role();
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#;
        let p = iam
            .create_policy("deny-get", "/", doc, Duration::ZERO, UNIX_EPOCH)
            .expect("create");
        assert_eq!(p.arn, "arn:aws:iam::123456789012:policy/deny-get");
        assert_eq!(p.default_version_id, "v1");
        assert!(p.policy_id.starts_with("ANPA"));
        let e = iam
            .create_policy("deny-get", "/x/", doc, Duration::ZERO, UNIX_EPOCH)
            .expect_err("duplicate");
        assert_eq!((e.status, e.code.as_str()), (409, "EntityAlreadyExists"));

        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}]}}"#,
            "A".repeat(6_144)
        );
        let e = iam
            .create_policy("big", "/", &big, Duration::ZERO, UNIX_EPOCH)
            .expect_err("over 6,144 characters");
        assert_eq!(e.code, "LimitExceeded");
        assert!(e.message.contains("PolicySize: 6144"), "{}", e.message);

        for i in 0..MAX_ATTACHED_POLICIES_PER_ROLE {
            let name = format!("p{i}");
            let p = iam
                .create_policy(&name, "/", doc, Duration::ZERO, UNIX_EPOCH)
                .expect("create");
            iam.attach_role_policy("r", &p.arn, Duration::ZERO)
                .expect("within quota");
        }
        // Re-attaching one that is attached is not a new attachment.
        iam.attach_role_policy("r", "arn:aws:iam::123456789012:policy/p0", Duration::ZERO)
            .expect("idempotent");
        let e = iam
            .attach_role_policy("r", READ_ONLY_ARN, Duration::ZERO)
            .expect_err("11th");
        assert_eq!((e.status, e.code.as_str()), (409, "LimitExceeded"));
        assert!(e.message.contains("PoliciesPerRole: 10"), "{}", e.message);
    }
}
