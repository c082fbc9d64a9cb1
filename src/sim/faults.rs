//! Fault injection: latency, injected errors, outages, connection resets
//! and clock skew, each a rule matched by service and API within a time
//! window, firing with a probability that is a pure function of (seed,
//! rule, request) — the same run replays the same faults.
//!
//! This module owns the rules and the decision; the edge applies it before
//! routing (`edge::inject`), and the wire shapes of injected errors are
//! rendered here so that every front end answers in its service's real
//! shape: S3 REST-XML `<Error>`, Query `<ErrorResponse>`, or, when asked,
//! the JSON-protocol `{"__type": …}` shape (e.g. a 429 `ThrottlingException`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::clock::ms;
use super::consistency::{DelayModel, MAX_DELAY, MAX_EMPIRICAL_SAMPLES};
use super::rng;
use super::truth::RequestId;

/// Most rules active at once: matching is a scan on every request.
pub const MAX_RULES: usize = 256;
/// Largest clock skew a rule may set (a day each way).
pub const MAX_SKEW_MS: i64 = 24 * 3600 * 1000;

/// What a rule does to a request it fires on.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Delay the request by a draw from the distribution, then serve it.
    Latency(DelayModel),
    /// Answer this error instead of serving the request.
    Error {
        status: u16,
        code: String,
        message: String,
        /// Render as a JSON-protocol error instead of the service's own shape.
        json: bool,
    },
    /// The service is down: `503 ServiceUnavailable` in its shape.
    Unavailable,
    /// Close the connection without a response.
    Reset,
    /// The double's clock runs this far ahead (negative: behind) while the
    /// rule is active; SigV4 time checks and issued expiries see it.
    ClockSkew { offset_ms: i64 },
}

/// One rule, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub id: u64,
    /// `None`: every service (`s3`, `sts`, `iam`; never IMDS).
    pub service: Option<String>,
    /// API name such as `GetObject`; `None`: every API.
    pub action: Option<String>,
    /// 0..=1.
    pub probability: f64,
    /// Active from `start` (inclusive) to `end` (exclusive), on the double's
    /// clock (since it started); `None`: unbounded.
    pub start: Option<Duration>,
    pub end: Option<Duration>,
    pub effect: Effect,
}

/// A rule as the admin API and the harness send it (JSON). Times are either
/// absolute on the double's clock (`start_ms`/`end_ms`) or relative to the
/// moment the rule is posted (`after_ms`/`for_ms`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `latency`, `error`, `outage`, `reset` or `clock_skew`.
    pub kind: String,
    pub service: Option<String>,
    pub action: Option<String>,
    pub probability: Option<f64>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub after_ms: Option<u64>,
    pub for_ms: Option<u64>,
    /// `latency`: the distribution.
    pub delay: Option<DelaySpec>,
    /// `error`: HTTP status and AWS error code (required), message.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    /// `error`: `"native"` (default: the service's shape) or `"json"`.
    pub shape: Option<String>,
    /// `outage`: `"unavailable"` (default, 503) or `"reset"`.
    pub mode: Option<String>,
    /// `clock_skew`: the offset in ms (negative: the double's clock is behind).
    pub offset_ms: Option<i64>,
}

/// A delay distribution in JSON: `{"model": "fixed", "delay_ms": 200}`,
/// `uniform` (`min_ms`, `max_ms`), `lognormal` (`median_ms`, `p99_ms`),
/// `empirical` (`samples_ms`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DelaySpec {
    pub model: String,
    pub delay_ms: Option<u64>,
    pub min_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub median_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub samples_ms: Option<Vec<u64>>,
}

