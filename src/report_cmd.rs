//! `iamstorm report DIR`: re-renders a run's reports (`summary.txt`,
//! `junit.xml`, `report.md`, `report.html`) from its `summary.json` and
//! `timeseries.csv`, optionally judging new `--threshold`s against it —
//! so a gate can be tightened, or a report restyled, without re-running.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::report::{self, SUMMARY_JSON, TIMESERIES_CSV, csv, json};
use crate::thresholds::{self, Threshold};

/// The command's options.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// A run's results directory.
    pub dir: PathBuf,
    /// Where the renderings go (default: `dir`).
    pub out: Option<PathBuf>,
    /// Judged instead of the run's own thresholds when given.
    pub thresholds: Vec<Threshold>,
}

/// The `report` command.
pub fn run(opts: &ReportOptions) -> Exit {
    let summary_path = opts.dir.join(SUMMARY_JSON);
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read {}: {e}\n  help: pass a results directory written by `iamstorm run`",
                path.display()
            )
        })
    };
    let result = (|| {
        let text = read(&summary_path)?;
        let mut summary = json::read(&text).map_err(|e| {
            format!(
                "{}:{}:{}: {e}\n  help: pass the summary.json iamstorm wrote, unedited",
                summary_path.display(),
                e.line(),
                e.column()
            )
        })?;
        let csv_path = opts.dir.join(TIMESERIES_CSV);
        let rows = csv::read_timeseries(read(&csv_path)?.as_bytes())
            .map_err(|e| format!("{}: {e}", csv_path.display()))?;
        if !opts.thresholds.is_empty() {
            let judged = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
            summary.thresholds = thresholds::evaluate_all(&opts.thresholds, &judged);
        }
        let out = opts.out.clone().unwrap_or_else(|| opts.dir.clone());
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        if opts.out.is_some() || !opts.thresholds.is_empty() {
            report::write_atomic(&out.join(SUMMARY_JSON), |w| json::write(&summary, w))
                .map_err(|e| format!("cannot write to {}: {e}", out.display()))?;
        }
        report::write_renderings(&out, &summary, &rows)
            .map_err(|e| format!("cannot write to {}: {e}", out.display()))?;
        Ok::<_, String>((summary, out))
    })();
    match result {
        Ok((summary, out)) => {
            let _ = report::console::render(&summary, std::io::stdout());
            outln!("reports: {}", out.display());
            let failed = summary.thresholds.iter().filter(|t| !t.passed).count();
            if failed > 0 {
                errln!(
                    "{failed} of {} thresholds failed (exit 1)",
                    summary.thresholds.len()
                );
                Exit::ThresholdsFailed
            } else {
                Exit::Ok
            }
        }
        Err(e) => {
            errln!("error: {e}");
            Exit::BadInput
        }
    }
}
