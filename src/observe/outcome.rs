//! The outcome vocabulary: the fixed set of classes every request ends in.
//!
//! This module owns only the words. Turning an SDK result into one of them
//! is `observe::classify`'s job; counting them is `observe::metrics`'; the
//! spelling used in every report (`"access_denied"`, ...) is defined here
//! once, by [`OutcomeClass::as_str`], and serde uses the same spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How one request ended, coarse enough to count and fine enough to tell the
/// runbook's causes apart (a denial is not a throttle is not a missing
/// credential). Declaration order is report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// The service answered 2xx.
    Ok,
    /// Any rate limiting: `503 SlowDown`, `400 Throttling`, `429`, ...
    Throttled,
    /// IAM evaluated the request and said no.
    AccessDenied,
    /// The credentials were bad: unknown key, bad signature, expired token,
    /// clock skew. Not a policy decision.
    AuthError,
    /// No credentials could be had at all (IMDS down or throttled, no role).
    CredentialsUnavailable,
    /// Another 4xx, or a request the SDK could not even build: the harness or
    /// the scenario asked for something the service does not serve.
    ClientError,
    /// Another 5xx.
    ServerError,
    /// The SDK gave up waiting.
    Timeout,
    /// The request never got an HTTP answer (refused, reset, dispatch failure).
    Connection,
}

impl OutcomeClass {
    /// Every class, in report order, so reports can list all of them (zeros
    /// included) and metrics can size dense arrays.
    pub const ALL: [OutcomeClass; 9] = [
        OutcomeClass::Ok,
        OutcomeClass::Throttled,
        OutcomeClass::AccessDenied,
        OutcomeClass::AuthError,
        OutcomeClass::CredentialsUnavailable,
        OutcomeClass::ClientError,
        OutcomeClass::ServerError,
        OutcomeClass::Timeout,
        OutcomeClass::Connection,
    ];

    /// How many classes there are; the length of per-class arrays.
    pub const COUNT: usize = Self::ALL.len();

    /// The snake_case name used in every report, CSV column and threshold key
    /// (`ratio.access_denied`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::Throttled => "throttled",
            OutcomeClass::AccessDenied => "access_denied",
            OutcomeClass::AuthError => "auth_error",
            OutcomeClass::CredentialsUnavailable => "credentials_unavailable",
            OutcomeClass::ClientError => "client_error",
            OutcomeClass::ServerError => "server_error",
            OutcomeClass::Timeout => "timeout",
            OutcomeClass::Connection => "connection",
        }
    }

    /// Dense index in `0..COUNT` (position in [`OutcomeClass::ALL`]), so
    /// per-class counters are arrays rather than maps.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A class name that is not one of [`OutcomeClass::ALL`]; comes from user
/// input such as a threshold key, so it says what was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown outcome class `{0}`: expected one of ok, throttled, access_denied, auth_error, \
     credentials_unavailable, client_error, server_error, timeout, connection"
)]
pub struct UnknownOutcomeClass(pub String);

impl FromStr for OutcomeClass {
    type Err = UnknownOutcomeClass;

    /// Parses the report spelling back, for thresholds and `compare`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutcomeClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownOutcomeClass(s.to_owned()))
    }
}

/// A classified request: the class that is counted, plus the sub-reason that
/// explains it to a human (`"implicit"`, `"explicit"`, `"SlowDown"`,
/// `"provider_timed_out"`, ...), kept apart so counting stays cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What is counted.
    pub class: OutcomeClass,
    /// Why, in the classifier's words; `None` when the class says it all.
    pub detail: Option<String>,
}

impl Outcome {
    /// Builds an outcome; `detail` is the sub-reason, if any.
    pub fn new(class: OutcomeClass, detail: Option<String>) -> Self {
        Outcome { class, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spelling_is_as_str_for_every_class() {
        for class in OutcomeClass::ALL {
            let json = serde_json::to_string(&class).expect("a unit enum serializes");
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(class.as_str().parse::<OutcomeClass>(), Ok(class));
            assert_eq!(class.to_string(), class.as_str());
        }
    }

    #[test]
    fn index_is_position_in_all() {
        for (i, class) in OutcomeClass::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), i);
        }
        assert_eq!(OutcomeClass::COUNT, 9);
    }

    #[test]
    fn unknown_class_names_the_choices() {
        let err = "denied".parse::<OutcomeClass>().expect_err("not a class");
        assert!(err.to_string().contains("access_denied"), "{err}");
    }
}
