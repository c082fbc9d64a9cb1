//! Shards' results from S3: lists `s3://bucket/prefix/<run-id>/`, finds the
//! `shard-I-of-N/` key segments the shards uploaded under, and downloads
//! each shard's files into `OUT/shards/shard-I-of-N/` through the real SDK
//! (default credential chain; `--endpoint-url` or `AWS_ENDPOINT_URL`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::BehaviorVersion;

use super::{MergeError, bad};
use crate::exit::Exit;
use crate::shard::ShardSpec;
use crate::shard::upload::{MAX_FILE_BYTES, S3Uri};

/// Most objects listed under one prefix (a run's shards hold ~10 files each).
pub const MAX_OBJECTS: usize = 100_000;

/// Downloaded shards and where the merged results go.
pub struct Fetched {
    /// Per shard: its local directory and its S3 prefix.
    pub shards: Vec<(PathBuf, String)>,
    pub out: PathBuf,
}

fn unreachable(message: String) -> MergeError {
    MergeError {
        exit: Exit::TargetUnavailable,
        message,
    }
}

/// Lists and downloads; `out` defaults to `results/<run-id>-merged`.
pub async fn fetch(
    uri: &S3Uri,
    endpoint_url: Option<String>,
    out: Option<&Path>,
) -> Result<Fetched, MergeError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let s3 = crate::target::clients::s3(&config);
    let mut keys: Vec<String> = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(&uri.bucket)
        .prefix(&uri.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            unreachable(format!(
                "cannot list {uri}: {}\n  help: check the credentials (default chain) and --endpoint-url",
                crate::target::error_chain(&e)
            ))
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        if keys.len() > MAX_OBJECTS {
            return Err(bad(format!(
                "{uri} holds over {MAX_OBJECTS} objects: point at one run's prefix (s3://bucket/prefix/<run-id>/)"
            )));
        }
    }
    // parent path (the run, relative to the prefix) → shard → file names.
    let mut runs: BTreeMap<String, BTreeMap<String, Vec<(String, String)>>> = BTreeMap::new();
    for key in &keys {
        let rel = &key[uri.prefix.len()..];
        let parts: Vec<&str> = rel.split('/').collect();
        let Some(at) = parts
            .iter()
            .position(|p| ShardSpec::from_label(p).is_some())
        else {
            continue;
        };
        // Only files directly in the shard's directory.
        let name = parts.get(at + 1).copied().unwrap_or("");
        if at + 2 != parts.len() || name.is_empty() || name == "." || name == ".." {
            continue;
        }
        runs.entry(parts[..at].join("/"))
            .or_default()
            .entry(parts[at].to_owned())
            .or_default()
            .push((parts[at + 1].to_owned(), key.clone()));
    }
    let (parent, shards) = match runs.len() {
        0 => {
            return Err(bad(format!(
                "no shard results under {uri} (no .../shard-I-of-N/ keys among {} objects)\n  help: pass the prefix the shards' --results-uri named, plus the run id",
                keys.len()
            )));
        }
        1 => runs.into_iter().next().expect("one run"),
        _ => {
            let names: Vec<String> = runs.keys().map(|p| format!("{uri}{p}/")).collect();
            return Err(bad(format!(
                "{uri} holds several runs' shards:\n  {}\n  help: pass one of them",
                names.join("\n  ")
            )));
        }
    };
    let run_path = format!("{}{parent}", uri.prefix);
    let run_name = run_path
        .split('/')
        .rfind(|s| !s.is_empty())
        .unwrap_or("run")
        .to_owned();
    let out = out.map_or_else(
        || Path::new("results").join(format!("{run_name}-merged")),
        Path::to_owned,
    );
    let mut fetched = Vec::new();
    for (label, files) in shards {
        let dir = out.join("shards").join(&label);
        std::fs::create_dir_all(&dir)
            .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        for (name, key) in files {
            let object = s3
                .get_object()
                .bucket(&uri.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    unreachable(format!(
                        "cannot download {}: {}",
                        uri.display_key(&key),
                        crate::target::error_chain(&e)
                    ))
                })?;
            if object.content_length().unwrap_or(0) as u64 > MAX_FILE_BYTES {
                return Err(bad(format!(
                    "{} is over {MAX_FILE_BYTES} bytes: not a results file",
                    uri.display_key(&key)
                )));
            }
            let bytes = object.body.collect().await.map_err(|e| {
                unreachable(format!(
                    "download of {} broke off: {e}",
                    uri.display_key(&key)
                ))
            })?;
            let path = dir.join(&name);
            crate::report::write_atomic(&path, |w| w.write_all(&bytes.into_bytes()))
                .map_err(|e| bad(format!("cannot write {}: {e}", path.display())))?;
        }
        let prefix = if parent.is_empty() {
            format!("{uri}{label}/")
        } else {
            format!("{uri}{parent}/{label}/")
        };
        fetched.push((dir, prefix));
    }
    Ok(Fetched {
        shards: fetched,
        out,
    })
}
