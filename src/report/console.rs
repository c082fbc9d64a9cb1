//! The console rendering: a compact aligned table of ops × outcome classes
//! with latency and rate, then one line per measured IAM change, then the
//! verdict. Written to any `impl Write` so the same text goes to the
//! terminal and to `summary.txt`.

use std::io::{self, Write};

use crate::observe::outcome::OutcomeClass;
use crate::report::summary::{
    ClassCounts, PercentilesMs, PropagationSummary, RatePerS, Summary, fmt_count, fmt_ms, fmt_rate,
    fmt_s,
};

/// Renders the summary as text.
pub fn render(summary: &Summary, mut out: impl Write) -> io::Result<()> {
    writeln!(
        out,
        "run {}  scenario {}  seed {}  {}  {} requests",
        summary.run_id,
        summary.scenario,
        summary.seed,
        fmt_s(summary.duration_s),
        fmt_count(summary.requests_total)
    )?;
    writeln!(out)?;
    write_table(summary, &mut out)?;
    if !summary.propagation.is_empty() {
        writeln!(out)?;
        writeln!(out, "propagation")?;
        for p in &summary.propagation {
            writeln!(out, "  {}", propagation_line(p))?;
        }
    }
    if !summary.timeline.is_empty() {
        writeln!(out)?;
        writeln!(out, "timeline")?;
        for c in &summary.timeline {
            writeln!(
                out,
                "  {} at {} (acked after {}): {}",
                c.action,
                fmt_s(c.sent_s),
                fmt_ms((c.acked_s - c.sent_s) * 1000.0),
                c.result
            )?;
        }
    }
    if !summary.verdict_lines.is_empty() {
        writeln!(out)?;
        writeln!(out, "verdict")?;
        for line in &summary.verdict_lines {
            writeln!(out, "  - {line}")?;
        }
    }
    if let Some(c) = &summary.classifier {
        writeln!(out)?;
        writeln!(
            out,
            "classifier: {}",
            crate::report::markdown::classifier_line(c)
        )?;
    }
    if !summary.thresholds.is_empty() {
        writeln!(out)?;
        writeln!(out, "thresholds")?;
        for t in &summary.thresholds {
            let mark = if t.passed { "pass" } else { "FAIL" };
            writeln!(out, "  {mark}  {}  ({})", t.threshold, t.reason)?;
        }
    }
    if !summary.restored.is_empty() {
        writeln!(out)?;
        writeln!(out, "restored (journaled changes undone)")?;
        for r in &summary.restored {
            writeln!(
                out,
                "  #{} {} on {}: {}",
                r.seq, r.action, r.resource, r.result
            )?;
        }
    }
    Ok(())
}

/// Classes shown as columns: `ok` always, the others only if the run had
/// any, so the usual table fits a terminal.
fn shown_classes(counts: &ClassCounts) -> Vec<OutcomeClass> {
    OutcomeClass::ALL
        .into_iter()
        .filter(|&c| c == OutcomeClass::Ok || counts.get(c) > 0)
        .collect()
}