impl DelaySpec {
    pub fn to_model(&self) -> Result<DelayModel, String> {
        let need = |v: Option<u64>, field: &str| {
            v.map(Duration::from_millis)
                .ok_or_else(|| format!("the {} model needs `{field}`", self.model))
        };
        let model = match self.model.as_str() {
            "fixed" => DelayModel::Fixed(need(self.delay_ms, "delay_ms")?),
            "uniform" => DelayModel::Uniform {
                min: need(self.min_ms, "min_ms")?,
                max: need(self.max_ms, "max_ms")?,
            },
            "lognormal" => DelayModel::LogNormal {
                median: need(self.median_ms, "median_ms")?,
                p99: need(self.p99_ms, "p99_ms")?,
            },
            "empirical" => {
                let samples = self
                    .samples_ms
                    .as_ref()
                    .ok_or("the empirical model needs `samples_ms`")?;
                if samples.len() > MAX_EMPIRICAL_SAMPLES {
                    return Err(format!(
                        "at most {MAX_EMPIRICAL_SAMPLES} samples in `samples_ms`"
                    ));
                }
                DelayModel::Empirical(samples.iter().map(|s| Duration::from_millis(*s)).collect())
            }
            other => {
                return Err(format!(
                    "unknown delay model {other:?}: use fixed, uniform, lognormal or empirical"
                ));
            }
        };
        if let Some(problem) = model.problem() {
            return Err(problem);
        }
        Ok(model)
    }
}

impl FaultSpec {
    /// Validates into a rule; `now` anchors `after_ms`/`for_ms`.
    pub fn into_fault(self, id: u64, now: Duration) -> Result<Fault, String> {
        let probability = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!(
                "probability must be within 0..=1 (got {probability})"
            ));
        }
        if (self.start_ms.is_some() || self.end_ms.is_some())
            && (self.after_ms.is_some() || self.for_ms.is_some())
        {
            return Err(
                "give start_ms/end_ms (double's clock) or after_ms/for_ms (from now), not both"
                    .into(),
            );
        }
        let start = self
            .start_ms
            .map(Duration::from_millis)
            .or(self.after_ms.map(|a| now + Duration::from_millis(a)));
        let end = self.end_ms.map(Duration::from_millis).or(self
            .for_ms
            .map(|f| start.unwrap_or(now) + Duration::from_millis(f)));
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(format!(
                "the window ends ({} ms) before it starts ({} ms)",
                ms(e),
                ms(s)
            ));
        }
        let unused = |fields: &[(&str, bool)]| -> Result<(), String> {
            match fields.iter().find(|(_, set)| *set) {
                Some((f, _)) => Err(format!("`{f}` is not used by kind {:?}", self.kind)),
                None => Ok(()),
            }
        };
        let effect = match self.kind.as_str() {
            "latency" => {
                unused(&[
                    ("status", self.status.is_some()),
                    ("code", self.code.is_some()),
                    ("mode", self.mode.is_some()),
                    ("offset_ms", self.offset_ms.is_some()),
                ])?;
                let delay = self.delay.as_ref().ok_or("a latency fault needs `delay`")?;
                Effect::Latency(delay.to_model()?)
            }
            "error" => {
                unused(&[
                    ("delay", self.delay.is_some()),
                    ("mode", self.mode.is_some()),
                    ("offset_ms", self.offset_ms.is_some()),
                ])?;
                let status = self
                    .status
                    .ok_or("an error fault needs `status` (e.g. 503)")?;
                if !(400..=599).contains(&status) {
                    return Err(format!(
                        "status must be an HTTP error, 400..=599 (got {status})"
                    ));
                }
                let code = self
                    .code
                    .clone()
                    .ok_or("an error fault needs `code` (e.g. \"SlowDown\")")?;
                if code.is_empty()
                    || code.len() > 128
                    || !code
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
                {
                    return Err(format!(
                        "code {code:?} must be 1-128 letters, digits, '.' or '_'"
                    ));
                }
                let json = match self.shape.as_deref() {
                    None | Some("native") => false,
                    Some("json") => true,
                    Some(other) => {
                        return Err(format!("shape {other:?}: use \"native\" or \"json\""));
                    }
                };
                let message = self
                    .message
                    .clone()
                    .unwrap_or_else(|| default_message(&code));
                if message.len() > 1024 {
                    return Err("message is longer than 1024 bytes".into());
                }
                Effect::Error {
                    status,
                    code,
                    message,
                    json,
                }
            }
            "outage" => {
                unused(&[
                    ("delay", self.delay.is_some()),
                    ("status", self.status.is_some()),
                    ("code", self.code.is_some()),
                    ("offset_ms", self.offset_ms.is_some()),
                ])?;
                match self.mode.as_deref() {
                    None | Some("unavailable") => Effect::Unavailable,
                    Some("reset") => Effect::Reset,
                    Some(other) => {
                        return Err(format!(
                            "outage mode {other:?}: use \"unavailable\" (503) or \"reset\""
                        ));
                    }
                }
            }
            "reset" => {
                unused(&[
                    ("delay", self.delay.is_some()),
                    ("status", self.status.is_some()),
                    ("code", self.code.is_some()),
                    ("mode", self.mode.is_some()),
                    ("offset_ms", self.offset_ms.is_some()),
                ])?;
                Effect::Reset
            }
            "clock_skew" => {
                unused(&[
                    ("delay", self.delay.is_some()),
                    ("status", self.status.is_some()),
                    ("code", self.code.is_some()),
                    ("mode", self.mode.is_some()),
                    ("service", self.service.is_some()),
                    ("action", self.action.is_some()),
                    ("probability", self.probability.is_some()),
                ])?;
                let offset_ms = self
                    .offset_ms
                    .ok_or("a clock_skew fault needs `offset_ms`")?;
                if offset_ms.abs() > MAX_SKEW_MS {
                    return Err(format!("offset_ms must be within ±{MAX_SKEW_MS}"));
                }
                Effect::ClockSkew { offset_ms }
            }
            other => {
                return Err(format!(
                    "unknown fault kind {other:?}: use latency, error, outage, reset or clock_skew"
                ));
            }
        };
        let name = |v: Option<String>| v.filter(|s| s != "*" && !s.is_empty());
        let service = name(self.service);
        if service.as_deref() == Some("imds") {
            return Err(IMDS_FAULTS_REFUSED.to_owned());
        }
        if let Some(s) = &service
            && !SERVICES.contains(&s.as_str())
        {
            return Err(format!(
                "unknown service {s:?}: use one of {SERVICES:?} or \"*\""
            ));
        }
        let action = name(self.action).map(|a| match a.split_once(':') {
            Some((_, api)) => api.to_owned(),
            None => a,
        });
        Ok(Fault {
            id,
            service,
            action,
            probability,
            start,
            end,
            effect,
        })
    }
}

