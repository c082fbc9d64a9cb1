//! S3 timeline actions (bucket policies), through the real S3 SDK client
//! with the operator's credentials. The double applies bucket policies at
//! once and publishes no IAM version for them, so their records carry no
//! truth label; `measure` still times what the probes see.

use super::{Applied, describe};
use crate::scenario::TimelineKind;

pub(super) async fn apply(s3: &aws_sdk_s3::Client, kind: &TimelineKind) -> Applied {
    let (label, result) = match kind {
        TimelineKind::PutBucketPolicy { bucket, document } => (
            format!("put-bucket-policy {bucket}"),
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        TimelineKind::DeleteBucketPolicy { bucket } => (
            format!("delete-bucket-policy {bucket}"),
            s3.delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
        ),
        // The dispatcher in `chaos::apply` sends only S3 actions here.
        other => return super::refused(other),
    };
    Applied {
        label,
        truth_label: String::new(),
        result,
    }
}
