//! Real AWS SDK clients for a target: the operator's (static admin keys,
//! used for setup and timeline actions) and each simulated instance's
//! (credentials from its own IMDS through `aws-config`'s provider, with its
//! own identity cache and connection pool — never a shared cache, which
//! holds at most 64 providers: `shared/reference/imds-sdk-probe.md` §7).

use std::time::Duration;

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{
    RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};

use super::Target;

/// The SDK behaviour a scenario controls. Retries are off by default: the
/// harness must see raw outcomes, not what the retry layer hid.
#[derive(Clone, Debug)]
pub struct SdkSettings {
    pub retry: RetryConfig,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// The identity cache's refresh buffer; `None`: the SDK's default.
    pub identity_cache_buffer: Option<Duration>,
    /// `[sdk] lean` (see [`crate::scenario::SdkBehaviour::lean`]).
    pub lean: bool,
}

impl From<&crate::scenario::SdkBehaviour> for SdkSettings {
    /// The scenario's `[sdk]` as the SDK's configuration.
    fn from(b: &crate::scenario::SdkBehaviour) -> Self {
        use crate::scenario::RetryMode;
        let retry = match b.retry {
            RetryMode::Off => RetryConfig::disabled(),
            RetryMode::Standard => RetryConfig::standard().with_max_attempts(b.max_attempts),
            RetryMode::Adaptive => RetryConfig::adaptive().with_max_attempts(b.max_attempts),
        };
        Self {
            retry,
            connect_timeout: b.connect_timeout,
            operation_timeout: b.operation_timeout,
            identity_cache_buffer: b.identity_cache_buffer,
            lean: b.lean,
        }
    }
}

impl SdkSettings {
    /// The timeouts as the SDK's configuration.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

impl Default for SdkSettings {
    fn default() -> Self {
        Self {
            retry: RetryConfig::disabled(),
            connect_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(10),
            identity_cache_buffer: None,
            lean: false,
        }
    }
}

fn base(target: &Target, settings: &SdkSettings) -> aws_types::sdk_config::Builder {
    let builder = SdkConfig::builder();
    let builder = match settings.identity_cache_buffer {
        Some(buffer) => builder.identity_cache(
            aws_config::identity::IdentityCache::lazy()
                .buffer_time(buffer)
                .build(),
        ),
        None => builder,
    };
    let mut builder = builder
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .retry_config(settings.retry.clone())
        .timeout_config(settings.timeout_config());
    if let Some(url) = &target.endpoint_url {
        builder.set_endpoint_url(Some(url.clone()));
    }
    if settings.lean {
        builder = lean(builder);
    }
    builder
}

/// The lean settings every service client shares. Checksums: computed and
/// validated only where an operation requires one (the SDK's default is
/// "when supported": a CRC32 on every PutObject and validation of every
/// GetObject that carries one). Stalled-stream protection: off (it polls a
/// throughput monitor on every body); the timeouts still bound each call.
pub fn lean(builder: aws_types::sdk_config::Builder) -> aws_types::sdk_config::Builder {
    builder
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// The operator's configuration: the target's operator credentials,
/// standard retries (setup must not fail on one throttled call).
pub fn operator_config(target: &Target) -> SdkConfig {
    let settings = SdkSettings {
        retry: RetryConfig::standard().with_max_attempts(5),
        ..SdkSettings::default()
    };
    base(target, &settings)
        .credentials_provider(target.operator.clone())
        .build()
}

/// One instance's configuration: credentials from its IMDS endpoint, or —
/// on a target without simulated IMDS (`imds_endpoint` empty) — from a
/// default chain of its own (its own identity cache; on EC2 that chain
/// ends at the real IMDS and the real instance profile).
pub async fn instance_config(
    target: &Target,
    imds_endpoint: &str,
    settings: &SdkSettings,
) -> Result<(SdkConfig, SharedCredentialsProvider), aws_smithy_runtime_api::box_error::BoxError> {
    let provider = if imds_endpoint.is_empty() {
        SharedCredentialsProvider::new(
            aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(Region::new(target.region.clone()))
                .build()
                .await,
        )
    } else {
        let imds = aws_config::imds::Client::builder()
            .endpoint(imds_endpoint)?
            .build();
        SharedCredentialsProvider::new(ImdsCredentialsProvider::builder().imds_client(imds).build())
    };
    let config = base(target, settings)
        .credentials_provider(provider.clone())
        .build();
    Ok((config, provider))
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    instance_s3(config, false)
}

/// An instance's S3 client; `lean` adds the S3-only lean settings: no S3
/// Express session auth (a CreateSession lookup per bucket), and — when
/// the target has an endpoint URL, where addressing is path-style anyway —
/// [`PathStyleEndpoint`] instead of S3's endpoint rules engine, which
/// otherwise runs on every call and resolves to the same URL.
pub fn instance_s3(config: &SdkConfig, lean: bool) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config).force_path_style(true);
    if lean {
        builder = builder.disable_s3_express_session_auth(true);
        if let Some(base) = config.endpoint_url() {
            builder = builder.endpoint_resolver(PathStyleEndpoint {
                base: base.trim_end_matches('/').to_owned(),
            });
        }
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// `{base}/{bucket}`: S3 path-style addressing against a fixed endpoint,
/// without the endpoint rules engine.
#[derive(Debug, Clone)]
pub struct PathStyleEndpoint {
    pub base: String,
}

impl aws_sdk_s3::config::endpoint::ResolveEndpoint for PathStyleEndpoint {
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

pub fn sts(config: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(config)
}

pub fn iam(config: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(config)
}
