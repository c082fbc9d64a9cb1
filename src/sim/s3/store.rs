//! The object store: buckets, objects with their tags, bucket policies and
//! multipart uploads, in memory, under two byte caps (per object and for the
//! whole store — multipart parts count while they wait).
//!
//! Errors are S3's own (`NoSuchBucket`, `BucketNotEmpty`, ...) because they
//! are part of S3's behaviour; nothing here knows HTTP. One mutex guards
//! everything: each operation is a few map edits, never I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use s3s::{S3Error, S3Result, s3_error};

use crate::sim::iam::policy::PolicyDocument;

/// An object's tags in the order they were given (S3 returns them so).
pub type Tags = Vec<(String, String)>;

/// One stored object. Replaced whole (copy-on-write) when its tags change.
#[derive(Debug)]
pub struct Object {
    pub data: Bytes,
    /// Without quotes: hex MD5, or `hex(md5 of part md5s)-N` for multipart.
    pub etag: String,
    pub last_modified: SystemTime,
    pub tags: Tags,
}

impl Object {
    pub fn new(data: Bytes, tags: Tags) -> Self {
        let etag = md5_hex(&data);
        Self {
            data,
            etag,
            last_modified: SystemTime::now(),
            tags,
        }
    }

    pub fn len_bytes(&self) -> u64 {
        self.data.len() as u64
    }

    /// The tag value for `key`, if tagged so.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// A validated bucket policy: the text as stored (returned verbatim by
/// GetBucketPolicy) and the parsed document the evaluator runs.
#[derive(Debug)]
pub struct BucketPolicy {
    pub text: String,
    pub document: PolicyDocument,
}

#[derive(Debug)]
struct Bucket {
    created: SystemTime,
    objects: BTreeMap<String, Arc<Object>>,
    policy: Option<Arc<BucketPolicy>>,
}

/// A multipart upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub initiated: SystemTime,
    /// From `x-amz-tagging` on CreateMultipartUpload; the object gets them.
    pub tags: Tags,
    pub parts: BTreeMap<i32, Part>,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub data: Bytes,
    pub etag: String,
    pub last_modified: SystemTime,
}

impl Upload {
    fn bytes(&self) -> u64 {
        self.parts.values().map(|p| p.data.len() as u64).sum()
    }
}

/// One page of a listing.
pub struct Listing {
    pub contents: Vec<(String, Arc<Object>)>,
    pub common_prefixes: Vec<String>,
    /// The key to continue after, when truncated.
    pub next: Option<String>,
}

/// What a listing asks for.
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Where to start: after a key (`start-after`, "" for the beginning),
    /// or at a key (a continuation token is the first key not yet listed).
    pub start: std::ops::Bound<&'a str>,
    pub max_keys: usize,
}

/// Buckets and objects, in memory, with a cap on total bytes.
pub struct ObjectStore {
    pub max_object_bytes: u64,
    pub max_store_bytes: u64,
    inner: Mutex<StoreInner>,
}

struct StoreInner {
    buckets: HashMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
    bytes_total: u64,
    uploads_started: u64,
}

