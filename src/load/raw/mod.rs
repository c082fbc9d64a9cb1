//! The raw engine (`[[load]] engine = "raw"`): one op → one SigV4-signed
//! HTTP request, for capacity tests where the SDK's own CPU cost (about
//! 325 µs of client CPU per GetObject) would cap the load.
//!
//! Same as the SDK engine: the credentials path (each instance's provider
//! — its IMDS — through an identity cache with the SDK's refresh rules,
//! `target::identity`), the signature (`aws-sigv4`, the SDK's own signer,
//! with the SDK's S3 and Query settings), the classification (the shared
//! `classify_response`, request ids from the same headers). Different: no
//! retries, no interceptors, no flexible checksums, no endpoint rules
//! (path-style against the target's URL, plain HTTP only), and ONE hyper
//! client with one connection pool for every instance of the run.
//!
//! The per-request path is lean: the request's fixed parts (path prefix,
//! body and its SHA-256, signing settings without an excluded-header list)
//! are prepared once per entry or per run; a request allocates its URL,
//! what `aws-sigv4` allocates to sign, and the answer.

pub mod wire;

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::ops::Answer;
use crate::fleet::SimInstance;
use crate::observe::classify::{classify_response, credentials_detail};
use crate::observe::outcome::{Outcome, OutcomeClass};
use crate::scenario::{Engine, Op};

/// S3 keys in a path: everything but unreserved characters and `/` is
/// percent-encoded (what the SDK sends).
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `sts:GetCallerIdentity` as a Query POST body.
const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// How long an idle pooled connection is kept (hyper's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why the raw engine cannot talk to a target.
#[derive(Debug, thiserror::Error)]
pub enum RawEngineError {
    #[error(
        "engine = \"raw\" needs an endpoint URL, and the target resolves AWS's own endpoints\n  help: use engine = \"sdk\" against real AWS, or run against the double"
    )]
    NoEndpoint,
    #[error(
        "engine = \"raw\" speaks plain HTTP only, and the target is {0}\n  help: use engine = \"sdk\" for this target, or an http:// endpoint"
    )]
    NotHttp(String),
}

