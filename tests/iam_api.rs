//! The IAM API's lifecycle, tags, permissions boundaries, policy versions,
//! simulation and account summary against the double through the real
//! SDK, with enforcement checked through S3 requests of an assumed role.

mod common;

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyScopeType, Tag};
use common::*;

const ACCOUNT: &str = "123456789012";
const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
const ALLOW_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
const ALLOW_LIST_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;

/// (error code, HTTP status) of a failed SDK call.
fn code<E: ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (String, u16) {
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (e.code().unwrap_or_default().to_owned(), status)
}

async fn bucket_with_object(op: &aws_types::SdkConfig) {
    let s3c = s3(op);
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
}

/// An S3 client acting as a fresh session of `role`.
async fn session_s3(sim: &iamstorm::sim::SimHandle, role: &str) -> aws_sdk_s3::Client {
    let sts = aws_sdk_sts::Client::new(&operator_config(sim));
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{role}"))
        .role_session_name("test")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    s3(&static_config(
        sim,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    ))
}

/// GetObject's result: Ok, or the AccessDenied message.
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
        Err(e) => Err(e.code().unwrap_or_default().to_owned()),
    }
}

#[tokio::test]
async fn role_lifecycle_tags_profiles_and_delete_conflicts() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    let created = iam
        .create_role()
        .role_name("svc")
        .path("/team/")
        .assume_role_policy_document(TRUST_ACCOUNT)
        .max_session_duration(7200)
        .tags(
            Tag::builder()
                .key("team")
                .value("blue")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create role");
    let role = created.role().expect("role");
    assert_eq!(role.arn(), format!("arn:aws:iam::{ACCOUNT}:role/team/svc"));
    assert_eq!(role.max_session_duration(), Some(7200));
    let e = iam
        .create_role()
        .role_name("bad")
        .assume_role_policy_document(TRUST_ACCOUNT)
        .max_session_duration(100)
        .send()
        .await
        .expect_err("MaxSessionDuration below 3600");
    assert_eq!(code(&e), ("ValidationError".to_owned(), 400));

    iam.create_role()
        .role_name("other")
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("second role");
    let listed = iam.list_roles().send().await.expect("ListRoles");
    let names: Vec<&str> = listed.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(names, ["other", "svc"]);
    let team = iam
        .list_roles()
        .path_prefix("/team/")
        .send()
        .await
        .expect("ListRoles by path");
    assert_eq!(team.roles().len(), 1);
    let paged = iam.list_roles().max_items(1).send().await.expect("page 1");
    assert!(paged.is_truncated());
    let rest = iam
        .list_roles()
        .marker(paged.marker().expect("marker"))
        .send()
        .await
        .expect("page 2");
    assert_eq!(rest.roles()[0].role_name(), "svc");
    assert!(!rest.is_truncated());

    iam.tag_role()
        .role_name("svc")
        .tags(
            Tag::builder()
                .key("env")
                .value("prod")
                .build()
                .expect("tag"),
        )
        .tags(
            Tag::builder()
                .key("team")
                .value("red")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("TagRole");
    iam.untag_role()
        .role_name("svc")
        .tag_keys("env")
        .send()
        .await
        .expect("UntagRole");
    let tags = iam
        .list_role_tags()
        .role_name("svc")
        .send()
        .await
        .expect("ListRoleTags");
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "red")]);

    // DeleteRole refuses while anything still refers to the role.
    iam.put_role_policy()
        .role_name("svc")
        .policy_name("s3")
        .policy_document(ALLOW_S3)
        .send()
        .await
        .expect("inline");
    iam.create_instance_profile()
        .instance_profile_name("svc-profile")
        .send()
        .await
        .expect("profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name("svc-profile")
        .role_name("svc")
        .send()
        .await
        .expect("add");
    let e = iam
        .delete_role()
        .role_name("svc")
        .send()
        .await
        .expect_err("has an inline policy");
    assert_eq!(code(&e), ("DeleteConflict".to_owned(), 409));
    iam.delete_role_policy()
        .role_name("svc")
        .policy_name("s3")
        .send()
        .await
        .expect("delete inline");
    let e = iam
        .delete_role()
        .role_name("svc")
        .send()
        .await
        .expect_err("still in a profile");
    assert_eq!(code(&e).0, "DeleteConflict");
    let for_role = iam
        .list_instance_profiles_for_role()
        .role_name("svc")
        .send()
        .await
        .expect("ListInstanceProfilesForRole");
    assert_eq!(for_role.instance_profiles().len(), 1);
    assert_eq!(
        for_role.instance_profiles()[0].roles()[0].role_name(),
        "svc"
    );
    let e = iam
        .delete_instance_profile()
        .instance_profile_name("svc-profile")
        .send()
        .await
        .expect_err("profile holds a role");
    assert_eq!(code(&e).0, "DeleteConflict");
    iam.remove_role_from_instance_profile()
        .instance_profile_name("svc-profile")
        .role_name("svc")
        .send()
        .await
        .expect("remove");
    let e = iam
        .remove_role_from_instance_profile()
        .instance_profile_name("svc-profile")
        .role_name("svc")
        .send()
        .await
        .expect_err("already removed");
    assert_eq!(code(&e), ("NoSuchEntity".to_owned(), 404));
    iam.delete_instance_profile()
        .instance_profile_name("svc-profile")
        .send()
        .await
        .expect("delete profile");
    let profiles = iam
        .list_instance_profiles()
        .send()
        .await
        .expect("ListInstanceProfiles");
    assert!(profiles.instance_profiles().is_empty());
    iam.delete_role()
        .role_name("svc")
        .send()
        .await
        .expect("delete role");
    let e = iam
        .get_role()
        .role_name("svc")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), ("NoSuchEntity".to_owned(), 404));
}

