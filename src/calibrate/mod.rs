//! `iamstorm calibrate RESULTS_DIR`: turns what a run measured — the
//! enforcement curves of its measured IAM changes (grants and revokes
//! apart) and its per-second throttling — into a model file for the double
//! (`[sim] model = "…"` in a scenario). Record once against real AWS,
//! replay offline.
//!
//! This module reads the run's `summary.json` and `timeseries.csv` and
//! writes the file; the estimators are in [`fit`].

pub mod fit;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::Exit;
use fit::{CurveBin, DelayFit, QuotaFit, Second};

/// What the command was asked to do.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// A run's output directory (`summary.json`, `timeseries.csv`).
    pub results: PathBuf,
    /// Where the model file goes; default `RESULTS/model.toml`.
    pub out: Option<PathBuf>,
}

/// A propagation fit for one kind of change.
#[derive(Clone, Debug, PartialEq)]
pub struct KindFit {
    /// `grant` or `revoke`.
    pub kind: String,
    /// Changes pooled.
    pub changes: usize,
    pub fit: DelayFit,
}

/// A quota fit for one op.
#[derive(Clone, Debug, PartialEq)]
pub struct OpQuota {
    pub op: String,
    /// The model field it sets: `s3_read_per_s`, `s3_write_per_s`, or an
    /// `api."service:Api"` key.
    pub field: QuotaField,
    pub fit: QuotaFit,
}

/// Where a fitted quota goes in the model file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaField {
    S3Read,
    S3Write,
    /// `[quotas.api]` key, `"sts:AssumeRole"`.
    Api(String),
}

/// Everything calibrated from one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub run_id: String,
    pub scenario: String,
    pub propagation: Vec<KindFit>,
    /// Kinds measured but not fitted, with why.
    pub skipped: Vec<String>,
    pub quotas: Vec<OpQuota>,
}

/// Why calibration could not run: bad input, exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}\n  help: {help}")]
pub struct CalibrateError {
    pub message: String,
    pub help: String,
}

fn error(message: impl Into<String>, help: impl Into<String>) -> CalibrateError {
    CalibrateError {
        message: message.into(),
        help: help.into(),
    }
}

/// The `calibrate` command.
pub fn run(opts: &CalibrateOptions) -> Exit {
    let result = calibrate(&opts.results).and_then(|c| {
        let out = opts
            .out
            .clone()
            .unwrap_or_else(|| opts.results.join("model.toml"));
        write_model(&out, &c)?;
        Ok((c, out))
    });
    match result {
        Ok((c, out)) => {
            out!("{}", describe(&c));
            outln!("wrote {}", out.display());
            outln!(
                "use it from a scenario: [sim] model = \"{}\" (relative to the scenario file)",
                out.display()
            );
            Exit::Ok
        }
        Err(e) => {
            errln!("error: {e}");
            Exit::BadInput
        }
    }
}

/// Reads a run's results and fits every model it can.
pub fn calibrate(results: &Path) -> Result<Calibration, CalibrateError> {
    let summary_path = results.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        error(
            format!("cannot read {}: {e}", summary_path.display()),
            "pass the directory a run wrote (results/<run-id>/, or the run's --out)",
        )
    })?;
    let summary: Value = serde_json::from_str(&text).map_err(|e| {
        error(
            format!(
                "{}:{}:{}: not JSON: {e}",
                summary_path.display(),
                e.line(),
                e.column()
            ),
            "pass the summary.json iamstorm wrote, unedited",
        )
    })?;
    let text_field = |key: &str| summary[key].as_str().unwrap_or("").to_owned();
    let (propagation, skipped) = fit_propagation(&summary, &summary_path)?;
    // timeseries.csv names ops as the summary does (entry names); the API
    // they call is in summary.json.
    let apis: BTreeMap<String, String> = summary["ops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["op"].as_str()?.to_owned(), o["api"].as_str()?.to_owned())))
        .collect();
    let quotas = fit_quotas(&results.join("timeseries.csv"), &apis)?;
    if propagation.is_empty() && quotas.is_empty() {
        let mut help = "measure an IAM change (`measure = \"grant\"` or \"revoke\" on a timeline action) or offer an op more than its quota (a ramp)".to_owned();
        if !skipped.is_empty() {
            help = format!("{}; {help}", skipped.join("; "));
        }
        return Err(error(
            format!(
                "nothing to calibrate in {}: no measured change had enough probes and no op was throttled",
                results.display()
            ),
            help,
        ));
    }
    Ok(Calibration {
        run_id: text_field("run_id"),
        scenario: text_field("scenario"),
        propagation,
        skipped,
        quotas,
    })
}

