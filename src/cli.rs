//! Command-line interface: `run`, `sim`, `validate`. Each command returns an
//! `Exit`; only this module and `sim_cmd` print errors for humans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::run::{RunOptions, run_scenario};

#[derive(Parser)]
#[command(
    name = "iamstorm",
    version,
    about = "Reproduce and measure AccessDenied storms: IAM propagation races, throttling and credential failures under scale-out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// No `Debug`: `sim` holds a secret key (see `SimOptions`' redacting `Debug`).
#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario against the embedded AWS double and write results/<run-id>/.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Output directory (default: results/<timestamp>-<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed (the run prints the seed it used).
        #[arg(long)]
        seed: Option<u64>,
        /// No progress lines; the summary table is still printed.
        #[arg(long)]
        quiet: bool,
        /// A CI gate, e.g. 'latency.p99{op=s3:GetObject} < 50ms' (repeatable;
        /// judged with the scenario's `thresholds`; any failure exits 1).
        #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold_arg)]
        thresholds: Vec<crate::thresholds::Threshold>,
        /// Serve live Prometheus text (GET /metrics) here while the run goes,
        /// e.g. 127.0.0.1:9464.
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Where requests go (overrides [target] kind): `sim` (the embedded
        /// double), `endpoint` (any AWS-compatible URL) or `aws` (real AWS;
        /// needs --allow-aws).
        #[arg(long, value_name = "KIND", value_parser = parse_target_kind)]
        target: Option<crate::scenario::TargetKind>,
        /// The endpoint for --target endpoint (or to point aws at one);
        /// default: [target] url, else AWS_ENDPOINT_URL.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Allow a run against real AWS (required with --target aws).
        #[arg(long)]
        allow_aws: bool,
        /// Hard cap on the fleet-wide request rate, e.g. 100 or "100/s"
        /// (real AWS: 50/s unless set here or in [target]).
        #[arg(long, value_name = "RATE", value_parser = parse_rate_arg)]
        max_rate: Option<f64>,
        /// Hard cap on the run's total requests (real AWS: 10000 unless set).
        #[arg(long, value_name = "N")]
        max_requests: Option<u64>,
        /// Print every call the run would make, send nothing, exit 0.
        #[arg(long)]
        dry_run: bool,
        /// Run as shard I of N (from 0): this process takes its share of the
        /// fleet and of every load entry's rate; shard 0 makes the timeline's
        /// changes. Default: JOB_COMPLETION_INDEX + IAMSTORM_SHARDS
        /// (Kubernetes) or AWS_BATCH_JOB_ARRAY_INDEX + AWS_BATCH_JOB_ARRAY_SIZE.
        #[arg(long, value_name = "I/N", value_parser = crate::shard::ShardSpec::parse)]
        shard: Option<crate::shard::ShardSpec>,
        /// The run id every shard shares (default: from --start-at and the
        /// scenario name).
        #[arg(long, value_name = "ID", value_parser = crate::shard::check_run_id)]
        run_id: Option<String>,
        /// Start the load at this wall-clock time (RFC 3339, e.g.
        /// 2026-05-01T12:00:00Z), after setup: how shards start together.
        #[arg(long, value_name = "TIME", value_parser = crate::shard::parse_start_at)]
        start_at: Option<std::time::SystemTime>,
        /// Upload the results to s3://bucket/prefix/<run-id>/shard-I-of-N/
        /// with the operator's credentials, through the target's endpoint.
        #[arg(long, value_name = "S3_URI", value_parser = crate::shard::upload::S3Uri::parse)]
        results_uri: Option<crate::shard::upload::S3Uri>,
    },
    /// Merge a sharded run's results (shard directories or an S3 prefix)
    /// into one result set; thresholds are judged on the merged data.
    Merge {
        /// Shard results directories (or directories holding shard-I-of-N/),
        /// or one s3://bucket/prefix/<run-id>/.
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
        /// Where the merged results go (default: results/<run-id>-merged;
        /// S3 shards are downloaded to OUT/shards/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A gate judged on the merged data, with the ones the shards
        /// recorded (repeatable; any failure exits 1).
        #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold_arg)]
        thresholds: Vec<crate::thresholds::Threshold>,
        /// Merge even when shards are missing (the report names them).
        #[arg(long)]
        allow_missing: bool,
        /// The S3 endpoint for an s3:// source (default: AWS_ENDPOINT_URL, else AWS).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
    /// Undo the changes a run journaled (after a crash or a failed restore):
    /// reads JOURNAL, reconnects to its target, restores each pending change.
    Rollback {
        /// A run's journal.jsonl.
        journal: PathBuf,
        /// Override the journal's endpoint (default: the one it recorded).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
    /// Serve the AWS double standalone (S3, STS, IAM, EC2, IMDS, admin API) until Ctrl-C.
    Sim {
        /// Listen address; loopback by default. Any other address is served
        /// with a warning: whoever reaches it can use the admin keys.
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: SocketAddr,
        /// Turn the admin API (`/_iamstorm/`) off once seeded: clients then
        /// see a plain AWS endpoint (no instances, no ground truth).
        #[arg(long)]
        no_admin: bool,
        /// Serve the admin API to non-loopback peers too (refused by default).
        #[arg(long, conflicts_with = "no_admin")]
        admin_allow_remote: bool,
        /// Largest S3 object accepted, e.g. "64MiB" (default); larger bodies
        /// get S3's `EntityTooLarge`.
        #[arg(long, value_parser = parse_bytes_arg)]
        max_object_bytes: Option<u64>,
        /// Total bytes the object store may hold (default "1GiB").
        #[arg(long, value_parser = parse_bytes_arg)]
        max_store_bytes: Option<u64>,
        /// Largest STS/IAM/EC2 Query request body (default "1MiB"); larger
        /// ones get `413 RequestEntityTooLarge`.
        #[arg(long, value_parser = parse_bytes_arg)]
        max_body_bytes: Option<u64>,
        /// Most connections open at once on the edge port (default 8192);
        /// more wait in the kernel's accept queue.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: Option<u32>,
        /// Seed for the propagation model and ids (default: the scenario's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// The administrator's access key id (default: AWS's documentation example key).
        #[arg(long, default_value = crate::sim::state::EXAMPLE_ACCESS_KEY_ID)]
        access_key_id: String,
        /// The administrator's secret access key.
        #[arg(long, default_value = crate::sim::state::EXAMPLE_SECRET_ACCESS_KEY)]
        secret_access_key: String,
        /// Seed the double with a scenario's IAM setup, buckets and fleet
        /// (its load and timeline are not run), then serve.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Lifetime of IMDS instance credentials, e.g. "20m" (default 6h).
        #[arg(long, value_parser = parse_duration_arg)]
        instance_credentials_ttl: Option<Duration>,
        /// IMDS mints new credentials this long before expiry (default 5m;
        /// at most half the TTL).
        #[arg(long, value_parser = parse_duration_arg)]
        imds_rotate_before: Option<Duration>,
        /// Delay before IMDS serves a changed instance profile association
        /// (default 5s; a reboot applies it at once).
        #[arg(long, value_parser = parse_duration_arg)]
        imds_association_lag: Option<Duration>,
    },
    /// Diagnose an AccessDenied the runbook's way (identity, simulation,
    /// policies, trust, profile, IMDS, throttling, propagation) and print
    /// the cause with its evidence; exit 0 when no problem is found, 1 when
    /// a cause is.
    Doctor(crate::doctor::DoctorArgs),
    /// Check a scenario file without running it.
    Validate { scenario: PathBuf },
    /// Re-render a run's reports (summary.txt, junit.xml, report.md,
    /// report.html) from its summary.json and timeseries.csv.
    Report {
        /// A run's results directory.
        dir: PathBuf,
        /// Write the reports here instead of DIR.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Judge these instead of the run's own thresholds (repeatable).
        #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold_arg)]
        thresholds: Vec<crate::thresholds::Threshold>,
    },
    /// Compare two runs' headline metrics; exit 1 if any regressed beyond
    /// its tolerance. Prints Markdown.
    Compare {
        /// The baseline: a results directory or its summary.json.
        baseline: PathBuf,
        /// The run to judge: a results directory or its summary.json.
        current: PathBuf,
        /// Override a tolerance by metric prefix: `latency=20%` (relative)
        /// or `ratio.throttled=0.02` (absolute, in the metric's unit).
        #[arg(long = "tolerance", value_name = "METRIC=VALUE")]
        tolerances: Vec<String>,
        /// Also write the Markdown to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fit a model file for the double ([sim] model = "...") to a run's
    /// measured propagation delays and throttling onsets.
    Calibrate {
        /// A run's output directory (holds summary.json and timeseries.csv).
        results: PathBuf,
        /// Where to write the model (default: RESULTS/model.toml).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs an async command on a fresh multi-threaded runtime.
fn block_on(command: impl std::future::Future<Output = Exit>) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            Exit::Internal
        }
    }
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing();
    let exit = match cli.command {
        Command::Validate { scenario } => validate(&scenario),
        Command::Doctor(args) => block_on(crate::doctor::run(args)),
        Command::Report {
            dir,
            out,
            thresholds,
        } => crate::report_cmd::run(&crate::report_cmd::ReportOptions {
            dir,
            out,
            thresholds,
        }),
        Command::Compare {
            baseline,
            current,
            tolerances,
            out,
        } => crate::compare::run(&crate::compare::CompareOptions {
            baseline,
            current,
            tolerances,
            out,
        }),
        Command::Calibrate { results, out } => {
            crate::calibrate::run(&crate::calibrate::CalibrateOptions { results, out })
        }
        Command::Run {
            scenario,
            out,
            seed,
            quiet,
            thresholds,
            metrics_addr,
            target,
            endpoint_url,
            allow_aws,
            max_rate,
            max_requests,
            dry_run,
            shard,
            run_id,
            start_at,
            results_uri,
        } => block_on(run_scenario(RunOptions {
            scenario,
            out,
            seed,
            quiet,
            thresholds,
            metrics_addr,
            guard: crate::guard::Overrides {
                target,
                endpoint_url,
                allow_aws,
                max_rate_per_s: max_rate,
                max_requests,
            },
            dry_run,
            sharding: crate::shard::ShardFlags {
                shard,
                run_id,
                start_at,
                results_uri,
            },
            shard: None,
        })),
        Command::Merge {
            sources,
            out,
            thresholds,
            allow_missing,
            endpoint_url,
        } => block_on(crate::merge::run(&crate::merge::MergeOptions {
            sources,
            out,
            thresholds,
            allow_missing,
            endpoint_url,
        })),
        Command::Rollback {
            journal,
            endpoint_url,
        } => block_on(crate::rollback_cmd::run(journal, endpoint_url)),
        Command::Sim {
            listen,
            no_admin,
            admin_allow_remote,
            max_object_bytes,
            max_store_bytes,
            max_body_bytes,
            max_connections,
            seed,
            access_key_id,
            secret_access_key,
            scenario,
            instance_credentials_ttl,
            imds_rotate_before,
            imds_association_lag,
        } => block_on(serve_sim(SimOptions {
            listen,
            limits: crate::sim_cmd::SimLimits {
                no_admin,
                admin_allow_remote,
                max_object_bytes,
                max_store_bytes,
                max_body_bytes,
                max_connections: max_connections.map(|c| c as usize),
            },
            seed,
            access_key_id,
            secret_access_key,
            scenario,
            instance_credentials_ttl,
            imds_rotate_before,
            imds_association_lag,
        })),
    };
    exit.into()
}

/// A byte size: a whole number with an optional unit (B, KB, MB, GB,
/// KiB, MiB, GiB), e.g. "64MiB".
pub fn parse_bytes_arg(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: write a whole number of bytes with an optional unit, e.g. \"64MiB\""))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {other:?} (use B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    match number.checked_mul(scale) {
        Some(0) => Err(format!("invalid size {text:?}: it must be greater than 0")),
        Some(n) => Ok(n),
        None => Err(format!("invalid size {text:?}: it is too large")),
    }
}

