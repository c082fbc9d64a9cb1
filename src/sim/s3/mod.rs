//! S3 front end: an in-memory object store behind `s3s`, which speaks S3's
//! REST/XML protocol and verifies its SigV4 (header, presigned, chunked).
//!
//! The double plugs into s3s three ways, one module each:
//! - [`access`]: `S3Keys` (secret lookup) and `S3Policy` (session token,
//!   quota, then IAM plus the bucket policy at a replica, with the request's
//!   S3 condition keys from [`facts`]);
//! - [`backend`]: the `S3` trait, a thin translation onto [`store`];
//! - [`store`]: buckets, objects, tags, bucket policies and multipart
//!   uploads, knowing nothing of HTTP.
//!
//! [`bucket_policy`] validates bucket policies as S3 does (`MalformedPolicy`)
//! and [`wire`] finishes error bodies into S3's exact XML shape.

pub mod access;
pub mod backend;
pub mod bucket_policy;
pub mod facts;
mod multipart;
pub mod store;
pub mod wire;

pub use access::{S3Keys, S3Policy, action_and_resource};
pub use backend::S3Backend;
pub use store::ObjectStore;
