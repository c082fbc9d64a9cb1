//! Plausibility warnings: a scenario that validates can still ask for
//! something its own settings make unlikely — more requests per second than
//! the fleet can keep in flight, or a measured change whose propagation
//! outlasts the run. These are warnings (the run goes ahead, exit 0): the
//! report will show refused requests or an unsettled change, but the user
//! should hear it before spending the run.

use std::time::Duration;

use super::{Measure, Propagation, Scenario};

/// A request's latency assumed when sizing the fleet (assumption: a
/// typical p99 to S3/STS from EC2; the double answers in a few ms).
pub const LATENCY_GUESS: Duration = Duration::from_millis(50);

/// The longest delay a model gives (its p99 for the lognormal).
fn longest(p: &Propagation) -> Duration {
    match p {
        Propagation::Fixed { delay } => *delay,
        Propagation::Uniform { max, .. } => *max,
        Propagation::LogNormal { p99, .. } => *p99,
        Propagation::Empirical { samples } => samples.iter().copied().max().unwrap_or_default(),
    }
}

/// Every warning for `s`, in plain words.
pub fn warnings(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for g in &s.fleet {
        let slots = f64::from(g.instances) * f64::from(g.workers_per_instance);
        let capacity = slots / LATENCY_GUESS.as_secs_f64();
        // Entries of this group (or of every group) can overlap: add their peaks.
        let peak: f64 = s
            .load
            .iter()
            .filter(|l| l.group.as_ref().is_none_or(|name| *name == g.group))
            .filter_map(|l| l.model.peak_per_s())
            .sum();
        if peak > capacity {
            out.push(format!(
                "group {:?} may receive up to {peak:.0} requests/s, but its {} instances × {} workers keep about \
                 {capacity:.0}/s in flight at {} ms a request: expect refused requests — raise instances or \
                 workers_per_instance",
                g.group,
                g.instances,
                g.workers_per_instance,
                LATENCY_GUESS.as_millis()
            ));
        }
    }
    for a in &s.timeline {
        let Some(measure) = a.measure else { continue };
        let model = match measure {
            Measure::Grant => s.sim.grant.as_ref(),
            Measure::Revoke => s.sim.revoke.as_ref(),
        }
        .unwrap_or(&s.sim.propagation);
        let settle = a.at + longest(model);
        if settle >= s.duration {
            out.push(format!(
                "the change measured at {:?} may not settle before the run ends at {:?}: the propagation model \
                 reaches {:?} — raise duration or move the change earlier",
                a.at,
                s.duration,
                longest(model)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(rate: u32, at: &str) -> Scenario {
        let text = format!(
            r#"name = "w"
duration = "10s"
[sim.propagation]
model = "uniform"
min = "1s"
max = "4s"
[[iam.roles]]
name = "r"
trust = "ec2"
[[iam.instance_profiles]]
name = "p"
role = "r"
[[fleet]]
group = "web"
instance_profile = "p"
instances = 2
workers_per_instance = 4
[[load]]
op = "sts:GetCallerIdentity"
rate = {rate}
[[timeline]]
at = "{at}"
action = "update-assume-role-policy"
role = "r"
trust = "ec2"
"#
        );
        crate::scenario::parse("w.toml", &text, std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_undersized_fleet_is_warned_about() {
        // 2 × 4 slots at 50 ms: 160/s.
        assert!(warnings(&scenario(100, "1s")).is_empty());
        let w = warnings(&scenario(500, "1s"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("up to 500 requests/s") && w[0].contains("about 160/s"),
            "{w:?}"
        );
    }

    #[test]
    fn a_change_that_cannot_settle_is_warned_about() {
        let mut s = scenario(10, "7s");
        assert!(warnings(&s).is_empty(), "unmeasured changes are not judged");
        s.timeline[0].measure = Some(Measure::Grant);
        let w = warnings(&s);
        assert!(
            w.iter()
                .any(|l| l.contains("may not settle before the run ends")),
            "{w:?}"
        );
        s.timeline[0].at = Duration::from_secs(3);
        assert!(warnings(&s).is_empty());
    }
}
