//! The admin API end to end: state dump, reset to a clean double, fault
//! rule control, and counters that match the traffic the SDK sent.

mod common;

use std::time::Duration;

use common::admin_http::call;
use common::*;
use iamstorm::setup::TRUST_EC2;
use serde_json::json;

fn names(v: &serde_json::Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .expect("a list")
        .iter()
        .map(|x| x["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn state_shows_the_world_and_reset_returns_to_an_empty_double() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let instance = instance_config(&sim, &imds);
    // The instance's credentials work before the reset.
    aws_sdk_sts::Client::new(&instance)
        .get_caller_identity()
        .send()
        .await
        .expect("instance credentials work");
    let url = sim.admin_url();
    let (status, state) = call(&url, "GET", "state", None).await;
    assert_eq!(status, 200);
    assert_eq!(names(&state, "roles"), vec![ROLE]);
    assert_eq!(state["roles"][0]["inline_policies"], json!(["read"]));
    assert_eq!(names(&state, "instance_profiles"), vec![PROFILE]);
    assert_eq!(state["instance_profiles"][0]["role"], ROLE);
    assert_eq!(
        state["buckets"],
        json!([{ "name": BUCKET, "objects": 1, "bytes": 5 }])
    );
    assert_eq!(state["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["instances"][0]["imds_endpoint"], imds);
    let latest = state["versions"]["latest"]
        .as_u64()
        .expect("latest version");
    assert_eq!(latest, 4, "role, policy, profile, add-role: four versions");
    assert!(
        state["versions"]["per_replica"]
            .as_array()
            .expect("per replica")
            .iter()
            .all(|v| v.as_u64() == Some(latest)),
        "converged: {state}"
    );
    let aws_managed = state["policies"].as_array().expect("policies").len();

    let (status, _) = call(
        &url,
        "POST",
        "faults",
        Some(json!({ "kind": "reset", "service": "iam" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = call(&url, "POST", "reset", None).await;
    assert_eq!((status, body["reset"].as_bool()), (200, Some(true)));

    // The old instance's IMDS port is closed.
    let imds_addr = imds.trim_start_matches("http://").to_owned();
    assert!(
        tokio::net::TcpStream::connect(&imds_addr).await.is_err(),
        "IMDS {imds_addr} still accepts after reset"
    );
    let (_, state) = call(&url, "GET", "state", None).await;
    assert_eq!(state["roles"], json!([]));
    assert_eq!(state["instance_profiles"], json!([]));
    assert_eq!(state["buckets"], json!([]));
    assert_eq!(state["instances"], json!([]));
    assert_eq!(state["faults"], 0);
    assert_eq!(state["versions"]["latest"], 0);
    assert_eq!(
        state["policies"].as_array().map(Vec::len),
        Some(aws_managed),
        "the AWS-managed policies are part of the empty state"
    );
    let (_, counters) = call(&url, "GET", "counters", None).await;
    assert_eq!(counters["counters"], json!([]));

    // Through the SDK too: nothing left, and the old session keys are gone.
    let op = operator_config(&sim);
    let buckets = s3(&op).list_buckets().send().await.expect("list buckets");
    assert!(buckets.buckets().is_empty());
    let e = aws_sdk_iam::Client::new(&op)
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect_err("role gone");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&e),
        Some("NoSuchEntity")
    );
    let (key, secret, token) = {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = instance
            .credentials_provider()
            .expect("instance credentials provider");
        let c = provider
            .provide_credentials()
            .await
            .expect("cached credentials");
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().map(str::to_owned),
        )
    };
    let stale = static_config(&sim, &key, &secret, token.as_deref());
    let e = aws_sdk_sts::Client::new(&stale)
        .get_caller_identity()
        .send()
        .await
        .expect_err("session keys were dropped by the reset");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("InvalidClientTokenId")
    );
    // The world can be built again on the same double.
    world(&sim, TRUST_EC2, None).await;
}

#[tokio::test]
async fn counters_match_the_traffic_per_service_api_and_outcome() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let op = operator_config(&sim);
    let sts = aws_sdk_sts::Client::new(&op);
    for _ in 0..3 {
        sts.get_caller_identity().send().await.expect("ok");
    }
    let bad = static_config(&sim, "AKIAUNKNOWNKEY000000", "secret", None);
    aws_sdk_sts::Client::new(&bad)
        .get_caller_identity()
        .send()
        .await
        .expect_err("unknown key");
    let s3c = s3(&op);
    s3c.list_buckets().send().await.expect("ok");
    s3c.get_object()
        .bucket("nope")
        .key("k")
        .send()
        .await
        .expect_err("no such bucket");
    let url = sim.admin_url();
    call(
        &url,
        "POST",
        "faults",
        Some(json!({ "kind": "error", "service": "s3", "action": "ListBuckets", "status": 500, "code": "InternalError" })),
    )
    .await;
    s3c.list_buckets().send().await.expect_err("injected");

    let (status, body) = call(&url, "GET", "counters", None).await;
    assert_eq!(status, 200);
    let row = |service: &str, api: &str| {
        body["counters"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["service"] == service && r["api"] == api)
            .cloned()
            .unwrap_or_else(|| panic!("no row {service}:{api} in {body}"))
    };
    let gci = row("sts", "GetCallerIdentity");
    assert_eq!(
        (gci["ok"].as_u64(), gci["auth_failed"].as_u64()),
        (Some(3), Some(1))
    );
    // S3 rows are named by IAM action, as the ground truth names them.
    let lb = row("s3", "ListAllMyBuckets");
    assert_eq!(
        (lb["ok"].as_u64(), lb["fault"].as_u64()),
        (Some(1), Some(1))
    );
    let go = row("s3", "GetObject");
    assert_eq!(go["error"].as_u64(), Some(1), "{go}");
    let total: u64 = body["counters"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            ["ok", "denied", "throttled", "auth_failed", "error", "fault"]
                .map(|k| r[k].as_u64().unwrap_or(0))
        })
        .sum();
    assert_eq!(total, 7, "one count per request: {body}");
}

#[tokio::test]
async fn fault_rules_are_added_listed_deleted_and_bad_ones_refused_whole() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let url = sim.admin_url();
    let (status, added) = call(
        &url,
        "POST",
        "faults",
        Some(json!([
            { "kind": "latency", "service": "s3", "delay": { "model": "lognormal", "median_ms": 20, "p99_ms": 80 } },
            { "kind": "error", "service": "sts", "status": 400, "code": "Throttling", "probability": 0.5, "after_ms": 0, "for_ms": 60000 },
            { "kind": "clock_skew", "offset_ms": 60000 },
        ])),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let ids: Vec<u64> = added["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    assert_eq!(ids.len(), 3);
    let (_, listed) = call(&url, "GET", "faults", None).await;
    assert_eq!(listed["clock_skew_ms"], 60000);
    let rules = listed["faults"].as_array().expect("rules");
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["delay"]["model"], "lognormal");
    assert_eq!(rules[1]["code"], "Throttling");
    assert_eq!(rules[1]["probability"], 0.5);
    assert!(rules[1]["end_ms"].as_u64() > rules[1]["start_ms"].as_u64());

    // A list with one bad rule adds none of them.
    let (status, refused) = call(
        &url,
        "POST",
        "faults",
        Some(json!([
            { "kind": "reset" },
            { "kind": "error", "status": 503 },
        ])),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("fault rule 1") && e.contains("code")),
        "{refused}"
    );
    let (status, _) = call(
        &url,
        "POST",
        "faults",
        Some(json!({ "kind": "reset", "colour": "red" })),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let (_, listed) = call(&url, "GET", "faults", None).await;
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(3));

    let (status, _) = call(&url, "DELETE", &format!("faults/{}", ids[2]), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&url, "DELETE", &format!("faults/{}", ids[2]), None).await;
    assert_eq!(status, 404);
    let (_, listed) = call(&url, "GET", "faults", None).await;
    assert_eq!(listed["clock_skew_ms"], 0);
    let (status, _) = call(&url, "DELETE", "faults", None).await;
    assert_eq!(status, 200);
    let (_, listed) = call(&url, "GET", "faults", None).await;
    assert_eq!(listed["faults"], json!([]));
}
