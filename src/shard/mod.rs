//! Sharded runs: one scenario run as N processes of this binary on an
//! existing engine (a Kubernetes Indexed Job, an AWS Batch array job, or
//! plain processes), merged afterwards by `iamstorm merge`.
//!
//! This module owns what makes a process *one shard of N*: which shard it
//! is (`--shard I/N` or the engine's environment, [`detect`]), its share of
//! the scenario ([`split`]: instances split with the remainder to the low
//! shards, every open entry's rate profile scaled by the shard's share of the
//! instances that run it, timeline and `[[sim.faults]]` owned by shard 0),
//! its seed ([`shard_seed`]), the run id every shard agrees on
//! ([`default_run_id`]), and the record a shard leaves in `summary.json`
//! ([`ShardInfo`]). `clock` waits for `--start-at` and measures the clock
//! offset to the target; `upload` puts the results in S3.
//!
//! iamstorm grows no cluster of its own: shards never talk to each other.
//! They agree by construction (same scenario, same flags, same start time)
//! and meet again only in the merge.

pub mod clock;
pub mod upload;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::scenario::{LoadModel, Scenario};

/// Most shards of one run.
pub const MAX_SHARDS: u32 = 1024;

/// The Kubernetes Indexed Job's completion index (set by Kubernetes).
pub const ENV_K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The number of shards, for engines that do not say it (Kubernetes:
/// set it to the Job's `completions` in the manifest).
pub const ENV_SHARDS: &str = "IAMSTORM_SHARDS";
/// AWS Batch array child index and the array's size (set by Batch).
pub const ENV_BATCH_INDEX: &str = "AWS_BATCH_JOB_ARRAY_INDEX";
pub const ENV_BATCH_SIZE: &str = "AWS_BATCH_JOB_ARRAY_SIZE";

/// The seed stream a shard's seed is derived on (`sim::rng::derive`).
const STREAM_SHARD: u64 = 0x0053_4841_5244; // "SHARD"

/// Shard `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl ShardSpec {
    /// `I/N` as `--shard` takes it: `0/3`, `1/3`, `2/3`.
    pub fn parse(text: &str) -> Result<ShardSpec, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| {
            format!("{text:?} is not I/N: write e.g. --shard 0/3 (shards count from 0)")
        })?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("the shard count {n:?} in {text:?} is not a whole number"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("the shard index {i:?} in {text:?} is not a whole number"))?;
        ShardSpec::new(index, count).map_err(|e| format!("{text:?}: {e}"))
    }

    /// Checks `index < count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Result<ShardSpec, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count must be 1 to {MAX_SHARDS} (got {count})"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the count {count} (shards count from 0: 0/{count} .. {}/{count})",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// Shard 0 owns what must happen once: the timeline's changes, the
    /// double's fault rules.
    pub fn owns_timeline(self) -> bool {
        self.index == 0
    }

    /// `shard-I-of-N`: the results key segment and the merge's name for it.
    pub fn label(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The inverse of [`label`](Self::label).
    pub fn from_label(text: &str) -> Option<ShardSpec> {
        let rest = text.strip_prefix("shard-")?;
        let (i, n) = rest.split_once("-of-")?;
        ShardSpec::new(i.parse().ok()?, n.parse().ok()?).ok()
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a process learnt it is a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    pub spec: ShardSpec,
    /// `--shard`, or the environment variables read.
    pub source: String,
}

/// The shard this process is: `--shard` if given, else a Kubernetes Indexed
/// Job (`JOB_COMPLETION_INDEX` + `IAMSTORM_SHARDS`), else an AWS Batch array
/// child (`AWS_BATCH_JOB_ARRAY_INDEX` + `AWS_BATCH_JOB_ARRAY_SIZE`, or
/// `IAMSTORM_SHARDS`); `None`: not sharded. `env` reads a variable (tests
/// pass a map). A half-set environment is an error, not a silent whole run.
pub fn detect(
    flag: Option<ShardSpec>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Detected>, String> {
    if let Some(spec) = flag {
        return Ok(Some(Detected {
            spec,
            source: "--shard".to_owned(),
        }));
    }
    let number = |name: &str, value: &str| -> Result<u32, String> {
        value
            .trim()
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a whole number"))
    };
    if let Some(index) = env(ENV_K8S_INDEX) {
        let Some(count) = env(ENV_SHARDS) else {
            return Err(format!(
                "{ENV_K8S_INDEX} is set (a Kubernetes Indexed Job) but {ENV_SHARDS} is not\n  help: set {ENV_SHARDS} to the Job's completions in the manifest (deploy/kubernetes/), or pass --shard I/N"
            ));
        };
        let spec = ShardSpec::new(number(ENV_K8S_INDEX, &index)?, number(ENV_SHARDS, &count)?)
            .map_err(|e| format!("{ENV_K8S_INDEX}={index}, {ENV_SHARDS}={count}: {e}"))?;
        return Ok(Some(Detected {
            spec,
            source: format!("{ENV_K8S_INDEX} + {ENV_SHARDS}"),
        }));
    }
    if let Some(index) = env(ENV_BATCH_INDEX) {
        let (name, count) = match (env(ENV_BATCH_SIZE), env(ENV_SHARDS)) {
            (Some(c), _) => (ENV_BATCH_SIZE, c),
            (None, Some(c)) => (ENV_SHARDS, c),
            (None, None) => {
                return Err(format!(
                    "{ENV_BATCH_INDEX} is set (an AWS Batch array job) but neither {ENV_BATCH_SIZE} nor {ENV_SHARDS} is\n  help: set {ENV_SHARDS} to the array size, or pass --shard I/N"
                ));
            }
        };
        let spec = ShardSpec::new(number(ENV_BATCH_INDEX, &index)?, number(name, &count)?)
            .map_err(|e| format!("{ENV_BATCH_INDEX}={index}, {name}={count}: {e}"))?;
        return Ok(Some(Detected {
            spec,
            source: format!("{ENV_BATCH_INDEX} + {name}"),
        }));
    }
    Ok(None)
}

/// Instances of a group of `total` that shard `spec` launches: an even
/// split, the remainder to the low shards (so the shares add up to `total`).
pub fn instances_share(total: u32, spec: ShardSpec) -> u32 {
    total / spec.count + u32::from(spec.index < total % spec.count)
}

/// What a shard's share of a scenario is, for its record and the console.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    /// The scenario this shard runs.
    pub scenario: Scenario,
    /// Instances this shard launches / in the whole fleet.
    pub instances: u32,
    pub instances_total: u32,
    /// Per load entry (scenario order): the fraction of its rate this shard
    /// sends (open entries) or of its workers it runs (closed entries).
    pub entry_shares: Vec<f64>,
}

/// This shard's part of `scenario`. Every group must have at least one
/// instance per shard (a shard with no instance of a group could not send
/// that group's share); the error names the group and what to do, and every
/// shard of the run gives it.
pub fn split(scenario: &Scenario, spec: ShardSpec) -> Result<Share, String> {
    let mut out = scenario.clone();
    let mut problems = Vec::new();
    for g in &mut out.fleet {
        // Checked for every shard, not only the empty ones: all of a run's
        // shards refuse together rather than N-1 of them running.
        let share = instances_share(g.instances, spec);
        if g.instances < spec.count {
            problems.push(format!(
                "[[fleet]] group {:?} has {} instances, fewer than the {} shards: every shard needs at least one\n  help: raise `instances` to at least {} or run fewer shards",
                g.group, g.instances, spec.count, spec.count
            ));
        }
        g.instances = share;
    }
    if !problems.is_empty() {
        return Err(problems.join("\nerror: "));
    }
    let total_of = |fleet: &[crate::scenario::FleetGroup], group: &Option<String>| -> u32 {
        fleet
            .iter()
            .filter(|g| group.as_ref().is_none_or(|name| *name == g.group))
            .map(|g| g.instances)
            .sum()
    };
    let mut entry_shares = Vec::with_capacity(out.load.len());
    for entry in &mut out.load {
        let (mine, all) = (
            total_of(&out.fleet, &entry.group),
            total_of(&scenario.fleet, &entry.group),
        );
        // Per-instance rate stays the whole run's: shard rates add up exactly.
        let share = if all == 0 {
            0.0
        } else {
            f64::from(mine) / f64::from(all)
        };
        if let LoadModel::Open { profile, .. } = &mut entry.model
            && share > 0.0
            && share < 1.0
        {
            *profile = profile.scaled(share);
        }
        // Closed workers are per instance: the instance split splits them.
        entry_shares.push(share);
    }
    if !spec.owns_timeline() {
        out.timeline.clear();
        out.sim.faults.clear();
    }
    // Thresholds are judged on the merged data, never on one shard's part
    // (one shard of one is the whole run: it judges them itself too).
    if spec.count > 1 {
        out.thresholds.clear();
    }
    Ok(Share {
        instances: out.fleet.iter().map(|g| g.instances).sum(),
        instances_total: scenario.fleet.iter().map(|g| g.instances).sum(),
        entry_shares,
        scenario: out,
    })
}

/// The base seed when none was given: every shard must agree on it without
/// talking, so it comes from the shared run id.
pub fn seed_from_run_id(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Shard `spec`'s seed from the run's base seed: independent streams per
/// shard (arrivals, keys), replayable from the base seed and the index.
/// One shard of one is the whole run: its seed is the base seed.
pub fn shard_seed(base: u64, spec: ShardSpec) -> u64 {
    if spec.count == 1 {
        base
    } else {
        crate::sim::rng::derive(base, STREAM_SHARD, u64::from(spec.index))
    }
}

/// The run id shards agree on without talking: `--start-at` + scenario name,
/// the same shape as an unsharded run's (`20261128T191450Z-quickstart`).
pub fn default_run_id(name: &str, start_at: SystemTime) -> String {
    crate::run::run_id(name, start_at)
}

/// A run id becomes an S3 key segment and a directory name.
pub fn check_run_id(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !text.starts_with('.');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "run id {text:?}: use 1 to 128 of [A-Za-z0-9._-], not starting with '.'"
        ))
    }
}

