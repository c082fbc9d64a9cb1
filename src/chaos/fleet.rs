//! Fleet actions (double only: the instances are simulated inside it):
//! `scale-out` launches instances into a group with its *current* launch
//! template and boots them all at once — their IMDS token and credential
//! fetches are timed and classified, so a credential stampede shows — then
//! they join the load; `scale-in` retires the group's newest instances;
//! `set-launch-template` makes a new template version current, which only
//! instances launched after it use (the runbook's "the launch template still
//! points at the old role"); `replace` swaps every running instance of a
//! group for one launched from the current template, batch by batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Applied, Launcher};
use crate::fleet::{Fleet, GroupSpec, LaunchTemplate, SimInstance, TemplateChange};
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

/// `v2: app-profile` — the template version and its profile, for labels.
fn template_words(t: &LaunchTemplate) -> String {
    format!(
        "v{}{}",
        t.version,
        t.instance_profile
            .as_deref()
            .map_or_else(String::new, |p| format!(": {p}"))
    )
}

/// The template's instances to launch into `group`.
fn spec(group: &str, t: &LaunchTemplate, n: usize) -> GroupSpec {
    GroupSpec {
        group: group.to_owned(),
        instance_profile: t.instance_profile.clone(),
        instances: n as u32,
        workers_per_instance: t.workers_per_instance,
        boot_delay: t.boot_delay,
    }
}

/// `; boot p50 …, max …, N without credentials` over `new` (not empty).
fn boot_stats(new: &[&SimInstance]) -> String {
    assert!(!new.is_empty(), "boot stats of no instances");
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
    let delay = match new[0].boot_delay {
        d if d.is_zero() => String::new(),
        d => format!(" after a {d:?} boot delay"),
    };
    format!(
        "; boot p50 {:.0} ms, max {:.0} ms{delay}, {failed} without credentials",
        pct(0.5),
        pct(1.0)
    )
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
            "scale-out {group} +{n} (template {}){extra}",
            template_words(&template)
        )
    };
    if n == 0 {
        return applied(label(", already at size"), Ok(()));
    }
    let at_s = launcher.t0.elapsed().as_secs_f64();
    match crate::fleet::launch_at(
        &launcher.target,
        &[spec(group, &template, n)],
        &launcher.sdk,
        template.version,
        at_s,
    )
    .await
    {
        Ok(new) => {
            let stats = boot_stats(&new.iter().collect::<Vec<_>>());
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

pub fn set_launch_template(fleet: &Fleet, group: &str, change: TemplateChange) -> Applied {
    match fleet.set_template(group, change) {
        Some(t) => applied(
            format!(
                "set-launch-template {group} v{}: {} × {} workers{}",
                t.version,
                t.instance_profile.as_deref().unwrap_or("no profile"),
                t.workers_per_instance,
                if t.boot_delay.is_zero() {
                    String::new()
                } else {
                    format!(", boot delay {:?}", t.boot_delay)
                }
            ),
            Ok(()),
        ),
        None => applied(
            format!("set-launch-template {group}"),
            Err(format!("no fleet group {group:?}")),
        ),
    }
}

/// Rolling replacement: every instance of `group` running now, `batch` at
/// a time — launch as many from the group's *current* template (boot delay,
/// boot), join them, retire as many old ones (oldest first), wait `pause`,
/// repeat. Capacity never dips below the group's size; a replace without a
/// template change relaunches the same template (the runbook's "new
/// instances still on the old role").
pub async fn replace(
    fleet: &Fleet,
    launcher: &Launcher,
    group: &str,
    batch: u32,
    pause: Duration,
) -> Applied {
    assert!(batch > 0, "validation keeps replace's batch at 1 or more");
    let Some(template) = fleet.template(group) else {
        return applied(
            format!("replace {group}"),
            Err(format!("no fleet group {group:?}")),
        );
    };
    let old = fleet.active(Some(&[group.to_owned()]));
    let batches: Vec<&[Arc<SimInstance>]> = old.chunks(batch as usize).collect();
    let label = |done: usize, extra: &str| {
        format!(
            "replace {group} {done} instances in {} batch{} (template {}){extra}",
            batches.len(),
            if batches.len() == 1 { "" } else { "es" },
            template_words(&template)
        )
    };
    if old.is_empty() {
        return applied(label(0, ", none running"), Ok(()));
    }
    let mut new_all: Vec<Arc<SimInstance>> = Vec::new();
    let mut done = 0;
    for (i, retiring) in batches.iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let at_s = launcher.t0.elapsed().as_secs_f64();
        let new = match crate::fleet::launch_at(
            &launcher.target,
            &[spec(group, &template, retiring.len())],
            &launcher.sdk,
            template.version,
            at_s,
        )
        .await
        {
            Ok(new) => new,
            Err(e) => {
                return applied(
                    label(done, &format!(", stopped at batch {}", i + 1)),
                    Err(e.to_string()),
                );
            }
        };
        new_all.extend(fleet.join(new));
        fleet.retire(retiring);
        done += retiring.len();
    }
    let stats = boot_stats(&new_all.iter().map(Arc::as_ref).collect::<Vec<_>>());
    applied(label(done, &stats), Ok(()))
}
