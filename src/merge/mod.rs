//! `iamstorm merge`: one result set from a sharded run's shards — local
//! results directories or an S3 prefix the shards uploaded to — with the
//! same files a run writes, and thresholds judged on the merged data.
//!
//! This module owns finding the shards (`fetch` for S3), reading them,
//! checking the set (one run, one count, no duplicate, none missing unless
//! `--allow-missing`), and writing the merged files; `combine` owns the
//! arithmetic.

pub mod combine;
pub mod fetch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use combine::{LoadedShard, MergeInfo, Merged};

use crate::exit::Exit;
use crate::observe::metrics::SealedHistogram;
use crate::report::{self, SUMMARY_JSON, TIMESERIES_CSV, csv, hlog, json};
use crate::shard::ShardSpec;
use crate::thresholds::{self, Threshold};

/// The command's options.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// Results directories (a shard's, or one holding `shard-I-of-N/`
    /// directories) or one `s3://bucket/prefix/<run-id>/`.
    pub sources: Vec<String>,
    /// Where the merged files go (default `results/<run-id>-merged`).
    pub out: Option<PathBuf>,
    /// Judged with the thresholds the shards recorded.
    pub thresholds: Vec<Threshold>,
    /// Merge what is there when shards are missing (named in the report).
    pub allow_missing: bool,
    /// For an S3 source: the endpoint (default: `AWS_ENDPOINT_URL`, else AWS).
    pub endpoint_url: Option<String>,
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct MergeError {
    pub exit: Exit,
    pub message: String,
}

fn bad(message: impl Into<String>) -> MergeError {
    MergeError {
        exit: Exit::BadInput,
        message: message.into(),
    }
}

/// The `merge` command.
pub async fn run(opts: &MergeOptions) -> Exit {
    match merge(opts).await {
        Ok((summary, out)) => {
            let _ = report::console::render(&summary, std::io::stdout());
            if let Some(m) = &summary.merged {
                outln!(
                    "merged {} of {} shards of run {} (starts within {} ms): {}",
                    m.merged.len(),
                    m.shards,
                    summary.run_id,
                    m.start_spread_ms,
                    out.display()
                );
                if !m.missing.is_empty() {
                    errln!(
                        "warning: shards {:?} of {} are missing: a partial merge (--allow-missing)",
                        m.missing,
                        m.shards
                    );
                }
            }
            let failed = summary.thresholds.iter().filter(|t| !t.passed).count();
            if failed > 0 {
                errln!(
                    "{failed} of {} thresholds failed on the merged data (exit 1)",
                    summary.thresholds.len()
                );
                Exit::ThresholdsFailed
            } else {
                Exit::Ok
            }
        }
        Err(MergeError { exit, message }) => {
            errln!("error: {message}");
            exit
        }
    }
}

/// Finds, checks, merges and writes; returns the merged summary and where.
pub async fn merge(opts: &MergeOptions) -> Result<(report::Summary, PathBuf), MergeError> {
    if opts.sources.is_empty() {
        return Err(bad(
            "nothing to merge\n  help: pass shard results directories or an s3://bucket/prefix/<run-id>/",
        ));
    }
    let s3_sources: Vec<&String> = opts
        .sources
        .iter()
        .filter(|s| s.starts_with("s3://"))
        .collect();
    let mut dirs: Vec<(PathBuf, String)> = Vec::new();
    let mut out = opts.out.clone();
    match s3_sources.as_slice() {
        [] => {
            for s in &opts.sources {
                dirs.extend(shard_dirs(Path::new(s)).map_err(bad)?);
            }
        }
        [uri] if opts.sources.len() == 1 => {
            let uri = crate::shard::upload::S3Uri::parse(uri).map_err(bad)?;
            let fetched =
                fetch::fetch(&uri, opts.endpoint_url.clone(), opts.out.as_deref()).await?;
            out = Some(fetched.out);
            dirs = fetched.shards;
        }
        _ => {
            return Err(bad(
                "merge takes either local directories or one s3:// prefix, not both or several prefixes",
            ));
        }
    }
    let mut shards = Vec::with_capacity(dirs.len());
    for (dir, source) in &dirs {
        shards.push(load(dir, source).map_err(bad)?);
    }
    let missing = check_set(&mut shards, opts.allow_missing).map_err(bad)?;
    let owner = &shards[0];
    let mut gates = Vec::new();
    for text in &owner.info.thresholds {
        let t = thresholds::parse(text).map_err(|e| {
            bad(format!(
                "{}/summary.json: shard.thresholds {text:?} does not parse: {} (column {})",
                owner.source,
                e.message,
                e.at + 1
            ))
        })?;
        gates.push(t);
    }
    for t in &opts.thresholds {
        if !gates.iter().any(|g| g.text == t.text) {
            gates.push(t.clone());
        }
    }
    let merged = combine::combine(&shards, &missing, &gates).map_err(bad)?;
    let out = out
        .unwrap_or_else(|| Path::new("results").join(format!("{}-merged", merged.summary.run_id)));
    write(&out, &merged, &shards).map_err(|e| {
        bad(format!(
            "cannot write the merged results to {}: {e}\n  help: pass a writable --out DIR",
            out.display()
        ))
    })?;
    Ok((merged.summary, out))
}