/// `--start-at`: an RFC 3339 time, e.g. `2026-05-01T12:00:00Z`.
pub fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 time ({e}): write e.g. 2026-05-01T12:00:00Z")
        })
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a shard records in its `summary.json` (`shard`): what the merge
/// needs to check the set and align it, and what a reader needs to trust it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// `--shard`, or the environment variables it came from.
    pub source: String,
    /// The run's base seed; this shard's is `seed` in the summary.
    pub seed_base: u64,
    /// When this shard's load started (its t0), Unix ms: the merge aligns
    /// shards on it.
    pub started_unix_ms: u64,
    /// `--start-at`, if given (RFC 3339).
    pub start_at: Option<String>,
    /// How late after `--start-at` the load started (ms; negative never).
    pub start_late_ms: Option<f64>,
    /// The target's clock minus this machine's, from its HTTP `Date`
    /// header (ms), and the measurement's uncertainty (±ms).
    pub clock_offset_ms: Option<f64>,
    pub clock_offset_uncertainty_ms: Option<f64>,
    /// Instances this shard launched / in the whole fleet.
    pub instances: u32,
    pub instances_total: u32,
    /// Per load entry (summary `ops` order): the share of its rate (open)
    /// or workers (closed) this shard ran.
    pub entry_shares: Vec<f64>,
    /// Whether this shard made the timeline's changes (shard 0 only).
    pub owns_timeline: bool,
    /// Gates for the merge to judge (scenario's, then `--threshold`'s), as written.
    pub thresholds: Vec<String>,
    /// Where the results were uploaded (`s3://.../shard-I-of-N/`), if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_uri: Option<String>,
}

