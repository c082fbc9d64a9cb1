//! The embedded double driven by the real AWS SDK over loopback HTTP:
//! authorization, propagation ground truth, throttling, IMDS, SigV4 errors.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::operation::RequestId;
use common::*;
use iamstorm::observe::classify::classify_error;
use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::setup::{TRUST_EC2, TRUST_OTHER_SERVICE};
use iamstorm::target::admin::RequestTruth;

async fn get(client: &aws_sdk_s3::Client) -> (OutcomeClass, Option<String>, Option<String>) {
    match client.get_object().bucket(BUCKET).key(KEY).send().await {
        Ok(out) => (OutcomeClass::Ok, None, out.request_id().map(str::to_owned)),
        Err(e) => {
            let o = classify_error(&e);
            (o.class, o.detail, e.request_id().map(str::to_owned))
        }
    }
}

#[tokio::test]
async fn allowed_and_denied_get_object_with_aws_message() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let client = s3(&instance_config(&sim, &imds));
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect_err("no policy yet: denied");
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&err)
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("User: arn:aws:sts::123456789012:assumed-role/app-role/i-")
            && message.ends_with("is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::assets/obj-1 because no identity-based policy allows the s3:GetObject action"),
        "AWS-format message, got {message:?}"
    );
    let outcome = classify_error(&err);
    assert_eq!(
        (outcome.class, outcome.detail.as_deref()),
        (OutcomeClass::AccessDenied, Some("implicit"))
    );

    let op = operator_config(&sim);
    aws_sdk_iam::Client::new(&op)
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("read")
        .policy_document(READ_POLICY)
        .send()
        .await
        .expect("grant");
    admin(&sim).await_converged().await.expect("admin API");
    let out = client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("granted and propagated");
    let body = out.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn grant_is_enforced_per_replica_exactly_when_the_ground_truth_says() {
    let delay = Duration::from_millis(1500);
    let sim = start(delay, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let client = s3(&instance_config(&sim, &imds));
    let admin = admin(&sim);
    let op = operator_config(&sim);
    aws_sdk_iam::Client::new(&op)
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("read")
        .policy_document(READ_POLICY)
        .send()
        .await
        .expect("grant");
    // Control-plane reads are immediately consistent while enforcement lags.
    let read = aws_sdk_iam::Client::new(&op)
        .get_role_policy()
        .role_name(ROLE)
        .policy_name("read")
        .send()
        .await
        .expect("GetRolePolicy sees the change at once");
    assert!(
        read.policy_document().contains("s3%3AGetObject"),
        "URL-encoded document"
    );

    let truth = admin.propagation().await.expect("truth");
    let grant = truth
        .versions
        .iter()
        .find(|v| v.label == "PutRolePolicy app-role/read")
        .expect("grant version");
    for applied in &grant.applied_at {
        assert_eq!(
            *applied,
            grant.published_at + delay.as_millis() as u64,
            "fixed model: every replica after exactly the delay"
        );
    }
    // Every request before the grant applies is denied at the old version, and
    // the double says so for each request id.
    let (class, _, id) = get(&client).await;
    assert_eq!(class, OutcomeClass::AccessDenied);
    let id = id.expect("request id header");
    match admin.request(&id).await.expect("truth lookup") {
        RequestTruth::Found { verdict } => {
            assert_eq!(verdict.kind, "denied");
            assert!(verdict.version.expect("evaluated at a version") < grant.version);
        }
        other => panic!("expected a verdict for {id}, got {other:?}"),
    }
    admin.await_converged().await.expect("admin");
    let (class, _, id) = get(&client).await;
    assert_eq!(class, OutcomeClass::Ok);
    match admin.request(&id.expect("id")).await.expect("truth") {
        RequestTruth::Found { verdict } => {
            assert_eq!(verdict.kind, "ok");
            assert_eq!(verdict.version, Some(grant.version));
        }
        other => panic!("expected a verdict, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_classified_throttled_not_access_denied() {
    let sim = start(Duration::ZERO, |c| c.quotas.s3_read_per_s = 5).await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let client = s3(&instance_config(&sim, &imds));
    let results = futures::future::join_all((0..40).map(|_| get(&client))).await;
    let throttled = results
        .iter()
        .filter(|r| r.0 == OutcomeClass::Throttled)
        .count();
    let ok = results.iter().filter(|r| r.0 == OutcomeClass::Ok).count();
    assert!(
        throttled >= 20,
        "a 5/s bucket cannot serve 40 requests at once: {throttled} throttled"
    );
    assert!(ok >= 5, "the burst is served: {ok} ok");
    assert_eq!(ok + throttled, 40, "nothing else: {results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.0 == OutcomeClass::Throttled)
            .all(|r| r.1.as_deref() == Some("SlowDown"))
    );
}

#[tokio::test]
async fn s3_quotas_are_per_prefix() {
    let sim = start(Duration::ZERO, |c| c.quotas.s3_write_per_s = 3).await;
    let client = s3(&operator_config(&sim));
    // CreateBucket spends the bucket-level (empty) prefix's tokens.
    client
        .create_bucket()
        .bucket("prefixed")
        .send()
        .await
        .expect("bucket");
    let put = |key: String| {
        let client = client.clone();
        async move {
            client
                .put_object()
                .bucket("prefixed")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
                .send()
                .await
                .map_err(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned))
        }
    };
    let hot = futures::future::join_all((0..12).map(|i| put(format!("hot/{i}")))).await;
    let slowed = hot
        .iter()
        .filter(|r| matches!(r, Err(Some(c)) if c == "SlowDown"))
        .count();
    assert!(slowed >= 6, "a 3/s prefix cannot take 12 at once: {hot:?}");
    // Another prefix of the same bucket has its own bucket of tokens.
    let cold = futures::future::join_all((0..3).map(|i| put(format!("cold/{i}")))).await;
    assert!(cold.iter().all(Result::is_ok), "cold prefix: {cold:?}");
}

#[tokio::test]
async fn trust_without_ec2_means_credentials_unavailable() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_OTHER_SERVICE, Some(READ_POLICY)).await;
    let client = s3(&instance_config(&sim, &imds));
    let (class, detail, _) = get(&client).await;
    assert_eq!(
        (class, detail.as_deref()),
        (OutcomeClass::CredentialsUnavailable, Some("trust_failure")),
        "detail {detail:?}"
    );
}

