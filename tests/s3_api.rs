//! The double's S3 front end driven by the real AWS SDK (and raw HTTP for
//! presigned URLs): object and bucket operations, bucket policies enforced
//! as the resource policy with S3 condition keys, tagging, multipart,
//! presigned URLs, session tokens, and S3's error shape.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::{RequestId, RequestIdExt};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging,
};
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use iamstorm::sim::SimHandle;
use iamstorm::target::admin::RequestTruth;

const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/app-role";

/// IAM's propagation delay in the test that shows bucket policies do not
/// wait for it.
const IAM_DELAY: Duration = Duration::from_secs(1);

fn body(text: &'static str) -> ByteStream {
    ByteStream::from(Bytes::from_static(text.as_bytes()))
}

/// Creates `app-role` (trusting the account) with an optional inline
/// policy and returns an SDK config holding one of its sessions.
async fn role_session(
    sim: &SimHandle,
    inline: Option<&str>,
) -> (aws_sdk_sts::types::Credentials, aws_config::SdkConfig) {
    let op = operator_config(sim);
    let iam = aws_sdk_iam::Client::new(&op);
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("create role");
    if let Some(policy) = inline {
        iam.put_role_policy()
            .role_name(ROLE)
            .policy_name("inline")
            .policy_document(policy)
            .send()
            .await
            .expect("put role policy");
    }
    admin(sim).await_converged().await.expect("admin API");
    let creds = aws_sdk_sts::Client::new(&op)
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("s3-test")
        .send()
        .await
        .expect("assume role")
        .credentials
        .expect("credentials");
    let config = static_config(
        sim,
        &creds.access_key_id,
        &creds.secret_access_key,
        Some(&creds.session_token),
    );
    (creds, config)
}

async fn bucket_with(sim: &SimHandle, keys: &[&str]) -> aws_sdk_s3::Client {
    let client = s3(&operator_config(sim));
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    for key in keys {
        client
            .put_object()
            .bucket(BUCKET)
            .key(*key)
            .body(body("hello"))
            .send()
            .await
            .expect("put object");
    }
    client
}

async fn put_policy(client: &aws_sdk_s3::Client, policy: &str) {
    client
        .put_bucket_policy()
        .bucket(BUCKET)
        .policy(policy)
        .send()
        .await
        .expect("valid bucket policy");
}

fn code<E: ProvideErrorMetadata>(e: &E) -> &str {
    e.code().unwrap_or("<none>")
}

/// GET over plain HTTP/1.1 (no SDK): (status, headers, body).
async fn raw_get(url: &str) -> (u16, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let resp = client
        .get(url.parse().expect("a URL"))
        .await
        .expect("the double answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn bucket_and_object_lifecycle() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &["a/1", "a/2", "b"]).await;

    let listed = client.list_buckets().send().await.expect("list buckets");
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [BUCKET]);
    assert!(
        listed.extended_request_id().is_some() && listed.request_id().is_some(),
        "x-amz-request-id and x-amz-id-2 on every response"
    );
    client
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("head bucket");

    let copied = client
        .copy_object()
        .bucket(BUCKET)
        .key("copy")
        .copy_source(format!("{BUCKET}/a/1"))
        .send()
        .await
        .expect("copy");
    let got = client
        .get_object()
        .bucket(BUCKET)
        .key("copy")
        .send()
        .await
        .expect("get copy");
    assert_eq!(
        copied.copy_object_result().and_then(|r| r.e_tag()),
        got.e_tag()
    );
    assert_eq!(
        &got.body.collect().await.expect("body").into_bytes()[..],
        b"hello"
    );

    let ranged = client
        .get_object()
        .bucket(BUCKET)
        .key("copy")
        .range("bytes=1-3")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(ranged.content_range(), Some("bytes 1-3/5"));
    assert_eq!(
        &ranged.body.collect().await.expect("body").into_bytes()[..],
        b"ell"
    );
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("copy")
        .range("bytes=9-")
        .send()
        .await
        .expect_err("past the end");
    assert_eq!(code(&err), "InvalidRange");
    let err = client
        .delete_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("not empty");
    assert_eq!(code(&err), "BucketNotEmpty");
    let ids = ["a/1", "a/2", "b", "copy", "never-existed"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().expect("id"))
        .collect::<Vec<_>>();
    let deleted = client
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    assert_eq!(deleted.deleted().len(), 5, "missing keys count as deleted");
    assert!(deleted.errors().is_empty());
    client
        .delete_object()
        .bucket(BUCKET)
        .key("gone")
        .send()
        .await
        .expect("idempotent delete");
    client
        .delete_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("empty bucket");
    let err = client
        .head_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("gone");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn bucket_policy_is_validated_stored_and_deleted() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &[]).await;
    let err = client
        .get_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("none yet");
    assert_eq!(code(&err), "NoSuchBucketPolicy");
    for (policy, message) in [
        (
            "nope",
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (r#"{"Statement":["#, "This policy contains invalid Json"),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#,
            "Missing required field Principal",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
            "Policy has invalid resource",
        ),
    ] {
        let err = client
            .put_bucket_policy()
            .bucket(BUCKET)
            .policy(policy)
            .send()
            .await
            .expect_err("malformed");
        assert_eq!(
            (code(&err), err.message()),
            ("MalformedPolicy", Some(message)),
            "{policy}"
        );
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}}]}}"#
    );
    put_policy(&client, &policy).await;
    let got = client
        .get_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect("stored");
    assert_eq!(got.policy(), Some(policy.as_str()), "returned verbatim");
    client
        .delete_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect("delete");
    let err = client
        .get_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&err), "NoSuchBucketPolicy");
}

