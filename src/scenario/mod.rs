//! Scenario files: what one run does, written by an SRE as TOML and checked
//! before anything starts.
//!
//! This module owns the file format end to end: the raw serde model
//! (`model.rs`), the value grammars (`units.rs`), diagnostics with
//! file:line:col (`diag.rs`), and validation (here) into the types below.
//! Those types hold the rules: durations are [`Duration`]s, ops are [`Op`]s,
//! key patterns are [`KeyPattern`]s, every reference names something that
//! exists, and policy files have been read and checked to be JSON. The
//! harness never re-parses a string or re-checks a reference.
//!
//! Validation reports every problem it finds, not just the first: each section
//! and each `[[...]]` entry is read on its own, and semantic checks run over
//! whatever was read. A TOML syntax error stops early, since nothing after it
//! can be trusted.
//!
//! Architecture invariant: this module reads the scenario file and the policy
//! files it names, and does nothing else: no network, no clock, no knowledge
//! of the harness or of the double.

mod diag;
mod engine;
mod load_model;
mod mix;
mod model;
pub mod plausibility;
mod sdk;
mod sim_model;
mod target_spec;
mod timeline;
mod units;

use std::collections::HashMap;
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diag::{Diagnostic, ScenarioError};
pub use engine::Engine;
pub use load_model::{Arrivals, KeyChoice, LoadModel, RateProfile, RoleTarget, Stage};
pub use sdk::{DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS, RetryMode, SdkBehaviour};
pub use target_spec::{Mutable, TargetKind, TargetSpec};
pub use timeline::{FaultAction, FleetSize, ImdsOutageMode, MAX_SCALE};
pub use units::{
    KeyPattern, KeyPatternError, MAX_KEY_LEN_BYTES, MAX_RATE_PER_S, RateError, UnitError,
    check_rate_per_s, parse_byte_size, parse_duration, parse_rate_per_s,
};

use diag::{SourceFile, closest};
use model::{
    Int, RawBucket, RawDelay, RawFault, RawFleetGroup, RawInstanceProfile, RawLoad, RawPropagation,
    RawQuotas, RawRole, RawScenario, RawSim, RawTimelineEntry, Section, ShapeError, Text,
};

/// Longest run, and longest duration anywhere in a scenario. Longer soaks are
/// several runs: results stream per interval, but a day is where a typo (`"30h"`
/// for `"30s"`) is more likely than intent.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Most authorizer replicas the double simulates.
pub const MAX_REPLICAS: u16 = 1024;
/// Most instances in one `[[fleet]]` group.
pub const MAX_INSTANCES: u32 = 256;
/// Most requests in flight per instance.
pub const MAX_WORKERS_PER_INSTANCE: u32 = 1024;
/// Longest boot delay a launch template may have: real instances boot in
/// seconds to minutes; more is a typo.
pub const MAX_BOOT_DELAY: Duration = Duration::from_secs(600);
/// Largest seeded object: the double keeps objects in memory.
pub const MAX_OBJECT_SIZE_BYTES: u64 = 16 * 1024 * 1024;
/// Most bytes seeded across all buckets, for the same reason.
pub const MAX_SEEDED_BYTES: u64 = 1024 * 1024 * 1024;
/// Highest quota in requests per second.
pub const MAX_QUOTA_PER_S: u32 = 1_000_000;
/// Largest scenario file [`load`] reads.
pub const MAX_SCENARIO_FILE_BYTES: u64 = 1024 * 1024;
/// Largest policy file read. IAM's own limits are far lower; exceeding those
/// is the double's answer to give (`LimitExceeded`), this only bounds reading.
pub const MAX_POLICY_FILE_BYTES: u64 = 128 * 1024;

/// A validated scenario: everything a run needs, with the file's rules already
/// enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `[a-z0-9-]`, 1–63 characters; part of the run id.
    pub name: String,
    /// `None`: the caller picks a seed (and prints it, so the run can be replayed).
    pub seed: Option<u64>,
    /// Total load time, above zero and at most [`MAX_DURATION`].
    pub duration: Duration,
    /// Where requests go, and the safety rails for real targets.
    pub target: TargetSpec,
    /// The embedded double's models.
    pub sim: SimSettings,
    /// The instances' SDK behaviour (`[sdk]`).
    pub sdk: SdkBehaviour,
    /// Roles existing at start, names unique.
    pub roles: Vec<Role>,
    /// Instance profiles existing at start, names unique, each naming a role in `roles`.
    pub instance_profiles: Vec<InstanceProfile>,
    /// Buckets existing at start, names unique and valid for S3.
    pub buckets: Vec<Bucket>,
    /// At least one group, names unique.
    pub fleet: Vec<FleetGroup>,
    /// At least one entry, names unique.
    pub load: Vec<LoadEntry>,
    /// Ordered by `at` (entries with equal `at` keep their file order).
    pub timeline: Vec<TimelineAction>,
    /// CI gates judged against the summary (`thresholds = [...]`).
    pub thresholds: Vec<crate::thresholds::Threshold>,
}

/// `[sim]`, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// 12 ASCII digits.
    pub account_id: String,
    /// How long an IAM change takes to reach each replica.
    pub propagation: Propagation,
    /// Grants' own distribution; `None`: `propagation`.
    pub grant: Option<Propagation>,
    /// Revokes' own distribution; `None`: `propagation`.
    pub revoke: Option<Propagation>,
    /// 1..=[`MAX_REPLICAS`].
    pub replicas: u16,
    /// Which replica serves a request.
    pub routing: Routing,
    /// How long new session credentials are refused after being issued.
    pub new_credential_lag: Duration,
    /// Token-bucket rates.
    pub quotas: Quotas,
    /// `[sim.imds]` overrides of the double's IMDS timings (`None`: its default).
    pub imds_credentials_ttl: Option<Duration>,
    pub imds_rotate_before: Option<Duration>,
    pub imds_association_lag: Option<Duration>,
    /// Fault rules, validated, with windows relative to the run's start
    /// (`after_ms`/`for_ms`): the harness posts them to the admin API when
    /// the load starts.
    pub faults: Vec<FaultSpec>,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            propagation: Propagation::default(),
            grant: None,
            revoke: None,
            replicas: DEFAULT_REPLICAS,
            routing: Routing::Random,
            new_credential_lag: Duration::ZERO,
            quotas: Quotas::default(),
            faults: Vec::new(),
            imds_credentials_ttl: None,
            imds_rotate_before: None,
            imds_association_lag: None,
        }
    }
}

const DEFAULT_ACCOUNT_ID: &str = "123456789012";
const DEFAULT_REPLICAS: u16 = 8;

/// The distribution a replica's delay in applying an IAM change is drawn
/// from (also a latency fault's distribution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Propagation {
    /// Every replica applies every change after exactly `delay`.
    Fixed {
        /// The delay.
        delay: Duration,
    },
    /// Each replica draws its delay uniformly from `min..=max`; `min <= max`.
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Lognormal with this median and 99th percentile; `0 < median <= p99`.
    LogNormal {
        /// Median delay.
        median: Duration,
        /// 99th percentile.
        p99: Duration,
    },
    /// One of these measured delays, each equally likely; not empty.
    Empirical {
        /// The samples.
        samples: Vec<Duration>,
    },
}

impl Propagation {
    /// The double's own type for this distribution.
    pub fn to_delay_model(&self) -> DelayModel {
        match self {
            Propagation::Fixed { delay } => DelayModel::Fixed(*delay),
            Propagation::Uniform { min, max } => DelayModel::Uniform {
                min: *min,
                max: *max,
            },
            Propagation::LogNormal { median, p99 } => DelayModel::LogNormal {
                median: *median,
                p99: *p99,
            },
            Propagation::Empirical { samples } => DelayModel::Empirical(samples.clone()),
        }
    }
}

impl Default for Propagation {
    /// 2–4 s: the typical propagation delay seen in the field.
    fn default() -> Self {
        Self::Uniform {
            min: Duration::from_secs(2),
            max: Duration::from_secs(4),
        }
    }
}

/// Replica routing, fault rules and delay models: the double's own
/// configuration types, so their rules live in one place.
pub use crate::sim::consistency::{DelayModel, Routing};
pub use crate::sim::faults::{DelaySpec, FaultSpec};

/// A distribution in the admin API's JSON form (latency faults).
fn delay_spec(p: &Propagation) -> DelaySpec {
    let ms = |d: &Duration| Some(d.as_millis() as u64);
    match p {
        Propagation::Fixed { delay } => DelaySpec {
            model: "fixed".into(),
            delay_ms: ms(delay),
            ..DelaySpec::default()
        },
        Propagation::Uniform { min, max } => DelaySpec {
            model: "uniform".into(),
            min_ms: ms(min),
            max_ms: ms(max),
            ..DelaySpec::default()
        },
        Propagation::LogNormal { median, p99 } => DelaySpec {
            model: "lognormal".into(),
            median_ms: ms(median),
            p99_ms: ms(p99),
            ..DelaySpec::default()
        },
        Propagation::Empirical { samples } => DelaySpec {
            model: "empirical".into(),
            samples_ms: Some(samples.iter().map(|d| d.as_millis() as u64).collect()),
            ..DelaySpec::default()
        },
    }
}

/// The delay fields a distribution is read from, wherever they appear.
struct DelayFields<'r> {
    model: Option<&'r Text>,
    delay: Option<&'r Text>,
    min: Option<&'r Text>,
    max: Option<&'r Text>,
    median: Option<&'r Text>,
    p99: Option<&'r Text>,
    samples: Option<&'r Vec<Text>>,
}

macro_rules! delay_fields {
    ($raw:expr) => {
        DelayFields {
            model: $raw.model.as_ref(),
            delay: $raw.delay.as_ref(),
            min: $raw.min.as_ref(),
            max: $raw.max.as_ref(),
            median: $raw.median.as_ref(),
            p99: $raw.p99.as_ref(),
            samples: $raw.samples.as_ref(),
        }
    };
}
use delay_fields;

/// Most samples in an empirical distribution.
pub const MAX_SAMPLES: usize = 10_000;

/// Quotas in requests per second, each 1..=[`MAX_QUOTA_PER_S`]: the
/// double's own configuration type, so defaults live in one place.
pub use crate::sim::throttle::Quotas;

/// An IAM role existing at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Valid IAM role name, unique in the scenario.
    pub name: String,
    /// Who may assume it.
    pub trust: Trust,
    /// Inline policies at start as (policy name, policy JSON), in file order,
    /// names unique. The JSON is the file's text unchanged, checked to be a
    /// JSON object; its policy grammar is the target's to judge (a malformed
    /// policy is an answer to observe, not a scenario error).
    pub inline: Vec<(String, String)>,
}

/// A role's trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Trusts `ec2.amazonaws.com`, so instances get credentials.
    Ec2,
    /// Trusts nobody: the runbook's broken-trust cause (instances never get credentials).
    Nobody,
    /// A trust policy document (JSON text) read from a file.
    Document(String),
}

/// An instance profile existing at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfile {
    /// Valid instance profile name, unique in the scenario.
    pub name: String,
    /// Names a [`Role`] of the scenario.
    pub role: String,
}

/// An S3 bucket existing at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Valid S3 bucket name, unique in the scenario.
    pub name: String,
    /// Keys of the objects seeded before the load starts.
    pub objects: Option<KeyPattern>,
    /// Size of each seeded object, at most [`MAX_OBJECT_SIZE_BYTES`].
    pub object_size_bytes: u64,
}

/// A group of identical simulated instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetGroup {
    /// Group name, `[a-z0-9-]`, unique in the scenario.
    pub group: String,
    /// Names an [`InstanceProfile`] of the scenario.
    pub instance_profile: String,
    /// 1..=[`MAX_INSTANCES`].
    pub instances: u32,
    /// Most requests in flight per instance, 1..=[`MAX_WORKERS_PER_INSTANCE`].
    pub workers_per_instance: u32,
    /// From launch to the app's first credential fetch (the OS boot), at
    /// most [`MAX_BOOT_DELAY`]; an instance joins the load after it and
    /// its boot.
    pub boot_delay: Duration,
}

/// One stream of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadEntry {
    /// Unique among load entries; the op's name unless the file gave one.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// `Some` exactly when `op.service()` is [`Service::S3`]; names a [`Bucket`].
    pub bucket: Option<String>,
    /// `Some` exactly when [`Op::needs_keys`].
    pub keys: Option<KeyPattern>,
    /// `Some` exactly when [`Op::needs_role`]: the role's name and, for
    /// `sts:AssumeRole`, the session name.
    pub role: Option<RoleTarget>,
    /// How a request picks among `keys`.
    pub key_choice: KeyChoice,
    /// Open (rate profile, arrivals) or closed (workers, think time).
    pub model: LoadModel,
    /// From the start of the run; `start < end`.
    pub start: Duration,
    /// From the start of the run; `end <= duration`.
    pub end: Duration,
    /// Names a [`FleetGroup`]; `None` means every group sends its share.
    pub group: Option<String>,
    /// `s3:PutObject` body size; `None`: the bucket's object size.
    pub size_bytes: Option<u64>,
    /// This entry's own SDK behaviour; `None`: the scenario's `[sdk]`.
    pub sdk: Option<SdkBehaviour>,
    /// What sends its requests; [`Engine::Raw`] only for [`Engine::RAW_OPS`].
    pub engine: Engine,
}

/// The operations a load entry can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `s3:GetObject`.
    S3GetObject,
    /// `s3:PutObject`.
    S3PutObject,
    /// `s3:HeadObject`.
    S3HeadObject,
    /// `s3:ListObjectsV2`.
    S3ListObjectsV2,
    /// `s3:DeleteObject`.
    S3DeleteObject,
    /// `sts:GetCallerIdentity`.
    StsGetCallerIdentity,
    /// `sts:AssumeRole`, chained from the instance's role credentials.
    StsAssumeRole,
    /// `iam:GetRole`.
    IamGetRole,
}