/// The run's raw engine: the one shared client and the signing settings.
pub struct RawEngine {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port`, without a trailing `/`.
    base: String,
    region: String,
    /// The SDK's S3 settings: single percent-encoding, no path
    /// normalization, `x-amz-content-sha256`.
    s3: SigningSettings,
    /// The Query protocol's (the SigV4 defaults).
    query: SigningSettings,
}

impl RawEngine {
    /// The engine for a target at `endpoint_url` in `region`. Its one
    /// connection pool serves every instance; `connect_timeout` is `[sdk]`'s.
    pub fn new(
        endpoint_url: Option<&str>,
        region: &str,
        connect_timeout: Duration,
    ) -> Result<Self, RawEngineError> {
        let url = endpoint_url.ok_or(RawEngineError::NoEndpoint)?;
        let base = url.trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|_| RawEngineError::NotHttp(url.to_owned()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(RawEngineError::NotHttp(url.to_owned()));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        // Without an excluded-header list a settings clone allocates
        // nothing; the raw engine sends none of the headers it names.
        let mut query = SigningSettings::default();
        query.excluded_headers = None;
        let mut s3 = query.clone();
        s3.percent_encoding_mode = PercentEncodingMode::Single;
        s3.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        s3.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        Ok(Self {
            client,
            base: base.to_owned(),
            region: region.to_owned(),
            s3,
            query,
        })
    }

    /// Sends `entry`'s request for `key` with `instance`'s credentials and
    /// classifies the answer; the body is read to the end first.
    pub async fn execute(&self, instance: &SimInstance, entry: &RawEntry, key: &str) -> Answer {
        match tokio::time::timeout(entry.operation_timeout, self.exchange(instance, entry, key))
            .await
        {
            Ok(answer) => answer,
            Err(_) => Answer {
                outcome: Outcome::new(OutcomeClass::Timeout, Some("operation".into())),
                request_id: None,
            },
        }
    }

    async fn exchange(&self, instance: &SimInstance, entry: &RawEntry, key: &str) -> Answer {
        let identity = match instance.raw_credentials.identity().await {
            Ok(identity) => identity,
            Err(e) => {
                return Answer {
                    outcome: Outcome::new(
                        OutcomeClass::CredentialsUnavailable,
                        Some(credentials_detail(&e).to_owned()),
                    ),
                    request_id: None,
                };
            }
        };
        let request = match self.signed(entry, key, &identity) {
            Ok(request) => request,
            Err(e) => {
                // Only a broken URL or header can fail here: the harness's
                // fault, classified as the SDK files a construction failure.
                tracing::warn!("raw engine could not build a request: {e}");
                return Answer {
                    outcome: Outcome::new(OutcomeClass::ClientError, Some("construction".into())),
                    request_id: None,
                };
            }
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                return Answer {
                    outcome: wire::transport_failure(&e),
                    request_id: None,
                };
            }
        };
        let (parts, mut body) = response.into_parts();
        let request_id = wire::request_id(&parts.headers);
        let body_failed = |request_id| Answer {
            outcome: Outcome::new(OutcomeClass::Connection, Some("body".into())),
            request_id,
        };
        if parts.status.is_success() {
            // Read to the end without keeping it.
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    return body_failed(request_id);
                }
            }
            return Answer {
                outcome: Outcome::new(OutcomeClass::Ok, None),
                request_id,
            };
        }
        let Ok(collected) = body.collect().await else {
            return body_failed(request_id);
        };
        let error = wire::ErrorBody::parse(&collected.to_bytes());
        Answer {
            outcome: classify_response(
                Some(parts.status.as_u16()),
                error.code.as_deref(),
                error.message.as_deref(),
            ),
            request_id,
        }
    }

    /// The request for `key`, signed with `identity`.
    fn signed(
        &self,
        entry: &RawEntry,
        key: &str,
        identity: &aws_smithy_runtime_api::client::identity::Identity,
    ) -> Result<http::Request<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
        let mut url = String::with_capacity(self.base.len() + entry.path_prefix.len() + key.len());
        url.push_str(&self.base);
        url.push_str(&entry.path_prefix);
        if entry.op.needs_keys() {
            url.extend(utf8_percent_encode(key, KEY_ENCODE));
        }
        let (method, service, settings, content_type) = match entry.op {
            Op::S3GetObject => ("GET", "s3", &self.s3, None),
            Op::S3HeadObject => ("HEAD", "s3", &self.s3, None),
            Op::S3PutObject => ("PUT", "s3", &self.s3, None),
            Op::StsGetCallerIdentity => ("POST", "sts", &self.query, Some(FORM_CONTENT_TYPE)),
            other => unreachable!("validation keeps {other} off the raw engine"),
        };
        let headers = content_type.map(|t| ("content-type", t));
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.into_iter(),
            SignableBody::Precomputed(entry.body_sha256.clone()),
        )?;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings.clone())
            .build()?
            .into();
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(entry.body.clone()))?;
        if let Some((name, value)) = headers {
            request
                .headers_mut()
                .insert(name, http::HeaderValue::from_static(value));
        }
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// One raw entry's request, prepared once for the run.
#[derive(Clone, Debug)]
pub struct RawEntry {
    op: Op,
    /// `/BUCKET/` for S3 (the key follows), `/` for STS.
    path_prefix: String,
    body: Bytes,
    /// Lowercase hex SHA-256 of `body` (the signature's payload hash).
    body_sha256: String,
    /// The whole request, credentials to the last body byte.
    operation_timeout: Duration,
}

impl RawEntry {
    /// `op`'s request on `bucket` (S3) with `payload` (PutObject's body).
    pub fn new(op: Op, bucket: &str, payload: &Bytes, operation_timeout: Duration) -> Self {
        assert!(
            Engine::Raw.supports(op),
            "validation keeps {op} off the raw engine"
        );
        let (path_prefix, body) = match op {
            Op::StsGetCallerIdentity => (
                "/".to_owned(),
                Bytes::from_static(GET_CALLER_IDENTITY.as_bytes()),
            ),
            Op::S3PutObject => (format!("/{bucket}/"), payload.clone()),
            _ => (format!("/{bucket}/"), Bytes::new()),
        };
        let body_sha256 = hex::encode(Sha256::digest(&body));
        Self {
            op,
            path_prefix,
            body,
            body_sha256,
            operation_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_endpoints() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            RawEngine::new(None, "us-east-1", t),
            Err(RawEngineError::NoEndpoint)
        ));
        assert!(matches!(
            RawEngine::new(Some("https://s3.example.com"), "us-east-1", t),
            Err(RawEngineError::NotHttp(_))
        ));
    }

    #[tokio::test]
    async fn a_put_is_path_style_with_its_payload_hash_signed() {
        let engine = RawEngine::new(
            Some("http://127.0.0.1:9/"),
            "eu-west-1",
            Duration::from_secs(1),
        )
        .expect("http endpoint");
        let entry = RawEntry::new(
            Op::S3PutObject,
            "assets",
            &Bytes::from_static(b"hello"),
            Duration::from_secs(1),
        );
        let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "t");
        let identity = creds.into();
        let req = engine
            .signed(&entry, "dir/a b+c", &identity)
            .expect("signs");
        assert_eq!(req.method(), "PUT");
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9/assets/dir/a%20b%2Bc"
        );
        let h = req.headers();
        assert_eq!(
            h["x-amz-content-sha256"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let auth = h["authorization"].to_str().expect("ascii");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/")
                && auth.contains("/eu-west-1/s3/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
    }

    #[tokio::test]
    async fn get_caller_identity_is_a_signed_query_post() {
        let engine = RawEngine::new(
            Some("http://127.0.0.1:9"),
            "us-east-1",
            Duration::from_secs(1),
        )
        .expect("http endpoint");
        let entry = RawEntry::new(
            Op::StsGetCallerIdentity,
            "",
            &Bytes::new(),
            Duration::from_secs(1),
        );
        let creds =
            aws_credential_types::Credentials::new("AKID", "secret", Some("tok".into()), None, "t");
        let req = engine.signed(&entry, "", &creds.into()).expect("signs");
        assert_eq!((req.method().as_str(), req.uri().path()), ("POST", "/"));
        assert_eq!(req.headers()["content-type"], FORM_CONTENT_TYPE);
        assert_eq!(req.headers()["x-amz-security-token"], "tok");
        assert!(req.headers().get("x-amz-content-sha256").is_none());
        let auth = req.headers()["authorization"].to_str().expect("ascii");
        assert!(auth.contains("/us-east-1/sts/aws4_request"), "{auth}");
        assert!(
            auth.contains("content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
    }
}