#[tokio::test]
async fn a_bucket_policy_deny_beats_the_role_allow() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &["public/a", "public/c", "secret/b"]).await;
    let (_, session) = role_session(
        &sim,
        Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::assets/*"}]}"#,
        ),
    )
    .await;
    let role = s3(&session);
    role.get_object()
        .bucket(BUCKET)
        .key("secret/b")
        .send()
        .await
        .expect("identity allows");

    put_policy(
        &client,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"NoSecrets","Effect":"Deny","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::assets/secret/*"}}]}}"#
        ),
    )
    .await;
    let err = role
        .get_object()
        .bucket(BUCKET)
        .key("secret/b")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&err), "AccessDenied");
    let message = err.message().unwrap_or_default();
    assert!(
        message.ends_with("is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::assets/secret/b with an explicit deny in a resource-based policy"),
        "{message}"
    );
    let id = err.request_id().expect("request id").to_owned();
    match admin(&sim).request(&id).await.expect("truth lookup") {
        RequestTruth::Found { verdict } => {
            assert_eq!(
                (verdict.kind.as_str(), verdict.action.as_str()),
                ("denied", "s3:GetObject")
            );
            assert!(
                verdict.reason.starts_with("explicit deny"),
                "{}",
                verdict.reason
            );
        }
        other => panic!("expected a verdict for {id}, got {other:?}"),
    }
    role.get_object()
        .bucket(BUCKET)
        .key("public/a")
        .send()
        .await
        .expect("not covered by the deny");
    // DeleteObjects is authorized key by key: denied keys come back as
    // per-key errors in a 200 answer.
    let ids = ["public/c", "secret/b"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().expect("id"))
        .collect::<Vec<_>>();
    let out = role
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("batch answered");
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["public/c"]);
    let errors: Vec<_> = out.errors().iter().map(|e| (e.key(), e.code())).collect();
    assert_eq!(errors, [(Some("secret/b"), Some("AccessDenied"))]);
    client
        .head_object()
        .bucket(BUCKET)
        .key("secret/b")
        .send()
        .await
        .expect("the denied key is still there");

    // The account root skips IAM but not an explicit deny in the bucket
    // policy — and may always manage the policy itself.
    put_policy(
        &client,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::assets","arn:aws:s3:::assets/*"]}]}"#,
    )
    .await;
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("public/a")
        .send()
        .await
        .expect_err("root denied");
    assert_eq!(code(&err), "AccessDenied");
    client
        .delete_bucket_policy()
        .bucket(BUCKET)
        .send()
        .await
        .expect("root may always delete the policy");
    client
        .get_object()
        .bucket(BUCKET)
        .key("public/a")
        .send()
        .await
        .expect("root again");
}

#[tokio::test]
async fn a_bucket_policy_naming_the_role_allows_on_its_own_at_once() {
    let sim = start(IAM_DELAY, |_| {}).await;
    let client = bucket_with(&sim, &["k"]).await;
    let (_, session) = role_session(&sim, None).await;
    let role = s3(&session);
    let err = role
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .expect_err("nothing allows");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("because no identity-based policy allows")
    );
    // The same moment: an IAM grant of s3:ListBucket and a bucket-policy
    // grant of s3:GetObject/s3:PutObject.
    let changed = std::time::Instant::now();
    aws_sdk_iam::Client::new(&operator_config(&sim))
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("list")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets"}]}"#,
        )
        .send()
        .await
        .expect("IAM grant");
    put_policy(
        &client,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::assets/*"}}]}}"#
        ),
    )
    .await;
    // The bucket policy is enforced from its acknowledgement; the IAM grant
    // waits for its replicas (IAM_DELAY).
    role.get_object()
        .bucket(BUCKET)
        .key("k")
        .send()
        .await
        .expect("bucket policy allows");
    role.put_object()
        .bucket(BUCKET)
        .key("new")
        .body(body("x"))
        .send()
        .await
        .expect("put allowed");
    let err = role
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("the IAM grant has not propagated");
    assert_eq!(code(&err), "AccessDenied");
    assert!(
        changed.elapsed() < IAM_DELAY,
        "all of the above ran inside the IAM propagation window"
    );
    admin(&sim).await_converged().await.expect("admin API");
    role.list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("the IAM grant arrived");
}

#[tokio::test]
async fn condition_keys_prefix_source_ip_and_object_tags() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &["home/alice/1", "open/1", "closed/1"]).await;
    client
        .put_object()
        .bucket(BUCKET)
        .key("tagged/public")
        .tagging("class=public")
        .body(body("p"))
        .send()
        .await
        .expect("tagged put");
    client
        .put_object()
        .bucket(BUCKET)
        .key("tagged/secret")
        .tagging("class=secret")
        .body(body("s"))
        .send()
        .await
        .expect("tagged put");
    let (_, session) = role_session(&sim, None).await;
    let role = s3(&session);
    let statement = |sid: &str, action: &str, resource: &str, condition: &str| {
        format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":"{action}","Resource":"arn:aws:s3:::assets{resource}","Condition":{condition}}}"#
        )
    };
    let statements = [
        statement(
            "Home",
            "s3:ListBucket",
            "",
            r#"{"StringLike":{"s3:prefix":"home/alice/*"}}"#,
        ),
        statement(
            "Loopback",
            "s3:GetObject",
            "/open/*",
            r#"{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#,
        ),
        statement(
            "Office",
            "s3:GetObject",
            "/closed/*",
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        ),
        statement(
            "Public",
            "s3:GetObject",
            "/tagged/*",
            r#"{"StringEquals":{"s3:ExistingObjectTag/class":"public"}}"#,
        ),
        statement(
            "TeamTag",
            "s3:PutObject",
            "/uploads/*",
            r#"{"StringEquals":{"s3:RequestObjectTag/team":"blue"}}"#,
        ),
        statement(
            "Plain",
            "s3:GetObject",
            "/plain/*",
            r#"{"Bool":{"aws:SecureTransport":"false"},"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#,
        ),
    ];
    put_policy(
        &client,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        ),
    )
    .await;

    let listed = role
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("home/alice/")
        .send()
        .await
        .expect("prefix matches");
    assert_eq!(listed.key_count(), Some(1));
    for denied_prefix in [None, Some("home/bob/")] {
        let err = role
            .list_objects_v2()
            .bucket(BUCKET)
            .set_prefix(denied_prefix.map(str::to_owned))
            .send()
            .await
            .expect_err("prefix does not match");
        assert_eq!(code(&err), "AccessDenied", "{denied_prefix:?}");
    }
    role.get_object()
        .bucket(BUCKET)
        .key("open/1")
        .send()
        .await
        .expect("from 127.0.0.1");
    let err = role
        .get_object()
        .bucket(BUCKET)
        .key("closed/1")
        .send()
        .await
        .expect_err("not from the office");
    assert_eq!(code(&err), "AccessDenied");
    role.get_object()
        .bucket(BUCKET)
        .key("tagged/public")
        .send()
        .await
        .expect("public tag");
    let err = role
        .get_object()
        .bucket(BUCKET)
        .key("tagged/secret")
        .send()
        .await
        .expect_err("secret tag");
    assert_eq!(code(&err), "AccessDenied");
    role.put_object()
        .bucket(BUCKET)
        .key("uploads/x")
        .tagging("team=blue&env=dev")
        .body(body("x"))
        .send()
        .await
        .expect("request tag team=blue");
    let err = role
        .put_object()
        .bucket(BUCKET)
        .key("uploads/y")
        .body(body("y"))
        .send()
        .await
        .expect_err("no request tag");
    assert_eq!(code(&err), "AccessDenied");
    let err = role
        .get_object()
        .bucket(BUCKET)
        .key("plain/none")
        .send()
        .await
        .expect_err("allowed, then missing");
    assert_eq!(
        code(&err),
        "NoSuchKey",
        "plain HTTP in us-east-1 passed the policy"
    );
}

#[tokio::test]
async fn object_tagging_round_trip_and_limits() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &[]).await;
    client
        .put_object()
        .bucket(BUCKET)
        .key(KEY)
        .tagging("a=1&b=two%20words")
        .body(body("x"))
        .send()
        .await
        .expect("put with tags");
    let tags = |out: &aws_sdk_s3::operation::get_object_tagging::GetObjectTaggingOutput| {
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect::<Vec<_>>()
    };
    let got = client
        .get_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("tags");
    assert_eq!(
        tags(&got),
        [("a".into(), "1".into()), ("b".into(), "two words".into())]
    );
    let obj = client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("get");
    assert_eq!(obj.tag_count(), Some(2));

    let tagging = |n: usize| {
        Tagging::builder()
            .set_tag_set(Some(
                (0..n)
                    .map(|i| {
                        Tag::builder()
                            .key(format!("k{i}"))
                            .value("v")
                            .build()
                            .expect("tag")
                    })
                    .collect(),
            ))
            .build()
            .expect("tagging")
    };
    client
        .put_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .tagging(tagging(1))
        .send()
        .await
        .expect("replace tags");
    let got = client
        .get_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("tags");
    assert_eq!(tags(&got), [("k0".into(), "v".into())]);
    let err = client
        .put_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .tagging(tagging(11))
        .send()
        .await
        .expect_err("too many tags");
    assert_eq!(code(&err), "InvalidTag");
    client
        .delete_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("delete tags");
    let got = client
        .get_object_tagging()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("tags");
    assert!(got.tag_set().is_empty());
    let err = client
        .get_object_tagging()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .expect_err("no object");
    assert_eq!(code(&err), "NoSuchKey");
}

const PART_BYTES: usize = 2048;

#[tokio::test]
async fn multipart_upload_complete_abort_and_limits() {
    let sim = start(Duration::ZERO, |c| c.s3_min_part_bytes = PART_BYTES as u64).await;
    let client = bucket_with(&sim, &[]).await;
    let (_, session) = role_session(&sim, None).await;
    put_policy(
        &client,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::assets/*"}}]}}"#
        ),
    )
    .await;
    // s3:PutObject alone covers create, upload part and complete.
    let role = s3(&session);
    let upload = role
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("big")
        .send()
        .await
        .expect("create");
    let id = upload.upload_id().expect("upload id").to_owned();
    let chunks: [Vec<u8>; 3] = [
        vec![b'a'; PART_BYTES],
        vec![b'b'; PART_BYTES],
        b"tail".to_vec(),
    ];
    let mut completed = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = i as i32 + 1;
        let out = role
            .upload_part()
            .bucket(BUCKET)
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk.clone()))
            .send()
            .await
            .expect("upload part");
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
    }
    let parts = client
        .list_parts()
        .bucket(BUCKET)
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert_eq!(parts.parts().len(), 3);
    let uploads = client
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list uploads");
    assert_eq!(
        uploads.uploads().first().and_then(|u| u.upload_id()),
        Some(id.as_str())
    );

    let err = role
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(completed[1].clone())
                .parts(completed[0].clone())
                .build(),
        )
        .send()
        .await
        .expect_err("out of order");
    assert_eq!(code(&err), "InvalidPartOrder");
    let done = role
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed.clone()))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let mut md5s = Vec::new();
    for chunk in &chunks {
        use md5::Digest;
        md5s.extend_from_slice(&md5::Md5::digest(chunk));
    }
    let expected = {
        use md5::Digest;
        format!("\"{}-3\"", hex::encode(md5::Md5::digest(&md5s)))
    };
    assert_eq!(done.e_tag(), Some(expected.as_str()));
    let got = client
        .get_object()
        .bucket(BUCKET)
        .key("big")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(expected.as_str()));
    assert_eq!(
        got.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec(),
        chunks.concat()
    );

    // A small part that is not the last one, then abort (its own action).
    let id = role
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .send()
        .await
        .expect("create")
        .upload_id
        .expect("upload id");
    let mut small = Vec::new();
    for n in 1..=2 {
        let out = role
            .upload_part()
            .bucket(BUCKET)
            .key("small")
            .upload_id(&id)
            .part_number(n)
            .body(body("tiny"))
            .send()
            .await
            .expect("upload part");
        small.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
    }
    let err = role
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(small))
                .build(),
        )
        .send()
        .await
        .expect_err("too small");
    assert_eq!(code(&err), "EntityTooSmall");
    let err = role
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .expect_err("s3:AbortMultipartUpload is not granted");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("s3:AbortMultipartUpload")
    );
    client
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .expect("abort");
    let err = client
        .upload_part()
        .bucket(BUCKET)
        .key("small")
        .upload_id(&id)
        .part_number(3)
        .body(body("late"))
        .send()
        .await
        .expect_err("aborted");
    assert_eq!(code(&err), "NoSuchUpload");
}

#[tokio::test]
async fn presigned_urls_work_expire_and_detect_tampering() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &[KEY, "other"]).await;
    let presigned = client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).expect("config"))
        .await
        .expect("presign");
    let (status, headers, text) = raw_get(presigned.uri()).await;
    assert_eq!((status, text.as_str()), (200, "hello"));
    assert!(headers.contains_key("x-amz-request-id") && headers.contains_key("x-amz-id-2"));

    let tampered = presigned.uri().replace(&format!("/{KEY}?"), "/other?");
    let (status, headers, text) = raw_get(&tampered).await;
    assert_eq!(status, 403);
    assert!(
        text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{text}"
    );
    assert!(
        text.contains("<Message>The request signature we calculated"),
        "{text}"
    );
    let id = headers
        .get("x-amz-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id header");
    assert!(
        text.contains(&format!("<RequestId>{id}</RequestId>")),
        "{text}"
    );
    assert!(text.contains("<HostId>"), "{text}");

    let expired = client
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .presigned(
            PresigningConfig::builder()
                .start_time(SystemTime::now() - Duration::from_secs(120))
                .expires_in(Duration::from_secs(60))
                .build()
                .expect("config"),
        )
        .await
        .expect("presign");
    let (status, _, text) = raw_get(expired.uri()).await;
    assert_eq!(status, 403);
    assert!(
        text.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{text}"
    );
}

#[tokio::test]
async fn session_tokens_are_checked_by_s3() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let client = bucket_with(&sim, &[KEY]).await;
    let (creds, session) = role_session(&sim, None).await;
    put_policy(
        &client,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE_ARN}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}}]}}"#
        ),
    )
    .await;
    s3(&session)
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await
        .expect("with its token");
    let presigned = s3(&session)
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("config"))
        .await
        .expect("presign");
    assert!(presigned.uri().contains("X-Amz-Security-Token="));
    let (status, _, text) = raw_get(presigned.uri()).await;
    assert_eq!((status, text.as_str()), (200, "hello"));

    for (token, expected, status) in [
        (None, "InvalidAccessKeyId", 403),
        (Some("not-the-token"), "InvalidToken", 400),
    ] {
        let config = static_config(&sim, &creds.access_key_id, &creds.secret_access_key, token);
        let err = s3(&config)
            .get_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect_err("token missing or wrong");
        assert_eq!(code(&err), expected, "{token:?}");
        assert_eq!(
            err.raw_response().map(|r| r.status().as_u16()),
            Some(status)
        );
    }
}
