//! CI gating end to end: thresholds from the scenario and `--threshold`
//! judged against a real run on the double → exit 1, summary.json and
//! junit.xml naming the failed gate; a malformed threshold is bad input
//! with its place in the file or on the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn iamstorm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the iamstorm binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("iamstorm-thresholds-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_failed_gate_exits_1_and_is_named_in_every_output() {
    let dir = scratch("run");
    // The revoke scenario: a policy deleted at 3 s, requests keep succeeding
    // for a few hundred ms (exposure) — so `exposure.max < 1ms` must fail.
    let scenario = std::fs::read_to_string("tests/data/scenarios/revoke.toml").expect("scenario");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/data/scenarios/revoke-gated-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        scenario.replacen(
            "duration = \"8s\"",
            "duration = \"8s\"\nthresholds = [\"ratio.access_denied{op=s3:GetObject} < 0.99\", \"exposure.max{kind=revoke} < 1ms\"]",
            1,
        ),
    )
    .expect("write scenario");
    let out = iamstorm(&[
        "run",
        path_str(&path),
        "--quiet",
        "--out",
        path_str(&dir),
        "--threshold",
        "requests > 100",
        "--threshold",
        "propagation.first.p99 < 1m",
    ]);
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("1 of 4 thresholds failed"), "{stderr}");
    assert!(
        stdout.contains("FAIL  exposure.max{kind=revoke} < 1ms"),
        "{stdout}"
    );
    assert!(stdout.contains("pass  requests > 100"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let gates = summary["thresholds"]
        .as_array()
        .expect("thresholds in summary.json");
    let verdicts: Vec<(&str, bool)> = gates
        .iter()
        .map(|g| {
            (
                g["threshold"].as_str().expect("text"),
                g["passed"].as_bool().expect("bool"),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("ratio.access_denied{op=s3:GetObject} < 0.99", true),
            ("exposure.max{kind=revoke} < 1ms", false),
            ("requests > 100", true),
            ("propagation.first.p99 < 1m", true),
        ]
    );
    let exposure = gates[1]["observed"].as_f64().expect("observed exposure");
    assert!(
        exposure > 1.0 && exposure < 2_000.0,
        "exposure {exposure} ms"
    );

    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    let headline = md.lines().nth(2).expect("headline");
    assert_eq!(headline, "**FAIL** — 1 of 4 thresholds failed", "{md}");
    assert!(
        md.contains("| ❌ FAIL | `exposure.max{kind=revoke} < 1ms` | observed "),
        "{md}"
    );
    assert!(md.contains("## What this means\n\n"), "{md}");
    // The denials after the revoke are its effect, not a missing permission.
    assert!(md.contains("exposure window"), "{md}");
    assert!(!md.contains("lack the permission"), "{md}");
    let revoke_row = md
        .lines()
        .find(|l| l.starts_with("| revoke delete-role-policy app-role/s3-read | 3.0 s |"))
        .unwrap_or_else(|| panic!("propagation row: {md}"));
    assert!(revoke_row.contains(" req over "), "{revoke_row}");

    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains(r#"tests="4" failures="1""#), "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 4, "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 1, "{junit}");
    assert!(
        junit.contains(r#"name="exposure.max{kind=revoke} &lt; 1ms""#),
        "{junit}"
    );
}

#[test]
fn compare_passes_a_run_against_itself_and_fails_a_regression() {
    let dir = scratch("compare");
    let out = iamstorm(&[
        "run",
        "tests/data/scenarios/revoke.toml",
        "--quiet",
        "--out",
        path_str(&dir.join("base")),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = dir.join("base");
    hlog_holds_every_request(&base);
    classifier_matches_the_ground_truth(&base);
    let events = std::fs::read_to_string(base.join("events.csv")).expect("events.csv");
    let rows: Vec<Vec<&str>> = events
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r[1] == "action_sent" && r[3] == "delete-role-policy app-role/s3-read"),
        "{events}"
    );
    // The revoke scenario's two instances each saw the revoke, after it was sent.
    let reached: Vec<f64> = rows
        .iter()
        .filter(|r| r[1] == "first_expected")
        .map(|r| r[0].parse().expect("t_s"))
        .collect();
    assert_eq!(reached.len(), 2, "{events}");
    assert!(reached.iter().all(|&t| t > 3.0 && t < 8.0), "{events}");
    let out = iamstorm(&["compare", path_str(&base), path_str(&base)]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(md.contains("**PASS**"), "{md}");
    assert!(md.contains("| ✅ | `exposure.max{change=1}` |"), "{md}");

    // The same run with its p99 tripled and a tenth of its successes throttled.
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("summary.json")).expect("summary"))
            .expect("json");
    let p99 = s["latency_ms"]["p99"].as_f64().expect("p99");
    s["latency_ms"]["p99"] = serde_json::json!(p99 * 3.0 + 5.0);
    let ok = s["counts_by_class"]["ok"].as_u64().expect("ok");
    s["counts_by_class"]["ok"] = serde_json::json!(ok - ok / 10);
    s["counts_by_class"]["throttled"] = serde_json::json!(ok / 10);
    let worse = dir.join("worse.json");
    std::fs::write(&worse, s.to_string()).expect("write");
    let report = dir.join("compare.md");
    let out = iamstorm(&[
        "compare",
        path_str(&base),
        path_str(&worse),
        "--out",
        path_str(&report),
    ]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{md}");
    assert!(md.contains("**FAIL** — 3 metric(s) regressed"), "{md}");
    // Regressions are listed first.
    let first_rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ❌")).collect();
    assert_eq!(first_rows.len(), 3, "{md}");
    assert!(md.contains("| ❌ | `latency.p99` |"), "{md}");
    assert!(md.contains("| ❌ | `ratio.throttled` |"), "{md}");
    assert!(md.contains("| ❌ | `ratio.ok` |"), "{md}");
    assert_eq!(std::fs::read_to_string(&report).expect("--out written"), md);
    // A looser tolerance lets the latency through.
    let out = iamstorm(&[
        "compare",
        path_str(&base),
        path_str(&worse),
        "--tolerance",
        "latency=1000%",
        "--tolerance",
        "ratio=0.5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = iamstorm(&["compare", path_str(&base), path_str(&dir.join("nope"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    // `iamstorm report` re-renders from summary.json + timeseries.csv alone,
    // byte for byte what the run wrote.
    let again = dir.join("again");
    let out = iamstorm(&["report", path_str(&base), "--out", path_str(&again)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "summary.txt",
        "report.md",
        "junit.xml",
        "report.html",
        "summary.json",
    ] {
        assert_eq!(
            std::fs::read_to_string(again.join(file)).expect("re-rendered"),
            std::fs::read_to_string(base.join(file)).expect("original"),
            "{file} re-renders identically"
        );
    }
    let html = std::fs::read_to_string(base.join("report.html")).expect("report.html");
    for id in iamstorm::report::html::CHART_IDS {
        assert!(
            html.contains(&format!("<figure id=\"{id}\"><svg class=\"chart\"")),
            "{id}"
        );
    }
    // A tighter gate judged after the fact.
    let gated = dir.join("gated");
    let out = iamstorm(&[
        "report",
        path_str(&base),
        "--out",
        path_str(&gated),
        "--threshold",
        "latency.p99 < 1us",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let junit = std::fs::read_to_string(gated.join("junit.xml")).expect("junit");
    assert!(junit.contains(r#"tests="1" failures="1""#), "{junit}");
    let out = iamstorm(&["report", path_str(&dir)]);
    assert_eq!(out.status.code(), Some(2), "no summary.json there");
}

/// latency.hlog, read with HdrHistogram's own parser: the untagged
/// per-interval histograms add up to every request; tagged ones name cells.
fn hlog_holds_every_request(dir: &Path) {
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let log = std::fs::read(dir.join("latency.hlog")).expect("latency.hlog written");
    let mut deserializer = Deserializer::new();
    let (mut untagged, mut tags) = (0u64, std::collections::BTreeSet::new());
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(i) = entry.expect("a valid interval log") {
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                i.encoded_histogram(),
            )
            .expect("base64");
            let h: Histogram<u64> = deserializer
                .deserialize(&mut bytes.as_slice())
                .expect("V2 deflate histogram");
            match i.tag() {
                None => untagged += h.len(),
                Some(t) => {
                    tags.insert(t.as_str().to_owned());
                }
            }
        }
    }
    assert_eq!(untagged, summary["requests_total"].as_u64().expect("total"));
    assert!(
        tags.contains("s3:GetObject/ok") && tags.contains("s3:GetObject/access_denied"),
        "{tags:?}"
    );
}

/// Every request of a short run is in the truth sample; each one the
/// harness counted ok the double served, each denial it denied.
fn classifier_matches_the_ground_truth(dir: &Path) {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let c = &s["classifier"];
    let total = s["requests_total"].as_u64().expect("total");
    assert_eq!(c["sampled"].as_u64(), Some(total), "{c}");
    assert_eq!(c["found"].as_u64(), Some(total), "{c}");
    assert_eq!(c["agreement"].as_f64(), Some(1.0), "{c}");
    let cell = |truth: &str, class: &str| {
        c["matrix"]
            .as_array()
            .expect("matrix")
            .iter()
            .find(|m| m["truth"] == truth && m["class"] == class)
            .and_then(|m| m["count"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(
        cell("ok", "ok"),
        s["counts_by_class"]["ok"].as_u64().expect("ok")
    );
    assert_eq!(
        cell("denied", "access_denied"),
        s["counts_by_class"]["access_denied"]
            .as_u64()
            .expect("denied")
    );
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(
        md.contains("## Classifier vs ground truth\n\n100.00 % agreement"),
        "{md}"
    );
}

#[test]
fn malformed_thresholds_are_bad_input_with_their_place() {
    let dir = scratch("bad");
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        "name = \"x\"\nduration = \"5s\"\nthresholds = [\"latency.p99 < 5 parsecs\"]\n[[load]]\nop = \"sts:GetCallerIdentity\"\nrate = 1\n",
    )
    .expect("write scenario");
    let out = iamstorm(&["validate", path_str(&path)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Line 3; the unit starts at byte 31 of the line → column 32.
    assert!(
        stderr.contains(&format!("{}:3:32", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("unit \"parsecs\" does not fit"), "{stderr}");

    let out = iamstorm(&[
        "run",
        "scenarios/quickstart.toml",
        "--threshold",
        "latency.p42 < 5ms",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown metric \"latency.p42\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("latency.p99"),
        "the help lists metrics: {stderr}"
    );
}

/// `abort_on_fail`: a gate judged every second while the run goes stops
/// the load at its first failure (the missing-permission scenario denies
/// every read from the start), exits 1 and says why in every output; a gate
/// that holds lets the run finish.
#[test]
fn an_abort_on_fail_gate_stops_the_run_at_its_first_failure() {
    let dir = scratch("abort");
    let scenario = "scenarios/missing-permission.toml";
    let out = iamstorm(&[
        "run",
        scenario,
        "--quiet",
        "--out",
        path_str(&dir.join("aborted")),
        "--threshold",
        "ratio.access_denied{op=reads} < 1% abort_on_fail after 2s",
        "--threshold",
        "requests > 0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "aborted: `ratio.access_denied{op=reads} < 1% abort_on_fail after 2s` failed at 2."
        ),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("aborted/summary.json")).expect("summary"),
    )
    .expect("json");
    let ran_s = summary["duration_s"].as_f64().expect("duration");
    assert!(
        (2.0..4.0).contains(&ran_s),
        "stopped early, after 2 s: {ran_s}"
    );
    assert!(
        summary["aborted"]
            .as_str()
            .is_some_and(|a| a.contains("failed at 2."))
    );
    assert_eq!(summary["thresholds"][0]["passed"], false);
    assert_eq!(summary["thresholds"][1]["passed"], true);
    let md = std::fs::read_to_string(dir.join("aborted/report.md")).expect("report.md");
    assert!(
        md.contains("The run was aborted: `ratio.access_denied"),
        "{md}"
    );

    // A gate that holds judges live too, and the run goes to its end.
    let out = iamstorm(&[
        "run",
        scenario,
        "--quiet",
        "--out",
        path_str(&dir.join("held")),
        "--threshold",
        "ratio.access_denied{op=whoami} < 1% abort_on_fail",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("held/summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(summary["duration_s"], 8.0);
    assert!(summary.get("aborted").is_none(), "{}", summary["aborted"]);
}