#[tokio::test]
async fn default_version_change_propagates_like_any_change() {
    let sim = start(Duration::from_millis(1500), |_| {}).await;
    let op = operator_config(&sim);
    let iam = aws_sdk_iam::Client::new(&op);
    let admin = admin(&sim);
    bucket_with_object(&op).await;
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("role");
    let arn = iam
        .create_policy()
        .policy_name("reader")
        .policy_document(ALLOW_GET)
        .send()
        .await
        .expect("policy")
        .policy()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_owned();
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn(&arn)
        .send()
        .await
        .expect("attach");
    admin.await_converged().await.expect("converged");
    let client = session_s3(&sim, ROLE).await;
    assert_eq!(get(&client).await, Ok(()));

    let v2 = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(ALLOW_LIST_ONLY)
        .set_as_default(true)
        .send()
        .await
        .expect("v2");
    let v2 = v2.policy_version().expect("version");
    assert_eq!(
        (v2.version_id(), v2.is_default_version()),
        (Some("v2"), true)
    );
    // Acknowledged, but the replicas have not applied it yet.
    assert_eq!(get(&client).await, Ok(()), "enforcement lags the API");
    admin.await_converged().await.expect("converged");
    let denied = get(&client).await.expect_err("v2 does not allow GetObject");
    assert!(
        denied.contains("because no identity-based policy allows the s3:GetObject action"),
        "{denied}"
    );

    let v1 = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .expect("GetPolicyVersion");
    let v1 = v1.policy_version().expect("v1");
    assert!(!v1.is_default_version());
    let doc = percent_encoding::percent_decode_str(v1.document().expect("document"))
        .decode_utf8()
        .expect("utf-8");
    assert_eq!(doc, ALLOW_GET);
    for _ in 3..=5 {
        iam.create_policy_version()
            .policy_arn(&arn)
            .policy_document(ALLOW_LIST_ONLY)
            .send()
            .await
            .expect("within five versions");
    }
    let e = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(ALLOW_GET)
        .send()
        .await
        .expect_err("sixth version");
    assert_eq!(code(&e), ("LimitExceeded".to_owned(), 409));
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .expect("ListPolicyVersions");
    let ids: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids, ["v5", "v4", "v3", "v2", "v1"]);
    let e = iam
        .delete_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .expect_err("default version");
    assert_eq!(code(&e).0, "DeleteConflict");
    iam.delete_policy_version()
        .policy_arn(&arn)
        .version_id("v5")
        .send()
        .await
        .expect("delete v5");
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .expect("back to v1");
    admin.await_converged().await.expect("converged");
    assert_eq!(get(&client).await, Ok(()));

    let e = iam
        .delete_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect_err("attached");
    assert_eq!(code(&e).0, "DeleteConflict");
    let local = iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .only_attached(true)
        .send()
        .await
        .expect("ListPolicies Local");
    let local: Vec<(&str, Option<&str>)> = local
        .policies()
        .iter()
        .map(|p| (p.policy_name().unwrap_or_default(), p.default_version_id()))
        .collect();
    assert_eq!(local, [("reader", Some("v1"))]);
    let aws = iam
        .list_policies()
        .scope(PolicyScopeType::Aws)
        .send()
        .await
        .expect("ListPolicies AWS");
    let aws: Vec<&str> = aws
        .policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    for name in [
        "AdministratorAccess",
        "ReadOnlyAccess",
        "AmazonS3ReadOnlyAccess",
    ] {
        assert!(aws.contains(&name), "{name} in {aws:?}");
    }
    assert!(!aws.contains(&"reader"));
}

