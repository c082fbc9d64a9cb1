//! Fleet actions (double only: the instances are simulated inside it):
//! `scale-out` launches instances into a group with its *current* launch
//! template and boots them all at once — their IMDS token and credential
//! fetches are timed and classified, so a credential stampede shows — then
//! they join the load; `scale-in` retires the group's newest instances;
//! `set-launch-template` makes a new template version current, which only
//! instances launched after it use (the runbook's "the launch template still
//! points at the old role").

use std::sync::atomic::Ordering;

use super::{Applied, Launcher};
use crate::fleet::{Fleet, GroupSpec};
use crate::observe::outcome::OutcomeClass;
use crate::scenario::FleetSize;

fn applied(label: String, result: Result<(), String>) -> Applied {
    Applied {
        label,
        truth_label: String::new(),
        result,
    }
}

/// How many instances the group should change by.
fn delta(fleet: &Fleet, group: &str, size: FleetSize, out: bool) -> usize {
    let running = fleet.active(Some(&[group.to_owned()])).len();
    match (size, out) {
        (FleetSize::By(n), _) => n as usize,
        (FleetSize::To(n), true) => (n as usize).saturating_sub(running),
        (FleetSize::To(n), false) => running.saturating_sub(n as usize),
    }
}

pub async fn scale_out(
    fleet: &Fleet,
    launcher: &Launcher,
    group: &str,
    size: FleetSize,
) -> Applied {
    let n = delta(fleet, group, size, true);
    let Some(template) = fleet.template(group) else {
        return applied(
            format!("scale-out {group}"),
            Err(format!("no fleet group {group:?}")),
        );
    };
    let label = |extra: &str| {
        format!(
            "scale-out {group} +{n} (template v{}{}){extra}",
            template.version,
            template
                .instance_profile
                .as_deref()
                .map_or_else(String::new, |p| format!(": {p}"))
        )
    };
    if n == 0 {
        return applied(label(", already at size"), Ok(()));
    }
    let spec = GroupSpec {
        group: group.to_owned(),
        instance_profile: template.instance_profile.clone(),
        instances: n as u32,
        workers_per_instance: template.workers_per_instance,
    };
    let at_s = launcher.t0.elapsed().as_secs_f64();
    match crate::fleet::launch_at(
        &launcher.target,
        &[spec],
        &launcher.sdk,
        template.version,
        at_s,
    )
    .await
    {
        Ok(new) => {
            let mut boots_ms: Vec<f64> = new
                .iter()
                .map(|i| i.boot.duration.as_secs_f64() * 1000.0)
                .collect();
            boots_ms.sort_by(f64::total_cmp);
            let failed = new
                .iter()
                .filter(|i| i.boot.outcome.class != OutcomeClass::Ok)
                .count();
            let pct = |q: f64| {
                boots_ms[((q * boots_ms.len() as f64).ceil() as usize).clamp(1, boots_ms.len()) - 1]
            };
            let stats = format!(
                "; boot p50 {:.0} ms, max {:.0} ms, {failed} without credentials",
                pct(0.5),
                pct(1.0)
            );
            fleet.join(new);
            applied(label(&stats), Ok(()))
        }
        Err(e) => applied(label(""), Err(e.to_string())),
    }
}

pub fn scale_in(fleet: &Fleet, group: &str, size: FleetSize) -> Applied {
    let n = delta(fleet, group, size, false);
    let retired = fleet.retire_newest(group, n);
    let ids: Vec<&str> = retired.iter().map(|i| i.instance_id.as_str()).collect();
    debug_assert!(retired.iter().all(|i| i.retired.load(Ordering::Acquire)));
    applied(
        format!("scale-in {group} -{} ({})", retired.len(), ids.join(", ")),
        Ok(()),
    )
}

pub fn set_launch_template(
    fleet: &Fleet,
    group: &str,
    instance_profile: Option<&str>,
    workers_per_instance: Option<u32>,
) -> Applied {
    match fleet.set_template(
        group,
        instance_profile.map(str::to_owned),
        workers_per_instance,
    ) {
        Some(t) => applied(
            format!(
                "set-launch-template {group} v{}: {} × {} workers",
                t.version,
                t.instance_profile.as_deref().unwrap_or("no profile"),
                t.workers_per_instance
            ),
            Ok(()),
        ),
        None => applied(
            format!("set-launch-template {group}"),
            Err(format!("no fleet group {group:?}")),
        ),
    }
}
