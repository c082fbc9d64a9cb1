//! The binary end to end: README command 1 (the quickstart), a measured
//! revoke, and bad input. Real processes, real double, real SDK.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn iamstorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the iamstorm binary runs")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json parses")
}

fn count(s: &serde_json::Value, class: &str) -> u64 {
    s["counts_by_class"][class]
        .as_u64()
        .unwrap_or_else(|| panic!("class {class} present in counts_by_class"))
}

#[test]
fn quickstart_reproduces_the_runbook() {
    let dir = out_dir("quickstart");
    let out = iamstorm(&[
        "run",
        "scenarios/quickstart.toml",
        "--out",
        dir.to_str().expect("utf-8 path"),
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("seed 42"), "the seed is printed: {stdout}");
    let s = summary(&dir);
    for key in [
        "seed",
        "scenario",
        "duration_s",
        "requests_total",
        "counts_by_class",
        "latency_ms",
        "rate_per_s",
        "propagation",
    ] {
        assert!(s.get(key).is_some(), "summary.json has {key}");
    }
    assert_eq!(s["seed"], 42);
    // Before the grant propagates: denied. After: served. In the surge: throttled.
    assert!(count(&s, "access_denied") > 100, "{s}");
    assert!(count(&s, "ok") > 1000, "{s}");
    assert!(count(&s, "throttled") > 100, "{s}");
    assert_eq!(count(&s, "credentials_unavailable"), 0);
    let p = &s["propagation"][0];
    assert_eq!(p["kind"], "grant");
    let max_ms = p["delay_ms"]["max"].as_f64().expect("a measured delay");
    // The model: uniform 1–4 s per replica.
    assert!(
        (500.0..=4500.0).contains(&max_ms),
        "grant delay {max_ms} ms outside the model's bounds"
    );
    let truth_max = p["truth_delay_ms"]["max"]
        .as_f64()
        .expect("ground truth compared");
    assert!((1000.0..=4100.0).contains(&truth_max), "truth {truth_max}");
    let error = p["error_ms_max"].as_f64().expect("error vs truth");
    assert!(
        error.abs() < 500.0,
        "measured stable time within 0.5 s of the truth, got {error} ms"
    );
    let csv = std::fs::read_to_string(dir.join("timeseries.csv")).expect("timeseries.csv");
    assert!(csv.starts_with("second,op,class,count"), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",throttled,")));
    let verdicts = s["verdict_lines"].as_array().expect("verdict lines");
    assert!(
        verdicts
            .iter()
            .any(|v| v.as_str().is_some_and(|v| v.contains("propagation"))),
        "{verdicts:?}"
    );
}

#[test]
fn a_revoke_is_measured_with_its_exposure() {
    let dir = out_dir("revoke");
    let out = iamstorm(&[
        "run",
        "tests/data/scenarios/revoke.toml",
        "--out",
        dir.to_str().expect("utf-8 path"),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&dir);
    let p = &s["propagation"][0];
    assert_eq!(p["kind"], "revoke");
    assert!(
        p["exposure_requests"].as_u64().expect("exposure") > 0,
        "requests kept succeeding after the revoke: {p}"
    );
    let truth_max = p["truth_delay_ms"]["max"].as_f64().expect("truth");
    assert!(
        (450.0..=1600.0).contains(&truth_max),
        "truth within the model's 0.5–1.5 s: {truth_max}"
    );
    assert!(count(&s, "access_denied") > 0 && count(&s, "ok") > 0);
}

#[test]
fn a_malformed_scenario_exits_2_with_file_line_col() {
    let out = iamstorm(&["run", "tests/data/scenarios/broken.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tests/data/scenarios/broken.toml:14:8"),
        "rate error located: {stderr}"
    );
    assert!(
        stderr.contains("missing-profile"),
        "unknown profile reported too: {stderr}"
    );
    let out = iamstorm(&["validate", "tests/data/scenarios/broken.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = iamstorm(&["validate", "scenarios/quickstart.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigint_mid_run_writes_what_was_measured_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = out_dir("interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "run",
            "tests/data/scenarios/revoke.toml",
            "--out",
            dir.to_str().expect("utf-8 path"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("iamstorm runs");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    // The load has started once this line is printed; interrupt then.
    for line in lines.by_ref() {
        if line.expect("utf-8").starts_with("load:") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().expect("exits");
    assert_eq!(
        exit.code(),
        Some(130),
        "interrupted exit code; stderr: {rest:?}"
    );
    let s = summary(&dir);
    assert!(
        s["duration_s"].as_f64().expect("duration") < 8.0,
        "the summary covers the part that ran: {s}"
    );
    assert!(std::fs::read_dir(&dir).expect("out dir").all(|e| {
        !e.expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")
    }));
}

/// `iamstorm run … | head` closes the pipe early: the run must not die on
/// its next print (that would skip restoring its journal); it finishes and
/// writes its results. The pipe's read end is closed before the child
/// starts, so every write the run makes fails.
#[test]
fn a_closed_stdout_and_stderr_do_not_abort_a_run() {
    let dir = out_dir("closed-pipe");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "run",
            "tests/data/scenarios/revoke.toml",
            "--out",
            dir.to_str().expect("utf-8 path"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(writer.try_clone().expect("clone"))
        .stderr(writer)
        .status()
        .expect("the iamstorm binary runs");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let s = summary(&dir);
    assert!(count(&s, "ok") > 0, "the run measured: {s}");
    assert!(dir.join("report.md").exists());
}
