//! The load model end to end: a scenario with a Poisson ramp and a closed
//! entry runs against the embedded double through `iamstorm::run`, real SDK
//! clients, and the achieved per-second counts follow the profile.

use std::collections::BTreeMap;
use std::path::PathBuf;

use iamstorm::run::{RunOptions, execute};

const SCENARIO: &str = r#"
name = "load-model"
seed = 11
duration = "4s"

[[iam.roles]]
name = "app-role"
trust = "ec2"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 16

[[load]]
name = "ramp"
op = "sts:GetCallerIdentity"
ramp = { from = 20, to = 220 }
arrivals = "poisson"

[[load]]
name = "closed"
op = "sts:GetCallerIdentity"
model = "closed"
workers = 1
think_time = "200ms"
"#;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// (second, op) → (count over every class, target).
fn per_second(csv: &str) -> BTreeMap<(u64, String), (u64, Option<f64>)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (second, op, count, target) = (
        col("second"),
        col("op"),
        col("count"),
        col("rate_per_s_target"),
    );
    let mut out: BTreeMap<(u64, String), (u64, Option<f64>)> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let key = (f[second].parse().expect("whole seconds"), f[op].to_owned());
        let cell = out.entry(key).or_default();
        cell.0 += f[count].parse::<u64>().expect("count");
        cell.1 = f[target].parse().ok();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisson_ramp_is_followed_and_closed_workers_loop() {
    let dir = out_dir("load-model");
    let scenario = iamstorm::scenario::parse("load.toml", SCENARIO, std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: PathBuf::from("load.toml"),
        out: Some(dir.clone()),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let outcome = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!outcome.interrupted);
    let csv = std::fs::read_to_string(dir.join("timeseries.csv")).expect("timeseries.csv");
    let seconds = per_second(&csv);

    // Ramp 20 → 220 /s over 4 s: 45, 95, 145, 195 expected per second.
    let mut counts = Vec::new();
    for s in 0..4u64 {
        let expected = 20.0 + 50.0 * (s as f64 + 0.5);
        let (n, target) = seconds
            .get(&(s, "ramp".to_owned()))
            .copied()
            .unwrap_or_else(|| panic!("second {s} of the ramp in {csv}"));
        let target = target.expect("the profile's target is recorded");
        assert!(
            (target - expected).abs() < 1e-6,
            "second {s}: target {target} vs {expected}"
        );
        // Poisson arrivals: within four standard deviations of the integral.
        assert!(
            (n as f64 - expected).abs() < 4.0 * expected.sqrt(),
            "second {s}: {n} requests vs {expected} expected\n{csv}"
        );
        counts.push(n);
    }
    assert!(
        counts[3] as f64 > 2.5 * counts[0] as f64,
        "the rate ramps: {counts:?}"
    );

    // Closed: 2 instances × 1 worker, each request then 200 ms of thought:
    // at most 5 per worker-second, and no target rate.
    let closed: u64 = (0..4u64)
        .filter_map(|s| seconds.get(&(s, "closed".to_owned())))
        .map(|(n, target)| {
            assert_eq!(*target, None, "closed entries have no rate target");
            *n
        })
        .sum();
    assert!(
        (20..=42).contains(&closed),
        "closed workers sent {closed} in 4 s"
    );
    eprintln!("ramp per second: {counts:?}; closed: {closed}");
    let _ = std::fs::remove_dir_all(&dir);
}

const CAPPED: &str = r#"
name = "capped"
seed = 3
duration = "2s"

[[sim.faults]]
kind = "latency"
service = "sts"
model = "fixed"
delay = "250ms"

[[iam.roles]]
name = "app-role"
trust = "ec2"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 1

[[load]]
op = "sts:GetCallerIdentity"
rate = 20
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_in_flight_cap_are_refused_and_counted() {
    let dir = out_dir("capped");
    let scenario = iamstorm::scenario::parse("capped.toml", CAPPED, std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: PathBuf::from("capped.toml"),
        out: Some(dir.clone()),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let s = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message))
        .summary;
    // 20/s for 2 s, uniform: 40 due. One worker, 250 ms per answer: at most
    // 4 per second are sent; the rest are refused, and every one is counted.
    assert_eq!(s.requests_total + s.refused, 40, "{s:?}");
    assert!((4..=10).contains(&s.requests_total), "{s:?}");
    assert_eq!(s.ops[0].refused, s.refused);
    assert!(
        s.verdict_lines.iter().any(|l| l.contains("were not sent")),
        "{:?}",
        s.verdict_lines
    );
    eprintln!("capped: {} sent, {} refused", s.requests_total, s.refused);
    let _ = std::fs::remove_dir_all(&dir);
}

const KEYS: &str = r#"
name = "keys"
seed = 5
duration = "2s"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { rw = "rw.json" }

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "obj-{0..4}"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 8

# 50 keys, only the 5 hottest exist: Zipf s=2 puts ~90 % of requests there.
[[load]]
name = "hot"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..49}"
key_choice = "zipf"
zipf_exponent = 2.0
rate = 100

[[load]]
name = "delete"
op = "s3:DeleteObject"
bucket = "assets"
keys = "gone-{0..9}"
rate = 10
"#;

