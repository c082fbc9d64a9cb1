//! S3 front end: an in-memory object store behind `s3s`, which speaks S3's
//! REST/XML protocol and verifies its SigV4 (header, presigned, chunked).
//! The double plugs in here three ways: `S3Auth` (secret lookup from the
//! credential store), `S3Access` (session token, quota, IAM at a replica),
//! and the `S3` trait (the store itself).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::path::S3Path;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::auth::{AuthFailure, Principal};
use super::edge::EdgeContext;
use super::iam::authz::DenyKind;
use super::state::SimState;
use super::throttle::QuotaClass;
use super::truth::VerdictKind;

/// One stored object.
#[derive(Debug)]
pub struct Object {
    pub data: Bytes,
    pub etag_hex: String,
    pub last_modified: SystemTime,
}

#[derive(Debug)]
struct Bucket {
    created: SystemTime,
    objects: BTreeMap<String, Arc<Object>>,
}

/// Buckets and objects, in memory, with a cap on total bytes.
pub struct ObjectStore {
    max_object_bytes: u64,
    max_store_bytes: u64,
    inner: Mutex<StoreInner>,
}

struct StoreInner {
    buckets: HashMap<String, Bucket>,
    bytes_total: u64,
}

impl ObjectStore {
    pub fn new(max_object_bytes: u64, max_store_bytes: u64) -> Self {
        Self {
            max_object_bytes,
            max_store_bytes,
            inner: Mutex::new(StoreInner {
                buckets: HashMap::new(),
                bytes_total: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn bucket_count(&self) -> usize {
        self.lock().buckets.len()
    }

    /// (bucket, object count, bytes) for every bucket, sorted by name: the
    /// admin API's state dump.
    pub fn summary(&self) -> Vec<(String, usize, u64)> {
        let inner = self.lock();
        let mut out: Vec<(String, usize, u64)> = inner
            .buckets
            .iter()
            .map(|(name, b)| {
                let bytes = b.objects.values().map(|o| o.data.len() as u64).sum();
                (name.clone(), b.objects.len(), bytes)
            })
            .collect();
        out.sort();
        out
    }

    /// Drops every bucket and object (`POST /_iamstorm/reset`).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.buckets.clear();
        inner.bytes_total = 0;
    }
}

fn no_such_bucket(bucket: &str) -> S3Error {
    s3_error!(
        NoSuchBucket,
        "The specified bucket does not exist: {bucket}"
    )
}

/// The `S3` implementation.
#[derive(Clone)]
pub struct S3Backend(pub Arc<SimState>);

#[async_trait::async_trait]
impl S3 for S3Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket;
        let mut inner = self.0.objects.lock();
        if inner.buckets.contains_key(&name) {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ));
        }
        inner.buckets.insert(
            name.clone(),
            Bucket {
                created: SystemTime::now(),
                objects: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let inner = self.0.objects.lock();
        if !inner.buckets.contains_key(&req.input.bucket) {
            return Err(no_such_bucket(&req.input.bucket));
        }
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let inner = self.0.objects.lock();
        let mut buckets: Vec<_> = inner
            .buckets
            .iter()
            .map(|(name, b)| s3s::dto::Bucket {
                name: Some(name.clone()),
                creation_date: Some(b.created.into()),
                ..Default::default()
            })
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let store = &self.0.objects;
        let input = req.input;
        if input
            .content_length
            .is_some_and(|n| n < 0 || n as u64 > store.max_object_bytes)
        {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size of {} bytes",
                store.max_object_bytes
            ));
        }
        let mut data = BytesMut::new();
        if let Some(mut body) = input.body {
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| S3Error::with_source(S3ErrorCode::IncompleteBody, e))?;
                if (data.len() + chunk.len()) as u64 > store.max_object_bytes {
                    return Err(s3_error!(
                        EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size of {} bytes",
                        store.max_object_bytes
                    ));
                }
                data.extend_from_slice(&chunk);
            }
        }
        let data = data.freeze();
        let etag_hex = {
            use md5::Digest;
            hex::encode(md5::Md5::digest(&data))
        };
        let mut inner = store.lock();
        let old_len = inner
            .buckets
            .get(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?
            .objects
            .get(&input.key)
            .map_or(0, |o| o.data.len() as u64);
        let new_total = inner.bytes_total - old_len + data.len() as u64;
        if new_total > store.max_store_bytes {
            return Err(s3_error!(
                ServiceUnavailable,
                "The double's object store is full ({} bytes); raise max_store_bytes",
                store.max_store_bytes
            ));
        }
        inner.bytes_total = new_total;
        let object = Arc::new(Object {
            data,
            etag_hex: etag_hex.clone(),
            last_modified: SystemTime::now(),
        });
        if let Some(b) = inner.buckets.get_mut(&input.bucket) {
            b.objects.insert(input.key, object);
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag_hex)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let obj = self.find(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(GetObjectOutput {
            content_length: Some(obj.data.len() as i64),
            e_tag: Some(ETag::Strong(obj.etag_hex.clone())),
            last_modified: Some(obj.last_modified.into()),
            body: Some(StreamingBlob::from(s3s::Body::from(obj.data.clone()))),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let obj = self.find(&req.input.bucket, &req.input.key)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(obj.data.len() as i64),
            e_tag: Some(ETag::Strong(obj.etag_hex.clone())),
            last_modified: Some(obj.last_modified.into()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let mut inner = self.0.objects.lock();
        let bucket = inner
            .buckets
            .get_mut(&req.input.bucket)
            .ok_or_else(|| no_such_bucket(&req.input.bucket))?;
        let freed = bucket
            .objects
            .remove(&req.input.key)
            .map_or(0, |o| o.data.len() as u64);
        inner.bytes_total -= freed;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input
            .continuation_token
            .clone()
            .or(input.start_after.clone())
            .unwrap_or_default();
        let inner = self.0.objects.lock();
        let bucket = inner
            .buckets
            .get(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?;
        let mut contents = Vec::new();
        let mut common: Vec<String> = Vec::new();
        let mut next = None;
        let range = bucket
            .objects
            .range::<String, _>((
                std::ops::Bound::Excluded(&after),
                std::ops::Bound::Unbounded,
            ))
            .filter(|(k, _)| k.starts_with(&prefix));
        for (key, obj) in range {
            if contents.len() + common.len() >= max_keys {
                next = Some(key.clone());
                break;
            }
            if let Some(d) = input.delimiter.as_deref().filter(|d| !d.is_empty())
                && let Some(pos) = key[prefix.len()..].find(d)
            {
                let cp = key[..prefix.len() + pos + d.len()].to_owned();
                if common.last() != Some(&cp) {
                    common.push(cp);
                }
                continue;
            }
            contents.push(s3s::dto::Object {
                key: Some(key.clone()),
                size: Some(obj.data.len() as i64),
                e_tag: Some(ETag::Strong(obj.etag_hex.clone())),
                last_modified: Some(obj.last_modified.into()),
                ..Default::default()
            });
        }
        let key_count = (contents.len() + common.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            is_truncated: Some(next.is_some()),
            next_continuation_token: next,
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            contents: Some(contents),
            common_prefixes: Some(
                common
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

impl S3Backend {
    fn find(&self, bucket: &str, key: &str) -> S3Result<Arc<Object>> {
        let inner = self.0.objects.lock();
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}

/// Secret lookup for s3s's signature check.
pub struct S3Keys(pub Arc<SimState>);

#[async_trait::async_trait]
impl S3Auth for S3Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.creds.get(access_key) {
            Some(c) => Ok(SecretKey::from(c.secret_access_key.clone())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// The IAM action and resource ARN an S3 operation is authorized as.
pub fn action_and_resource(op: &str, path: &S3Path) -> (String, String) {
    let action = match op {
        "HeadObject" => "GetObject",
        "ListObjectsV2" | "ListObjects" | "HeadBucket" => "ListBucket",
        "ListBuckets" => "ListAllMyBuckets",
        other => other,
    };
    let resource = match path {
        S3Path::Root => "*".to_owned(),
        S3Path::Bucket { bucket } => format!("arn:aws:s3:::{bucket}"),
        S3Path::Object { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
    };
    (format!("s3:{action}"), resource)
}

/// Session token, quota, and IAM — in AWS's order — for every S3 request.
pub struct S3Policy(pub Arc<SimState>);

fn presented_token<'a>(cx: &'a S3AccessContext<'_>) -> Option<std::borrow::Cow<'a, str>> {
    if let Some(v) = cx
        .headers()
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.into());
    }
    let q = cx.uri().query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-security-token"))
        .map(|(_, v)| v.into_owned().into())
}

#[async_trait::async_trait]
impl S3Access for S3Policy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let state = &self.0;
        let (action, resource) = action_and_resource(cx.s3_op().name(), cx.s3_path());
        let edge = cx.extensions_mut().get::<EdgeContext>().cloned();
        let Some(edge) = edge else {
            return Err(s3_error!(
                InternalError,
                "request reached S3 without the edge context"
            ));
        };
        let Some(access_key) = cx.credentials().map(|c| c.access_key.clone()) else {
            edge.finish(
                state,
                VerdictKind::Denied,
                &action,
                None,
                None,
                Some("AccessDenied"),
                "anonymous request".into(),
            );
            return Err(s3_error!(AccessDenied, "Access Denied"));
        };
        let token = presented_token(cx).map(|t| t.into_owned());
        let cred = match state
            .creds
            .resolve(&access_key, token.as_deref(), state.now_wall())
        {
            Ok(c) => c,
            Err(failure) => {
                let err = match failure {
                    AuthFailure::ExpiredToken => {
                        s3_error!(ExpiredToken, "The provided token has expired.")
                    }
                    AuthFailure::InvalidToken => s3_error!(
                        InvalidToken,
                        "The provided token is malformed or otherwise invalid."
                    ),
                    _ => s3_error!(
                        InvalidAccessKeyId,
                        "The AWS Access Key Id you provided does not exist in our records."
                    ),
                };
                edge.finish(
                    state,
                    VerdictKind::AuthFailed,
                    &action,
                    None,
                    None,
                    Some(err.code().as_str()),
                    format!("{failure:?}"),
                );
                return Err(err);
            }
        };
        let principal: &Principal = &cred.principal;
        if let S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } = cx.s3_path() {
            let (class, kind) = if matches!(*cx.method(), http::Method::GET | http::Method::HEAD) {
                (QuotaClass::S3Read, "read")
            } else {
                (QuotaClass::S3Write, "write")
            };
            if let Err(key) = state.throttle.check(class, &format!("s3:{kind}:{bucket}")) {
                edge.finish(
                    state,
                    VerdictKind::Throttled,
                    &action,
                    Some(principal),
                    None,
                    Some("SlowDown"),
                    format!("quota bucket {key} is empty"),
                );
                return Err(s3_error!(SlowDown, "Please reduce your request rate."));
            }
        }
        let evaluated = state.evaluate(
            edge.id,
            principal,
            &action,
            &resource,
            &super::iam::authz::RequestFacts::NONE,
        );
        if let Some(deny) = &evaluated.decision.deny {
            let reason = match deny {
                DenyKind::Implicit => "implicit deny",
                DenyKind::Explicit => "explicit deny",
            };
            edge.finish(
                state,
                VerdictKind::Denied,
                &action,
                Some(principal),
                Some(&evaluated),
                Some("AccessDenied"),
                format!("{reason}: {}", evaluated.decision.reason),
            );
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                evaluated.decision.message.clone(),
            ));
        }
        edge.allowed(action, principal.clone(), evaluated);
        Ok(())
    }
}
