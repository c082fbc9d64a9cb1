//! Interruption without loss: SIGINT/SIGTERM at several points of a run —
//! during setup, during the fleet's boots, after the load while results
//! are written, and right after a timeline IAM change against a standalone
//! `iamstorm sim` as an endpoint — always ends with exit 130, a complete,
//! parseable results directory (no `.tmp` left), and every journaled IAM
//! change restored. (Mid-load: `tests/cli.rs`
//! `sigint_mid_run_writes_what_was_measured_and_exits_130`; mid-load against
//! `aws`: `tests/targets.rs` `sigterm_mid_run_restores_the_changes_and_exits_130`.)
//!
//! Every signal is sent after a line the run prints (or, for the timeline,
//! the journal's `applied` record), never after a sleep.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

mod standalone;
use standalone::Sim;

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;
const EXTRA_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets"}]}"#;

/// A scenario: `objects` in the bucket, a boot delay, reads for `duration`,
/// and an extra inline policy put at 500 ms.
fn scenario(dir: &Path, objects: &str, boot_delay: &str, duration: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("read.json"), READ_POLICY).expect("policy");
    std::fs::write(dir.join("extra.json"), EXTRA_POLICY).expect("policy");
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "interrupted"
seed = 9
duration = "{duration}"

[sim.propagation]
model = "fixed"
delay = "100ms"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ read = "read.json" }}

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "{objects}"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 2
boot_delay = "{boot_delay}"

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{{0..9}}"
rate = 20

[[timeline]]
at = "500ms"
action = "put-role-policy"
role = "app-role"
policy_name = "extra"
policy = "extra.json"
"#
        ),
    )
    .expect("scenario");
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-intr-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `iamstorm run SCENARIO --out OUT` with stderr piped (progress lines).
fn spawn(cmd: &mut Command, scenario: &Path, out: &Path) -> (Child, Lines<BufReader<ChildStderr>>) {
    let mut child = cmd
        .args([
            "run",
            scenario.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iamstorm runs");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, lines)
}

/// Reads progress lines until one starts with `prefix`.
fn wait_for_line(lines: &mut Lines<BufReader<ChildStderr>>, prefix: &str) {
    for line in lines.by_ref() {
        if line.expect("utf-8").starts_with(prefix) {
            return;
        }
    }
    panic!("the run ended without printing a line starting with {prefix:?}");
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the exit; returns the rest of stderr.
fn finish(mut child: Child, lines: Lines<BufReader<ChildStderr>>) -> (Option<i32>, String) {
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("exits");
    (status.code(), rest.join("\n"))
}

/// The results directory is complete: every file there, none half-written,
/// summary.json parses. Returns the summary.
fn complete_results(out: &Path) -> serde_json::Value {
    for file in [
        "summary.json",
        "timeseries.csv",
        "summary.txt",
        "junit.xml",
        "report.md",
        "report.html",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} written in {}",
            out.display()
        );
    }
    for entry in std::fs::read_dir(out).expect("out dir") {
        let name = entry.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().ends_with(".tmp"),
            "no half-written file left: {name:?}"
        );
    }
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json parses")
}

fn verdicts(summary: &serde_json::Value) -> String {
    summary["verdict_lines"].to_string()
}

#[test]
fn sigint_during_setup_writes_empty_results_and_exits_130() {
    let dir = temp_dir("setup");
    // Twenty thousand objects to upload: setup outlasts the signal's delivery.
    let path = scenario(&dir, "obj-{0..19999}", "0s", "10s");
    let out = dir.join("out");
    let (child, mut lines) = spawn(
        &mut Command::new(env!("CARGO_BIN_EXE_iamstorm")),
        &path,
        &out,
    );
    wait_for_line(&mut lines, "setup:");
    signal(&child, "INT");
    let (code, rest) = finish(child, lines);
    assert_eq!(code, Some(130), "{rest}");
    let summary = complete_results(&out);
    assert_eq!(summary["requests_total"], 0);
    assert!(
        verdicts(&summary).contains("interrupted during setup"),
        "{}",
        verdicts(&summary)
    );
    assert!(!rest.contains("panicked"), "{rest}");
}