fn parse_target_kind(text: &str) -> Result<crate::scenario::TargetKind, String> {
    crate::scenario::TargetKind::from_name(text)
        .ok_or_else(|| format!("unknown target {text:?}: use sim, endpoint or aws"))
}

fn parse_rate_arg(text: &str) -> Result<f64, String> {
    let rate = if text.contains('/') {
        crate::scenario::parse_rate_per_s(text)
            .map_err(|e| format!("invalid rate {text:?}: {e}"))?
    } else {
        text.parse::<f64>()
            .map_err(|_| format!("invalid rate {text:?}: write 100 or \"100/s\""))?
    };
    crate::scenario::check_rate_per_s(rate).map_err(|e| format!("rate {e}"))
}

fn parse_threshold_arg(text: &str) -> Result<crate::thresholds::Threshold, String> {
    crate::thresholds::parse(text).map_err(|e| {
        format!(
            "{} at column {}\n  {text}\n  {}^\n  help: {}",
            e.message,
            e.at + 1,
            " ".repeat(e.at),
            e.help
        )
    })
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::scenario::parse_duration(text).map_err(|e| e.to_string())
}

fn init_tracing() {
    // Quiet by default: the SDK's WARN lines about IMDS are part of what a
    // scenario provokes; RUST_LOG=aws_config=warn shows them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,s3s=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn validate(path: &std::path::Path) -> Exit {
    match crate::scenario::load(path) {
        Ok(s) => {
            for w in crate::scenario::plausibility::warnings(&s) {
                outln!("{}: warning: {w}", path.display());
            }
            outln!(
                "{}: ok — scenario {:?}, {} load entries, {} timeline actions, {} instances",
                path.display(),
                s.name,
                s.load.len(),
                s.timeline.len(),
                s.fleet.iter().map(|g| g.instances as u64).sum::<u64>()
            );
            Exit::Ok
        }
        Err(e) => {
            errln!("{e}");
            Exit::BadInput
        }
    }
}

pub use crate::sim_cmd::{SimOptions, serve_sim};

/// SIGINT/SIGTERM listeners, installed when built: a signal that arrives
/// after `install` and before `recv` is polled is kept, not lost (tokio only
/// reports signals to listeners that already exist).
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Installs the listeners; call before announcing that work has started.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            ShutdownSignal {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignal {}
        }
    }

    /// Resolves on the first SIGINT or SIGTERM since `install`.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => {}
                _ = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