/// The shard directories under `path`: itself if it holds `summary.json`,
/// else its `shard-I-of-N/` subdirectories.
fn shard_dirs(path: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    if path.join(SUMMARY_JSON).is_file() {
        return Ok(vec![(path.to_owned(), path.display().to_string())]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        format!(
            "cannot read {}: {e}\n  help: pass a shard's results directory or one holding shard-I-of-N/ directories",
            path.display()
        )
    })?;
    let mut found: Vec<(PathBuf, String)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(ShardSpec::from_label)
                    .is_some()
        })
        .map(|p| {
            let s = p.display().to_string();
            (p, s)
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{} holds no shard results (no summary.json, no shard-I-of-N/ directories)",
            path.display()
        ));
    }
    Ok(found)
}

/// Reads one shard's files.
fn load(dir: &Path, source: &str) -> Result<LoadedShard, String> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let summary_path = dir.join(SUMMARY_JSON);
    let text = String::from_utf8(read(SUMMARY_JSON)?)
        .map_err(|_| format!("{}: not UTF-8", summary_path.display()))?;
    let summary = json::read(&text).map_err(|e| {
        format!(
            "{}:{}:{}: {e}",
            summary_path.display(),
            e.line(),
            e.column()
        )
    })?;
    let info = summary.shard.clone().ok_or_else(|| {
        format!(
            "{}: no `shard` record: not a shard's results\n  help: run each shard with --shard I/N (or --results-uri / --start-at)",
            summary_path.display()
        )
    })?;
    let rows = csv::read_timeseries(read(TIMESERIES_CSV)?.as_slice())
        .map_err(|e| format!("{}: {e}", dir.join(TIMESERIES_CSV).display()))?;
    let corrected = hlog::read(&read(hlog::LATENCY_HLOG)?)
        .map_err(|e| format!("{}: {e}", dir.join(hlog::LATENCY_HLOG).display()))?;
    let raw = hlog::read(&read(hlog::LATENCY_RAW_HLOG)?)
        .map_err(|e| format!("{}: {e}", dir.join(hlog::LATENCY_RAW_HLOG).display()))?;
    Ok(LoadedShard {
        source: source.to_owned(),
        dir: dir.to_owned(),
        summary,
        info,
        rows,
        corrected,
        raw,
    })
}

