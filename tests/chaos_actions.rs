//! Each timeline action applied by `chaos::apply` against the embedded
//! double, its effect checked through the real SDK or the admin API's
//! ground truth.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use common::*;
use iamstorm::chaos::{self, Clients};
use iamstorm::scenario::{DelaySpec, FaultAction, FaultSpec, ImdsOutageMode, TimelineKind, Trust};
use iamstorm::sim::SimHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const BOUNDARY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
const DENY_READS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;

fn clients(sim: &SimHandle, instances: Vec<(String, String)>) -> Clients {
    let op = operator_config(sim);
    Clients {
        iam: aws_sdk_iam::Client::new(&op),
        s3: s3(&op),
        admin: Some(admin(sim)),
        fleet: None,
        instances,
        launcher: None,
        ec2: None,
        journal: None,
    }
}

async fn ok(clients: &Clients, kind: TimelineKind) -> chaos::Applied {
    let applied = chaos::apply(clients, &kind, 0.0).await;
    assert_eq!(applied.result, Ok(()), "{} failed", applied.label);
    applied
}

/// Every label of the double's IAM versions.
async fn version_labels(sim: &SimHandle) -> Vec<String> {
    let truth = admin(sim).propagation().await.expect("admin API answers");
    truth.versions.into_iter().map(|v| v.label).collect()
}

#[tokio::test]
async fn iam_actions_change_the_role_and_name_their_ground_truth() {
    let sim = start(Duration::from_millis(20), |_| {}).await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let c = clients(&sim, Vec::new());
    let created = c
        .iam
        .create_policy()
        .policy_name("managed-read")
        .policy_document(READ_POLICY)
        .send()
        .await
        .expect("create policy");
    let arn = created
        .policy()
        .and_then(|p| p.arn())
        .expect("policy ARN")
        .to_owned();

    let attach = ok(
        &c,
        TimelineKind::AttachRolePolicy {
            role: ROLE.into(),
            policy_arn: arn.clone(),
        },
    )
    .await;
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .expect("list");
    let arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(arns, [arn.as_str()]);

    ok(
        &c,
        TimelineKind::CreatePolicyVersion {
            policy_arn: arn.clone(),
            document: BOUNDARY.into(),
            set_as_default: true,
        },
    )
    .await;
    let policy = c
        .iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("get policy");
    assert_eq!(
        policy.policy().and_then(|p| p.default_version_id()),
        Some("v2")
    );

    ok(
        &c,
        TimelineKind::UpdateAssumeRolePolicy {
            role: ROLE.into(),
            trust: Trust::Nobody,
        },
    )
    .await;
    let role = c
        .iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("get role");
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default();
    let trust = urlencoding_decode(trust);
    assert!(
        trust.contains("lambda.amazonaws.com") && !trust.contains("ec2."),
        "{trust}"
    );

    ok(
        &c,
        TimelineKind::PutRolePermissionsBoundary {
            role: ROLE.into(),
            policy_arn: arn.clone(),
        },
    )
    .await;
    let role = c
        .iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("get role");
    let boundary = role
        .role()
        .and_then(|r| r.permissions_boundary())
        .and_then(|b| b.permissions_boundary_arn());
    assert_eq!(boundary, Some(arn.as_str()));
    ok(
        &c,
        TimelineKind::DeleteRolePermissionsBoundary { role: ROLE.into() },
    )
    .await;
    let role = c
        .iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("get role");
    assert!(role.role().and_then(|r| r.permissions_boundary()).is_none());

    let detach = ok(
        &c,
        TimelineKind::DetachRolePolicy {
            role: ROLE.into(),
            policy_arn: arn.clone(),
        },
    )
    .await;
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .expect("list");
    assert!(attached.attached_policies().is_empty());

    // Each change names the version the double published for it.
    let labels = version_labels(&sim).await;
    for label in [
        &attach.truth_label,
        &detach.truth_label,
        &format!("CreatePolicyVersion {arn}"),
        &format!("UpdateAssumeRolePolicy {ROLE}"),
        &format!("PutRolePermissionsBoundary {ROLE}={arn}"),
        &format!("DeleteRolePermissionsBoundary {ROLE}"),
    ] {
        assert!(labels.contains(label), "{label:?} not among {labels:?}");
    }

    // An error from IAM is data in the record, not a crash.
    let again = chaos::apply(
        &c,
        &TimelineKind::DetachRolePolicy {
            role: ROLE.into(),
            policy_arn: arn,
        },
        0.0,
    )
    .await;
    let error = again.result.expect_err("detaching twice fails");
    assert!(error.starts_with("NoSuchEntity"), "{error}");
}

