//! The double's models seen through the real AWS SDK: injected errors in
//! each service's wire shape, latency, outages, connection resets, clock
//! skew, the new-credential lag, grant/revoke delays and sticky routing.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::operation::RequestId;
use aws_smithy_runtime_api::client::result::SdkError;
use common::admin_http::call;
use common::*;
use iamstorm::observe::classify::classify_error;
use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::setup::TRUST_EC2;
use iamstorm::sim::consistency::{DelayModel, Routing};
use iamstorm::target::admin::RequestTruth;
use serde_json::json;

async fn add_fault(sim: &iamstorm::sim::SimHandle, rule: serde_json::Value) -> u64 {
    let (status, body) = call(&sim.admin_url(), "POST", "faults", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    body["ids"][0].as_u64().expect("rule id")
}

async fn verdict(
    sim: &iamstorm::sim::SimHandle,
    id: &str,
) -> (String, Option<String>, Option<u16>) {
    match admin(sim).request(id).await.expect("admin API") {
        RequestTruth::Found { verdict } => (verdict.kind, verdict.code, verdict.replica),
        other => panic!("no verdict for {id}: {other:?}"),
    }
}

#[tokio::test]
async fn injected_errors_reach_the_sdk_in_each_service_shape() {
    let sim = start(Duration::ZERO, |_| {}).await;
    world(&sim, TRUST_EC2, None).await;
    let op = operator_config(&sim);
    let s3c = s3(&op);
    add_fault(
        &sim,
        json!({ "kind": "error", "service": "s3", "action": "GetObject", "status": 503, "code": "SlowDown" }),
    )
    .await;
    let e = s3c
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect_err("injected");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("SlowDown")
    );
    assert_eq!(classify_error(&e).class, OutcomeClass::Throttled);
    let id = e.request_id().expect("request id").to_owned();
    assert_eq!(verdict(&sim, &id).await.0, "fault");
    // Other S3 APIs are untouched.
    s3c.list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("not matched");

    add_fault(
        &sim,
        json!({ "kind": "error", "service": "sts", "status": 400, "code": "Throttling", "message": "Rate exceeded" }),
    )
    .await;
    let e = aws_sdk_sts::Client::new(&op)
        .get_caller_identity()
        .send()
        .await
        .expect_err("injected");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("Throttling")
    );
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&e),
        Some("Rate exceeded")
    );

    add_fault(
        &sim,
        json!({ "kind": "error", "service": "s3", "action": "ListObjectsV2", "status": 429,
                "code": "ThrottlingException", "message": "Rate exceeded", "shape": "json" }),
    )
    .await;
    let e = s3c
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("injected 429");
    let raw = e.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 429);
    let body: serde_json::Value =
        serde_json::from_slice(raw.body().bytes().expect("buffered body")).expect("JSON body");
    assert_eq!(
        body,
        json!({ "__type": "ThrottlingException", "message": "Rate exceeded" })
    );
}

#[tokio::test]
async fn injected_latency_delays_the_answer_until_the_rule_is_deleted() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let sts = aws_sdk_sts::Client::new(&operator_config(&sim));
    let rule = add_fault(
        &sim,
        json!({ "kind": "latency", "service": "sts", "delay": { "model": "fixed", "delay_ms": 400 } }),
    )
    .await;
    let t = Instant::now();
    sts.get_caller_identity().send().await.expect("served late");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    let (status, _) = call(&sim.admin_url(), "DELETE", &format!("faults/{rule}"), None).await;
    assert_eq!(status, 200);
    let t = Instant::now();
    sts.get_caller_identity().send().await.expect("served");
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn an_outage_window_answers_503_and_a_reset_closes_the_connection() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let op = operator_config(&sim);
    let sts = aws_sdk_sts::Client::new(&op);
    add_fault(
        &sim,
        json!({ "kind": "outage", "service": "sts", "after_ms": 0, "for_ms": 600_000 }),
    )
    .await;
    let e = sts.get_caller_identity().send().await.expect_err("outage");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("ServiceUnavailable")
    );
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(classify_error(&e).class, OutcomeClass::ServerError);
    // S3 is not in the outage.
    s3(&op).list_buckets().send().await.expect("s3 up");

    call(&sim.admin_url(), "DELETE", "faults", None).await;
    add_fault(&sim, json!({ "kind": "reset", "service": "s3" })).await;
    let e = s3(&op).list_buckets().send().await.expect_err("reset");
    assert!(
        matches!(e, SdkError::DispatchFailure(_) | SdkError::ResponseError(_)),
        "a transport failure, got {e:?}"
    );
    assert_eq!(classify_error(&e).class, OutcomeClass::Connection);
    let (_, counters) = call(&sim.admin_url(), "GET", "counters", None).await;
    let row = counters["counters"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["api"] == "ListAllMyBuckets")
        .cloned()
        .expect("s3 row");
    assert_eq!(
        (row["ok"].as_u64(), row["fault"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_skewed_double_clock_fails_sigv4_as_aws_and_stamps_its_date() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let op = operator_config(&sim);
    // The double runs 20 minutes ahead: a correct client's signature looks expired.
    let rule = add_fault(
        &sim,
        json!({ "kind": "clock_skew", "offset_ms": 20 * 60 * 1000 }),
    )
    .await;
    let e = aws_sdk_sts::Client::new(&op)
        .get_caller_identity()
        .send()
        .await
        .expect_err("expired signature");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("SignatureDoesNotMatch")
    );
    assert!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&e)
            .is_some_and(|m| m.starts_with("Signature expired:")),
        "{e:?}"
    );
    let e = s3(&op).list_buckets().send().await.expect_err("skewed");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("RequestTimeTooSkewed")
    );
    let date = e
        .raw_response()
        .and_then(|r| r.headers().get("date"))
        .map(str::to_owned)
        .expect("a Date header");
    let server = time::OffsetDateTime::parse(&date, &time::format_description::well_known::Rfc2822)
        .expect("an HTTP date");
    let ahead = server - time::OffsetDateTime::now_utc();
    assert!(
        ahead > time::Duration::minutes(19) && ahead < time::Duration::minutes(21),
        "Date {date} is {ahead} ahead"
    );
    // Within 15 minutes is accepted, as on AWS.
    call(&sim.admin_url(), "DELETE", &format!("faults/{rule}"), None).await;
    add_fault(
        &sim,
        json!({ "kind": "clock_skew", "offset_ms": -10 * 60 * 1000 }),
    )
    .await;
    aws_sdk_sts::Client::new(&op)
        .get_caller_identity()
        .send()
        .await
        .expect("10 minutes of skew is within AWS's 15");
    s3(&op)
        .list_buckets()
        .send()
        .await
        .expect("within 15 minutes");
}

