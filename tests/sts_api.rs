//! STS against the double through the real SDK: session policies (inline
//! and managed) enforced on every request of the session, the packed-size
//! limit, `DurationSeconds` against the role's `MaxSessionDuration`,
//! `ExternalId` trust conditions, session tags as `aws:PrincipalTag/*`
//! (overriding role tags, gated by `sts:TagSession`), `GetSessionToken`,
//! and the request keys (`aws:SourceIp`, `aws:RequestedRegion`, ...) every
//! Query request carries.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use common::*;

const ACCOUNT: &str = "123456789012";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/app-role";
const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
const TRUST_WITH_TAGS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
const TRUST_EXTERNAL_ID: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"partner-42"}}}]}"#;
const ALLOW_GET_PUT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}]}"#;
const SESSION_GET_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;
/// Allows GetObject only to principals tagged team=blue.
const BLUE_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}}]}"#;

fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_owned()
}

/// The bucket, its object, and `app-role` with `trust` and an inline policy.
async fn setup(sim: &iamstorm::sim::SimHandle, trust: &str, inline: &str) -> aws_sdk_iam::Client {
    let op = operator_config(sim);
    let iam = aws_sdk_iam::Client::new(&op);
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust)
        .max_session_duration(7200)
        .send()
        .await
        .expect("role");
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("inline")
        .policy_document(inline)
        .send()
        .await
        .expect("inline");
    let s3c = s3(&op);
    s3c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    s3c.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(bytes::Bytes::from_static(b"hello").into())
        .send()
        .await
        .expect("object");
    iam
}

fn sts(sim: &iamstorm::sim::SimHandle) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&operator_config(sim))
}

fn session_config(
    sim: &iamstorm::sim::SimHandle,
    c: &aws_sdk_sts::types::Credentials,
) -> aws_types::SdkConfig {
    static_config(
        sim,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    )
}

async fn get(client: &aws_sdk_s3::Client) -> Result<(), String> {
    match client.get_object().bucket(BUCKET).key(KEY).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{}: {}",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        )),
    }
}

async fn put(client: &aws_sdk_s3::Client) -> Result<(), String> {
    match client
        .put_object()
        .bucket(BUCKET)
        .key("new")
        .body(bytes::Bytes::from_static(b"x").into())
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{}: {}",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        )),
    }
}

// PackedPolicySize is deprecated in the SDK but still in AWS's response.
#[allow(deprecated)]
#[tokio::test]
async fn session_policies_limit_every_request_of_the_session() {
    let sim = start(Duration::ZERO, |_| {}).await;
    setup(&sim, TRUST_ACCOUNT, ALLOW_GET_PUT).await;
    admin(&sim).await_converged().await.expect("converged");
    let sts = sts(&sim);

    let plain = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("plain")
        .send()
        .await
        .expect("plain session");
    assert_eq!(plain.packed_policy_size(), None);
    let full = s3(&session_config(&sim, plain.credentials().expect("creds")));
    assert_eq!(put(&full).await, Ok(()), "the role allows PutObject");

    let inline = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("inline")
        .policy(SESSION_GET_ONLY)
        .send()
        .await
        .expect("session with inline policy");
    assert!(
        inline
            .packed_policy_size()
            .is_some_and(|p| (1..=100).contains(&p))
    );
    let limited = s3(&session_config(&sim, inline.credentials().expect("creds")));
    assert_eq!(get(&limited).await, Ok(()));
    let denied = put(&limited)
        .await
        .expect_err("session policy lacks PutObject");
    assert!(
        denied.ends_with("because no session policy allows the s3:PutObject action"),
        "{denied}"
    );

    let managed = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("managed")
        .policy_arns(
            PolicyDescriptorType::builder()
                .arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
                .build(),
        )
        .send()
        .await
        .expect("session with managed policy");
    let read_only = s3(&session_config(&sim, managed.credentials().expect("creds")));
    assert_eq!(get(&read_only).await, Ok(()));
    assert!(put(&read_only).await.is_err());

    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}]}}"#,
        "A".repeat(2100)
    );
    let e = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("big")
        .policy(big)
        .send()
        .await
        .expect_err("too large");
    assert_eq!(code(&e), "PackedPolicyTooLarge");
    let e = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("bad")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#)
        .send()
        .await
        .expect_err("no Action");
    assert_eq!(code(&e), "MalformedPolicyDocument");
}

#[tokio::test]
async fn duration_seconds_is_bounded_by_the_roles_max_session_duration() {
    let sim = start(Duration::ZERO, |_| {}).await;
    setup(&sim, TRUST_ACCOUNT, ALLOW_GET_PUT).await;
    let sts = sts(&sim);
    let before = SystemTime::now();
    let out = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("long")
        .duration_seconds(7200)
        .send()
        .await
        .expect("within MaxSessionDuration");
    let expires =
        SystemTime::try_from(*out.credentials().expect("creds").expiration()).expect("expiration");
    let lifetime_s = expires
        .duration_since(before)
        .expect("in the future")
        .as_secs();
    assert!((7195..=7205).contains(&lifetime_s), "{lifetime_s}");
    for (duration_s, why) in [(7201, "over the role's maximum"), (899, "under 900")] {
        let e = sts
            .assume_role()
            .role_arn(ROLE_ARN)
            .role_session_name("bad")
            .duration_seconds(duration_s)
            .send()
            .await
            .expect_err(why);
        assert_eq!(code(&e), "ValidationError", "{why}");
    }
}

