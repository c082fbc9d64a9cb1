//! Brings a target to the scenario's starting state through the real SDK
//! with the operator's credentials: roles with their trust and inline
//! policies, instance profiles, buckets and seeded objects.

use aws_sdk_iam::error::ProvideErrorMetadata;
use bytes::Bytes;
use futures::StreamExt;

use crate::chaos::has_code;
use crate::scenario::{Scenario, Trust};

/// A trust policy that lets EC2 assume the role (what instance profiles need).
pub const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// A trust policy written for another service: EC2 cannot assume the role,
/// the runbook's "trust policy does not allow ec2.amazonaws.com" cause.
pub const TRUST_OTHER_SERVICE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Objects seeded concurrently at most this many at a time.
const SEED_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("setup step `{step}` failed: {message}")]
pub struct SetupError {
    pub step: String,
    pub message: String,
}

fn fail<E: ProvideErrorMetadata + std::fmt::Debug>(step: String) -> impl FnOnce(E) -> SetupError {
    move |e| SetupError {
        message: match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            _ => format!("{e:?}"),
        },
        step,
    }
}

/// Checks, without changing anything, that the scenario's roles, instance
/// profiles and buckets exist (real AWS: a run never creates them).
pub async fn verify(
    scenario: &Scenario,
    iam: &aws_sdk_iam::Client,
    s3: &aws_sdk_s3::Client,
) -> Result<(), SetupError> {
    for role in &scenario.roles {
        iam.get_role()
            .role_name(&role.name)
            .send()
            .await
            .map_err(fail(format!(
                "check role {} exists (against AWS, a run creates nothing)",
                role.name
            )))?;
    }
    for profile in &scenario.instance_profiles {
        iam.get_instance_profile()
            .instance_profile_name(&profile.name)
            .send()
            .await
            .map_err(fail(format!(
                "check instance profile {} exists",
                profile.name
            )))?;
    }
    for bucket in &scenario.buckets {
        s3.head_bucket()
            .bucket(&bucket.name)
            .send()
            .await
            .map_err(fail(format!("check bucket {} exists", bucket.name)))?;
    }
    Ok(())
}

/// Deterministic object content: the key repeated, cut to `size_bytes`.
pub fn object_body(key: &str, size_bytes: u64) -> Bytes {
    let mut body = Vec::with_capacity(size_bytes as usize);
    while (body.len() as u64) < size_bytes {
        body.extend_from_slice(key.as_bytes());
        body.push(b'\n');
    }
    body.truncate(size_bytes as usize);
    Bytes::from(body)
}

pub async fn apply(
    scenario: &Scenario,
    iam: &aws_sdk_iam::Client,
    s3: &aws_sdk_s3::Client,
) -> Result<(), SetupError> {
    for role in &scenario.roles {
        let trust = match &role.trust {
            Trust::Ec2 => TRUST_EC2.to_owned(),
            Trust::Nobody => TRUST_OTHER_SERVICE.to_owned(),
            Trust::Document(doc) => doc.clone(),
        };
        // A role left by an earlier run against the same endpoint gets the
        // scenario's trust and inline policies; other errors end setup.
        match iam
            .create_role()
            .role_name(&role.name)
            .assume_role_policy_document(&trust)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if has_code(&e, &["EntityAlreadyExists"]) => {
                iam.update_assume_role_policy()
                    .role_name(&role.name)
                    .policy_document(&trust)
                    .send()
                    .await
                    .map_err(fail(format!("update trust of existing role {}", role.name)))?;
            }
            Err(e) => return Err(fail(format!("create role {}", role.name))(e)),
        }
        for (name, document) in &role.inline {
            iam.put_role_policy()
                .role_name(&role.name)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map_err(fail(format!("put policy {name} on role {}", role.name)))?;
        }
    }
    for profile in &scenario.instance_profiles {
        match iam
            .create_instance_profile()
            .instance_profile_name(&profile.name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if has_code(&e, &["EntityAlreadyExists"]) => {}
            Err(e) => return Err(fail(format!("create instance profile {}", profile.name))(e)),
        }
        match iam
            .add_role_to_instance_profile()
            .instance_profile_name(&profile.name)
            .role_name(&profile.role)
            .send()
            .await
        {
            Ok(_) => {}
            // The profile already holds a role (its one slot): an earlier run's.
            Err(e) if has_code(&e, &["LimitExceeded", "EntityAlreadyExists"]) => {}
            Err(e) => {
                return Err(fail(format!(
                    "add role {} to instance profile {}",
                    profile.role, profile.name
                ))(e));
            }
        }
    }
    for bucket in &scenario.buckets {
        match s3.create_bucket().bucket(&bucket.name).send().await {
            Ok(_) => {}
            Err(e) if has_code(&e, &["BucketAlreadyOwnedByYou"]) => {}
            Err(e) => return Err(fail(format!("create bucket {}", bucket.name))(e)),
        }
        let Some(pattern) = &bucket.objects else {
            continue;
        };
        let results: Vec<Result<(), SetupError>> = futures::stream::iter(0..pattern.len())
            .map(|i| {
                let key = pattern.key(i);
                let body = object_body(&key, bucket.object_size_bytes);
                async move {
                    s3.put_object()
                        .bucket(&bucket.name)
                        .key(&key)
                        .body(body.into())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(fail(format!("put object s3://{}/{key}", bucket.name)))
                }
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
    }
    Ok(())
}
