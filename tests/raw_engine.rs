//! The raw engine end to end, through `iamstorm::run` against the embedded
//! double over loopback: a raw entry and an SDK entry in the same situation
//! end in the same classes (ok; denied before a grant propagates, with the
//! `implicit` sub-reason; throttled with `SlowDown` above a quota); the
//! classifier agrees 100 % with the double's ground truth on raw-only runs;
//! and raw credentials follow IMDS rotations without an auth error.

use std::path::{Path, PathBuf};

use iamstorm::run::{RunOptions, execute};

/// S3 reads per second per prefix (here: per bucket): the hot buckets are
/// read at 4× this, everything else below it.
const QUOTA: u32 = 10;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-raw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A read policy on `buckets`.
fn read_policy(dir: &Path, file: &str, buckets: &[&str]) {
    let resources: Vec<String> = buckets
        .iter()
        .map(|b| format!("\"arn:aws:s3:::{b}/*\""))
        .collect();
    std::fs::write(
        dir.join(file),
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":[{}]}}]}}"#,
            resources.join(",")
        ),
    )
    .expect("policy file");
}

/// A GetObject `[[load]]` on `bucket` at `rate` per second.
fn get(name: &str, engine: &str, bucket: &str, rate: u32) -> String {
    format!(
        "[[load]]\nname = \"{name}\"\nengine = \"{engine}\"\nop = \"s3:GetObject\"\nbucket = \"{bucket}\"\nkeys = \"obj-{{0..9}}\"\nrate = {rate}\n\n"
    )
}

fn buckets(names: &[&str]) -> String {
    names
        .iter()
        .map(|b| format!("[[s3.buckets]]\nname = \"{b}\"\nobjects = \"obj-{{0..9}}\"\n\n"))
        .collect()
}

/// Runs `text` (policy files in `dir`) and returns summary.json.
async fn run(dir: &Path, text: &str) -> serde_json::Value {
    std::fs::write(dir.join("scenario.toml"), text).expect("scenario file");
    let scenario =
        iamstorm::scenario::parse("scenario.toml", text, dir).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: dir.join("scenario.toml"),
        out: Some(dir.join("out")),
        quiet: true,
        ..Default::default()
    };
    let outcome = execute(&scenario, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!outcome.interrupted);
    let text = std::fs::read_to_string(dir.join("out/summary.json")).expect("summary.json");
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

fn count(op: &serde_json::Value, class: &str) -> u64 {
    op["counts_by_class"][class].as_u64().unwrap_or(0)
}

/// Classes with a non-zero count.
fn classes(op: &serde_json::Value) -> Vec<(String, u64)> {
    op["counts_by_class"]
        .as_object()
        .expect("counts")
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect()
}

