//! Sharded runs end to end, as an engine runs them: three `iamstorm run
//! --shard I/3` processes against one standalone `iamstorm sim`, started at
//! one `--start-at`, each uploading to the double's S3 (`--results-uri`),
//! then `iamstorm merge` from the S3 prefix — checked against sums of the
//! shards and against one HdrHistogram built here from every shard's
//! `latency.hlog` with HdrHistogram's own parser. Then thresholds on merged
//! data, missing and duplicate shards, and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

mod standalone;
use standalone::Sim;

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;
const EXTRA_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets"}]}"#;

/// 5 instances (split 2/2/1), reads at 60/s for 3 s (180 requests, each
/// shard's share by its instances), one timeline change at 1 s, and a
/// threshold no single shard meets but the merged run does.
fn scenario(dir: &Path, instances: u32) -> PathBuf {
    std::fs::write(dir.join("read.json"), READ_POLICY).expect("policy");
    std::fs::write(dir.join("extra.json"), EXTRA_POLICY).expect("policy");
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "shards"
seed = 7
duration = "3s"
thresholds = ["requests >= 150"]

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
instances = {instances}
workers_per_instance = 4

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{{0..9}}"
rate = "60/s"

[[timeline]]
at = "1s"
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
    let dir = std::env::temp_dir().join(format!("iamstorm-shards-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary parses")
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Every tagged (op × class) histogram of an interval log, added into one,
/// with HdrHistogram's own parser.
fn histogram_of_logs(paths: &[PathBuf]) -> Histogram<u64> {
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut deserializer = Deserializer::new();
    for path in paths {
        let bytes = std::fs::read(path).expect("hlog");
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = entry.expect("log entry parses") {
                if i.tag().is_none() {
                    continue;
                }
                let raw = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    i.encoded_histogram(),
                )
                .expect("base64");
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut raw.as_slice())
                    .expect("a V2 histogram");
                all.add(&h).expect("same bounds");
            }
        }
    }
    all
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn assert_percentiles_equal(merged: &serde_json::Value, h: &Histogram<u64>, what: &str) {
    for (key, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        assert_eq!(
            merged[key].as_f64(),
            Some(ms(h.value_at_quantile(q))),
            "{what} {key}: merged {merged} vs one histogram of every shard"
        );
    }
    assert_eq!(merged["max"].as_f64(), Some(ms(h.max())), "{what} max");
}