/// One run, one count, each index once; sorts by index and returns the
/// missing ones (an error unless `allow_missing`).
fn check_set(shards: &mut [LoadedShard], allow_missing: bool) -> Result<Vec<u32>, String> {
    let mut runs: BTreeMap<(String, u32), Vec<&str>> = BTreeMap::new();
    for s in shards.iter() {
        runs.entry((s.summary.run_id.clone(), s.info.count))
            .or_default()
            .push(&s.source);
    }
    if runs.len() > 1 {
        let list: Vec<String> = runs
            .iter()
            .map(|((id, n), srcs)| format!("run {id} with {n} shards: {}", srcs.join(", ")))
            .collect();
        return Err(format!(
            "these shards are not of one run:\n  {}\n  help: merge one run's shards (same --run-id and shard count)",
            list.join("\n  ")
        ));
    }
    shards.sort_by_key(|s| s.info.index);
    let mut problems = Vec::new();
    for pair in shards.windows(2) {
        if pair[0].info.index == pair[1].info.index {
            problems.push(format!(
                "shard {} of {} appears twice: {} and {}",
                pair[0].info.index, pair[0].info.count, pair[0].source, pair[1].source
            ));
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "{}\n  help: pass each shard once",
            problems.join("\nerror: ")
        ));
    }
    let count = shards[0].info.count;
    let missing: Vec<u32> = (0..count)
        .filter(|i| !shards.iter().any(|s| s.info.index == *i))
        .collect();
    if !missing.is_empty() && !allow_missing {
        let have: Vec<String> = shards.iter().map(|s| s.info.index.to_string()).collect();
        return Err(format!(
            "run {}: {} of {count} shards missing: {} (have {})\n  help: wait for or re-run the missing shards, or pass --allow-missing to merge a partial run",
            shards[0].summary.run_id,
            missing.len(),
            missing
                .iter()
                .map(|i| ShardSpec { index: *i, count }.label())
                .collect::<Vec<_>>()
                .join(", "),
            have.join(", ")
        ));
    }
    Ok(missing)
}

/// Writes the merged result set: the run's files, from merged data.
fn write(out: &Path, merged: &Merged, shards: &[LoadedShard]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    report::write_atomic(&out.join(SUMMARY_JSON), |w| json::write(&merged.summary, w))?;
    report::write_atomic(&out.join(TIMESERIES_CSV), |w| {
        csv::write_rows(&merged.rows, w)
    })?;
    report::write_renderings(out, &merged.summary, &merged.rows)?;
    let started = merged
        .summary
        .merged
        .as_ref()
        .map_or(SystemTime::UNIX_EPOCH, |m| {
            SystemTime::UNIX_EPOCH + Duration::from_millis(m.started_unix_ms)
        });
    // latency.hlog: per interval the whole interval, then its cells.
    let writer = hlog::HlogWriter::start(out, merged.op_names.clone(), started)?;
    let tx = writer.sender();
    let mut by_interval: BTreeMap<u64, Vec<(usize, crate::observe::outcome::OutcomeClass)>> =
        BTreeMap::new();
    for &(at, op, class) in merged.corrected.keys() {
        by_interval.entry(at).or_default().push((op, class));
    }
    for (at, cells) in by_interval {
        let start = merged.interval * at as u32;
        let mut whole: Option<hdrhistogram::Histogram<u64>> = None;
        for (op, class) in &cells {
            let h = &merged.corrected[&(at, *op, *class)];
            match &mut whole {
                Some(w) => w
                    .add(h)
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?,
                None => whole = Some(h.clone()),
            }
        }
        let send = |op, class, h: hdrhistogram::Histogram<u64>| {
            let _ = tx.send(SealedHistogram {
                interval_start: start,
                interval: merged.interval,
                op,
                class,
                corrected: h,
            });
        };
        if let Some(w) = whole {
            send(None, None, w);
        }
        for (op, class) in cells {
            send(
                Some(op),
                Some(class),
                merged.corrected[&(at, op, class)].clone(),
            );
        }
    }
    drop(tx);
    writer.finish()?;
    let raw = hlog::HlogWriter::start_file(
        out,
        hlog::LATENCY_RAW_HLOG,
        "raw latency (from send) over the whole run",
        merged.op_names.clone(),
        started,
    )?;
    let tx = raw.sender();
    for (&(op, class), h) in &merged.raw {
        let _ = tx.send(SealedHistogram {
            interval_start: Duration::ZERO,
            interval: merged.duration,
            op: Some(op),
            class: Some(class),
            corrected: h.clone(),
        });
    }
    drop(tx);
    raw.finish()?;
    // The timeline's events are the owner's: only it made changes.
    if let Some(owner) = shards.iter().find(|s| s.info.owns_timeline) {
        let events = owner.dir.join(report::EVENTS_CSV);
        if let Ok(bytes) = std::fs::read(events) {
            report::write_atomic(&out.join(report::EVENTS_CSV), |w| w.write_all(&bytes))?;
        }
    }
    Ok(())
}
