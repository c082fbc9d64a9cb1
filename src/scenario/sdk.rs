//! Validation of `[sdk]`: the AWS SDK behaviour the instances' clients run
//! with, a variable of the experiment (retries hide or amplify throttling).

use std::time::Duration;

use super::Validator;
use super::model::RawSdk;

/// Most attempts per call with retries on (AWS SDKs cap user settings
/// similarly; assumption: 10 is plenty to show amplification).
pub const MAX_ATTEMPTS: u32 = 10;

/// The SDK's retry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryMode {
    /// One attempt per call: the harness sees every raw outcome. Default.
    #[default]
    Off,
    /// The SDK's standard mode: exponential backoff with jitter, a retry quota.
    Standard,
    /// Standard plus a client-side rate limiter that slows on throttling.
    Adaptive,
}

/// `[sdk]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkBehaviour {
    pub retry: RetryMode,
    /// Attempts per call including the first; 1 when retries are off.
    pub max_attempts: u32,
    /// Whole call, retries included.
    pub operation_timeout: Duration,
    /// TCP connect.
    pub connect_timeout: Duration,
    /// The identity cache refreshes credentials this long (times a jitter
    /// of 0.5–1) before they expire; `None`: the SDK's default (10 s).
    pub identity_cache_buffer: Option<Duration>,
    /// The lean client: checksums only when an operation requires them, no
    /// stalled-stream protection, no S3 Express session auth, and S3
    /// endpoints resolved path-style without the rules engine when the
    /// target has an endpoint URL. Same requests on the wire for
    /// GET/HEAD; ~30 % less client CPU per call (`results/bench/`).
    pub lean: bool,
}

impl Default for SdkBehaviour {
    fn default() -> Self {
        Self {
            retry: RetryMode::Off,
            max_attempts: 1,
            operation_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            identity_cache_buffer: None,
            lean: false,
        }
    }
}

/// AWS SDKs' default attempts in standard and adaptive modes.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