fn write_table(summary: &Summary, out: &mut impl Write) -> io::Result<()> {
    let classes = shown_classes(&summary.counts_by_class);
    let mut header: Vec<String> = vec!["op".into(), "requests".into()];
    header.extend(classes.iter().map(|c| c.as_str().to_owned()));
    header.extend(["p50_ms", "p99_ms", "rate_per_s achieved/target"].map(str::to_owned));

    let row = |name: &str,
               requests: u64,
               counts: &ClassCounts,
               latency: &PercentilesMs,
               rate: &RatePerS| {
        let mut cells = vec![name.to_owned(), fmt_count(requests)];
        cells.extend(classes.iter().map(|&c| fmt_count(counts.get(c))));
        cells.push(format!("{:.1}", latency.p50));
        cells.push(format!("{:.1}", latency.p99));
        let target = rate.target.map_or_else(|| "-".to_owned(), fmt_rate);
        cells.push(format!("{}/{target}", fmt_rate(rate.achieved)));
        cells
    };
    let mut rows = vec![header];
    for op in &summary.ops {
        rows.push(row(
            &op.op,
            op.requests,
            &op.counts_by_class,
            &op.latency_ms,
            &op.rate_per_s,
        ));
    }
    if summary.ops.len() > 1 {
        rows.push(row(
            "all",
            summary.requests_total,
            &summary.counts_by_class,
            &summary.latency_ms,
            &summary.rate_per_s,
        ));
    }

    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for cells in &rows {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                // Numbers align right, under their header.
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn propagation_line(p: &PropagationSummary) -> String {
    let mut line = format!(
        "{} {} at {}: {}/{} instances reached",
        p.kind,
        p.action,
        fmt_s(p.at_s),
        p.instances_reached,
        p.instances
    );
    if let Some(d) = p.delay_ms {
        line.push_str(&format!(
            ", delay p50 {} p90 {} p99 {} max {}",
            fmt_ms(d.p50),
            fmt_ms(d.p90),
            fmt_ms(d.p99),
            fmt_ms(d.max)
        ));
    }
    if let Some(s) = p.stable_ms {
        line.push_str(&format!(", stable max {}", fmt_ms(s.max)));
    }
    line.push_str(&format!(", {} flaps", fmt_count(p.flaps)));
    if p.kind == "revoke" {
        line.push_str(&format!(
            ", exposure {} requests",
            fmt_count(p.exposure_requests)
        ));
        if let Some(ms) = p.exposure_ms {
            line.push_str(&format!(" over {}", fmt_ms(ms)));
        }
    }
    if let Some(t) = p.truth_delay_ms {
        line.push_str(&format!(", truth max {}", fmt_ms(t.max)));
        if let Some(e) = p.error_ms_max {
            line.push_str(&format!(" (error {e:+.0} ms)"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::propagation::{Change, ChangeKind, PropagationTracker};
    use crate::report::summary::fixtures::{metrics, record, summarize};

    fn rendered() -> String {
        let mut m = metrics(&["s3:GetObject", "sts:GetCallerIdentity"]);
        let change = Change {
            kind: ChangeKind::Revoke,
            action: "s3:GetObject".into(),
            probe: "s3:GetObject".into(),
            at: Duration::from_secs(1),
            acked: Duration::from_secs(1),
        };
        let mut tracker = PropagationTracker::new(change, 1);
        for t in (0..4_000).step_by(10) {
            m.set_rate_target(0, Duration::from_millis(t), 100.0);
            let class = if t < 2_000 {
                OutcomeClass::Ok
            } else {
                OutcomeClass::AccessDenied
            };
            record(&mut m, 0, class, t, 1_200);
            tracker.observe(0, Duration::from_millis(t), class);
            if t % 100 == 0 {
                record(&mut m, 1, OutcomeClass::Throttled, t, 400);
            }
        }
        let s = summarize(&m, 4, &[tracker.result(None)]);
        let mut buf = Vec::new();
        render(&s, &mut buf).expect("writes to memory");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn table_has_class_names_numbers_and_aligned_columns() {
        let text = rendered();
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .find(|l| l.starts_with("op "))
            .expect("a header line");
        for name in [
            "ok",
            "throttled",
            "access_denied",
            "p50_ms",
            "p99_ms",
            "rate_per_s achieved/target",
        ] {
            assert!(header.contains(name), "{header}");
        }
        // Classes with no requests stay out of the way.
        assert!(!header.contains("timeout"), "{header}");
        let get = lines
            .iter()
            .find(|l| l.starts_with("s3:GetObject"))
            .expect("a GetObject row");
        let words: Vec<&str> = get.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "s3:GetObject",
                "400",
                "200",
                "0",
                "200",
                "1.2",
                "1.2",
                "100/100"
            ],
            "{get}"
        );
        let sts = lines
            .iter()
            .find(|l| l.starts_with("sts:GetCallerIdentity"))
            .expect("an STS row");
        assert!(sts.ends_with("10/-"), "{sts}");
        let all = lines
            .iter()
            .find(|l| l.starts_with("all "))
            .expect("a total row");
        assert!(all.split_whitespace().any(|w| w == "440"), "{all}");
        // Right-aligned: every table line ends at the same column.
        let table: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("op ") || l.starts_with("s") || l.starts_with("all "))
            .collect();
        let width = table[0].chars().count();
        assert!(table.iter().all(|l| l.chars().count() == width), "{text}");
    }

    #[test]
    fn propagation_and_verdict_follow_the_table() {
        let text = rendered();
        assert!(
            text.starts_with("run run-1  scenario propagation-race  seed 42  4 s  440 requests"),
            "{text}"
        );
        assert!(
            text.contains(
                "propagation\n  revoke s3:GetObject at 1 s: 1/1 instances reached, delay p50 1.0 s"
            ),
            "{text}"
        );
        assert!(text.contains("exposure 100 requests over 990 ms"), "{text}");
        assert!(text.contains("verdict\n  - "), "{text}");
        assert!(
            text.contains("rate limiting, not a permissions problem"),
            "{text}"
        );
    }
}