/// `--shard`, `--run-id`, `--start-at`, `--results-uri` as given.
#[derive(Clone, Debug, Default)]
pub struct ShardFlags {
    pub shard: Option<ShardSpec>,
    pub run_id: Option<String>,
    pub start_at: Option<SystemTime>,
    pub results_uri: Option<upload::S3Uri>,
}

/// A sharded run's settings, resolved before the run starts.
#[derive(Clone, Debug)]
pub struct ShardRun {
    pub spec: ShardSpec,
    pub source: String,
    pub run_id: String,
    pub seed_base: u64,
    /// This shard's seed ([`shard_seed`]).
    pub seed: u64,
    pub start_at: Option<SystemTime>,
    pub results: Option<upload::S3Uri>,
    pub instances: u32,
    pub instances_total: u32,
    pub entry_shares: Vec<f64>,
    /// Every gate (scenario's, then `--threshold`'s) as written, for the merge.
    pub thresholds: Vec<String>,
}

/// Resolves the flags and the engine's environment: the scenario this
/// process runs and its shard settings, or the scenario untouched and
/// `None` when nothing asks for sharding. `--start-at`, `--run-id` or
/// `--results-uri` alone make a process shard 0 of 1 (the whole run,
/// uploaded and mergeable). `seed` is `--seed` (the *base* seed here).
pub fn prepare(
    scenario: Scenario,
    flags: &ShardFlags,
    seed: Option<u64>,
    cli_thresholds: &[crate::thresholds::Threshold],
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Scenario, Option<ShardRun>), String> {
    let detected = detect(flags.shard, env)?;
    let asked = flags.run_id.is_some() || flags.start_at.is_some() || flags.results_uri.is_some();
    if detected.is_none() && !asked {
        return Ok((scenario, None));
    }
    let (spec, source) = match detected {
        Some(d) => (d.spec, d.source),
        None => (
            ShardSpec { index: 0, count: 1 },
            "a single process".to_owned(),
        ),
    };
    let run_id = match (&flags.run_id, flags.start_at) {
        (Some(id), _) => check_run_id(id)?,
        (None, Some(at)) => default_run_id(&scenario.name, at),
        (None, None) if spec.count == 1 => crate::run::run_id(&scenario.name, SystemTime::now()),
        (None, None) => {
            return Err(format!(
                "shard {spec} needs a run id every shard agrees on\n  help: pass --start-at (the run id derives from it and the scenario name) or --run-id ID, the same for every shard"
            ));
        }
    };
    let share = split(&scenario, spec)?;
    let seed_base = seed
        .or(scenario.seed)
        .unwrap_or_else(|| seed_from_run_id(&run_id));
    let thresholds = scenario
        .thresholds
        .iter()
        .chain(cli_thresholds)
        .map(|t| t.text.clone())
        .collect();
    Ok((
        share.scenario,
        Some(ShardRun {
            spec,
            source,
            run_id,
            seed_base,
            seed: shard_seed(seed_base, spec),
            start_at: flags.start_at,
            results: flags.results_uri.clone(),
            instances: share.instances,
            instances_total: share.instances_total,
            entry_shares: share.entry_shares,
            thresholds,
        }),
    ))
}

