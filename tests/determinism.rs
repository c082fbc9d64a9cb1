//! Determinism: one seed reproduces the double's decisions. What a seed can
//! fix is checked exactly — every replica's delay for every IAM change, and a
//! whole run's outcomes when no timing race is involved; what it cannot
//! (wall-clock timing near a replica's apply instant) is documented in
//! docs/scenario.md.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use iamstorm::sim::consistency::DelayModel;

/// The per-replica delays drawn for every IAM version a fixed sequence of
/// changes makes on a double seeded with `seed` (the applied times also
/// depend on when each change was published, which is wall clock).
async fn schedule(seed: u64) -> Vec<(String, Vec<u64>)> {
    let sim = start(Duration::ZERO, |c| {
        c.seed = seed;
        c.propagation.replicas = 8;
        c.propagation.delay = DelayModel::Uniform {
            min: Duration::from_millis(100),
            max: Duration::from_millis(4_000),
        };
    })
    .await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    for name in ["a", "b", "c"] {
        iam.put_role_policy()
            .role_name(ROLE)
            .policy_name(name)
            .policy_document(READ_POLICY)
            .send()
            .await
            .expect("put");
        iam.delete_role_policy()
            .role_name(ROLE)
            .policy_name(name)
            .send()
            .await
            .expect("delete");
    }
    let truth = admin(&sim).propagation().await.expect("ground truth");
    truth
        .versions
        .iter()
        .map(|v| {
            // Applied in order: never before the draw, never before the
            // previous version — the draw is the model's decision.
            for (a, d) in v.applied_at.iter().zip(&v.drawn) {
                assert!(*a >= v.published_at + d, "{v:?}");
            }
            (v.label.clone(), v.drawn.clone())
        })
        .collect()
}

const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_gives_one_propagation_schedule() {
    let first = schedule(42).await;
    let again = schedule(42).await;
    assert!(first.len() >= 10, "every change made a version: {first:?}");
    assert_eq!(first, again, "same seed, same per-replica delays");
    let other = schedule(43).await;
    assert_eq!(
        first.iter().map(|(l, _)| l).collect::<Vec<_>>(),
        other.iter().map(|(l, _)| l).collect::<Vec<_>>()
    );
    assert_ne!(first, other, "another seed draws other delays");
}

fn run(seed: &str, out: &std::path::Path) -> serde_json::Value {
    let result = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "run",
            "scenarios/missing-permission.toml",
            "--quiet",
            "--seed",
            seed,
            "--out",
        ])
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        stdout.contains(&format!("seed {seed} (replay with --seed {seed})")),
        "the seed is printed: {stdout}"
    );
    serde_json::from_str(&text).expect("json")
}

#[test]
fn a_run_without_timing_races_replays_exactly() {
    let dir = std::env::temp_dir().join(format!("iamstorm-determinism-{}", std::process::id()));
    let a = run("7", &dir.join("a"));
    let b = run("7", &dir.join("b"));
    assert_eq!(a["seed"], 7);
    for key in ["requests_total", "counts_by_class"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    for (x, y) in a["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .zip(b["ops"].as_array().expect("ops"))
    {
        assert_eq!(x["counts_by_class"], y["counts_by_class"]);
        assert_eq!(x["details_by_class"], y["details_by_class"]);
    }
    // Verdicts about decisions replay; late starts are the machine's timing.
    let decisions = |s: &serde_json::Value| -> Vec<String> {
        s["verdict_lines"]
            .as_array()
            .expect("verdicts")
            .iter()
            .filter_map(|l| l.as_str())
            .filter(|l| !l.contains("started late"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(decisions(&a), decisions(&b));
    assert!(!decisions(&a).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