/// `%XX` decoding for the trust document IAM returns URL-encoded.
fn urlencoding_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bucket_policy_actions_deny_then_allow_instance_reads() {
    let sim = start(Duration::from_millis(20), |_| {}).await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let c = clients(&sim, Vec::new());
    let instance = s3(&instance_config(&sim, &imds));
    let get = || instance.get_object().bucket(BUCKET).key(KEY).send();
    get()
        .await
        .expect("the role may read before the bucket policy");

    let put = ok(
        &c,
        TimelineKind::PutBucketPolicy {
            bucket: BUCKET.into(),
            document: DENY_READS.into(),
        },
    )
    .await;
    assert_eq!(
        put.truth_label, "",
        "bucket policies publish no IAM version"
    );
    let denied = get()
        .await
        .expect_err("the bucket policy denies reads at once");
    assert_eq!(denied.code(), Some("AccessDenied"));

    ok(
        &c,
        TimelineKind::DeleteBucketPolicy {
            bucket: BUCKET.into(),
        },
    )
    .await;
    get()
        .await
        .expect("reads are allowed again once the policy is gone");
    let missing =
        c.s3.get_bucket_policy()
            .bucket(BUCKET)
            .send()
            .await
            .expect_err("no policy left");
    assert_eq!(missing.code(), Some("NoSuchBucketPolicy"));
}

/// Sends an IMDSv2 token request; `None` when the connection is refused.
async fn imds_status(endpoint: &str) -> Option<String> {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    answer.split(' ').nth(1).map(str::to_owned)
}

