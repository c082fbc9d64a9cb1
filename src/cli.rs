//! Command-line interface: `run`, `sim`, `validate`. Each command returns an
//! `Exit`; only this module prints errors for humans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::run::{RunOptions, run_scenario};
use crate::sim::{self, SimConfig};

#[derive(Parser, Debug)]
#[command(
    name = "iamstorm",
    version,
    about = "Reproduce and measure AccessDenied storms: IAM propagation races, throttling and credential failures under scale-out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
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
    },
    /// Serve the AWS double standalone (S3, STS, IAM, admin API) until Ctrl-C.
    Sim {
        /// Listen address; loopback by default.
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: SocketAddr,
        /// Seed for the propagation model and ids.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The administrator's access key id (default: AWS's documentation example key).
        #[arg(long, default_value = crate::sim::state::EXAMPLE_ACCESS_KEY_ID)]
        access_key_id: String,
        /// The administrator's secret access key.
        #[arg(long, default_value = crate::sim::state::EXAMPLE_SECRET_ACCESS_KEY)]
        secret_access_key: String,
    },
    /// Check a scenario file without running it.
    Validate { scenario: PathBuf },
}

/// Runs an async command on a fresh multi-threaded runtime.
fn block_on(command: impl std::future::Future<Output = Exit>) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            Exit::Internal
        }
    }
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing();
    let exit = match cli.command {
        Command::Validate { scenario } => validate(&scenario),
        Command::Run {
            scenario,
            out,
            seed,
            quiet,
        } => block_on(run_scenario(RunOptions {
            scenario,
            out,
            seed,
            quiet,
        })),
        Command::Sim {
            listen,
            seed,
            access_key_id,
            secret_access_key,
        } => block_on(serve_sim(SimConfig {
            listen,
            seed,
            admin_access_key_id: access_key_id,
            admin_secret_access_key: secret_access_key,
            ..SimConfig::default()
        })),
    };
    exit.into()
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
            println!(
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
            eprintln!("{e}");
            Exit::BadInput
        }
    }
}

async fn serve_sim(config: SimConfig) -> Exit {
    let (listen, seed) = (config.listen, config.seed);
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: serving the double on {listen}, which is not a loopback address: anyone who can reach it can use the example admin keys"
        );
    }
    let config = SimConfig {
        listen,
        seed,
        ..SimConfig::default()
    };
    let handle = match sim::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {listen}: {e}\n  help: pick another port with --listen 127.0.0.1:PORT"
            );
            return Exit::TargetUnavailable;
        }
    };
    println!(
        "# iamstorm double on {} (seed {seed}); admin API {}",
        handle.endpoint_url(),
        handle.admin_url()
    );
    println!("export AWS_ENDPOINT_URL={}", handle.endpoint_url());
    println!("export AWS_ACCESS_KEY_ID={}", handle.admin_access_key_id);
    println!(
        "export AWS_SECRET_ACCESS_KEY={}",
        handle.admin_secret_access_key
    );
    println!("export AWS_REGION={}", handle.region);
    // AWS CLI v1 and older boto3 read the region from this one.
    println!("export AWS_DEFAULT_REGION={}", handle.region);
    wait_for_shutdown_signal().await;
    handle.shutdown();
    eprintln!("iamstorm sim: stopped");
    Exit::Ok
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
