//! Turns what the AWS SDK returned into an outcome class — the core
//! vocabulary of every report. Order matters:
//!
//! 1. A `CredentialsError` anywhere in the source chain means the instance
//!    had no credentials (IMDS down, no role, trust broken). It must be
//!    checked first: that failure surfaces as a dispatch failure whose
//!    *nested* connector error may be an I/O error against IMDS, which a
//!    naive rule would misfile as a connection error to S3
//!    (`shared/reference/imds-sdk-probe.md` §4).
//! 2. Transport: timeouts, then connection failures.
//! 3. Service errors by AWS error code, then by HTTP status.

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::outcome::{Outcome, OutcomeClass};

/// The SDK's own throttling code list (aws-runtime `THROTTLING_ERRORS`)
/// plus S3's `SlowDown` — everything AWS uses to say "too fast".
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Codes that mean the request's credentials were bad (not a policy "no").
pub const AUTH_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "RequestTimeTooSkewed",
    "InvalidToken",
    "IncompleteSignature",
    "TokenRefreshRequired",
    "RequestExpired",
    "MissingAuthenticationToken",
];

/// S3/IAM/STS say `AccessDenied`, JSON-protocol services
/// `AccessDeniedException`, EC2 `UnauthorizedOperation`.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

/// Classifies an SDK error.
pub fn classify_error<E>(err: &SdkError<E, HttpResponse>) -> Outcome
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let Some(detail) = credentials_error(err) {
        return Outcome::new(OutcomeClass::CredentialsUnavailable, Some(detail));
    }
    match err {
        SdkError::TimeoutError(_) => Outcome::new(OutcomeClass::Timeout, Some("operation".into())),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Outcome::new(OutcomeClass::Timeout, Some("connector".into()))
        }
        SdkError::DispatchFailure(d) if d.is_io() => {
            Outcome::new(OutcomeClass::Connection, Some("io".into()))
        }
        SdkError::DispatchFailure(_) => {
            Outcome::new(OutcomeClass::Connection, Some("dispatch".into()))
        }
        SdkError::ConstructionFailure(_) => {
            Outcome::new(OutcomeClass::ClientError, Some("construction".into()))
        }
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            classify_response(status, err.code(), err.message())
        }
        _ => Outcome::new(OutcomeClass::ClientError, Some("unknown".into())),
    }
}

/// Classifies an answer from the target by its HTTP status, AWS error code
/// and message — shared by every engine so they agree on the vocabulary.
pub fn classify_response(
    status: Option<u16>,
    code: Option<&str>,
    message: Option<&str>,
) -> Outcome {
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return Outcome::new(OutcomeClass::Throttled, Some(code.to_owned()));
        }
        if ACCESS_DENIED_CODES.contains(&code) {
            return Outcome::new(
                OutcomeClass::AccessDenied,
                Some(denial_reason(message).to_owned()),
            );
        }
        if AUTH_CODES.contains(&code) {
            return Outcome::new(OutcomeClass::AuthError, Some(code.to_owned()));
        }
    }
    let detail = code
        .map(str::to_owned)
        .or_else(|| status.map(|s| format!("http_{s}")));
    match status {
        Some(429) => Outcome::new(OutcomeClass::Throttled, detail),
        // A HEAD has no body: a bare 403 is the only sign of a denial.
        Some(403) => Outcome::new(OutcomeClass::AccessDenied, Some("no_body".into())),
        // Likewise a bare 503 is S3's `SlowDown` to a HEAD (S3 answers
        // throttling with 503; every service with a body names its code).
        Some(503) if code.is_none() => {
            Outcome::new(OutcomeClass::Throttled, Some("no_body".into()))
        }
        Some(s) if s >= 500 => Outcome::new(OutcomeClass::ServerError, detail),
        _ => Outcome::new(OutcomeClass::ClientError, detail),
    }
}

/// The sub-reason of an AccessDenied, from AWS's enriched message.
pub fn denial_reason(message: Option<&str>) -> &'static str {
    let Some(m) = message else {
        return "unspecified";
    };
    if m.contains("with an explicit deny") {
        if m.contains("permissions boundary") {
            "explicit_boundary"
        } else if m.contains("session policy") {
            "explicit_session"
        } else if m.contains("resource-based policy") {
            "explicit_resource"
        } else {
            "explicit"
        }
    } else if m.contains("because no") {
        if m.contains("permissions boundary") {
            "implicit_boundary"
        } else if m.contains("session policy") {
            "implicit_session"
        } else {
            "implicit"
        }
    } else {
        "unspecified"
    }
}

