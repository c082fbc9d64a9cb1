//! The `S3` trait: each operation translates s3s's parsed input onto the
//! [`ObjectStore`] and back into s3s's output types. Authorization already
//! happened in `access`; what is left here is S3's own validation (tags,
//! caps, policy grammar) and answers.

use std::ops::Bound;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::access::DeniedKeys;
use super::bucket_policy;
use super::store::{self, ListQuery, Object, ObjectStore, Tags};
use crate::sim::state::SimState;

/// The `S3` implementation.
#[derive(Clone)]
pub struct S3Backend(pub Arc<SimState>);

/// S3's per-object tag limits (documented: 10 tags, keys up to 128 and
/// values up to 256 Unicode characters).
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Checks tags against S3's limits (`InvalidTag`).
pub fn validate_tags(tags: &Tags) -> S3Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than {MAX_TAGS}"
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Tags from an `x-amz-tagging` value (`k1=v1&k2=v2`), validated.
pub(super) fn header_tags(raw: Option<&str>) -> S3Result<Tags> {
    let tags: Tags = raw.map_or_else(Vec::new, |raw| {
        form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    });
    validate_tags(&tags)?;
    Ok(tags)
}

fn dto_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// Reads a streaming body, refusing more than `cap_bytes`.
pub async fn read_body(body: Option<StreamingBlob>, cap_bytes: u64) -> S3Result<Bytes> {
    let mut data = BytesMut::new();
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| S3Error::with_source(S3ErrorCode::IncompleteBody, e))?;
            if (data.len() + chunk.len()) as u64 > cap_bytes {
                return Err(store::too_large(cap_bytes));
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(data.freeze())
}

pub fn etag(object: &Object) -> ETag {
    ETag::Strong(object.etag.clone())
}

fn list_entry(key: &str, obj: &Object) -> s3s::dto::Object {
    s3s::dto::Object {
        key: Some(key.to_owned()),
        size: Some(obj.data.len() as i64),
        e_tag: Some(etag(obj)),
        last_modified: Some(obj.last_modified.into()),
        ..Default::default()
    }
}

/// Continuation tokens are opaque to clients: the next key, base64.
fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

fn max_keys(requested: Option<i32>) -> usize {
    requested.unwrap_or(1000).clamp(0, 1000) as usize
}

impl S3Backend {
    fn store(&self) -> &ObjectStore {
        &self.0.objects
    }
}

