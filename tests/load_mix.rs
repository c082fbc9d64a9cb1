//! Load features through the binary against a standalone `iamstorm sim`
//! (so the objects the run wrote can be read back afterwards): a `mix`
//! splits one entry's rate over its ops by weight and reports each op on
//! its own row; `size` sets PutObject bodies; an entry's own `sdk`
//! overrides retries and timeouts for its calls only.

use std::path::{Path, PathBuf};

mod standalone;
use standalone::Sim;

const READ_WRITE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::assets/*"}]}"#;

fn scenario(dir: &Path, load: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("rw.json"), READ_WRITE).expect("policy");
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "load-mix"
seed = 9
duration = "4s"
{extra}

[sim.propagation]
model = "fixed"
delay = "10ms"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ rw = "rw.json" }}

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "obj-{{0..19}}"
object_size = "1KiB"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 16

{load}
"#
        ),
    )
    .expect("scenario");
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-load-mix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn run(sim: &Sim, path: &Path, out: &Path) -> serde_json::Value {
    let done = sim.run(&[
        "run",
        path.to_str().expect("utf-8"),
        "--quiet",
        "--target",
        "endpoint",
        "--endpoint-url",
        sim.url(),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary parses")
}

fn op<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .find(|o| o["op"] == name)
        .unwrap_or_else(|| panic!("no op {name} in {}", summary["ops"]))
}

#[tokio::test]
async fn a_mix_splits_the_rate_by_weight_and_puts_bodies_of_its_size() {
    let dir = temp_dir("mix");
    let path = scenario(
        &dir,
        r#"[[load]]
name = "api"
bucket = "assets"
keys = "obj-{0..19}"
rate = "80/s"
mix = [
  { op = "s3:GetObject", weight = 3 },
  { op = "s3:PutObject", weight = 1, size = "8KiB" },
]
"#,
        "",
    );
    let sim = Sim::start(None);
    let s = run(&sim, &path, &dir.join("out"));
    let reads = op(&s, "api/s3:GetObject");
    let writes = op(&s, "api/s3:PutObject");
    assert_eq!(reads["api"], "s3:GetObject");
    assert_eq!(writes["api"], "s3:PutObject");
    // 80/s for 4 s, 3:1: uniform arrivals land on the planned counts.
    assert_eq!(reads["requests"], 240, "{reads}");
    assert_eq!(writes["requests"], 80, "{writes}");
    assert_eq!(reads["counts_by_class"]["ok"], 240, "{reads}");
    assert_eq!(writes["counts_by_class"]["ok"], 80, "{writes}");
    assert_eq!(s["requests_total"], 320);
    // Judged by actual sends, every second met its target.
    for o in [reads, writes] {
        let acc = &o["rate_per_s"]["per_interval"];
        assert_eq!(acc["intervals"], 4, "{o}");
        assert_eq!(acc["intervals_outside_1pct"], 0, "{o}");
    }
    // The writes replaced the seeded 1 KiB objects with 8 KiB bodies.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sim.config())
            .force_path_style(true)
            .build(),
    );
    let mut sizes = Vec::new();
    for i in 0..20 {
        let head = s3
            .head_object()
            .bucket("assets")
            .key(format!("obj-{i}"))
            .send()
            .await
            .expect("head object");
        sizes.push(head.content_length().unwrap_or_default());
    }
    assert!(
        sizes.contains(&8192),
        "some object was rewritten: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&n| n == 8192 || n == 1024),
        "every object is seeded or written: {sizes:?}"
    );
}

#[tokio::test]
async fn a_lean_sdk_reads_and_writes_like_the_default() {
    let dir = temp_dir("lean");
    let path = scenario(
        &dir,
        r#"[[load]]
name = "api"
bucket = "assets"
keys = "obj-{0..19}"
rate = "40/s"
mix = [
  { op = "s3:GetObject", weight = 1 },
  { op = "s3:PutObject", weight = 1, size = "2KiB" },
]
"#,
        "[sdk]\nlean = true",
    );
    let sim = Sim::start(None);
    let s = run(&sim, &path, &dir.join("out"));
    for name in ["api/s3:GetObject", "api/s3:PutObject"] {
        let o = op(&s, name);
        assert_eq!(o["requests"], 80, "{o}");
        assert_eq!(o["counts_by_class"]["ok"], 80, "{o}");
    }
    // The lean client's path-style resolver addressed the same objects:
    // the double saw the writes on the bucket's keys.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sim.config())
            .force_path_style(true)
            .build(),
    );
    let mut written = 0;
    for i in 0..20 {
        let head = s3
            .head_object()
            .bucket("assets")
            .key(format!("obj-{i}"))
            .send()
            .await
            .expect("head object");
        written += usize::from(head.content_length() == Some(2048));
    }
    assert!(written > 0, "no object holds a lean PutObject's body");
}

#[test]
fn lean_is_refused_on_an_entry() {
    let dir = temp_dir("lean-entry");
    let path = scenario(
        &dir,
        "[[load]]\nop = \"s3:GetObject\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10\nsdk = { lean = true }\n",
        "",
    );
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(["validate", path.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`lean` belongs to the instance's client"),
        "{stderr}"
    );
    assert!(stderr.contains("scenario.toml:"), "located: {stderr}");
}

#[tokio::test]
async fn an_entry_s_own_sdk_settings_apply_to_its_calls_only() {
    let dir = temp_dir("sdk");
    // Every S3 answer takes 300 ms; one entry gives up after 100 ms.
    let path = scenario(
        &dir,
        r#"[[load]]
name = "patient"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..19}"
rate = 10

[[load]]
name = "hasty"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..19}"
rate = 10
sdk = { operation_timeout = "100ms" }

[[sim.faults]]
kind = "latency"
service = "s3"
model = "fixed"
delay = "300ms"
"#,
        "",
    );
    let sim = Sim::start(None);
    let s = run(&sim, &path, &dir.join("out"));
    let patient = op(&s, "patient");
    let hasty = op(&s, "hasty");
    assert_eq!(patient["counts_by_class"]["ok"], 40, "{patient}");
    assert_eq!(hasty["counts_by_class"]["timeout"], 40, "{hasty}");
    assert!(
        patient["latency_ms"]["p50"].as_f64() > Some(290.0),
        "{patient}"
    );
    assert!(hasty["latency_ms"]["p99"].as_f64() < Some(250.0), "{hasty}");
}

#[test]
fn mix_mistakes_are_located() {
    let dir = temp_dir("bad");
    let cases = [
        (
            "name = \"api\"\nop = \"s3:GetObject\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10\nmix = [{ op = \"s3:PutObject\", weight = 1 }]",
            "either `op` or `mix`, not both",
        ),
        (
            "name = \"api\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10\nmix = [{ op = \"s3:GetObject\", weight = 0 }]",
            "`weight` must be between 1 and 10000 (got 0)",
        ),
        (
            "name = \"api\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nmodel = \"closed\"\nworkers = 2\nmix = [{ op = \"s3:GetObject\", weight = 1 }]",
            "a mix shares a rate, so it needs the open model",
        ),
        (
            "name = \"api\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10\nmix = [{ op = \"s3:GetObject\", weight = 1, size = \"1KiB\" }]",
            "`size` is the s3:PutObject body size; s3:GetObject sends none",
        ),
        (
            "name = \"api\"\nop = \"s3:GetObject\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10\nsdk = { identity_cache_buffer = \"1m\" }",
            "`identity_cache_buffer` belongs to the instance",
        ),
        (
            "name = \"api\"\nbucket = \"assets\"\nkeys = \"obj-{0..19}\"\nrate = 10",
            "a [[load]] needs `op` (or `mix`)",
        ),
    ];
    for (load, expected) in cases {
        let path = scenario(&dir, &format!("[[load]]\n{load}\n"), "");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_iamstorm"))
            .args(["validate", path.to_str().expect("utf-8")])
            .output()
            .expect("validate runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{load}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{load}: missing {expected:?} in\n{stderr}"
        );
        let text = std::fs::read_to_string(&path).expect("scenario");
        let first = text.lines().position(|l| l == "[[load]]").expect("load") + 1;
        let lines = text.lines().count();
        assert!(
            (first..=lines).any(|n| stderr.contains(&format!("scenario.toml:{n}:"))),
            "{load}: located in the [[load]] (lines {first}..): {stderr}"
        );
    }
}
