//! `doctor --fix --allow-mutations`: applies the verdict's fix when it is a
//! policy change (an inline grant, or EC2 added to the trust policy) — the
//! same journaled path as the harness's timeline (`chaos::apply`: prior
//! state captured as undo steps, fsync'd, then sent), so `iamstorm
//! rollback JOURNAL` undoes it. Afterwards the request is probed again,
//! bounded by `--propagation-wait`, to show when the fix took effect.
//! Advice (deny removal, profile association, retries) is never applied.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::DoctorArgs;
use super::evidence::Evidence;
use super::probe::{self, ProbeCall};
use super::subject::Subject;
use super::verdict::{Fix, Verdict};
use crate::chaos::{self, Clients};
use crate::guard::journal::{Header, Journal};
use crate::scenario::{TimelineKind, Trust};
use crate::target::clients;

/// What `--fix` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FixOutcome {
    /// The change sent, e.g. `put-role-policy app-role/iamstorm-doctor-fix`.
    pub change: Option<String>,
    pub applied: bool,
    /// Why nothing was applied, or the target's error.
    pub error: Option<String>,
    pub journal: Option<String>,
    /// When re-probing after the change first saw the request allowed.
    pub allowed_after_ms: Option<f64>,
    pub reprobes: u32,
}

fn journal_path(args: &DoctorArgs) -> PathBuf {
    args.journal.clone().unwrap_or_else(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        PathBuf::from(format!("iamstorm-doctor-{ms}.journal.jsonl"))
    })
}

/// Applies `verdict`'s fix when it is one `--fix` may apply.
pub async fn apply(
    args: &DoctorArgs,
    subject: &Subject,
    verdict: &Verdict,
    evidence: &Evidence,
) -> FixOutcome {
    let kind = match &verdict.fix {
        Some(Fix::PutRolePolicy {
            role,
            policy_name,
            document,
        }) => TimelineKind::PutRolePolicy {
            role: role.clone(),
            policy_name: policy_name.clone(),
            document: document.clone(),
        },
        Some(Fix::UpdateAssumeRolePolicy { role, document }) => {
            TimelineKind::UpdateAssumeRolePolicy {
                role: role.clone(),
                trust: Trust::Document(document.clone()),
            }
        }
        _ => {
            return FixOutcome {
                error: Some(format!(
                    "nothing applied: the fix for cause {} is advice, not a policy change --fix may make",
                    verdict.cause.as_str()
                )),
                ..Default::default()
            };
        }
    };
    let target = &subject.target;
    let path = journal_path(args);
    let run_id = path
        .file_stem()
        .map_or_else(|| "doctor".to_owned(), |s| s.to_string_lossy().into_owned());
    let header = Header::new(
        &run_id,
        target.kind.as_str(),
        target.endpoint_url.as_deref(),
        &target.region,
        &target.account_id,
    );
    let journal = match Journal::create(&path, &header) {
        Ok(j) => Arc::new(j),
        Err(e) => {
            return FixOutcome {
                error: Some(format!("nothing applied: {e}")),
                ..Default::default()
            };
        }
    };
    let operator = clients::operator_config(target);
    let clients = Clients {
        iam: clients::iam(&operator),
        s3: clients::s3(&operator),
        admin: None,
        fleet: None,
        instances: Vec::new(),
        launcher: None,
        ec2: None,
        journal: Some(journal),
    };
    let applied = chaos::apply(&clients, &kind, 0.0).await;
    let mut out = FixOutcome {
        change: Some(applied.label.clone()),
        applied: applied.result.is_ok(),
        error: applied.result.err(),
        journal: Some(path.display().to_string()),
        ..Default::default()
    };
    if !out.applied {
        return out;
    }
    // Watch the fix take effect (the grant propagates like any other).
    if let (Some(call), Ok(instance)) = (
        ProbeCall::for_action(&evidence.action, &evidence.resource),
        probe::instance_clients(target, &subject.imds_endpoint),
    ) {
        let p = probe::propagation(&instance, &call, args.propagation_wait).await;
        out.allowed_after_ms = p.allowed_after_ms;
        out.reprobes = p.probes;
    }
    out
}
