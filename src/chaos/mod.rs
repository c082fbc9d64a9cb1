//! The chaos timeline: changes made mid-run, each stamped with when it was
//! sent and when the target acknowledged it — the zero point of a
//! propagation measurement. One file per action family: `iam` and `s3`
//! go through the real SDK with the operator's credentials; `imds` and
//! `faults` through the embedded double's admin API.

mod ec2;
mod faults;
mod fleet;
mod iam;
mod imds;
mod s3;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::fleet::Fleet;
use crate::scenario::{Measure, TimelineAction, TimelineKind};
use crate::target::clients::SdkSettings;
use crate::target::{AdminClient, Target};

/// One applied (or failed) timeline action.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    pub index: usize,
    /// e.g. `put-role-policy app-role/s3-read`.
    pub action: String,
    /// The label the double gives the IAM version this change created
    /// (empty when the change makes no IAM version).
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

/// What the timeline talks to.
#[derive(Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    /// The double's admin API; `None` when the target is not the embedded
    /// double (then double-only actions are refused before the run).
    pub admin: Option<AdminClient>,
    /// The run's instances (IMDS actions address the running ones; scale
    /// actions change them); `None` outside a run, where `instances` is used.
    pub fleet: Option<Arc<Fleet>>,
    /// `(group, instance id)` of instances to address when there is no fleet.
    pub instances: Vec<(String, String)>,
    /// Launches instances for scale-out; `None` where the target cannot.
    pub launcher: Option<Launcher>,
    /// The target's EC2 API (swap-instance-profile, reboot-instance).
    pub ec2: Option<crate::target::ec2::Ec2Client>,
    /// Set when the target outlives the run: every IAM and S3 change is
    /// journaled (with its undo) before it is sent.
    pub journal: Option<Arc<crate::guard::Journal>>,
}

/// What launching instances mid-run takes.
#[derive(Clone)]
pub struct Launcher {
    pub target: Arc<Target>,
    pub sdk: SdkSettings,
    /// The load's start: launched instances record when they joined.
    pub t0: tokio::time::Instant,
}

/// The outcome of one action, before it is stamped.
pub struct Applied {
    /// e.g. `attach-role-policy app-role+arn:…`.
    pub label: String,
    /// See [`ChangeRecord::truth_label`].
    pub truth_label: String,
    pub result: Result<(), String>,
}

/// The actions in `actions` only the embedded double can apply; the run
/// refuses the scenario when there are some and no admin API.
pub fn double_only(actions: &[TimelineAction]) -> Vec<&TimelineAction> {
    actions.iter().filter(|a| a.kind.needs_double()).collect()
}

/// Runs the timeline; each record is also sent to the aggregator as soon
/// as the change is acknowledged so it can start measuring.
pub async fn run(
    actions: Vec<(TimelineAction, Option<usize>)>,
    clients: Clients,
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
        // A long action (a scale-out's boot delay, a replace's batches)
        // must not hold the run's end: when the load stops, it stops too,
        // with what it finished already in the fleet. A journaled change
        // cut off mid-call stays pending in the journal and is undone.
        let (applied, stopped) = tokio::select! {
            applied = apply(&clients, &action.kind, sent.as_secs_f64()) => (applied, false),
            _ = stop.changed() => (Applied {
                label: action.kind.name().to_owned(),
                truth_label: String::new(),
                result: Err("not finished: the run ended first".to_owned()),
            }, true),
        };
        let record = ChangeRecord {
            index,
            action: applied.label,
            truth_label: applied.truth_label,
            measure: action.measure,
            probe_entry,
            scheduled: action.at,
            sent,
            acked: t0.elapsed(),
            result: applied.result,
        };
        let _ = tx.send(record.clone()).await;
        records.push(record);
        if stopped {
            break;
        }
    }
    records
}

