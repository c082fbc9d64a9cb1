//! Reports: one [`Summary`] built from the run's metrics and propagation
//! results, rendered as JSON, CSV and a console table.
//!
//! Architecture invariant: only this module knows file formats. Everything
//! a format shows comes from the `Summary` (or, for the per-second time
//! series, from the metrics' interval rows), so formats cannot disagree.
//! Files are written atomically — `name.tmp`, then rename — so a crash or
//! Ctrl-C never leaves a half-written report where a tool would read it.

pub mod console;
pub mod csv;
pub mod doctor;
pub mod events;
pub mod hlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod knee;
pub mod markdown;
pub mod summary;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::observe::metrics::Metrics;

pub use summary::{RunInfo, Summary, verdict_lines};

/// The machine-readable summary.
pub const SUMMARY_JSON: &str = "summary.json";
/// Per second × op × class rows.
pub const TIMESERIES_CSV: &str = "timeseries.csv";
/// The console rendering, kept with the results.
pub const SUMMARY_TXT: &str = "summary.txt";
/// One JUnit test case per threshold.
pub const JUNIT_XML: &str = "junit.xml";
/// The CI job summary page.
pub const REPORT_MD: &str = "report.md";
/// Timeline actions and per-instance propagation moments.
pub const EVENTS_CSV: &str = "events.csv";
/// The self-contained page with charts.
pub const REPORT_HTML: &str = "report.html";

/// Writes every file of a run into `dir` (created if missing), each
/// atomically: `summary.json` and `timeseries.csv` (the data), then the
/// renderings ([`write_renderings`]).
pub fn write_all(dir: &Path, summary: &Summary, metrics: &Metrics) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_atomic(&dir.join(SUMMARY_JSON), |w| json::write(summary, w))?;
    write_atomic(&dir.join(TIMESERIES_CSV), |w| {
        csv::write_timeseries(metrics, w)
    })?;
    write_renderings(dir, summary, &csv::rows_from_metrics(metrics))
}

/// Writes what is rendered from the data — `summary.txt`, `junit.xml`,
/// `report.md`, `report.html` — so `iamstorm report` can redo it from
/// `summary.json` and `timeseries.csv` alone.
pub fn write_renderings(
    dir: &Path,
    summary: &Summary,
    rows: &[csv::TimeseriesRow],
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_atomic(&dir.join(SUMMARY_TXT), |w| console::render(summary, w))?;
    write_atomic(&dir.join(JUNIT_XML), |w| junit::write(summary, w))?;
    write_atomic(&dir.join(REPORT_MD), |w| markdown::render(summary, w))?;
    write_atomic(&dir.join(REPORT_HTML), |w| html::render(summary, rows, w))?;
    Ok(())
}

/// Writes `path` through `path.tmp`: the content is flushed and synced
/// before the rename, so readers see the old file or the whole new one.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let result = (|| {
        let mut out = BufWriter::new(File::create(tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => fs::rename(tmp, path),
        Err(e) => {
            // Best effort: the write error is the one worth reporting.
            let _ = fs::remove_file(tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::metrics::Sample;
    use crate::observe::outcome::OutcomeClass;

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("iamstorm-report-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_all_leaves_every_file_complete_and_no_tmp() {
        let mut metrics = Metrics::new(vec!["s3:GetObject".into()], Duration::from_secs(1));
        for i in 0..10u64 {
            metrics.record(&Sample {
                op: 0,
                class: OutcomeClass::Ok,
                intended_offset: Duration::from_millis(i * 200),
                latency_corrected_us: 1_000 + i,
                latency_raw_us: 900,
                late: false,
            });
        }
        let run = RunInfo {
            run_id: "r1".into(),
            seed: 7,
            scenario: "s".into(),
            duration: Duration::from_secs(2),
            op_apis: Vec::new(),
        };
        let summary = Summary::build(run, &metrics, &[]);
        let dir = scratch_dir("write-all");
        write_all(&dir, &summary, &metrics).expect("writes");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("dir exists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                JUNIT_XML,
                REPORT_HTML,
                REPORT_MD,
                SUMMARY_JSON,
                SUMMARY_TXT,
                TIMESERIES_CSV
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join(SUMMARY_JSON)).expect("read"))
                .expect("valid json");
        assert_eq!(json["requests_total"], 10);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_tmp() {
        let dir = scratch_dir("atomic");
        fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("f.txt");
        fs::write(&path, "old").expect("seed file");
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk on fire"))
        })
        .expect_err("write fails");
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(fs::read_to_string(&path).expect("read"), "old");
        assert!(!dir.join("f.txt.tmp").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
