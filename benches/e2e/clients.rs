//! The bare client loops the harness is compared with: aws-sdk-s3
//! GetObject (default or lean config) and unsigned hyper GETs.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::{
    RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use crate::REGION;
use crate::accounting::{Window, saturate};


/// A path-style endpoint resolver: `{base}/{bucket}`, no rules engine.
/// The lean config's candidate for the S3 client's per-request endpoint
/// resolution (the default evaluates S3's endpoint rules on every call).
#[derive(Debug)]
pub(crate) struct PathStyle {
    pub(crate) base: String,
}

impl aws_sdk_s3::config::endpoint::ResolveEndpoint for PathStyle {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_s3::config::endpoint::Params,
    ) -> aws_sdk_s3::config::endpoint::EndpointFuture<'a> {
        let url = match params.bucket() {
            Some(bucket) => format!("{}/{bucket}", self.base),
            None => self.base.clone(),
        };
        aws_sdk_s3::config::endpoint::EndpointFuture::ready(Ok(
            aws_sdk_s3::config::endpoint::Endpoint::builder()
                .url(url)
                .build(),
        ))
    }
}

pub(crate) fn s3_client(
    endpoint: &str,
    lean: bool,
    creds: aws_credential_types::provider::SharedCredentialsProvider,
) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .force_path_style(true);
    if lean {
        b = b
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .disable_s3_express_session_auth(true)
            .endpoint_resolver(PathStyle {
                base: endpoint.to_owned(),
            });
    }
    aws_sdk_s3::Client::from_conf(b.build())
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