#[tokio::test]
async fn three_shards_upload_to_s3_and_merge_exactly_with_thresholds_on_merged_data() {
    let dir = temp_dir("e2e");
    let path = scenario(&dir, 5);
    let sim = Sim::start(None);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sim.config())
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("results")
        .send()
        .await
        .expect("results bucket");
    // Far enough ahead for three debug-build processes to set up on 2 cores;
    // a shard that misses it starts late and says so (the merge aligns it).
    let start = SystemTime::now() + Duration::from_secs(8);
    let start_at = time::OffsetDateTime::from(start)
        .replace_nanosecond(0)
        .expect("whole second")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let run_id = format!(
        "{}-shards",
        time::OffsetDateTime::from(start)
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .expect("formats")
    );
    let outs: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard{i}"))).collect();
    let children: Vec<_> = (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            sim.iamstorm(&[
                "run",
                path.to_str().expect("utf-8"),
                "--target",
                "endpoint",
                "--endpoint-url",
                sim.url(),
                "--shard",
                &shard,
                "--start-at",
                &start_at,
                "--results-uri",
                "s3://results/runs/",
                "--quiet",
                "--out",
                outs[i].to_str().expect("utf-8"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("shard starts")
        })
        .collect();
    let runs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("shard ends"))
        .collect();
    for (i, run) in runs.iter().enumerate() {
        let stdout = text(&run.stdout);
        assert_eq!(
            code(run),
            Some(0),
            "shard {i}: {}\n{stdout}",
            text(&run.stderr)
        );
        // The seed is derived per shard and printed with how to replay it.
        assert!(
            stdout.contains(&format!(
                "shard {i}/3 (from --shard): run id {run_id}, seed "
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "derived from base seed 7 (replay with --seed 7 --shard {i}/3)"
            )),
            "{stdout}"
        );
    }
    let shards: Vec<serde_json::Value> = outs.iter().map(|o| json(o)).collect();
    let mut seeds = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        let info = &s["shard"];
        assert_eq!(info["index"], i as u64);
        assert_eq!(info["count"], 3);
        assert_eq!(info["instances"], [2, 2, 1][i], "{info}");
        assert_eq!(info["instances_total"], 5);
        assert_eq!(s["boots"].as_array().expect("boots").len(), [2, 2, 1][i]);
        assert_eq!(info["owns_timeline"], i == 0);
        assert_eq!(info["start_at"].as_str(), Some(start_at.as_str()));
        assert_eq!(s["run_id"].as_str(), Some(run_id.as_str()));
        // One IAM change, not three: only shard 0 made it.
        assert_eq!(
            s["timeline"].as_array().expect("timeline").len(),
            usize::from(i == 0)
        );
        // Same clock on loopback: the offset is within what was measured.
        let offset = info["clock_offset_ms"].as_f64().expect("offset measured");
        let uncertainty = info["clock_offset_uncertainty_ms"]
            .as_f64()
            .expect("uncertainty");
        assert!(offset.abs() <= uncertainty + 5.0, "{info}");
        // Shards judge no thresholds: the merged data does.
        assert_eq!(s["thresholds"].as_array().map(Vec::len), Some(0));
        assert_eq!(info["thresholds"][0], "requests >= 150");
        seeds.push(s["seed"].as_u64().expect("seed"));
        eprintln!(
            "shard {i}: {} requests, clock offset {offset} ms ±{uncertainty}, started {} ms late",
            s["requests_total"], info["start_late_ms"]
        );
    }
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "a seed per shard");
    // Each shard's share of the rate: 12/s per instance.
    assert_eq!(shards[0]["ops"][0]["rate_per_s"]["target"], 24.0);
    assert_eq!(shards[2]["ops"][0]["rate_per_s"]["target"], 12.0);

    // Uploaded under prefix/<run-id>/shard-I-of-N/.
    let listed = s3
        .list_objects_v2()
        .bucket("results")
        .prefix("runs/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    for i in 0..3 {
        for file in [
            "summary.json",
            "timeseries.csv",
            "latency.hlog",
            "latency_raw.hlog",
        ] {
            let key = format!("runs/{run_id}/shard-{i}-of-3/{file}");
            assert!(keys.contains(&key.as_str()), "{key} not in {keys:?}");
        }
    }

    // Merge from S3.
    let merged_dir = dir.join("merged");
    let merge = sim.run(&[
        "merge",
        &format!("s3://results/runs/{run_id}/"),
        "--endpoint-url",
        sim.url(),
        "--out",
        merged_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        code(&merge),
        Some(0),
        "{}\n{}",
        text(&merge.stderr),
        text(&merge.stdout)
    );
    let m = json(&merged_dir);
    for file in [
        "summary.json",
        "timeseries.csv",
        "summary.txt",
        "report.md",
        "report.html",
        "junit.xml",
        "latency.hlog",
        "latency_raw.hlog",
        "events.csv",
    ] {
        assert!(merged_dir.join(file).is_file(), "merged {file}");
    }
    let md = std::fs::read_to_string(merged_dir.join("report.md")).expect("report.md");
    assert!(md.contains("Merged from 3 of 3 shards"), "{md}");
    // A merged result set is a result set: `report` re-renders it identically.
    let rerendered = dir.join("rerendered");
    let report = sim.run(&[
        "report",
        merged_dir.to_str().expect("utf-8"),
        "--out",
        rerendered.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&report), Some(0), "{}", text(&report.stderr));
    for file in ["report.md", "report.html", "summary.txt", "junit.xml"] {
        assert_eq!(
            std::fs::read(rerendered.join(file)).expect("re-rendered"),
            std::fs::read(merged_dir.join(file)).expect("merged"),
            "{file}"
        );
    }
    let sum = |f: &dyn Fn(&serde_json::Value) -> u64| shards.iter().map(f).sum::<u64>();
    let total = sum(&|s| s["requests_total"].as_u64().expect("count"));
    assert_eq!(m["requests_total"].as_u64(), Some(total));
    assert!(total >= 150, "{total}");
    for class in ["ok", "access_denied", "throttled", "connection", "timeout"] {
        assert_eq!(
            m["counts_by_class"][class].as_u64(),
            Some(sum(&|s| s["counts_by_class"][class]
                .as_u64()
                .expect("count"))),
            "{class}"
        );
    }
    assert_eq!(
        m["ops"][0]["requests"].as_u64(),
        Some(sum(&|s| s["ops"][0]["requests"].as_u64().expect("count")))
    );
    assert_eq!(m["ops"][0]["rate_per_s"]["target"], 60.0);
    assert_eq!(m["seed"], 7);
    assert_eq!(m["merged"]["merged"], serde_json::json!([0, 1, 2]));
    assert_eq!(m["boots"].as_array().map(Vec::len), Some(5));
    assert_eq!(m["timeline"].as_array().map(Vec::len), Some(1));
    // Percentiles: exactly those of one histogram of every shard's samples.
    let corrected = histogram_of_logs(
        &outs
            .iter()
            .map(|o| o.join("latency.hlog"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(corrected.len(), total);
    assert_percentiles_equal(&m["latency_ms"], &corrected, "corrected");
    assert_percentiles_equal(&m["ops"][0]["latency_ms"], &corrected, "op corrected");
    let raw = histogram_of_logs(
        &outs
            .iter()
            .map(|o| o.join("latency_raw.hlog"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(raw.len(), total);
    assert_percentiles_equal(&m["latency_raw_ms"], &raw, "raw");
    // The merged log is one histogram of them too.
    let relogged = histogram_of_logs(&[merged_dir.join("latency.hlog")]);
    assert_eq!(relogged, corrected);
    // The merged time series adds up to the total, on one wall-clock axis.
    let csv = std::fs::read_to_string(merged_dir.join("timeseries.csv")).expect("csv");
    let counted: u64 = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(3)
                .expect("count")
                .parse::<u64>()
                .expect("n")
        })
        .sum();
    assert_eq!(counted, total);
    eprintln!(
        "merged: {total} requests, p50 {} ms p99 {} ms, shards started within {} ms",
        m["latency_ms"]["p50"], m["latency_ms"]["p99"], m["merged"]["start_spread_ms"]
    );

    // The scenario's threshold, judged on merged data, holds...
    assert_eq!(m["thresholds"][0]["threshold"], "requests >= 150");
    assert_eq!(m["thresholds"][0]["passed"], true);
    // ...though no shard alone meets it.
    let alone = sim.run(&[
        "report",
        outs[0].to_str().expect("utf-8"),
        "--out",
        dir.join("alone").to_str().expect("utf-8"),
        "--threshold",
        "requests >= 150",
    ]);
    assert_eq!(code(&alone), Some(1), "{}", text(&alone.stderr));
    // A merged gate that fails changes the exit code (local directories now).
    let failing = sim.run(&[
        "merge",
        outs[0].to_str().expect("utf-8"),
        outs[1].to_str().expect("utf-8"),
        outs[2].to_str().expect("utf-8"),
        "--out",
        dir.join("merged-fail").to_str().expect("utf-8"),
        "--threshold",
        &format!("requests > {total}"),
    ]);
    assert_eq!(code(&failing), Some(1), "{}", text(&failing.stderr));
    assert!(
        text(&failing.stderr).contains("1 of 2 thresholds failed on the merged data"),
        "{}",
        text(&failing.stderr)
    );

    // A missing shard is named, exit 2; --allow-missing merges and says so.
    let partial = [
        "merge",
        outs[0].to_str().expect("utf-8"),
        outs[2].to_str().expect("utf-8"),
        "--out",
    ];
    let m1 = dir.join("m1");
    let missing = sim.run(&[&partial[..], &[m1.to_str().expect("utf-8")][..]].concat());
    assert_eq!(code(&missing), Some(2));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains(&format!(
            "run {run_id}: 1 of 3 shards missing: shard-1-of-3 (have 0, 2)"
        )),
        "{stderr}"
    );
    let m2 = dir.join("m2");
    let allowed = sim.run(
        &[
            &partial[..],
            &[m2.to_str().expect("utf-8"), "--allow-missing"][..],
        ]
        .concat(),
    );
    // Its merged data (shards 0 and 2: 108 requests) fails the scenario's gate.
    assert_eq!(code(&allowed), Some(1), "{}", text(&allowed.stderr));
    let p = json(&dir.join("m2"));
    assert_eq!(p["merged"]["missing"], serde_json::json!([1]));
    assert!(
        p["verdict_lines"][0]
            .as_str()
            .expect("verdict")
            .starts_with("Partial merge: 1 of 3 shards are missing (shard 1)"),
        "{}",
        p["verdict_lines"]
    );
    // A duplicate is refused.
    let dup = sim.run(&[
        "merge",
        outs[1].to_str().expect("utf-8"),
        outs[1].to_str().expect("utf-8"),
        outs[0].to_str().expect("utf-8"),
        outs[2].to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&dup), Some(2));
    assert!(
        text(&dup.stderr).contains("shard 1 of 3 appears twice"),
        "{}",
        text(&dup.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Flags, environment, and what the error must say.
type BadCase = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_shard_input_is_exit_2_with_what_to_do() {
    let dir = temp_dir("bad");
    let path = scenario(&dir, 2);
    let p = path.to_str().expect("utf-8");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iamstorm"));
        cmd.arg("run").arg(p).args(args);
        for var in [
            "JOB_COMPLETION_INDEX",
            "IAMSTORM_SHARDS",
            "AWS_BATCH_JOB_ARRAY_INDEX",
            "AWS_BATCH_JOB_ARRAY_SIZE",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("runs")
    };
    let cases: [BadCase; 6] = [
        (
            &["--shard", "3/3"],
            &[],
            "shard index 3 is not below the count 3",
        ),
        (
            &["--shard", "2/3", "--run-id", "r"],
            &[],
            "group \"web\" has 2 instances, fewer than the 3 shards",
        ),
        (
            &["--shard", "0/2"],
            &[],
            "needs a run id every shard agrees on",
        ),
        (
            &["--results-uri", "s3://results/x/"],
            &[],
            "--results-uri uploads to the target's S3",
        ),
        (
            &[],
            &[("JOB_COMPLETION_INDEX", "1")],
            "IAMSTORM_SHARDS is not",
        ),
        (&["--start-at", "noon"], &[], "is not an RFC 3339 time"),
    ];
    for (args, env, expected) in cases {
        let out = run(args, env);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A directory that is not a shard's results.
    let merge = std::process::Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(["merge", dir.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(code(&merge), Some(2));
    assert!(text(&merge.stderr).contains("holds no shard results"));
    let _ = std::fs::remove_dir_all(&dir);
}
