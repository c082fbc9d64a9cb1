//! Targets other than the embedded double, and the rails for real AWS,
//! tested the way a user runs them: the `iamstorm` binary against a
//! standalone `iamstorm sim` on loopback — as an `endpoint` (detected as a
//! double: IMDS instances, ground truth) and acting as `aws` (default
//! credential chain, verify-only setup, `mutable` list, caps, a journal
//! fsync'd before each change, restore at the end, on SIGTERM, and by
//! `iamstorm rollback` after a kill -9).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod standalone;
use standalone::Sim;

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;
const EXTRA_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets"}]}"#;

/// The scenario: reads at `rate` for `duration`; at 1 s the read policy is
/// deleted (a measured revoke), at 1.5 s an extra one is put.
fn scenario(dir: &Path, duration: &str, target: &str) -> PathBuf {
    std::fs::write(dir.join("read.json"), READ_POLICY).expect("policy");
    std::fs::write(dir.join("extra.json"), EXTRA_POLICY).expect("policy");
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "targets"
seed = 5
duration = "{duration}"
{target}

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
objects = "obj-{{0..9}}"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 4

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{{0..9}}"
rate = "40/s"

[[timeline]]
at = "1s"
action = "delete-role-policy"
role = "app-role"
policy_name = "read"
measure = "revoke"

[[timeline]]
at = "1500ms"
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

const AWS_MUTABLE: &str = "[target]\nkind = \"aws\"\nmutable = [\"role/app-role\"]";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-targets-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The role's inline policies, name → decoded document.
async fn inline_policies_of(sim: &Sim) -> Vec<(String, String)> {
    let iam = aws_sdk_iam::Client::new(&sim.config());
    let names = iam
        .list_role_policies()
        .role_name("app-role")
        .send()
        .await
        .expect("list role policies");
    let mut out = Vec::new();
    for name in names.policy_names() {
        let p = iam
            .get_role_policy()
            .role_name("app-role")
            .policy_name(name)
            .send()
            .await
            .expect("get role policy");
        out.push((
            name.clone(),
            iamstorm::guard::undo::decode_policy(p.policy_document()),
        ));
    }
    out.sort();
    out
}

/// `iamstorm run SCENARIO FLAGS... --endpoint-url SIM --out OUT`.
fn run_args<'a>(sim: &'a Sim, path: &'a Path, out: &'a Path, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", path.to_str().expect("utf-8")];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        "--endpoint-url",
        sim.url(),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    args
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary parses")
}

fn journal_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .expect("journal.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line parses"))
        .collect()
}

fn states(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .skip(1)
        .map(|l| format!("{}#{}", l["state"].as_str().unwrap_or("?"), l["seq"]))
        .collect()
}

fn original() -> Vec<(String, String)> {
    vec![("read".to_owned(), READ_POLICY.to_owned())]
}

/// Waits (bounded) until the journal shows `n` applied changes.
fn await_applied(out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let applied = std::fs::read_to_string(out.join("journal.jsonl"))
            .unwrap_or_default()
            .matches("\"state\":\"applied\"")
            .count();
        if applied >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} applied changes in the journal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn endpoint_target_detects_a_standalone_double_and_restores_its_changes() {
    let dir = temp_dir("endpoint");
    let path = scenario(&dir, "3s", "");
    // A bare double: the run's setup creates the roles, profile and bucket.
    let sim = Sim::start(None);
    let out = dir.join("out");
    let run = sim.run(&run_args(&sim, &path, &out, &["--target", "endpoint"]));
    let stderr = text(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stderr}\n{}",
        text(&run.stdout)
    );
    assert!(stderr.contains("an iamstorm double"), "{stderr}");
    let s = summary(&out);
    // Instances came from the double's admin API, each with its own IMDS.
    let boots = s["boots"].as_array().expect("boots");
    assert_eq!(boots.len(), 2);
    for b in boots {
        assert!(
            b["instance_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("i-")),
            "{b}"
        );
        assert_eq!(b["class"], "ok", "{b}");
    }
    assert!(s["counts_by_class"]["ok"].as_u64() > Some(0), "{s}");
    assert!(
        s["counts_by_class"]["access_denied"].as_u64() > Some(0),
        "the revoke bit: {s}"
    );
    // Ground truth is there: the classifier check and the revoke's replica times.
    assert!(s["classifier"].is_object(), "{}", s["classifier"]);
    assert!(
        s["propagation"][0]["truth_delay_ms"]["max"].is_number(),
        "{}",
        s["propagation"][0]
    );
    // Both changes were journaled before they were sent, then undone.
    let lines = journal_lines(&out);
    assert_eq!(lines[0]["target"], "endpoint");
    assert_eq!(
        states(&lines),
        [
            "intent#1",
            "applied#1",
            "intent#2",
            "applied#2",
            "restored#2",
            "restored#1"
        ]
    );
    assert_eq!(
        s["restored"].as_array().map(Vec::len),
        Some(2),
        "{}",
        s["restored"]
    );
    assert_eq!(inline_policies_of(&sim).await, original());
}

