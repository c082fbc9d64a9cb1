//! Double-only IMDS actions: an outage or a throttle on the instances of a
//! group (or all), through `PUT /_iamstorm/instances/{id}/imds`. A `PUT`
//! replaces that instance's whole set of knobs; the throttle is undone by a
//! `DELETE` of the knobs when its window ends (the outage carries its own
//! window). Overlapping IMDS actions on one instance therefore replace
//! each other.

use std::time::Duration;

use super::Applied;
use crate::scenario::{ImdsOutageMode, TimelineKind};
use crate::target::AdminClient;

pub(super) async fn apply(
    admin: &AdminClient,
    instances: &[(String, String)],
    kind: &TimelineKind,
) -> Applied {
    let (group, label, knobs, revert_after) = match kind {
        TimelineKind::ImdsOutage {
            group,
            mode,
            window,
        } => {
            let mode = match mode {
                ImdsOutageMode::Refuse => "refuse",
                ImdsOutageMode::Unavailable => "503",
            };
            (
                group,
                format!("imds-outage {mode} for {window:?}"),
                serde_json::json!({ "outage": { "mode": mode, "for_ms": ms(*window) } }),
                None,
            )
        }
        TimelineKind::ImdsThrottle {
            group,
            rate_per_s,
            window,
        } => (
            group,
            format!("imds-throttle {rate_per_s}/s for {window:?}"),
            serde_json::json!({ "rate_per_s": rate_per_s }),
            Some(*window),
        ),
        // The dispatcher in `chaos::apply` sends only IMDS actions here.
        other => return super::refused(other),
    };
    let targets: Vec<String> = instances
        .iter()
        .filter(|(g, _)| group.as_ref().is_none_or(|want| want == g))
        .map(|(_, id)| id.clone())
        .collect();
    let label = format!(
        "{label} on {} instance(s) of {}",
        targets.len(),
        group.as_deref().unwrap_or("every group")
    );
    let mut result = Ok(());
    for id in &targets {
        if let Err(e) = admin.set_imds(id, &knobs).await {
            result = Err(e.to_string());
            break;
        }
    }
    if let (Some(window), Ok(())) = (revert_after, &result) {
        let admin = admin.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            for id in &targets {
                // The double may be gone when the run ended first.
                let _ = admin.clear_imds(id).await;
            }
        });
    }
    Applied {
        label,
        truth_label: String::new(),
        result,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
