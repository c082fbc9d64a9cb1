//! The IMDS model's knobs, applied and cleared through the admin API
//! (`/_iamstorm/instances/{id}/imds`), seen by plain HTTP clients and by the
//! real Rust SDK's IMDS credentials provider: token TTL and expiry,
//! outages (503 and connection refused), per-instance throttling and a
//! connection cap, latency, credential rotation, stale credentials, and
//! the SDK's static stability during an outage.
//!
//! Waits in these tests are for the model's own clock (a credential's
//! expiry, an SDK refresh point), never stand-ins for synchronisation: the
//! admin API returns only once a control is in force.

mod common;

use std::time::{Duration, Instant};

use common::ec2::{Reply, http, imds_get};
use common::*;
use iamstorm::setup::TRUST_EC2;
use iamstorm::sim::SimHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn instance_id(imds: &str) -> String {
    imds_get(imds, "instance-id").await.body
}

async fn controls(sim: &SimHandle, iid: &str, method: &str, body: &str) -> serde_json::Value {
    let r = http(
        method,
        &format!("{}instances/{iid}/imds", sim.admin_url()),
        &[("content-type", "application/json")],
        body,
    )
    .await
    .expect("admin API answers");
    assert_eq!(r.status, 200, "{method} controls {body}: {}", r.body);
    serde_json::from_str(&r.body).expect("JSON")
}

fn creds_of(reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).expect("credentials JSON")
}

#[tokio::test]
async fn token_ttl_is_capped_and_echoed_and_expired_tokens_get_401() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    controls(&sim, &iid, "PUT", r#"{"token_ttl_max_s": 300}"#).await;
    let token = http(
        "PUT",
        &format!("{imds}/latest/api/token"),
        &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
        "",
    )
    .await
    .expect("IMDS");
    assert_eq!(token.status, 200);
    let url = format!("{imds}/latest/meta-data/instance-id");
    let with_token = [("x-aws-ec2-metadata-token", token.body.as_str())];
    assert_eq!(
        http("GET", &url, &with_token, "")
            .await
            .expect("IMDS")
            .status,
        200
    );
    let expired = http(
        "POST",
        &format!("{}instances/{iid}/imds/expire-tokens", sim.admin_url()),
        &[],
        "",
    )
    .await
    .expect("admin");
    assert!(
        expired.body.contains("\"expired_tokens\":"),
        "{}",
        expired.body
    );
    assert_eq!(
        http("GET", &url, &with_token, "")
            .await
            .expect("IMDS")
            .status,
        401
    );
    let view = controls(&sim, &iid, "GET", "").await;
    assert_eq!(view["controls"]["token_ttl_max_s"], 300);
    assert_eq!(view["counters"]["unauthorized_401"], 1);
}