fn fit_propagation(
    summary: &Value,
    path: &Path,
) -> Result<(Vec<KindFit>, Vec<String>), CalibrateError> {
    let Some(changes) = summary["propagation"].as_array() else {
        return Err(error(
            format!("{} has no `propagation` list", path.display()),
            "pass a summary.json written by this version of iamstorm",
        ));
    };
    let mut by_kind: BTreeMap<String, (usize, u64, Vec<CurveBin>)> = BTreeMap::new();
    for c in changes {
        let kind = c["kind"].as_str().unwrap_or("").to_owned();
        let (Some(bin_ms), Some(bins)) = (
            c["enforcement_bin_ms"].as_u64(),
            c["enforcement"].as_array(),
        ) else {
            return Err(error(
                format!(
                    "{}: a propagation entry has no enforcement curve",
                    path.display()
                ),
                "re-run the scenario with this version of iamstorm: older summaries lack `enforcement`",
            ));
        };
        let entry = by_kind.entry(kind).or_insert((0, bin_ms, Vec::new()));
        if entry.1 != bin_ms {
            return Err(error(
                format!(
                    "{}: enforcement bins of {bin_ms} ms and {} ms mixed",
                    path.display(),
                    entry.1
                ),
                "calibrate one run's results at a time",
            ));
        }
        entry.0 += 1;
        entry.2.extend(bins.iter().map(|b| CurveBin {
            t_ms: b["t_ms"].as_u64().unwrap_or(0),
            expected: b["expected"].as_u64().unwrap_or(0),
            contrary: b["contrary"].as_u64().unwrap_or(0),
        }));
    }
    let mut fits = Vec::new();
    let mut skipped = Vec::new();
    for (kind, (changes, bin_ms, bins)) in by_kind {
        match fit::fit_delay(&bins, bin_ms) {
            Ok(fit) => fits.push(KindFit { kind, changes, fit }),
            Err(e) => skipped.push(format!("{kind}: {e}")),
        }
    }
    Ok((fits, skipped))
}

fn fit_quotas(
    path: &Path,
    apis: &BTreeMap<String, String>,
) -> Result<Vec<OpQuota>, CalibrateError> {
    let mut reader = ::csv::Reader::from_path(path).map_err(|e| {
        error(
            format!("cannot read {}: {e}", path.display()),
            "pass the directory a run wrote; it holds timeseries.csv next to summary.json",
        )
    })?;
    let headers = reader
        .headers()
        .map_err(|e| {
            error(
                format!("{}: {e}", path.display()),
                "pass an unedited timeseries.csv",
            )
        })?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            error(
                format!("{}: no `{name}` column", path.display()),
                "pass the timeseries.csv iamstorm wrote",
            )
        })
    };
    let (c_second, c_op, c_class, c_count) = (
        column("second")?,
        column("op")?,
        column("class")?,
        column("count")?,
    );
    let mut per_op: BTreeMap<String, BTreeMap<u64, Second>> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            error(
                format!("{}: {e}", path.display()),
                "pass an unedited timeseries.csv",
            )
        })?;
        let line = i + 2;
        let number = |c: usize| {
            record
                .get(c)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    error(
                        format!(
                            "{}:{line}: column {} is not a whole number",
                            path.display(),
                            c + 1
                        ),
                        "pass an unedited timeseries.csv",
                    )
                })
        };
        let (second, count) = (number(c_second)?, number(c_count)?);
        let op = record.get(c_op).unwrap_or("").to_owned();
        let s = per_op
            .entry(op)
            .or_default()
            .entry(second)
            .or_insert(Second {
                second,
                ..Second::default()
            });
        s.total += count;
        match record.get(c_class) {
            Some("ok") => s.ok += count,
            Some("throttled") => s.throttled += count,
            _ => {}
        }
    }
    Ok(per_op
        .into_iter()
        .filter_map(|(name, seconds)| {
            let api = apis.get(&name).unwrap_or(&name);
            let field = quota_field(api)?;
            let op = if *api == name {
                name
            } else {
                format!("{name} ({api})")
            };
            let seconds: Vec<Second> = seconds.into_values().collect();
            let fit = fit::fit_quota(&seconds)?;
            Some(OpQuota { op, field, fit })
        })
        .collect())
}

/// The model field an op's quota sets; `None` for ops the double has no
/// per-op quota for.
pub fn quota_field(op: &str) -> Option<QuotaField> {
    match op {
        "s3:GetObject" | "s3:HeadObject" | "s3:ListObjectsV2" => Some(QuotaField::S3Read),
        "s3:PutObject" | "s3:DeleteObject" => Some(QuotaField::S3Write),
        _ if op.starts_with("sts:") || op.starts_with("iam:") => {
            Some(QuotaField::Api(op.to_owned()))
        }
        _ => None,
    }
}