/// Services a rule can name. IMDS is not one: its listeners are per
/// instance and have their own failure knobs ([`IMDS_FAULTS_REFUSED`]).
pub const SERVICES: &[&str] = &["s3", "sts", "iam"];

/// Why a rule naming `imds` is refused: the edge applies rules, and IMDS
/// requests never reach the edge.
pub const IMDS_FAULTS_REFUSED: &str = "service \"imds\" cannot take fault rules: IMDS is served per instance, outside the edge where rules apply; use the [[timeline]] actions `imds-outage` (refuse, hang, 500s) and `imds-throttle` instead";

fn default_message(code: &str) -> String {
    match code {
        "SlowDown" => "Please reduce your request rate.".into(),
        "Throttling" | "ThrottlingException" => "Rate exceeded".into(),
        "ServiceUnavailable" => "Service is unable to handle request.".into(),
        "InternalError" | "InternalFailure" => {
            "We encountered an internal error. Please try again.".into()
        }
        _ => format!("Injected fault: {code}"),
    }
}

impl Fault {
    fn active(&self, now: Duration) -> bool {
        self.start.is_none_or(|s| now >= s) && self.end.is_none_or(|e| now < e)
    }

    fn matches(&self, service: &str, action: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && self.action.as_deref().is_none_or(|a| a == action)
    }

