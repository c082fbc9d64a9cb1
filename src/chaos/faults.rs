//! Double-only fault actions — throttle-storm, latency, error-inject,
//! clock-skew — each one rule posted to `POST /_iamstorm/faults` with a
//! window relative to when it is posted, so the double ends it itself.

use super::Applied;
use crate::scenario::{FaultAction, FaultSpec};
use crate::target::AdminClient;

pub(super) async fn apply(admin: &AdminClient, action: FaultAction, spec: &FaultSpec) -> Applied {
    let scope = format!(
        "{}:{}",
        spec.service.as_deref().unwrap_or("*"),
        spec.action.as_deref().unwrap_or("*")
    );
    let detail = match action {
        FaultAction::ThrottleStorm => spec.code.clone().unwrap_or_default(),
        FaultAction::Latency => "delay".to_owned(),
        FaultAction::ErrorInject => format!(
            "{} {}",
            spec.status.unwrap_or_default(),
            spec.code.as_deref().unwrap_or_default()
        ),
        FaultAction::ClockSkew => format!("{:+}ms", spec.offset_ms.unwrap_or_default()),
    };
    let label = format!(
        "{} {scope} {detail} p={} for {}ms",
        action.as_str(),
        spec.probability.unwrap_or(1.0),
        spec.for_ms.unwrap_or_default()
    );
    let result = admin
        .add_faults(std::slice::from_ref(spec))
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    Applied {
        label,
        truth_label: String::new(),
        result,
    }
}
