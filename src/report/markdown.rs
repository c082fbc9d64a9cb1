//! `report.md`: the summary as a CI job summary page (GitHub's
//! `$GITHUB_STEP_SUMMARY` renders it as is). Verdict first — pass/fail on
//! the thresholds and the plain-words reading — then the thresholds,
//! outcome classes, propagation and timeline tables.

use std::io::{self, Write};

use crate::observe::outcome::OutcomeClass;
use crate::report::summary::{Summary, fmt_count, fmt_interval_accuracy, fmt_ms, fmt_rate, fmt_s};

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The classifier check in one sentence.
pub fn classifier_line(c: &crate::observe::truth_check::ClassifierCheck) -> String {
    let agreement = c.agreement.map_or_else(
        || "no verdict with a single right class".to_owned(),
        |a| format!("{:.2} % agreement", a * 100.0),
    );
    let mut line = format!(
        "{agreement} with the double's ground truth over {} sampled of {} requests with an id ({} found",
        fmt_count(c.sampled as u64),
        fmt_count(c.requests_with_id),
        fmt_count(c.found)
    );
    if c.not_found > 0 {
        line.push_str(&format!(", {} no longer known", fmt_count(c.not_found)));
    }
    line.push(')');
    let no_id: u64 = c.no_request_id.values().sum();
    if no_id > 0 {
        line.push_str(&format!(
            "; {} requests never got an answer with an id",
            fmt_count(no_id)
        ));
    }
    line.push('.');
    line
}

/// The one-line headline: what a reader must know first.
pub fn headline(summary: &Summary) -> String {
    let failed = summary.thresholds.iter().filter(|t| !t.passed).count();
    let total = summary.thresholds.len();
    if total == 0 {
        "**DONE** — no thresholds set".to_owned()
    } else if failed == 0 {
        format!("**PASS** — all {total} thresholds held")
    } else {
        format!("**FAIL** — {failed} of {total} thresholds failed")
    }
}

