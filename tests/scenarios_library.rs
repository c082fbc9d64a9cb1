//! The scenario library: every file in `scenarios/` validates, and each
//! runbook cause's scenario, run through the real binary against the
//! double, shows its signature in summary.json — the thing its header tells
//! the reader to look for.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One scenario runs at a time: each paces hundreds of requests per second
/// against its own double, and two at once on a 2-core CI machine starve
/// each other's pacing — a throttling scenario that cannot reach its quota
/// shows no throttling. Serial runs keep every signature the machine's.
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(name: &str) -> Value {
    let _machine = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::env::temp_dir().join(format!("iamstorm-library-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let result = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(["run", &format!("scenarios/{name}.toml"), "--quiet", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("iamstorm runs");
    // 1: a threshold failed — the run finished and its results stand (a
    // loaded CI machine can miss a latency gate; signatures are judged below).
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{name}: {:?} {}",
        result.status.code(),
        String::from_utf8_lossy(&result.stderr)
    );
    let summary = read_json(&out.join("summary.json"));
    let _ = std::fs::remove_dir_all(&out);
    summary
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary.json written"))
        .expect("summary.json parses")
}

fn count(v: &Value, class: &str) -> u64 {
    v["counts_by_class"][class].as_u64().unwrap_or(0)
}

fn op<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["ops"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["op"] == name))
        .unwrap_or_else(|| panic!("op {name} in {s}"))
}

fn verdict_has(s: &Value, needle: &str) -> bool {
    s["verdict_lines"].as_array().is_some_and(|l| {
        l.iter()
            .any(|v| v.as_str().is_some_and(|t| t.contains(needle)))
    })
}

#[test]
fn every_library_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let out = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
            .arg("validate")
            .arg(&file)
            .output()
            .expect("iamstorm runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Each file says what it reproduces and how to run it.
        let text = std::fs::read_to_string(&file).expect("readable");
        assert!(
            text.starts_with('#'),
            "{} has a header comment",
            file.display()
        );
        assert!(
            text.contains("iamstorm run scenarios/"),
            "{} says how to run it",
            file.display()
        );
    }
}