#[tokio::test]
async fn token_ttl_header_echoes_the_capped_ttl() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    controls(&sim, &iid, "PUT", r#"{"token_ttl_max_s": 200}"#).await;
    let req = http::Request::builder()
        .method("PUT")
        .uri(format!("{imds}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.expect("IMDS answers");
    assert_eq!(
        resp.headers()["x-aws-ec2-metadata-token-ttl-seconds"],
        "200"
    );
}

#[tokio::test]
async fn outage_answers_503_then_refuses_connections_then_recovers_on_the_same_port() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;

    controls(&sim, &iid, "PUT", r#"{"outage": {"mode": "503"}}"#).await;
    let r = http("PUT", &format!("{imds}/latest/api/token"), &[], "")
        .await
        .expect("IMDS answers during a 503 outage");
    assert_eq!(r.status, 503);

    let view = controls(&sim, &iid, "PUT", r#"{"outage": {"mode": "refuse"}}"#).await;
    assert_eq!(view["controls"]["outage"]["mode"], "refuse");
    let refused = http("PUT", &format!("{imds}/latest/api/token"), &[], "").await;
    let err = refused.expect_err("the port is closed");
    assert!(
        err.contains("ConnectionRefused") || err.contains("Connection refused"),
        "{err}"
    );

    controls(&sim, &iid, "DELETE", "").await;
    assert_eq!(imds_get(&imds, "instance-id").await.body, iid);
    let view = controls(&sim, &iid, "GET", "").await;
    assert_eq!(view["counters"]["unavailable_503"], 1);
    assert!(view["controls"]["outage"].is_null());
}

#[tokio::test]
async fn a_timed_outage_ends_by_itself() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    let view = controls(
        &sim,
        &iid,
        "PUT",
        r#"{"outage": {"mode": "refuse", "for_ms": 300}}"#,
    )
    .await;
    let remaining = view["controls"]["outage"]["remaining_ms"]
        .as_u64()
        .expect("a timed window");
    assert!(
        http("GET", &format!("{imds}/latest/meta-data/"), &[], "")
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(remaining + 100)).await;
    assert_eq!(imds_get(&imds, "instance-id").await.body, iid);
}

#[tokio::test]
async fn per_instance_rate_limit_answers_429_and_latency_is_added() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    controls(&sim, &iid, "PUT", r#"{"rate_per_s": 2}"#).await;
    let url = format!("{imds}/latest/meta-data/");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(http("GET", &url, &[], "").await.expect("IMDS").status);
    }
    assert_eq!(statuses[3], 429, "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 2,
        "{statuses:?}"
    );

    controls(
        &sim,
        &iid,
        "PUT",
        r#"{"latency_ms": 250, "latency_jitter_ms": 50}"#,
    )
    .await;
    let started = Instant::now();
    assert_eq!(http("GET", &url, &[], "").await.expect("IMDS").status, 401);
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(5)).contains(&took),
        "{took:?}"
    );
    let view = controls(&sim, &iid, "GET", "").await;
    assert!(
        view["counters"]["throttled_429"].as_u64() >= Some(2),
        "{view}"
    );
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_on_accept() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    controls(&sim, &iid, "PUT", r#"{"max_connections": 1}"#).await;
    let addr = imds.trim_start_matches("http://");
    let held = tokio::net::TcpStream::connect(addr)
        .await
        .expect("first connection");
    // The first connection is idle but open; poll the double's own count.
    let mut counted = false;
    for _ in 0..1000 {
        let view = controls(&sim, &iid, "GET", "").await;
        if view["counters"]["open_connections"] == 1 {
            counted = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(counted, "the double never counted the first connection");
    let mut second = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the kernel accepts the TCP handshake");
    let _ = second
        .write_all(b"GET /latest/meta-data/ HTTP/1.1\r\nhost: imds\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = second.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "no HTTP answer on a connection past the cap");
    let view = controls(&sim, &iid, "GET", "").await;
    assert_eq!(view["counters"]["connections_dropped"], 1);
    drop(held);
    controls(&sim, &iid, "DELETE", "").await;
    assert_eq!(imds_get(&imds, "instance-id").await.body, iid);
}

#[tokio::test]
async fn credentials_rotate_ahead_of_expiry_and_stale_mode_serves_expired_ones() {
    // TTL 2 s: IMDS rotates at half the TTL (the 5-minute lead is capped).
    let sim = start(Duration::ZERO, |c| {
        c.instance_credentials_ttl = Duration::from_secs(2)
    })
    .await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = instance_id(&imds).await;
    let path = format!("iam/security-credentials/{ROLE}");
    let a = creds_of(&imds_get(&imds, &path).await);
    assert_eq!(
        creds_of(&imds_get(&imds, &path).await)["AccessKeyId"],
        a["AccessKeyId"]
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let b = creds_of(&imds_get(&imds, &path).await);
    assert_ne!(
        b["AccessKeyId"], a["AccessKeyId"],
        "rotated 1 s before expiry"
    );

    controls(&sim, &iid, "PUT", r#"{"stale_credentials": true}"#).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let stale = creds_of(&imds_get(&imds, &path).await);
    assert_eq!(stale["AccessKeyId"], b["AccessKeyId"], "stale: no rotation");
    let sts = aws_sdk_sts::Client::new(&static_config(
        &sim,
        stale["AccessKeyId"].as_str().expect("key"),
        stale["SecretAccessKey"].as_str().expect("secret"),
        stale["Token"].as_str(),
    ));
    let err = sts
        .get_caller_identity()
        .send()
        .await
        .expect_err("the stale credentials have expired");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("ExpiredToken")
    );
    controls(&sim, &iid, "DELETE", "").await;
    let fresh = creds_of(&imds_get(&imds, &path).await);
    assert_ne!(fresh["AccessKeyId"], b["AccessKeyId"]);
    let view = controls(&sim, &iid, "GET", "").await;
    assert_eq!(view["counters"]["credentials_minted"], 3);
}

/// Static stability, as `imds-sdk-probe.md` §3 found it: when a refresh is
/// due and IMDS refuses connections, the Rust SDK's provider returns the
/// credentials it has, so requests go on while they are still valid.
#[tokio::test]
async fn sdk_keeps_using_cached_credentials_through_an_imds_outage() {
    // TTL 14 s: the SDK's identity cache (10 s buffer, jitter up to half)
    // wants a refresh 4–9 s after the first fetch.
    let ttl = Duration::from_secs(14);
    let sim = start(Duration::ZERO, |c| c.instance_credentials_ttl = ttl).await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let iid = instance_id(&imds).await;
    let client = s3(&instance_config(&sim, &imds));
    let first_fetch = Instant::now();
    client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("credentials from IMDS");
    let before = controls(&sim, &iid, "PUT", r#"{"outage": {"mode": "refuse"}}"#).await;
    let requests_before = before["counters"]["requests"].clone();

    // Past the SDK's refresh point, before the credentials expire.
    tokio::time::sleep_until((first_fetch + Duration::from_secs(10)).into()).await;
    client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("static stability: cached credentials still sign");
    let during = controls(&sim, &iid, "GET", "").await;
    assert_eq!(
        during["counters"]["requests"], requests_before,
        "IMDS was unreachable"
    );
    assert_eq!(during["counters"]["credentials_minted"], 1);

    controls(&sim, &iid, "DELETE", "").await;
    client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("after the outage");
    let after = controls(&sim, &iid, "GET", "").await;
    assert_eq!(
        after["counters"]["credentials_minted"], 2,
        "the SDK refreshed as soon as IMDS came back: {after}"
    );
    assert!(first_fetch.elapsed() < ttl, "the test ran inside the TTL");
}
