//! `report.html`: one self-contained page (inline SVG charts drawn with
//! `plotters`, inline CSS, no network) for someone reading a run later.
//! Charts: throughput by class over time (stacked), latency over time,
//! achieved vs target rate, the enforcement curve (propagation CDF) of each
//! measured change; timeline actions are marked on the time charts. The
//! tables repeat the Markdown report's.

use std::collections::BTreeMap;
use std::io::{self, Write};

use plotters::prelude::*;

use crate::observe::outcome::OutcomeClass;
use crate::report::csv::TimeseriesRow;
use crate::report::markdown;
use crate::report::summary::{Summary, fmt_count, fmt_interval_accuracy, fmt_ms, fmt_rate, fmt_s};

/// Chart size, px.
const CHART_W: u32 = 960;
const CHART_H: u32 = 300;

/// Ids of the charts, in page order (tests and the browser check use them).
pub const CHART_IDS: [&str; 4] = [
    "chart-throughput",
    "chart-latency",
    "chart-rate",
    "chart-propagation",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn class_color(c: OutcomeClass) -> RGBColor {
    match c {
        OutcomeClass::Ok => RGBColor(46, 160, 67),
        OutcomeClass::Throttled => RGBColor(230, 145, 20),
        OutcomeClass::AccessDenied => RGBColor(207, 34, 46),
        OutcomeClass::AuthError => RGBColor(130, 80, 223),
        OutcomeClass::CredentialsUnavailable => RGBColor(140, 90, 50),
        OutcomeClass::ClientError => RGBColor(110, 119, 129),
        OutcomeClass::ServerError => RGBColor(191, 57, 137),
        OutcomeClass::Timeout => RGBColor(9, 105, 218),
        OutcomeClass::Connection => RGBColor(36, 41, 47),
    }
}

const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(9, 105, 218),
    RGBColor(207, 34, 46),
    RGBColor(46, 160, 67),
    RGBColor(130, 80, 223),
    RGBColor(230, 145, 20),
    RGBColor(110, 119, 129),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// Draws into an SVG string with `draw`; a drawing error becomes a note
/// in the page rather than a failed report.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> ChartResult,
) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, (CHART_W, CHART_H)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string().into())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string().into()))
    };
    match result {
        Ok(()) => out,
        Err(e) => format!(
            "<p class=\"note\">chart not drawn: {}</p>",
            escape(&e.to_string())
        ),
    }
}

/// The legend box, where it hides the least.
fn legend<'a, 'b: 'a>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    position: SeriesLabelPosition,
) -> ChartResult {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()?;
    Ok(())
}