#[test]
fn missing_permission_is_denied_every_time_and_said_so() {
    let s = run("missing-permission");
    let reads = op(&s, "reads");
    assert_eq!(count(reads, "ok"), 0);
    assert_eq!(
        count(reads, "access_denied"),
        reads["requests"].as_u64().expect("n")
    );
    assert_eq!(
        reads["details_by_class"]["access_denied"]["implicit"],
        reads["requests"]
    );
    assert_eq!(
        count(op(&s, "whoami"), "ok"),
        op(&s, "whoami")["requests"].as_u64().expect("n")
    );
    assert!(
        verdict_has(&s, "the role is missing this permission"),
        "{s}"
    );
    // The committed baseline gates it the way the README's CI recipe does:
    // decisions exactly (ratios within 0.5 pp), latency loosely (machines differ).
    let current = std::env::temp_dir().join(format!("iamstorm-mp-{}.json", std::process::id()));
    std::fs::write(&current, s.to_string()).expect("write summary");
    let out = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "compare",
            "results/baselines/missing-permission.summary.json",
        ])
        .arg(&current)
        .args([
            "--tolerance",
            "latency=1000%",
            "--tolerance",
            "late_starts=100",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("compare runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(
        md.contains("| ✅ | `ratio.access_denied{op=reads}` | 1 | 1 |"),
        "{md}"
    );
    let _ = std::fs::remove_file(&current);
}

#[test]
fn a_grant_races_then_settles() {
    let s = run("grant-propagation-race");
    let p = &s["propagation"][0];
    assert_eq!(p["kind"], "grant");
    assert_eq!(p["instances_stable"], p["instances"]);
    assert!(p["flaps"].as_u64().expect("flaps") > 0, "{p}");
    let error = p["error_ms_max"].as_f64().expect("ground truth").abs();
    assert!(error < 300.0, "measured vs truth: {p}");
    assert!(count(&s, "access_denied") > 0 && count(&s, "ok") > 0);
    assert!(
        verdict_has(&s, "a propagation race, not a missing permission"),
        "{s}"
    );
}

#[test]
fn a_revoke_leaves_an_exposure_window() {
    let s = run("revoke-exposure-window");
    let p = &s["propagation"][0];
    assert_eq!(p["kind"], "revoke");
    assert!(p["exposure_requests"].as_u64().expect("n") > 0, "{p}");
    let exposure = p["exposure_ms"].as_f64().expect("exposure");
    let truth = p["truth_delay_ms"]["max"].as_f64().expect("truth");
    // Within the model's 1–4 s, and not after the last replica applied it.
    assert!((500.0..=4_500.0).contains(&exposure), "{p}");
    assert!(exposure <= truth + 100.0, "{p}");
    assert!(verdict_has(&s, "exposure window"), "{s}");
    assert!(!verdict_has(&s, "lack the permission"), "{s}");
}

#[test]
fn a_trust_policy_without_ec2_is_no_credentials_not_a_denial() {
    let s = run("trust-policy-missing-ec2");
    assert_eq!(count(&s, "access_denied"), 0);
    let reads = op(&s, "reads");
    assert!(count(reads, "credentials_unavailable") > 0, "{reads}");
    // The sub-reason names the cause: IMDS could not assume the role.
    assert_eq!(
        reads["details_by_class"]["credentials_unavailable"]["trust_failure"].as_u64(),
        Some(count(reads, "credentials_unavailable")),
        "{reads}"
    );
    // Fixed at 4 s: successes after, never before.
    let ok = &reads["class_spans"]["ok"];
    assert!(ok["first_s"].as_f64().expect("ok seen") >= 4.0, "{reads}");
    let no_creds = &reads["class_spans"]["credentials_unavailable"];
    assert!(no_creds["first_s"].as_f64().expect("seen") < 1.0, "{reads}");
    assert!(verdict_has(&s, "could not be fetched from IMDS"), "{s}");
}

#[test]
fn imds_failing_across_rotation_is_expired_token_not_access_denied() {
    let s = run("imds-rotation-expired-token");
    assert_eq!(count(&s, "access_denied"), 0);
    let reads = op(&s, "reads");
    let expired = reads["details_by_class"]["auth_error"]["ExpiredToken"]
        .as_u64()
        .expect("ExpiredToken counted");
    assert!(expired > 0, "{reads}");
    // The credentials last 12 s: fine before, expired after.
    let first = reads["class_spans"]["auth_error"]["first_s"]
        .as_f64()
        .expect("span");
    assert!((11.0..=14.0).contains(&first), "{reads}");
    assert!(
        verdict_has(&s, "signed with expired credentials (ExpiredToken)"),
        "{s}"
    );
}

#[test]
fn throttling_is_throttling_with_retries_off_and_mostly_hidden_with_them_on() {
    let off = run("throttling-misread");
    let on = run("throttling-misread-retries");
    for s in [&off, &on] {
        assert_eq!(count(s, "access_denied"), 0, "{s}");
    }
    let share = |s: &Value| count(s, "throttled") as f64 / s["requests_total"].as_f64().expect("n");
    assert!(share(&off) > 0.15, "retries off: {}", share(&off));
    assert!(
        share(&on) < share(&off) / 3.0,
        "retries on hide most: {} vs {}",
        share(&on),
        share(&off)
    );
    assert_eq!(
        op(&off, "reads")["details_by_class"]["throttled"]["SlowDown"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );
    assert_eq!(
        op(&off, "whoami")["details_by_class"]["throttled"]["Throttling"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );
    // The price of hiding it: backoff shows in the tail.
    let p99 = |s: &Value| s["latency_ms"]["p99"].as_f64().expect("p99");
    assert!(p99(&on) > 5.0 * p99(&off), "{} vs {}", p99(&on), p99(&off));
    assert!(
        verdict_has(&off, "it is rate limiting, not a permissions problem"),
        "{off}"
    );
}

#[test]
fn the_capacity_ramp_finds_its_knee() {
    let s = run("capacity-knee");
    let knee = &s["knees"][0];
    assert_eq!(knee["op"], "reads");
    let rate = knee["rate_per_s"].as_f64().expect("a knee");
    // Above the 300/s quota by at most the bucket's burst; the ramp's top is 600/s.
    assert!((280.0..=480.0).contains(&rate), "{knee}");
    let sustained = knee["sustained_per_s"]
        .as_f64()
        .expect("served while throttled");
    assert!((270.0..=330.0).contains(&sustained), "{knee}");
    assert!(verdict_has(&s, "Capacity knee of reads"), "{s}");
}

#[test]
fn an_outdated_launch_template_denies_only_the_instances_it_launched() {
    let s = run("outdated-launch-template");
    let boots = s["boots"].as_array().expect("boots");
    assert_eq!(boots.len(), 10, "2 at start, 4 at 3 s, 4 at 7 s");
    for b in boots {
        let version = b["template_version"].as_u64().expect("version");
        let denied = b["counts_by_class"]["access_denied"].as_u64().expect("n");
        let ok = b["counts_by_class"]["ok"].as_u64().expect("n");
        match version {
            // Launched from the stale template: every request denied, retired at 7 s.
            2 => {
                assert!(denied > 0 && ok == 0, "{b}");
                assert_eq!(b["retired"], true, "{b}");
                assert!(
                    (2.9..3.5).contains(&b["launched_at_s"].as_f64().expect("t")),
                    "{b}"
                );
            }
            // The original fleet and the replacements: never denied.
            1 | 3 => assert!(denied == 0 && ok > 0, "{b}"),
            other => panic!("unexpected template version {other}: {b}"),
        }
    }
    let span = &op(&s, "reads")["class_spans"]["access_denied"];
    assert_eq!(span["first_s"].as_f64(), Some(3.0), "{span}");
    assert!(span["last_s"].as_f64().expect("last") <= 7.0, "{span}");
    assert!(verdict_has(&s, "launched from template v2"), "{s}");
}

#[test]
fn scale_actions_are_checked_before_the_run() {
    let dir = std::env::temp_dir().join(format!("iamstorm-library-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        r#"name = "bad"
duration = "5s"
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
[[timeline]]
at = "1s"
action = "scale-out"
group = "web"
to = 3
by = 2
[[timeline]]
at = "2s"
action = "set-launch-template"
group = "api"
instance_profile = "nope"
"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":19:10: error: scale-out needs exactly one of `to` and `by`"),
        "{stderr}"
    );
    assert!(stderr.contains("\"api\""), "unknown group named: {stderr}");
    assert!(
        stderr.contains("\"nope\""),
        "unknown profile named: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_profile_swap_fixes_nothing_until_the_reboot() {
    let s = run("profile-swap-reboot");
    let reads = op(&s, "reads");
    // Denied through the swap at 2 s (cached credentials of the old role),
    // served from the reboot at 6 s.
    assert_eq!(
        reads["class_spans"]["ok"]["first_s"].as_f64(),
        Some(6.0),
        "{reads}"
    );
    assert!(count(reads, "access_denied") > 0, "{reads}");
    let boots = s["boots"].as_array().expect("boots");
    assert_eq!(boots.len(), 4, "2 launched, 2 restarted: {boots:?}");
    for b in boots {
        let (ok, denied) = (
            b["counts_by_class"]["ok"].as_u64().expect("n"),
            b["counts_by_class"]["access_denied"].as_u64().expect("n"),
        );
        if b["launched_at_s"].as_f64().expect("t") < 1.0 {
            assert!(ok == 0 && denied > 0 && b["retired"] == true, "{b}");
        } else {
            assert!(ok > 0 && denied == 0 && b["retired"] == false, "{b}");
        }
    }
    let timeline: Vec<&str> = s["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["result"].as_str().expect("result"))
        .collect();
    assert_eq!(timeline, vec!["ok", "ok"], "{s}");
}

#[test]
fn a_scale_out_stampede_is_throttled_by_the_shared_imds_credential_budget() {
    let s = run("imds-credential-stampede");
    assert_eq!(
        count(&s, "access_denied"),
        0,
        "nothing is wrong with the role"
    );
    let boots = s["boots"].as_array().expect("boots");
    assert_eq!(boots.len(), 64, "4 at start, 60 at 3 s");
    let (old, new): (Vec<&Value>, Vec<&Value>) = boots
        .iter()
        .partition(|b| b["launched_at_s"].as_f64() == Some(0.0));
    assert_eq!(old.len(), 4);
    // The steady fleet keeps its cached credentials: never without them.
    for b in &old {
        assert_eq!(b["class"], "ok", "{b}");
        assert_eq!(count(b, "credentials_unavailable"), 0, "{b}");
        assert!(count(b, "ok") > 0, "{b}");
    }
    let mut throttled = 0;
    for b in &new {
        assert_eq!(b["boot_delay_ms"].as_f64(), Some(1000.0), "{b}");
        let launched = b["launched_at_s"].as_f64().expect("t");
        assert!((2.9..3.8).contains(&launched), "{b}");
        assert!(
            b["joined_at_s"].as_f64().expect("t") >= launched + 1.0,
            "{b}"
        );
        if b["class"] == "credentials_unavailable" {
            assert_eq!(b["detail"], "imds_throttled", "{b}");
            throttled += 1;
        } else {
            assert_eq!(b["class"], "ok", "{b}");
        }
    }
    // A 10/s budget (bucket of 10) against 60 fetches in one moment.
    assert!(
        (30..=52).contains(&throttled),
        "{throttled} of 60 throttled"
    );
    let reads = op(&s, "reads");
    let no_creds = count(reads, "credentials_unavailable");
    assert!(no_creds > 0, "{reads}");
    assert_eq!(
        reads["details_by_class"]["credentials_unavailable"]["imds_throttled"].as_u64(),
        Some(no_creds),
        "{reads}"
    );
    // Not before the new instances joined (3 s + the 1 s boot delay), and
    // healed before the end as retries get through the budget.
    let span = &reads["class_spans"]["credentials_unavailable"];
    assert!(span["first_s"].as_f64().expect("seen") >= 4.0, "{span}");
    assert!(span["last_s"].as_f64().expect("seen") <= 11.0, "{span}");
    assert!(
        verdict_has(
            &s,
            "IMDS throttled the stampede of credential fetches (429)"
        ),
        "{s}"
    );
}
