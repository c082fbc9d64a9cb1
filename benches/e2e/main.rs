//! End-to-end comparisons (issue 6), each a ratio of two figures measured
//! side by side in one run — the machine is shared and noisy, so absolute
//! numbers mean little and ratios against a same-run baseline mean a lot.
//! CPU per request comes from the OS's accounting (`/proc/PID/stat`),
//! which is steadier than throughput on a shared machine: the client side
//! is this process, the server side the child serving it.
//!
//! Servers (children, all on 127.0.0.1): a minimal hyper 1 server (this
//! binary re-executed, 100-byte body), a standalone `iamstorm sim` with
//! quotas raised so nothing throttles (SigV4, IAM evaluation at a replica,
//! throttling and routing all on), and moto server when it is installed.
//!
//! Clients (64 concurrent tasks here, or the harness in-process):
//! - unsigned hyper GETs against the minimal server — the wrk analogue;
//! - a bare aws-sdk-s3 GetObject loop, default config with retries off,
//!   credentials from one simulated instance's IMDS;
//! - the same loop with the lean config (checksums only when required,
//!   stalled-stream protection off, no S3 Express session auth, a
//!   path-style endpoint resolver instead of S3's rules engine);
//! - iamstorm's own SDK and raw engines: `run::execute` against the
//!   standalone double (closed model, 4 instances x 16 workers), whole run
//!   included; then open-model runs judged per second by actual sends
//!   (goal 5), many grant/revoke changes on an embedded double checked
//!   against its ground truth (goal 7), and the quickstart's time to its
//!   first request (goal 8).
//!
//! Modes:
//! - `cargo bench --bench e2e`: 8-s windows, 10-s accuracy runs, 1,000
//!   changes; writes `results/bench/e2e.md`.
//! - `-- --quick`: 2-s windows, 3-s accuracy runs, 200 changes; writes
//!   nothing.
//! - `-- --long [MINUTES]` (default 10): goal 6 only — a steady 1,000 req/s
//!   run with RSS and open files of both processes sampled every 10 s;
//!   writes `results/bench/memory.md`.
//! - under `cargo test --benches` (CI): a smoke run — 1-s windows, two
//!   short accuracy runs, 20 changes; every stream must run without
//!   errors, nothing is written, no ratio is judged.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod accounting;
mod clients;
mod harness;
mod moto;
mod servers;
mod table;

use clients::{get_loop, s3_client, unsigned_loop};
use harness::{harness, memory, propagation_error, rate_accuracy, time_to_first_request};
use servers::{Server, minimal_server, spawn, world};
use table::{Measured, render, render_memory};

/// The `iamstorm` binary's allocator, so the in-process harness runs as it
/// does for users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in the environment of the re-executed binary that serves as the minimal server.
const ROLE_ENV: &str = "IAMSTORM_BENCH_ROLE";
/// Requests in flight per client loop.
const TASKS: usize = 64;
/// The minimal server's body, and the double's objects' size.
const BODY: &[u8] = &[b'x'; 100];
const REGION: &str = "us-east-1";
/// Goal 6's steady rate.
const MEMORY_RATE_PER_S: u64 = 1_000;

/// How much of each comparison a mode runs.
#[derive(Clone, Copy, Debug)]
struct Settings {
    /// CPU windows (after a 1-s warm-up).
    window: Duration,
    /// Each rate-accuracy run.
    accuracy_secs: u64,
    /// Rates judged for accuracy; the 80 %-of-ceiling run is added when set.
    accuracy_rates: &'static [u64],
    accuracy_at_ceiling: bool,
    /// Grant/revoke changes in the propagation run.
    changes: usize,
    /// Write `results/bench/e2e.md`.
    write: bool,
}

