//! `iamstorm calibrate` end to end: a run against the double with known
//! propagation and quota models, calibrated, recovers them within sampling
//! error; the model file it writes drives a scenario's `[sim]`, under the
//! scenario's own fields; a broken model file is reported where it breaks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iamstorm::scenario::{self, Propagation};

fn iamstorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the iamstorm binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("iamstorm-calibrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Median of the double's per-change truth medians for one kind, ms.
fn truth_p50_ms(summary: &serde_json::Value, kind: &str) -> f64 {
    let p50s: Vec<f64> = summary["propagation"]
        .as_array()
        .expect("propagation")
        .iter()
        .filter(|p| p["kind"] == kind)
        .map(|p| {
            p["truth_delay_ms"]["p50"]
                .as_f64()
                .expect("truth on the double")
        })
        .collect();
    assert!(!p50s.is_empty(), "{kind} measured");
    p50s.iter().sum::<f64>() / p50s.len() as f64
}

fn samples_ms(p: &Propagation) -> Vec<u64> {
    match p {
        Propagation::Empirical { samples } => {
            samples.iter().map(|d| d.as_millis() as u64).collect()
        }
        other => panic!("calibrated models are empirical, got {other:?}"),
    }
}

#[test]
fn a_run_with_known_models_is_recovered_and_replayed() {
    let dir = scratch("run");
    let out = iamstorm(&[
        "run",
        "tests/data/scenarios/calibrate.toml",
        "--quiet",
        "--out",
        path_str(&dir),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = dir.join("model.toml");
    let out = iamstorm(&["calibrate", path_str(&dir)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("wrote"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");

    // Load the model through a scenario, as a user would.
    let replay = dir.join("replay.toml");
    std::fs::write(
        &replay,
        r#"name = "replay"
duration = "5s"
[sim]
model = "model.toml"
[sim.quotas]
s3_write_per_s = 7
[[iam.roles]]
name = "r"
trust = "ec2"
[[iam.instance_profiles]]
name = "p"
role = "r"
[[fleet]]
group = "web"
instance_profile = "p"
instances = 1
workers_per_instance = 1
[[load]]
op = "sts:GetCallerIdentity"
rate = 1
"#,
    )
    .expect("write scenario");
    let s = scenario::load(&replay).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}",
            std::fs::read_to_string(&model).unwrap_or_default()
        )
    });

    // Grants: uniform 1–3 s over 32 replicas per change. The fitted
    // median sits near the replicas' own median (the double's truth) and
    // the samples span the configured range.
    let grant = samples_ms(s.sim.grant.as_ref().expect("grant fitted"));
    let median = grant[grant.len() / 2] as f64;
    let truth = truth_p50_ms(&summary, "grant");
    assert!(
        (median - truth).abs() < 300.0,
        "grant median {median} vs truth {truth}: {grant:?}"
    );
    assert!((850..=1400).contains(&grant[0]), "grant low end {grant:?}");
    assert!(
        (2700..=3200).contains(grant.last().expect("samples")),
        "grant high end {grant:?}"
    );

    // Revokes: uniform 0.3–0.9 s, fitted apart from grants.
    let revoke = samples_ms(s.sim.revoke.as_ref().expect("revoke fitted"));
    let median = revoke[revoke.len() / 2] as f64;
    let truth = truth_p50_ms(&summary, "revoke");
    assert!(
        (median - truth).abs() < 150.0,
        "revoke median {median} vs truth {truth}: {revoke:?}"
    );
    assert!(
        *revoke.last().expect("samples") <= 1000,
        "revoke high end {revoke:?}"
    );

    // S3 reads: the quota is what succeeded while throttled (250/s), not
    // the onset (later, after the bucket's burst).
    let read = s.sim.quotas.s3_read_per_s;
    assert!((235..=265).contains(&read), "s3_read_per_s {read}");
    // The scenario's own field wins; the rest keep their defaults.
    assert_eq!(s.sim.quotas.s3_write_per_s, 7);
    assert_eq!(
        s.sim.quotas.sts_per_s,
        iamstorm::sim::throttle::Quotas::default().sts_per_s
    );
    assert_eq!(s.sim.propagation, Propagation::default());

    // The replay scenario is runnable as is.
    let out = iamstorm(&["validate", path_str(&replay)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_model_file_is_reported_where_it_breaks() {
    let dir = scratch("broken");
    std::fs::write(
        dir.join("model.toml"),
        "[propagation.grant]\nmodel = \"uniform\"\nmin = \"3s\"\nmax = \"1s\"\n",
    )
    .expect("write model");
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"x\"\nduration = \"5s\"\n[sim]\nmodel = \"model.toml\"\n[[load]]\nop = \"sts:GetCallerIdentity\"\nrate = 1\n",
    )
    .expect("write scenario");
    let out = iamstorm(&["validate", path_str(&scenario)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let model = dir.join("model.toml");
    assert!(
        stderr.contains(&format!("{}:3:", model.display()))
            || stderr.contains(&format!("{}:4:", model.display())),
        "the bad range is located in the model file: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:4:9", scenario.display())),
        "and where it is used: {stderr}"
    );

    // Nothing to calibrate from is a clear refusal, not an empty model.
    let out = iamstorm(&["calibrate", path_str(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));
}
