//! Who may do what to S3, in AWS's order: signature (inside s3s, with the
//! secret from [`S3Keys`]), session token, quota, then IAM with the bucket
//! policy as the resource policy and the request's condition keys, at the
//! replica the request is routed to ([`S3Policy`]).
//!
//! Bucket policies are read from the store at request time: a PutBucketPolicy
//! is enforced from its acknowledgement on (they do not go through the IAM
//! propagation model; see README "Bucket policies").

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::DeleteObjectsInput;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result, s3_error};

use super::facts::{self, Keys, RequestView};
use super::store::BucketPolicy;
use crate::sim::auth::{AuthFailure, Principal};
use crate::sim::edge::EdgeContext;
use crate::sim::iam::authz::{AuthzDecision, DenyKind, RequestFacts};
use crate::sim::server::Connection;
use crate::sim::state::{Evaluated, SimState};
use crate::sim::throttle::QuotaClass;
use crate::sim::truth::VerdictKind;

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

/// The IAM action and resource ARN an S3 operation is authorized as
/// (S3's "actions, resources and condition keys" reference).
pub fn action_and_resource(op: &str, path: &S3Path) -> (String, String) {
    let action = match op {
        "HeadObject" => "GetObject",
        "ListObjectsV2" | "ListObjects" | "HeadBucket" => "ListBucket",
        "ListBuckets" => "ListAllMyBuckets",
        "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "DeleteObjects" => "DeleteObject",
        other => other,
    };
    let resource = match path {
        S3Path::Root => "*".to_owned(),
        S3Path::Bucket { bucket } => format!("arn:aws:s3:::{bucket}"),
        S3Path::Object { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
    };
    (format!("s3:{action}"), resource)
}

/// The authenticated caller, left in the request extensions for hooks that
/// authorize after the input is parsed (DeleteObjects, per key).
#[derive(Clone)]
struct Caller(Principal);

/// Keys denied inside a DeleteObjects, with AWS's message, for the backend
/// to report as per-key `<Error>`s.
#[derive(Clone, Default)]
pub struct DeniedKeys(pub Vec<(String, String)>);

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

/// Bucket-policy operations the account root may always perform, even
/// when the bucket policy denies everyone (AWS's lock-out escape hatch).
const ROOT_ALWAYS: &[&str] = &[
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

impl S3Policy {
    /// Evaluates `action` on `resource` with `bucket`'s policy as the
    /// resource policy. The account root skips IAM (as on AWS) but not an
    /// explicit deny in the bucket policy.
    fn authorize(
        &self,
        edge: &EdgeContext,
        principal: &Principal,
        action: &str,
        resource: &str,
        bucket: Option<&str>,
        keys: &Keys,
    ) -> Evaluated {
        let state = &self.0;
        let policy: Option<Arc<BucketPolicy>> =
            bucket.and_then(|b| state.objects.policy(b).ok().flatten());
        let name = bucket.map_or_else(String::new, |b| format!("arn:aws:s3:::{b}"));
        // AWS lets the account root manage a bucket policy that denies it.
        let exempt = matches!(principal, Principal::Root { .. }) && ROOT_ALWAYS.contains(&action);
        let facts = RequestFacts {
            resource_policy: policy
                .as_ref()
                .filter(|_| !exempt)
                .map(|p| (&p.document, name.as_str())),
            keys: keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            now: None,
        };
        state.evaluate(edge.id, principal, action, resource, &facts)
    }

    /// The condition keys of the request `cx` describes.
    fn keys(&self, cx: &mut S3AccessContext<'_>, op: &str) -> Keys {
        let existing = match cx.s3_path() {
            S3Path::Object { bucket, key } => self.0.objects.peek(bucket, key),
            _ => None,
        };
        let peer = cx.extensions_mut().get::<Connection>().map(|c| c.peer);
        let region = facts::signed_region(cx.uri(), cx.headers());
        facts::keys(&RequestView {
            op,
            uri: cx.uri(),
            headers: cx.headers(),
            peer,
            region: region.as_deref(),
            existing_tags: existing.as_ref().map(|o| &o.tags),
        })
    }

    fn deny(
        &self,
        edge: &EdgeContext,
        action: &str,
        principal: &Principal,
        evaluated: &Evaluated,
    ) -> S3Error {
        let reason = match evaluated.decision.deny {
            Some(DenyKind::Explicit) => "explicit deny",
            _ => "implicit deny",
        };
        edge.finish(
            &self.0,
            VerdictKind::Denied,
            action,
            Some(principal),
            Some(evaluated),
            Some("AccessDenied"),
            format!("{reason}: {}", evaluated.decision.reason),
        );
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            evaluated.decision.message.clone(),
        )
    }
}

#[async_trait::async_trait]
impl S3Access for S3Policy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let state = &self.0;
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let (action, resource) = action_and_resource(op, cx.s3_path());
        let Some(edge) = cx.extensions_mut().get::<EdgeContext>().cloned() else {
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
                    // A temporary key without its token is unknown to S3
                    // (403 InvalidAccessKeyId); a wrong token is 400.
                    AuthFailure::InvalidToken if token.is_some() => s3_error!(
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
        let bucket = match cx.s3_path() {
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
            S3Path::Root => None,
        };
        // S3 scales request rates per prefix: the key up to its last `/`
        // (bucket-level requests share the bucket's empty prefix).
        let partition = match cx.s3_path() {
            S3Path::Bucket { bucket } => Some(format!("{bucket}/")),
            S3Path::Object { bucket, key } => {
                let prefix = key.rfind('/').map_or("", |i| &key[..=i]);
                Some(format!("{bucket}/{prefix}"))
            }
            S3Path::Root => None,
        };
        if let Some(partition) = &partition {
            let (class, kind) = if matches!(*cx.method(), http::Method::GET | http::Method::HEAD) {
                (QuotaClass::S3Read, "read")
            } else {
                (QuotaClass::S3Write, "write")
            };
            if let Err(key) = state
                .throttle
                .check(class, &format!("s3:{kind}:{partition}"))
            {
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
        if op == "DeleteObjects" {
            // Authorized key by key once s3s has parsed the body.
            cx.extensions_mut().insert(Caller(principal.clone()));
            return Ok(());
        }
        let keys = self.keys(cx, op);
        let evaluated = self.authorize(
            &edge,
            principal,
            &action,
            &resource,
            bucket.as_deref(),
            &keys,
        );
        if evaluated.decision.deny.is_some() {
            return Err(self.deny(&edge, &action, principal, &evaluated));
        }
        if op == "CopyObject"
            && let Some((src_bucket, src_key)) = copy_source(cx.headers())
        {
            let src = format!("arn:aws:s3:::{src_bucket}/{src_key}");
            let src_tags = state.objects.peek(&src_bucket, &src_key);
            let mut src_keys: Keys = keys
                .iter()
                .filter(|(k, _)| k.starts_with("aws:"))
                .cloned()
                .collect();
            if let Some(o) = &src_tags {
                for (k, v) in &o.tags {
                    src_keys.push((format!("s3:ExistingObjectTag/{k}"), v.clone()));
                }
            }
            let read = self.authorize(
                &edge,
                principal,
                "s3:GetObject",
                &src,
                Some(&src_bucket),
                &src_keys,
            );
            if read.decision.deny.is_some() {
                return Err(self.deny(&edge, "s3:GetObject", principal, &read));
            }
        }
        edge.allowed(action, principal.clone(), evaluated);
        Ok(())
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let (Some(edge), Some(Caller(principal))) = (
            req.extensions.get::<EdgeContext>().cloned(),
            req.extensions.get::<Caller>().cloned(),
        ) else {
            return Err(s3_error!(
                InternalError,
                "DeleteObjects reached its hook without an authenticated caller"
            ));
        };
        let bucket = req.input.bucket.clone();
        let region = facts::signed_region(&req.uri, &req.headers);
        let keys = facts::keys(&RequestView {
            op: "DeleteObject",
            uri: &req.uri,
            headers: &req.headers,
            peer: req.extensions.get::<Connection>().map(|c| c.peer),
            region: region.as_deref(),
            existing_tags: None,
        });
        let mut denied = Vec::new();
        let mut first: Option<Evaluated> = None;
        req.input.delete.objects.retain(|o| {
            let resource = format!("arn:aws:s3:::{bucket}/{}", o.key);
            let ev = self.authorize(
                &edge,
                &principal,
                "s3:DeleteObject",
                &resource,
                Some(&bucket),
                &keys,
            );
            let allowed = ev.decision.deny.is_none();
            if !allowed {
                denied.push((o.key.clone(), ev.decision.message.clone()));
            }
            if first.is_none() {
                first = Some(ev);
            }
            allowed
        });
        let summary = match first {
            Some(mut ev) => {
                ev.decision.reason = format!(
                    "DeleteObjects: {} key(s) denied; first key: {}",
                    denied.len(),
                    ev.decision.reason
                );
                ev.decision.deny = None;
                ev
            }
            None => Evaluated {
                decision: AuthzDecision {
                    deny: None,
                    reason: "DeleteObjects with no keys".to_owned(),
                    message: String::new(),
                    matched: None,
                },
                replica: 0,
                version: 0,
            },
        };
        req.extensions.insert(DeniedKeys(denied));
        edge.allowed("s3:DeleteObject".to_owned(), principal, summary);
        Ok(())
    }
}

/// `x-amz-copy-source` (`/bucket/key` or `bucket/key`, URL-encoded,
/// optionally `?versionId=`) as (bucket, key).
fn copy_source(headers: &http::HeaderMap) -> Option<(String, String)> {
    let raw = headers.get("x-amz-copy-source")?.to_str().ok()?;
    let raw = raw.split('?').next().unwrap_or(raw);
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let (bucket, key) = decoded.trim_start_matches('/').split_once('/')?;
    Some((bucket.to_owned(), key.to_owned()))
}