const SMOKE: Settings = Settings {
    window: Duration::from_secs(1),
    accuracy_secs: 2,
    accuracy_rates: &[10, 100],
    accuracy_at_ceiling: false,
    changes: 20,
    write: false,
};
const QUICK: Settings = Settings {
    window: Duration::from_secs(2),
    accuracy_secs: 3,
    accuracy_rates: &[10, 100, 1_000],
    accuracy_at_ceiling: true,
    changes: 200,
    write: false,
};
const FULL: Settings = Settings {
    window: Duration::from_secs(8),
    accuracy_secs: 10,
    accuracy_rates: &[10, 100, 1_000],
    accuracy_at_ceiling: true,
    changes: 1_000,
    write: true,
};

fn main() {
    if std::env::var(ROLE_ENV).as_deref() == Ok("minimal-server") {
        minimal_server();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // this is CI's smoke run (mechanics checked, nothing written).
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench");
    let long_minutes = args.iter().position(|a| a == "--long").map(|i| {
        args.get(i + 1)
            .and_then(|m| m.parse::<u64>().ok())
            .unwrap_or(10)
    });
    let settings = if !benching {
        SMOKE
    } else if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    // The in-process harness finds the double's operator keys through the
    // default credential chain; set before any thread exists.
    // SAFETY: single-threaded here (no runtime yet), so no concurrent reader.
    unsafe {
        std::env::set_var(
            "AWS_ACCESS_KEY_ID",
            iamstorm::sim::state::EXAMPLE_ACCESS_KEY_ID,
        );
        std::env::set_var(
            "AWS_SECRET_ACCESS_KEY",
            iamstorm::sim::state::EXAMPLE_SECRET_ACCESS_KEY,
        );
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/iamstorm-bench");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/iamstorm-bench");
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_ENDPOINT_URL");
        std::env::set_var("NO_PROXY", "127.0.0.1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("iamstorm-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    if let Some(minutes) = long_minutes {
        let series = rt.block_on(async {
            let sim = Double::start(&dir);
            eprintln!("measuring: {minutes} min at {MEMORY_RATE_PER_S} req/s, RSS every 10 s");
            memory(
                &sim.endpoint,
                &dir,
                sim.server.pid(),
                MEMORY_RATE_PER_S,
                Duration::from_secs(minutes * 60),
            )
            .await
        });
        let _ = std::fs::remove_dir_all(&dir);
        let text = render_memory(&series);
        println!("{text}");
        assert_eq!(
            series.errors, 0,
            "{} of {} requests failed",
            series.errors, series.requests
        );
        let path = results("memory.md");
        std::fs::write(&path, &text).expect("write results/bench/memory.md");
        println!("written: {}", path.display());
        return;
    }
    let measured = rt.block_on(compare(&dir, settings));
    let _ = std::fs::remove_dir_all(&dir);
    let table = render(&measured);
    println!("{table}");
    // Every stream must have run, and without errors: otherwise the ratios
    // above compare nothing.
    for (name, w) in measured.streams() {
        assert!(w.requests > 0, "{name}: no requests");
        assert_eq!(
            w.errors, 0,
            "{name}: {} of {} requests failed",
            w.errors, w.requests
        );
    }
    for a in &measured.accuracy {
        assert!(
            a.requests > 0 && a.errors == 0,
            "accuracy run at {}/s: {a:?}",
            a.rate_per_s
        );
    }
    let p = &measured.propagation;
    assert_eq!(p.changes, settings.changes, "every change measured: {p:?}");
    assert_eq!(p.errors, 0, "propagation run: {p:?}");
    if settings.write {
        let path = results("e2e.md");
        std::fs::write(&path, &table).expect("write results/bench/e2e.md");
        println!("written: {}", path.display());
    }
}

fn results(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results/bench")
        .join(file)
}

/// The standalone double every client stream and harness run targets.
struct Double {
    server: Server,
    endpoint: String,
    /// The IMDS endpoint of the instance it launched for the bare loops.
    imds: String,
}

impl Double {
    fn start(dir: &Path) -> Double {
        let mut sim = Command::new(env!("CARGO_BIN_EXE_iamstorm"));
        sim.args(["sim", "--listen", "127.0.0.1:0", "--scenario"])
            .arg(world(dir));
        let server = spawn(sim, |l| {
            l.iter().any(|l| l.starts_with("export AWS_DEFAULT_REGION"))
        });
        let endpoint = server
            .lines
            .iter()
            .find_map(|l| l.strip_prefix("export AWS_ENDPOINT_URL="))
            .expect("endpoint")
            .to_owned();
        let imds = server
            .lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("# instance ")
                    .and_then(|r| r.split_whitespace().nth(2))
            })
            .expect("an instance's IMDS endpoint")
            .to_owned();
        Double {
            server,
            endpoint,
            imds,
        }
    }

    /// Credentials the way an instance gets them: the SDK's IMDS provider.
    fn instance_creds(&self) -> aws_credential_types::provider::SharedCredentialsProvider {
        let client = aws_config::imds::Client::builder()
            .endpoint(self.imds.as_str())
            .expect("imds endpoint")
            .build();
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .imds_client(client)
                .build(),
        )
    }
}