impl Op {
    /// Every op, in the order error messages list them.
    pub const ALL: [Op; 8] = [
        Op::S3GetObject,
        Op::S3PutObject,
        Op::S3HeadObject,
        Op::S3ListObjectsV2,
        Op::S3DeleteObject,
        Op::StsGetCallerIdentity,
        Op::StsAssumeRole,
        Op::IamGetRole,
    ];

    /// The IAM action name, as in policies and reports (`"s3:GetObject"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::S3GetObject => "s3:GetObject",
            Op::S3PutObject => "s3:PutObject",
            Op::S3HeadObject => "s3:HeadObject",
            Op::S3ListObjectsV2 => "s3:ListObjectsV2",
            Op::S3DeleteObject => "s3:DeleteObject",
            Op::StsGetCallerIdentity => "sts:GetCallerIdentity",
            Op::StsAssumeRole => "sts:AssumeRole",
            Op::IamGetRole => "iam:GetRole",
        }
    }

    /// The op named exactly `name` (as [`Op::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// The service that answers it, which picks the client and the quota.
    pub fn service(self) -> Service {
        match self {
            Op::StsGetCallerIdentity | Op::StsAssumeRole => Service::Sts,
            Op::IamGetRole => Service::Iam,
            _ => Service::S3,
        }
    }

    /// Whether the op is about a role, and so needs `role`.
    pub fn needs_role(self) -> bool {
        matches!(self, Op::StsAssumeRole | Op::IamGetRole)
    }

    /// Whether the op addresses single objects, and so needs `keys`.
    pub fn needs_keys(self) -> bool {
        matches!(
            self,
            Op::S3GetObject | Op::S3PutObject | Op::S3HeadObject | Op::S3DeleteObject
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS service the load talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Amazon S3.
    S3,
    /// AWS STS.
    Sts,
    /// AWS IAM.
    Iam,
}

impl Service {
    /// The IAM service prefix (`"s3"`, `"sts"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Sts => "sts",
            Service::Iam => "iam",
        }
    }
}

/// A change made while the load runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineAction {
    /// From the start of the run; `at < duration`.
    pub at: Duration,
    /// What changes.
    pub kind: TimelineKind,
    /// Whether, and which way, to measure the change's propagation.
    pub measure: Option<Measure>,
    /// The op whose outcomes measure it; always the op of some load entry.
    /// Meaningful only with `measure`.
    pub probe_op: Op,
}

/// A change: IAM and S3 through the SDK, the rest through the double's
/// admin API ([`TimelineKind::needs_double`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineKind {
    /// Create or replace an inline policy of `role`.
    PutRolePolicy {
        /// Names a [`Role`].
        role: String,
        /// Valid IAM policy name.
        policy_name: String,
        /// The new policy's JSON text, read from the file at load time.
        document: String,
    },
    /// Remove an inline policy of `role`; the role has it at that time
    /// (inline at start, or put by an earlier action).
    DeleteRolePolicy {
        /// Names a [`Role`].
        role: String,
        /// Valid IAM policy name.
        policy_name: String,
    },
    /// Attach a managed policy to `role`.
    AttachRolePolicy { role: String, policy_arn: String },
    /// Detach a managed policy from `role`.
    DetachRolePolicy { role: String, policy_arn: String },
    /// A new version of a managed policy, made the default unless told not.
    CreatePolicyVersion {
        policy_arn: String,
        document: String,
        set_as_default: bool,
    },
    /// Replace `role`'s trust policy (break or fix trust).
    UpdateAssumeRolePolicy { role: String, trust: Trust },
    /// Set `role`'s permissions boundary to a managed policy.
    PutRolePermissionsBoundary { role: String, policy_arn: String },
    /// Remove `role`'s permissions boundary.
    DeleteRolePermissionsBoundary { role: String },
    /// Replace a scenario bucket's policy (JSON text read at load time).
    PutBucketPolicy { bucket: String, document: String },
    /// Remove a scenario bucket's policy.
    DeleteBucketPolicy { bucket: String },
    /// Every instance of `group` (all: `None`) loses its IMDS for `window`.
    ImdsOutage {
        group: Option<String>,
        mode: ImdsOutageMode,
        window: Duration,
    },
    /// Every instance of `group` (all: `None`) has its IMDS answer at most
    /// `rate_per_s` requests per second for `window`.
    ImdsThrottle {
        group: Option<String>,
        rate_per_s: u32,
        window: Duration,
    },
    /// One fault rule, active from when it is posted for its `for_ms`.
    Fault {
        action: FaultAction,
        spec: Box<FaultSpec>,
    },
    /// Launch instances into `group` with its current launch template.
    ScaleOut { group: String, size: FleetSize },
    /// Retire `group`'s newest instances.
    ScaleIn { group: String, size: FleetSize },
    /// Replace the instance-profile association of every running instance
    /// of `group` (all: `None`) through the EC2 API; IMDS serves the new role
    /// after the double's association lag, or at once after a reboot.
    SwapInstanceProfile {
        group: Option<String>,
        instance_profile: String,
    },
    /// Reboot every running instance of `group` (all: `None`) through the EC2 API.
    RebootInstance { group: Option<String> },
    /// A new launch template version for `group`, current from now on.
    SetLaunchTemplate {
        group: String,
        instance_profile: Option<String>,
        workers_per_instance: Option<u32>,
        boot_delay: Option<Duration>,
    },
    /// Rolling replacement of every instance of `group` running when it
    /// starts, `batch` at a time: launch from the current template, boot,
    /// join, retire as many old ones, wait `pause`, repeat.
    Replace {
        group: String,
        batch: u32,
        pause: Duration,
    },
}

impl TimelineKind {
    /// The action's name as the scenario file writes it (`"put-role-policy"`).
    pub fn name(&self) -> &'static str {
        use TimelineKind as K;
        match self {
            K::PutRolePolicy { .. } => "put-role-policy",
            K::DeleteRolePolicy { .. } => "delete-role-policy",
            K::AttachRolePolicy { .. } => "attach-role-policy",
            K::DetachRolePolicy { .. } => "detach-role-policy",
            K::CreatePolicyVersion { .. } => "create-policy-version",
            K::UpdateAssumeRolePolicy { .. } => "update-assume-role-policy",
            K::PutRolePermissionsBoundary { .. } => "put-role-permissions-boundary",
            K::DeleteRolePermissionsBoundary { .. } => "delete-role-permissions-boundary",
            K::PutBucketPolicy { .. } => "put-bucket-policy",
            K::DeleteBucketPolicy { .. } => "delete-bucket-policy",
            K::ImdsOutage { .. } => "imds-outage",
            K::ImdsThrottle { .. } => "imds-throttle",
            K::Fault { action, .. } => action.as_str(),
            K::ScaleOut { .. } => "scale-out",
            K::ScaleIn { .. } => "scale-in",
            K::SwapInstanceProfile { .. } => "swap-instance-profile",
            K::RebootInstance { .. } => "reboot-instance",
            K::SetLaunchTemplate { .. } => "set-launch-template",
            K::Replace { .. } => "replace",
        }
    }

    /// Whether only the embedded double can apply it (through its admin API).
    pub fn needs_double(&self) -> bool {
        matches!(
            self,
            TimelineKind::ImdsOutage { .. }
                | TimelineKind::ImdsThrottle { .. }
                | TimelineKind::Fault { .. }
                | TimelineKind::ScaleOut { .. }
                | TimelineKind::ScaleIn { .. }
                | TimelineKind::SetLaunchTemplate { .. }
                | TimelineKind::Replace { .. }
                | TimelineKind::SwapInstanceProfile { .. }
                | TimelineKind::RebootInstance { .. }
        )
    }
}

/// Which way a measured change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Time until requests that were denied succeed.
    Grant,
    /// Time until requests that succeeded are denied (and how many still
    /// succeed meanwhile: the exposure).
    Revoke,
}

/// Read and validate the scenario at `path`; policy files are resolved
/// against its directory.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let fail = |message: String, help: &str| ScenarioError {
        diagnostics: vec![Diagnostic {
            file: name.clone(),
            line: 1,
            col: 1,
            message,
            help: Some(help.to_owned()),
            source_line: None,
            width: 1,
        }],
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_SCENARIO_FILE_BYTES => {
            return Err(fail(
                format!(
                    "scenario file is {} bytes, more than the {MAX_SCENARIO_FILE_BYTES}-byte limit",
                    meta.len()
                ),
                "a scenario is a short description; check that this is the right file",
            ));
        }
        Ok(_) => {}
        Err(error) => {
            return Err(fail(
                format!("cannot read scenario file: {error}"),
                "check the path; scenarios/quickstart.toml is an example",
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|error| {
        fail(
            format!("cannot read scenario file: {error}"),
            "a scenario file must be UTF-8 TOML text",
        )
    })?;
    // `parent` is "" for a bare file name: joining onto it keeps policy paths
    // as short as the user wrote them ("policies/x.json", not "./policies/x.json").
    let base_dir = path.parent().unwrap_or(Path::new(""));
    parse(&name, &text, base_dir)
}

/// Validate scenario `text`, naming it `source_name` in diagnostics and
/// resolving policy files against `base_dir`.
pub fn parse(source_name: &str, text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
    let source = SourceFile::new(source_name, text);
    let mut validator = Validator {
        source: &source,
        base_dir,
        diagnostics: Vec::new(),
        documents: HashMap::new(),
    };
    match RawScenario::parse(text) {
        Err(syntax_errors) => {
            for error in syntax_errors {
                let help =
                    "fix the TOML syntax here; the rest of the file is checked once it parses";
                validator.error(error.span, error.message, help);
            }
            Err(validator.into_error())
        }
        Ok((raw, shape_errors)) => {
            for error in shape_errors {
                validator.shape_error(error);
            }
            validator.scenario(&raw)
        }
    }
}

const DURATION_HELP: &str =
    "write a number followed by a unit: ms, s, m or h (for example \"250ms\", \"3s\", \"2m\")";
const SIZE_HELP: &str = "write a whole number followed by B, KiB or MiB (for example \"512B\", \"1KiB\", \"4MiB\"; 1KiB = 1024B)";
const IAM_NAME_CHARS: &str = "letters, digits and +=,.@_-";

/// Names defined by one section, for checking references into it.
struct Names<'r> {
    names: Vec<&'r str>,
    /// False when an entry of the section failed to read, so an unknown name
    /// may just be in that entry: such references are not reported.
    complete: bool,
}

impl<'r> Names<'r> {
    fn new(names: impl IntoIterator<Item = &'r str>, complete: bool) -> Self {
        Self {
            names: names.into_iter().collect(),
            complete,
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }
}

/// What a policy file read produced, so a file named twice is read once and
/// its JSON error reported once.
enum Document {
    Read(String),
    Reported,
}

struct Validator<'a> {
    source: &'a SourceFile,
    base_dir: &'a Path,
    diagnostics: Vec<Diagnostic>,
    documents: HashMap<PathBuf, Document>,
}

