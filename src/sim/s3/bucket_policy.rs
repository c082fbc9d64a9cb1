//! PutBucketPolicy's validation: S3 answers `400 MalformedPolicy` with its
//! own messages (not IAM's `MalformedPolicyDocument`). The grammar is the
//! IAM parser's resource-policy kind (Principal required); S3 adds that
//! every Resource must be this bucket or inside it, and a size cap.

use s3s::{S3Error, S3ErrorCode};

use super::store::BucketPolicy;
use crate::sim::iam::policy::{self, PolicyError, PolicyKind};

/// S3's documented bucket policy size limit (20 KB).
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;

/// S3's message for text that is not a JSON object.
pub const NOT_JSON: &str = "Policies must be valid JSON and the first byte must be '{'";
/// S3's message for malformed JSON after a leading `{`.
pub const INVALID_JSON: &str = "This policy contains invalid Json";
/// S3's message for a Resource outside the bucket.
pub const INVALID_RESOURCE: &str = "Policy has invalid resource";
/// S3's message for a statement without Principal.
pub const MISSING_PRINCIPAL: &str = "Missing required field Principal";

fn malformed(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPolicy, message.to_owned())
}

/// Parses and validates `text` as the policy of `bucket`.
pub fn validate(bucket: &str, text: &str) -> Result<BucketPolicy, S3Error> {
    if text.len() > MAX_BUCKET_POLICY_BYTES {
        // Assumption: S3 documents the 20 KB limit, not this message.
        return Err(malformed("Policies must be less than 20 KB"));
    }
    if !text.trim_start().starts_with('{') {
        return Err(malformed(NOT_JSON));
    }
    if serde_json::from_str::<serde_json::Value>(text).is_err() {
        return Err(malformed(INVALID_JSON));
    }
    let document = policy::parse_policy(text, PolicyKind::Resource).map_err(|e| match e {
        PolicyError::MalformedPolicy { message, .. } if message == MISSING_PRINCIPAL => {
            malformed(MISSING_PRINCIPAL)
        }
        // Assumption: for other grammar errors S3's wording is not
        // documented; IAM's is passed on under S3's code.
        other => malformed(other.message()),
    })?;
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let inside = format!("{bucket_arn}/");
    for statement in &document.statements {
        let Some(resources) = &statement.resource else {
            continue;
        };
        for pattern in &resources.patterns {
            let raw = pattern.raw.as_str();
            if raw != bucket_arn && !raw.starts_with(&inside) {
                return Err(malformed(INVALID_RESOURCE));
            }
        }
    }
    Ok(BucketPolicy {
        text: text.to_owned(),
        document,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        let err = validate("b", text).expect_err("malformed");
        assert_eq!(err.code(), &S3ErrorCode::MalformedPolicy);
        err.message().unwrap_or_default().to_owned()
    }

    #[test]
    fn s3_messages_for_each_kind_of_malformed_policy() {
        assert_eq!(message("not json"), NOT_JSON);
        assert_eq!(message("{\"Statement\": ["), INVALID_JSON);
        assert_eq!(
            message(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#
            ),
            MISSING_PRINCIPAL
        );
        for outside in ["arn:aws:s3:::other/*", "arn:aws:s3:::bb/*", "*"] {
            assert_eq!(
                message(&format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"{outside}"}}]}}"#
                )),
                INVALID_RESOURCE,
                "{outside}"
            );
        }
        let big = format!("{{\"Id\":\"{}\"}}", "x".repeat(MAX_BUCKET_POLICY_BYTES));
        assert_eq!(message(&big), "Policies must be less than 20 KB");
    }

    #[test]
    fn a_policy_on_the_bucket_and_its_objects_is_kept_verbatim() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Sid":"read all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/r"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#;
        let policy = validate("b", text).expect("valid");
        assert_eq!(policy.text, text);
        assert_eq!(policy.document.statements.len(), 1);
    }
}