#[tokio::test]
async fn imds_actions_hit_only_their_group_and_throttles_end_with_their_window() {
    let sim = start(Duration::from_millis(20), |_| {}).await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let a = admin(&sim);
    let web = a.launch_instance(Some(PROFILE)).await.expect("launch web");
    let db = a.launch_instance(Some(PROFILE)).await.expect("launch db");
    let c = clients(
        &sim,
        vec![
            ("web".into(), web.instance_id.clone()),
            ("db".into(), db.instance_id.clone()),
        ],
    );
    assert_eq!(
        imds_status(&web.imds_endpoint).await.as_deref(),
        Some("200")
    );

    let outage = TimelineKind::ImdsOutage {
        group: Some("web".into()),
        mode: ImdsOutageMode::Refuse,
        window: Duration::from_secs(60),
    };
    let applied = ok(&c, outage).await;
    assert!(
        applied.label.contains("1 instance(s) of web"),
        "{}",
        applied.label
    );
    assert_eq!(
        imds_status(&web.imds_endpoint).await,
        None,
        "web's IMDS port is closed"
    );
    assert_eq!(
        imds_status(&db.imds_endpoint).await.as_deref(),
        Some("200"),
        "db is untouched"
    );

    let unavailable = TimelineKind::ImdsOutage {
        group: Some("db".into()),
        mode: ImdsOutageMode::Unavailable,
        window: Duration::from_secs(60),
    };
    ok(&c, unavailable).await;
    assert_eq!(imds_status(&db.imds_endpoint).await.as_deref(), Some("503"));

    let window = Duration::from_millis(300);
    let throttle = TimelineKind::ImdsThrottle {
        group: None,
        rate_per_s: 1,
        window,
    };
    let applied_at = Instant::now();
    ok(&c, throttle).await;
    for id in [&web.instance_id, &db.instance_id] {
        let knobs = a.imds(id).await.expect("instance knobs");
        assert_eq!(knobs["controls"]["rate_per_s"], 1, "{knobs}");
    }
    // Ground truth: the knobs are cleared once the window has passed.
    let deadline = applied_at + Duration::from_secs(10);
    loop {
        let knobs = a.imds(&web.instance_id).await.expect("instance knobs");
        if knobs["controls"]["rate_per_s"].is_null() {
            assert!(
                applied_at.elapsed() >= window,
                "cleared before the window ended"
            );
            break;
        }
        assert!(Instant::now() < deadline, "throttle never cleared: {knobs}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fault(kind: &str, service: &str, api: &str) -> FaultSpec {
    FaultSpec {
        kind: kind.into(),
        service: Some(service.into()),
        action: Some(api.into()),
        after_ms: Some(0),
        for_ms: Some(60_000),
        ..FaultSpec::default()
    }
}

#[tokio::test]
async fn fault_actions_post_rules_the_sdk_then_meets() {
    let sim = start(Duration::from_millis(20), |_| {}).await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let c = clients(&sim, Vec::new());
    let op = operator_config(&sim);
    let sts = aws_sdk_sts::Client::new(&op);

    let storm = FaultSpec {
        status: Some(503),
        code: Some("SlowDown".into()),
        ..fault("error", "s3", "GetObject")
    };
    ok(
        &c,
        TimelineKind::Fault {
            action: FaultAction::ThrottleStorm,
            spec: Box::new(storm),
        },
    )
    .await;
    let slowed =
        c.s3.get_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect_err("storm");
    assert_eq!(slowed.code(), Some("SlowDown"));

    let injected = FaultSpec {
        status: Some(500),
        code: Some("InternalError".into()),
        ..fault("error", "sts", "GetCallerIdentity")
    };
    ok(
        &c,
        TimelineKind::Fault {
            action: FaultAction::ErrorInject,
            spec: Box::new(injected),
        },
    )
    .await;
    let failed = sts
        .get_caller_identity()
        .send()
        .await
        .expect_err("injected");
    assert_eq!(failed.code(), Some("InternalError"));

    let slow = FaultSpec {
        delay: Some(DelaySpec {
            model: "fixed".into(),
            delay_ms: Some(300),
            ..DelaySpec::default()
        }),
        ..fault("latency", "s3", "HeadObject")
    };
    ok(
        &c,
        TimelineKind::Fault {
            action: FaultAction::Latency,
            spec: Box::new(slow),
        },
    )
    .await;
    let sent = Instant::now();
    c.s3.head_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("delayed, then served");
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "{:?}",
        sent.elapsed()
    );

    let skew = FaultSpec {
        kind: "clock_skew".into(),
        offset_ms: Some(20 * 60 * 1000),
        after_ms: Some(0),
        for_ms: Some(60_000),
        ..FaultSpec::default()
    };
    ok(
        &c,
        TimelineKind::Fault {
            action: FaultAction::ClockSkew,
            spec: Box::new(skew),
        },
    )
    .await;
    let rules = admin(&sim).faults().await.expect("faults");
    assert_eq!(rules["clock_skew_ms"], 20 * 60 * 1000, "{rules}");
    assert_eq!(rules["faults"].as_array().map(Vec::len), Some(4), "{rules}");
    let skewed =
        c.s3.list_buckets()
            .send()
            .await
            .expect_err("signature 20 min off");
    assert_eq!(skewed.code(), Some("RequestTimeTooSkewed"));
}

#[tokio::test]
async fn double_only_actions_refuse_without_the_admin_api() {
    let sim = start(Duration::from_millis(20), |_| {}).await;
    let mut c = clients(&sim, vec![("web".into(), "i-0".into())]);
    c.admin = None;
    let kind = TimelineKind::ImdsOutage {
        group: None,
        mode: ImdsOutageMode::Refuse,
        window: Duration::from_secs(1),
    };
    let applied = chaos::apply(&c, &kind, 0.0).await;
    let error = applied.result.expect_err("no admin API");
    assert!(error.contains("embedded double"), "{error}");
}

/// A whole run: the timeline's records reach the report with their times,
/// and the injected errors and throttles show up in the load's outcomes.
#[tokio::test]
async fn a_run_reports_every_applied_action_with_its_times() {
    use iamstorm::observe::outcome::OutcomeClass;
    let dir = std::env::temp_dir().join(format!("iamstorm-chaos-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("policies")).expect("temp dir");
    std::fs::write(dir.join("policies/read.json"), READ_POLICY).expect("policy file");
    std::fs::write(dir.join("policies/deny.json"), DENY_READS).expect("policy file");
    let scenario = r#"name = "chaos"
seed = 1
duration = "3s"
[sim.propagation]
model = "fixed"
delay = "10ms"
[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { read = "policies/read.json" }
[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"
[[s3.buckets]]
name = "assets"
objects = "obj-{0..9}"
[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 4
[[load]]
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 100
[[timeline]]
at = "500ms"
action = "put-bucket-policy"
bucket = "assets"
policy = "policies/deny.json"
measure = "revoke"
[[timeline]]
at = "1s"
action = "delete-bucket-policy"
bucket = "assets"
[[timeline]]
at = "1500ms"
action = "throttle-storm"
service = "s3"
api = "GetObject"
probability = 1.0
for = "500ms"
[[timeline]]
at = "2s"
action = "imds-throttle"
group = "web"
rate_per_s = 1
for = "500ms"
"#;
    let path = dir.join("chaos.toml");
    std::fs::write(&path, scenario).expect("scenario file");
    let parsed = iamstorm::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = iamstorm::run::RunOptions {
        scenario: path,
        out: Some(dir.join("out")),
        seed: None,
        quiet: true,
        ..Default::default()
    };
    let outcome = iamstorm::run::execute(&parsed, &opts)
        .await
        .unwrap_or_else(|e| panic!("run failed: {}", e.message));
    let timeline = &outcome.summary.timeline;
    let actions: Vec<&str> = timeline.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(timeline.len(), 4, "{actions:?}");
    assert!(
        actions[0].starts_with("put-bucket-policy assets"),
        "{actions:?}"
    );
    assert!(
        actions[2].starts_with("throttle-storm s3:GetObject SlowDown"),
        "{actions:?}"
    );
    assert!(actions[3].starts_with("imds-throttle 1/s"), "{actions:?}");
    for c in timeline {
        assert_eq!(c.result, "ok", "{}", c.action);
        assert!(c.sent_s >= c.scheduled_s && c.acked_s >= c.sent_s, "{c:?}");
    }
    assert!(timeline[0].measured && !timeline[1].measured);
    assert_eq!(
        outcome.summary.propagation.len(),
        1,
        "the revoke is measured"
    );
    let counts = &outcome.summary.counts_by_class;
    assert!(
        counts.get(OutcomeClass::AccessDenied) > 0,
        "the bucket policy denied reads"
    );
    assert!(
        counts.get(OutcomeClass::Throttled) > 0,
        "the storm throttled reads"
    );
    assert!(counts.get(OutcomeClass::Ok) > 0);
    let json = std::fs::read_to_string(outcome.out_dir.join("summary.json")).expect("summary.json");
    let json: serde_json::Value = serde_json::from_str(&json).expect("summary.json parses");
    assert_eq!(json["timeline"].as_array().map(Vec::len), Some(4));
    let _ = std::fs::remove_dir_all(&dir);
}
