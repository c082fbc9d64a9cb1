//! Safety rails for targets that outlive the run (an endpoint, real AWS):
//! which target a run may use (`aws` only with `--allow-aws`), hard caps on
//! rate and requests ([`caps`]), changes only to resources the scenario
//! lists as `mutable`, a journal written before each change
//! ([`journal`]), and the undo that restores them at the end, on a signal,
//! or later with `iamstorm rollback` ([`undo`], [`restore`]). `--dry-run`
//! prints every call instead ([`dry_run`]).
//!
//! The embedded double needs none of this — its state dies with the run —
//! but the same checks run there when asked (caps from the command line).

pub mod caps;
pub mod dry_run;
pub mod journal;
pub mod undo;

use crate::scenario::{Mutable, Scenario, TargetKind};
pub use caps::{Budget, Caps};
pub use journal::Journal;

/// What the command line may override in `[target]`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub target: Option<TargetKind>,
    pub endpoint_url: Option<String>,
    pub allow_aws: bool,
    pub max_rate_per_s: Option<f64>,
    pub max_requests: Option<u64>,
}

/// The target a run will use, with its rails resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Rails {
    pub kind: TargetKind,
    /// `None` with `aws`: AWS's own endpoints.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub caps: Caps,
    pub mutable: Vec<Mutable>,
    pub plan: caps::Plan,
}

impl Rails {
    /// Whether changes are journaled and restored (the target outlives the run).
    pub fn journaled(&self) -> bool {
        self.kind != TargetKind::Sim
    }
}

/// Resolves the target and checks every rail that can be checked before
/// connecting; each problem is one message with its way out.
/// `env_endpoint` is `AWS_ENDPOINT_URL`.
pub fn resolve(
    scenario: &Scenario,
    overrides: &Overrides,
    env_endpoint: Option<String>,
) -> Result<Rails, Vec<String>> {
    let spec = &scenario.target;
    let kind = overrides.target.unwrap_or(spec.kind);
    let mut problems = Vec::new();
    let endpoint_url = match kind {
        TargetKind::Sim => {
            if overrides.endpoint_url.is_some() {
                problems.push(
                    "--endpoint-url is for --target endpoint or aws; the embedded double (sim) picks its own loopback ports\n  help: add --target endpoint".to_owned(),
                );
            }
            None
        }
        _ => overrides
            .endpoint_url
            .clone()
            .or_else(|| spec.url.clone())
            .or(env_endpoint.filter(|u| !u.is_empty())),
    };
    if kind == TargetKind::Endpoint && endpoint_url.is_none() {
        problems.push(
            "--target endpoint needs a URL\n  help: pass --endpoint-url http://HOST:PORT, set AWS_ENDPOINT_URL, or write url = \"...\" under [target]".to_owned(),
        );
    }
    let plan = caps::plan(scenario);
    let mutable = spec.mutable.clone();
    if kind == TargetKind::Aws && !overrides.allow_aws {
        let changes: Vec<String> = scenario
            .timeline
            .iter()
            .filter_map(|a| undo::resource(&a.kind))
            .map(|r| r.to_string())
            .collect();
        problems.push(format!(
            "refusing to run against real AWS without --allow-aws: the scenario plans about {:.0} requests at up to {:.1}/s{}\n  help: read the plan with --dry-run, then rerun with --allow-aws",
            plan.requests,
            plan.peak_rate_per_s,
            if changes.is_empty() {
                " and changes nothing".to_owned()
            } else {
                format!(" and changes {}", changes.join(", "))
            }
        ));
    }
    let defaults = if kind == TargetKind::Aws {
        caps::AWS_DEFAULT_CAPS
    } else {
        Caps::default()
    };
    let caps = Caps {
        max_rate_per_s: overrides
            .max_rate_per_s
            .or(spec.max_rate_per_s)
            .or(defaults.max_rate_per_s),
        max_requests: overrides
            .max_requests
            .or(spec.max_requests)
            .or(defaults.max_requests),
    };
    problems.extend(caps::check(&plan, &caps));
    if kind == TargetKind::Aws {
        problems.extend(not_mutable(scenario, &mutable));
        for a in scenario.timeline.iter().filter(|a| a.kind.needs_double()) {
            problems.push(format!(
                "the timeline action at {:?} ({}) needs the iamstorm double's admin API, which real AWS does not have\n  help: remove it for --target aws, or run against the double",
                a.at,
                a.kind.name()
            ));
        }
    }
    if problems.is_empty() {
        Ok(Rails {
            kind,
            endpoint_url,
            region: spec.region.clone(),
            caps,
            mutable,
            plan,
        })
    } else {
        Err(problems)
    }
}

/// Timeline changes to resources not listed in `mutable`.
pub fn not_mutable(scenario: &Scenario, mutable: &[Mutable]) -> Vec<String> {
    scenario
        .timeline
        .iter()
        .filter_map(|a| undo::resource(&a.kind).map(|r| (a, r)))
        .filter(|(_, r)| !mutable.contains(r))
        .map(|(a, r)| {
            format!(
                "the timeline action at {:?} ({}) changes {r}, which [target] mutable does not list\n  help: add \"{r}\" to mutable = [...] under [target] if the run may change it (it is restored at the end)",
                a.at,
                a.kind.name()
            )
        })
        .collect()
}

/// One journaled change, undone or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Restored {
    pub seq: u64,
    pub action: String,
    pub resource: String,
    /// `"restored"`, or why the undo failed.
    pub result: String,
}

/// Undoes every pending change of `journal`, newest first, recording each
/// in the journal. A failed undo stays pending for `iamstorm rollback`.
pub async fn restore(
    journal: &Journal,
    iam: &aws_sdk_iam::Client,
    s3: &aws_sdk_s3::Client,
) -> Vec<Restored> {
    let mut out = Vec::new();
    for p in journal.pending() {
        let mut result = Ok(());
        for step in &p.undo {
            if let Err(e) = undo::apply(iam, s3, step).await {
                result = Err(format!("{step}: {e}"));
                break;
            }
        }
        let recorded = journal.restored(p.seq, &result);
        let result = match (result, recorded) {
            (Ok(()), Ok(())) => "restored".to_owned(),
            (Ok(()), Err(e)) => format!("restored, but the journal could not record it: {e}"),
            (Err(e), _) => e,
        };
        out.push(Restored {
            seq: p.seq,
            action: p.action,
            resource: p.resource,
            result,
        });
    }
    out
}
