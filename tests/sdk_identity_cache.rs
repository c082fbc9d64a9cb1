//! `[sdk] identity_cache_buffer` reaches the instances' SDK clients: with a
//! buffer longer than the credentials live, the identity cache treats every
//! fresh credential as about to expire and fetches from IMDS on every call;
//! with the SDK's default it fetches once. Counted at the double's IMDS.

use std::time::Duration;

use iamstorm::fleet::{self, GroupSpec};
use iamstorm::sim::SimConfig;
use iamstorm::target::Target;
use iamstorm::target::clients::SdkSettings;

mod common;

/// IMDS requests an instance makes over `calls` GetCallerIdentity calls.
async fn imds_requests(buffer: Option<Duration>, calls: usize) -> u64 {
    let target = Target::embedded(SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        instance_credentials_ttl: Duration::from_secs(20),
        ..SimConfig::default()
    })
    .await
    .expect("the double starts");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    common::world_on(&target, trust).await;
    let settings = SdkSettings {
        identity_cache_buffer: buffer,
        ..SdkSettings::default()
    };
    let group = GroupSpec {
        group: "web".into(),
        instance_profile: Some(common::PROFILE.into()),
        instances: 1,
        workers_per_instance: 1,
        boot_delay: std::time::Duration::ZERO,
    };
    let launched = fleet::launch(&target, &[group], &settings)
        .await
        .expect("launch");
    let instance = &launched[0];
    for _ in 0..calls {
        instance
            .sts
            .get_caller_identity()
            .send()
            .await
            .expect("signed with instance credentials");
    }
    let imds = target
        .embedded_admin()
        .imds(&instance.instance_id)
        .await
        .expect("knobs");
    imds["counters"]["requests"]
        .as_u64()
        .expect("request counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_longer_than_the_credentials_refetches_every_call() {
    let calls = 20;
    let default = imds_requests(None, calls).await;
    let eager = imds_requests(Some(Duration::from_secs(120)), calls).await;
    // Boot (token, role name, credentials), the client cache's first load
    // (role name, credentials; the token is reused), then nothing more.
    assert!(default <= 6, "default buffer: {default} IMDS requests");
    // Every call re-reads the role name and the credentials.
    assert!(
        eager >= 2 * calls as u64,
        "120 s buffer: {eager} IMDS requests"
    );
}
