//! `events.csv`: what happened when, one row per event, in time order —
//! each timeline action (sent and acknowledged) and, per measured change
//! and instance, when it first saw the change, when it settled, and its
//! last exposed success — so a per-instance story can be plotted or
//! grepped next to `timeseries.csv`.

use std::io::{self, Write};

use crate::observe::propagation::PropagationResult;
use crate::report::summary::TimelineChange;

/// The header, in column order.
pub const EVENTS_HEADER: [&str; 5] = ["t_s", "event", "instance", "subject", "detail"];

/// One row.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the run's start.
    pub t_s: f64,
    /// `action_sent`, `action_acked`, `first_expected`, `stable`,
    /// `last_exposure`, `never_reached`, `never_settled`.
    pub event: &'static str,
    pub instance: Option<usize>,
    /// The timeline action.
    pub subject: String,
    pub detail: String,
}

/// Every event, in time order (stable for equal times).
pub fn events(timeline: &[TimelineChange], propagation: &[PropagationResult]) -> Vec<Event> {
    let mut out = Vec::new();
    for c in timeline {
        out.push(Event {
            t_s: c.sent_s,
            event: "action_sent",
            instance: None,
            subject: c.action.clone(),
            detail: String::new(),
        });
        out.push(Event {
            t_s: c.acked_s,
            event: "action_acked",
            instance: None,
            subject: c.action.clone(),
            detail: c.result.clone(),
        });
    }
    for p in propagation {
        let acked_s = p.change.acked.as_secs_f64();
        let kind = p.change.kind.as_str();
        for i in &p.instances {
            let mut at = |event, ms: Option<f64>, detail: String| {
                if let Some(ms) = ms {
                    out.push(Event {
                        t_s: acked_s + ms / 1000.0,
                        event,
                        instance: Some(i.instance),
                        subject: p.change.action.clone(),
                        detail,
                    });
                }
            };
            at("first_expected", i.delay_ms, kind.to_owned());
            at("stable", i.stable_ms, format!("{kind}, {} flaps", i.flaps));
            at(
                "last_exposure",
                i.exposure_ms,
                format!("{} exposed requests", i.exposure_requests),
            );
            let end = p
                .instances
                .iter()
                .filter_map(|i| i.stable_ms)
                .fold(0.0, f64::max);
            if i.delay_ms.is_none() {
                at("never_reached", Some(end), kind.to_owned());
            } else if i.stable_ms.is_none() {
                at("never_settled", Some(end), kind.to_owned());
            }
        }
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    out
}

/// Writes the header and `events`.
pub fn write(events: &[Event], out: impl Write) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(EVENTS_HEADER)?;
    for e in events {
        w.write_record([
            format!("{:.3}", e.t_s),
            e.event.to_owned(),
            e.instance.map(|i| i.to_string()).unwrap_or_default(),
            e.subject.clone(),
            e.detail.clone(),
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::outcome::OutcomeClass;
    use crate::observe::propagation::{Change, ChangeKind, PropagationTracker};

    #[test]
    fn actions_and_per_instance_moments_in_time_order() {
        let change = Change {
            kind: ChangeKind::Revoke,
            action: "delete-role-policy r/p".into(),
            probe: "s3:GetObject".into(),
            at: Duration::from_millis(3_000),
            acked: Duration::from_millis(3_010),
        };
        let mut t = PropagationTracker::new(change, 2);
        for (instance, ms, class) in [
            (0, 3_100, OutcomeClass::Ok),
            (0, 3_500, OutcomeClass::AccessDenied),
            (1, 3_200, OutcomeClass::Ok),
        ] {
            t.observe(instance, Duration::from_millis(ms), class);
        }
        let timeline = [TimelineChange {
            action: "delete-role-policy r/p".into(),
            scheduled_s: 3.0,
            sent_s: 3.0,
            acked_s: 3.01,
            result: "ok".into(),
            measured: true,
        }];
        let ev = events(&timeline, &[t.result(None)]);
        let kinds: Vec<(&str, Option<usize>)> = ev.iter().map(|e| (e.event, e.instance)).collect();
        assert_eq!(
            kinds,
            vec![
                ("action_sent", None),
                ("action_acked", None),
                ("last_exposure", Some(0)),
                ("last_exposure", Some(1)),
                ("first_expected", Some(0)),
                ("stable", Some(0)),
                ("never_reached", Some(1)),
            ]
        );
        assert!((ev[4].t_s - 3.5).abs() < 1e-9);
        let mut buf = Vec::new();
        write(&ev, &mut buf).expect("writes");
        let text = String::from_utf8(buf).expect("utf-8");
        assert!(
            text.starts_with(
                "t_s,event,instance,subject,detail\n3.000,action_sent,,delete-role-policy r/p,\n"
            ),
            "{text}"
        );
    }
}