impl Validator<'_> {
    pub(super) fn sdk(&mut self, raw: Option<&RawSdk>) -> Option<SdkBehaviour> {
        let defaults = SdkBehaviour::default();
        let Some(raw) = raw else {
            return Some(defaults);
        };
        let retry = match &raw.retry {
            None => Some(RetryMode::Off),
            Some(r) => match r.get_ref().as_str() {
                "off" => Some(RetryMode::Off),
                "standard" => Some(RetryMode::Standard),
                "adaptive" => Some(RetryMode::Adaptive),
                other => {
                    self.error(
                        r.span(),
                        format!("unknown retry mode {other:?}"),
                        "use \"off\" (default: raw outcomes), \"standard\" or \"adaptive\"",
                    );
                    None
                }
            },
        };
        let max_attempts = match (&raw.max_attempts, retry) {
            (None, Some(RetryMode::Off)) => Some(1),
            (None, _) => Some(DEFAULT_MAX_ATTEMPTS),
            (Some(m), Some(RetryMode::Off)) => {
                self.error(
                    m.span(),
                    "`max_attempts` needs retries: retry is \"off\"",
                    "add retry = \"standard\" or \"adaptive\", or remove max_attempts",
                );
                None
            }
            (Some(m), _) => self.int::<u32>(
                m,
                "max_attempts",
                1..=i64::from(MAX_ATTEMPTS),
                "attempts per call, the first included",
            ),
        };
        let operation_timeout = self.positive_timeout(
            raw.operation_timeout.as_ref(),
            "operation_timeout",
            defaults.operation_timeout,
        );
        let connect_timeout = self.positive_timeout(
            raw.connect_timeout.as_ref(),
            "connect_timeout",
            defaults.connect_timeout,
        );
        let identity_cache_buffer = match &raw.identity_cache_buffer {
            None => Some(None),
            Some(b) => self.duration(b, "identity_cache_buffer").map(Some),
        };
        Some(SdkBehaviour {
            lean: raw.lean.as_ref().is_some_and(|l| *l.get_ref()),
            identity_cache_buffer: identity_cache_buffer?,
            retry: retry?,
            max_attempts: max_attempts?,
            operation_timeout: operation_timeout?,
            connect_timeout: connect_timeout?,
        })
    }

    fn positive_timeout(
        &mut self,
        value: Option<&super::Text>,
        field: &str,
        default: Duration,
    ) -> Option<Duration> {
        let Some(value) = value else {
            return Some(default);
        };
        let d = self.duration(value, field)?;
        if d.is_zero() {
            self.error(
                value.span(),
                format!("`{field}` must be longer than 0s"),
                "a timeout of 0 would fail every call",
            );
            return None;
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScenarioError, parse};

    /// A valid scenario with `[sdk]` holding `sdk` from line 3.
    fn with_sdk(sdk: &str) -> Result<SdkBehaviour, ScenarioError> {
        let text = format!(
            "name = \"t\"\n[sdk]\n{sdk}\n\
             [[iam.roles]]\nname = \"r\"\ntrust = \"ec2\"\n\
             [[iam.instance_profiles]]\nname = \"p\"\nrole = \"r\"\n\
             [[fleet]]\ngroup = \"g\"\ninstance_profile = \"p\"\ninstances = 1\nworkers_per_instance = 1\n\
             [[load]]\nop = \"sts:GetCallerIdentity\"\nrate = 1\n"
        );
        let text = format!("duration = \"1s\"\n{text}");
        parse("t.toml", &text, std::path::Path::new(".")).map(|s| s.sdk)
    }

    #[test]
    fn sdk_reads_with_defaults() {
        assert_eq!(with_sdk("").unwrap(), SdkBehaviour::default());
        assert_eq!(
            with_sdk("retry = \"standard\"").unwrap(),
            SdkBehaviour {
                retry: RetryMode::Standard,
                max_attempts: 3,
                ..SdkBehaviour::default()
            }
        );
        assert_eq!(
            with_sdk("retry = \"adaptive\"\nmax_attempts = 5\noperation_timeout = \"3s\"\nconnect_timeout = \"100ms\"\nidentity_cache_buffer = \"1m\"")
                .unwrap(),
            SdkBehaviour {
                retry: RetryMode::Adaptive,
                max_attempts: 5,
                operation_timeout: Duration::from_secs(3),
                connect_timeout: Duration::from_millis(100),
                identity_cache_buffer: Some(Duration::from_secs(60)),
                lean: false,
            }
        );
        assert!(with_sdk("lean = true").unwrap().lean);
    }

    #[test]
    fn bad_sdk_fields_are_reported_where_they_are() {
        // `[sdk]` is line 3; its first field line 4.
        let cases: &[(&str, u32, u32, &str)] = &[
            ("retry = \"always\"", 4, 9, "unknown retry mode \"always\""),
            ("max_attempts = 3", 4, 16, "`max_attempts` needs retries"),
            (
                "retry = \"standard\"\nmax_attempts = 11",
                5,
                16,
                "`max_attempts` must be",
            ),
            (
                "operation_timeout = \"0s\"",
                4,
                21,
                "`operation_timeout` must be longer than 0s",
            ),
            (
                "connect_timeout = \"2\"",
                4,
                19,
                "invalid duration \"2\" for `connect_timeout`",
            ),
            ("retries = \"off\"", 4, 1, "unknown field `retries`"),
        ];
        for &(sdk, line, col, message) in cases {
            let error = with_sdk(sdk).expect_err(sdk);
            let [d] = &error.diagnostics[..] else {
                panic!("one diagnostic for {sdk:?}: {error}")
            };
            assert!(d.message.contains(message), "{sdk:?}: {}", d.message);
            assert_eq!((d.line, d.col), (line, col), "{sdk:?}: {}", d.message);
        }
    }
}