/// What the start of a shard's load was like.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartLine {
    /// How late after `--start-at` the load started.
    pub late: Option<std::time::Duration>,
    pub offset: Option<clock::ClockOffset>,
}

impl ShardRun {
    /// Shard 1/3, its seed, its share: one line for the console.
    pub fn describe(&self) -> String {
        format!(
            "shard {} (from {}): run id {}, seed {} derived from base seed {} (replay with --seed {} --shard {}), {} of {} instances",
            self.spec,
            self.source,
            self.run_id,
            self.seed,
            self.seed_base,
            self.seed_base,
            self.spec,
            self.instances,
            self.instances_total
        )
    }

    /// Measures the clock offset to the target (when shards must start
    /// together), then waits for `--start-at`.
    pub async fn start_line(&self, sts: &aws_sdk_sts::Client) -> StartLine {
        let offset = if self.start_at.is_some() || self.spec.count > 1 {
            clock::measure_offset(sts).await
        } else {
            None
        };
        let late = match self.start_at {
            Some(at) => Some(clock::wait_until(at).await),
            None => None,
        };
        StartLine { late, offset }
    }

    /// The record for `summary.json`.
    pub fn info(&self, started: SystemTime, line: StartLine) -> ShardInfo {
        ShardInfo {
            index: self.spec.index,
            count: self.spec.count,
            source: self.source.clone(),
            seed_base: self.seed_base,
            started_unix_ms: crate::sim::clock::unix_ms(started),
            start_at: self.start_at.map(rfc3339),
            start_late_ms: line.late.map(|d| d.as_secs_f64() * 1e3),
            clock_offset_ms: line.offset.map(|o| o.offset_ms),
            clock_offset_uncertainty_ms: line.offset.map(|o| o.uncertainty_ms),
            instances: self.instances,
            instances_total: self.instances_total,
            entry_shares: self.entry_shares.clone(),
            owns_timeline: self.spec.owns_timeline(),
            thresholds: self.thresholds.clone(),
            results_uri: self
                .results
                .as_ref()
                .map(|u| u.display_key(&u.shard_prefix(&self.run_id, self.spec))),
        }
    }