/// Applies one action now; its errors are data in [`Applied::result`].
/// With a journal, a change to the target is journaled first (its prior
/// state as undo steps, fsync'd) and not sent at all if that fails.
pub async fn apply(clients: &Clients, kind: &TimelineKind, at_s: f64) -> Applied {
    let (Some(journal), Some(resource)) = (&clients.journal, crate::guard::undo::resource(kind))
    else {
        return apply_now(clients, kind).await;
    };
    let not_sent = |why: String| Applied {
        label: kind.name().to_owned(),
        truth_label: String::new(),
        result: Err(format!("not sent: {why}")),
    };
    let undo = match crate::guard::undo::capture(&clients.iam, &clients.s3, kind).await {
        Ok(undo) => undo,
        Err(e) => {
            return not_sent(format!(
                "cannot read {resource}'s prior state to journal it: {e}"
            ));
        }
    };
    let seq = match journal.intent(at_s, kind.name(), &resource.to_string(), undo) {
        Ok(seq) => seq,
        Err(e) => return not_sent(e.to_string()),
    };
    let applied = apply_now(clients, kind).await;
    if let Err(e) = journal.applied(seq, &applied.result) {
        errln!("warning: {e}");
    }
    applied
}

async fn apply_now(clients: &Clients, kind: &TimelineKind) -> Applied {
    match kind {
        TimelineKind::ScaleOut { group, size } => match (&clients.fleet, &clients.launcher) {
            (Some(f), Some(launcher)) => fleet::scale_out(f, launcher, group, *size).await,
            _ => refused(kind),
        },
        TimelineKind::SwapInstanceProfile {
            group,
            instance_profile,
        } => match (&clients.ec2, &clients.fleet) {
            (Some(c), Some(f)) => {
                ec2::swap_instance_profile(c, f, group.as_deref(), instance_profile).await
            }
            _ => refused(kind),
        },
        TimelineKind::RebootInstance { group } => match (&clients.ec2, &clients.fleet) {
            (Some(c), Some(f)) => {
                ec2::reboot_instance(c, f, clients.launcher.as_ref(), group.as_deref()).await
            }
            _ => refused(kind),
        },
        TimelineKind::ScaleIn { group, size } => match &clients.fleet {
            Some(f) => fleet::scale_in(f, group, *size),
            None => refused(kind),
        },
        TimelineKind::SetLaunchTemplate {
            group,
            instance_profile,
            workers_per_instance,
            boot_delay,
        } => match &clients.fleet {
            Some(f) => fleet::set_launch_template(
                f,
                group,
                crate::fleet::TemplateChange {
                    instance_profile: instance_profile.clone(),
                    workers_per_instance: *workers_per_instance,
                    boot_delay: *boot_delay,
                },
            ),
            None => refused(kind),
        },
        TimelineKind::Replace {
            group,
            batch,
            pause,
        } => match (&clients.fleet, &clients.launcher) {
            (Some(f), Some(launcher)) => fleet::replace(f, launcher, group, *batch, *pause).await,
            _ => refused(kind),
        },
        TimelineKind::ImdsOutage { .. } | TimelineKind::ImdsThrottle { .. } => {
            match &clients.admin {
                Some(admin) => {
                    let instances: Vec<(String, String)> = match &clients.fleet {
                        Some(fleet) => fleet
                            .active(None)
                            .iter()
                            .map(|i| (i.group.clone(), i.instance_id.clone()))
                            .collect(),
                        None => clients.instances.clone(),
                    };
                    imds::apply(admin, &instances, kind).await
                }
                None => refused(kind),
            }
        }
        TimelineKind::Fault { action, spec } => match &clients.admin {
            Some(admin) => faults::apply(admin, *action, spec).await,
            None => refused(kind),
        },
        TimelineKind::PutBucketPolicy { .. } | TimelineKind::DeleteBucketPolicy { .. } => {
            s3::apply(&clients.s3, kind).await
        }
        _ => iam::apply(&clients.iam, kind).await,
    }
}

fn refused(kind: &TimelineKind) -> Applied {
    Applied {
        label: format!("{kind:?}"),
        truth_label: String::new(),
        result: Err("this action cannot be applied through this client (double-only actions need the embedded double's admin API)".to_owned()),
    }
}

/// Whether the target answered with one of `codes` (a service error).
pub(crate) fn has_code<E: aws_sdk_iam::error::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    codes: &[&str],
) -> bool {
    use aws_sdk_iam::error::ProvideErrorMetadata;
    e.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|c| codes.contains(&c))
}

/// An SDK error as `Code: message`.
pub(crate) fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    use aws_sdk_iam::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => format!("{e:?}"),
    }
}
