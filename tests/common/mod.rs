//! Shared set-up for the end-to-end tests: a real double on port 0, real
//! SDK clients, nothing mocked.
#![allow(dead_code)]

pub mod admin_http;
pub mod ec2;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use iamstorm::sim::consistency::{DelayModel, PropagationConfig};
use iamstorm::sim::{self, SimConfig, SimHandle};
use iamstorm::target::AdminClient;

pub const BUCKET: &str = "assets";
pub const KEY: &str = "obj-1";
pub const ROLE: &str = "app-role";
pub const PROFILE: &str = "app-profile";
pub const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
pub const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;

/// A double on an ephemeral loopback port with a fixed propagation delay.
pub async fn start(delay: Duration, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        propagation: PropagationConfig {
            replicas: 4,
            delay: DelayModel::Fixed(delay),
            ..PropagationConfig::default()
        },
        ..SimConfig::default()
    };
    tweak(&mut config);
    sim::start(config)
        .await
        .expect("the double starts on an ephemeral port")
}

fn base(sim: &SimHandle) -> aws_types::sdk_config::Builder {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sim.region.clone()))
        .endpoint_url(sim.endpoint_url())
        .retry_config(RetryConfig::disabled())
}

/// SDK config with static keys (the operator's, or any pair under test).
pub fn static_config(sim: &SimHandle, key: &str, secret: &str, token: Option<&str>) -> SdkConfig {
    let creds = Credentials::new(key, secret, token.map(str::to_owned), None, "test");
    base(sim)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build()
}

pub fn operator_config(sim: &SimHandle) -> SdkConfig {
    static_config(
        sim,
        &sim.admin_access_key_id,
        &sim.admin_secret_access_key,
        None,
    )
}

/// SDK config whose credentials come from an instance's IMDS.
pub fn instance_config(sim: &SimHandle, imds_endpoint: &str) -> SdkConfig {
    let imds = aws_config::imds::Client::builder()
        .endpoint(imds_endpoint)
        .expect("IMDS endpoint parses")
        .build();
    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds)
        .build();
    base(sim)
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

pub fn admin(sim: &SimHandle) -> AdminClient {
    AdminClient::new(sim.admin_url())
}

/// Role (with the given trust), profile, bucket and one object; returns the
/// launched instance's IMDS endpoint. Waits for the setup to propagate.
pub async fn world(sim: &SimHandle, trust: &str, inline: Option<&str>) -> String {
    let op = operator_config(sim);
    let iam = aws_sdk_iam::Client::new(&op);
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("create role");
    if let Some(policy) = inline {
        iam.put_role_policy()
            .role_name(ROLE)
            .policy_name("read")
            .policy_document(policy)
            .send()
            .await
            .expect("put policy");
    }
    iam.create_instance_profile()
        .instance_profile_name(PROFILE)
        .send()
        .await
        .expect("create profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name(PROFILE)
        .role_name(ROLE)
        .send()
        .await
        .expect("add role to profile");
    let s3c = s3(&op);
    s3c.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    s3c.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(bytes::Bytes::from_static(b"hello").into())
        .send()
        .await
        .expect("put object");
    let admin = admin(sim);
    admin.await_converged().await.expect("admin API answers");
    admin
        .launch_instance(Some(PROFILE))
        .await
        .expect("launch instance")
        .imds_endpoint
}

/// The common world (role with `trust`, its instance profile) on a run's
/// embedded target, propagated.
pub async fn world_on(target: &iamstorm::target::Target, trust: &str) {
    let iam = aws_sdk_iam::Client::new(&iamstorm::target::clients::operator_config(target));
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("role");
    iam.create_instance_profile()
        .instance_profile_name(PROFILE)
        .send()
        .await
        .expect("profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name(PROFILE)
        .role_name(ROLE)
        .send()
        .await
        .expect("add role");
    target
        .embedded_admin()
        .await_converged()
        .await
        .expect("converged");
}