async fn compare(dir: &Path, settings: Settings) -> Measured {
    let window = settings.window;
    let mut minimal = Command::new(std::env::current_exe().expect("self"));
    minimal.env(ROLE_ENV, "minimal-server");
    let minimal = spawn(minimal, |l| !l.is_empty());
    let port: u16 = minimal.lines[0].parse().expect("port");
    let sim = Double::start(dir);
    let (endpoint, sim_pid) = (sim.endpoint.as_str(), sim.server.pid());

    eprintln!("measuring: unsigned GETs against the minimal hyper server ({window:?})");
    let unsigned = unsigned_loop(port, minimal.pid(), window).await;
    eprintln!("measuring: bare SDK GetObject loop, default config, against the double");
    let bare = get_loop(
        s3_client(endpoint, false, sim.instance_creds()),
        "bench",
        sim_pid,
        window,
    )
    .await;
    eprintln!("measuring: the same SDK loop against the minimal hyper server");
    let bare_minimal = get_loop(
        s3_client(
            &format!("http://127.0.0.1:{port}"),
            false,
            sim.instance_creds(),
        ),
        "bench",
        minimal.pid(),
        window,
    )
    .await;
    eprintln!("measuring: bare SDK GetObject loop, lean config");
    let lean = get_loop(
        s3_client(endpoint, true, sim.instance_creds()),
        "bench",
        sim_pid,
        window,
    )
    .await;
    eprintln!("measuring: iamstorm's SDK engine (run::execute, closed model)");
    let engine = harness(endpoint, dir, sim_pid, window, "sdk").await;
    eprintln!("measuring: iamstorm's raw engine (run::execute, closed model)");
    let raw = harness(endpoint, dir, sim_pid, window, "raw").await;
    let mut rates = settings.accuracy_rates.to_vec();
    if settings.accuracy_at_ceiling {
        // 80 % of the SDK engine's closed-loop ceiling just measured.
        rates.push((engine.rate() * 0.8).round() as u64);
    }
    let mut accuracy = Vec::new();
    for rate in rates {
        eprintln!(
            "measuring: rate accuracy at {rate}/s for {} s",
            settings.accuracy_secs
        );
        accuracy.push(rate_accuracy(endpoint, dir, rate, settings.accuracy_secs).await);
    }
    eprintln!(
        "measuring: propagation error over {} changes",
        settings.changes
    );
    let propagation = propagation_error(dir, settings.changes).await;
    eprintln!("measuring: moto server, if installed");
    let moto = moto::moto(window).await;
    eprintln!("measuring: time to the quickstart's first request");
    let first = time_to_first_request(dir);
    Measured {
        window,
        unsigned,
        bare,
        bare_minimal,
        lean,
        engine,
        raw,
        moto,
        accuracy,
        propagation,
        first,
    }
}
