//! The operations catalog: one scenario op → one real AWS SDK call, its
//! outcome classified, its request id kept for ground-truth checks.
//! A response body is read to the end before the call counts as done.

use aws_sdk_s3::operation::RequestId;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;

use crate::fleet::SimInstance;
use crate::observe::classify::classify_error;
use crate::observe::outcome::{Outcome, OutcomeClass};
use crate::scenario::Op;
use crate::target::clients::SdkSettings;

/// One request to make.
pub struct Call<'a> {
    pub op: Op,
    pub bucket: &'a str,
    pub key: String,
    pub payload: &'a Bytes,
    /// `sts:AssumeRole` / `iam:GetRole`: the role's name and ARN.
    pub role_name: &'a str,
    pub role_arn: &'a str,
    /// `sts:AssumeRole`: the `RoleSessionName`.
    pub session_name: &'a str,
    /// The entry's own retries and timeouts; `None`: the client's.
    pub sdk: Option<&'a SdkSettings>,
}

/// Sends a fluent builder, with the entry's SDK settings (if any) as a
/// per-operation config override on the instance's client — same
/// credentials, identity cache and connection pool.
macro_rules! send {
    ($builder:expr, $call:expr, $service:ident) => {{
        let builder = $builder;
        match $call.sdk {
            None => builder.send().await,
            Some(o) => {
                builder
                    .customize()
                    .config_override(
                        $service::config::Builder::default()
                            .retry_config(o.retry.clone())
                            .timeout_config(o.timeout_config()),
                    )
                    .send()
                    .await
            }
        }
    }};
}

/// What came back.
pub struct Answer {
    pub outcome: Outcome,
    pub request_id: Option<String>,
}

fn ok(request_id: Option<&str>) -> Answer {
    Answer {
        outcome: Outcome::new(OutcomeClass::Ok, None),
        request_id: request_id.map(str::to_owned),
    }
}

fn failed<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Answer
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    Answer {
        outcome: classify_error(err),
        request_id: err.request_id().map(str::to_owned),
    }
}

/// Runs `call` on `instance`'s clients.
pub async fn execute(instance: &SimInstance, call: Call<'_>) -> Answer {
    match call.op {
        Op::S3GetObject => match send!(
            instance.s3.get_object().bucket(call.bucket).key(call.key),
            call,
            aws_sdk_s3
        ) {
            Ok(out) => {
                let id = out.request_id().map(str::to_owned);
                match out.body.collect().await {
                    Ok(_) => ok(id.as_deref()),
                    Err(_) => Answer {
                        outcome: Outcome::new(OutcomeClass::Connection, Some("body".into())),
                        request_id: id,
                    },
                }
            }
            Err(e) => failed(&e),
        },
        Op::S3HeadObject => match send!(
            instance.s3.head_object().bucket(call.bucket).key(call.key),
            call,
            aws_sdk_s3
        ) {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::S3PutObject => {
            let body = ByteStream::from(call.payload.clone());
            match send!(
                instance
                    .s3
                    .put_object()
                    .bucket(call.bucket)
                    .key(call.key)
                    .body(body),
                call,
                aws_sdk_s3
            ) {
                Ok(out) => ok(out.request_id()),
                Err(e) => failed(&e),
            }
        }
        Op::S3ListObjectsV2 => match send!(
            instance
                .s3
                .list_objects_v2()
                .bucket(call.bucket)
                .max_keys(100),
            call,
            aws_sdk_s3
        ) {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::S3DeleteObject => match send!(
            instance
                .s3
                .delete_object()
                .bucket(call.bucket)
                .key(call.key),
            call,
            aws_sdk_s3
        ) {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::StsAssumeRole => match send!(
            instance
                .sts
                .assume_role()
                .role_arn(call.role_arn)
                .role_session_name(call.session_name),
            call,
            aws_sdk_sts
        ) {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::IamGetRole => match send!(
            instance.iam.get_role().role_name(call.role_name),
            call,
            aws_sdk_iam
        ) {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::StsGetCallerIdentity => {
            match send!(instance.sts.get_caller_identity(), call, aws_sdk_sts) {
                Ok(out) => ok(out.request_id()),
                Err(e) => failed(&e),
            }
        }
    }
}
