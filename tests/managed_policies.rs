//! IAM managed policies against the double through the real SDK: the
//! runbook's `attach-role-policy AmazonS3ReadOnlyAccess`, detaching, a
//! customer policy's explicit deny, listing, and IAM's errors and quotas.

mod common;

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use common::*;
use iamstorm::observe::classify::classify_error;
use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::setup::TRUST_EC2;

const READ_ONLY_ARN: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
const DENY_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoGet","Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#;

/// GetObject's outcome class and detail (`implicit`/`explicit` for denials)
/// and the AWS error message, if any.
async fn get(client: &aws_sdk_s3::Client) -> (OutcomeClass, Option<String>, String) {
    match client.get_object().bucket(BUCKET).key(KEY).send().await {
        Ok(_) => (OutcomeClass::Ok, None, String::new()),
        Err(e) => {
            let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&e)
                .unwrap_or_default()
                .to_owned();
            let o = classify_error(&e);
            (o.class, o.detail, message)
        }
    }
}

async fn attach(iam: &aws_sdk_iam::Client, arn: &str) {
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("attach {arn}: {e:?}"));
}

async fn attached(iam: &aws_sdk_iam::Client) -> Vec<(String, String)> {
    let out = iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    assert!(!out.is_truncated());
    out.attached_policies()
        .iter()
        .map(|p| {
            (
                p.policy_name().unwrap_or_default().to_owned(),
                p.policy_arn().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn attach_read_only_allows_detach_denies_again() {
    let sim = start(Duration::from_millis(200), |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let client = s3(&instance_config(&sim, &imds));
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    let admin = admin(&sim);

    let (class, detail, _) = get(&client).await;
    assert_eq!(
        (class, detail.as_deref()),
        (OutcomeClass::AccessDenied, Some("implicit"))
    );

    let policy = iam
        .get_policy()
        .policy_arn(READ_ONLY_ARN)
        .send()
        .await
        .expect("AWS-managed policy is pre-seeded");
    let policy = policy.policy().expect("Policy element");
    assert_eq!(policy.policy_name(), Some("AmazonS3ReadOnlyAccess"));
    assert_eq!(policy.attachment_count(), Some(0));

    attach(&iam, READ_ONLY_ARN).await;
    assert_eq!(
        attached(&iam).await,
        vec![(
            "AmazonS3ReadOnlyAccess".to_owned(),
            READ_ONLY_ARN.to_owned()
        )],
        "control-plane reads see the attachment at once"
    );
    let count = iam
        .get_policy()
        .policy_arn(READ_ONLY_ARN)
        .send()
        .await
        .expect("GetPolicy")
        .policy()
        .and_then(|p| p.attachment_count());
    assert_eq!(count, Some(1));
    admin.await_converged().await.expect("admin API");
    let (class, detail, message) = get(&client).await;
    assert_eq!(class, OutcomeClass::Ok, "{detail:?} {message}");

    iam.detach_role_policy()
        .role_name(ROLE)
        .policy_arn(READ_ONLY_ARN)
        .send()
        .await
        .expect("detach");
    assert!(attached(&iam).await.is_empty());
    admin.await_converged().await.expect("admin API");
    let (class, detail, message) = get(&client).await;
    assert_eq!(
        (class, detail.as_deref()),
        (OutcomeClass::AccessDenied, Some("implicit")),
        "{message}"
    );
    assert!(
        message.ends_with("because no identity-based policy allows the s3:GetObject action"),
        "{message}"
    );

    let truth = admin.propagation().await.expect("truth");
    let labels: Vec<&str> = truth.versions.iter().map(|v| v.label.as_str()).collect();
    assert!(
        labels
            .contains(&"AttachRolePolicy app-role+arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
            && labels.contains(
                &"DetachRolePolicy app-role-arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
            ),
        "each change is a version: {labels:?}"
    );
}

#[tokio::test]
async fn customer_policy_explicit_deny_beats_read_only_and_is_named() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let client = s3(&instance_config(&sim, &imds));
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));

    let created = iam
        .create_policy()
        .policy_name("deny-get")
        .policy_document(DENY_GET)
        .send()
        .await
        .expect("CreatePolicy");
    let created = created.policy().expect("Policy element");
    let arn = created.arn().expect("Arn").to_owned();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/deny-get");
    assert_eq!(created.default_version_id(), Some("v1"));
    assert_eq!(created.path(), Some("/"));
    assert!(created.is_attachable());
    assert!(created.policy_id().is_some_and(|id| id.starts_with("ANPA")));
    assert!(created.create_date().is_some());

    let dup = iam
        .create_policy()
        .policy_name("deny-get")
        .policy_document(DENY_GET)
        .send()
        .await
        .expect_err("duplicate name");
    assert_eq!(dup.code(), Some("EntityAlreadyExists"));

    attach(&iam, READ_ONLY_ARN).await;
    attach(&iam, &arn).await;
    let mut listed = attached(&iam).await;
    listed.sort();
    assert_eq!(
        listed,
        vec![
            (
                "AmazonS3ReadOnlyAccess".to_owned(),
                READ_ONLY_ARN.to_owned()
            ),
            ("deny-get".to_owned(), arn.clone()),
        ]
    );
    admin(&sim).await_converged().await.expect("admin API");
    let (class, detail, message) = get(&client).await;
    assert_eq!(
        (class, detail.as_deref()),
        (OutcomeClass::AccessDenied, Some("explicit")),
        "{message}"
    );
    assert!(
        message.contains(
            "with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/deny-get"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn unknown_policy_and_the_eleventh_attachment_are_refused() {
    let sim = start(Duration::ZERO, |_| {}).await;
    world(&sim, TRUST_EC2, None).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));

    let unknown = "arn:aws:iam::aws:policy/NoSuchPolicy";
    let err = iam
        .attach_role_policy()
        .role_name(ROLE)
        .policy_arn(unknown)
        .send()
        .await
        .expect_err("unknown ARN");
    assert_eq!(err.code(), Some("NoSuchEntity"));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_no_such_entity_exception()),
        "{err:?}"
    );
    let err = iam
        .get_policy()
        .policy_arn(unknown)
        .send()
        .await
        .expect_err("GetPolicy of an unknown ARN");
    assert_eq!(err.code(), Some("NoSuchEntity"));
    let err = iam
        .detach_role_policy()
        .role_name(ROLE)
        .policy_arn(READ_ONLY_ARN)
        .send()
        .await
        .expect_err("not attached");
    assert_eq!(err.code(), Some("NoSuchEntity"));

    for i in 0..10 {
        let p = iam
            .create_policy()
            .policy_name(format!("p{i}"))
            .policy_document(DENY_GET)
            .send()
            .await
            .expect("CreatePolicy");
        let arn = p.policy().and_then(|p| p.arn()).expect("Arn").to_owned();
        attach(&iam, &arn).await;
    }
    assert_eq!(attached(&iam).await.len(), 10);
    let err = iam
        .attach_role_policy()
        .role_name(ROLE)
        .policy_arn(READ_ONLY_ARN)
        .send()
        .await
        .expect_err("11th attachment");
    assert_eq!(err.code(), Some("LimitExceeded"));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_limit_exceeded_exception()),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some("Cannot exceed quota for PoliciesPerRole: 10")
    );
    assert_eq!(attached(&iam).await.len(), 10, "nothing changed");
}