#[tokio::test]
async fn an_instance_without_a_profile_has_no_credentials() {
    let sim = start(Duration::ZERO, |_| {}).await;
    world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    let bare = admin(&sim)
        .launch_instance(None)
        .await
        .expect("launch without profile");
    let client = s3(&instance_config(&sim, &bare.imds_endpoint));
    let (class, detail, _) = get(&client).await;
    assert_eq!(
        (class, detail.as_deref()),
        // IMDS answered 404 for the role list: no instance profile.
        (OutcomeClass::CredentialsUnavailable, Some("no_role"))
    );
}

#[tokio::test]
async fn imds_requires_a_token_and_echoes_its_ttl() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let http = reqwest_like::Client::new();
    let (status, _, _) = http
        .send(
            "GET",
            &format!("{imds}/latest/meta-data/iam/security-credentials/"),
            &[],
        )
        .await;
    assert_eq!(status, 401, "IMDSv2: GET without a token");
    let (status, _, _) = http
        .send("PUT", &format!("{imds}/latest/api/token"), &[])
        .await;
    assert_eq!(status, 400, "PUT without a TTL header");
    let (status, headers, token) = http
        .send(
            "PUT",
            &format!("{imds}/latest/api/token"),
            &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .map(|v| v.to_str().unwrap_or("")),
        Some("21600")
    );
    let (status, _, role) = http
        .send(
            "GET",
            &format!("{imds}/latest/meta-data/iam/security-credentials/"),
            &[("x-aws-ec2-metadata-token", &token)],
        )
        .await;
    assert_eq!((status, role.as_str()), (200, ROLE));
    let (status, _, creds) = http
        .send(
            "GET",
            &format!("{imds}/latest/meta-data/iam/security-credentials/{ROLE}"),
            &[("x-aws-ec2-metadata-token", &token)],
        )
        .await;
    assert_eq!(status, 200);
    let creds: serde_json::Value = serde_json::from_str(&creds).expect("JSON credentials");
    assert_eq!(creds["Code"], "Success");
    assert!(
        creds["AccessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    let (status, _, _) = http
        .send(
            "GET",
            &format!("{imds}/latest/meta-data/iam/info"),
            &[("x-aws-ec2-metadata-token", "not-a-token")],
        )
        .await;
    assert_eq!(status, 401, "a token the instance never issued");
}

#[tokio::test]
async fn caller_identity_from_an_instance_is_its_role_session() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let sts = aws_sdk_sts::Client::new(&instance_config(&sim, &imds));
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity is never denied");
    let arn = who.arn().unwrap_or_default();
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/app-role/i-"),
        "{arn}"
    );
    assert_eq!(who.account(), Some("123456789012"));
}