impl Validator<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let diagnostic = self.source.diagnostic(span, message, Some(help.into()));
        self.diagnostics.push(diagnostic);
    }

    /// An error about part of a string value (`at`, a byte range within it).
    fn error_in(&mut self, value: &Text, at: Option<Range<usize>>, message: String, help: &str) {
        let span = match at {
            Some(at) => self
                .source
                .span_within_string(value.span(), value.get_ref(), at),
            None => value.span(),
        };
        self.error(span, message, help);
    }

    fn shape_error(&mut self, error: ShapeError) {
        let help = shape_help(&error);
        let diagnostic = self.source.diagnostic(error.span, error.message, help);
        self.diagnostics.push(diagnostic);
    }

    fn into_error(mut self) -> ScenarioError {
        let name = self.source.name().to_owned();
        self.diagnostics.sort_by(|a, b| {
            (a.file != name, &a.file, a.line, a.col).cmp(&(b.file != name, &b.file, b.line, b.col))
        });
        ScenarioError {
            diagnostics: self.diagnostics,
        }
    }

    fn scenario(mut self, raw: &RawScenario) -> Result<Scenario, ScenarioError> {
        let name = raw.name.as_ref().and_then(|name| self.scenario_name(name));
        let seed = raw.seed.as_ref().and_then(|seed| self.seed(seed));
        let duration = raw.duration.as_ref().and_then(|duration| {
            let value = self.duration(duration, "duration")?;
            if value.is_zero() {
                self.error(
                    duration.span(),
                    "`duration` must be greater than 0s",
                    "it is the total load time, for example duration = \"30s\"",
                );
                return None;
            }
            Some(value)
        });
        let target = self.target(raw.target.as_ref());
        let sim = self.sim(raw.sim.as_ref());
        let sdk = self.sdk(raw.sdk.as_ref());

        let roles = self.roles(&raw.roles);
        let role_names = Names::new(
            raw.roles.items.iter().map(|r| r.name.get_ref().as_str()),
            raw.roles.complete,
        );
        let instance_profiles = self.instance_profiles(&raw.instance_profiles, &role_names);
        let profile_names = Names::new(
            raw.instance_profiles
                .items
                .iter()
                .map(|p| p.name.get_ref().as_str()),
            raw.instance_profiles.complete,
        );
        let buckets = self.buckets(&raw.buckets);
        let bucket_names = Names::new(
            raw.buckets.items.iter().map(|b| b.name.get_ref().as_str()),
            raw.buckets.complete,
        );
        let fleet = self.fleet(&raw.fleet, &profile_names);
        let group_names = Names::new(
            raw.fleet.items.iter().map(|g| g.group.get_ref().as_str()),
            raw.fleet.complete,
        );
        let expanded_load = self.expand_mixes(&raw.load);
        let load = self.load(
            &expanded_load,
            duration,
            &bucket_names,
            &group_names,
            &role_names,
        );
        let timeline = self.timeline(
            raw,
            &expanded_load,
            duration,
            &timeline::Refs {
                roles: &role_names,
                buckets: &bucket_names,
                groups: &group_names,
                profiles: &profile_names,
            },
        );
        let thresholds = self.thresholds(raw.thresholds.as_deref().unwrap_or_default());

        if !self.diagnostics.is_empty() {
            return Err(self.into_error());
        }
        match (name, duration, target, sim, sdk) {
            (Some(name), Some(duration), Some(target), Some(sim), Some(sdk)) => Ok(Scenario {
                name,
                seed,
                duration,
                target,
                sim,
                sdk,
                roles,
                instance_profiles,
                buckets,
                fleet,
                load,
                timeline,
                thresholds,
            }),
            _ => unreachable!("a required value is missing but no diagnostic says why"),
        }
    }

    /// `thresholds = [...]`: each parsed, errors pointing into the string.
    fn thresholds(&mut self, raw: &[Text]) -> Vec<crate::thresholds::Threshold> {
        let mut out = Vec::new();
        for text in raw {
            match crate::thresholds::parse(text.get_ref()) {
                Ok(t) => out.push(t),
                Err(e) => {
                    let at = e.at.min(text.get_ref().len());
                    let end = (at + 1).min(text.get_ref().len());
                    self.error_in(
                        text,
                        Some(at..end.max(at)),
                        format!("threshold: {}", e.message),
                        &e.help,
                    );
                }
            }
        }
        out
    }

    fn scenario_name(&mut self, name: &Text) -> Option<String> {
        let value = name.get_ref();
        let valid_chars = value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if (1..=63).contains(&value.len()) && valid_chars {
            return Some(value.clone());
        }
        let help = match slug(value) {
            Some(slug) => {
                format!("it becomes part of the run id and results folder; try name = \"{slug}\"")
            }
            None => {
                "it becomes part of the run id and results folder; use 1 to 63 of a-z, 0-9 and '-'"
                    .to_owned()
            }
        };
        let message = if value.is_empty() || value.len() > 63 {
            format!("scenario name {value:?} must be 1 to 63 characters long")
        } else {
            format!("scenario name {value:?} may only contain lowercase letters, digits and '-'")
        };
        self.error(name.span(), message, help);
        None
    }

    fn seed(&mut self, seed: &Int) -> Option<u64> {
        match u64::try_from(*seed.get_ref()) {
            Ok(value) => Some(value),
            Err(_) => {
                self.error(
                    seed.span(),
                    format!("seed must be 0 or greater (got {})", seed.get_ref()),
                    "any non-negative integer works, for example seed = 42; leave it out to get a fresh one",
                );
                None
            }
        }
    }

    /// An object size: a byte size of at most [`MAX_OBJECT_SIZE_BYTES`].
    fn object_size(&mut self, size: &Text, field: &str) -> Option<u64> {
        match parse_byte_size(size.get_ref()) {
            Ok(bytes) if bytes > MAX_OBJECT_SIZE_BYTES => {
                self.error(
                    size.span(),
                    format!(
                        "{field} {:?} is larger than the 16MiB limit",
                        size.get_ref()
                    ),
                    "the double keeps objects in memory; use at most \"16MiB\"",
                );
                None
            }
            Ok(bytes) => Some(bytes),
            Err(error) => {
                let message = format!("invalid size {:?} for `{field}`: {error}", size.get_ref());
                self.error_in(size, error.at(), message, SIZE_HELP);
                None
            }
        }
    }

    fn duration(&mut self, value: &Text, field: &str) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(duration) if duration > MAX_DURATION => {
                self.error(
                    value.span(),
                    format!("`{field}` of {duration:?} is longer than the {MAX_DURATION:?} limit"),
                    "split very long soaks into several runs",
                );
                None
            }
            Ok(duration) => Some(duration),
            Err(error) => {
                let message = format!(
                    "invalid duration {:?} for `{field}`: {error}",
                    value.get_ref()
                );
                self.error_in(value, error.at(), message, DURATION_HELP);
                None
            }
        }
    }

    /// An integer in `range`, converted to the type that holds it.
    fn int<T: TryFrom<i64>>(
        &mut self,
        value: &Int,
        field: &str,
        range: RangeInclusive<i64>,
        help: &str,
    ) -> Option<T> {
        let n = *value.get_ref();
        if range.contains(&n) {
            T::try_from(n).ok()
        } else {
            self.error(
                value.span(),
                format!(
                    "`{field}` must be between {} and {} (got {n})",
                    range.start(),
                    range.end()
                ),
                help,
            );
            None
        }
    }

    fn sim(&mut self, raw: Option<&RawSim>) -> Option<SimSettings> {
        let default = RawSim::default();
        let raw = raw.unwrap_or(&default);
        let account_id = match &raw.account_id {
            None => Some(DEFAULT_ACCOUNT_ID.to_owned()),
            Some(id)
                if id.get_ref().len() == 12 && id.get_ref().bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(id.get_ref().clone())
            }
            Some(id) => {
                self.error(
                    id.span(),
                    format!("account_id {:?} must be exactly 12 digits", id.get_ref()),
                    "AWS account ids are 12 digits, for example account_id = \"123456789012\"",
                );
                None
            }
        };
        let base = match &raw.model {
            None => Some(sim_model::ModelBase::default()),
            Some(reference) => self.model_file(reference),
        };
        let default = RawPropagation::default();
        let own = self.propagation_part(
            raw.propagation.as_ref().unwrap_or(&default),
            "[sim.propagation]",
        );
        // The scenario's own fields win over the model file's, which win
        // over the defaults.
        let (propagation, grant, revoke, replicas, routing) = match (&base, own) {
            (Some(base), Some(own)) => {
                let base = &base.propagation;
                (
                    Some(own.delay.or(base.delay.clone()).unwrap_or_default()),
                    Some(own.grant.or(base.grant.clone())),
                    Some(own.revoke.or(base.revoke.clone())),
                    Some(own.replicas.or(base.replicas).unwrap_or(DEFAULT_REPLICAS)),
                    Some(own.routing.or(base.routing).unwrap_or(Routing::Random)),
                )
            }
            _ => (None, None, None, None, None),
        };
        let new_credential_lag = match &raw.new_credential_lag {
            None => Some(Duration::ZERO),
            Some(v) => self.duration(v, "new_credential_lag"),
        };
        let base_quotas = base.as_ref().map(|b| b.quotas.clone()).unwrap_or_default();
        let quotas = self.quotas(raw.quotas.as_ref(), &base_quotas);
        let faults: Vec<Option<FaultSpec>> = raw.faults.iter().map(|f| self.fault(f)).collect();
        let imds_default = model::RawSimImds::default();
        let imds = raw.imds.as_ref().unwrap_or(&imds_default);
        let mut imds_duration = |v: &Option<Text>, field: &str| match v {
            None => Some(None),
            Some(v) => self.duration(v, field).map(Some),
        };
        let imds_credentials_ttl = imds_duration(&imds.credentials_ttl, "credentials_ttl");
        let imds_rotate_before = imds_duration(&imds.rotate_before, "rotate_before");
        let imds_association_lag = imds_duration(&imds.association_lag, "association_lag");
        Some(SimSettings {
            account_id: account_id?,
            propagation: propagation?,
            grant: grant?,
            revoke: revoke?,
            replicas: replicas?,
            routing: routing?,
            new_credential_lag: new_credential_lag?,
            quotas: quotas?,
            faults: faults.into_iter().collect::<Option<Vec<_>>>()?,
            imds_credentials_ttl: imds_credentials_ttl?,
            imds_rotate_before: imds_rotate_before?,
            imds_association_lag: imds_association_lag?,
        })
    }

    /// `[sim.propagation.grant]`/`revoke`: `Some(None)` when absent.
    fn own_delay(&mut self, raw: Option<&RawDelay>, section: &str) -> Option<Option<Propagation>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        match self.delay(delay_fields!(raw), section)? {
            Some(p) => Some(Some(p)),
            None => {
                self.error(
                    0..0,
                    format!("{section} has no `model`"),
                    "add model = \"fixed\" (with delay), \"uniform\", \"lognormal\" or \"empirical\"",
                );
                None
            }
        }
    }

    /// A delay distribution; `Some(None)` when no field is set.
    fn delay(&mut self, raw: DelayFields<'_>, section: &str) -> Option<Option<Propagation>> {
        let what = if section.starts_with("[sim.propagation") || section.starts_with("[propagation")
        {
            "propagation"
        } else {
            "delay"
        };
        let timings = [
            ("delay", raw.delay),
            ("min", raw.min),
            ("max", raw.max),
            ("median", raw.median),
            ("p99", raw.p99),
        ];
        let Some(model) = raw.model else {
            let first = timings
                .iter()
                .find_map(|(f, v)| v.map(|v| (*f, v.span())))
                .or(raw
                    .samples
                    .map(|s| ("samples", s.first().map_or(0..0, |t| t.span()))));
            if let Some((field, span)) = first {
                self.error(
                    span,
                    format!("`{field}` is set but `model` is not"),
                    format!("add model = \"uniform\" (with min and max), \"fixed\" (with delay), \"lognormal\" (with median and p99) or \"empirical\" (with samples) to {section}"),
                );
                return None;
            }
            return Some(None);
        };
        let (used, help): (&[&str], &str) = match model.get_ref().as_str() {
            "fixed" => (
                &["delay"],
                "the fixed model takes only `delay`, for example delay = \"2s\"",
            ),
            "uniform" => (
                &["min", "max"],
                "the uniform model takes `min` and `max`, for example min = \"1s\" and max = \"4s\"",
            ),
            "lognormal" => (
                &["median", "p99"],
                "the lognormal model takes `median` and `p99`, for example median = \"3s\" and p99 = \"9s\"",
            ),
            "empirical" => (
                &["samples"],
                "the empirical model takes `samples`, for example samples = [\"1s\", \"2.5s\", \"9s\"]",
            ),
            other => {
                self.error(
                    model.span(),
                    format!("unknown {what} model {other:?}"),
                    "use model = \"fixed\" (delay), \"uniform\" (min, max), \"lognormal\" (median, p99) or \"empirical\" (samples)",
                );
                return None;
            }
        };
        let mut ok = true;
        let present = timings
            .iter()
            .filter_map(|(f, v)| v.map(|v| (*f, v.span())))
            .chain(
                raw.samples
                    .map(|s| ("samples", s.first().map_or(model.span(), |t| t.span()))),
            );
        for (field, span) in present.collect::<Vec<_>>() {
            if !used.contains(&field) {
                self.error(
                    span,
                    format!(
                        "`{field}` is not used by the {:?} {what} model",
                        model.get_ref()
                    ),
                    format!("remove it; {help}"),
                );
                ok = false;
            }
        }
        let missing: Vec<String> = used
            .iter()
            .filter(|f| match **f {
                "samples" => raw.samples.is_none(),
                f => timings.iter().any(|(t, v)| *t == f && v.is_none()),
            })
            .map(|f| format!("`{f}`"))
            .collect();
        if !missing.is_empty() {
            self.error(
                model.span(),
                format!(
                    "the {:?} {what} model needs {}",
                    model.get_ref(),
                    missing.join(" and ")
                ),
                help,
            );
            return None;
        }
        let mut parse =
            |value: Option<&Text>, field: &str| value.and_then(|v| self.duration(v, field));
        let propagation = match model.get_ref().as_str() {
            "fixed" => Propagation::Fixed {
                delay: parse(raw.delay, "delay")?,
            },
            "uniform" => {
                let (min, max) = (parse(raw.min, "min"), parse(raw.max, "max"));
                let (min, max) = (min?, max?);
                if min > max {
                    let span = raw.min.map_or(model.span(), |min| min.span());
                    self.error(
                        span,
                        format!("{what} `min` ({min:?}) is greater than `max` ({max:?})"),
                        "min is the shortest delay and max the longest: swap them, or set them equal for a fixed delay",
                    );
                    return None;
                }
                Propagation::Uniform { min, max }
            }
            "lognormal" => {
                let (median, p99) = (parse(raw.median, "median"), parse(raw.p99, "p99"));
                let (median, p99) = (median?, p99?);
                if median.is_zero() || p99 < median {
                    let span = raw.p99.map_or(model.span(), |v| v.span());
                    self.error(
                        span,
                        format!("lognormal needs 0 < median <= p99 (got median {median:?}, p99 {p99:?})"),
                        "the 99th percentile is at least the median; equal values give a fixed delay",
                    );
                    return None;
                }
                Propagation::LogNormal { median, p99 }
            }
            _ => {
                let texts = raw.samples.map(Vec::as_slice).unwrap_or_default();
                if texts.is_empty() || texts.len() > MAX_SAMPLES {
                    self.error(
                        model.span(),
                        format!(
                            "empirical needs 1 to {MAX_SAMPLES} samples (got {})",
                            texts.len()
                        ),
                        help,
                    );
                    return None;
                }
                let samples: Vec<Option<Duration>> =
                    texts.iter().map(|t| self.duration(t, "samples")).collect();
                Propagation::Empirical {
                    samples: samples.into_iter().collect::<Option<Vec<_>>>()?,
                }
            }
        };
        ok.then_some(Some(propagation))
    }

    /// One `[[sim.faults]]` entry, validated into the admin API's rule.
    fn fault(&mut self, raw: &RawFault) -> Option<FaultSpec> {
        let kind = raw.kind.get_ref().clone();
        let start = raw.start.as_ref().map(|v| self.duration(v, "start"));
        let end = raw.end.as_ref().map(|v| self.duration(v, "end"));
        let start = start.unwrap_or(Some(Duration::ZERO))?;
        let end = match end {
            None => None,
            Some(e) => Some(e?),
        };
        let delay = if kind == "latency" {
            match self.delay(delay_fields!(raw), "this [[sim.faults]] entry")? {
                Some(p) => Some(delay_spec(&p)),
                None => {
                    self.error(
                        raw.kind.span(),
                        "a latency fault needs a delay `model`",
                        "for example model = \"fixed\" and delay = \"200ms\", or model = \"lognormal\" with median and p99",
                    );
                    return None;
                }
            }
        } else {
            if let Some(m) = &raw.model {
                self.error(
                    m.span(),
                    format!("`model` is only used by latency faults, not {kind:?}"),
                    "remove it",
                );
                return None;
            }
            None
        };
        let offset_ms = match &raw.offset {
            None => None,
            Some(v) => {
                let text = v.get_ref();
                let (sign, rest) = match text.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, text.strip_prefix('+').unwrap_or(text)),
                };
                match parse_duration(rest) {
                    Ok(d) => Some(sign * i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                    Err(e) => {
                        self.error(
                            v.span(),
                            format!("invalid clock offset {text:?}: {e}"),
                            "a signed duration: \"-20m\" puts the double's clock 20 minutes behind, \"+20m\" ahead",
                        );
                        return None;
                    }
                }
            }
        };
        let status = match &raw.status {
            None => None,
            Some(s) => {
                Some(self.int::<u16>(s, "status", 400..=599, "an HTTP error status, e.g. 503")?)
            }
        };
        if let Some(service) = raw.service.as_ref().filter(|s| s.get_ref() == "imds") {
            self.error(
                service.span(),
                "[[sim.faults]] cannot target service \"imds\"",
                crate::sim::faults::IMDS_FAULTS_REFUSED,
            );
            return None;
        }
        let text = |t: &Option<Text>| t.as_ref().map(|t| t.get_ref().clone());
        let spec = FaultSpec {
            kind,
            service: text(&raw.service),
            action: text(&raw.action),
            probability: raw.probability.as_ref().map(|p| *p.get_ref()),
            after_ms: Some(start.as_millis() as u64),
            for_ms: end.map(|e| e.saturating_sub(start).as_millis() as u64),
            delay,
            status,
            code: text(&raw.code),
            message: text(&raw.message),
            shape: text(&raw.shape),
            mode: text(&raw.mode),
            offset_ms,
            ..FaultSpec::default()
        };
        if let Some(e) = end
            && e <= start
        {
            let span = raw.end.as_ref().map_or(raw.kind.span(), |v| v.span());
            self.error(
                span,
                format!("`end` ({e:?}) is not after `start` ({start:?})"),
                "a fault is active from start to end, both from the run's start",
            );
            return None;
        }
        match spec.clone().into_fault(0, Duration::ZERO) {
            Ok(_) => Some(spec),
            Err(problem) => {
                self.error(
                    raw.kind.span(),
                    format!("invalid {:?} fault: {problem}", raw.kind.get_ref()),
                    "see the [[sim.faults]] reference in README.md",
                );
                None
            }
        }
    }

    /// `[sim.quotas]` over `base` (the defaults, or a model file's quotas):
    /// each field set here replaces base's.
    fn quotas(&mut self, raw: Option<&RawQuotas>, base: &Quotas) -> Option<Quotas> {
        let Some(raw) = raw else {
            return Some(base.clone());
        };
        let default = base;
        let help =
            "quotas are requests per second per bucket; leave a quota out to keep AWS's default";
        let range = 1..=i64::from(MAX_QUOTA_PER_S);
        let mut quota = |value: &Option<Int>, field: &str, default: u32| match value {
            None => Some(default),
            Some(value) => self.int(value, field, range.clone(), help),
        };
        let quotas = (
            quota(&raw.s3_read_per_s, "s3_read_per_s", default.s3_read_per_s),
            quota(
                &raw.s3_write_per_s,
                "s3_write_per_s",
                default.s3_write_per_s,
            ),
            quota(&raw.sts_per_s, "sts_per_s", default.sts_per_s),
            quota(&raw.iam_per_s, "iam_per_s", default.iam_per_s),
            quota(&raw.imds_per_s, "imds_per_s", default.imds_per_s),
            quota(&raw.ec2_per_s, "ec2_per_s", default.ec2_per_s),
        );
        let imds_fleet_per_s = match &raw.imds_fleet_per_s {
            None => Some(default.imds_fleet_per_s),
            Some(value) => self
                .int(value, "imds_fleet_per_s", range.clone(), help)
                .map(Some),
        };
        Some(Quotas {
            s3_read_per_s: quotas.0?,
            s3_write_per_s: quotas.1?,
            sts_per_s: quotas.2?,
            iam_per_s: quotas.3?,
            imds_per_s: quotas.4?,
            imds_fleet_per_s: imds_fleet_per_s?,
            api_per_s: {
                let mut api = default.api_per_s.clone();
                api.extend(self.api_quotas(raw.api.as_ref())?);
                api
            },
            ec2_per_s: quotas.5?,
        })
    }

    /// `[sim.quotas.api]`: `"service:Api" = rate`.
    fn api_quotas(
        &mut self,
        raw: Option<&std::collections::BTreeMap<String, Int>>,
    ) -> Option<std::collections::BTreeMap<String, u32>> {
        let mut out = std::collections::BTreeMap::new();
        let mut ok = true;
        for (api, rate) in raw.into_iter().flatten() {
            let well_formed = api.split_once(':').is_some_and(|(s, a)| {
                ["s3", "sts", "iam", "imds"].contains(&s)
                    && !a.is_empty()
                    && a.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if !well_formed {
                self.error(
                    rate.span(),
                    format!("{api:?} is not a \"service:Api\" name"),
                    "name one API's bucket, for example \"sts:AssumeRole\" = 100",
                );
                ok = false;
                continue;
            }
            let help = "a per-API quota is requests per second for that API's bucket";
            match self.int::<u32>(rate, api, 1..=i64::from(MAX_QUOTA_PER_S), help) {
                Some(r) => {
                    out.insert(api.clone(), r);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Report every name after the first use of it.
    fn unique<'t>(&mut self, kind: &str, names: impl IntoIterator<Item = &'t Text>) {
        let mut seen: Vec<&Text> = Vec::new();
        for name in names {
            if let Some(first) = seen.iter().find(|first| first.get_ref() == name.get_ref()) {
                let (line, _) = self.source.position(first.span().start);
                self.error(
                    name.span(),
                    format!("{kind} {:?} is defined twice", name.get_ref()),
                    format!("the first definition is on line {line}; rename or remove one"),
                );
            } else {
                seen.push(name);
            }
        }
    }

    /// Check that `reference` names one of `names`; `what` says who refers,
    /// `kind` what is referred to, `section` where such things are defined.
    fn reference(
        &mut self,
        reference: &Text,
        names: &Names<'_>,
        what: &str,
        kind: &str,
        section: &str,
    ) -> bool {
        let name = reference.get_ref();
        if names.contains(name) {
            return true;
        }
        if !names.complete {
            // The name may be in an entry that failed to read; that failure is reported.
            return false;
        }
        let mut help = match closest(name, names.names.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"? "),
            None => String::new(),
        };
        if names.names.is_empty() {
            help.push_str(&format!("no {kind} is defined: add one under {section}"));
        } else {
            help.push_str(&format!(
                "{kind}s defined under {section}: {}",
                names.names.join(", ")
            ));
        }
        self.error(
            reference.span(),
            format!("{what} refers to unknown {kind} {name:?}"),
            help,
        );
        false
    }

    fn iam_name(&mut self, name: &Text, kind: &str, max_len: usize) -> bool {
        let value = name.get_ref();
        let chars_ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if (1..=max_len).contains(&value.len()) && chars_ok {
            return true;
        }
        self.error(
            name.span(),
            format!("{kind} {value:?} is not a valid IAM name"),
            format!("IAM {kind}s are 1 to {max_len} {IAM_NAME_CHARS}"),
        );
        false
    }

    /// Read a policy file named by `reference` (relative to the scenario).
    /// `hint` is added to the help when the file does not exist.
    fn document(&mut self, reference: &Text, what: &str, hint: &str) -> Option<String> {
        let relative = reference.get_ref();
        if relative.is_empty() {
            self.error(
                reference.span(),
                format!("{what} path is empty"),
                "give the path of a JSON policy file, relative to the scenario file",
            );
            return None;
        }
        let path = self.base_dir.join(relative);
        match self.documents.get(&path) {
            Some(Document::Read(json)) => return Some(json.clone()),
            Some(Document::Reported) => return None,
            None => {}
        }
        let read = std::fs::metadata(&path).and_then(|meta| {
            if meta.len() > MAX_POLICY_FILE_BYTES {
                Ok(Err(meta.len()))
            } else {
                std::fs::read_to_string(&path).map(Ok)
            }
        });
        let text = match read {
            Ok(Ok(text)) => text,
            Ok(Err(len)) => {
                self.error(
                    reference.span(),
                    format!("{what} {} is {len} bytes, more than the {MAX_POLICY_FILE_BYTES}-byte limit", path.display()),
                    "IAM policies are a few KiB at most; check that this is the right file",
                );
                return None;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.error(
                    reference.span(),
                    format!(
                        "{what} {relative:?} not found (looked for {})",
                        path.display()
                    ),
                    format!(
                        "{hint}paths are relative to the scenario file's directory ({})",
                        if self.base_dir.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            self.base_dir
                        }
                        .display()
                    ),
                );
                return None;
            }
            Err(error) => {
                self.error(
                    reference.span(),
                    format!("cannot read {what} {}: {error}", path.display()),
                    "a policy file must be a readable UTF-8 JSON file",
                );
                return None;
            }
        };
        let (line, col) = self.source.position(reference.span().start);
        let used_at = format!("{}:{line}:{col}", self.source.name());
        let file = SourceFile::new(path.display().to_string(), text);
        let problem = match serde_json::from_str::<serde_json::Value>(file.text()) {
            Ok(serde_json::Value::Object(_)) => None,
            Ok(_) => {
                let start = file.text().len() - file.text().trim_start().len();
                Some((
                    start..start + 1,
                    format!("{what} must be a JSON object"),
                    format!(
                        "a policy looks like {{\"Version\": \"2012-10-17\", \"Statement\": [...]}}; it is used at {used_at}"
                    ),
                ))
            }
            Err(error) => {
                let offset = file.line_start(error.line()) + error.column().saturating_sub(1);
                let message = error.to_string();
                let suffix = format!(" at line {} column {}", error.line(), error.column());
                let message = message.strip_suffix(&suffix).unwrap_or(&message);
                Some((
                    offset..offset + 1,
                    format!("invalid JSON in {what}: {message}"),
                    format!("fix the JSON here; the file is used at {used_at}"),
                ))
            }
        };
        // Checked with the grammar IAM applies on write, so a document IAM
        // would refuse is reported here, with its place in the scenario,
        // not as a failed setup call against the target.
        let grammar = match problem {
            Some(_) => None,
            None => iam_grammar_problem(file.text(), what),
        };
        if let Some(why) = grammar {
            self.error(
                reference.span(),
                format!("{what} {} is not a valid IAM policy: {why}", path.display()),
                "IAM refuses this document (MalformedPolicyDocument); see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html",
            );
            self.documents.insert(path, Document::Reported);
            return None;
        }
        match problem {
            None => {
                let json = file.text().to_owned();
                self.documents.insert(path, Document::Read(json.clone()));
                Some(json)
            }
            Some((span, message, help)) => {
                let diagnostic = file.diagnostic(span, message, Some(help));
                self.diagnostics.push(diagnostic);
                self.documents.insert(path, Document::Reported);
                None
            }
        }
    }

    fn roles(&mut self, section: &Section<RawRole>) -> Vec<Role> {
        self.unique("role", section.items.iter().map(|r| &r.name));
        let mut roles = Vec::new();
        for raw in &section.items {
            let name_ok = self.iam_name(&raw.name, "role name", 64);
            let trust = match raw.trust.get_ref().as_str() {
                "ec2" => Some(Trust::Ec2),
                "none" => Some(Trust::Nobody),
                other => {
                    let hint = match closest(other, ["ec2", "none"]) {
                        Some(close) => format!(
                            "did you mean \"{close}\"? trust is \"ec2\", \"none\" or the path of a trust policy file; "
                        ),
                        None => "trust is \"ec2\", \"none\" or the path of a trust policy file; "
                            .to_owned(),
                    };
                    self.document(&raw.trust, "trust policy file", &hint)
                        .map(Trust::Document)
                }
            };
            let mut inline = Vec::new();
            let mut inline_ok = true;
            for (policy_name, file) in raw.inline.iter().flat_map(|map| &map.0) {
                let name_ok = self.iam_name(policy_name, "policy name", 128);
                match self.document(file, "policy file", "") {
                    Some(document) if name_ok => {
                        inline.push((policy_name.get_ref().clone(), document))
                    }
                    _ => inline_ok = false,
                }
            }
            if let (true, Some(trust), true) = (name_ok, trust, inline_ok) {
                roles.push(Role {
                    name: raw.name.get_ref().clone(),
                    trust,
                    inline,
                });
            }
        }
        roles
    }

    fn instance_profiles(
        &mut self,
        section: &Section<RawInstanceProfile>,
        roles: &Names<'_>,
    ) -> Vec<InstanceProfile> {
        self.unique("instance profile", section.items.iter().map(|p| &p.name));
        let mut profiles = Vec::new();
        for raw in &section.items {
            let name_ok = self.iam_name(&raw.name, "instance profile name", 128);
            let what = format!("instance profile {:?}", raw.name.get_ref());
            let role_ok = self.reference(&raw.role, roles, &what, "role", "[[iam.roles]]");
            if name_ok && role_ok {
                profiles.push(InstanceProfile {
                    name: raw.name.get_ref().clone(),
                    role: raw.role.get_ref().clone(),
                });
            }
        }
        profiles
    }

    fn buckets(&mut self, section: &Section<RawBucket>) -> Vec<Bucket> {
        self.unique("bucket", section.items.iter().map(|b| &b.name));
        let mut buckets = Vec::new();
        let mut seeded_bytes: u64 = 0;
        for raw in &section.items {
            let name_ok = match bucket_name_problem(raw.name.get_ref()) {
                None => true,
                Some(problem) => {
                    let mut help = "S3 bucket names are 3 to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit".to_owned();
                    if let Some(fixed) =
                        slug(raw.name.get_ref()).filter(|s| bucket_name_problem(s).is_none())
                    {
                        help.push_str(&format!("; try \"{fixed}\""));
                    }
                    self.error(
                        raw.name.span(),
                        format!("bucket name {:?} {problem}", raw.name.get_ref()),
                        help,
                    );
                    false
                }
            };
            let objects = match &raw.objects {
                None => Some(None),
                Some(pattern) => self.key_pattern(pattern, "objects").map(Some),
            };
            let object_size_bytes = match &raw.object_size {
                None => Some(1024),
                Some(size) => self.object_size(size, "object_size"),
            };
            if let (Some(Some(pattern)), Some(size), Some(span)) = (
                &objects,
                object_size_bytes,
                raw.objects.as_ref().map(|o| o.span()),
            ) {
                let before = seeded_bytes;
                seeded_bytes = seeded_bytes.saturating_add(pattern.len().saturating_mul(size));
                if before <= MAX_SEEDED_BYTES && seeded_bytes > MAX_SEEDED_BYTES {
                    self.error(
                        span,
                        format!(
                            "seeding {} objects of {size} bytes takes the scenario past the 1GiB limit on seeded data",
                            pattern.len()
                        ),
                        "the double keeps objects in memory; seed fewer or smaller objects",
                    );
                }
            }
            if let (true, Some(objects), Some(object_size_bytes)) =
                (name_ok, objects, object_size_bytes)
            {
                buckets.push(Bucket {
                    name: raw.name.get_ref().clone(),
                    objects,
                    object_size_bytes,
                });
            }
        }
        buckets
    }

    fn key_pattern(&mut self, pattern: &Text, field: &str) -> Option<KeyPattern> {
        match KeyPattern::parse(pattern.get_ref()) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let message = format!(
                    "invalid key pattern {:?} for `{field}`: {error}",
                    pattern.get_ref()
                );
                self.error_in(
                    pattern,
                    error.at(),
                    message,
                    "a key pattern is literal text with at most one {A..B} range, for example \"obj-{0..99}\"",
                );
                None
            }
        }
    }

    fn fleet(&mut self, section: &Section<RawFleetGroup>, profiles: &Names<'_>) -> Vec<FleetGroup> {
        if section.complete && section.items.is_empty() {
            self.error(
                0..0,
                "the scenario has no [[fleet]] group, so nothing sends requests",
                "add a [[fleet]] with group, instance_profile, instances and workers_per_instance",
            );
        }
        self.unique("fleet group", section.items.iter().map(|g| &g.group));
        let mut groups = Vec::new();
        for raw in &section.items {
            let name = raw.group.get_ref();
            let name_ok = (1..=63).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !name_ok {
                self.error(
                    raw.group.span(),
                    format!("fleet group name {name:?} must be 1 to 63 of lowercase letters, digits and '-'"),
                    match slug(name) {
                        Some(slug) => format!("it names the group in reports; try group = \"{slug}\""),
                        None => "it names the group in reports".to_owned(),
                    },
                );
            }
            let what = format!("fleet group {name:?}");
            let profile_ok = self.reference(
                &raw.instance_profile,
                profiles,
                &what,
                "instance profile",
                "[[iam.instance_profiles]]",
            );
            let instances = self.int(
                &raw.instances,
                "instances",
                1..=i64::from(MAX_INSTANCES),
                "instances is how many simulated instances the group launches",
            );
            let workers = self.int(
                &raw.workers_per_instance,
                "workers_per_instance",
                1..=i64::from(MAX_WORKERS_PER_INSTANCE),
                "workers_per_instance caps requests in flight on each instance",
            );
            let boot_delay = match &raw.boot_delay {
                None => Some(Duration::ZERO),
                Some(d) => self.boot_delay(d),
            };
            if let (true, true, Some(instances), Some(workers_per_instance), Some(boot_delay)) =
                (name_ok, profile_ok, instances, workers, boot_delay)
            {
                groups.push(FleetGroup {
                    group: name.clone(),
                    instance_profile: raw.instance_profile.get_ref().clone(),
                    instances,
                    workers_per_instance,
                    boot_delay,
                });
            }
        }
        groups
    }

    /// A launch template's `boot_delay`: a duration up to [`MAX_BOOT_DELAY`].
    fn boot_delay(&mut self, value: &Text) -> Option<Duration> {
        let d = self.duration(value, "boot_delay")?;
        if d > MAX_BOOT_DELAY {
            self.error(
                value.span(),
                format!("`boot_delay` of {d:?} is longer than the {MAX_BOOT_DELAY:?} limit"),
                "it is how long an instance takes to boot before it fetches credentials, e.g. boot_delay = \"30s\"",
            );
            return None;
        }
        Some(d)
    }

    fn op(&mut self, value: &Text, field: &str) -> Option<Op> {
        if let Some(op) = Op::from_name(value.get_ref()) {
            return Some(op);
        }
        let names = Op::ALL.map(Op::as_str);
        let mut help = match closest(value.get_ref(), names) {
            Some(close) => format!("did you mean \"{close}\"? "),
            None => String::new(),
        };
        help.push_str(&format!("supported ops: {}", names.join(", ")));
        self.error(
            value.span(),
            format!("unknown op {:?} for `{field}`", value.get_ref()),
            help,
        );
        None
    }

    fn load(
        &mut self,
        section: &Section<RawLoad>,
        duration: Option<Duration>,
        buckets: &Names<'_>,
        groups: &Names<'_>,
        roles: &Names<'_>,
    ) -> Vec<LoadEntry> {
        if section.complete && section.items.is_empty() {
            self.error(
                0..0,
                "the scenario has no [[load]] entry, so it sends no requests",
                "add a [[load]] with op and rate, for example op = \"s3:GetObject\", bucket, keys and rate = 100",
            );
        }
        let mut entries = Vec::new();
        let mut seen_names: Vec<(String, usize)> = Vec::new();
        for raw in &section.items {
            let op = self.op(raw.op(), "op");
            let name = match &raw.name {
                Some(name) => {
                    let value = name.get_ref();
                    let valid = (1..=64).contains(&value.len())
                        && value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ":_.-/".contains(c));
                    if !valid {
                        self.error(
                            name.span(),
                            format!(
                                "load name {value:?} must be 1 to 64 of letters, digits and :_.-/"
                            ),
                            "it labels this stream's metrics in reports",
                        );
                    }
                    valid.then(|| value.clone())
                }
                None => op.map(|op| op.as_str().to_owned()),
            };
            if let Some(name) = &name {
                let span = raw.name.as_ref().unwrap_or(raw.op()).span();
                if let Some((_, first)) = seen_names.iter().find(|(seen, _)| seen == name) {
                    let (line, _) = self.source.position(*first);
                    self.error(
                        span,
                        format!("load name {name:?} is used twice"),
                        format!(
                            "the first use is on line {line}; give each [[load]] a distinct name = \"...\" (it defaults to the op)"
                        ),
                    );
                } else {
                    seen_names.push((name.clone(), span.start));
                }
            }
            let mut targets_ok = true;
            let bucket = match (op.map(Op::service), &raw.bucket) {
                (Some(Service::S3), None) => {
                    self.error(
                        raw.op().span(),
                        format!("{} needs `bucket`", raw.op().get_ref()),
                        "add bucket = \"...\" naming one of the [[s3.buckets]]",
                    );
                    targets_ok = false;
                    None
                }
                (Some(Service::S3), Some(bucket)) => {
                    let what = format!("load {:?}", name.as_deref().unwrap_or(raw.op().get_ref()));
                    targets_ok &=
                        self.reference(bucket, buckets, &what, "bucket", "[[s3.buckets]]");
                    Some(bucket.get_ref().clone())
                }
                (Some(Service::Sts | Service::Iam), Some(bucket)) => {
                    self.error(
                        bucket.span(),
                        format!("{} does not take `bucket`", raw.op().get_ref()),
                        "remove `bucket`: STS and IAM calls are not about a bucket",
                    );
                    targets_ok = false;
                    None
                }
                (Some(Service::Sts | Service::Iam), None) | (None, _) => None,
            };
            let keys = match (op, &raw.keys) {
                (Some(op), None) if op.needs_keys() => {
                    self.error(
                        raw.op().span(),
                        format!("{op} needs `keys`"),
                        "add keys = \"...\", a key pattern such as \"obj-{0..99}\"",
                    );
                    targets_ok = false;
                    None
                }
                (Some(op), Some(keys)) if op.needs_keys() => {
                    let pattern = self.key_pattern(keys, "keys");
                    targets_ok &= pattern.is_some();
                    pattern
                }
                (Some(op), Some(keys)) => {
                    self.error(
                        keys.span(),
                        format!("{op} does not take `keys`"),
                        "remove `keys`: only s3:GetObject, s3:PutObject, s3:HeadObject and s3:DeleteObject address single objects",
                    );
                    targets_ok = false;
                    None
                }
                (_, _) => None,
            };
            let start = match &raw.start {
                None => Some(Duration::ZERO),
                Some(start) => self.duration(start, "start"),
            };
            let end = match &raw.end {
                None => duration,
                Some(end) => {
                    let value = self.duration(end, "end");
                    match (value, duration) {
                        (Some(value), Some(duration)) if value > duration => {
                            self.error(
                                end.span(),
                                format!("`end` ({value:?}) is after the end of the run (duration = {duration:?})"),
                                "lower `end`, raise `duration`, or leave `end` out to run until the end",
                            );
                            None
                        }
                        _ => value,
                    }
                }
            };
            let window_ok = match (start, end) {
                (Some(start), Some(end)) if start >= end => {
                    let span = raw
                        .end
                        .as_ref()
                        .or(raw.start.as_ref())
                        .map_or(raw.op().span(), |v| v.span());
                    let end_note = if raw.end.is_some() {
                        ""
                    } else {
                        ", the scenario duration"
                    };
                    self.error(
                        span,
                        format!("`start` ({start:?}) must be before `end` ({end:?}{end_note})"),
                        "the stream runs from start to end; make start earlier or end later",
                    );
                    false
                }
                _ => true,
            };
            let window = match (start, end) {
                (Some(start), Some(end)) if window_ok => Some(end - start),
                _ => None,
            };
            let model = self
                .load_model(raw, window)
                .map(|model| match (model, raw.mix_share) {
                    (LoadModel::Open { profile, arrivals }, Some((weight, total))) => {
                        LoadModel::Open {
                            profile: profile.scaled(weight as f64 / total as f64),
                            arrivals,
                        }
                    }
                    (model, _) => model,
                });
            let size_bytes = self.put_size(raw, op);
            let entry_sdk = self.entry_sdk(raw);
            let engine = self.engine(raw, op);
            let role = self.role_target(raw, op, roles);
            let key_choice = self.key_choice(raw);
            let group = match &raw.group {
                None => Some(None),
                Some(group) => {
                    let what = format!("load {:?}", name.as_deref().unwrap_or(raw.op().get_ref()));
                    self.reference(group, groups, &what, "fleet group", "[[fleet]]")
                        .then(|| Some(group.get_ref().clone()))
                }
            };
            if let (
                Some(name),
                Some(op),
                true,
                Some(model),
                Some(key_choice),
                Some(role),
                Some(start),
                Some(end),
                true,
                Some(group),
                Some(size_bytes),
                Some(sdk),
                Some(engine),
            ) = (
                name, op, targets_ok, model, key_choice, role, start, end, window_ok, group,
                size_bytes, entry_sdk, engine,
            ) {
                entries.push(LoadEntry {
                    name,
                    op,
                    bucket,
                    keys,
                    key_choice,
                    role,
                    model,
                    start,
                    end,
                    group,
                    size_bytes,
                    sdk,
                    engine,
                });
            }
        }
        entries
    }

    fn timeline(
        &mut self,
        raw: &RawScenario,
        load: &Section<RawLoad>,
        duration: Option<Duration>,
        refs: &timeline::Refs<'_, '_>,
    ) -> Vec<TimelineAction> {
        let roles = refs.roles;
        let default_probe = load
            .items
            .first()
            .and_then(|load| Op::from_name(load.op().get_ref()));
        let load_ops: Vec<&str> = load
            .items
            .iter()
            .map(|load| load.op().get_ref().as_str())
            .collect();
        // (at, entry) of each action whose role and policy name are valid, to
        // replay the roles' inline policies over time.
        let mut changes: Vec<(Duration, &RawTimelineEntry)> = Vec::new();
        // A change missing from the replay (its entry failed to read, or its
        // `at` did not parse) would make later deletes look wrong: skip it then.
        let mut replay = raw.timeline.complete;
        let mut actions = Vec::new();
        for entry in &raw.timeline.items {
            let at = self.duration(&entry.at, "at");
            replay &= at.is_some();
            if let (Some(at), Some(duration)) = (at, duration)
                && at >= duration
            {
                self.error(
                    entry.at.span(),
                    format!("timeline action at {at:?} is not before the end of the run (duration = {duration:?})"),
                    format!("actions happen while the load runs: use an `at` below {duration:?}"),
                );
            }
            let action_name = entry.action.get_ref().as_str();
            let is_put = match action_name {
                "put-role-policy" => Some(true),
                "delete-role-policy" => Some(false),
                other if timeline::ACTIONS.contains(&other) => None,
                other => {
                    let mut help = match closest(other, timeline::ACTIONS.iter().copied()) {
                        Some(close) => format!("did you mean \"{close}\"? "),
                        None => String::new(),
                    };
                    help.push_str("supported actions: ");
                    help.push_str(&timeline::ACTIONS.join(", "));
                    self.error(
                        entry.action.span(),
                        format!("unknown timeline action {other:?}"),
                        help,
                    );
                    None
                }
            };
            let mut needs = |field: &str, value: &Option<Text>, example: &str| {
                if value.is_none() && is_put.is_some() {
                    self.error(
                        entry.action.span(),
                        format!("{action_name} needs `{field}`"),
                        format!("add {field} = {example}"),
                    );
                }
            };
            needs(
                "role",
                &entry.role,
                "\"...\" naming one of the [[iam.roles]]",
            );
            let stem = entry
                .policy
                .as_ref()
                .and_then(|p| Path::new(p.get_ref()).file_stem())
                .map(|s| format!("{:?}", s.to_string_lossy()))
                .unwrap_or_else(|| "\"...\" (the inline policy's name)".to_owned());
            needs("policy_name", &entry.policy_name, &stem);
            if is_put == Some(true) {
                needs(
                    "policy",
                    &entry.policy,
                    "\"policies/....json\" (relative to the scenario file)",
                );
            }
            let role = entry.role.as_ref().filter(|role| {
                let what = format!("{action_name} at {}", entry.at.get_ref());
                self.reference(role, roles, &what, "role", "[[iam.roles]]")
            });
            let policy_name = entry
                .policy_name
                .as_ref()
                .filter(|name| self.iam_name(name, "policy name", 128));
            let document = match (is_put, &entry.policy) {
                (Some(true), Some(policy)) => self.document(policy, "policy file", ""),
                (Some(false), Some(policy)) => {
                    self.error(
                        policy.span(),
                        "delete-role-policy does not take `policy`",
                        "remove `policy`: delete-role-policy needs only role and policy_name",
                    );
                    None
                }
                _ => None,
            };
            let measure = match entry.measure.as_ref().map(|m| (m, m.get_ref().as_str())) {
                None => Some(None),
                Some((_, "grant")) => Some(Some(Measure::Grant)),
                Some((_, "revoke")) => Some(Some(Measure::Revoke)),
                Some((value, other)) => {
                    self.error(
                        value.span(),
                        format!("unknown measure {other:?}"),
                        "use measure = \"grant\" (time until requests succeed) or \"revoke\" (time until they are denied)",
                    );
                    None
                }
            };
            let probe_op = match &entry.probe_op {
                None => default_probe,
                Some(probe) if entry.measure.is_none() => {
                    self.error(
                        probe.span(),
                        "`probe_op` is only used with `measure`",
                        "add measure = \"grant\" or \"revoke\", or remove probe_op",
                    );
                    None
                }
                Some(probe) => self.op(probe, "probe_op").filter(|op| {
                    let used = load_ops.contains(&op.as_str()) || !load.complete;
                    if !used {
                        self.error(
                            probe.span(),
                            format!("probe_op \"{op}\" is not the op of any [[load]] entry, so nothing would measure it"),
                            format!("ops in [[load]]: {}", load_ops.join(", ")),
                        );
                    }
                    used
                }),
            };
            let repeats = self.repeats(entry, at, duration);
            if let (Some(_), Some(_)) = (role, policy_name) {
                changes.extend(repeats.iter().map(|t| (*t, entry)));
            }
            let action = match (is_put, role, policy_name, document) {
                (Some(true), Some(role), Some(policy_name), Some(document)) => {
                    Some(TimelineKind::PutRolePolicy {
                        role: role.get_ref().clone(),
                        policy_name: policy_name.get_ref().clone(),
                        document,
                    })
                }
                (Some(false), Some(role), Some(policy_name), None) if entry.policy.is_none() => {
                    Some(TimelineKind::DeleteRolePolicy {
                        role: role.get_ref().clone(),
                        policy_name: policy_name.get_ref().clone(),
                    })
                }
                (None, ..) if timeline::ACTIONS.contains(&action_name) => {
                    self.timeline_action(entry, role, refs)
                }
                _ => None,
            };
            if let (Some(_), Some(action), Some(measure), Some(probe_op)) =
                (at, action, measure, probe_op)
            {
                for at in repeats {
                    actions.push(TimelineAction {
                        at,
                        kind: action.clone(),
                        measure,
                        probe_op,
                    });
                }
            }
        }
        if replay {
            self.replay_inline_policies(&raw.roles, changes);
        }
        actions.sort_by_key(|action| action.at);
        actions
    }

    /// The times an entry runs: `at`, then every `repeat.every`, `times` in
    /// all, each before the end of the run. Empty when `at` is unknown.
    fn repeats(
        &mut self,
        entry: &RawTimelineEntry,
        at: Option<Duration>,
        duration: Option<Duration>,
    ) -> Vec<Duration> {
        let Some(at) = at else {
            return Vec::new();
        };
        let Some(repeat) = &entry.repeat else {
            return vec![at];
        };
        let every = self.duration(&repeat.every, "every");
        let times = self.int::<u32>(
            &repeat.times,
            "times",
            1..=10_000,
            "how many times in all, the first at `at`",
        );
        let (Some(every), Some(times)) = (every, times) else {
            return vec![at];
        };
        if every.is_zero() {
            self.error(
                repeat.every.span(),
                "`every` must be above zero",
                "the gap between repetitions, e.g. every = \"6s\"",
            );
            return vec![at];
        }
        let last = at + every * (times - 1);
        if let Some(duration) = duration
            && last >= duration
        {
            self.error(
                repeat.times.span(),
                format!("the last repetition would be at {last:?}, not before the end of the run ({duration:?})"),
                "lower `times` or `every`, or raise `duration`",
            );
        }
        (0..times).map(|k| at + every * k).collect()
    }

    /// Replay put/delete in time order so a delete of a policy the role does
    /// not have at that moment is caught here, not as a `NoSuchEntity` mid-run.
    fn replay_inline_policies(
        &mut self,
        roles: &Section<RawRole>,
        mut changes: Vec<(Duration, &RawTimelineEntry)>,
    ) {
        let mut inline: HashMap<&str, Vec<&str>> = roles
            .items
            .iter()
            .map(|role| {
                let names = role
                    .inline
                    .iter()
                    .flat_map(|m| &m.0)
                    .map(|(name, _)| name.get_ref().as_str());
                (role.name.get_ref().as_str(), names.collect())
            })
            .collect();
        changes.sort_by_key(|(at, _)| *at);
        for (at, entry) in changes {
            let (Some(role), Some(policy_name)) = (&entry.role, &entry.policy_name) else {
                continue;
            };
            let Some(policies) = inline.get_mut(role.get_ref().as_str()) else {
                continue;
            };
            let policy_name = policy_name.get_ref().as_str();
            match entry.action.get_ref().as_str() {
                "put-role-policy" if !policies.contains(&policy_name) => policies.push(policy_name),
                "delete-role-policy" => {
                    if let Some(index) = policies.iter().position(|p| *p == policy_name) {
                        policies.remove(index);
                    } else {
                        let have = if policies.is_empty() {
                            "none".to_owned()
                        } else {
                            policies.join(", ")
                        };
                        let span = entry
                            .policy_name
                            .as_ref()
                            .map_or(entry.action.span(), |n| n.span());
                        self.error(
                            span,
                            format!(
                                "delete-role-policy at {at:?}: role {:?} has no inline policy {policy_name:?} at that time",
                                role.get_ref()
                            ),
                            format!(
                                "its inline policies then are: {have}; list it under the role's `inline`, or put it with an earlier put-role-policy"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Help for a shape error, from its message (the only thing serde gives).
fn shape_help(error: &ShapeError) -> Option<String> {
    let message = error.message.as_str();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`')?;
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return Some(match closest(field, candidates) {
            Some(close) => format!("did you mean `{close}`?"),
            None => "remove it, or check its spelling against the fields listed".to_owned(),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return Some(if error.span.is_empty() && error.span.start == 0 {
            format!("add `{field} = ...` at the top of the file, before any [table]")
        } else {
            format!("add `{field} = ...` to this table")
        });
    }
    if message.starts_with("expected an array of tables") {
        return Some("write the header with double brackets, like [[load]]: each [[...]] header adds one entry".to_owned());
    }
    if message.starts_with("invalid type") && message.ends_with("expected a string") {
        return Some("put the value in quotes; durations and sizes carry a unit, for example \"30s\" or \"1KiB\"".to_owned());
    }
    if message.starts_with("invalid type") && message.ends_with("expected i64") {
        return Some("write a whole number, without quotes".to_owned());
    }
    if (message.starts_with("invalid type") && message.contains("requests per second"))
        || message.starts_with("invalid rate")
    {
        return Some("write requests per second as a number (rate = 200) or with its unit: \"200/s\", \"900/min\", \"3600/h\"".to_owned());
    }
    None
}

/// `value` lowercased with runs of other characters turned into '-', if
/// anything is left: a suggestion for names limited to `[a-z0-9-]`.
fn slug(value: &str) -> Option<String> {
    let mut slug = String::new();
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(63).collect();
    (!slug.is_empty()).then_some(slug)
}

/// What is wrong with a bucket name by S3's rules for general purpose buckets.
fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Some("must be 3 to 63 characters long");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
    {
        return Some("may only contain lowercase letters, digits, '-' and '.'");
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Some("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Some("must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("must not look like an IP address");
    }
    if ["xn--", "sthree-"].iter().any(|p| name.starts_with(p)) {
        return Some("must not start with a prefix S3 reserves (xn--, sthree-)");
    }
    if ["-s3alias", "--ol-s3"].iter().any(|s| name.ends_with(s)) {
        return Some("must not end with a suffix S3 reserves (-s3alias, --ol-s3)");
    }
    None
}

/// Why IAM would refuse `text` as the kind of policy `what` names: a trust
/// policy, or an identity or resource (bucket) policy — a policy file may be
/// either, so it passes when one grammar accepts it.
fn iam_grammar_problem(text: &str, what: &str) -> Option<String> {
    use crate::sim::iam::policy::{PolicyKind, parse_policy};
    let describe = |e: crate::sim::iam::policy::PolicyError| match e.detail() {
        "" => e.message().to_owned(),
        detail => format!("{} ({detail})", e.message()),
    };
    if what.starts_with("trust") {
        return parse_policy(text, PolicyKind::Trust).err().map(describe);
    }
    match parse_policy(text, PolicyKind::Identity) {
        Ok(_) => None,
        Err(identity) => match parse_policy(text, PolicyKind::Resource) {
            Ok(_) => None,
            Err(_) => Some(describe(identity)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid scenario touching every section. Table cases edit it in place
    /// (keeping line numbers) so each expected line:col is easy to check by eye.
    const BASE: &str = r#"name = "t"
seed = 7
duration = "30s"

[target]
kind = "sim"

[sim]
account_id = "123456789012"
[sim.propagation]
model = "uniform"
min = "1s"
max = "4s"
replicas = 8
[sim.quotas]
s3_read_per_s = 300

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { base = "policies/ok.json" }

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "obj-{0..99}"
object_size = "1KiB"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 4
workers_per_instance = 8

[[load]]
name = "steady"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..99}"
rate = 150
start = "0s"
end = "30s"
group = "web"

[[timeline]]
at = "10s"
action = "put-role-policy"
role = "app-role"
policy_name = "s3-read"
policy = "policies/ok.json"
measure = "grant"
"#;

    const OK_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::assets/*"}]}"#;
    /// Missing comma on line 4, before `"Action"` at column 25.
    const BROKEN_POLICY: &str = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    { \"Effect\": \"Allow\" \"Action\": \"s3:GetObject\" }\n  ]\n}\n";

    /// A directory with the policy files the cases refer to; removed on drop.
    struct Fixture(PathBuf);

    impl Fixture {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("iamstorm-scenario-{}-{tag}", std::process::id()));
            let policies = dir.join("policies");
            std::fs::create_dir_all(&policies).unwrap();
            std::fs::write(policies.join("ok.json"), OK_POLICY).unwrap();
            std::fs::write(policies.join("broken.json"), BROKEN_POLICY).unwrap();
            std::fs::write(policies.join("array.json"), "  [1]\n").unwrap();
            Self(dir)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// BASE with each `(from, to)` applied; each `from` must occur exactly once.
    fn edit(edits: &[(&str, &str)]) -> String {
        let mut text = BASE.to_owned();
        for (from, to) in edits {
            assert_eq!(
                text.matches(from).count(),
                1,
                "edit {from:?} must match once"
            );
            text = text.replacen(from, to, 1);
        }
        text
    }

    fn shown(error: &ScenarioError) -> String {
        error
            .diagnostics
            .iter()
            .map(|d| format!("  {}:{}:{}: {}", d.file, d.line, d.col, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn base_is_valid() {
        let fixture = Fixture::new("base");
        let scenario = parse("base.toml", BASE, &fixture.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.roles[0].inline[0].0, "base");
        assert_eq!(scenario.roles[0].inline[0].1, OK_POLICY);
        assert_eq!(
            scenario.timeline[0].kind,
            TimelineKind::PutRolePolicy {
                role: "app-role".into(),
                policy_name: "s3-read".into(),
                document: OK_POLICY.into(),
            }
        );
    }

    /// Each case: name, edits to BASE, then the one diagnostic expected:
    /// file ("" = the scenario, else a suffix of the policy file's path),
    /// line, col, and a substring of the message.
    #[test]
    fn a_repeated_grant_revoke_cycle_expands_and_is_replayed() {
        let fixture = Fixture::new("repeat");
        let cycle = format!(
            "{BASE}repeat = {{ every = \"8s\", times = 3 }}\n\n[[timeline]]\nat = \"14s\"\naction = \"delete-role-policy\"\nrole = \"app-role\"\npolicy_name = \"s3-read\"\nmeasure = \"revoke\"\nrepeat = {{ every = \"8s\", times = 2 }}\n"
        );
        let s = parse("cycle.toml", &cycle, &fixture.0).unwrap_or_else(|e| panic!("{e}"));
        let at: Vec<(u64, bool)> = s
            .timeline
            .iter()
            .map(|a| {
                (
                    a.at.as_secs(),
                    matches!(a.kind, TimelineKind::PutRolePolicy { .. }),
                )
            })
            .collect();
        assert_eq!(
            at,
            vec![(10, true), (14, false), (18, true), (22, false), (26, true)]
        );
        // A third delete at 30 s would be after the run, and a delete
        // repeated without its put is caught by the replay.
        let too_long = cycle.replacen("times = 2", "times = 3", 1);
        let e = parse("cycle.toml", &too_long, &fixture.0).expect_err("30 s is the end");
        assert!(
            shown(&e).contains("the last repetition would be at 30s"),
            "{}",
            shown(&e)
        );
        let unbalanced =
            cycle.replacen("every = \"8s\", times = 2", "every = \"2s\", times = 2", 1);
        let e = parse("cycle.toml", &unbalanced, &fixture.0).expect_err("delete twice");
        assert!(
            shown(&e).contains("has no inline policy \"s3-read\" at that time"),
            "{}",
            shown(&e)
        );
    }

    #[test]
    fn malformed_scenarios_are_reported_at_the_right_place() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
            u32,
            u32,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "syntax error",
                &[("rate = 150", "rate = 150 150")],
                "",
                43,
                8,
                "string values must be quoted",
            ),
            (
                "unterminated string",
                &[("name = \"steady\"", "name = \"steady")],
                "",
                39,
                15,
                "invalid basic string, expected `\"`",
            ),
            (
                "unclosed header",
                &[("[[fleet]]", "[[fleet]")],
                "",
                32,
                9,
                "unclosed array table, expected `]`",
            ),
            (
                "unknown field",
                &[("rate = 150", "rat = 150")],
                "",
                43,
                1,
                "unknown field `rat`, expected one of",
            ),
            (
                "bad duration unit",
                &[("duration = \"30s\"", "duration = \"10x\"")],
                "",
                3,
                15,
                "invalid duration \"10x\" for `duration`: unknown unit \"x\"",
            ),
            (
                "duration not a string",
                &[("duration = \"30s\"", "duration = 30")],
                "",
                3,
                12,
                "invalid type: integer `30`, expected a string",
            ),
            (
                "negative rate",
                &[("rate = 150", "rate = -5")],
                "",
                43,
                8,
                "rate must be greater than 0 (got -5)",
            ),
            (
                "rate as string without a unit",
                &[("rate = 150", "rate = \"150\"")],
                "",
                43,
                8,
                "invalid rate \"150\": it has no unit",
            ),
            (
                "start not before end",
                &[("start = \"0s\"", "start = \"30s\"")],
                "",
                45,
                7,
                "`start` (30s) must be before `end` (30s)",
            ),
            (
                "end after duration",
                &[("end = \"30s\"", "end = \"40s\"")],
                "",
                45,
                7,
                "`end` (40s) is after the end of the run",
            ),
            (
                "unknown role",
                &[("role = \"app-role\"\n\n[[s3", "role = \"app-rol\"\n\n[[s3")],
                "",
                25,
                8,
                "instance profile \"app-profile\" refers to unknown role \"app-rol\"",
            ),
            (
                "unknown bucket",
                &[("bucket = \"assets\"", "bucket = \"asset\"")],
                "",
                41,
                10,
                "load \"steady\" refers to unknown bucket \"asset\"",
            ),
            (
                "unknown instance profile",
                &[(
                    "instance_profile = \"app-profile\"",
                    "instance_profile = \"app-profle\"",
                )],
                "",
                34,
                20,
                "refers to unknown instance profile \"app-profle\"",
            ),
            (
                "bad key pattern",
                &[("keys = \"obj-{0..99}\"", "keys = \"obj-{0..99\"")],
                "",
                42,
                13,
                "invalid key pattern \"obj-{0..99\" for `keys`: `{` is never closed",
            ),
            (
                "reversed key range",
                &[("objects = \"obj-{0..99}\"", "objects = \"obj-{99..0}\"")],
                "",
                29,
                16,
                "range {99..0} is reversed",
            ),
            (
                "missing policy file",
                &[(
                    "policy = \"policies/ok.json\"",
                    "policy = \"policies/missing.json\"",
                )],
                "",
                53,
                10,
                "policy file \"policies/missing.json\" not found",
            ),
            (
                "invalid policy json",
                &[(
                    "policy = \"policies/ok.json\"",
                    "policy = \"policies/broken.json\"",
                )],
                "policies/broken.json",
                4,
                25,
                "invalid JSON in policy file: expected `,` or `}`",
            ),
            (
                "policy not an object",
                &[(
                    "base = \"policies/ok.json\"",
                    "base = \"policies/array.json\"",
                )],
                "policies/array.json",
                1,
                3,
                "policy file must be a JSON object",
            ),
            (
                "missing trust file",
                &[("trust = \"ec2\"", "trust = \"ec3\"")],
                "",
                20,
                9,
                "trust policy file \"ec3\" not found",
            ),
            (
                "bucket name rule",
                &[
                    ("name = \"assets\"", "name = \"Assets\""),
                    ("bucket = \"assets\"", "bucket = \"Assets\""),
                ],
                "",
                28,
                8,
                "bucket name \"Assets\" may only contain lowercase letters",
            ),
            (
                "object size too large",
                &[("object_size = \"1KiB\"", "object_size = \"32MiB\"")],
                "",
                30,
                15,
                "object_size \"32MiB\" is larger than the 16MiB limit",
            ),
            (
                "object size unit",
                &[("object_size = \"1KiB\"", "object_size = \"1KB\"")],
                "",
                30,
                17,
                "unknown unit \"KB\"",
            ),
            (
                "fixed model without delay",
                &[
                    ("model = \"uniform\"", "model = \"fixed\""),
                    ("min = \"1s\"", "# no min"),
                    ("max = \"4s\"", "# no max"),
                ],
                "",
                11,
                9,
                "the \"fixed\" propagation model needs `delay`",
            ),
            (
                "uniform min above max",
                &[("min = \"1s\"", "min = \"5s\"")],
                "",
                12,
                7,
                "propagation `min` (5s) is greater than `max` (4s)",
            ),
            (
                "lognormal p99 below median",
                &[
                    ("model = \"uniform\"", "model = \"lognormal\""),
                    ("min = \"1s\"", "median = \"3s\""),
                    ("max = \"4s\"", "p99 = \"1s\""),
                ],
                "",
                13,
                7,
                "lognormal needs 0 < median <= p99",
            ),
            (
                "empirical sample with a bad unit",
                &[
                    ("model = \"uniform\"", "model = \"empirical\""),
                    ("min = \"1s\"", "samples = [\"1s\", \"2q\"]"),
                    ("max = \"4s\"", "# no max"),
                ],
                "",
                12,
                20,
                "unknown unit \"q\"",
            ),
            (
                "unknown routing",
                &[("replicas = 8", "routing = \"sticky\"")],
                "",
                14,
                11,
                "unknown routing \"sticky\"",
            ),
            (
                "grant model field of another model",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[sim.propagation.grant]\nmodel = \"fixed\"\ndelay = \"1s\"\np99 = \"2s\"",
                )],
                "",
                20,
                7,
                "`p99` is not used by the \"fixed\" propagation model",
            ),
            (
                "error fault without code",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[[sim.faults]]\nkind = \"error\"\nstatus = 503",
                )],
                "",
                18,
                8,
                "invalid \"error\" fault: an error fault needs `code`",
            ),
            (
                "fault status out of range",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[[sim.faults]]\nkind = \"error\"\ncode = \"X\"\nstatus = 200",
                )],
                "",
                20,
                10,
                "`status` must be between 400 and 599 (got 200)",
            ),
            (
                "clock offset with a bad unit",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[[sim.faults]]\nkind = \"clock_skew\"\noffset = \"-2x\"",
                )],
                "",
                19,
                10,
                "invalid clock offset \"-2x\"",
            ),
            (
                "fault ends before it starts",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[[sim.faults]]\nkind = \"reset\"\nstart = \"5s\"\nend = \"2s\"",
                )],
                "",
                20,
                7,
                "`end` (2s) is not after `start` (5s)",
            ),
            (
                "latency fault without a model",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[[sim.faults]]\nkind = \"latency\"",
                )],
                "",
                18,
                8,
                "a latency fault needs a delay `model`",
            ),
            (
                "per-API quota name",
                &[(
                    "s3_read_per_s = 300",
                    "s3_read_per_s = 300\n[sim.quotas.api]\n\"AssumeRole\" = 5",
                )],
                "",
                18,
                16,
                "\"AssumeRole\" is not a \"service:Api\" name",
            ),
            (
                "credential lag unit",
                &[(
                    "account_id = \"123456789012\"",
                    "new_credential_lag = \"2x\"",
                )],
                "",
                9,
                24,
                "unknown unit \"x\"",
            ),
            (
                "unknown propagation field",
                &[("replicas = 8", "replica = 8")],
                "",
                14,
                1,
                "unknown field `replica`",
            ),
            (
                "replicas out of range",
                &[("replicas = 8", "replicas = 0")],
                "",
                14,
                12,
                "`replicas` must be between 1 and 1024 (got 0)",
            ),
            (
                "instances out of range",
                &[("instances = 4", "instances = 300")],
                "",
                35,
                13,
                "`instances` must be between 1 and 256 (got 300)",
            ),
            (
                "account id",
                &[("account_id = \"123456789012\"", "account_id = \"12345\"")],
                "",
                9,
                14,
                "account_id \"12345\" must be exactly 12 digits",
            ),
            (
                "negative seed",
                &[("seed = 7", "seed = -1")],
                "",
                2,
                8,
                "seed must be 0 or greater (got -1)",
            ),
            (
                "mutable names no resource",
                &[(
                    "[target]\nkind = \"sim\"",
                    "target = { kind = \"aws\", mutable = [\"user/x\"] }\n",
                )],
                "",
                5,
                37,
                "`mutable` entry \"user/x\" names no resource",
            ),
            (
                "url with the embedded double",
                &[(
                    "[target]\nkind = \"sim\"",
                    "target = { kind = \"sim\", url = \"http://127.0.0.1:1\" }\n",
                )],
                "",
                5,
                32,
                "`url` is not used with kind = \"sim\"",
            ),
            (
                "endpoint url not http",
                &[(
                    "[target]\nkind = \"sim\"",
                    "target = { kind = \"endpoint\", url = \"ftp://x\" }\n",
                )],
                "",
                5,
                37,
                "is not an http(s) URL",
            ),
            (
                "max_rate with an unknown unit",
                &[(
                    "[target]\nkind = \"sim\"",
                    "target = { kind = \"aws\", max_rate = \"5/day\" }\n",
                )],
                "",
                5,
                37,
                "invalid rate \"5/day\": unknown unit \"day\"",
            ),
            (
                "unknown target kind",
                &[("kind = \"sim\"", "kind = \"gcp\"")],
                "",
                6,
                8,
                "unknown target kind \"gcp\"",
            ),
            (
                "timeline at end of run",
                &[("at = \"10s\"", "at = \"30s\"")],
                "",
                49,
                6,
                "timeline action at 30s is not before the end of the run",
            ),
            (
                "sts op with bucket",
                &[
                    ("op = \"s3:GetObject\"", "op = \"sts:GetCallerIdentity\""),
                    ("keys = \"obj-{0..99}\"", "# no keys"),
                ],
                "",
                41,
                10,
                "sts:GetCallerIdentity does not take `bucket`",
            ),
            (
                "s3 op without bucket",
                &[("bucket = \"assets\"", "# no bucket")],
                "",
                40,
                6,
                "s3:GetObject needs `bucket`",
            ),
            (
                "list with keys",
                &[("op = \"s3:GetObject\"", "op = \"s3:ListObjectsV2\"")],
                "",
                42,
                8,
                "s3:ListObjectsV2 does not take `keys`",
            ),
            (
                "unknown op",
                &[("op = \"s3:GetObject\"", "op = \"s3:getobject\"")],
                "",
                40,
                6,
                "unknown op \"s3:getobject\" for `op`",
            ),
            (
                "unknown fleet group",
                &[(
                    "group = \"web\"\n\n[[timeline]]",
                    "group = \"db\"\n\n[[timeline]]",
                )],
                "",
                46,
                9,
                "load \"steady\" refers to unknown fleet group \"db\"",
            ),
            (
                "missing top-level field",
                &[("name = \"t\"", "# no name")],
                "",
                1,
                1,
                "missing field `name`",
            ),
            (
                "bad scenario name",
                &[("name = \"t\"", "name = \"My Run\"")],
                "",
                1,
                8,
                "scenario name \"My Run\" may only contain",
            ),
            (
                "delete of absent policy",
                &[
                    (
                        "action = \"put-role-policy\"",
                        "action = \"delete-role-policy\"",
                    ),
                    ("policy = \"policies/ok.json\"", "# no policy"),
                ],
                "",
                52,
                15,
                "role \"app-role\" has no inline policy \"s3-read\" at that time",
            ),
            (
                "delete with policy",
                &[
                    (
                        "action = \"put-role-policy\"",
                        "action = \"delete-role-policy\"",
                    ),
                    ("policy_name = \"s3-read\"", "policy_name = \"base\""),
                ],
                "",
                53,
                10,
                "delete-role-policy does not take `policy`",
            ),
            (
                "put without policy_name",
                &[("policy_name = \"s3-read\"", "# no policy_name")],
                "",
                50,
                10,
                "put-role-policy needs `policy_name`",
            ),
            (
                "unknown measure",
                &[("measure = \"grant\"", "measure = \"both\"")],
                "",
                54,
                11,
                "unknown measure \"both\"",
            ),
            (
                "probe op not in load",
                &[(
                    "measure = \"grant\"",
                    "measure = \"grant\"\nprobe_op = \"s3:PutObject\"",
                )],
                "",
                55,
                12,
                "probe_op \"s3:PutObject\" is not the op of any [[load]] entry",
            ),
            (
                "duplicate role",
                &[(
                    "measure = \"grant\"\n",
                    "measure = \"grant\"\n[[iam.roles]]\nname = \"app-role\"\ntrust = \"none\"\n",
                )],
                "",
                56,
                8,
                "role \"app-role\" is defined twice",
            ),
            (
                "timeline table instead of array",
                &[("[[timeline]]", "[timeline]")],
                "",
                48,
                1,
                "expected an array of tables",
            ),
        ];
        let fixture = Fixture::new("table");
        let mut failures = Vec::new();
        for (name, edits, file, line, col, message) in cases {
            let text = edit(edits);
            let result = parse("case.toml", &text, &fixture.0);
            let Err(error) = result else {
                failures.push(format!("{name}: parsed without error"));
                continue;
            };
            let expected_file = |d: &Diagnostic| {
                if file.is_empty() {
                    d.file == "case.toml"
                } else {
                    d.file.ends_with(file)
                }
            };
            let found = error.diagnostics.iter().any(|d| {
                expected_file(d) && d.line == *line && d.col == *col && d.message.contains(message)
            });
            if !found || error.diagnostics.len() != 1 {
                failures.push(format!(
                    "{name}: expected only {file}:{line}:{col}: ...{message}..., got\n{}",
                    shown(&error)
                ));
            }
            // Every diagnostic says what to do.
            for diagnostic in &error.diagnostics {
                if diagnostic.help.is_none() && !diagnostic.message.starts_with("invalid type") {
                    failures.push(format!("{name}: no help for {}", diagnostic.message));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn sim_models_faults_and_per_api_quotas_are_read_into_the_settings() {
        let fixture = Fixture::new("sim-models");
        let text = edit(&[
            (
                "account_id = \"123456789012\"",
                "new_credential_lag = \"1500ms\"",
            ),
            ("model = \"uniform\"", "model = \"lognormal\""),
            ("min = \"1s\"", "median = \"3s\""),
            ("max = \"4s\"", "p99 = \"9s\""),
            (
                "replicas = 8",
                "replicas = 16\nrouting = \"sticky-instance\"\n[sim.propagation.revoke]\nmodel = \"empirical\"\nsamples = [\"1s\", \"4s\"]",
            ),
            (
                "s3_read_per_s = 300",
                "s3_read_per_s = 300\nec2_per_s = 7\n[sim.quotas.api]\n\"sts:AssumeRole\" = 50\n\
                 [[sim.faults]]\nkind = \"error\"\nservice = \"s3\"\naction = \"GetObject\"\nstatus = 429\ncode = \"ThrottlingException\"\nshape = \"json\"\nprobability = 0.25\nstart = \"5s\"\nend = \"15s\"\n\
                 [[sim.faults]]\nkind = \"latency\"\nservice = \"sts\"\nmodel = \"fixed\"\ndelay = \"200ms\"\n\
                 [[sim.faults]]\nkind = \"clock_skew\"\noffset = \"-20m\"",
            ),
        ]);
        let s = parse("case.toml", &text, &fixture.0)
            .map_err(|e| shown(&e))
            .expect("valid");
        let sim = &s.sim;
        assert_eq!(sim.new_credential_lag, Duration::from_millis(1500));
        assert_eq!(
            sim.propagation,
            Propagation::LogNormal {
                median: Duration::from_secs(3),
                p99: Duration::from_secs(9)
            }
        );
        assert_eq!((sim.replicas, sim.routing), (16, Routing::StickyInstance));
        assert_eq!(sim.grant, None);
        assert_eq!(
            sim.revoke,
            Some(Propagation::Empirical {
                samples: vec![Duration::from_secs(1), Duration::from_secs(4)]
            })
        );
        assert_eq!(sim.quotas.api_per_s.get("sts:AssumeRole"), Some(&50));
        assert_eq!(sim.quotas.s3_read_per_s, 300);
        assert_eq!(sim.quotas.ec2_per_s, 7);
        assert_eq!(sim.faults.len(), 3);
        let e = &sim.faults[0];
        assert_eq!(
            (
                e.status,
                e.code.as_deref(),
                e.shape.as_deref(),
                e.probability
            ),
            (
                Some(429),
                Some("ThrottlingException"),
                Some("json"),
                Some(0.25)
            )
        );
        assert_eq!((e.after_ms, e.for_ms), (Some(5000), Some(10_000)));
        assert_eq!(
            sim.faults[1].delay.as_ref().and_then(|d| d.delay_ms),
            Some(200)
        );
        assert_eq!(
            (sim.faults[1].after_ms, sim.faults[1].for_ms),
            (Some(0), None)
        );
        assert_eq!(sim.faults[2].offset_ms, Some(-1_200_000));
        // Each rule is what the admin API accepts.
        for f in &sim.faults {
            assert!(f.clone().into_fault(1, Duration::ZERO).is_ok(), "{f:?}");
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let fixture = Fixture::new("many");
        let text = edit(&[
            ("rate = 150", "rat = 150"),
            ("role = \"app-role\"\n\n[[s3", "role = \"ghost\"\n\n[[s3"),
            ("at = \"10s\"", "at = \"10 seconds\""),
            (
                "base = \"policies/ok.json\"",
                "base = \"policies/broken.json\"",
            ),
            (
                "policy = \"policies/ok.json\"",
                "policy = \"policies/broken.json\"",
            ),
            ("replicas = 8", "replicas = 9999"),
        ]);
        let error = parse("many.toml", &text, &fixture.0).unwrap_err();
        let got: Vec<(String, u32, u32)> = error
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.file.rsplit('/').next().unwrap_or("").to_owned(),
                    d.line,
                    d.col,
                )
            })
            .collect();
        // In file order, the scenario first; the broken policy file is named
        // twice but reported once.
        let expected = [
            ("many.toml", 14, 12),
            ("many.toml", 25, 8),
            ("many.toml", 43, 1),
            ("many.toml", 49, 10),
            ("broken.json", 4, 25),
        ];
        let expected: Vec<(String, u32, u32)> = expected
            .iter()
            .map(|(f, l, c)| ((*f).to_owned(), *l, *c))
            .collect();
        assert_eq!(got, expected, "\n{}", shown(&error));
        let rendered = error.to_string();
        assert!(
            rendered.contains("error: the scenario has 5 problems"),
            "{rendered}"
        );
        assert!(
            rendered.contains("4 |     { \"Effect\": \"Allow\" \"Action\""),
            "{rendered}"
        );
    }

    #[test]
    fn quickstart_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
        let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.name, "quickstart");
        assert_eq!(scenario.seed, Some(42));
        assert_eq!(scenario.duration, Duration::from_secs(30));
        assert_eq!(
            scenario.sim.propagation,
            Propagation::Uniform {
                min: Duration::from_secs(1),
                max: Duration::from_secs(4)
            }
        );
        assert_eq!(scenario.sim.replicas, 8);
        assert_eq!(scenario.sim.quotas.s3_read_per_s, 300);
        assert_eq!(scenario.sim.quotas.sts_per_s, Quotas::default().sts_per_s);
        // No fleet-wide IMDS credential budget unless a scenario models one.
        assert_eq!(scenario.sim.quotas.imds_fleet_per_s, None);
        assert_eq!(scenario.roles.len(), 1);
        assert_eq!(scenario.roles[0].trust, Trust::Ec2);
        assert!(
            scenario.roles[0].inline.is_empty(),
            "the role starts without permissions"
        );
        assert_eq!(scenario.instance_profiles[0].role, "app-role");
        assert_eq!(
            scenario.buckets[0].objects.as_ref().map(KeyPattern::len),
            Some(100)
        );
        assert_eq!(scenario.buckets[0].object_size_bytes, 1024);
        assert_eq!(
            (
                scenario.fleet[0].instances,
                scenario.fleet[0].workers_per_instance
            ),
            (4, 8)
        );

        let [steady, surge] = &scenario.load[..] else {
            panic!("expected two load entries: {:?}", scenario.load)
        };
        assert_eq!(
            (steady.name.as_str(), steady.op, steady.model.peak_per_s()),
            ("steady", Op::S3GetObject, Some(150.0))
        );
        assert_eq!(
            (steady.start, steady.end),
            (Duration::ZERO, scenario.duration)
        );
        assert_eq!(
            (surge.name.as_str(), surge.model.peak_per_s()),
            ("surge", Some(350.0))
        );
        assert_eq!(
            (surge.start, surge.end),
            (Duration::from_secs(20), Duration::from_secs(30))
        );
        let peak_per_s = steady.model.peak_per_s().unwrap() + surge.model.peak_per_s().unwrap();
        assert!(
            peak_per_s > f64::from(scenario.sim.quotas.s3_read_per_s),
            "the surge must be throttled"
        );

        let [grant] = &scenario.timeline[..] else {
            panic!("expected one timeline action: {:?}", scenario.timeline)
        };
        assert_eq!(grant.at, Duration::from_secs(8));
        assert_eq!(grant.measure, Some(Measure::Grant));
        assert_eq!(grant.probe_op, Op::S3GetObject);
        let TimelineKind::PutRolePolicy {
            role,
            policy_name,
            document,
        } = &grant.kind
        else {
            panic!("expected put-role-policy: {:?}", grant.kind)
        };
        assert_eq!(
            (role.as_str(), policy_name.as_str()),
            ("app-role", "s3-read")
        );
        let policy: serde_json::Value = serde_json::from_str(document).unwrap();
        assert_eq!(policy["Statement"][0]["Action"], "s3:GetObject");
        assert_eq!(policy["Statement"][0]["Resource"], "arn:aws:s3:::assets/*");
    }

    #[test]
    fn defaults_fill_an_optional_sim_section_and_timeline_is_sorted() {
        let fixture = Fixture::new("defaults");
        let text = "name = \"d\"\nduration = \"1m\"\n\
            [[iam.roles]]\nname = \"r\"\ntrust = \"none\"\ninline = { p = \"policies/ok.json\" }\n\
            [[iam.instance_profiles]]\nname = \"p\"\nrole = \"r\"\n\
            [[fleet]]\ngroup = \"g\"\ninstance_profile = \"p\"\ninstances = 1\nworkers_per_instance = 1\n\
            [[load]]\nop = \"sts:GetCallerIdentity\"\nrate = 0.5\n\
            [[timeline]]\nat = \"20s\"\naction = \"delete-role-policy\"\nrole = \"r\"\npolicy_name = \"p\"\n\
            [[timeline]]\nat = \"10s\"\naction = \"put-role-policy\"\nrole = \"r\"\npolicy_name = \"q\"\npolicy = \"policies/ok.json\"\n";
        let scenario = parse("d.toml", text, &fixture.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.target, TargetSpec::default());
        assert_eq!(scenario.sim, SimSettings::default());
        assert_eq!(scenario.seed, None);
        assert_eq!(scenario.roles[0].trust, Trust::Nobody);
        let load = &scenario.load[0];
        assert_eq!(
            (
                load.name.as_str(),
                load.bucket.as_ref(),
                load.group.as_ref()
            ),
            ("sts:GetCallerIdentity", None, None)
        );
        assert_eq!(load.op.service(), Service::Sts);
        let ats: Vec<Duration> = scenario.timeline.iter().map(|a| a.at).collect();
        assert_eq!(ats, [Duration::from_secs(10), Duration::from_secs(20)]);
        assert_eq!(scenario.timeline[0].probe_op, Op::StsGetCallerIdentity);
    }

    #[test]
    fn load_reports_an_unreadable_file_at_its_path() {
        let error = load(Path::new("/nonexistent/iamstorm/scenario.toml")).unwrap_err();
        let [diagnostic] = &error.diagnostics[..] else {
            panic!("{error}")
        };
        assert_eq!(diagnostic.file, "/nonexistent/iamstorm/scenario.toml");
        assert!(
            diagnostic.message.starts_with("cannot read scenario file"),
            "{error}"
        );
    }

    #[test]
    fn ops_round_trip_their_names() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.as_str()), Some(op));
            assert!(op.as_str().starts_with(op.service().as_str()));
        }
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["assets", "a.b-c", "123"] {
            assert_eq!(bucket_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "ab",
            "-ab",
            "ab-",
            "a..b",
            "192.168.0.1",
            "xn--ab",
            "ab-s3alias",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(bucket_name_problem(bad).is_some(), "{bad}");
        }
    }
}