#[test]
fn sigterm_during_boots_writes_empty_results_and_exits_130() {
    let dir = temp_dir("boots");
    // A minute's boot delay: the signal lands while the fleet boots.
    let path = scenario(&dir, "obj-{0..9}", "60s", "10s");
    let out = dir.join("out");
    let started = Instant::now();
    let (child, mut lines) = spawn(
        &mut Command::new(env!("CARGO_BIN_EXE_iamstorm")),
        &path,
        &out,
    );
    wait_for_line(&mut lines, "fleet: launching");
    signal(&child, "TERM");
    let (code, rest) = finish(child, lines);
    assert_eq!(code, Some(130), "{rest}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the boots were abandoned, not waited for"
    );
    let summary = complete_results(&out);
    assert_eq!(summary["requests_total"], 0);
    assert!(
        verdicts(&summary).contains("interrupted while the fleet booted"),
        "{}",
        verdicts(&summary)
    );
}

#[test]
fn sigint_after_the_load_finishes_the_results_and_exits_130() {
    let dir = temp_dir("reports");
    let path = scenario(&dir, "obj-{0..9}", "0s", "2s");
    let out = dir.join("out");
    let (child, mut lines) = spawn(
        &mut Command::new(env!("CARGO_BIN_EXE_iamstorm")),
        &path,
        &out,
    );
    // Printed once the load has stopped, before the truth check and reports.
    wait_for_line(&mut lines, "timeline: put-role-policy");
    signal(&child, "INT");
    let (code, rest) = finish(child, lines);
    assert_eq!(code, Some(130), "{rest}");
    let summary = complete_results(&out);
    assert_eq!(
        summary["duration_s"].as_f64(),
        Some(2.0),
        "the whole run is reported"
    );
    assert!(summary["requests_total"].as_u64() > Some(0));
    assert!(out.join("events.csv").is_file());
}

/// The role's inline policy names on the standalone double.
async fn inline_policy_names(sim: &Sim) -> Vec<String> {
    let mut names = sim
        .iam()
        .list_role_policies()
        .role_name("app-role")
        .send()
        .await
        .expect("list role policies")
        .policy_names()
        .to_vec();
    names.sort();
    names
}

/// Waits (bounded) until the journal records `n` applied changes: the file
/// is the run's own record, fsync'd before and after each change.
fn await_applied(out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(out.join("journal.jsonl"))
        .unwrap_or_default()
        .matches("\"state\":\"applied\"")
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "no {n} applied changes in the journal"
        );
        // A poll of the journal (the condition itself), not a timed guess.
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn sigint_right_after_a_timeline_change_restores_it_on_the_endpoint() {
    let dir = temp_dir("endpoint");
    let path = scenario(&dir, "obj-{0..9}", "0s", "60s");
    let sim = Sim::start(Some(&path));
    assert_eq!(inline_policy_names(&sim).await, ["read"]);
    let out = dir.join("out");
    let mut child = sim
        .iamstorm(&[
            "run",
            path.to_str().expect("utf-8"),
            "--target",
            "endpoint",
            "--endpoint-url",
            sim.url(),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iamstorm runs");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    await_applied(&out, 1);
    assert_eq!(
        inline_policy_names(&sim).await,
        ["extra", "read"],
        "changed mid-run"
    );
    signal(&child, "INT");
    let (code, rest) = finish(child, lines);
    assert_eq!(code, Some(130), "{rest}");
    assert_eq!(
        inline_policy_names(&sim).await,
        ["read"],
        "the change was restored: {rest}"
    );
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).expect("journal");
    assert!(journal.contains("\"state\":\"restored\""), "{journal}");
    let summary = complete_results(&out);
    assert!(summary["duration_s"].as_f64() < Some(60.0));
}