/// Every request with an id was sampled, found, and classified as the
/// double decided; the matrix has the cells `want` (truth, class).
fn classifier_agrees(s: &serde_json::Value, want: &[(&str, &str)]) {
    let c = &s["classifier"];
    let total = s["requests_total"].as_u64().expect("total");
    assert!(total > 0);
    assert_eq!(c["requests_with_id"].as_u64(), Some(total), "{c}");
    assert_eq!(c["found"].as_u64(), Some(total), "{c}");
    assert_eq!(c["agreement"].as_f64(), Some(1.0), "{c}");
    for (truth, class) in want {
        assert!(
            c["matrix"]
                .as_array()
                .expect("matrix")
                .iter()
                .any(|m| m["truth"] == *truth && m["class"] == *class && m["agrees"] == true),
            "no agreeing {truth}/{class} cell: {c}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_and_sdk_entries_classify_the_same_situations_alike() {
    let dir = scratch("same");
    read_policy(
        &dir,
        "read.json",
        &["open-raw", "open-sdk", "hot-raw", "hot-sdk"],
    );
    read_policy(&dir, "grant.json", &["late-raw", "late-sdk"]);
    let mut text = format!(
        r#"name = "raw-vs-sdk"
seed = 21
duration = "5s"

[sim.propagation]
model = "fixed"
delay = "1s"
replicas = 4

[sim.quotas]
s3_read_per_s = {QUOTA}

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ read = "read.json" }}

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 32

[[timeline]]
at = "2s"
action = "put-role-policy"
role = "app-role"
policy_name = "late"
policy = "grant.json"

{}"#,
        buckets(&[
            "open-raw", "open-sdk", "late-raw", "late-sdk", "hot-raw", "hot-sdk"
        ])
    );
    for engine in ["raw", "sdk"] {
        text.push_str(&get(
            &format!("open-{engine}"),
            engine,
            &format!("open-{engine}"),
            5,
        ));
        text.push_str(&get(
            &format!("late-{engine}"),
            engine,
            &format!("late-{engine}"),
            5,
        ));
        text.push_str(&get(
            &format!("hot-{engine}"),
            engine,
            &format!("hot-{engine}"),
            4 * QUOTA,
        ));
    }
    let s = run(&dir, &text).await;

    // Allowed all along: every request ok, on both engines.
    let (open_raw, open_sdk) = (op(&s, "open-raw"), op(&s, "open-sdk"));
    assert_eq!(classes(open_raw), vec![("ok".to_owned(), 25)], "{open_raw}");
    assert_eq!(classes(open_sdk), classes(open_raw), "{open_sdk}");

    // Granted at 2 s, applied 1 s after the ack: denied (implicitly — no
    // policy allows it) until about 3 s, then ok. The same schedule meets
    // the same switch, give or take the request at the boundary.
    let (late_raw, late_sdk) = (op(&s, "late-raw"), op(&s, "late-sdk"));
    for late in [late_raw, late_sdk] {
        assert_eq!(late["requests"], 25, "{late}");
        let denied = count(late, "access_denied");
        assert!((12..=19).contains(&denied), "{late}");
        assert_eq!(count(late, "ok"), 25 - denied, "{late}");
        assert_eq!(
            late["details_by_class"]["access_denied"],
            serde_json::json!({ "implicit": denied }),
            "{late}"
        );
    }
    let denied_diff = count(late_raw, "access_denied").abs_diff(count(late_sdk, "access_denied"));
    assert!(denied_diff <= 1, "raw {late_raw}\nsdk {late_sdk}");

    // Read at 4× the quota: SlowDown on both, about as often — each
    // engine has its own bucket (its own token bucket) and the same
    // schedule, so they differ only by when requests reach the double.
    let (hot_raw, hot_sdk) = (op(&s, "hot-raw"), op(&s, "hot-sdk"));
    for hot in [hot_raw, hot_sdk] {
        assert_eq!(hot["requests"], 200, "{hot}");
        let throttled = count(hot, "throttled");
        assert_eq!(count(hot, "ok") + throttled, 200, "{hot}");
        // Burst of 10 plus 10/s over 5 s: about 60 ok, 140 SlowDown.
        assert!((120..=160).contains(&throttled), "{hot}");
        assert_eq!(
            hot["details_by_class"]["throttled"],
            serde_json::json!({ "SlowDown": throttled }),
            "{hot}"
        );
    }
    let throttled_diff = count(hot_raw, "throttled").abs_diff(count(hot_sdk, "throttled"));
    assert!(throttled_diff <= 6, "raw {hot_raw}\nsdk {hot_sdk}");

    classifier_agrees(
        &s,
        &[
            ("ok", "ok"),
            ("denied", "access_denied"),
            ("throttled", "throttled"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_credentials_follow_imds_rotation_and_the_classifier_agrees() {
    let dir = scratch("rotate");
    read_policy(&dir, "read.json", &["assets", "hot"]);
    let text = format!(
        r#"name = "raw-rotation"
seed = 22
duration = "10s"

[sim.imds]
credentials_ttl = "4s"
rotate_before = "2s"

[sim.quotas]
s3_read_per_s = {QUOTA}

[sdk]
identity_cache_buffer = "1s"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ read = "read.json" }}

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

{buckets}[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 16

{reads}{closed}{hot}[[load]]
name = "whoami"
engine = "raw"
op = "sts:GetCallerIdentity"
rate = 5

[[load]]
name = "head"
engine = "raw"
op = "s3:HeadObject"
bucket = "assets"
keys = "obj-{{0..9}}"
rate = 2
"#,
        buckets = buckets(&["assets", "closed", "hot"]),
        reads = get("reads", "raw", "assets", 6),
        closed = get("closed", "raw", "closed", 2),
        hot = get("hot", "raw", "hot", 4 * QUOTA),
    );
    let s = run(&dir, &text).await;
    // Instance credentials live 4 s; the load runs 10 s. Without a refresh
    // the requests after 4 s would fail with ExpiredToken (auth_error).
    for (name, requests) in [("reads", 60), ("whoami", 50), ("head", 20)] {
        let o = op(&s, name);
        assert_eq!(classes(o), vec![("ok".to_owned(), requests)], "{o}");
    }
    let closed = op(&s, "closed");
    assert_eq!(
        classes(closed),
        vec![("access_denied".to_owned(), 20)],
        "{closed}"
    );
    assert_eq!(
        closed["details_by_class"]["access_denied"],
        serde_json::json!({ "implicit": 20 })
    );
    let hot = op(&s, "hot");
    assert!(count(hot, "throttled") > 0, "{hot}");
    assert_eq!(count(hot, "ok") + count(hot, "throttled"), 400, "{hot}");
    assert_eq!(
        s["counts_by_class"]["auth_error"], 0,
        "{}",
        s["counts_by_class"]
    );
    assert_eq!(s["counts_by_class"]["credentials_unavailable"], 0);
    classifier_agrees(
        &s,
        &[
            ("ok", "ok"),
            ("denied", "access_denied"),
            ("throttled", "throttled"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_failures_and_resets_read_the_same_on_both_engines() {
    let dir = scratch("failures");
    read_policy(&dir, "read.json", &["assets"]);
    let mut text = format!(
        r#"name = "raw-failures"
seed = 23
duration = "2s"

# Every HeadObject's connection is closed unanswered.
[[sim.faults]]
kind = "reset"
service = "s3"
action = "HeadObject"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = {{ read = "read.json" }}

# EC2 may not assume it: IMDS has no credentials to give.
[[iam.roles]]
name = "lambda-role"
trust = "none"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[iam.instance_profiles]]
name = "lambda-profile"
role = "lambda-role"

{buckets}[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 8

[[fleet]]
group = "broken"
instance_profile = "lambda-profile"
instances = 1
workers_per_instance = 8

"#,
        buckets = buckets(&["assets"]),
    );
    for engine in ["raw", "sdk"] {
        text.push_str(&format!(
            "[[load]]\nname = \"nocreds-{engine}\"\nengine = \"{engine}\"\ngroup = \"broken\"\nop = \"sts:GetCallerIdentity\"\nrate = 5\n\n\
             [[load]]\nname = \"reset-{engine}\"\nengine = \"{engine}\"\ngroup = \"web\"\nop = \"s3:HeadObject\"\nbucket = \"assets\"\nkeys = \"obj-{{0..9}}\"\nrate = 5\n\n"
        ));
    }
    let s = run(&dir, &text).await;
    for engine in ["raw", "sdk"] {
        let nocreds = op(&s, &format!("nocreds-{engine}"));
        assert_eq!(
            classes(nocreds),
            vec![("credentials_unavailable".to_owned(), 10)],
            "{nocreds}"
        );
        assert_eq!(
            nocreds["details_by_class"]["credentials_unavailable"],
            serde_json::json!({ "trust_failure": 10 }),
            "{nocreds}"
        );
        let reset = op(&s, &format!("reset-{engine}"));
        assert_eq!(
            classes(reset),
            vec![("connection".to_owned(), 10)],
            "{reset}"
        );
    }
    assert_eq!(
        op(&s, "reset-raw")["details_by_class"],
        op(&s, "reset-sdk")["details_by_class"]
    );
}