    /// Whether the rule fires for request `seq`: a pure function of
    /// (seed, rule id, request).
    fn fires(&self, seed: u64, seq: u64) -> bool {
        self.probability >= 1.0
            || rng::unit_f64(rng::derive(
                seed ^ rng::mix64(self.id),
                rng::STREAM_FAULTS,
                seq,
            )) < self.probability
    }

    /// The rule as JSON, for `GET /_iamstorm/faults`.
    fn describe(&self, fired: u64) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "service": self.service,
            "action": self.action,
            "probability": self.probability,
            "start_ms": self.start.map(ms),
            "end_ms": self.end.map(ms),
            "fired": fired,
        });
        let extra = match &self.effect {
            Effect::Latency(m) => serde_json::json!({ "kind": "latency", "delay": m.describe() }),
            Effect::Error {
                status,
                code,
                message,
                json,
            } => serde_json::json!({
                "kind": "error", "status": status, "code": code, "message": message,
                "shape": if *json { "json" } else { "native" },
            }),
            Effect::Unavailable => serde_json::json!({ "kind": "outage", "mode": "unavailable" }),
            Effect::Reset => serde_json::json!({ "kind": "reset" }),
            Effect::ClockSkew { offset_ms } => {
                serde_json::json!({ "kind": "clock_skew", "offset_ms": offset_ms })
            }
        };
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    }
}