const RW_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::assets/*"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipf_keys_hit_the_hot_set_and_deletes_go_through_the_sdk() {
    let dir = out_dir("keys");
    std::fs::create_dir_all(&dir).expect("out dir");
    std::fs::write(dir.join("rw.json"), RW_POLICY).expect("policy file");
    let scenario =
        iamstorm::scenario::parse("keys.toml", KEYS, &dir).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: dir.join("keys.toml"),
        out: Some(dir.join("out")),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let s = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message))
        .summary;
    let [hot, delete] = &s.ops[..] else {
        panic!("two ops: {s:?}")
    };
    let ok = |o: &iamstorm::report::summary::OpSummary| {
        o.counts_by_class
            .get(iamstorm::observe::outcome::OutcomeClass::Ok)
    };
    assert_eq!(hot.requests, 200, "{hot:?}");
    let hot_share = ok(hot) as f64 / hot.requests as f64;
    // P(rank <= 5) for Zipf s=2 over 50 keys is 0.90; uniform would be 0.10.
    assert!((0.8..=0.97).contains(&hot_share), "{hot_share}: {hot:?}");
    // DeleteObject of an absent key answers 204, like S3.
    assert_eq!((delete.requests, ok(delete)), (20, 20), "{delete:?}");
    eprintln!("zipf hot share: {hot_share:.3}");
    let _ = std::fs::remove_dir_all(&dir);
}

const ROLES: &str = r#"
name = "roles"
seed = 9
duration = "2s"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { chain = "chain.json" }

[[iam.roles]]
name = "target-role"
trust = "trust-app.json"

[[iam.roles]]
name = "ec2-only"
trust = "ec2"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 8

[[load]]
name = "chain"
op = "sts:AssumeRole"
role = "target-role"
session_name = "load-test"
rate = 5

[[load]]
name = "untrusted"
op = "sts:AssumeRole"
role = "ec2-only"
rate = 5

[[load]]
op = "iam:GetRole"
role = "target-role"
rate = 5
"#;

const CHAIN_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
  {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}"#;

const TRUST_APP: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::123456789012:role/app-role"}, "Action": "sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_chains_from_the_instance_role_and_get_role_is_authorized() {
    let dir = out_dir("roles");
    std::fs::create_dir_all(&dir).expect("out dir");
    std::fs::write(dir.join("chain.json"), CHAIN_POLICY).expect("policy file");
    std::fs::write(dir.join("trust-app.json"), TRUST_APP).expect("trust file");
    let scenario =
        iamstorm::scenario::parse("roles.toml", ROLES, &dir).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: dir.join("roles.toml"),
        out: Some(dir.join("out")),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let s = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message))
        .summary;
    use iamstorm::observe::outcome::OutcomeClass::{AccessDenied, Ok};
    let counts: Vec<(&str, u64, u64, u64)> = s
        .ops
        .iter()
        .map(|o| {
            (
                o.op.as_str(),
                o.requests,
                o.counts_by_class.get(Ok),
                o.counts_by_class.get(AccessDenied),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("chain", 10, 10, 0),
            // The role trusts only EC2: the instance role cannot chain into it.
            ("untrusted", 10, 0, 10),
            ("iam:GetRole", 10, 10, 0),
        ],
        "{s:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn throttled_scenario(sdk: &str) -> String {
    format!(
        r#"
name = "retries"
seed = 13
duration = "2s"
{sdk}

[[sim.faults]]
kind = "error"
service = "sts"
action = "GetCallerIdentity"
probability = 0.5
status = 400
code = "Throttling"

[[iam.roles]]
name = "app-role"
trust = "ec2"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 64

[[load]]
op = "sts:GetCallerIdentity"
rate = 15
"#
    )
}

/// (ok, throttled) of a run of `text`.
async fn ok_and_throttled(name: &str, text: &str) -> (u64, u64) {
    use iamstorm::observe::outcome::OutcomeClass::{Ok, Throttled};
    let dir = out_dir(name);
    let scenario = iamstorm::scenario::parse("retries.toml", text, std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: PathBuf::from("retries.toml"),
        out: Some(dir.clone()),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let s = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message))
        .summary;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(s.requests_total, 30, "{s:?}");
    (s.counts_by_class.get(Ok), s.counts_by_class.get(Throttled))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_retries_hide_throttling_that_raw_outcomes_show() {
    // Half of the calls are throttled by the double.
    let (ok_off, throttled_off) = ok_and_throttled("retry-off", &throttled_scenario("")).await;
    assert_eq!(ok_off + throttled_off, 30);
    assert!(
        (8..=22).contains(&throttled_off),
        "raw: {throttled_off} of 30 throttled"
    );
    // Standard retries, 5 attempts: a call fails only if all 5 are throttled (3 %).
    let (ok_std, throttled_std) = ok_and_throttled(
        "retry-standard",
        &throttled_scenario("[sdk]\nretry = \"standard\"\nmax_attempts = 5"),
    )
    .await;
    // The rest may time out: the SDK's jittered backoff (up to 20 s) can
    // outlast the 10 s operation timeout — retries trade errors for latency.
    assert!(
        ok_std >= 25 && throttled_std <= 3 && ok_std >= ok_off + 8,
        "with retries: {ok_std} ok, {throttled_std} throttled (without: {ok_off} ok)"
    );
    eprintln!(
        "retry off: {ok_off} ok / {throttled_off} throttled; standard x5: {ok_std} ok / {throttled_std} throttled"
    );
}
