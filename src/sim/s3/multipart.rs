//! Multipart upload operations: create, upload part, complete (S3's rules:
//! ascending part numbers, matching ETags, every part but the last at least
//! the minimum part size; the ETag is `hex(md5(md5(part1)‖…‖md5(partN)))-N`),
//! abort, and the two listings. Parts wait in the store and count against
//! its byte cap.

use std::time::SystemTime;

use bytes::BytesMut;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::backend::{S3Backend, etag, read_body};
use super::store::{self, Object, Part};

/// S3's largest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;

pub(super) async fn create(
    backend: &S3Backend,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    let tags = super::backend::header_tags(input.tagging.as_deref())?;
    let id = backend
        .state()
        .objects
        .create_upload(&input.bucket, &input.key, tags)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(id),
        ..Default::default()
    }))
}

pub(super) async fn upload_part(
    backend: &S3Backend,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let input = req.input;
    if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        ));
    }
    let store = &backend.state().objects;
    let data = read_body(input.body, store.max_object_bytes).await?;
    let etag_hex = store.put_part(
        &input.bucket,
        &input.key,
        &input.upload_id,
        input.part_number,
        data,
    )?;
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(etag_hex)),
        ..Default::default()
    }))
}

fn unquote(etag: &ETag) -> &str {
    match etag {
        ETag::Strong(s) | ETag::Weak(s) => s.as_str(),
    }
}

/// Checks the client's part list against the stored parts and returns the
/// parts to assemble, in order.
pub fn check_parts(
    requested: &[(i32, Option<String>)],
    stored: &std::collections::BTreeMap<i32, Part>,
    min_part_bytes: u64,
) -> S3Result<Vec<Part>> {
    if requested.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        ));
    }
    let mut parts = Vec::with_capacity(requested.len());
    for (number, etag) in requested {
        let part = stored.get(number).filter(|p| {
            etag.as_deref()
                .is_none_or(|e| e.trim_matches('"') == p.etag)
        });
        let Some(part) = part else {
            return Err(s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            ));
        };
        parts.push(part.clone());
    }
    assert!(!parts.is_empty(), "an empty part list was refused above");
    let all_but_last = &parts[..parts.len() - 1];
    if all_but_last
        .iter()
        .any(|p| (p.data.len() as u64) < min_part_bytes)
    {
        return Err(s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size."
        ));
    }
    Ok(parts)
}

/// `hex(md5(concat(binary md5 of each part)))-N`.
pub fn multipart_etag(parts: &[Part]) -> String {
    let mut digests = Vec::with_capacity(parts.len() * 16);
    for p in parts {
        match hex::decode(&p.etag) {
            Ok(bytes) => digests.extend_from_slice(&bytes),
            Err(_) => unreachable!("part ETags are hex MD5s made by the store"),
        }
    }
    format!("{}-{}", store::md5_hex(&digests), parts.len())
}

pub(super) async fn complete(
    backend: &S3Backend,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let store = &backend.state().objects;
    let upload = store.upload(&input.bucket, &input.key, &input.upload_id)?;
    let requested: Vec<(i32, Option<String>)> = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.part_number.unwrap_or(0),
                p.e_tag.as_ref().map(|e| unquote(e).to_owned()),
            )
        })
        .collect();
    let parts = check_parts(
        &requested,
        &upload.parts,
        backend.state().config.s3_min_part_bytes,
    )?;
    let total: usize = parts.iter().map(|p| p.data.len()).sum();
    let mut data = BytesMut::with_capacity(total);
    for p in &parts {
        data.extend_from_slice(&p.data);
    }
    let object = Object {
        data: data.freeze(),
        etag: multipart_etag(&parts),
        last_modified: SystemTime::now(),
        tags: upload.tags,
    };
    let stored = store.finish_upload(&input.bucket, &input.key, &input.upload_id, object)?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        e_tag: Some(etag(&stored)),
        ..Default::default()
    }))
}

