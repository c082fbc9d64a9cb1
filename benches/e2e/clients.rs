//! The bare client loops the harness is compared with: aws-sdk-s3
//! GetObject (default or lean config) and unsigned hyper GETs.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::REGION;
use crate::accounting::{Window, saturate};

/// A bare S3 client; `lean` is exactly what `[sdk] lean = true` gives an
/// instance (`iamstorm::target::clients::{lean, instance_s3}`).
pub(crate) fn s3_client(
    endpoint: &str,
    lean: bool,
    creds: aws_credential_types::provider::SharedCredentialsProvider,
) -> aws_sdk_s3::Client {
    let mut b = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if lean {
        b = iamstorm::target::clients::lean(b);
    }
    iamstorm::target::clients::instance_s3(&b.build(), lean)
}

pub(crate) async fn get_loop(
    client: aws_sdk_s3::Client,
    bucket: &'static str,
    server: u32,
    window: Duration,
) -> Window {
    saturate(server, window, move |i| {
        let client = client.clone();
        async move {
            match client
                .get_object()
                .bucket(bucket)
                .key(format!("obj-{}", i % 100))
                .send()
                .await
            {
                Ok(out) => out.body.collect().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await
}

pub(crate) async fn unsigned_loop(port: u16, server: u32, window: Duration) -> Window {
    let http: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}/obj").parse().expect("uri");
    saturate(server, window, move |_| {
        let (http, uri) = (http.clone(), uri.clone());
        async move {
            match http.get(uri).await {
                Ok(resp) => resp.into_body().collect().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await
}
