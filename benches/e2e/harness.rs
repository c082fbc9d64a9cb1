//! iamstorm itself under measurement, through `run::execute`: CPU per
//! request of the SDK and raw engines (closed model), the pacer's
//! per-second accuracy (open model), the propagation measurement's error
//! against the double's ground truth, RSS over a long run, and the
//! quickstart's time to its first request.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::run::RunOutcome;

use crate::accounting::{Window, cpu_s, open_fds, rss_kib};
use crate::servers::WORLD;

/// A fleet and one GetObject entry; `load` adds the entry's model lines.
fn scenario_text(name: &str, duration: &str, instances: u32, load: &str) -> String {
    format!(
        r#"name = "{name}"
seed = 1
duration = "{duration}"
{WORLD}
[[fleet]]
group = "bench"
instance_profile = "bench-profile"
instances = {instances}
workers_per_instance = 16

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "bench"
keys = "obj-{{0..99}}"
{load}
"#
    )
}

/// Runs scenario `text` in this process: against the standalone double at
/// `endpoint`, or against an embedded double (with the scenario's own
/// `[sim]` settings) when `endpoint` is `None`.
async fn execute(dir: &Path, name: &str, text: &str, endpoint: Option<&str>) -> RunOutcome {
    let file = dir.join(format!("{name}.toml"));
    let scenario = iamstorm::scenario::parse(&file.to_string_lossy(), text, dir)
        .unwrap_or_else(|e| panic!("{e}"));
    let guard = match endpoint {
        Some(url) => iamstorm::guard::Overrides {
            target: Some(iamstorm::scenario::TargetKind::Endpoint),
            endpoint_url: Some(url.to_owned()),
            ..Default::default()
        },
        None => iamstorm::guard::Overrides::default(),
    };
    let opts = iamstorm::run::RunOptions {
        scenario: file,
        out: Some(dir.join(name)),
        seed: Some(1),
        quiet: true,
        guard,
        ..Default::default()
    };
    iamstorm::run::execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", e.message))
}

fn failed(outcome: &RunOutcome) -> u64 {
    let s = &outcome.summary;
    s.requests_total - s.counts_by_class.get(OutcomeClass::Ok)
}

/// Goals 1 and 3: one engine's whole run (setup, boots, reports included),
/// closed model, 4 instances x 16 workers, against the standalone double.
pub(crate) async fn harness(
    endpoint: &str,
    dir: &Path,
    server: u32,
    window: Duration,
    engine: &str,
) -> Window {
    let text = scenario_text(
        &format!("bench-harness-{engine}"),
        &format!("{}s", window.as_secs()),
        4,
        &format!("model = \"closed\"\nworkers = 16\nengine = \"{engine}\"\n"),
    );
    let (c0, s0, t0) = (cpu_s(std::process::id()), cpu_s(server), Instant::now());
    let outcome = execute(dir, &format!("harness-{engine}"), &text, Some(endpoint)).await;
    Window {
        requests: outcome.summary.requests_total,
        errors: failed(&outcome),
        secs: t0.elapsed().as_secs_f64(),
        client_cpu_s: cpu_s(std::process::id()) - c0,
        server_cpu_s: cpu_s(server) - s0,
    }
}

/// Goal 5: one open-model run at a fixed rate, judged per interval by
/// actual sends (`summary.json`'s `rate_per_s.per_interval`).
#[derive(Clone, Debug)]
pub(crate) struct Accuracy {
    pub(crate) rate_per_s: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) intervals: u32,
    pub(crate) intervals_outside_1pct: u32,
    pub(crate) worst_error_pct: f64,
    pub(crate) late_starts: u64,
}

pub(crate) async fn rate_accuracy(
    endpoint: &str,
    dir: &Path,
    rate_per_s: u64,
    secs: u64,
) -> Accuracy {
    let text = scenario_text(
        &format!("bench-rate-{rate_per_s}"),
        &format!("{secs}s"),
        4,
        &format!("rate = {rate_per_s}\n"),
    );
    let outcome = execute(dir, &format!("rate-{rate_per_s}"), &text, Some(endpoint)).await;
    let op = &outcome.summary.ops[0];
    let per_interval = op
        .rate_per_s
        .per_interval
        .expect("an open-model entry has per-interval targets");
    Accuracy {
        rate_per_s,
        requests: op.requests,
        errors: failed(&outcome),
        intervals: per_interval.intervals,
        intervals_outside_1pct: per_interval.intervals_outside_1pct,
        worst_error_pct: per_interval.worst_error_pct,
        late_starts: op.late_starts,
    }
}

/// Goal 7: the harness's propagation measurement against the double's
/// ground truth over many changes.
#[derive(Clone, Debug)]
pub(crate) struct PropagationError {
    pub(crate) changes: usize,
    /// Changes with both a measured stable time and a truth.
    pub(crate) judged: usize,
    pub(crate) probe_interval_ms: f64,
    pub(crate) error_ms_abs_p50: f64,
    pub(crate) error_ms_abs_p99: f64,
    pub(crate) error_ms_abs_max: f64,
    pub(crate) errors: u64,
}