#[async_trait::async_trait]
impl S3 for S3Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket;
        self.store().create_bucket(&name)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store().delete_bucket(&req.input.bucket)?;
        Ok(S3Response::with_status(
            DeleteBucketOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.store().bucket_exists(&req.input.bucket) {
            return Err(store::no_such_bucket(&req.input.bucket));
        }
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.0.config.region.clone()),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .store()
            .list_buckets()
            .into_iter()
            .map(|(name, created)| s3s::dto::Bucket {
                name: Some(name),
                creation_date: Some(created.into()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("iamstorm".to_owned()),
                id: Some(self.0.config.account_id.clone()),
            }),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let store = self.store();
        let input = req.input;
        if input
            .content_length
            .is_some_and(|n| n < 0 || n as u64 > store.max_object_bytes)
        {
            return Err(store::too_large(store.max_object_bytes));
        }
        let tags = header_tags(input.tagging.as_deref())?;
        let data = read_body(input.body, store.max_object_bytes).await?;
        let object = store.put(&input.bucket, &input.key, Object::new(data, tags))?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&object)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let obj = self.store().get(&req.input.bucket, &req.input.key)?;
        let total = obj.len_bytes();
        // Ranged GETs: the CLI downloads large objects in parallel ranges.
        let range =
            match &req.input.range {
                None => None,
                Some(r) => Some(r.check(total).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?),
            };
        let (data, content_range) = match &range {
            Some(r) => (
                obj.data.slice(r.start as usize..r.end as usize),
                Some(format!("bytes {}-{}/{total}", r.start, r.end - 1)),
            ),
            None => (obj.data.clone(), None),
        };
        let output = GetObjectOutput {
            content_length: Some(data.len() as i64),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&obj)),
            last_modified: Some(obj.last_modified.into()),
            tag_count: (!obj.tags.is_empty()).then_some(obj.tags.len() as i32),
            body: Some(StreamingBlob::from(s3s::Body::from(data))),
            ..Default::default()
        };
        Ok(match range {
            Some(_) => S3Response::with_status(output, http::StatusCode::PARTIAL_CONTENT),
            None => S3Response::new(output),
        })
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let obj = self.store().get(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(obj.data.len() as i64),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&obj)),
            last_modified: Some(obj.last_modified.into()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store().delete(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let denied = req
            .extensions
            .get::<DeniedKeys>()
            .cloned()
            .unwrap_or_default();
        let input = req.input;
        let quiet = input.delete.quiet.unwrap_or(false);
        if !self.store().bucket_exists(&input.bucket) {
            return Err(store::no_such_bucket(&input.bucket));
        }
        let mut deleted = Vec::new();
        for o in input.delete.objects {
            self.store().delete(&input.bucket, &o.key)?;
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(o.key),
                    ..Default::default()
                });
            }
        }
        let errors = denied
            .0
            .into_iter()
            .map(|(key, message)| s3s::dto::Error {
                code: Some("AccessDenied".to_owned()),
                key: Some(key),
                message: Some(message),
                version_id: None,
            })
            .collect();
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let CopySource::Bucket { bucket, key, .. } = &input.copy_source else {
            return Err(s3_error!(
                NotImplemented,
                "copying from an access point is not supported by the double"
            ));
        };
        let source = self.store().get(bucket, key)?;
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let tags = if replace_tags {
            header_tags(input.tagging.as_deref())?
        } else {
            source.tags.clone()
        };
        let object = Object::new(source.data.clone(), tags);
        let stored = self.store().put(&input.bucket, &input.key, object)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&stored)),
                last_modified: Some(stored.last_modified.into()),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys);
        let prefix = input.prefix.clone().unwrap_or_default();
        let resume = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let start = match (&resume, &input.start_after) {
            (Some(key), _) => Bound::Included(key.as_str()),
            (None, Some(after)) => Bound::Excluded(after.as_str()),
            (None, None) => Bound::Unbounded,
        };
        let page = self.store().list(
            &input.bucket,
            &ListQuery {
                prefix: &prefix,
                delimiter: input.delimiter.as_deref(),
                start,
                max_keys,
            },
        )?;
        let key_count = (page.contents.len() + page.common_prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next.as_deref().map(encode_token),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            contents: Some(
                page.contents
                    .iter()
                    .map(|(k, o)| list_entry(k, o))
                    .collect(),
            ),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max_keys = max_keys(input.max_keys);
        let prefix = input.prefix.clone().unwrap_or_default();
        let start = input
            .marker
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let page = self.store().list(
            &input.bucket,
            &ListQuery {
                prefix: &prefix,
                delimiter: input.delimiter.as_deref(),
                start,
                max_keys,
            },
        )?;
        // V1's NextMarker is the last key or prefix returned (exclusive).
        let last = page
            .contents
            .last()
            .map(|(k, _)| k.clone())
            .into_iter()
            .chain(page.common_prefixes.last().cloned())
            .max();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter.clone(),
            marker: input.marker,
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.next.is_some()),
            next_marker: page.next.as_ref().and(last),
            contents: Some(
                page.contents
                    .iter()
                    .map(|(k, o)| list_entry(k, o))
                    .collect(),
            ),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        if !self.store().bucket_exists(&input.bucket) {
            return Err(store::no_such_bucket(&input.bucket));
        }
        let policy = bucket_policy::validate(&input.bucket, &input.policy)?;
        self.store().set_policy(&input.bucket, policy)?;
        Ok(S3Response::with_status(
            PutBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        match self.store().policy(&req.input.bucket)? {
            Some(p) => Ok(S3Response::new(GetBucketPolicyOutput {
                policy: Some(p.text.clone()),
            })),
            None => Err(s3_error!(
                NoSuchBucketPolicy,
                "The bucket policy does not exist"
            )),
        }
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.store().delete_policy(&req.input.bucket)?;
        Ok(S3Response::with_status(
            DeleteBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags: Tags = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        validate_tags(&tags)?;
        self.store().set_tags(&input.bucket, &input.key, tags)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let obj = self.store().get(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: dto_tags(&obj.tags),
            version_id: None,
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.store()
            .set_tags(&req.input.bucket, &req.input.key, Vec::new())?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        super::multipart::create(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        super::multipart::upload_part(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        super::multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        super::multipart::abort(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        super::multipart::list_uploads(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        super::multipart::list_parts(self, req).await
    }
}

impl S3Backend {
    pub(super) fn state(&self) -> &SimState {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tag_limits_are_s3s() {
        validate_tags(&tags(&[("a", "1"), ("b", "")])).expect("fine");
        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        for bad in [
            eleven,
            tags(&[("a", "1"), ("a", "2")]),
            tags(&[("", "1")]),
            vec![("k".repeat(129), String::new())],
            vec![("k".to_owned(), "v".repeat(257))],
        ] {
            let err = validate_tags(&bad).expect_err("invalid");
            assert_eq!(err.code(), &S3ErrorCode::InvalidTag);
        }
    }

    #[test]
    fn continuation_tokens_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_token(&encode_token("a/ü")).expect("round trip"),
            "a/ü"
        );
        assert!(decode_token("%%%").is_err());
    }
}