/// What to do to one request.
#[derive(Debug, Default, PartialEq)]
pub struct Injection {
    /// Sum of the fired latency rules' draws.
    pub delay: Duration,
    /// The first fired terminal rule (error, outage, reset), if any.
    pub terminal: Option<Terminal>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Terminal {
    pub rule: u64,
    pub effect: Effect,
}

struct Entry {
    fault: Fault,
    fired: AtomicU64,
}

/// The rule set.
pub struct Faults {
    seed: u64,
    next_id: AtomicU64,
    rules: RwLock<Vec<Arc<Entry>>>,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next_id: AtomicU64::new(1),
            rules: RwLock::new(Vec::new()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Entry>>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Entry>>> {
        self.rules.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Validates and adds a rule; returns its id.
    pub fn add(&self, spec: FaultSpec, now: Duration) -> Result<u64, String> {
        let mut rules = self.write();
        if rules.len() >= MAX_RULES {
            return Err(format!(
                "at most {MAX_RULES} fault rules; delete some first"
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let fault = spec.into_fault(id, now)?;
        rules.push(Arc::new(Entry {
            fault,
            fired: AtomicU64::new(0),
        }));
        Ok(id)
    }

    /// Removes rule `id`; false if there is none.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.write();
        let before = rules.len();
        rules.retain(|e| e.fault.id != id);
        rules.len() != before
    }

    pub fn clear(&self) {
        self.write().clear();
    }

    /// Every rule with how often it fired.
    pub fn describe(&self) -> Vec<serde_json::Value> {
        self.read()
            .iter()
            .map(|e| e.fault.describe(e.fired.load(Ordering::Relaxed)))
            .collect()
    }

    /// The decision for request `seq` to `service`/`action` at `now`.
    pub fn decide(&self, service: &str, action: &str, seq: u64, now: Duration) -> Injection {
        let rules = self.read();
        let mut out = Injection::default();
        for entry in rules.iter() {
            let f = &entry.fault;
            if matches!(f.effect, Effect::ClockSkew { .. })
                || !f.active(now)
                || !f.matches(service, action)
                || !f.fires(self.seed, seq)
            {
                continue;
            }
            match &f.effect {
                Effect::Latency(model) => {
                    let v = rng::derive(self.seed ^ rng::mix64(f.id), rng::STREAM_FAULTS, !seq);
                    out.delay = (out.delay + model.draw(v)).min(MAX_DELAY);
                }
                effect if out.terminal.is_none() => {
                    out.terminal = Some(Terminal {
                        rule: f.id,
                        effect: effect.clone(),
                    });
                }
                _ => continue,
            }
            entry.fired.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    /// The clock offset at `now`: the sum of the active clock-skew rules.
    pub fn skew_ms(&self, now: Duration) -> i64 {
        self.read()
            .iter()
            .filter(|e| e.fault.active(now))
            .map(|e| match e.fault.effect {
                Effect::ClockSkew { offset_ms } => offset_ms,
                _ => 0,
            })
            .sum()
    }
}

/// Signals the server to close the connection without answering.
#[derive(Debug)]
pub struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for ConnectionReset {}

/// The wire protocol of the service a request went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// S3 REST-XML `<Error>`; `head`: no body (HEAD responses have none).
    S3 { head: bool },
    /// Query `<ErrorResponse>` in this namespace.
    Query { namespace: &'static str },
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An error in the service's shape, or the JSON-protocol shape when `json`.
pub fn error_response(
    protocol: Protocol,
    json: bool,
    status: u16,
    code: &str,
    message: &str,
    id: RequestId,
) -> Response<Bytes> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        )
    } else {
        match protocol {
            Protocol::S3 { head: true } => ("application/xml", String::new()),
            Protocol::S3 { head: false } => (
                "application/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{id}</RequestId><HostId>iamstorm</HostId></Error>",
                    escape(code),
                    escape(message)
                ),
            ),
            Protocol::Query { namespace } => {
                let err = super::query::QueryError::new(status.as_u16(), code, message);
                return super::query::error(namespace, &err, id);
            }
        }
    };
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if json && let Ok(v) = http::HeaderValue::from_str(code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// The S3 API a request line names (path-style), for matching rules before
/// s3s parses the request. Unlisted shapes answer `"Unknown"`.
pub fn s3_action(
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    copy: bool,
) -> &'static str {
    let has = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|kv| kv.split('=').next().is_some_and(|k| k == name))
        })
    };
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) => (b, k),
        None => (trimmed, ""),
    };
    use http::Method as M;
    match (bucket.is_empty(), key.is_empty(), method) {
        (true, _, &M::GET) => "ListBuckets",
        (true, _, _) => "Unknown",
        (false, true, &M::GET) if has("policy") => "GetBucketPolicy",
        (false, true, &M::GET) if has("location") => "GetBucketLocation",
        (false, true, &M::GET) if has("list-type") => "ListObjectsV2",
        (false, true, &M::GET) => "ListObjects",
        (false, true, &M::PUT) if has("policy") => "PutBucketPolicy",
        (false, true, &M::PUT) => "CreateBucket",
        (false, true, &M::HEAD) => "HeadBucket",
        (false, true, &M::DELETE) if has("policy") => "DeleteBucketPolicy",
        (false, true, &M::DELETE) => "DeleteBucket",
        (false, true, &M::POST) if has("delete") => "DeleteObjects",
        (false, false, &M::GET) if has("uploadId") => "ListParts",
        (false, false, &M::GET) => "GetObject",
        (false, false, &M::HEAD) => "HeadObject",
        (false, false, &M::PUT) if has("uploadId") => "UploadPart",
        (false, false, &M::PUT) if copy => "CopyObject",
        (false, false, &M::PUT) => "PutObject",
        (false, false, &M::DELETE) if has("uploadId") => "AbortMultipartUpload",
        (false, false, &M::DELETE) => "DeleteObject",
        (false, false, &M::POST) if has("uploads") => "CreateMultipartUpload",
        (false, false, &M::POST) if has("uploadId") => "CompleteMultipartUpload",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FaultSpec {
        serde_json::from_value(json).expect("spec parses")
    }

    fn faults_with(rules: &[serde_json::Value]) -> Faults {
        let f = Faults::new(42);
        for r in rules {
            f.add(spec(r.clone()), Duration::ZERO).expect("valid rule");
        }
        f
    }

    #[test]
    fn an_error_rule_fires_only_on_its_service_and_action_within_its_window() {
        let f = faults_with(&[serde_json::json!({
            "kind": "error", "service": "s3", "action": "s3:GetObject",
            "status": 503, "code": "SlowDown", "start_ms": 1000, "end_ms": 2000,
        })]);
        let at = Duration::from_millis(1500);
        let hit = f.decide("s3", "GetObject", 1, at);
        assert_eq!(
            hit.terminal.map(|t| t.effect),
            Some(Effect::Error {
                status: 503,
                code: "SlowDown".into(),
                message: "Please reduce your request rate.".into(),
                json: false
            })
        );
        assert_eq!(f.decide("s3", "PutObject", 1, at), Injection::default());
        assert_eq!(f.decide("sts", "GetObject", 1, at), Injection::default());
        assert_eq!(
            f.decide("s3", "GetObject", 1, Duration::from_millis(999)),
            Injection::default()
        );
        assert_eq!(
            f.decide("s3", "GetObject", 1, Duration::from_millis(2000)),
            Injection::default()
        );
        assert_eq!(f.describe()[0]["fired"], 1);
    }

    #[test]
    fn probability_is_seeded_per_request_and_close_to_its_rate() {
        let f = faults_with(&[serde_json::json!({ "kind": "reset", "probability": 0.25 })]);
        let fired: Vec<bool> = (0..4000)
            .map(|i| {
                f.decide("sts", "GetCallerIdentity", i, Duration::ZERO)
                    .terminal
                    .is_some()
            })
            .collect();
        let n = fired.iter().filter(|x| **x).count();
        assert!((850..1150).contains(&n), "fired {n} of 4000");
        let again: Vec<bool> = (0..4000)
            .map(|i| {
                f.decide("sts", "GetCallerIdentity", i, Duration::ZERO)
                    .terminal
                    .is_some()
            })
            .collect();
        assert_eq!(fired, again, "same seed and request, same decision");
    }

    #[test]
    fn latency_rules_add_up_and_do_not_block_a_terminal_rule() {
        let f = faults_with(&[
            serde_json::json!({ "kind": "latency", "delay": { "model": "fixed", "delay_ms": 100 } }),
            serde_json::json!({ "kind": "latency", "service": "s3", "delay": { "model": "fixed", "delay_ms": 50 } }),
            serde_json::json!({ "kind": "outage", "service": "s3", "mode": "reset" }),
        ]);
        let d = f.decide("s3", "GetObject", 7, Duration::ZERO);
        assert_eq!(d.delay, Duration::from_millis(150));
        assert_eq!(d.terminal.map(|t| t.effect), Some(Effect::Reset));
        assert_eq!(
            f.decide("iam", "GetRole", 7, Duration::ZERO).delay,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn relative_windows_and_clock_skew() {
        let f = Faults::new(1);
        let now = Duration::from_secs(10);
        f.add(spec(serde_json::json!({ "kind": "clock_skew", "offset_ms": -1_200_000, "after_ms": 1000, "for_ms": 5000 })), now)
            .expect("valid");
        assert_eq!(f.skew_ms(Duration::from_millis(10_999)), 0);
        assert_eq!(f.skew_ms(Duration::from_secs(11)), -1_200_000);
        assert_eq!(f.skew_ms(Duration::from_secs(16)), 0);
        assert_eq!(
            f.decide("s3", "GetObject", 1, Duration::from_secs(12)),
            Injection::default()
        );
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let bad = [
            (
                serde_json::json!({ "kind": "error", "code": "X" }),
                "status",
            ),
            (
                serde_json::json!({ "kind": "error", "status": 200, "code": "X" }),
                "400..=599",
            ),
            (
                serde_json::json!({ "kind": "error", "status": 500, "code": "<x>" }),
                "letters",
            ),
            (serde_json::json!({ "kind": "latency" }), "delay"),
            (
                serde_json::json!({ "kind": "latency", "delay": { "model": "lognormal", "median_ms": 5, "p99_ms": 1 } }),
                "p99",
            ),
            (
                serde_json::json!({ "kind": "reset", "probability": 1.5 }),
                "probability",
            ),
            (
                serde_json::json!({ "kind": "reset", "service": "ec3" }),
                "unknown service",
            ),
            (
                serde_json::json!({ "kind": "reset", "start_ms": 5, "end_ms": 5 }),
                "before it starts",
            ),
            (
                serde_json::json!({ "kind": "reset", "code": "X" }),
                "`code` is not used",
            ),
            (serde_json::json!({ "kind": "flood" }), "unknown fault kind"),
            (
                serde_json::json!({ "kind": "clock_skew", "offset_ms": 1, "service": "s3" }),
                "not used",
            ),
        ];
        for (json, needle) in bad {
            let e = spec(json.clone())
                .into_fault(1, Duration::ZERO)
                .expect_err("refused");
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn error_bodies_take_each_service_shape() {
        let id = RequestId(0xAB);
        let s3 = error_response(
            Protocol::S3 { head: false },
            false,
            503,
            "SlowDown",
            "m",
            id,
        );
        assert_eq!(s3.status(), 503);
        let body = String::from_utf8_lossy(s3.body()).into_owned();
        assert!(body.contains("<Error><Code>SlowDown</Code><Message>m</Message><RequestId>00000000000000AB</RequestId>"), "{body}");
        let q = error_response(
            Protocol::Query {
                namespace: super::super::query::STS_NAMESPACE,
            },
            false,
            400,
            "Throttling",
            "Rate exceeded",
            id,
        );
        let body = String::from_utf8_lossy(q.body()).into_owned();
        assert!(
            body.contains("<ErrorResponse") && body.contains("<Code>Throttling</Code>"),
            "{body}"
        );
        let j = error_response(
            Protocol::S3 { head: false },
            true,
            429,
            "ThrottlingException",
            "Rate exceeded",
            id,
        );
        assert_eq!(j.status(), 429);
        let v: serde_json::Value = serde_json::from_slice(j.body()).expect("json");
        assert_eq!(v["__type"], "ThrottlingException");
        assert_eq!(j.headers()["x-amzn-errortype"], "ThrottlingException");
        assert!(
            error_response(Protocol::S3 { head: true }, false, 503, "X", "m", id)
                .body()
                .is_empty()
        );
    }

    #[test]
    fn s3_actions_from_the_request_line() {
        use http::Method as M;
        let cases = [
            (M::GET, "/", None, false, "ListBuckets"),
            (
                M::GET,
                "/b",
                Some("list-type=2&prefix=a"),
                false,
                "ListObjectsV2",
            ),
            (M::GET, "/b/", None, false, "ListObjects"),
            (M::PUT, "/b", None, false, "CreateBucket"),
            (M::PUT, "/b", Some("policy"), false, "PutBucketPolicy"),
            (M::GET, "/b/k/x", None, false, "GetObject"),
            (M::HEAD, "/b/k", None, false, "HeadObject"),
            (M::PUT, "/b/k", None, false, "PutObject"),
            (M::PUT, "/b/k", None, true, "CopyObject"),
            (
                M::PUT,
                "/b/k",
                Some("partNumber=1&uploadId=u"),
                false,
                "UploadPart",
            ),
            (M::DELETE, "/b/k", None, false, "DeleteObject"),
            (
                M::POST,
                "/b/k",
                Some("uploads"),
                false,
                "CreateMultipartUpload",
            ),
            (M::PATCH, "/b/k", None, false, "Unknown"),
        ];
        for (m, path, q, copy, want) in cases {
            assert_eq!(s3_action(&m, path, q, copy), want, "{m} {path} {q:?}");
        }
    }
}