#[tokio::test]
async fn bad_keys_are_auth_errors_with_aws_codes() {
    let sim = start(Duration::ZERO, |_| {}).await;
    world(&sim, TRUST_EC2, None).await;
    let wrong_secret = static_config(&sim, &sim.admin_access_key_id, "not-the-secret", None);
    let unknown = static_config(&sim, "AKIAUNKNOWNKEY000000", "whatever", None);

    let e = s3(&wrong_secret)
        .list_buckets()
        .send()
        .await
        .expect_err("bad signature");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("SignatureDoesNotMatch")
    );
    assert_eq!(classify_error(&e).class, OutcomeClass::AuthError);
    let e = s3(&unknown)
        .list_buckets()
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("InvalidAccessKeyId")
    );

    let e = aws_sdk_sts::Client::new(&wrong_secret)
        .get_caller_identity()
        .send()
        .await
        .expect_err("bad signature");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("SignatureDoesNotMatch")
    );
    assert_eq!(classify_error(&e).class, OutcomeClass::AuthError);
    let e = aws_sdk_iam::Client::new(&unknown)
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&e),
        Some("InvalidClientTokenId")
    );
}

#[tokio::test]
async fn expired_session_credentials_get_expired_token() {
    let sim = start(Duration::ZERO, |c| {
        c.instance_credentials_ttl = Duration::ZERO
    })
    .await;
    let imds = world(&sim, TRUST_EC2, Some(READ_POLICY)).await;
    // Take the (already expired) credentials straight from IMDS and sign with them.
    let http = reqwest_like::Client::new();
    let (_, _, token) = http
        .send(
            "PUT",
            &format!("{imds}/latest/api/token"),
            &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
        )
        .await;
    let (_, _, body) = http
        .send(
            "GET",
            &format!("{imds}/latest/meta-data/iam/security-credentials/{ROLE}"),
            &[("x-aws-ec2-metadata-token", &token)],
        )
        .await;
    let creds: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let config = static_config(
        &sim,
        creds["AccessKeyId"].as_str().expect("key"),
        creds["SecretAccessKey"].as_str().expect("secret"),
        creds["Token"].as_str(),
    );
    let e = s3(&config)
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect_err("expired");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("ExpiredToken")
    );
    let e = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .expect_err("expired");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("ExpiredToken")
    );
    assert_eq!(classify_error(&e).class, OutcomeClass::AuthError);
}

#[tokio::test]
async fn a_clock_skewed_past_fifteen_minutes_is_rejected() {
    let sim = start(Duration::ZERO, |_| {}).await;
    world(&sim, TRUST_EC2, None).await;
    let skewed = aws_smithy_async::time::StaticTimeSource::new(
        SystemTime::now() - Duration::from_secs(20 * 60),
    );
    let config = operator_config(&sim)
        .into_builder()
        .time_source(skewed)
        .build();
    let e = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .expect_err("skewed");
    // STS answers as on AWS: SignatureDoesNotMatch "Signature expired: …".
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("SignatureDoesNotMatch")
    );
    assert!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&e)
            .is_some_and(|m| m.starts_with("Signature expired: ") && m.ends_with(" - 15 min.)")),
        "{e:?}"
    );
    let e = s3(&config).list_buckets().send().await.expect_err("skewed");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("RequestTimeTooSkewed")
    );
}

/// A few lines of raw HTTP for the IMDS wire checks (the SDK hides status codes).
mod reqwest_like {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client as Hyper;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    pub struct Client(Hyper<HttpConnector, Full<Bytes>>);

    impl Client {
        pub fn new() -> Self {
            Self(Hyper::builder(TokioExecutor::new()).build_http())
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            headers: &[(&str, &str)],
        ) -> (u16, http::HeaderMap, String) {
            let mut req = http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = self
                .0
                .request(req.body(Full::new(Bytes::new())).expect("request"))
                .await
                .expect("IMDS answers");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }
    }
}
