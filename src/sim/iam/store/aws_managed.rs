//! The AWS-managed policies every double is seeded with
//! (`arn:aws:iam::aws:policy/NAME`), with AWS's policy ids and creation
//! dates. Documents are AWS's default versions, except `ReadOnlyAccess`,
//! which is a faithful subset (AWS's lists hundreds of services; this keeps
//! its shape — `Describe*`/`Get*`/`List*` per service — for the services a
//! load test touches).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::{ManagedPolicy, PolicyVersion};
use crate::sim::iam::policy::{self, PolicyKind};

/// AWS's `AmazonS3ReadOnlyAccess` default version document.
pub const S3_READ_ONLY_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#;
/// AWS's `AmazonS3FullAccess` default version document.
pub const S3_FULL_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#;
/// AWS's `AdministratorAccess` document.
pub const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
/// A subset of AWS's `ReadOnlyAccess` (see the module comment).
pub const READ_ONLY_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudwatch:Describe*","cloudwatch:Get*","cloudwatch:List*","dynamodb:Describe*","dynamodb:Get*","dynamodb:List*","dynamodb:Query","dynamodb:Scan","ec2:Describe*","ec2:Get*","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","kms:Describe*","kms:Get*","kms:List*","lambda:Get*","lambda:List*","logs:Describe*","logs:Get*","logs:List*","s3:Describe*","s3:Get*","s3:List*","sns:Get*","sns:List*","sqs:Get*","sqs:List*","sts:GetCallerIdentity"],"Resource":"*"}]}"#;

/// (name, AWS's policy id, creation time in Unix seconds, document).
const AWS_MANAGED: &[(&str, &str, u64, &str)] = &[
    (
        "AmazonS3ReadOnlyAccess",
        "ANPAIZTJ4DXE7G6AGAE6M",
        1_423_248_058,
        S3_READ_ONLY_ACCESS,
    ),
    (
        "AmazonS3FullAccess",
        "ANPAIFIR6V6BVTRAHWINE",
        1_423_248_068,
        S3_FULL_ACCESS,
    ),
    (
        "AdministratorAccess",
        "ANPAIWMBCKSKIEE64ZLYK",
        1_423_247_986,
        ADMINISTRATOR_ACCESS,
    ),
    (
        "ReadOnlyAccess",
        "ANPAILL3HVNFSB6DCOWYQ",
        1_423_247_988,
        READ_ONLY_ACCESS,
    ),
];

/// The seeded policies, each with one version `v1`.
pub fn policies() -> Vec<ManagedPolicy> {
    AWS_MANAGED
        .iter()
        .map(|&(name, id, created_unix_s, text)| {
            // A built-in constant, not outside input: failing is a bug here.
            let doc = policy::parse_policy(text, PolicyKind::Identity)
                .unwrap_or_else(|e| panic!("built-in policy {name} parses: {e}"));
            let created = UNIX_EPOCH + Duration::from_secs(created_unix_s);
            ManagedPolicy {
                name: name.to_owned(),
                policy_id: id.to_owned(),
                arn: format!("arn:aws:iam::aws:policy/{name}"),
                path: "/".to_owned(),
                created,
                updated: created,
                default_version_id: "v1".to_owned(),
                text: text.to_owned(),
                doc: Arc::new(doc.clone()),
                versions: vec![PolicyVersion {
                    id: "v1".to_owned(),
                    text: text.to_owned(),
                    doc: Arc::new(doc),
                    created,
                }],
                next_version: 2,
            }
        })
        .collect()
}