/// The sub-reason of a credentials failure: what IMDS did, read from the
/// error chain the SDK's IMDS provider builds (see
/// `shared/reference/imds-sdk-probe.md`, section 4), else the provider's
/// error kind.
pub fn credentials_detail(e: &CredentialsError) -> &'static str {
    let text = aws_smithy_types::error::display::DisplayErrorContext(e)
        .to_string()
        .to_ascii_lowercase();
    let has = |needle: &str| text.contains(needle);
    if has("assumeroleunauthorizedaccess") {
        // IMDS could not assume the role: its trust policy does not allow EC2.
        "trust_failure"
    } else if has("received 404 from imds") {
        "no_role"
    } else if has("429") || has("throttl") {
        "imds_throttled"
    } else if has("session token") {
        "token_refused"
    } else if has("timeout") || matches!(e, CredentialsError::ProviderTimedOut(_)) {
        "imds_timeout"
    } else if has("could not communicate with imds") || has("connection refused") {
        "imds_unreachable"
    } else {
        match e {
            CredentialsError::CredentialsNotLoaded(_) => "not_loaded",
            CredentialsError::InvalidConfiguration(_) => "invalid_configuration",
            CredentialsError::ProviderError(_) => "provider_error",
            _ => "unhandled",
        }
    }
}

fn credentials_error(err: &(dyn Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(credentials_detail(c).to_owned());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_failures_say_what_imds_did() {
        let cases = [
            (
                CredentialsError::invalid_configuration(
                    "Error retrieving credentials from IMDS: AssumeRoleUnauthorizedAccess",
                ),
                "trust_failure",
            ),
            (
                CredentialsError::not_loaded("received 404 from IMDS"),
                "no_role",
            ),
            (
                CredentialsError::provider_error("failed to load IMDS session token"),
                "token_refused",
            ),
            (
                CredentialsError::not_loaded("could not communicate with IMDS"),
                "imds_unreachable",
            ),
            (
                CredentialsError::provider_error("service error: 429 Too Many Requests"),
                "imds_throttled",
            ),
            (
                CredentialsError::provider_timed_out(std::time::Duration::from_secs(5)),
                "imds_timeout",
            ),
            (
                CredentialsError::provider_error("something else"),
                "provider_error",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(credentials_detail(&e), want, "{e:?}");
        }
    }

    #[test]
    fn codes_win_over_status() {
        assert_eq!(
            classify_response(Some(503), Some("SlowDown"), None).class,
            OutcomeClass::Throttled
        );
        assert_eq!(
            classify_response(Some(503), None, None),
            Outcome::new(OutcomeClass::Throttled, Some("no_body".into()))
        );
        assert_eq!(
            classify_response(Some(503), Some("ServiceUnavailable"), None).class,
            OutcomeClass::ServerError
        );
        assert_eq!(
            classify_response(Some(400), Some("Throttling"), Some("Rate exceeded")).class,
            OutcomeClass::Throttled
        );
        assert_eq!(
            classify_response(Some(403), Some("SignatureDoesNotMatch"), None).class,
            OutcomeClass::AuthError
        );
        assert_eq!(
            classify_response(Some(400), Some("ExpiredToken"), None).class,
            OutcomeClass::AuthError
        );
        assert_eq!(
            classify_response(Some(503), Some("RequestLimitExceeded"), None).class,
            OutcomeClass::Throttled
        );
        assert_eq!(
            classify_response(Some(403), Some("UnauthorizedOperation"), None).class,
            OutcomeClass::AccessDenied
        );
    }

    #[test]
    fn status_fallbacks() {
        assert_eq!(
            classify_response(Some(429), None, None).class,
            OutcomeClass::Throttled
        );
        assert_eq!(
            classify_response(Some(500), Some("InternalError"), None).class,
            OutcomeClass::ServerError
        );
        assert_eq!(
            classify_response(Some(403), None, None).class,
            OutcomeClass::AccessDenied
        );
        assert_eq!(
            classify_response(Some(404), Some("NoSuchKey"), None).class,
            OutcomeClass::ClientError
        );
    }

    #[test]
    fn denial_reasons_from_aws_messages() {
        let implicit = "User: arn:aws:sts::1:assumed-role/r/i is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action";
        let explicit = "User: x is not authorized to perform: s3:GetObject on resource: y with an explicit deny in an identity-based policy: arn:aws:iam::1:policy/p";
        let boundary = "User: x is not authorized to perform: a on resource: y because no permissions boundary allows the a action";
        assert_eq!(denial_reason(Some(implicit)), "implicit");
        assert_eq!(denial_reason(Some(explicit)), "explicit");
        assert_eq!(denial_reason(Some(boundary)), "implicit_boundary");
        assert_eq!(denial_reason(Some("Access Denied")), "unspecified");
        let o = classify_response(Some(403), Some("AccessDenied"), Some(implicit));
        assert_eq!(
            (o.class, o.detail.as_deref()),
            (OutcomeClass::AccessDenied, Some("implicit"))
        );
    }
}
