//! `iamstorm doctor`: the AccessDenied runbook
//! (`shared/runbook/accessdenied-instance-profile-scaling.txt`) automated
//! against one instance of a target, ending in a verdict with its evidence.
//!
//! This module owns the command: its flags ([`DoctorArgs`]), their
//! validation (exit 2 with the flag named), the order of the steps and the
//! exit code by verdict. The steps live in their own files: `subject`
//! (target and instance), `imds` (token flow, credential document),
//! `iam` (identity, simulation, policies, trust), `probe` (the request
//! itself, the burst, the propagation wait), `verdict` (pure judgement),
//! `fix` (the journaled `--fix`). Rendering is `report::doctor`'s.
//!
//! The doctor reads; the only requests that could change anything are
//! the `--fix` mutation (needs `--allow-mutations`, journaled first) and
//! the probes, which are read-only calls (GetObject of one byte,
//! ListObjectsV2 of one key, GetCallerIdentity, GetRole).

pub mod evidence;
pub mod fix;
pub mod iam;
pub mod imds;
pub mod probe;
pub mod subject;
pub mod verdict;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::exit::Exit;
use crate::scenario::TargetKind;
use crate::target::clients;
use evidence::{AssociationEvidence, Evidence, InstanceEvidence, ProbeEvidence};
use probe::ProbeCall;
use subject::{Selection, Subject, SubjectError};
use verdict::{Cause, Verdict};

/// `iamstorm doctor` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The failing IAM action, e.g. s3:GetObject.
    #[arg(long, value_name = "SERVICE:ACTION")]
    pub action: String,
    /// The resource it fails on, e.g. arn:aws:s3:::bucket/key (default "*").
    #[arg(long, value_name = "ARN", default_value = "*")]
    pub resource: String,
    /// Diagnose offline: an embedded double seeded with this scenario's
    /// roles, policies, buckets and fleet (its starting state).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: first apply the scenario's timeline actions
    /// scheduled at or before this time (at once, in order), e.g. "3s".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeline_until: Option<Duration>,
    /// Which instance: an instance id; with --scenario also GROUP, GROUP:N
    /// or GROUP:newest (default: the first instance of the first group).
    #[arg(long, value_name = "ID|GROUP[:N|:newest]")]
    pub instance: Option<String>,
    /// The instance profile the instance should have (default with
    /// --scenario: its fleet group's profile).
    #[arg(long, value_name = "NAME")]
    pub expect_profile: Option<String>,
    /// Where requests go: `sim` (needs --scenario), `endpoint` or `aws`
    /// (default: sim with --scenario, endpoint with --endpoint-url or
    /// AWS_ENDPOINT_URL, else aws).
    #[arg(long, value_name = "KIND", value_parser = parse_target_kind)]
    pub target: Option<TargetKind>,
    /// The endpoint for --target endpoint.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// IMDS to take credentials from (default: the simulated instance's,
    /// else AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254).
    #[arg(long, value_name = "URL")]
    pub imds_endpoint: Option<String>,
    /// Step 5: requests in the throttling burst (0: no burst; at most 1000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub burst: u32,
    /// The burst's rate, requests per second (at most 500).
    #[arg(long, value_name = "PER_S", default_value_t = 50.0)]
    pub burst_rate: f64,
    /// How long to keep probing when IAM allows but the probe is denied
    /// (a grant still propagating?), e.g. "30s"; at most 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub propagation_wait: Duration,
    /// Apply the verdict's fix (an inline policy or a trust policy), journaled
    /// first; needs --allow-mutations. Undo with `iamstorm rollback JOURNAL`.
    #[arg(long)]
    pub fix: bool,
    /// Allow --fix to change the target.
    #[arg(long)]
    pub allow_mutations: bool,
    /// Where --fix journals its change (default: ./iamstorm-doctor-<ms>.journal.jsonl).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// The double's seed with --scenario (default: the scenario's, else 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the verdict and evidence as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::scenario::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_target_kind(text: &str) -> Result<TargetKind, String> {
    TargetKind::from_name(text)
        .ok_or_else(|| format!("unknown target {text:?}: use sim, endpoint or aws"))
}

/// Everything `--json` prints; the text rendering reads the same struct.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub verdict: Verdict,
    /// What `--fix` did (absent without `--fix`).
    pub fix_applied: Option<fix::FixOutcome>,
    /// Timeline actions applied first (`--timeline-until`).
    pub timeline_applied: Vec<String>,
    pub exit_code: u8,
    pub duration_ms: f64,
    pub evidence: Evidence,
}

