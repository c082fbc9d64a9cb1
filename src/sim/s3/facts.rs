//! The condition keys an S3 request carries into policy evaluation, read
//! from the raw request (s3s calls the access hook before it parses the
//! input): global keys (`aws:SourceIp`, `aws:SecureTransport`,
//! `aws:RequestedRegion`) and the S3 keys each operation supports
//! (`s3:prefix`, `s3:delimiter`, `s3:max-keys`, `s3:ExistingObjectTag/<k>`,
//! `s3:RequestObjectTag/<k>`, `s3:RequestObjectTagKeys`).
//!
//! Which operation supports which key follows the S3 service authorization
//! reference; a key is never supplied where AWS would not supply it, since
//! a `Deny` conditioned on it would then match where AWS's would not.

use std::net::SocketAddr;

use http::{HeaderMap, Uri};

use super::store::Tags;

/// Owned (key, value) pairs; a key repeated is multi-valued.
pub type Keys = Vec<(String, String)>;

/// Everything the keys are computed from.
pub struct RequestView<'a> {
    pub op: &'a str,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub peer: Option<SocketAddr>,
    pub region: Option<&'a str>,
    /// Tags of the object the request names, if it exists.
    pub existing_tags: Option<&'a Tags>,
}

/// Operations that see `s3:ExistingObjectTag/<key>`.
const EXISTING_TAG_OPS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
];

/// Operations whose `x-amz-tagging` header gives the request-tag keys.
const REQUEST_TAG_OPS: &[&str] = &["PutObject", "CreateMultipartUpload"];

pub fn keys(view: &RequestView<'_>) -> Keys {
    let mut keys: Keys = Vec::new();
    let mut push = |k: &str, v: &str| keys.push((k.to_owned(), v.to_owned()));
    if let Some(peer) = view.peer {
        push("aws:SourceIp", &peer.ip().to_string());
    }
    // The double serves plain HTTP only.
    push("aws:SecureTransport", "false");
    if let Some(region) = view.region {
        push("aws:RequestedRegion", region);
    }
    if matches!(view.op, "ListObjects" | "ListObjectsV2") {
        let query = view.uri.query().unwrap_or("");
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "prefix" => push("s3:prefix", &value),
                "delimiter" => push("s3:delimiter", &value),
                "max-keys" => push("s3:max-keys", &value),
                _ => {}
            }
        }
    }
    if EXISTING_TAG_OPS.contains(&view.op)
        && let Some(tags) = view.existing_tags
    {
        for (k, v) in tags {
            push(&format!("s3:ExistingObjectTag/{k}"), v);
        }
    }
    if REQUEST_TAG_OPS.contains(&view.op)
        && let Some(tags) = tagging_header(view.headers)
    {
        for (k, v) in &tags {
            push(&format!("s3:RequestObjectTag/{k}"), v);
        }
        for (k, _) in &tags {
            push("s3:RequestObjectTagKeys", k);
        }
    }
    keys
}

/// The `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded), if present.
pub fn tagging_header(headers: &HeaderMap) -> Option<Tags> {
    let raw = headers.get("x-amz-tagging")?.to_str().ok()?;
    Some(
        form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// The region of the request's credential scope (header or presigned).
pub fn signed_region(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let scope = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or(c).to_owned())
        .or_else(|| {
            form_urlencoded::parse(uri.query()?.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        })?;
    // AKID/yyyymmdd/region/service/aws4_request
    scope.split('/').nth(2).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(op: &'a str, uri: &'a Uri, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView {
            op,
            uri,
            headers,
            peer: Some("127.0.0.1:5000".parse().expect("addr")),
            region: Some("eu-west-1"),
            existing_tags: None,
        }
    }

    fn has(keys: &Keys, k: &str, v: &str) -> bool {
        keys.iter().any(|(a, b)| a == k && b == v)
    }

    #[test]
    fn list_keys_come_from_the_query_string() {
        let uri: Uri = "/b?list-type=2&prefix=home%2Falice%2F&delimiter=%2F&max-keys=10"
            .parse()
            .expect("uri");
        let keys = keys(&view("ListObjectsV2", &uri, &HeaderMap::new()));
        assert!(has(&keys, "s3:prefix", "home/alice/"));
        assert!(has(&keys, "s3:delimiter", "/"));
        assert!(has(&keys, "s3:max-keys", "10"));
        assert!(has(&keys, "aws:SourceIp", "127.0.0.1"));
        assert!(has(&keys, "aws:SecureTransport", "false"));
        assert!(has(&keys, "aws:RequestedRegion", "eu-west-1"));
        let get = super::keys(&view("GetObject", &uri, &HeaderMap::new()));
        assert!(
            !get.iter().any(|(k, _)| k == "s3:prefix"),
            "GetObject has no s3:prefix"
        );
    }

    #[test]
    fn tag_keys_only_for_the_operations_that_support_them() {
        let uri: Uri = "/b/k".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-tagging",
            "team=blue&env=prod%20x".parse().expect("hv"),
        );
        let put = keys(&view("PutObject", &uri, &headers));
        assert!(has(&put, "s3:RequestObjectTag/env", "prod x"));
        assert!(has(&put, "s3:RequestObjectTagKeys", "team"));
        assert!(has(&put, "s3:RequestObjectTagKeys", "env"));
        let tags: Tags = vec![("class".into(), "secret".into())];
        let mut v = view("GetObject", &uri, &headers);
        v.existing_tags = Some(&tags);
        let get = keys(&v);
        assert!(has(&get, "s3:ExistingObjectTag/class", "secret"));
        assert!(
            !get.iter()
                .any(|(k, _)| k.starts_with("s3:RequestObjectTag"))
        );
        v.op = "DeleteObject";
        assert!(!keys(&v).iter().any(|(k, _)| k.starts_with("s3:Existing")));
    }

    #[test]
    fn region_from_header_or_presigned_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-west-2/s3/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .expect("hv"),
        );
        let uri: Uri = "/b".parse().expect("uri");
        assert_eq!(signed_region(&uri, &headers).as_deref(), Some("us-west-2"));
        let presigned: Uri =
            "/b/k?X-Amz-Credential=AKID%2F20250101%2Fap-south-1%2Fs3%2Faws4_request"
                .parse()
                .expect("uri");
        assert_eq!(
            signed_region(&presigned, &HeaderMap::new()).as_deref(),
            Some("ap-south-1")
        );
    }
}
