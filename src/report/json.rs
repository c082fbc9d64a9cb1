//! `summary.json`: the [`Summary`] as pretty JSON, the form other tools
//! (`compare`, `merge`, CI thresholds) read back.

use std::io::{self, Write};

use crate::report::summary::Summary;

/// Writes the summary as pretty JSON followed by a newline.
pub fn write(summary: &Summary, mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, summary)?;
    out.write_all(b"\n")
}

/// Reads a `summary.json` back (for `iamstorm report`), or says where it breaks.
pub fn read(text: &str) -> Result<Summary, serde_json::Error> {
    serde_json::from_str(text)
}

/// The summary as a JSON string, for callers that print or embed it.
pub fn to_string(summary: &Summary) -> String {
    // Every field is a plain number, string, list or string-keyed map, so
    // serializing cannot fail.
    serde_json::to_string_pretty(summary).expect("a Summary always serializes")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::observe::outcome::OutcomeClass;
    use crate::observe::propagation::{Change, ChangeKind, PropagationTracker, Truth};
    use crate::report::summary::fixtures::{metrics, record, summarize};

    fn parsed() -> Value {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        let change = Change {
            kind: ChangeKind::Grant,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::ZERO,
            acked: Duration::ZERO,
        };
        let mut grant = PropagationTracker::new(change.clone(), 1);
        let revoke = PropagationTracker::new(
            Change {
                kind: ChangeKind::Revoke,
                ..change
            },
            1,
        );
        for t in (0..3_000).step_by(100) {
            let class = if t < 1_000 {
                OutcomeClass::AccessDenied
            } else {
                OutcomeClass::Ok
            };
            record(&mut m, 0, class, t, 1_500);
            record(&mut m, 1, OutcomeClass::Throttled, t, 300);
            grant.observe(0, Duration::from_millis(t), class);
        }
        m.set_rate_target(0, Duration::ZERO, 10.0);
        let truth = Truth {
            replica_applied: vec![Duration::from_millis(900)],
        };
        let s = summarize(&m, 3, &[grant.result(Some(&truth)), revoke.result(None)]);
        let mut buf = Vec::new();
        write(&s, &mut buf).expect("writes to memory");
        assert_eq!(buf.last(), Some(&b'\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&to_string(&s)).expect("valid"),
            serde_json::from_slice::<Value>(&buf).expect("valid")
        );
        // The typed summary reads back to the same document.
        let back = read(std::str::from_utf8(&buf).expect("utf-8")).expect("reads back");
        assert_eq!(
            serde_json::to_value(&back).expect("serializes"),
            serde_json::from_slice::<Value>(&buf).expect("valid")
        );
        serde_json::from_slice(&buf).expect("summary.json parses back")
    }

    fn assert_keys(v: &Value, keys: &[&str], what: &str) {
        for key in keys {
            assert!(v.get(key).is_some(), "{what} lacks `{key}`: {v:#}");
        }
    }

    fn assert_percentiles(v: &Value, what: &str) {
        assert_keys(v, &["p50", "p90", "p99", "max"], what);
    }

    fn assert_all_classes(v: &Value, what: &str) {
        let map = v
            .as_object()
            .unwrap_or_else(|| panic!("{what} is not a map: {v}"));
        assert_eq!(map.len(), OutcomeClass::COUNT, "{what}");
        for class in OutcomeClass::ALL {
            assert!(map[class.as_str()].is_u64(), "{what} lacks {class}");
        }
    }

    #[test]
    fn summary_json_has_every_required_key() {
        let v = parsed();
        assert_keys(
            &v,
            &[
                "schema_version",
                "run_id",
                "seed",
                "scenario",
                "duration_s",
                "requests_total",
                "counts_by_class",
                "latency_ms",
                "latency_raw_ms",
                "ops",
                "rate_per_s",
                "late_starts",
                "propagation",
                "verdict_lines",
            ],
            "summary",
        );
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["seed"], 42);
        assert_eq!(v["requests_total"], 60);
        assert_all_classes(&v["counts_by_class"], "counts_by_class");
        assert_eq!(v["counts_by_class"]["throttled"], 30);
        assert_eq!(v["counts_by_class"]["timeout"], 0);
        assert_percentiles(&v["latency_ms"], "latency_ms");
        assert_percentiles(&v["latency_raw_ms"], "latency_raw_ms");
        assert_keys(&v["rate_per_s"], &["target", "achieved"], "rate_per_s");
        assert_eq!(v["rate_per_s"]["achieved"], 20.0);

        let ops = v["ops"].as_array().expect("ops is a list");
        assert_eq!(ops.len(), 2);
        for op in ops {
            assert_keys(
                op,
                &[
                    "op",
                    "requests",
                    "counts_by_class",
                    "latency_ms",
                    "latency_raw_ms",
                    "rate_per_s",
                    "late_starts",
                ],
                "op",
            );
            assert_all_classes(&op["counts_by_class"], "op counts_by_class");
            assert_percentiles(&op["latency_ms"], "op latency_ms");
            assert_percentiles(&op["latency_raw_ms"], "op latency_raw_ms");
            assert_keys(&op["rate_per_s"], &["target", "achieved"], "op rate_per_s");
        }
        assert_eq!(ops[0]["op"], "s3:GetObject");
        assert_eq!(ops[0]["latency_ms"]["p50"], 1.5);
        assert_eq!(ops[0]["rate_per_s"]["target"], 3.333);
        assert!(ops[1]["rate_per_s"]["target"].is_null());
        assert_eq!(ops[0]["class_spans"]["access_denied"]["first_s"], 0.0);

        let props = v["propagation"].as_array().expect("propagation is a list");
        assert_eq!(props.len(), 2);
        for p in props {
            assert_keys(
                p,
                &[
                    "action",
                    "at_s",
                    "kind",
                    "instances",
                    "instances_reached",
                    "delay_ms",
                    "stable_ms",
                    "flaps",
                    "exposure_requests",
                    "exposure_ms",
                    "truth_delay_ms",
                    "error_ms_max",
                ],
                "propagation",
            );
        }
        let grant = &props[0];
        assert_eq!(grant["kind"], "grant");
        assert_percentiles(&grant["delay_ms"], "delay_ms");
        assert_percentiles(&grant["stable_ms"], "stable_ms");
        assert_keys(
            &grant["truth_delay_ms"],
            &["p50", "p99", "max"],
            "truth_delay_ms",
        );
        assert_eq!(grant["error_ms_max"], 100.0);
        let revoke = &props[1];
        assert_eq!(revoke["kind"], "revoke");
        assert_eq!(revoke["instances_reached"], 0);
        assert_eq!(revoke["instances_unreached"], serde_json::json!([0]));
        assert!(
            revoke["delay_ms"].is_null()
                && revoke["truth_delay_ms"].is_null()
                && revoke["error_ms_max"].is_null()
        );

        let verdict = v["verdict_lines"].as_array().expect("verdict is a list");
        assert!(!verdict.is_empty() && verdict.iter().all(Value::is_string));
    }
}