pub(super) async fn abort(
    backend: &S3Backend,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    backend
        .state()
        .objects
        .abort_upload(&input.bucket, &input.key, &input.upload_id)?;
    Ok(S3Response::with_status(
        AbortMultipartUploadOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn list_uploads(
    backend: &S3Backend,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let prefix = input.prefix.clone().unwrap_or_default();
    let uploads = backend
        .state()
        .objects
        .uploads(&input.bucket)?
        .into_iter()
        .filter(|(key, _, _)| key.starts_with(&prefix))
        .map(|(key, id, initiated)| MultipartUpload {
            key: Some(key),
            upload_id: Some(id),
            initiated: Some(initiated.into()),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        is_truncated: Some(false),
        max_uploads: Some(1000),
        uploads: Some(uploads),
        ..Default::default()
    }))
}

pub(super) async fn list_parts(
    backend: &S3Backend,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let upload = backend
        .state()
        .objects
        .upload(&input.bucket, &input.key, &input.upload_id)?;
    let after = input.part_number_marker.unwrap_or(0);
    let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
    let mut parts: Vec<Part> = Vec::new();
    let mut numbers = Vec::new();
    let mut truncated = false;
    for (n, p) in upload.parts.range(after + 1..) {
        if parts.len() == max {
            truncated = true;
            break;
        }
        numbers.push(*n);
        parts.push(p.clone());
    }
    let listed = numbers
        .iter()
        .zip(&parts)
        .map(|(n, p)| s3s::dto::Part {
            part_number: Some(*n),
            e_tag: Some(ETag::Strong(p.etag.clone())),
            size: Some(p.data.len() as i64),
            last_modified: Some(p.last_modified.into()),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: numbers.last().copied().filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(listed),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::collections::BTreeMap;

    fn part(data: &'static [u8]) -> Part {
        Part {
            data: Bytes::from_static(data),
            etag: store::md5_hex(data),
            last_modified: SystemTime::now(),
        }
    }

    fn stored() -> BTreeMap<i32, Part> {
        BTreeMap::from([(1, part(b"aaaa")), (2, part(b"bbbb")), (3, part(b"c"))])
    }

    fn code(r: S3Result<Vec<Part>>) -> s3s::S3ErrorCode {
        r.expect_err("refused").code().clone()
    }

    #[test]
    fn complete_rules() {
        use s3s::S3ErrorCode as C;
        let s = stored();
        let ok = check_parts(&[(1, None), (2, None), (3, None)], &s, 4).expect("ok");
        assert_eq!(ok.len(), 3);
        assert_eq!(code(check_parts(&[], &s, 4)), C::MalformedXML);
        assert_eq!(
            code(check_parts(&[(2, None), (1, None)], &s, 4)),
            C::InvalidPartOrder
        );
        assert_eq!(code(check_parts(&[(4, None)], &s, 4)), C::InvalidPart);
        assert_eq!(
            code(check_parts(&[(1, Some("\"nope\"".into()))], &s, 4)),
            C::InvalidPart
        );
        assert_eq!(
            code(check_parts(&[(1, None), (3, None), (2, None)], &s, 4)),
            C::InvalidPartOrder
        );
        assert_eq!(
            code(check_parts(&[(3, None), (4, None)], &stored_with_4(), 4)),
            C::EntityTooSmall,
            "a small part that is not last"
        );
    }

    fn stored_with_4() -> BTreeMap<i32, Part> {
        let mut s = stored();
        s.insert(4, part(b"dddd"));
        s
    }

    #[test]
    fn etag_is_md5_of_part_md5s_and_count() {
        let parts = [part(b"aaaa"), part(b"bbbb")];
        let mut cat = Vec::new();
        for p in &parts {
            cat.extend(hex::decode(&p.etag).expect("hex"));
        }
        assert_eq!(
            multipart_etag(&parts),
            format!("{}-2", store::md5_hex(&cat))
        );
    }
}