pub fn no_such_bucket(bucket: &str) -> S3Error {
    let _ = bucket; // S3 names it in <BucketName>, which s3s cannot add.
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

pub fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

pub fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn store_full(cap: u64) -> S3Error {
    s3_error!(
        ServiceUnavailable,
        "The double's object store is full ({cap} bytes); raise max_store_bytes"
    )
}

pub fn too_large(cap: u64) -> S3Error {
    s3_error!(
        EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed size of {cap} bytes"
    )
}

impl ObjectStore {
    pub fn new(max_object_bytes: u64, max_store_bytes: u64) -> Self {
        Self {
            max_object_bytes,
            max_store_bytes,
            inner: Mutex::new(StoreInner {
                buckets: HashMap::new(),
                uploads: HashMap::new(),
                bytes_total: 0,
                uploads_started: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StoreInner> {
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

    /// Drops every bucket, object and upload (`POST /_iamstorm/reset`).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.buckets.clear();
        inner.uploads.clear();
        inner.bytes_total = 0;
    }

    /// Bytes held (objects plus waiting parts).
    pub fn bytes_total(&self) -> u64 {
        self.lock().bytes_total
    }

    // ---- buckets ----

    pub fn create_bucket(&self, name: &str) -> S3Result<()> {
        let mut inner = self.lock();
        if inner.buckets.contains_key(name) {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ));
        }
        inner.buckets.insert(
            name.to_owned(),
            Bucket {
                created: SystemTime::now(),
                objects: BTreeMap::new(),
                policy: None,
            },
        );
        Ok(())
    }

    /// Deletes an empty bucket; its unfinished uploads go with it
    /// (assumption: AWS documents no rule for them).
    pub fn delete_bucket(&self, name: &str) -> S3Result<()> {
        let mut inner = self.lock();
        let bucket = inner
            .buckets
            .get(name)
            .ok_or_else(|| no_such_bucket(name))?;
        if !bucket.objects.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        inner.buckets.remove(name);
        let mut freed = 0;
        inner.uploads.retain(|_, u| {
            let keep = u.bucket != name;
            if !keep {
                freed += u.bytes();
            }
            keep
        });
        inner.bytes_total -= freed;
        Ok(())
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        self.lock().buckets.contains_key(name)
    }

    /// (name, creation time), sorted by name.
    pub fn list_buckets(&self) -> Vec<(String, SystemTime)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .buckets
            .iter()
            .map(|(n, b)| (n.clone(), b.created))
            .collect();
        out.sort();
        out
    }

    // ---- bucket policies ----

    pub fn set_policy(&self, bucket: &str, policy: BucketPolicy) -> S3Result<()> {
        let mut inner = self.lock();
        let b = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.policy = Some(Arc::new(policy));
        Ok(())
    }

    /// `Ok(None)` when the bucket exists without a policy.
    pub fn policy(&self, bucket: &str) -> S3Result<Option<Arc<BucketPolicy>>> {
        let inner = self.lock();
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        Ok(b.policy.clone())
    }

    pub fn delete_policy(&self, bucket: &str) -> S3Result<()> {
        let mut inner = self.lock();
        let b = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.policy = None;
        Ok(())
    }

    // ---- objects ----

    /// Stores `object` under `key`, replacing any old one, within the caps.
    pub fn put(&self, bucket: &str, key: &str, object: Object) -> S3Result<Arc<Object>> {
        if object.len_bytes() > self.max_object_bytes {
            return Err(too_large(self.max_object_bytes));
        }
        let mut inner = self.lock();
        let old_len = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?
            .objects
            .get(key)
            .map_or(0, |o| o.len_bytes());
        let new_total = inner.bytes_total - old_len + object.len_bytes();
        if new_total > self.max_store_bytes {
            return Err(store_full(self.max_store_bytes));
        }
        inner.bytes_total = new_total;
        let object = Arc::new(object);
        if let Some(b) = inner.buckets.get_mut(bucket) {
            b.objects.insert(key.to_owned(), object.clone());
        }
        Ok(object)
    }

    pub fn get(&self, bucket: &str, key: &str) -> S3Result<Arc<Object>> {
        let inner = self.lock();
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.objects.get(key).cloned().ok_or_else(no_such_key)
    }

    /// The object if both it and its bucket exist (for condition keys).
    pub fn peek(&self, bucket: &str, key: &str) -> Option<Arc<Object>> {
        self.lock().buckets.get(bucket)?.objects.get(key).cloned()
    }

    /// Deletes `key`; deleting a missing key succeeds, as on S3.
    pub fn delete(&self, bucket: &str, key: &str) -> S3Result<()> {
        let mut inner = self.lock();
        let b = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        let freed = b.objects.remove(key).map_or(0, |o| o.len_bytes());
        inner.bytes_total -= freed;
        Ok(())
    }

    /// Replaces an object's tags (`None` removes them all).
    pub fn set_tags(&self, bucket: &str, key: &str, tags: Tags) -> S3Result<()> {
        let mut inner = self.lock();
        let b = inner
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        let slot = b.objects.get_mut(key).ok_or_else(no_such_key)?;
        *slot = Arc::new(Object {
            data: slot.data.clone(),
            etag: slot.etag.clone(),
            last_modified: slot.last_modified,
            tags,
        });
        Ok(())
    }

    pub fn list(&self, bucket: &str, q: &ListQuery<'_>) -> S3Result<Listing> {
        let inner = self.lock();
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        let mut contents = Vec::new();
        let mut common: Vec<String> = Vec::new();
        let mut next = None;
        let range = b
            .objects
            .range::<str, _>((q.start, std::ops::Bound::Unbounded))
            .filter(|(k, _)| k.starts_with(q.prefix));
        for (key, obj) in range {
            let delimited = q
                .delimiter
                .filter(|d| !d.is_empty())
                .and_then(|d| key[q.prefix.len()..].find(d).map(|pos| (d, pos)));
            if let Some((d, pos)) = delimited {
                let cp = &key[..q.prefix.len() + pos + d.len()];
                if common.last().map(String::as_str) == Some(cp) {
                    continue;
                }
                if contents.len() + common.len() >= q.max_keys {
                    next = Some(key.clone());
                    break;
                }
                common.push(cp.to_owned());
                continue;
            }
            if contents.len() + common.len() >= q.max_keys {
                next = Some(key.clone());
                break;
            }
            contents.push((key.clone(), obj.clone()));
        }
        Ok(Listing {
            contents,
            common_prefixes: common,
            next,
        })
    }

    // ---- multipart ----

    /// Starts an upload; returns its id.
    pub fn create_upload(&self, bucket: &str, key: &str, tags: Tags) -> S3Result<String> {
        let mut inner = self.lock();
        if !inner.buckets.contains_key(bucket) {
            return Err(no_such_bucket(bucket));
        }
        inner.uploads_started += 1;
        let id = upload_id(inner.uploads_started);
        inner.uploads.insert(
            id.clone(),
            Upload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                initiated: SystemTime::now(),
                tags,
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Stores (or replaces) part `number`; returns its ETag.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        data: Bytes,
    ) -> S3Result<String> {
        if data.len() as u64 > self.max_object_bytes {
            return Err(too_large(self.max_object_bytes));
        }
        let mut inner = self.lock();
        let old = upload_mut(&mut inner, bucket, key, upload_id)?
            .parts
            .get(&number)
            .map_or(0, |p| p.data.len() as u64);
        let new_total = inner.bytes_total - old + data.len() as u64;
        if new_total > self.max_store_bytes {
            return Err(store_full(self.max_store_bytes));
        }
        inner.bytes_total = new_total;
        let etag = md5_hex(&data);
        let part = Part {
            data,
            etag: etag.clone(),
            last_modified: SystemTime::now(),
        };
        upload_mut(&mut inner, bucket, key, upload_id)?
            .parts
            .insert(number, part);
        Ok(etag)
    }

    /// A copy of the upload's state (parts share their bytes).
    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<Upload> {
        let mut inner = self.lock();
        let u = upload_mut(&mut inner, bucket, key, upload_id)?;
        Ok(Upload {
            bucket: u.bucket.clone(),
            key: u.key.clone(),
            initiated: u.initiated,
            tags: u.tags.clone(),
            parts: u.parts.clone(),
        })
    }

    /// Uploads of `bucket`, by key then id.
    pub fn uploads(&self, bucket: &str) -> S3Result<Vec<(String, String, SystemTime)>> {
        let inner = self.lock();
        if !inner.buckets.contains_key(bucket) {
            return Err(no_such_bucket(bucket));
        }
        let mut out: Vec<_> = inner
            .uploads
            .iter()
            .filter(|(_, u)| u.bucket == bucket)
            .map(|(id, u)| (u.key.clone(), id.clone(), u.initiated))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Ends an upload, freeing its parts.
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<()> {
        let mut inner = self.lock();
        upload_mut(&mut inner, bucket, key, upload_id)?;
        if let Some(u) = inner.uploads.remove(upload_id) {
            inner.bytes_total -= u.bytes();
        }
        Ok(())
    }

    /// Replaces the upload by `object` (assembled by the caller from a
    /// checked part list) in one step, so a concurrent abort cannot lose
    /// bytes from the accounting.
    pub fn finish_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        object: Object,
    ) -> S3Result<Arc<Object>> {
        let mut inner = self.lock();
        upload_mut(&mut inner, bucket, key, upload_id)?;
        let old_len = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?
            .objects
            .get(key)
            .map_or(0, |o| o.len_bytes());
        let Some(upload) = inner.uploads.remove(upload_id) else {
            return Err(no_such_upload());
        };
        inner.bytes_total = inner.bytes_total - upload.bytes() - old_len + object.len_bytes();
        let object = Arc::new(object);
        if let Some(b) = inner.buckets.get_mut(bucket) {
            b.objects.insert(key.to_owned(), object.clone());
        }
        Ok(object)
    }
}

fn upload_mut<'a>(
    inner: &'a mut StoreInner,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> S3Result<&'a mut Upload> {
    if !inner.buckets.contains_key(bucket) {
        return Err(no_such_bucket(bucket));
    }
    match inner.uploads.get_mut(upload_id) {
        Some(u) if u.bucket == bucket && u.key == key => Ok(u),
        _ => Err(no_such_upload()),
    }
}

/// An opaque-looking, unique upload id (a counter: ids are not a random
/// choice, so they need no seed).
fn upload_id(n: u64) -> String {
    use base64::Engine;
    let digest = md5_hex(&n.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{n:08}.{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ObjectStore {
        let s = ObjectStore::new(100, 1000);
        s.create_bucket("b").expect("new bucket");
        s
    }

    fn obj(n: usize) -> Object {
        Object::new(Bytes::from(vec![b'x'; n]), Vec::new())
    }

    #[test]
    fn bytes_are_accounted_through_put_replace_delete() {
        let s = store();
        s.put("b", "k", obj(10)).expect("fits");
        s.put("b", "k", obj(30)).expect("replace");
        assert_eq!(s.bytes_total(), 30);
        s.delete("b", "k").expect("delete");
        s.delete("b", "k").expect("deleting a missing key succeeds");
        assert_eq!(s.bytes_total(), 0);
    }

    #[test]
    fn caps_refuse_large_objects_and_a_full_store() {
        let s = store();
        let err = s.put("b", "k", obj(101)).expect_err("over the object cap");
        assert_eq!(err.code(), &s3s::S3ErrorCode::EntityTooLarge);
        for i in 0..10 {
            s.put("b", &format!("k{i}"), obj(100)).expect("fits");
        }
        let err = s.put("b", "more", obj(1)).expect_err("store full");
        assert_eq!(err.code(), &s3s::S3ErrorCode::ServiceUnavailable);
    }

    #[test]
    fn a_bucket_with_objects_is_not_deleted() {
        let s = store();
        s.put("b", "k", obj(1)).expect("put");
        let err = s.delete_bucket("b").expect_err("not empty");
        assert_eq!(err.code(), &s3s::S3ErrorCode::BucketNotEmpty);
        s.delete("b", "k").expect("delete");
        s.delete_bucket("b").expect("empty now");
        assert!(!s.bucket_exists("b"));
    }

    #[test]
    fn parts_count_against_the_store_until_aborted() {
        let s = store();
        let id = s.create_upload("b", "k", Vec::new()).expect("upload");
        s.put_part("b", "k", &id, 1, Bytes::from(vec![0; 60]))
            .expect("part");
        s.put_part("b", "k", &id, 1, Bytes::from(vec![0; 40]))
            .expect("replaced part");
        assert_eq!(s.bytes_total(), 40);
        let err = s
            .put_part("b", "other-key", &id, 2, Bytes::new())
            .expect_err("an upload belongs to its key");
        assert_eq!(err.code(), &s3s::S3ErrorCode::NoSuchUpload);
        s.abort_upload("b", "k", &id).expect("abort");
        assert_eq!(s.bytes_total(), 0);
        assert!(s.abort_upload("b", "k", &id).is_err(), "gone after abort");
    }

    #[test]
    fn listing_groups_common_prefixes_and_pages() {
        let s = store();
        for k in ["a/1", "a/2", "b", "c/1", "d"] {
            s.put("b", k, obj(1)).expect("put");
        }
        let q = ListQuery {
            prefix: "",
            delimiter: Some("/"),
            start: std::ops::Bound::Unbounded,
            max_keys: 3,
        };
        let page = s.list("b", &q).expect("list");
        let keys: Vec<_> = page.contents.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b"]);
        assert_eq!(page.common_prefixes, ["a/", "c/"]);
        assert_eq!(page.next.as_deref(), Some("d"));
        let rest = ListQuery {
            start: std::ops::Bound::Included("d"),
            ..q
        };
        let page = s.list("b", &rest).expect("list");
        let keys: Vec<_> = page.contents.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["d"], "the continuation key itself is listed");
        assert_eq!(page.next, None);
    }
}