#[tokio::test]
async fn external_id_condition_in_the_trust_policy() {
    let sim = start(Duration::ZERO, |_| {}).await;
    setup(&sim, TRUST_EXTERNAL_ID, ALLOW_GET_PUT).await;
    let sts = sts(&sim);
    let attempt = |external_id: Option<&'static str>| {
        let sts = sts.clone();
        async move {
            sts.assume_role()
                .role_arn(ROLE_ARN)
                .role_session_name("partner")
                .set_external_id(external_id.map(str::to_owned))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| code(&e))
        }
    };
    assert_eq!(attempt(Some("partner-42")).await, Ok(()));
    assert_eq!(
        attempt(Some("partner-43")).await,
        Err("AccessDenied".to_owned())
    );
    assert_eq!(attempt(None).await, Err("AccessDenied".to_owned()));
}

#[tokio::test]
async fn session_tags_override_role_tags_and_need_tag_session() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let iam = setup(&sim, TRUST_ACCOUNT, BLUE_ONLY).await;
    iam.tag_role()
        .role_name(ROLE)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("red")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag role");
    admin(&sim).await_converged().await.expect("converged");
    let sts = sts(&sim);
    let blue = Tag::builder()
        .key("team")
        .value("blue")
        .build()
        .expect("tag");
    let e = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("tagged")
        .tags(blue.clone())
        .send()
        .await
        .expect_err("trust does not allow sts:TagSession");
    assert_eq!(code(&e), "AccessDenied");
    assert!(
        e.message().unwrap_or_default().contains("sts:TagSession"),
        "{e:?}"
    );
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(TRUST_WITH_TAGS)
        .send()
        .await
        .expect("allow TagSession");
    admin(&sim).await_converged().await.expect("converged");

    let untagged = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("untagged")
        .send()
        .await
        .expect("no tags");
    let red = s3(&session_config(
        &sim,
        untagged.credentials().expect("creds"),
    ));
    let denied = get(&red).await.expect_err("role tag team=red");
    assert!(denied.starts_with("AccessDenied"), "{denied}");

    let tagged = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("tagged")
        .tags(blue)
        .send()
        .await
        .expect("tagged session");
    let blue_client = s3(&session_config(&sim, tagged.credentials().expect("creds")));
    assert_eq!(get(&blue_client).await, Ok(()), "session tag overrides");

    // The role tag changing later reaches untagged sessions too.
    iam.tag_role()
        .role_name(ROLE)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("blue")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("retag role");
    admin(&sim).await_converged().await.expect("converged");
    assert_eq!(get(&red).await, Ok(()));
}

#[tokio::test]
async fn get_session_token_for_the_root_only() {
    let sim = start(Duration::ZERO, |_| {}).await;
    setup(&sim, TRUST_ACCOUNT, ALLOW_GET_PUT).await;
    let sts_root = sts(&sim);
    let out = sts_root
        .get_session_token()
        .send()
        .await
        .expect("GetSessionToken");
    let creds = out.credentials().expect("creds");
    assert!(creds.access_key_id().starts_with("ASIA"));
    let session = session_config(&sim, creds);
    let who = aws_sdk_sts::Client::new(&session)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(get(&s3(&session)).await, Ok(()), "same permissions as root");
    let e = sts_root
        .get_session_token()
        .duration_seconds(7200)
        .send()
        .await
        .expect_err("root sessions last at most an hour");
    assert_eq!(code(&e), "ValidationError");

    let role = sts_root
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("role-session")
        .send()
        .await
        .expect("assume");
    let role_sts =
        aws_sdk_sts::Client::new(&session_config(&sim, role.credentials().expect("creds")));
    let e = role_sts
        .get_session_token()
        .send()
        .await
        .expect_err("session credentials");
    assert_eq!(code(&e), "AccessDenied");
}

#[tokio::test]
async fn query_requests_carry_principal_and_request_keys() {
    let sim = start(Duration::ZERO, |_| {}).await;
    // GetRole from loopback in the signed region, as an AssumedRole with
    // no aws:username and a sane clock; ListRoles only from 10.0.0.0/8.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:GetRole","Resource":"*","Condition":{
            "IpAddress":{"aws:SourceIp":"127.0.0.0/8"},
            "StringEquals":{"aws:RequestedRegion":"us-east-1","aws:PrincipalType":"AssumedRole","aws:PrincipalAccount":"123456789012"},
            "ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/app-role"},
            "StringLike":{"aws:userid":"AROA*:keys"},
            "Null":{"aws:username":"true"},
            "Bool":{"aws:SecureTransport":"false"},
            "NumericGreaterThan":{"aws:EpochTime":"1600000000"},
            "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}},
        {"Effect":"Allow","Action":"iam:ListRoles","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    setup(&sim, TRUST_ACCOUNT, policy).await;
    admin(&sim).await_converged().await.expect("converged");
    let out = sts(&sim)
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("keys")
        .send()
        .await
        .expect("assume");
    let iam = aws_sdk_iam::Client::new(&session_config(&sim, out.credentials().expect("creds")));
    iam.get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("every condition holds");
    let e = iam.list_roles().send().await.expect_err("not from 10/8");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&e),
        Some("AccessDenied")
    );
}