#[tokio::test]
async fn permissions_boundary_caps_the_role_and_propagates() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let op = operator_config(&sim);
    let iam = aws_sdk_iam::Client::new(&op);
    let admin = admin(&sim);
    bucket_with_object(&op).await;
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("role");
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("attach admin");
    let boundary = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    iam.put_role_permissions_boundary()
        .role_name(ROLE)
        .permissions_boundary(boundary)
        .send()
        .await
        .expect("boundary");
    let role = iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .expect("GetRole");
    let pb = role
        .role()
        .and_then(|r| r.permissions_boundary())
        .expect("boundary shown");
    assert_eq!(pb.permissions_boundary_arn(), Some(boundary));
    let policy = iam
        .get_policy()
        .policy_arn(boundary)
        .send()
        .await
        .expect("GetPolicy");
    assert_eq!(
        policy
            .policy()
            .and_then(|p| p.permissions_boundary_usage_count()),
        Some(1)
    );
    admin.await_converged().await.expect("converged");
    let client = session_s3(&sim, ROLE).await;
    assert_eq!(get(&client).await, Ok(()), "both allow s3:GetObject");
    assert_eq!(
        put(&client).await,
        Err("AccessDenied".to_owned()),
        "the boundary does not allow s3:PutObject"
    );
    iam.delete_role_permissions_boundary()
        .role_name(ROLE)
        .send()
        .await
        .expect("remove boundary");
    admin.await_converged().await.expect("converged");
    assert_eq!(put(&client).await, Ok(()));
    let e = iam
        .put_role_permissions_boundary()
        .role_name(ROLE)
        .permissions_boundary(format!("arn:aws:iam::{ACCOUNT}:policy/nope"))
        .send()
        .await
        .expect_err("unknown policy");
    assert_eq!(code(&e), ("NoSuchEntity".to_owned(), 404));
}

fn context(key: &str, value: &str) -> ContextEntry {
    ContextEntry::builder()
        .context_key_name(key)
        .context_key_type(ContextKeyTypeEnum::String)
        .context_key_values(value)
        .build()
}

#[tokio::test]
async fn simulations_honour_context_entries_and_name_statements() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    let regional = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#;
    let decide = |entries: Vec<ContextEntry>| {
        let iam = iam.clone();
        async move {
            let out = iam
                .simulate_custom_policy()
                .policy_input_list(regional)
                .action_names("s3:GetObject")
                .set_context_entries(Some(entries))
                .send()
                .await
                .expect("SimulateCustomPolicy");
            let r = &out.evaluation_results()[0];
            let sources: Vec<String> = r
                .matched_statements()
                .iter()
                .filter_map(|m| m.source_policy_id().map(str::to_owned))
                .collect();
            (r.eval_decision().as_str().to_owned(), sources)
        }
    };
    assert_eq!(
        decide(vec![context("aws:RequestedRegion", "eu-west-1")]).await,
        ("allowed".to_owned(), vec!["PolicyInputList.1".to_owned()])
    );
    assert_eq!(
        decide(vec![context("aws:RequestedRegion", "us-east-1")])
            .await
            .0,
        "implicitDeny"
    );
    assert_eq!(decide(vec![]).await.0, "implicitDeny");
    let e = iam
        .simulate_custom_policy()
        .policy_input_list("{not json")
        .action_names("s3:GetObject")
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(code(&e).0, "MalformedPolicyDocument");

    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("role");
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("regional")
        .policy_document(regional)
        .send()
        .await
        .expect("inline");
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"))
        .action_names("s3:GetObject")
        .context_entries(context("aws:RequestedRegion", "eu-west-1"))
        .send()
        .await
        .expect("SimulatePrincipalPolicy");
    let r = &out.evaluation_results()[0];
    assert_eq!(r.eval_decision().as_str(), "allowed");
    let m = &r.matched_statements()[0];
    assert_eq!(
        (
            m.source_policy_id(),
            m.source_policy_type().map(|t| t.as_str())
        ),
        (Some("regional"), Some("role"))
    );
}

#[tokio::test]
async fn account_summary_counts_entities_and_reports_quotas() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    let summary = |iam: aws_sdk_iam::Client| async move {
        let out = iam
            .get_account_summary()
            .send()
            .await
            .expect("GetAccountSummary");
        out.summary_map().cloned().unwrap_or_default()
    };
    let before = summary(iam.clone()).await;
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_ACCOUNT)
        .send()
        .await
        .expect("role");
    iam.create_policy()
        .policy_name("p")
        .policy_document(ALLOW_GET)
        .send()
        .await
        .expect("policy");
    iam.create_instance_profile()
        .instance_profile_name(PROFILE)
        .send()
        .await
        .expect("profile");
    let after = summary(iam).await;
    use aws_sdk_iam::types::SummaryKeyType as K;
    assert_eq!(before.get(&K::Roles), Some(&0));
    assert_eq!(after.get(&K::Roles), Some(&1));
    assert_eq!(after.get(&K::Policies), Some(&1), "customer managed only");
    assert_eq!(after.get(&K::InstanceProfiles), Some(&1));
    assert_eq!(after.get(&K::RolesQuota), Some(&1000));
    assert_eq!(after.get(&K::PoliciesQuota), Some(&1500));
    assert_eq!(after.get(&K::InstanceProfilesQuota), Some(&1000));
    assert_eq!(after.get(&K::AttachedPoliciesPerRoleQuota), Some(&10));
    assert_eq!(after.get(&K::VersionsPerPolicyQuota), Some(&5));
}