/// Vertical markers for the timeline actions on a time chart.
fn markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    summary: &Summary,
    y_max: f64,
) -> ChartResult
where
    DB::ErrorType: 'static,
{
    let grey = RGBColor(120, 120, 120);
    for c in &summary.timeline {
        chart
            .draw_series(LineSeries::new(
                [(c.sent_s, 0.0), (c.sent_s, y_max)],
                grey.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        let label = c.action.split_whitespace().next().unwrap_or("");
        chart
            .draw_series(std::iter::once(Text::new(
                label.to_owned(),
                (c.sent_s, y_max * 0.97),
                ("sans-serif", 11).into_font().color(&grey),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Per second × class counts, summed over ops.
fn per_second_by_class(rows: &[TimeseriesRow]) -> BTreeMap<u64, BTreeMap<OutcomeClass, u64>> {
    let mut out: BTreeMap<u64, BTreeMap<OutcomeClass, u64>> = BTreeMap::new();
    for r in rows {
        *out.entry(r.second as u64)
            .or_default()
            .entry(r.class)
            .or_default() += r.count;
    }
    out
}

fn throughput_chart(summary: &Summary, rows: &[TimeseriesRow]) -> String {
    let by_second = per_second_by_class(rows);
    let classes: Vec<OutcomeClass> = OutcomeClass::ALL
        .into_iter()
        .filter(|&c| by_second.values().any(|m| m.contains_key(&c)))
        .collect();
    let x_max = summary.duration_s.max(1.0);
    let y_max = by_second
        .values()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Requests per second by outcome (stacked)",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("s since start")
            .y_desc("requests/s")
            .draw()?;
        // Draw the cumulative tops from the outermost layer inwards so each
        // class shows as its own band.
        for (i, &class) in classes.iter().enumerate().rev() {
            let points: Vec<(f64, f64)> = by_second
                .iter()
                .map(|(&s, m)| {
                    let top: u64 = classes[..=i]
                        .iter()
                        .map(|c| m.get(c).copied().unwrap_or(0))
                        .sum();
                    (s as f64 + 0.5, top as f64)
                })
                .collect();
            let color = class_color(class);
            chart
                .draw_series(AreaSeries::new(points, 0.0, color.mix(0.75)).border_style(color))?
                .label(class.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        markers(&mut chart, summary, y_max)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

fn latency_chart(summary: &Summary, rows: &[TimeseriesRow]) -> String {
    // Per op and second: the worst class's p99 and the count-weighted p50.
    let mut per_op: BTreeMap<&str, BTreeMap<u64, (f64, f64, u64)>> = BTreeMap::new();
    for r in rows {
        let e = per_op
            .entry(r.op.as_str())
            .or_default()
            .entry(r.second as u64)
            .or_insert((0.0, 0.0, 0));
        e.0 = e.0.max(r.latency_ms_p99);
        e.1 += r.latency_ms_p50 * r.count as f64;
        e.2 += r.count;
    }
    let x_max = summary.duration_s.max(1.0);
    let y_max = per_op
        .values()
        .flat_map(|m| m.values().map(|v| v.0))
        .fold(1.0f64, f64::max)
        * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Latency from intended start: p99 (solid) and p50 (thin), per op",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("s since start")
            .y_desc("ms")
            .draw()?;
        for (i, (op, seconds)) in per_op.iter().enumerate() {
            let color = SERIES_COLORS[i % SERIES_COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    seconds.iter().map(|(&s, v)| (s as f64 + 0.5, v.0)),
                    color.stroke_width(2),
                ))?
                .label(format!("{op} p99"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2))
                });
            chart.draw_series(LineSeries::new(
                seconds
                    .iter()
                    .filter(|(_, v)| v.2 > 0)
                    .map(|(&s, v)| (s as f64 + 0.5, v.1 / v.2 as f64)),
                color.stroke_width(1),
            ))?;
        }
        markers(&mut chart, summary, y_max)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

fn rate_chart(summary: &Summary, rows: &[TimeseriesRow]) -> String {
    let mut achieved: BTreeMap<u64, u64> = BTreeMap::new();
    let mut targets: BTreeMap<(u64, &str), f64> = BTreeMap::new();
    for r in rows {
        *achieved.entry(r.second as u64).or_default() += r.count;
        if let Some(t) = r.rate_per_s_target {
            targets.insert((r.second as u64, r.op.as_str()), t);
        }
    }
    let mut target: BTreeMap<u64, f64> = BTreeMap::new();
    for ((s, _), t) in targets {
        *target.entry(s).or_default() += t;
    }
    let x_max = summary.duration_s.max(1.0);
    let y_max = achieved
        .values()
        .map(|&v| v as f64)
        .chain(target.values().copied())
        .fold(1.0f64, f64::max)
        * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Achieved vs target rate", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("s since start")
            .y_desc("requests/s")
            .draw()?;
        let blue = SERIES_COLORS[0];
        let grey = RGBColor(110, 119, 129);
        chart
            .draw_series(LineSeries::new(
                target.iter().map(|(&s, &t)| (s as f64 + 0.5, t)),
                grey.stroke_width(2),
            ))?
            .label("target")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], grey.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                achieved.iter().map(|(&s, &a)| (s as f64 + 0.5, a as f64)),
                blue.stroke_width(2),
            ))?
            .label("achieved")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], blue.stroke_width(2)));
        markers(&mut chart, summary, y_max)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

fn propagation_chart(summary: &Summary) -> String {
    if summary.propagation.is_empty() {
        return "<p class=\"note\">No IAM change was measured (add <code>measure = \"grant\"</code> or <code>\"revoke\"</code> to a timeline action).</p>".to_owned();
    }
    let x_max = summary
        .propagation
        .iter()
        .flat_map(|p| {
            p.enforcement
                .iter()
                .map(|b| (b.t_ms + p.enforcement_bin_ms) as f64)
        })
        .fold(1000.0f64, f64::max);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Propagation: share of probes seeing each change, by time after the ack",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..1.05f64)?;
        chart
            .configure_mesh()
            .x_desc("ms after the IAM API acknowledged the change")
            .y_desc("enforced share")
            .draw()?;
        for (i, p) in summary.propagation.iter().enumerate() {
            let color = SERIES_COLORS[i % SERIES_COLORS.len()];
            let half = p.enforcement_bin_ms as f64 / 2.0;
            chart
                .draw_series(LineSeries::new(
                    p.enforcement
                        .iter()
                        .filter(|b| b.expected + b.contrary > 0)
                        .map(|b| {
                            (
                                b.t_ms as f64 + half,
                                b.expected as f64 / (b.expected + b.contrary) as f64,
                            )
                        }),
                    color.stroke_width(2),
                ))?
                .label(format!("{} {} at {}", p.kind, p.action, fmt_s(p.at_s)))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1f2328}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:right}\
td:first-child,th:first-child{text-align:left}.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}\
.headline{font-size:1.3em}.note{color:#656d76}figure{margin:1em 0}";

/// Renders the page.
pub fn render(summary: &Summary, rows: &[TimeseriesRow], mut out: impl Write) -> io::Result<()> {
    let title = format!("iamstorm: {}", summary.scenario);
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(out, "<title>{}</title>", escape(&title))?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    writeln!(out, "<h1>{}</h1>", escape(&title))?;
    let headline = markdown::headline(summary).replace("**", "");
    let class = if summary.thresholds.iter().any(|t| !t.passed) {
        "fail"
    } else {
        "pass"
    };
    writeln!(
        out,
        "<p class=\"headline {class}\">{}</p>",
        escape(&headline)
    )?;
    writeln!(
        out,
        "<p>Run <code>{}</code> · seed <code>{}</code> · {} · {} requests · {}/s achieved</p>",
        escape(&summary.run_id),
        summary.seed,
        fmt_s(summary.duration_s),
        fmt_count(summary.requests_total),
        fmt_rate(summary.rate_per_s.achieved)
    )?;
    writeln!(out, "<h2>What this means</h2>")?;
    writeln!(out, "<p>{}</p>", escape(&summary.verdict_lines.join(" ")))?;
    if !summary.thresholds.is_empty() {
        writeln!(
            out,
            "<h2>Thresholds</h2><table><tr><th>result</th><th>threshold</th><th>observed</th></tr>"
        )?;
        for t in &summary.thresholds {
            writeln!(
                out,
                "<tr><td class=\"{}\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                if t.passed { "pass" } else { "fail" },
                if t.passed { "pass" } else { "FAIL" },
                escape(&t.threshold),
                escape(&t.reason)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "<h2>Charts</h2>")?;
    let charts = [
        throughput_chart(summary, rows),
        latency_chart(summary, rows),
        rate_chart(summary, rows),
        propagation_chart(summary),
    ];
    for (id, chart) in CHART_IDS.iter().zip(charts) {
        // The svg tag plotters writes gets a class, so the page can count charts.
        let chart = chart.replacen("<svg ", "<svg class=\"chart\" ", 1);
        writeln!(out, "<figure id=\"{id}\">{chart}</figure>")?;
    }
    writeln!(
        out,
        "<h2>Outcomes</h2><table><tr><th>op</th><th>requests</th>"
    )?;
    let classes: Vec<OutcomeClass> = OutcomeClass::ALL
        .into_iter()
        .filter(|&c| c == OutcomeClass::Ok || summary.counts_by_class.get(c) > 0)
        .collect();
    for c in &classes {
        write!(out, "<th>{}</th>", c.as_str())?;
    }
    writeln!(
        out,
        "<th>p50 ms</th><th>p99 ms</th><th>p99 raw ms</th><th>rate/s achieved / target</th><th>intervals off ±1 % (worst)</th><th>late</th><th>refused</th></tr>"
    )?;
    for op in &summary.ops {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            escape(&op.op),
            fmt_count(op.requests)
        )?;
        for &c in &classes {
            write!(out, "<td>{}</td>", fmt_count(op.counts_by_class.get(c)))?;
        }
        writeln!(
            out,
            "<td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            op.latency_ms.p50,
            op.latency_ms.p99,
            op.latency_raw_ms.p99,
            fmt_rate(op.rate_per_s.achieved),
            op.rate_per_s
                .target
                .map_or_else(|| "-".to_owned(), fmt_rate),
            fmt_interval_accuracy(op.rate_per_s.per_interval),
            fmt_count(op.late_starts),
            fmt_count(op.refused)
        )?;
    }
    writeln!(out, "</table>")?;
    if !summary.propagation.is_empty() {
        writeln!(
            out,
            "<h2>Propagation</h2><table><tr><th>change</th><th>at</th><th>reached / stable</th><th>stable max</th><th>flaps</th><th>exposure</th><th>truth max</th></tr>"
        )?;
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_ms);
        for p in &summary.propagation {
            writeln!(
                out,
                "<tr><td>{} {}</td><td>{}</td><td>{}/{} of {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.kind,
                escape(&p.action),
                fmt_s(p.at_s),
                p.instances_reached,
                p.instances_stable,
                p.instances,
                ms(p.stable_ms.map(|d| d.max)),
                fmt_count(p.flaps),
                if p.kind == "revoke" {
                    format!(
                        "{} req over {}",
                        fmt_count(p.exposure_requests),
                        ms(p.exposure_ms)
                    )
                } else {
                    "-".to_owned()
                },
                ms(p.truth_delay_ms.map(|t| t.max))
            )?;
        }
        writeln!(out, "</table>")?;
    }
    if !summary.timeline.is_empty() {
        writeln!(
            out,
            "<h2>Timeline</h2><table><tr><th>sent</th><th>action</th><th>result</th></tr>"
        )?;
        for c in &summary.timeline {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt_s(c.sent_s),
                escape(&c.action),
                escape(&c.result)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    // A browser that laid the page out says how many charts it drew, in the
    // title (the CI's headless-Chromium check reads it).
    writeln!(
        out,
        "<script>document.title += ' [charts: ' + document.querySelectorAll('svg.chart').length + ']';</script>"
    )?;
    writeln!(out, "</body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::csv::rows_from_metrics;
    use crate::report::summary::fixtures::{metrics, record, summarize};

    #[test]
    fn a_page_with_every_chart_and_nothing_fetched() {
        let mut m = metrics(&["s3:GetObject"]);
        m.set_rate_target(0, std::time::Duration::ZERO, 10.0);
        for t in (0..3_000).step_by(100) {
            let class = if t < 1_500 {
                OutcomeClass::AccessDenied
            } else {
                OutcomeClass::Ok
            };
            record(&mut m, 0, class, t, 2_000);
        }
        let s = summarize(&m, 3, &[]);
        let mut buf = Vec::new();
        render(&s, &rows_from_metrics(&m), &mut buf).expect("renders");
        let page = String::from_utf8(buf).expect("utf-8");
        for id in &CHART_IDS[..3] {
            let at = page
                .find(&format!("<figure id=\"{id}\"><svg class=\"chart\" "))
                .unwrap_or_else(|| panic!("{id} drawn"));
            let end = page[at..].find("</figure>").expect("closed") + at;
            assert!(
                page[at..end].contains("<polygon") || page[at..end].contains("<polyline"),
                "{id} has data"
            );
        }
        // The stacked chart has both classes' bands and their legend.
        let texts: Vec<&str> = page
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, r)| r.split_once("</text>")))
            .map(|(text, _)| text.trim())
            .collect();
        assert!(
            texts.contains(&"access_denied") && texts.contains(&"ok"),
            "legend: {texts:?}"
        );
        assert!(page.contains("No IAM change was measured"));
        // Self-contained: nothing is loaded from anywhere.
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "no fetched resources"
        );
        assert!(page.contains("<title>iamstorm: propagation-race</title>"));
    }
}