#[tokio::test]
async fn new_instance_credentials_are_refused_until_the_lag_has_passed() {
    let lag = Duration::from_millis(1500);
    let sim = start(Duration::ZERO, |c| c.new_credential_lag = lag).await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let instance = instance_config(&sim, &imds);
    let sts = aws_sdk_sts::Client::new(&instance);
    let e = sts
        .get_caller_identity()
        .send()
        .await
        .expect_err("brand-new credentials");
    // The provider fetched (and the double issued) the keys during that call.
    let issued_before = Instant::now();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("InvalidClientTokenId")
    );
    let id = e.request_id().expect("request id").to_owned();
    match admin(&sim).request(&id).await.expect("admin API") {
        RequestTruth::Found { verdict } => {
            assert_eq!(verdict.kind, "auth_failed");
            assert!(
                verdict.reason.contains("new_credential_lag"),
                "{}",
                verdict.reason
            );
        }
        other => panic!("{other:?}"),
    }
    let e = s3(&instance)
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect_err("S3 does not know the key yet");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("InvalidAccessKeyId")
    );
    // The window is the model's own, measured from issue (before `issued_before`).
    tokio::time::sleep(lag.saturating_sub(issued_before.elapsed())).await;
    sts.get_caller_identity()
        .send()
        .await
        .expect("accepted after the lag");
    s3(&instance)
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("S3 too");
}

#[tokio::test]
async fn grants_and_revokes_propagate_with_their_own_delays() {
    let sim = start(Duration::ZERO, |c| {
        c.propagation.grant_delay = Some(DelayModel::Fixed(Duration::from_millis(100)));
        c.propagation.revoke_delay = Some(DelayModel::LogNormal {
            median: Duration::from_secs(3),
            p99: Duration::from_secs(9),
        });
    })
    .await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    aws_sdk_iam::Client::new(&operator_config(&sim))
        .delete_role_policy()
        .role_name(ROLE)
        .policy_name("read")
        .send()
        .await
        .expect("revoke");
    let (_, truth) = call(&sim.admin_url(), "GET", "propagation", None).await;
    assert_eq!(truth["model"]["revoke_delay"]["model"], "lognormal");
    assert_eq!(truth["model"]["grant_delay"]["delay_ms"], 100);
    let versions = truth["versions"].as_array().expect("versions");
    let grant = &versions[2];
    assert_eq!(grant["label"], "PutRolePolicy app-role/read");
    assert_eq!(grant["kind"], "grant");
    let published = grant["published_at"].as_u64().expect("ms");
    assert!(
        grant["applied_at"]
            .as_array()
            .expect("per replica")
            .iter()
            .all(|t| t.as_u64() == Some(published + 100))
    );
    let revoke = versions.last().expect("revoke version");
    assert_eq!(revoke["kind"], "revoke");
    let published = revoke["published_at"].as_u64().expect("ms");
    let delays: Vec<u64> = revoke["applied_at"]
        .as_array()
        .expect("per replica")
        .iter()
        .map(|t| t.as_u64().expect("ms") - published)
        .collect();
    assert!(delays.iter().all(|d| *d > 0), "{delays:?}");
    assert!(
        delays.windows(2).any(|w| w[0] != w[1]),
        "lognormal draws differ per replica: {delays:?}"
    );
}

async fn replicas_seen(sim: &iamstorm::sim::SimHandle, client: &aws_sdk_s3::Client) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..24 {
        let out = client
            .get_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect("allowed");
        let id = out.request_id().expect("request id").to_owned();
        if let (_, _, Some(replica)) = verdict(sim, &id).await {
            seen.push(replica);
        }
    }
    seen.sort();
    seen.dedup();
    seen
}

#[tokio::test]
async fn sticky_routing_pins_an_instance_or_a_connection_to_one_replica() {
    for (routing, want_one) in [
        (Routing::StickyInstance, true),
        (Routing::StickyConnection, true),
        (Routing::Random, false),
    ] {
        let sim = start(Duration::ZERO, |c| {
            c.propagation.replicas = 16;
            c.propagation.routing = routing;
        })
        .await;
        let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
        let client = s3(&instance_config(&sim, &imds));
        let seen = replicas_seen(&sim, &client).await;
        if want_one {
            assert_eq!(seen.len(), 1, "{routing:?}: {seen:?}");
        } else {
            assert!(seen.len() > 4, "{routing:?} spreads: {seen:?}");
        }
    }
}