/// The runbook's step 1 (`aws iam simulate-principal-policy`) answers from
/// the control plane: it sees a grant at once, while enforcement still lags.
#[tokio::test]
async fn simulate_principal_policy_sees_the_grant_before_enforcement_does() {
    let sim = start(std::time::Duration::from_secs(3), |_| {}).await;
    let imds = world(&sim, iamstorm::setup::TRUST_EC2, None).await;
    let iam = aws_sdk_iam::Client::new(&operator_config(&sim));
    let role_arn = "arn:aws:iam::123456789012:role/app-role";
    let simulate = |iam: aws_sdk_iam::Client| async move {
        let out = iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .action_names("s3:GetObject")
            .resource_arns("arn:aws:s3:::assets/obj-1")
            .send()
            .await
            .expect("SimulatePrincipalPolicy answers");
        out.evaluation_results()[0]
            .eval_decision()
            .as_str()
            .to_owned()
    };
    assert_eq!(simulate(iam.clone()).await, "implicitDeny");
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("read")
        .policy_document(READ_POLICY)
        .send()
        .await
        .expect("grant");
    assert_eq!(
        simulate(iam.clone()).await,
        "allowed",
        "the simulator reads the newest policies"
    );
    let denied = s3(&instance_config(&sim, &imds))
        .get_object()
        .bucket(BUCKET)
        .key(KEY)
        .send()
        .await;
    assert!(
        denied.is_err(),
        "enforcement has not applied the 3 s-delayed grant yet"
    );
}
