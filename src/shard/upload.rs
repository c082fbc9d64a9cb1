//! Results in S3: `--results-uri s3://bucket/prefix/` parsed once, and a
//! shard's results directory uploaded under
//! `prefix/<run-id>/shard-<I>-of-<N>/<file>` with the run's own operator
//! SDK client (same credentials, same endpoint as the target).

use std::path::Path;

use super::ShardSpec;

/// Largest results file uploaded in one `PutObject` (S3 allows 5 GiB; a
/// results file near this is a bug, not data).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// `s3://bucket/prefix/`: `prefix` empty or ending in `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub prefix: String,
}

impl S3Uri {
    /// Parses `s3://bucket[/prefix]`; a prefix gets its trailing `/`.
    pub fn parse(text: &str) -> Result<S3Uri, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text:?} is not an S3 URI: write s3://bucket/prefix/"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(format!(
                "{text:?}: {bucket:?} is not an S3 bucket name (3 to 63 of a-z 0-9 . -)"
            ));
        }
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Ok(S3Uri {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// The key prefix of one shard's files.
    pub fn shard_prefix(&self, run_id: &str, spec: ShardSpec) -> String {
        format!("{}{run_id}/{}/", self.prefix, spec.label())
    }

    /// `s3://bucket/key`.
    pub fn display_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Uploads every regular file of `dir` (not `*.tmp`) under `key_prefix`;
/// returns how many. The first failure ends it with the file and the
/// target's answer.
pub async fn upload_dir(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    key_prefix: &str,
    dir: &Path,
) -> Result<usize, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "tmp"))
        .collect();
    files.sort();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a UTF-8 file name", path.display()))?;
        let len = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(format!(
                "{} is {len} bytes, over the {MAX_FILE_BYTES}-byte upload limit",
                path.display()
            ));
        }
        let body =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let key = format!("{key_prefix}{name}");
        s3.put_object()
            .bucket(&uri.bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "upload of {} to {} failed: {}",
                    path.display(),
                    uri.display_key(&key),
                    crate::target::error_chain(&e)
                )
            })?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_parse_with_a_normalised_prefix() {
        let u = S3Uri::parse("s3://results-bucket/load/q1").expect("parses");
        assert_eq!(u.bucket, "results-bucket");
        assert_eq!(u.prefix, "load/q1/");
        assert_eq!(
            u.shard_prefix("r1", ShardSpec { index: 1, count: 3 }),
            "load/q1/r1/shard-1-of-3/"
        );
        assert_eq!(S3Uri::parse("s3://bkt").expect("parses").prefix, "");
        assert!(
            S3Uri::parse("https://x")
                .unwrap_err()
                .contains("not an S3 URI")
        );
        assert!(
            S3Uri::parse("s3://A_B/x")
                .unwrap_err()
                .contains("bucket name")
        );
    }
}
