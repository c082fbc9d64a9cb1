//! The per-instance IMDS fault knobs an operator sets through the admin API
//! (`PUT /_iamstorm/instances/{id}/imds`): outage, slowness, throttling,
//! a connection cap, stale credentials and a token TTL cap. Only the
//! knobs and their JSON live here; `listener` and the handler apply them.
//!
//! A `PUT` replaces the whole set (an absent field is "off"); `DELETE`
//! clears it. Randomness (latency jitter) is derived from the run seed.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How an outage looks to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// The listener is closed and open connections dropped: connection refused.
    Refuse,
    /// Every request is answered `503 Service Unavailable`.
    #[serde(rename = "503")]
    Unavailable,
}

/// An outage window as requested (`for_ms` absent: until cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageSpec {
    pub mode: OutageMode,
    pub for_ms: Option<u64>,
}

/// The admin API's request body: every knob, each optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlsSpec {
    /// Cap on the token TTL granted (seconds, 1..=21600). At 120 s or less
    /// the Rust SDK fetches a token before every GET (imds-sdk-probe §5).
    pub token_ttl_max_s: Option<u64>,
    pub outage: Option<OutageSpec>,
    /// Added to every answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// Uniform extra latency in `0..=latency_jitter_ms`, seeded.
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// Requests per second this instance's IMDS answers before `429`
    /// (replaces the double-wide `imds_per_s` for this instance).
    pub rate_per_s: Option<u32>,
    /// Open connections accepted at once; further ones are closed on accept.
    pub max_connections: Option<u32>,
    /// Serve the cached credentials past their rotation point and expiry.
    #[serde(default)]
    pub stale_credentials: bool,
    /// Optional EC2 metadata options, as `ModifyInstanceMetadataOptions` sets them.
    pub http_tokens: Option<String>,
    pub hop_limit: Option<u8>,
}

/// The knobs in force, with the outage window resolved to an instant.
#[derive(Clone, Debug, Default)]
pub struct Controls {
    pub token_ttl_max_s: Option<u64>,
    pub outage: Option<(OutageMode, Option<Instant>)>,
    pub latency: Duration,
    pub latency_jitter: Duration,
    pub rate_per_s: Option<u32>,
    pub max_connections: Option<u32>,
    pub stale_credentials: bool,
}

/// Largest accepted latency, so a typo cannot park clients for hours.
pub const MAX_LATENCY: Duration = Duration::from_secs(120);

impl Controls {
    /// Validates `spec` (every problem is a message for the operator).
    pub fn from_spec(spec: &ControlsSpec, now: Instant) -> Result<Self, String> {
        if let Some(t) = spec.token_ttl_max_s
            && !(1..=21_600).contains(&t)
        {
            return Err(format!("token_ttl_max_s {t} is outside 1..=21600"));
        }
        let latency = Duration::from_millis(spec.latency_ms);
        let latency_jitter = Duration::from_millis(spec.latency_jitter_ms);
        if latency + latency_jitter > MAX_LATENCY {
            return Err(format!(
                "latency_ms + latency_jitter_ms must be at most {} ms",
                MAX_LATENCY.as_millis()
            ));
        }
        if spec.rate_per_s == Some(0) {
            return Err("rate_per_s must be at least 1 (use an outage to stop IMDS)".to_owned());
        }
        if spec.max_connections == Some(0) {
            return Err(
                "max_connections must be at least 1 (use an outage to stop IMDS)".to_owned(),
            );
        }
        Ok(Self {
            token_ttl_max_s: spec.token_ttl_max_s,
            outage: spec
                .outage
                .map(|o| (o.mode, o.for_ms.map(|ms| now + Duration::from_millis(ms)))),
            latency,
            latency_jitter,
            rate_per_s: spec.rate_per_s,
            max_connections: spec.max_connections,
            stale_credentials: spec.stale_credentials,
        })
    }

    /// The outage in force at `now`, if its window has not ended.
    pub fn outage_at(&self, now: Instant) -> Option<OutageMode> {
        match self.outage {
            Some((mode, None)) => Some(mode),
            Some((mode, Some(until))) if now < until => Some(mode),
            _ => None,
        }
    }

    /// For the admin API.
    pub fn to_json(&self, now: Instant) -> serde_json::Value {
        serde_json::json!({
            "token_ttl_max_s": self.token_ttl_max_s,
            "outage": self.outage_at(now).map(|mode| serde_json::json!({
                "mode": mode,
                "remaining_ms": self.outage.and_then(|(_, until)| until)
                    .map(|u| u.saturating_duration_since(now).as_millis() as u64),
            })),
            "latency_ms": self.latency.as_millis() as u64,
            "latency_jitter_ms": self.latency_jitter.as_millis() as u64,
            "rate_per_s": self.rate_per_s,
            "max_connections": self.max_connections,
            "stale_credentials": self.stale_credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_and_outage_window_ends() {
        let spec: ControlsSpec = serde_json::from_str(
            r#"{"outage":{"mode":"503","for_ms":1000},"latency_ms":5,"rate_per_s":3}"#,
        )
        .expect("valid spec");
        let now = Instant::now();
        let c = Controls::from_spec(&spec, now).expect("valid controls");
        assert_eq!(c.outage_at(now), Some(OutageMode::Unavailable));
        assert_eq!(c.outage_at(now + Duration::from_millis(1000)), None);
        assert_eq!(c.latency, Duration::from_millis(5));
        assert_eq!(c.rate_per_s, Some(3));
    }

    #[test]
    fn bad_knobs_are_refused_with_reasons() {
        let now = Instant::now();
        for body in [
            r#"{"rate_per_s":0}"#,
            r#"{"max_connections":0}"#,
            r#"{"token_ttl_max_s":0}"#,
            r#"{"latency_ms":999999}"#,
        ] {
            let spec: ControlsSpec = serde_json::from_str(body).expect("shape is valid");
            assert!(Controls::from_spec(&spec, now).is_err(), "{body}");
        }
        assert!(serde_json::from_str::<ControlsSpec>(r#"{"nope":1}"#).is_err());
        let refuse: ControlsSpec =
            serde_json::from_str(r#"{"outage":{"mode":"refuse"}}"#).expect("refuse parses");
        let c = Controls::from_spec(&refuse, now).expect("valid");
        assert_eq!(
            c.outage_at(now + Duration::from_secs(3600)),
            Some(OutageMode::Refuse)
        );
    }
}