    /// After the run's files are written: `latency_raw.hlog` (the merge
    /// needs raw latency exactly too), then the upload if asked. Returns
    /// where the files went.
    pub async fn finish(
        &self,
        dir: &std::path::Path,
        metrics: &crate::observe::metrics::Metrics,
        started: SystemTime,
        ran_for: std::time::Duration,
        s3: &aws_sdk_s3::Client,
    ) -> Result<Option<String>, String> {
        write_raw_hlog(dir, metrics, started, ran_for)
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        let Some(uri) = &self.results else {
            return Ok(None);
        };
        let prefix = uri.shard_prefix(&self.run_id, self.spec);
        let n = upload::upload_dir(s3, uri, &prefix, dir).await?;
        Ok(Some(format!("{n} files to {}", uri.display_key(&prefix))))
    }
}

/// `latency_raw.hlog`: one histogram per (op, class) over the whole run,
/// from the metrics' exact whole-run totals.
pub fn write_raw_hlog(
    dir: &std::path::Path,
    metrics: &crate::observe::metrics::Metrics,
    started: SystemTime,
    ran_for: std::time::Duration,
) -> std::io::Result<()> {
    use crate::observe::metrics::{Latency, SealedHistogram, Select};
    use crate::observe::outcome::OutcomeClass;
    let writer = crate::report::hlog::HlogWriter::start_file(
        dir,
        crate::report::hlog::LATENCY_RAW_HLOG,
        "raw latency (from send) over the whole run",
        metrics.op_names().to_vec(),
        started,
    )?;
    let tx = writer.sender();
    for op in 0..metrics.op_names().len() {
        for class in OutcomeClass::ALL {
            let select = Select::cell(op, class);
            if metrics.count(select) == 0 {
                continue;
            }
            let _ = tx.send(SealedHistogram {
                interval_start: std::time::Duration::ZERO,
                interval: ran_for,
                op: Some(op),
                class: Some(class),
                corrected: metrics.histogram(select, Latency::Raw),
            });
        }
    }
    drop(tx);
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn shard_flags_parse_and_bad_ones_say_why() {
        assert_eq!(
            ShardSpec::parse("1/3"),
            Ok(ShardSpec { index: 1, count: 3 })
        );
        assert!(
            ShardSpec::parse("3/3")
                .unwrap_err()
                .contains("not below the count 3")
        );
        assert!(ShardSpec::parse("0/0").unwrap_err().contains("1 to 1024"));
        assert!(ShardSpec::parse("a/3").unwrap_err().contains("index \"a\""));
        assert!(ShardSpec::parse("2").unwrap_err().contains("is not I/N"));
        assert_eq!(
            ShardSpec::from_label("shard-2-of-3"),
            Some(ShardSpec { index: 2, count: 3 })
        );
        assert_eq!(ShardSpec::from_label("shard-3-of-3"), None);
        assert_eq!(ShardSpec { index: 2, count: 3 }.label(), "shard-2-of-3");
    }

    #[test]
    fn engines_are_detected_from_their_environment() {
        let k8s = detect(
            None,
            env(&[("JOB_COMPLETION_INDEX", "2"), ("IAMSTORM_SHARDS", "4")]),
        )
        .expect("ok")
        .expect("sharded");
        assert_eq!(k8s.spec, ShardSpec { index: 2, count: 4 });
        let batch = detect(
            None,
            env(&[
                ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "5"),
            ]),
        )
        .expect("ok")
        .expect("sharded");
        assert_eq!(batch.spec, ShardSpec { index: 0, count: 5 });
        assert!(
            detect(None, env(&[("JOB_COMPLETION_INDEX", "1")]))
                .unwrap_err()
                .contains("IAMSTORM_SHARDS is not")
        );
        assert!(
            detect(
                None,
                env(&[("JOB_COMPLETION_INDEX", "4"), ("IAMSTORM_SHARDS", "4")])
            )
            .unwrap_err()
            .contains("not below the count 4")
        );
        assert_eq!(detect(None, env(&[])), Ok(None));
        // The flag wins over the environment.
        let flag = detect(
            Some(ShardSpec { index: 1, count: 2 }),
            env(&[("JOB_COMPLETION_INDEX", "0"), ("IAMSTORM_SHARDS", "4")]),
        )
        .expect("ok")
        .expect("sharded");
        assert_eq!(flag.source, "--shard");
    }

    #[test]
    fn instances_split_with_the_remainder_to_low_shards() {
        let shares: Vec<u32> = (0..3)
            .map(|i| instances_share(7, ShardSpec { index: i, count: 3 }))
            .collect();
        assert_eq!(shares, vec![3, 2, 2]);
        assert_eq!(shares.iter().sum::<u32>(), 7);
    }

    const TWO_GROUPS: &str = r#"