#[tokio::test]
async fn aws_target_needs_allow_aws_and_a_mutable_list_and_fits_its_caps() {
    let dir = temp_dir("refusals");
    let sim = Sim::start(None);
    let refused = |target: &str, extra: &[&str], expect: &[&str]| {
        let path = scenario(&dir, "3s", target);
        let out = dir.join(format!("out-{}", extra.len()));
        let mut args = vec!["run", path.to_str().expect("utf-8"), "--quiet"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--endpoint-url",
            sim.url(),
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let run = sim.run(&args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        for e in expect {
            assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
        }
        assert!(
            !out.join("journal.jsonl").exists(),
            "refused before any call"
        );
    };
    refused(
        "[target]\nkind = \"aws\"",
        &[],
        &["without --allow-aws", "changes role/app-role", "--dry-run"],
    );
    refused(
        "[target]\nkind = \"aws\"",
        &["--allow-aws"],
        &[
            "changes role/app-role, which [target] mutable does not list",
            "at 1s (delete-role-policy)",
        ],
    );
    refused(
        AWS_MUTABLE,
        &["--allow-aws", "--max-rate", "10/s"],
        &["peaks at 40.0 requests/s, above the rate cap of 10/s"],
    );
    refused(
        AWS_MUTABLE,
        &["--allow-aws", "--max-requests", "50"],
        &["plans 120 requests, above the cap of 50"],
    );
    // Nothing reached the double.
    let roles = sim.iam().list_roles().send().await.expect("list roles");
    assert!(roles.roles().is_empty(), "no setup ran");
}

#[tokio::test]
async fn aws_target_against_the_double_verifies_journals_and_restores() {
    let dir = temp_dir("aws");
    let path = scenario(&dir, "3s", AWS_MUTABLE);
    // Against AWS a run creates nothing: the resources exist beforehand.
    let sim = Sim::start(Some(&path));
    let out = dir.join("out");
    let run = sim.run(&run_args(&sim, &path, &out, &["--allow-aws"]));
    let stderr = text(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stderr}\n{}",
        text(&run.stdout)
    );
    assert!(
        stderr.contains("no iamstorm admin API"),
        "aws never uses the admin API: {stderr}"
    );
    assert!(
        stderr.contains("caps: rate 50/s, requests 10000"),
        "AWS default caps: {stderr}"
    );
    let s = summary(&out);
    for b in s["boots"].as_array().expect("boots") {
        assert!(
            b["instance_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("local-")),
            "default-chain instances: {b}"
        );
    }
    assert!(
        s["requests_total"].as_u64() > Some(100),
        "{}",
        s["requests_total"]
    );
    assert!(s["classifier"].is_null(), "no ground truth against aws");
    let lines = journal_lines(&out);
    assert_eq!(lines[0]["target"], "aws");
    assert_eq!(lines[0]["account_id"], "123456789012");
    // The delete's undo puts the prior document back; the put's deletes.
    assert_eq!(lines[1]["undo"][0]["call"], "put-role-policy");
    assert_eq!(lines[1]["undo"][0]["document"], READ_POLICY);
    assert_eq!(lines[3]["undo"][0]["call"], "delete-role-policy");
    assert_eq!(
        states(&lines),
        [
            "intent#1",
            "applied#1",
            "intent#2",
            "applied#2",
            "restored#2",
            "restored#1"
        ]
    );
    assert_eq!(inline_policies_of(&sim).await, original());
}

#[tokio::test]
async fn a_request_cap_stops_the_run_at_exactly_that_many() {
    let dir = temp_dir("cap");
    let path = scenario(&dir, "20s", "");
    let out = dir.join("out");
    // The embedded double, capped from the command line: 40/s for 20 s
    // plans 800 requests, so the plan check passes only with a larger
    // cap; the cap is then spent by a closed loop (`--max-requests` is a
    // hard stop, not a plan).
    let closed = std::fs::read_to_string(&path)
        .expect("scenario")
        .replace("rate = \"40/s\"", "model = \"closed\"\nworkers = 2")
        .replace(
            "[[timeline]]\nat = \"1500ms\"",
            "[[timeline]]\nat = \"19s\"",
        )
        .replace("[[timeline]]\nat = \"1s\"", "[[timeline]]\nat = \"18s\"");
    std::fs::write(&path, closed).expect("closed scenario");
    let run = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "run",
            path.to_str().expect("utf-8"),
            "--max-requests",
            "75",
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("runs");
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["requests_total"], 75, "{stderr}");
    assert!(
        stderr.contains("stopped at the request cap (75 requests)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_mid_run_restores_the_changes_and_exits_130() {
    let dir = temp_dir("sigterm");
    let path = scenario(&dir, "60s", AWS_MUTABLE);
    let sim = Sim::start(Some(&path));
    let out = dir.join("out");
    let child = sim
        .iamstorm(&run_args(&sim, &path, &out, &["--quiet", "--allow-aws"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    await_applied(&out, 2);
    assert_ne!(
        inline_policies_of(&sim).await,
        original(),
        "changed mid-run"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let done = child.wait_with_output().expect("run exits");
    assert_eq!(done.status.code(), Some(130), "{}", text(&done.stderr));
    assert_eq!(inline_policies_of(&sim).await, original());
    let lines = journal_lines(&out);
    assert!(states(&lines).ends_with(&["restored#2".to_owned(), "restored#1".to_owned()]));
    // What ran before the signal is reported.
    assert!(summary(&out)["requests_total"].as_u64() > Some(0));
}

#[tokio::test]
async fn rollback_restores_what_a_killed_run_left_changed() {
    let dir = temp_dir("rollback");
    let path = scenario(&dir, "60s", AWS_MUTABLE);
    let sim = Sim::start(Some(&path));
    let out = dir.join("out");
    let mut child = sim
        .iamstorm(&run_args(&sim, &path, &out, &["--quiet", "--allow-aws"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    await_applied(&out, 2);
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let changed = inline_policies_of(&sim).await;
    assert_eq!(
        changed,
        vec![("extra".to_owned(), EXTRA_POLICY.to_owned())],
        "a killed run cannot restore"
    );
    let journal = out.join("journal.jsonl");
    let rollback = sim.run(&["rollback", journal.to_str().expect("utf-8")]);
    let stdout = text(&rollback.stdout);
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{stdout}{}",
        text(&rollback.stderr)
    );
    assert!(stdout.contains("2 pending change(s)"), "{stdout}");
    assert_eq!(inline_policies_of(&sim).await, original());
    // Idempotent: a second rollback finds nothing to do.
    let again = sim.run(&["rollback", journal.to_str().expect("utf-8")]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains("nothing to restore"),
        "{}",
        text(&again.stdout)
    );
}

#[tokio::test]
async fn dry_run_prints_every_call_and_sends_none() {
    let dir = temp_dir("dry");
    let path = scenario(&dir, "3s", AWS_MUTABLE);
    let sim = Sim::start(Some(&path));
    let out = dir.join("out");
    // No --allow-aws: reading the plan is how one decides to allow it.
    let run = sim.run(&run_args(&sim, &path, &out, &["--dry-run"]));
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    for expected in [
        "target: aws at http://127.0.0.1:",
        "caps: rate 50/s, requests 10000",
        "iam:GetRole app-role (must exist; not created)",
        "s3:HeadBucket assets",
        "reads: s3:GetObject s3://assets/obj-{0..9}",
        "about 120 requests",
        "1s iam:DeleteRolePolicy app-role/read",
        "1.5s iam:PutRolePolicy app-role/extra",
        "journal the undo (fsync)",
        "iamstorm rollback JOURNAL",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!out.exists(), "a dry run writes no results");
    assert_eq!(
        inline_policies_of(&sim).await,
        original(),
        "and changes nothing"
    );
}
