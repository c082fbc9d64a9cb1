//! `iamstorm doctor` end to end: the real binary against the embedded
//! double seeded with one scenario per runbook cause (and one healthy),
//! the real SDK over loopback. Each test asserts the cause the doctor
//! names, the evidence behind it, and the exit code; `--json` is parsed.
//! Plus `--fix` (journaled, then seen to take effect), the real-AWS path
//! (default chain + IMDS endpoint, no admin API) against a standalone
//! double, and bad input.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const READ_OBJ: [&str; 4] = [
    "--action",
    "s3:GetObject",
    "--resource",
    "arn:aws:s3:::assets/obj-1",
];

fn iamstorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the iamstorm binary runs")
}

/// Runs `doctor --json` with `args`; returns (exit code, report).
fn doctor(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = iamstorm(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor prints JSON ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

fn cause(report: &serde_json::Value) -> &str {
    report["verdict"]["cause"].as_str().expect("a cause")
}

fn evidence_text(report: &serde_json::Value) -> String {
    report["verdict"]["evidence"].to_string()
}

#[test]
fn healthy_setup_finds_no_problem_and_exits_0() {
    let mut args = vec!["--scenario", "tests/doctor/healthy.toml"];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "none", "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(r["evidence"]["probe"]["class"], "ok");
    assert_eq!(r["evidence"]["simulation"]["decision"], "allowed");
    assert_eq!(r["evidence"]["role"]["trust_allows_ec2"], true);
    assert_eq!(r["evidence"]["burst"]["counts"]["ok"], 50);
    // The token flow is healthy and IMDSv1 refused.
    assert_eq!(r["evidence"]["imds"]["token_put"]["status"], 200);
    assert_eq!(r["evidence"]["imds"]["token_ttl_s"], 21600);
    assert_eq!(r["evidence"]["imds"]["v1_get"]["status"], 401);
    assert_eq!(r["evidence"]["imds"]["credentials_code"], "Success");
    assert!(
        r["evidence"]["imds"]["credentials_expires_in_s"]
            .as_i64()
            .is_some_and(|s| s > 3600),
        "{r:#}"
    );
    assert_eq!(
        r["evidence"]["association"]["associated_profile"],
        "app-profile"
    );
    assert_eq!(r["evidence"]["association"]["associated_source"], "ec2");
    assert!(r["verdict"]["fix"].is_null());
}

#[test]
fn missing_permission_is_named_with_the_minimal_policy() {
    let mut args = vec!["--scenario", "scenarios/missing-permission.toml"];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "missing_permission", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(r["evidence"]["simulation"]["decision"], "implicitDeny");
    assert_eq!(r["evidence"]["probe"]["detail"], "implicit");
    // Step 5 says denial, not throttling.
    assert_eq!(r["evidence"]["burst"]["counts"]["access_denied"], 50);
    assert!(r["evidence"]["burst"]["counts"]["throttled"].is_null());
    // The closest statement is named, and the fix is exactly the request.
    assert!(evidence_text(&r).contains("arn:aws:s3:::logs/*"), "{r:#}");
    let fix = &r["verdict"]["fix"];
    assert_eq!(fix["kind"], "put_role_policy");
    assert_eq!(fix["role"], "app-role");
    let doc: serde_json::Value =
        serde_json::from_str(fix["document"].as_str().expect("a document")).expect("JSON policy");
    assert_eq!(doc["Statement"][0]["Effect"], "Allow");
    assert_eq!(doc["Statement"][0]["Action"], "s3:GetObject");
    assert_eq!(doc["Statement"][0]["Resource"], "arn:aws:s3:::assets/obj-1");
    // Nothing propagating: the doctor did not wait.
    assert!(r["evidence"]["propagation"].is_null());
}

#[test]
fn explicit_deny_is_named_with_its_statement() {
    let (code, r) = doctor(&[
        "--scenario",
        "tests/doctor/explicit-deny.toml",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::assets/secret-1",
        "--burst",
        "0",
    ]);
    assert_eq!(cause(&r), "explicit_deny", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(r["evidence"]["simulation"]["decision"], "explicitDeny");
    assert!(evidence_text(&r).contains("NeverSecrets"), "{r:#}");
    assert_eq!(r["verdict"]["fix"]["kind"], "advice");
    assert!(r["evidence"]["burst"].is_null(), "--burst 0 sends no burst");
}

#[test]
fn trust_without_ec2_is_named_not_a_permission() {
    let mut args = vec!["--scenario", "scenarios/trust-policy-missing-ec2.toml"];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "trust_policy", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(
        r["evidence"]["imds"]["credentials_code"],
        "AssumeRoleUnauthorizedAccess"
    );
    assert_eq!(r["evidence"]["role"]["trust_allows_ec2"], false);
    assert_eq!(r["evidence"]["probe"]["class"], "credentials_unavailable");
    assert_eq!(r["evidence"]["probe"]["detail"], "trust_failure");
    assert_eq!(r["verdict"]["fix"]["kind"], "update_assume_role_policy");
    assert!(
        r["verdict"]["fix"]["document"]
            .as_str()
            .is_some_and(|d| d.contains("ec2.amazonaws.com") && d.contains("lambda.amazonaws.com")),
        "the fix adds EC2 and keeps the existing principal: {r:#}"
    );
}

#[test]
fn outdated_launch_template_is_a_wrong_instance_profile() {
    // The scenario's timeline points the template at legacy-profile (1 s)
    // and scales out (3 s): diagnose one of the new instances.
    let mut args = vec![
        "--scenario",
        "scenarios/outdated-launch-template.toml",
        "--timeline-until",
        "3s",
        "--instance",
        "web:newest",
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "wrong_instance_profile", "{r:#}");
    assert_eq!(code, 1);
    let a = &r["evidence"]["association"];
    assert_eq!(a["associated_profile"], "legacy-profile");
    assert_eq!(a["associated_source"], "ec2");
    assert_eq!(a["expected_profile"], "app-profile");
    assert_eq!(a["expected_role"], "app-role");
    assert_eq!(a["expected_role_decision"], "allowed");
    assert_eq!(r["evidence"]["imds"]["role_name"], "legacy-role");
    assert_eq!(r["timeline_applied"].as_array().map(Vec::len), Some(2));

    // The instances launched before the template changed are fine.
    let mut args = vec![
        "--scenario",
        "scenarios/outdated-launch-template.toml",
        "--timeline-until",
        "3s",
        "--instance",
        "web:0",
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "none", "{r:#}");
    assert_eq!(code, 0);

    // --expect-profile states the expectation without a scenario's help.
    let mut args = vec![
        "--scenario",
        "scenarios/missing-permission.toml",
        "--expect-profile",
        "other-profile",
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (_, r) = doctor(&args);
    assert_eq!(cause(&r), "wrong_instance_profile", "{r:#}");
    assert_eq!(
        r["evidence"]["association"]["expected_source"],
        "--expect-profile"
    );
}

#[test]
fn propagating_grant_is_a_race_that_turns_to_allow() {
    // The grant is made at 0 s; every replica enforces it 3 s later.
    let mut args = vec![
        "--scenario",
        "tests/doctor/propagation-race.toml",
        "--timeline-until",
        "0s",
        "--propagation-wait",
        "20s",
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "propagation_race", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(r["evidence"]["simulation"]["decision"], "allowed");
    assert_eq!(r["evidence"]["probe"]["class"], "access_denied");
    let p = &r["evidence"]["propagation"];
    let after_ms = p["allowed_after_ms"].as_f64().expect("turned to allow");
    // Denied until the replicas' 3 s delay ran out, measured from just
    // after the grant: so below 3 s and above 0 (the seeding took some).
    assert!(after_ms > 500.0 && after_ms < 3_200.0, "{p:#}");
    assert!(p["denied_probes"].as_u64().is_some_and(|n| n >= 1), "{p:#}");
    assert!(p["stable_after_ms"].is_number(), "{p:#}");
}

#[test]
fn still_denied_after_the_wait_is_not_called_a_race() {
    // Same grant, but the wait is too short to see it land.
    let mut args = vec![
        "--scenario",
        "tests/doctor/propagation-race.toml",
        "--timeline-until",
        "0s",
        "--propagation-wait",
        "300ms",
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "undetermined", "{r:#}");
    assert_eq!(code, 1);
    assert!(r["evidence"]["propagation"]["allowed_after_ms"].is_null());
}

#[test]
fn throttling_is_told_apart_from_denial() {
    let mut args = vec!["--scenario", "tests/doctor/throttled.toml"];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "throttling", "{r:#}");
    assert_eq!(code, 1);
    let b = &r["evidence"]["burst"];
    let throttled = b["counts"]["throttled"].as_u64().expect("throttled seen");
    assert!(throttled >= 20, "5/s quota, 50 requests at 50/s: {b:#}");
    assert!(b["counts"]["access_denied"].is_null(), "{b:#}");
    assert_eq!(b["details"]["throttled:SlowDown"], throttled);
    assert!(
        b["rate_per_s"]["throttled"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
    );
    assert!(b["first_at_ms"]["throttled"].is_number());
}

#[test]
fn imds_outage_is_an_imds_failure() {
    let mut args = vec![
        "--scenario",
        "tests/doctor/imds-outage.toml",
        "--timeline-until",
        "0s",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "imds_failure", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(r["evidence"]["imds"]["token_put"]["status"], 503);
    assert_eq!(r["evidence"]["probe"]["class"], "credentials_unavailable");
    assert!(
        r["evidence"]["burst"].is_null(),
        "no burst without credentials"
    );
}

#[test]
fn imds_throttling_is_an_imds_failure_too() {
    let mut args = vec![
        "--scenario",
        "tests/doctor/imds-throttled.toml",
        "--timeline-until",
        "0s",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "imds_failure", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(r["evidence"]["imds"]["role_get"]["status"], 429);
    assert_eq!(r["evidence"]["probe"]["detail"], "imds_throttled");
    assert!(evidence_text(&r).contains("429"), "{r:#}");
}

#[test]
fn fix_applies_a_journaled_grant_and_the_request_turns_allowed() {
    let journal = std::env::temp_dir().join(format!(
        "iamstorm-doctor-fix-{}.journal.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&journal);
    let journal_arg = journal.to_str().expect("utf-8 path");
    let mut args = vec![
        "--scenario",
        "scenarios/missing-permission.toml",
        "--fix",
        "--allow-mutations",
        "--journal",
        journal_arg,
        "--burst",
        "0",
    ];
    args.extend(READ_OBJ);
    let (code, r) = doctor(&args);
    assert_eq!(cause(&r), "missing_permission", "{r:#}");
    assert_eq!(code, 1, "the cause was found (and fixed)");
    let f = &r["fix_applied"];
    assert_eq!(f["applied"], true, "{f:#}");
    assert_eq!(f["change"], "put-role-policy app-role/iamstorm-doctor-fix");
    assert!(f["allowed_after_ms"].is_number(), "{f:#}");
    // Journaled before it was sent, with the undo that deletes it.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .expect("journal written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["journal"], "iamstorm");
    assert_eq!(lines[1]["state"], "intent");
    assert_eq!(lines[1]["undo"][0]["call"], "delete-role-policy");
    assert_eq!(lines[1]["undo"][0]["policy_name"], "iamstorm-doctor-fix");
    assert_eq!(lines[2]["state"], "applied");
    assert_eq!(lines[2]["ok"], true);
    let _ = std::fs::remove_file(&journal);
}

#[test]
fn real_aws_path_uses_the_default_chain_and_imds_only() {
    // A standalone double plays AWS: `--target aws` uses the default
    // credential chain (the operator's exported keys) and the instance's
    // IMDS given explicitly — never the admin API.
    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            "scenarios/missing-permission.toml",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("iamstorm sim starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut exports = std::collections::HashMap::new();
    let mut imds = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 line");
        if let Some(rest) = line.strip_prefix("# instance ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            imds.get_or_insert_with(|| (words[0].to_owned(), words[2].to_owned()));
        }
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(k.to_owned(), v.to_owned());
        }
        if exports.len() == 5 {
            break;
        }
    }
    let (instance_id, imds_endpoint) = imds.expect("the sim printed its instances");
    let out = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "doctor",
            "--json",
            "--target",
            "aws",
            "--endpoint-url",
            &exports["AWS_ENDPOINT_URL"],
            "--imds-endpoint",
            &imds_endpoint,
            "--burst",
            "5",
        ])
        .args(READ_OBJ)
        .env("AWS_ACCESS_KEY_ID", &exports["AWS_ACCESS_KEY_ID"])
        .env("AWS_SECRET_ACCESS_KEY", &exports["AWS_SECRET_ACCESS_KEY"])
        .env("AWS_REGION", &exports["AWS_REGION"])
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("doctor runs");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(cause(&r), "missing_permission", "{r:#}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        r["evidence"]["instance"]["instance_id"],
        instance_id.as_str()
    );
    assert!(
        r["evidence"]["target"]
            .as_str()
            .is_some_and(|t| t.contains("no iamstorm admin API")),
        "{r:#}"
    );
    assert_eq!(r["evidence"]["burst"]["requests"], 5);
}

#[test]
fn bad_input_exits_2_and_names_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--action",
                "s3:Get*",
                "--scenario",
                "tests/doctor/healthy.toml",
            ],
            "--action",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--resource",
                "assets/obj-1",
                "--scenario",
                "tests/doctor/healthy.toml",
            ],
            "--resource",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--fix",
                "--scenario",
                "tests/doctor/healthy.toml",
            ],
            "--allow-mutations",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--burst",
                "5000",
                "--scenario",
                "tests/doctor/healthy.toml",
            ],
            "--burst",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--instance",
                "db:0",
                "--scenario",
                "tests/doctor/healthy.toml",
            ],
            "--instance \"db:0\"",
        ),
        (
            &["--action", "s3:GetObject", "--timeline-until", "1s"],
            "--timeline-until needs --scenario",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--scenario",
                "tests/doctor/no-such-file.toml",
            ],
            "tests/doctor/no-such-file.toml",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        let out = iamstorm(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_broken_scenario_is_reported_with_its_location() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("iamstorm-doctor-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "name = \"x\"\nseed = \"one\"\n").expect("temp file");
    let out = iamstorm(&[
        "doctor",
        "--action",
        "s3:GetObject",
        "--scenario",
        path.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", path.display())),
        "file:line in {stderr}"
    );
    let _ = std::fs::remove_file(&path);
}