name = "split"
duration = "10s"
thresholds = ["requests > 1"]
[[iam.roles]]
name = "r"
trust = "ec2"
[[iam.instance_profiles]]
name = "p"
role = "r"
[[s3.buckets]]
name = "assets"
objects = "obj-{0..9}"
[[fleet]]
group = "web"
instance_profile = "p"
instances = 4
workers_per_instance = 4
[[fleet]]
group = "batch"
instance_profile = "p"
instances = 3
workers_per_instance = 4
[[load]]
name = "all"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 70
[[load]]
name = "web-only"
op = "sts:GetCallerIdentity"
group = "web"
ramp = { from = 40, to = 80 }
[[load]]
name = "closed"
op = "sts:GetCallerIdentity"
model = "closed"
workers = 2
[[timeline]]
at = "1s"
action = "update-assume-role-policy"
role = "r"
trust = "ec2"
"#;

    #[test]
    fn a_share_scales_rates_by_its_instances_and_leaves_the_timeline_to_shard_0() {
        let scenario = crate::scenario::parse("split.toml", TWO_GROUPS, std::path::Path::new("."))
            .expect("valid scenario");
        let shares: Vec<Share> = (0..3)
            .map(|i| split(&scenario, ShardSpec { index: i, count: 3 }).expect("splits"))
            .collect();
        // web 4 → 2,1,1; batch 3 → 1,1,1.
        let instances: Vec<u32> = shares.iter().map(|s| s.instances).collect();
        assert_eq!(instances, vec![3, 2, 2]);
        let rate = |s: &Share, entry: usize| match &s.scenario.load[entry].model {
            LoadModel::Open {
                profile: crate::scenario::RateProfile::Constant { rate_per_s },
                ..
            } => vec![*rate_per_s],
            LoadModel::Open {
                profile:
                    crate::scenario::RateProfile::Ramp {
                        from_per_s,
                        to_per_s,
                    },
                ..
            } => vec![*from_per_s, *to_per_s],
            other => panic!("{other:?}"),
        };
        let all: f64 = shares.iter().map(|s| rate(s, 0)[0]).sum();
        assert!((all - 70.0).abs() < 1e-9, "{all}");
        assert!((rate(&shares[1], 0)[0] - 20.0).abs() < 1e-9);
        // A group's entry follows that group's split: web 2/4, 1/4, 1/4.
        assert_eq!(rate(&shares[0], 1), vec![20.0, 40.0]);
        assert_eq!(rate(&shares[2], 1), vec![10.0, 20.0]);
        // Closed workers are per instance: the model is untouched.
        assert_eq!(shares[1].scenario.load[2].model, scenario.load[2].model);
        assert_eq!(shares[1].entry_shares, vec![2.0 / 7.0, 0.25, 2.0 / 7.0]);
        assert_eq!(shares[0].scenario.timeline.len(), 1);
        assert!(shares[1].scenario.timeline.is_empty());
        assert!(
            shares[0].scenario.thresholds.is_empty(),
            "judged by the merge"
        );
        // One shard of one is the whole scenario.
        let whole = split(&scenario, ShardSpec { index: 0, count: 1 }).expect("splits");
        assert_eq!(whole.scenario, scenario);
        // Too few instances for the shards is an error naming the group.
        let e = split(&scenario, ShardSpec { index: 0, count: 4 }).expect_err("batch has 3");
        assert!(
            e.contains("group \"batch\" has 3 instances, fewer than the 4 shards"),
            "{e}"
        );
    }

    #[test]
    fn shard_seeds_differ_and_one_shard_keeps_the_base_seed() {
        let a = shard_seed(42, ShardSpec { index: 0, count: 3 });
        let b = shard_seed(42, ShardSpec { index: 1, count: 3 });
        assert_ne!(a, b);
        assert_eq!(shard_seed(42, ShardSpec { index: 0, count: 1 }), 42);
        assert_eq!(seed_from_run_id("r"), seed_from_run_id("r"));
    }

    #[test]
    fn start_at_and_run_ids_are_checked() {
        let at = parse_start_at("2026-05-01T12:00:00Z").expect("parses");
        assert_eq!(
            default_run_id("quickstart", at),
            "20260501T120000Z-quickstart"
        );
        assert!(parse_start_at("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(check_run_id("a/b").is_err());
        assert!(check_run_id("20260501T120000Z-quickstart").is_ok());
    }
}