/// Checks the flags on their own; every problem names its flag.
fn check(args: &DoctorArgs) -> Vec<String> {
    let mut problems = Vec::new();
    let action_ok = args.action.split_once(':').is_some_and(|(svc, name)| {
        !svc.is_empty()
            && !name.is_empty()
            && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && name.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if !action_ok {
        problems.push(format!(
            "--action {:?}: write one IAM action as SERVICE:Action, e.g. s3:GetObject (no wildcards)",
            args.action
        ));
    }
    if args.resource != "*" && !args.resource.starts_with("arn:") {
        problems.push(format!(
            "--resource {:?}: write an ARN (arn:aws:s3:::bucket/key) or \"*\"",
            args.resource
        ));
    }
    if args.burst > probe::MAX_BURST_REQUESTS {
        problems.push(format!(
            "--burst {}: at most {} requests",
            args.burst,
            probe::MAX_BURST_REQUESTS
        ));
    }
    if !(args.burst_rate.is_finite()
        && args.burst_rate > 0.0
        && args.burst_rate <= probe::MAX_BURST_RATE_PER_S)
    {
        problems.push(format!(
            "--burst-rate {}: between 0 and {} requests per second",
            args.burst_rate,
            probe::MAX_BURST_RATE_PER_S
        ));
    }
    if args.propagation_wait > probe::MAX_PROPAGATION_WAIT {
        problems.push(format!(
            "--propagation-wait {:?}: at most {:?}",
            args.propagation_wait,
            probe::MAX_PROPAGATION_WAIT
        ));
    }
    if args.fix && !args.allow_mutations {
        problems.push(
            "--fix changes the target: add --allow-mutations to allow it (the change is journaled; undo with iamstorm rollback)".to_owned(),
        );
    }
    if args.scenario.is_some() && matches!(args.target, Some(k) if k != TargetKind::Sim) {
        problems.push(
            "--scenario seeds an embedded double: it cannot be combined with --target endpoint/aws"
                .to_owned(),
        );
    }
    if args.timeline_until.is_some() && args.scenario.is_none() {
        problems.push("--timeline-until needs --scenario".to_owned());
    }
    problems
}

/// The `doctor` command.
pub async fn run(args: DoctorArgs) -> Exit {
    let problems = check(&args);
    if !problems.is_empty() {
        for p in &problems {
            errln!("error: {p}");
        }
        return Exit::BadInput;
    }
    let started = Instant::now();
    let selection = Selection {
        scenario: args.scenario.as_deref(),
        target: args.target,
        endpoint_url: args.endpoint_url.clone(),
        instance: args.instance.as_deref(),
        imds_endpoint: args.imds_endpoint.clone(),
        expect_profile: args.expect_profile.clone(),
        timeline_until: args.timeline_until,
        seed: args.seed,
    };
    let subject = match subject::prepare(&selection).await {
        Ok(s) => s,
        Err(SubjectError::BadInput(m)) => {
            errln!("error: {m}");
            return Exit::BadInput;
        }
        Err(SubjectError::Unreachable(m)) => {
            errln!("error: {m}");
            return Exit::TargetUnavailable;
        }
    };
    let evidence = match gather(&args, &subject).await {
        Ok(e) => e,
        Err(m) => {
            errln!("error: {m}");
            return Exit::BadInput;
        }
    };
    let verdict = verdict::decide(&evidence);
    let fix_applied = if args.fix {
        Some(fix::apply(&args, &subject, &verdict, &evidence).await)
    } else {
        None
    };
    let exit = match verdict.cause {
        Cause::None => Exit::Ok,
        // 1: the doctor found a cause (the run's "a threshold failed").
        _ => Exit::ThresholdsFailed,
    };
    let report = DoctorReport {
        verdict,
        fix_applied,
        timeline_applied: subject.timeline_applied.clone(),
        exit_code: exit.code(),
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
        evidence,
    };
    if args.json {
        outln!("{}", crate::report::doctor::json(&report));
    } else {
        out!("{}", crate::report::doctor::text(&report));
    }
    exit
}

/// Runs the runbook's steps against the subject.
async fn gather(args: &DoctorArgs, subject: &Subject) -> Result<Evidence, String> {
    let target = &subject.target;
    let mut e = Evidence {
        target: target.describe(),
        action: args.action.clone(),
        resource: args.resource.clone(),
        instance: InstanceEvidence {
            instance_id: subject.instance_id.clone(),
            group: subject.group.clone(),
            imds_endpoint: subject.imds_endpoint.clone(),
        },
        ..Default::default()
    };
    // Step 4 (instance side) first: without credentials nothing else is the cause.
    e.imds = imds::Imds::new(&subject.imds_endpoint).check().await;
    let instance = probe::instance_clients(target, &subject.imds_endpoint)
        .map_err(|m| format!("--imds-endpoint: {m}"))?;
    // Step 1: who the instance is.
    let identity = iam::identity(&instance.sts).await;
    let role_name = e.imds.role_name.clone().or_else(|| {
        identity
            .arn
            .as_deref()
            .and_then(iam::role_from_arn)
            .map(str::to_owned)
    });
    e.identity = Some(identity);
    // Steps 2 and 3 on IAM's control plane, as the operator.
    let operator = clients::operator_config(target);
    let operator_iam = clients::iam(&operator);
    if let Some(role) = &role_name {
        let r = iam::role(&operator_iam, role, &args.action, &args.resource).await;
        let arn = r
            .arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/{role}", target.account_id));
        e.simulation = Some(iam::simulate(&operator_iam, &arn, &args.action, &args.resource).await);
        e.role = Some(r);
    }
    // Step 4 (EC2 side): the association against the expectation.
    e.association = association(subject, &e, &operator_iam, args).await;
    // Step 1: the request itself.
    let call = ProbeCall::for_action(&args.action, &args.resource);
    let Some(call) = call else {
        e.probe = Some(ProbeEvidence::default());
        return Ok(e);
    };
    let p = probe::probe(&instance, &call).await;
    let denied = p.class_is("access_denied");
    let no_credentials = p.class_is("credentials_unavailable");
    e.probe = Some(p);
    // The FAQ: allowed by IAM, denied by enforcement — wait and watch.
    let explicit = e
        .probe
        .as_ref()
        .and_then(|p| p.detail.as_deref())
        .is_some_and(|d| d.starts_with("explicit"));
    if denied
        && !explicit
        && e.simulation.as_ref().is_some_and(|s| s.is("allowed"))
        && !args.propagation_wait.is_zero()
    {
        e.propagation = Some(probe::propagation(&instance, &call, args.propagation_wait).await);
    }
    // Step 5: throttling or denial, and at which rate each appears.
    if args.burst > 0 && !no_credentials {
        e.burst = Some(probe::burst(&instance, &call, args.burst, args.burst_rate).await);
    }
    Ok(e)
}

/// The profile associated with the instance (EC2's record, else what IMDS
/// serves) and, when one is expected, whether it is that one.
async fn association(
    subject: &Subject,
    e: &Evidence,
    operator_iam: &aws_sdk_iam::Client,
    args: &DoctorArgs,
) -> AssociationEvidence {
    let mut a = AssociationEvidence {
        imds_profile: e
            .imds
            .instance_profile_arn
            .as_deref()
            .and_then(iam::profile_from_arn)
            .map(str::to_owned),
        ..Default::default()
    };
    if let Some((p, source)) = &subject.expected_profile {
        a.expected_profile = Some(p.clone());
        a.expected_source = Some(source.clone());
    }
    let target = &subject.target;
    if let Some(id) = &subject.instance_id {
        let endpoint = target
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://ec2.{}.amazonaws.com", target.region));
        let ec2 = crate::target::ec2::Ec2Client::with_credentials(
            &endpoint,
            &target.region,
            target.operator_keys().clone(),
        );
        match ec2
            .call(
                "DescribeIamInstanceProfileAssociations",
                &[("Filter.1.Name", "instance-id"), ("Filter.1.Value.1", id)],
            )
            .await
        {
            Ok(xml) => {
                let arns = crate::target::ec2::texts(&xml, "arn");
                a.associated_profile = arns
                    .first()
                    .and_then(|arn| iam::profile_from_arn(arn))
                    .map(str::to_owned);
                a.associated_source = Some("ec2".to_owned());
            }
            Err(err) => a.ec2_error = Some(err),
        }
    }
    if a.associated_profile.is_none() && a.imds_profile.is_some() {
        a.associated_profile = a.imds_profile.clone();
        a.associated_source = Some("imds".to_owned());
    }
    // Would the expected profile's role allow it?
    if let Some(expected) = &a.expected_profile
        && a.matches() == Some(false)
        && let Ok(out) = operator_iam
            .get_instance_profile()
            .instance_profile_name(expected)
            .send()
            .await
        && let Some(role) = out.instance_profile().and_then(|p| p.roles().first())
    {
        a.expected_role = Some(role.role_name().to_owned());
        let sim = iam::simulate(operator_iam, role.arn(), &args.action, &args.resource).await;
        a.expected_role_decision = sim.decision.or(sim.error);
    }
    a
}