/// The model file, TOML, with its provenance in comments.
pub fn render_model(c: &Calibration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# iamstorm calibrated model");
    let _ = writeln!(out, "# from run {} (scenario {})", c.run_id, c.scenario);
    let _ = writeln!(
        out,
        "# Load it from a scenario: [sim] model = \"path/to/this.toml\"; the scenario's own\n\
         # [sim.propagation] / [sim.quotas] fields override what is here."
    );
    for k in &c.propagation {
        let f = &k.fit;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "# {}: {} change(s), {} probes; median {} ms, p99 {} ms (lognormal equivalent: median = \"{}ms\", p99 = \"{}ms\")",
            k.kind, k.changes, f.probes, f.median_ms, f.p99_ms, f.median_ms, f.p99_ms
        );
        if f.coverage < 0.999 {
            let _ = writeln!(
                out,
                "# only {:.1} % of probes saw the {} by the end: the upper samples are lower bounds (measure longer)",
                f.coverage * 100.0,
                k.kind
            );
        }
        let samples: Vec<String> = f.samples_ms.iter().map(|s| format!("\"{s}ms\"")).collect();
        let _ = writeln!(out, "[propagation.{}]", k.kind);
        let _ = writeln!(out, "model = \"empirical\"");
        let _ = writeln!(out, "samples = [{}]", samples.join(", "));
    }
    for s in &c.skipped {
        let _ = writeln!(out, "# not fitted: {s}");
    }
    // One value per field: the lowest estimate when several ops share it.
    let mut fields: BTreeMap<&QuotaField, &OpQuota> = BTreeMap::new();
    for q in &c.quotas {
        let e = fields.entry(&q.field).or_insert(q);
        if q.fit.quota_per_s < e.fit.quota_per_s {
            *e = q;
        }
    }
    if !fields.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "[quotas]");
        let comment = |q: &OpQuota| {
            format!(
                "# {}: throttled from {} s at {}/s offered; {}/s succeeded while throttled ({} throttled s)",
                q.op,
                q.fit.onset_s,
                q.fit.onset_rate_per_s,
                q.fit.quota_per_s,
                q.fit.throttled_seconds
            )
        };
        for (field, q) in &fields {
            let name = match field {
                QuotaField::S3Read => "s3_read_per_s",
                QuotaField::S3Write => "s3_write_per_s",
                QuotaField::Api(_) => continue,
            };
            let _ = writeln!(out, "{}", comment(q));
            let _ = writeln!(out, "{name} = {}", q.fit.quota_per_s);
        }
        let api: Vec<_> = fields
            .iter()
            .filter_map(|(f, q)| match f {
                QuotaField::Api(key) => Some((key, q)),
                _ => None,
            })
            .collect();
        if !api.is_empty() {
            let _ = writeln!(out, "[quotas.api]");
            for (key, q) in api {
                let _ = writeln!(out, "{}", comment(q));
                let _ = writeln!(out, "\"{key}\" = {}", q.fit.quota_per_s);
            }
        }
    }
    out
}

fn write_model(out: &Path, c: &Calibration) -> Result<(), CalibrateError> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            error(
                format!("cannot create {}: {e}", dir.display()),
                "pick another --out",
            )
        })?;
    }
    crate::report::write_atomic(out, |w| w.write_all(render_model(c).as_bytes())).map_err(|e| {
        error(
            format!("cannot write {}: {e}", out.display()),
            "pick another --out",
        )
    })
}

/// A few lines saying what was fitted, for the console.
pub fn describe(c: &Calibration) -> String {
    let mut out = String::new();
    for k in &c.propagation {
        let _ = writeln!(
            out,
            "{}: {} change(s), {} probes → median {} ms, p99 {} ms{}",
            k.kind,
            k.changes,
            k.fit.probes,
            k.fit.median_ms,
            k.fit.p99_ms,
            if k.fit.coverage < 0.999 {
                format!(
                    " (only {:.1} % enforced by the end: a lower bound)",
                    k.fit.coverage * 100.0
                )
            } else {
                String::new()
            }
        );
    }
    for s in &c.skipped {
        let _ = writeln!(out, "not fitted: {s}");
    }
    for q in &c.quotas {
        let _ = writeln!(
            out,
            "{}: throttled from {} s at {}/s offered → quota {}/s",
            q.op, q.fit.onset_s, q.fit.onset_rate_per_s, q.fit.quota_per_s
        );
    }
    out
}