/// Renders the summary as Markdown.
pub fn render(summary: &Summary, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "# iamstorm: {}", summary.scenario)?;
    writeln!(out)?;
    writeln!(out, "{}", headline(summary))?;
    writeln!(out)?;
    writeln!(
        out,
        "Run `{}` · seed `{}` · {} · {} requests · {} achieved",
        summary.run_id,
        summary.seed,
        fmt_s(summary.duration_s),
        fmt_count(summary.requests_total),
        format_args!("{}/s", fmt_rate(summary.rate_per_s.achieved)),
    )?;
    if let Some(m) = &summary.merged {
        writeln!(out)?;
        writeln!(
            out,
            "Merged from {} of {} shards (started within {} ms){}",
            m.merged.len(),
            m.shards,
            m.start_spread_ms,
            if m.missing.is_empty() {
                String::new()
            } else {
                format!(" · missing: {:?}", m.missing)
            }
        )?;
    }
    if let Some(s) = &summary.shard {
        writeln!(out)?;
        writeln!(
            out,
            "Shard {} of {} (indices from 0) · base seed `{}` · {} of {} instances · merge with `iamstorm merge`",
            s.index, s.count, s.seed_base, s.instances, s.instances_total
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## What this means")?;
    writeln!(out)?;
    // A paragraph, not a list: the verdict lines read as one explanation.
    writeln!(out, "{}", summary.verdict_lines.join(" "))?;

    if !summary.thresholds.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Thresholds")?;
        writeln!(out)?;
        writeln!(out, "| result | threshold | observed |")?;
        writeln!(out, "|---|---|---|")?;
        for t in &summary.thresholds {
            writeln!(
                out,
                "| {} | `{}` | {} |",
                if t.passed { "✅ pass" } else { "❌ FAIL" },
                cell(&t.threshold),
                cell(&t.reason)
            )?;
        }
    }

    if !summary.restored.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Restored changes")?;
        writeln!(out)?;
        writeln!(out, "| # | change | resource | result |")?;
        writeln!(out, "|---|---|---|---|")?;
        for r in &summary.restored {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.seq,
                cell(&r.action),
                cell(&r.resource),
                cell(&r.result)
            )?;
        }
    }

    writeln!(out)?;
    writeln!(out, "## Outcomes")?;
    writeln!(out)?;
    let classes: Vec<OutcomeClass> = OutcomeClass::ALL
        .into_iter()
        .filter(|&c| c == OutcomeClass::Ok || summary.counts_by_class.get(c) > 0)
        .collect();
    let mut header = vec!["op", "requests"];
    header.extend(classes.iter().map(|c| c.as_str()));
    header.extend([
        "p50 ms",
        "p99 ms",
        "p99 raw ms",
        "rate/s achieved / target",
        "intervals off ±1 % (worst)",
        "late",
        "refused",
    ]);
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(
        out,
        "|---|{}",
        "---:|".repeat(header.len().saturating_sub(1))
    )?;
    for op in &summary.ops {
        let mut cells = vec![
            match &op.api {
                Some(api) if api != &op.op => format!("{} ({api})", cell(&op.op)),
                _ => cell(&op.op),
            },
            fmt_count(op.requests),
        ];
        cells.extend(
            classes
                .iter()
                .map(|&c| fmt_count(op.counts_by_class.get(c))),
        );
        cells.push(format!("{:.1}", op.latency_ms.p50));
        cells.push(format!("{:.1}", op.latency_ms.p99));
        cells.push(format!("{:.1}", op.latency_raw_ms.p99));
        cells.push(format!(
            "{} / {}",
            fmt_rate(op.rate_per_s.achieved),
            op.rate_per_s
                .target
                .map_or_else(|| "-".to_owned(), fmt_rate)
        ));
        cells.push(fmt_interval_accuracy(op.rate_per_s.per_interval));
        cells.push(fmt_count(op.late_starts));
        cells.push(fmt_count(op.refused));
        writeln!(out, "| {} |", cells.join(" | "))?;
    }

    if !summary.propagation.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Propagation")?;
        writeln!(out)?;
        writeln!(
            out,
            "| change | at | reached / stable | first p50 / p99 | stable p50 / max | flaps | exposure | truth max | error |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_ms);
        for p in &summary.propagation {
            let exposure = if p.kind == "revoke" {
                format!(
                    "{} req over {}",
                    fmt_count(p.exposure_requests),
                    ms(p.exposure_ms)
                )
            } else {
                "-".to_owned()
            };
            writeln!(
                out,
                "| {} {} | {} | {}/{} of {} | {} / {} | {} / {} | {} | {} | {} | {} |",
                p.kind,
                cell(&p.action),
                fmt_s(p.at_s),
                p.instances_reached,
                p.instances_stable,
                p.instances,
                ms(p.delay_ms.map(|d| d.p50)),
                ms(p.delay_ms.map(|d| d.p99)),
                ms(p.stable_ms.map(|d| d.p50)),
                ms(p.stable_ms.map(|d| d.max)),
                fmt_count(p.flaps),
                exposure,
                ms(p.truth_delay_ms.map(|t| t.max)),
                p.error_ms_max
                    .map_or_else(|| "-".to_owned(), |e| format!("{e:+.0} ms")),
            )?;
        }
    }

    if let Some(c) = &summary.classifier {
        writeln!(out)?;
        writeln!(out, "## Classifier vs ground truth")?;
        writeln!(out)?;
        writeln!(out, "{}", classifier_line(c))?;
        writeln!(out)?;
        writeln!(
            out,
            "| double's verdict | harness class | requests | agrees | example request id |"
        )?;
        writeln!(out, "|---|---|---:|---|---|")?;
        for m in &c.matrix {
            writeln!(
                out,
                "| {} | {} | {} | {} | `{}` |",
                m.truth,
                m.class.as_str(),
                fmt_count(m.count),
                match m.agrees {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "-",
                },
                m.example_request_id
            )?;
        }
    }

    if summary.propagation_by_kind.iter().any(|a| a.changes > 1) {
        writeln!(out)?;
        writeln!(out, "### Pooled by kind")?;
        writeln!(out)?;
        writeln!(
            out,
            "| kind | changes | instances | first p50 / p99 | stable p50 / p99 / max | never reached / settled | flaps | exposure max | error vs truth p50 / max |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_ms);
        for a in &summary.propagation_by_kind {
            writeln!(
                out,
                "| {} | {} | {} | {} / {} | {} / {} / {} | {} / {} | {} | {} | {} / {} |",
                a.kind,
                a.changes,
                a.instances,
                ms(a.delay_ms.map(|d| d.p50)),
                ms(a.delay_ms.map(|d| d.p99)),
                ms(a.stable_ms.map(|d| d.p50)),
                ms(a.stable_ms.map(|d| d.p99)),
                ms(a.stable_ms.map(|d| d.max)),
                a.unreached,
                a.unsettled,
                fmt_count(a.flaps),
                ms(a.exposure_ms_max),
                ms(a.error_ms.map(|d| d.p50)),
                ms(a.error_ms.map(|d| d.max)),
            )?;
        }
    }

    if !summary.timeline.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Timeline")?;
        writeln!(out)?;
        writeln!(out, "| sent | action | acked after | result |")?;
        writeln!(out, "|---:|---|---:|---|")?;
        for c in &summary.timeline {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                fmt_s(c.sent_s),
                cell(&c.action),
                fmt_ms((c.acked_s - c.sent_s) * 1000.0),
                cell(&c.result)
            )?;
        }
    }
    Ok(())
}
