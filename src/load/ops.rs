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
        Op::S3GetObject => match instance
            .s3
            .get_object()
            .bucket(call.bucket)
            .key(call.key)
            .send()
            .await
        {
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
        Op::S3HeadObject => match instance
            .s3
            .head_object()
            .bucket(call.bucket)
            .key(call.key)
            .send()
            .await
        {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::S3PutObject => {
            let body = ByteStream::from(call.payload.clone());
            match instance
                .s3
                .put_object()
                .bucket(call.bucket)
                .key(call.key)
                .body(body)
                .send()
                .await
            {
                Ok(out) => ok(out.request_id()),
                Err(e) => failed(&e),
            }
        }
        Op::S3ListObjectsV2 => match instance
            .s3
            .list_objects_v2()
            .bucket(call.bucket)
            .max_keys(100)
            .send()
            .await
        {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::S3DeleteObject => match instance
            .s3
            .delete_object()
            .bucket(call.bucket)
            .key(call.key)
            .send()
            .await
        {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::StsAssumeRole => match instance
            .sts
            .assume_role()
            .role_arn(call.role_arn)
            .role_session_name(call.session_name)
            .send()
            .await
        {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::IamGetRole => match instance
            .iam
            .get_role()
            .role_name(call.role_name)
            .send()
            .await
        {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        Op::StsGetCallerIdentity => match instance.sts.get_caller_identity().send().await {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
    }
}