/// Probes per second in the propagation run: one instance, so the probe
/// interval is 1 / this.
const PROBE_RATE_PER_S: u64 = 200;
/// Time between changes: the delay model's 5–30 ms settles well within it.
const CHANGE_SPACING_MS: u64 = 60;

/// Alternating grants and revokes of GetObject on an embedded double with
/// one replica and a fast delay model (5–30 ms), probed by one instance at
/// [`PROBE_RATE_PER_S`]. One replica, so the truth is one application
/// time per change and the error is the measurement's own: probe spacing,
/// timestamping and the clocks' alignment.
pub(crate) async fn propagation_error(dir: &Path, changes: usize) -> PropagationError {
    let first_ms = 1_000;
    let mut text = format!(
        r#"name = "bench-propagation"
seed = 7
duration = "{}ms"

[sim.propagation]
replicas = 1
model = "uniform"
min = "5ms"
max = "30ms"

[[iam.roles]]
name = "bench-role"
trust = "ec2"

[[iam.instance_profiles]]
name = "bench-profile"
role = "bench-role"

[[s3.buckets]]
name = "bench"
objects = "obj-{{0..9}}"
object_size = "100B"

[[fleet]]
group = "bench"
instance_profile = "bench-profile"
instances = 1
workers_per_instance = 16

[[load]]
name = "probe"
op = "s3:GetObject"
bucket = "bench"
keys = "obj-{{0..9}}"
rate = {PROBE_RATE_PER_S}
"#,
        first_ms + (changes as u64 + 1) * CHANGE_SPACING_MS
    );
    for i in 0..changes as u64 {
        let at_ms = first_ms + i * CHANGE_SPACING_MS;
        if i % 2 == 0 {
            text.push_str(&format!(
                "\n[[timeline]]\nat = \"{at_ms}ms\"\naction = \"put-role-policy\"\nrole = \"bench-role\"\npolicy_name = \"read\"\npolicy = \"read.json\"\nmeasure = \"grant\"\n"
            ));
        } else {
            text.push_str(&format!(
                "\n[[timeline]]\nat = \"{at_ms}ms\"\naction = \"delete-role-policy\"\nrole = \"bench-role\"\npolicy_name = \"read\"\nmeasure = \"revoke\"\n"
            ));
        }
    }
    let outcome = execute(dir, "propagation", &text, None).await;
    let mut abs: Vec<f64> = outcome
        .summary
        .propagation
        .iter()
        .filter_map(|p| p.error_ms_max)
        .map(f64::abs)
        .collect();
    abs.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        abs.get(((abs.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    PropagationError {
        changes: outcome.summary.propagation.len(),
        judged: abs.len(),
        probe_interval_ms: 1_000.0 / PROBE_RATE_PER_S as f64,
        error_ms_abs_p50: pct(0.50),
        error_ms_abs_p99: pct(0.99),
        error_ms_abs_max: abs.last().copied().unwrap_or(f64::NAN),
        // Denials are the point here; anything else is a failure.
        errors: outcome.summary.requests_total
            - outcome.summary.counts_by_class.get(OutcomeClass::Ok)
            - outcome
                .summary
                .counts_by_class
                .get(OutcomeClass::AccessDenied),
    }
}

/// Goal 6: RSS and open files of the harness (this process) and the
/// double (the child) sampled through a long steady run.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemorySeries {
    pub(crate) rate_per_s: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// (seconds since start, harness RSS KiB, double RSS KiB, harness fds, double fds).
    pub(crate) samples: Vec<(f64, u64, u64, usize, usize)>,
}

/// How often the memory series is sampled.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_secs(10);

pub(crate) async fn memory(
    endpoint: &str,
    dir: &Path,
    server: u32,
    rate_per_s: u64,
    run_for: Duration,
) -> MemorySeries {
    let text = scenario_text(
        "bench-memory",
        &format!("{}s", run_for.as_secs()),
        4,
        &format!("rate = {rate_per_s}\n"),
    );
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let t0 = Instant::now();
        let me = std::process::id();
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(MEMORY_SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => samples.push((
                    t0.elapsed().as_secs_f64(),
                    rss_kib(me),
                    rss_kib(server),
                    open_fds(me),
                    open_fds(server),
                )),
                _ = &mut stopped => return samples,
            }
        }
    });
    let outcome = execute(dir, "memory", &text, Some(endpoint)).await;
    let _ = stop.send(());
    MemorySeries {
        rate_per_s,
        requests: outcome.summary.requests_total,
        errors: failed(&outcome),
        samples: sampler.await.expect("sampler"),
    }
}

/// Goal 8: from `iamstorm run scenarios/quickstart.toml` starting to its
/// load starting (the double up, setup done, the fleet booted on IMDS
/// credentials; the run prints `load:` as its first requests go out).
/// The run is then interrupted (SIGINT), as a user would.
pub(crate) fn time_to_first_request(dir: &Path) -> Option<Duration> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(["run", "scenarios/quickstart.toml", "--out"])
        .arg(dir.join("quickstart"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let stderr = child.stderr.take()?;
    let mut first = None;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.starts_with("load: ") {
            first = Some(started.elapsed());
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    first
}
