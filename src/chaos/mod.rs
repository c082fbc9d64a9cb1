//! The chaos timeline: IAM changes made mid-run through the real IAM API
//! with the operator's credentials, each stamped with when it was sent and
//! when IAM acknowledged it — the zero point of a propagation measurement.

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use tokio::sync::{mpsc, watch};

use crate::scenario::{Measure, TimelineAction, TimelineKind};

/// One applied (or failed) timeline action.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    pub index: usize,
    /// e.g. `put-role-policy app-role/s3-read`.
    pub action: String,
    /// The label the double gives the IAM version this change created.
    pub truth_label: String,
    pub measure: Option<Measure>,
    /// The timeline entry's index in the load plan whose outcomes probe it.
    pub probe_entry: Option<usize>,
    pub scheduled: Duration,
    pub sent: Duration,
    pub acked: Duration,
    /// `Err` carries the AWS error code and message: data, not a crash.
    pub result: Result<(), String>,
}

/// Runs the timeline; each record is also sent to the aggregator as soon
/// as the change is acknowledged so it can start measuring.
pub async fn run(
    actions: Vec<(TimelineAction, Option<usize>)>,
    iam: aws_sdk_iam::Client,
    t0: tokio::time::Instant,
    tx: mpsc::Sender<ChangeRecord>,
    mut stop: watch::Receiver<bool>,
) -> Vec<ChangeRecord> {
    let mut records = Vec::new();
    for (index, (action, probe_entry)) in actions.into_iter().enumerate() {
        tokio::select! {
            _ = tokio::time::sleep_until(t0 + action.at) => {}
            _ = stop.changed() => break,
        }
        let sent = t0.elapsed();
        let (label, truth_label, result) = apply(&iam, &action.kind).await;
        let record = ChangeRecord {
            index,
            action: label,
            truth_label,
            measure: action.measure,
            probe_entry,
            scheduled: action.at,
            sent,
            acked: t0.elapsed(),
            result,
        };
        let _ = tx.send(record.clone()).await;
        records.push(record);
    }
    records
}

fn describe<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_iam::error::SdkError<E>,
) -> String {
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => format!("{e:?}"),
    }
}

async fn apply(
    iam: &aws_sdk_iam::Client,
    kind: &TimelineKind,
) -> (String, String, Result<(), String>) {
    match kind {
        TimelineKind::PutRolePolicy {
            role,
            policy_name,
            document,
        } => {
            let result = iam
                .put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(&e));
            (
                format!("put-role-policy {role}/{policy_name}"),
                format!("PutRolePolicy {role}/{policy_name}"),
                result,
            )
        }
        TimelineKind::DeleteRolePolicy { role, policy_name } => {
            let result = iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(&e));
            (
                format!("delete-role-policy {role}/{policy_name}"),
                format!("DeleteRolePolicy {role}/{policy_name}"),
                result,
            )
        }
    }
}
