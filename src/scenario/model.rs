//! The scenario file exactly as written: serde structs that mirror the TOML,
//! every value kept with its byte span so validation can point at it.
//!
//! Nothing here checks meaning (units, ranges, references): that is
//! validation's job in `mod.rs`. What this file does own is the shape: every
//! table rejects unknown fields, and the document is read one item at a time
//! (each `[[load]]`, each `[[iam.roles]]`, ...) so that a typo in one entry is
//! reported together with the typos in the others instead of hiding them.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// A string value and where it is in the file.
pub(crate) type Text = Spanned<String>;
/// An integer value and where it is in the file. Integers are read as `i64`
/// (TOML's integer type) so that out-of-range values get a message naming the
/// allowed range rather than serde's "expected u16".
pub(crate) type Int = Spanned<i64>;

/// A problem with the file's shape: TOML syntax, unknown or missing fields,
/// wrong value types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError {
    /// serde's or the TOML parser's message.
    pub message: String,
    /// Byte range in the scenario text; `0..0` when the whole file is meant
    /// (a missing top-level field).
    pub span: Range<usize>,
}

impl From<toml::de::Error> for ShapeError {
    fn from(error: toml::de::Error) -> Self {
        Self {
            message: error.message().to_owned(),
            span: error.span().unwrap_or(0..0),
        }
    }
}

/// The items of one array of tables (`[[load]]`, ...), minus those that did
/// not deserialize.
#[derive(Debug)]
pub(crate) struct Section<T> {
    /// The entries that read cleanly, in file order.
    pub items: Vec<T>,
    /// False when some item had a shape error (already reported): references
    /// into this section cannot be checked, because the name they look for may
    /// be in the broken item.
    pub complete: bool,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            complete: true,
        }
    }
}

/// A whole scenario file.
///
/// Built by [`RawScenario::parse`] rather than derived, so that each section
/// and each array item is deserialized on its own and all their shape errors
/// are reported. The top level still rejects unknown keys, like
/// `deny_unknown_fields` does.
#[derive(Debug, Default)]
pub(crate) struct RawScenario {
    /// `name`: short run name of `[a-z0-9-]`; it becomes part of the run id
    /// and of the results folder name. Required.
    pub name: Option<Text>,
    /// `seed`: the run's one seed (every random choice derives from it);
    /// absent means the caller picks one and prints it. Optional.
    pub seed: Option<Int>,
    /// `duration`: total load time, a duration string such as `"30s"`. Required.
    pub duration: Option<Text>,
    /// `[target]`: where requests go. Optional; defaults to the embedded double.
    pub target: Option<RawTarget>,
    /// `[sim]`: settings of the embedded double. Optional; everything has defaults.
    pub sim: Option<RawSim>,
    /// `[sdk]`: the instances' SDK behaviour. Optional; retries off by default.
    pub sdk: Option<RawSdk>,
    /// `[[iam.roles]]`: roles that exist when the run starts.
    pub roles: Section<RawRole>,
    /// `[[iam.instance_profiles]]`: instance profiles, each wrapping one role.
    pub instance_profiles: Section<RawInstanceProfile>,
    /// `[[s3.buckets]]`: buckets that exist when the run starts.
    pub buckets: Section<RawBucket>,
    /// `[[fleet]]`: groups of simulated instances.
    pub fleet: Section<RawFleetGroup>,
    /// `[[load]]`: request streams.
    pub load: Section<RawLoad>,
    /// `[[timeline]]`: changes made while the load runs.
    pub timeline: Section<RawTimelineEntry>,
    /// `thresholds = ["latency.p99 < 50ms", ...]`: CI gates. Optional.
    pub thresholds: Option<Vec<Text>>,
}

const TOP_LEVEL_FIELDS: &[&str] = &[
    "name",
    "seed",
    "duration",
    "target",
    "sim",
    "sdk",
    "iam",
    "s3",
    "fleet",
    "load",
    "timeline",
    "thresholds",
];
const IAM_FIELDS: &[&str] = &["roles", "instance_profiles"];
const S3_FIELDS: &[&str] = &["buckets"];
const REQUIRED_TOP_LEVEL: &[&str] = &["name", "duration"];

impl RawScenario {
    /// Read the document's shape. `Err` holds TOML syntax errors (nothing
    /// else can be trusted after one); `Ok` holds the scenario with every item
    /// that deserialized, plus the shape errors of those that did not.
    pub(crate) fn parse(text: &str) -> Result<(Self, Vec<ShapeError>), Vec<ShapeError>> {
        let (document, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            return Err(syntax_errors.into_iter().map(ShapeError::from).collect());
        }
        let mut errors = Vec::new();
        let mut raw = Self::default();
        let mut seen = Vec::new();
        for (key, value) in document.into_inner() {
            seen.push(key.get_ref().to_string());
            let key_span = key.span();
            match key.get_ref().as_ref() {
                "name" => raw.name = one(value, &mut errors),
                "seed" => raw.seed = one(value, &mut errors),
                "duration" => raw.duration = one(value, &mut errors),
                "target" => raw.target = one(value, &mut errors),
                "sim" => raw.sim = one(value, &mut errors),
                "sdk" => raw.sdk = one(value, &mut errors),
                "iam" => {
                    for (key, value) in table(key_span, value, IAM_FIELDS, &mut errors) {
                        match key.get_ref().as_ref() {
                            "roles" => raw.roles = each(key.span(), value, &mut errors),
                            _ => raw.instance_profiles = each(key.span(), value, &mut errors),
                        }
                    }
                }
                "s3" => {
                    for (key, value) in table(key_span, value, S3_FIELDS, &mut errors) {
                        debug_assert_eq!(key.get_ref(), "buckets");
                        raw.buckets = each(key.span(), value, &mut errors);
                    }
                }
                "fleet" => raw.fleet = each(key_span, value, &mut errors),
                "load" => raw.load = each(key_span, value, &mut errors),
                "timeline" => raw.timeline = each(key_span, value, &mut errors),
                "thresholds" => raw.thresholds = one(value, &mut errors),
                other => errors.push(unknown_field(other, key_span, TOP_LEVEL_FIELDS)),
            }
        }
        for field in REQUIRED_TOP_LEVEL {
            if !seen.iter().any(|key| key == field) {
                errors.push(ShapeError {
                    message: format!("missing field `{field}`"),
                    span: 0..0,
                });
            }
        }
        Ok((raw, errors))
    }
}

/// Deserialize one value, recording its shape error.
fn one<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ShapeError>,
) -> Option<T> {
    T::deserialize(ValueDeserializer::from(value))
        .map_err(|error| errors.push(error.into()))
        .ok()
}

/// Deserialize an array of tables item by item.
fn each<T: DeserializeOwned>(
    key_span: Range<usize>,
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ShapeError>,
) -> Section<T> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        errors.push(ShapeError {
            message: "expected an array of tables (`[[...]]` entries)".into(),
            span: if span.is_empty() { key_span } else { span },
        });
        return Section {
            items: Vec::new(),
            complete: false,
        };
    };
    let mut section = Section::default();
    for item in items {
        match one(item, errors) {
            Some(item) => section.items.push(item),
            None => section.complete = false,
        }
    }
    section
}

/// The entries of a table that only groups others (`[iam]`, `[s3]`), with
/// unknown keys reported.
fn table<'i>(
    key_span: Range<usize>,
    value: Spanned<DeValue<'i>>,
    fields: &[&str],
    errors: &mut Vec<ShapeError>,
) -> Vec<(Spanned<std::borrow::Cow<'i, str>>, Spanned<DeValue<'i>>)> {
    let DeValue::Table(entries) = value.into_inner() else {
        errors.push(ShapeError {
            message: format!("expected a table with {}", expected_list(fields)),
            span: key_span,
        });
        return Vec::new();
    };
    let mut known = Vec::new();
    for (key, value) in entries {
        if fields.contains(&key.get_ref().as_ref()) {
            known.push((key, value));
        } else {
            errors.push(unknown_field(key.get_ref(), key.span(), fields));
        }
    }
    known
}

fn unknown_field(key: &str, span: Range<usize>, fields: &[&str]) -> ShapeError {
    ShapeError {
        message: format!("unknown field `{key}`, expected {}", expected_list(fields)),
        span,
    }
}

/// Same wording as serde's, so every unknown-field message reads alike.
fn expected_list(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [only] => only.clone(),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// `[target]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    /// `"sim"` (the embedded double), `"endpoint"` or `"aws"`. Required.
    pub kind: Text,
    /// The endpoint URL for `kind = "endpoint"` (or an `aws` override).
    pub url: Option<Text>,
    /// The region the SDK signs for (endpoint and aws).
    pub region: Option<Text>,
    /// What the run may change on a real target: `"role/NAME"`,
    /// `"bucket/NAME"`, `"policy/ARN"`.
    pub mutable: Option<Vec<Text>>,
    /// Hard cap on the fleet-wide request rate.
    pub max_rate: Option<Spanned<RatePerS>>,
    /// Hard cap on the run's total requests.
    pub max_requests: Option<Int>,
}

/// `[sdk]`: how the instances' AWS SDK clients behave.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSdk {
    /// `"off"` (default), `"standard"` or `"adaptive"`.
    pub retry: Option<Text>,
    /// Attempts per call, first included, 1..=10; default 3 with retries.
    pub max_attempts: Option<Int>,
    /// Whole-call timeout, retries included; default `"10s"`.
    pub operation_timeout: Option<Text>,
    /// TCP connect timeout; default `"2s"`.
    pub connect_timeout: Option<Text>,
    /// How long before expiry the SDK's identity cache refreshes
    /// credentials (times a 0.5–1 jitter); default the SDK's `"10s"`.
    pub identity_cache_buffer: Option<Text>,
    /// The lean client configuration (`docs/scenario.md` → `[sdk]`).
    pub lean: Option<Spanned<bool>>,
}

/// `[sim]`: the embedded double's models.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSim {
    /// AWS account id the double pretends to be: 12 digits, used in every
    /// ARN. Default `"123456789012"`.
    pub account_id: Option<Text>,
    /// How long after the double issues session credentials (IMDS,
    /// AssumeRole) requests signed with them still fail as an unknown key
    /// (`InvalidClientTokenId` / `InvalidAccessKeyId`). Default `"0s"`.
    pub new_credential_lag: Option<Text>,
    /// A model file (`iamstorm calibrate` writes them), relative to the
    /// scenario file: the base that `[sim.propagation]`/`[sim.quotas]`
    /// override field by field. Optional.
    pub model: Option<Text>,
    /// `[sim.propagation]`: how IAM changes reach the authorizer replicas.
    pub propagation: Option<RawPropagation>,
    /// `[sim.quotas]`: request quotas, per second per bucket.
    pub quotas: Option<RawQuotas>,
    /// `[[sim.faults]]`: faults injected while the load runs.
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// `[sim.imds]`: the instance metadata service's timings.
    pub imds: Option<RawSimImds>,
}

/// `[sim.imds]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimImds {
    /// Lifetime of the credentials IMDS serves; default `"6h"` (AWS's
    /// instance-profile sessions last about 6 hours, assumption).
    pub credentials_ttl: Option<Text>,
    /// IMDS mints new credentials this long before the old expire; default
    /// `"5m"` (AWS: "at least five minutes"), capped at half the TTL.
    pub rotate_before: Option<Text>,
    /// How long an instance-profile association change takes to reach IMDS;
    /// default `"5s"` (assumption; a reboot applies it at once).
    pub association_lag: Option<Text>,
}

/// `[sim.propagation]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPropagation {
    /// Delay distribution: `"fixed"` (needs `delay`), `"uniform"` (`min`,
    /// `max`), `"lognormal"` (`median`, `p99`) or `"empirical"` (`samples`).
    /// Absent: uniform 2s–4s, the typical delay.
    pub model: Option<Text>,
    /// For `fixed`: every replica applies every change after this duration.
    pub delay: Option<Text>,
    /// For `uniform`: the shortest delay.
    pub min: Option<Text>,
    /// For `uniform`: the longest delay (at least `min`).
    pub max: Option<Text>,
    /// For `lognormal`: the median delay (above zero).
    pub median: Option<Text>,
    /// For `lognormal`: the 99th percentile (at least `median`).
    pub p99: Option<Text>,
    /// For `empirical`: measured delays, each drawn with equal probability.
    pub samples: Option<Vec<Text>>,
    /// Number of authorizer replicas, 1..=1024, default 8. Requests are
    /// routed across them, so more replicas means more flapping while a
    /// change propagates.
    pub replicas: Option<Int>,
    /// Which replica serves a request: `"random"` (default, per request),
    /// `"sticky-connection"` or `"sticky-instance"`.
    pub routing: Option<Text>,
    /// `[sim.propagation.grant]`: own distribution for grants (same fields).
    pub grant: Option<RawDelay>,
    /// `[sim.propagation.revoke]`: own distribution for revokes.
    pub revoke: Option<RawDelay>,
}

/// A delay distribution on its own (`[sim.propagation.grant]`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelay {
    pub model: Option<Text>,
    pub delay: Option<Text>,
    pub min: Option<Text>,
    pub max: Option<Text>,
    pub median: Option<Text>,
    pub p99: Option<Text>,
    pub samples: Option<Vec<Text>>,
}

/// `[[sim.faults]]`: one fault rule, active from `start` to `end` (run time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    /// `"latency"`, `"error"`, `"outage"`, `"reset"` or `"clock_skew"`. Required.
    pub kind: Text,
    /// `"s3"`, `"sts"`, `"iam"` or `"*"` (default: every service).
    pub service: Option<Text>,
    /// API name such as `"GetObject"` (default: every API).
    pub action: Option<Text>,
    /// Chance that the rule fires on a matching request, 0.0..=1.0 (default 1.0).
    pub probability: Option<Spanned<f64>>,
    /// When the rule starts, from the run's start (default: at once).
    pub start: Option<Text>,
    /// When it ends, from the run's start (default: the end of the run).
    pub end: Option<Text>,
    /// `latency`: the delay distribution, with the fields below.
    pub model: Option<Text>,
    pub delay: Option<Text>,
    pub min: Option<Text>,
    pub max: Option<Text>,
    pub median: Option<Text>,
    pub p99: Option<Text>,
    pub samples: Option<Vec<Text>>,
    /// `error`: HTTP status (400..=599) and AWS error code; message optional.
    pub status: Option<Int>,
    pub code: Option<Text>,
    pub message: Option<Text>,
    /// `error`: `"native"` (the service's own shape) or `"json"`.
    pub shape: Option<Text>,
    /// `outage`: `"unavailable"` (503, default) or `"reset"`.
    pub mode: Option<Text>,
    /// `clock_skew`: how far the double's clock is off, e.g. `"-20m"`.
    pub offset: Option<Text>,
}

/// `[sim.quotas]`: token-bucket rates in requests per second. Each absent
/// field keeps AWS's documented or observed default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuotas {
    /// S3 reads (GET/HEAD/LIST) per prefix; default 5500.
    pub s3_read_per_s: Option<Int>,
    /// S3 writes (PUT) per prefix; default 3500.
    pub s3_write_per_s: Option<Int>,
    /// STS calls per account; default 600.
    pub sts_per_s: Option<Int>,
    /// IAM control-plane calls per account; default 100.
    pub iam_per_s: Option<Int>,
    /// IMDS requests per instance; default 1024.
    pub imds_per_s: Option<Int>,
    /// Credential fetches per second across every instance's IMDS (the
    /// credential service they share); default: no such budget.
    pub imds_fleet_per_s: Option<Int>,
    /// EC2 API refill per second (bucket holds 5 s' worth); default 20.
    pub ec2_per_s: Option<Int>,
    /// `[sim.quotas.api]`: per-API rates by `"service:Api"`, e.g.
    /// `"sts:AssumeRole" = 100`.
    pub api: Option<std::collections::BTreeMap<String, Int>>,
}

/// `[[iam.roles]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    /// IAM role name (1–64 of letters, digits and `+=,.@_-`). Required.
    pub name: Text,
    /// Who may assume the role: `"ec2"` (ec2.amazonaws.com), `"none"` (nobody:
    /// the broken-trust cause from the runbook), or a path to a trust policy
    /// JSON file relative to the scenario file. Required.
    pub trust: Text,
    /// Inline policies present at start: policy name → policy JSON file
    /// relative to the scenario file. Optional.
    pub inline: Option<InlinePolicies>,
}

/// An inline table of policy name → file, kept in file order with spans on
/// both sides.
#[derive(Debug, Default)]
pub(crate) struct InlinePolicies(pub Vec<(Text, Text)>);

impl<'de> Deserialize<'de> for InlinePolicies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = InlinePolicies;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of policy name = \"path/to/policy.json\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Text, Text>()? {
                    entries.push(entry);
                }
                // The TOML map hands keys over sorted; spans give the file order back.
                entries.sort_by_key(|(name, _): &(Text, Text)| name.span().start);
                Ok(InlinePolicies(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// `[[iam.instance_profiles]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstanceProfile {
    /// Instance profile name (1–128 of letters, digits and `+=,.@_-`). Required.
    pub name: Text,
    /// The role it hands to instances; must name a `[[iam.roles]]` entry. Required.
    pub role: Text,
}

/// `[[s3.buckets]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBucket {
    /// Bucket name, following S3's naming rules. Required.
    pub name: Text,
    /// Key pattern of objects created before the load starts, e.g.
    /// `"obj-{0..99}"`. Optional: no objects.
    pub objects: Option<Text>,
    /// Size of each seeded object: `B`, `KiB` or `MiB`, at most 16MiB.
    /// Default `"1KiB"`.
    pub object_size: Option<Text>,
}

/// `[[fleet]]`: a group of identical simulated instances.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleetGroup {
    /// Group name (`[a-z0-9-]`), referenced by `[[load]] group`. Required.
    pub group: Text,
    /// The instance profile the instances launch with; must name an
    /// `[[iam.instance_profiles]]` entry. Required.
    pub instance_profile: Text,
    /// Number of instances, 1..=256. Required.
    pub instances: Int,
    /// Requests in flight per instance at most, 1..=1024. Required.
    pub workers_per_instance: Int,
    /// Launch template version 1's boot delay: how long a launched
    /// instance takes (its OS boot) before the app fetches credentials and
    /// joins the load, e.g. `"30s"`. Default `"0s"`.
    pub boot_delay: Option<Text>,
}

/// `[[load]]`: one stream of requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    /// Name in reports; defaults to `op`. Must be unique.
    pub name: Option<Text>,
    /// The operation, e.g. `"s3:GetObject"`. Exactly one of `op` and `mix`.
    pub op: Option<Text>,
    /// Several ops sharing the entry's rate by weight:
    /// `[{ op = "s3:GetObject", weight = 8 }, ...]`. Expanded into one
    /// entry per op (named `NAME/OP`) before validation.
    pub mix: Option<Spanned<Vec<RawMixItem>>>,
    /// `s3:PutObject` body size, e.g. `"64KiB"`; default the bucket's
    /// `object_size_bytes`.
    pub size: Option<Text>,
    /// This entry's own SDK behaviour (`[sdk]`'s fields but the identity
    /// cache's, which is per instance).
    pub sdk: Option<RawSdk>,
    /// What sends the requests: `"sdk"` (default, the AWS SDK) or `"raw"`
    /// (SigV4-signed HTTP, no SDK; a few ops only).
    pub engine: Option<Text>,
    /// Set by mix expansion: (this op's weight, the mix's total weight).
    #[serde(skip)]
    pub mix_share: Option<(u64, u64)>,
    /// Bucket for `s3:*` ops (required there); forbidden for `sts:*` ops.
    pub bucket: Option<Text>,
    /// The role for `sts:AssumeRole` and `iam:GetRole` (required there);
    /// must name an `[[iam.roles]]` entry.
    pub role: Option<Text>,
    /// `sts:AssumeRole` session name, 2–64 of `\w+=,.@-`; default `"iamstorm"`.
    pub session_name: Option<Text>,
    /// Key pattern for Get/Put/Head (required there), e.g. `"obj-{0..99}"`.
    pub keys: Option<Text>,
    /// Constant requests per second across the whole fleet. Exactly one of
    /// `rate`, `ramp`, `steps`, `spike`, `sine` for the open model.
    pub rate: Option<Spanned<RatePerS>>,
    /// `{ from = 10, to = 200 }`: linear from → to over the entry's window.
    pub ramp: Option<Spanned<RawRamp>>,
    /// `[{ rate = 50, duration = "2s" }, ...]`: stages in order; the last
    /// rate holds until the end.
    pub steps: Option<Spanned<Vec<RawStage>>>,
    /// `{ base = 20, peak = 400, at = "3s", for = "1s" }`.
    pub spike: Option<Spanned<RawSpike>>,
    /// `{ mean = 100, amplitude = 50, period = "10s" }`.
    pub sine: Option<Spanned<RawSine>>,
    /// `"uniform"` (default) or `"poisson"` (seeded).
    pub arrivals: Option<Text>,
    /// Which key of `keys` a request addresses: `"uniform"` (default) or
    /// `"zipf"` (seeded; hot keys first).
    pub key_choice: Option<Text>,
    /// Zipf exponent s > 0 (default 1.0); only with `key_choice = "zipf"`.
    pub zipf_exponent: Option<Spanned<f64>>,
    /// `"open"` (default: arrival rate) or `"closed"` (workers with think time).
    pub model: Option<Text>,
    /// Closed model: looping workers per instance. Required there.
    pub workers: Option<Int>,
    /// Closed model: pause between a worker's answer and its next request.
    /// Default `"0s"`.
    pub think_time: Option<Text>,
    /// When the stream starts, from the start of the run. Default `"0s"`.
    pub start: Option<Text>,
    /// When the stream stops. Default: the scenario's `duration`.
    pub end: Option<Text>,
    /// The `[[fleet]]` group that sends it. Default: all groups.
    pub group: Option<Text>,
}

impl RawLoad {
    /// The entry's op. Validation sees only expanded entries, which all
    /// have one (`Validator::expand_mixes`).
    pub fn op(&self) -> &Text {
        self.op
            .as_ref()
            .expect("load entries are validated after mix expansion")
    }
}

/// One op of a `mix`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMixItem {
    pub op: Text,
    /// Its share of the entry's rate, relative to the others'. Required.
    pub weight: Int,
    /// `s3:PutObject` body size.
    pub size: Option<Text>,
}

/// `ramp = { from, to }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRamp {
    pub from: Spanned<RatePerS>,
    pub to: Spanned<RatePerS>,
}

/// One `steps` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub rate: Spanned<RatePerS>,
    pub duration: Text,
}

/// `spike = { base, peak, at, for }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpike {
    pub base: Spanned<RatePerS>,
    pub peak: Spanned<RatePerS>,
    /// From the entry's start.
    pub at: Text,
    #[serde(rename = "for")]
    pub length: Text,
}

/// `sine = { mean, amplitude, period }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSine {
    pub mean: Spanned<RatePerS>,
    pub amplitude: Spanned<RatePerS>,
    pub period: Text,
}

/// A request rate as written: an integer or a float.
///
/// Its own type so that a table or a string gets an error that says what a
/// rate looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RatePerS(pub f64);

impl<'de> Deserialize<'de> for RatePerS {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = RatePerS;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a rate: requests per second as a number (200, 12.5) or with its unit (\"5000/s\", \"300/min\")",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RatePerS, E> {
                super::units::parse_rate_per_s(v)
                    .map(RatePerS)
                    .map_err(|e| E::custom(format!("invalid rate {v:?}: {e}")))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RatePerS, E> {
                Ok(RatePerS(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RatePerS, E> {
                Ok(RatePerS(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RatePerS, E> {
                Ok(RatePerS(v))
            }
        }
        deserializer.deserialize_any(Number)
    }
}

/// `[[timeline]]`: one change made during the run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimelineEntry {
    /// When, from the start of the run; before `duration`. Required.
    pub at: Text,
    /// `"put-role-policy"` or `"delete-role-policy"`. Required.
    pub action: Text,
    /// The role changed; must name an `[[iam.roles]]` entry. Needed by both actions.
    pub role: Option<Text>,
    /// The inline policy's name. Needed by both actions.
    pub policy_name: Option<Text>,
    /// Policy JSON file, relative to the scenario file. `put-role-policy` only.
    pub policy: Option<Text>,
    /// Measure the change's propagation: `"grant"` (time until requests
    /// succeed) or `"revoke"` (time until they are denied). Optional.
    pub measure: Option<Text>,
    /// The op whose outcomes measure it; defaults to the first `[[load]]`
    /// entry's op. Only with `measure`.
    pub probe_op: Option<Text>,
    /// A managed policy's ARN: attach/detach-role-policy,
    /// create-policy-version, put-role-permissions-boundary.
    pub policy_arn: Option<Text>,
    /// create-policy-version: make the new version the default (default true).
    pub set_as_default: Option<Spanned<bool>>,
    /// update-assume-role-policy: `"ec2"`, `"none"` or a trust policy file.
    pub trust: Option<Text>,
    /// put/delete-bucket-policy: names an `[[s3.buckets]]` entry.
    pub bucket: Option<Text>,
    /// imds-outage/imds-throttle: a `[[fleet]]` group (default: every instance).
    pub group: Option<Text>,
    /// imds-outage: `"refuse"` (port closed) or `"503"`.
    pub mode: Option<Text>,
    /// Double-only actions: how long the effect lasts, e.g. `"10s"`. Required.
    #[serde(rename = "for")]
    pub window: Option<Text>,
    /// imds-throttle: requests per second each instance's IMDS answers.
    pub rate_per_s: Option<Int>,
    /// Fault actions: `"s3"`, `"sts"`, `"iam"` (default: every service;
    /// throttle-storm requires one).
    pub service: Option<Text>,
    /// Fault actions: API name such as `"GetObject"` (default: every API).
    pub api: Option<Text>,
    /// Fault actions: chance a matching request is hit, 0.0..=1.0 (default 1.0).
    pub probability: Option<Spanned<f64>>,
    /// error-inject: HTTP status (400..=599), AWS error code, message.
    pub status: Option<Int>,
    pub code: Option<Text>,
    pub message: Option<Text>,
    /// latency: the delay distribution, as in `[[sim.faults]]`.
    pub model: Option<Text>,
    pub delay: Option<Text>,
    pub min: Option<Text>,
    pub max: Option<Text>,
    pub median: Option<Text>,
    pub p99: Option<Text>,
    pub samples: Option<Vec<Text>>,
    /// clock-skew: how far the double's clock is off, e.g. `"-20m"`.
    pub offset: Option<Text>,
    /// scale-out / scale-in: the group's new size, or how many to add/remove.
    pub to: Option<Int>,
    pub by: Option<Int>,
    /// set-launch-template: the new version's instance profile, workers and
    /// boot delay.
    pub instance_profile: Option<Text>,
    pub workers_per_instance: Option<Int>,
    pub boot_delay: Option<Text>,
    /// replace: instances replaced at a time (default 1).
    pub batch: Option<Int>,
    /// replace: the wait between batches (default `"0s"`).
    pub pause: Option<Text>,
    /// `{ every = "6s", times = 3 }`: the action again every `every`, `times`
    /// times in all (the first at `at`) — a grant/revoke cycle repeated
    /// builds a propagation distribution. Any action.
    pub repeat: Option<RawRepeat>,
}

/// `repeat = { every, times }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRepeat {
    pub every: Text,
    pub times: Int,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_reports_its_own_shape_errors() {
        let text = "name = \"x\"\nduration = \"1s\"\nbogus = 1\n\
                    [[load]]\nop = \"s3:GetObject\"\nrat = 5\n\
                    [[load]]\nop = \"s3:GetObject\"\nrate = 5\n\
                    [iam]\nrole = []\n";
        let (raw, errors) = RawScenario::parse(text).unwrap();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errors.len(), 3, "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("unknown field `bogus`"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("unknown field `rat`"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("unknown field `role`, expected one of `roles`"))
        );
        assert_eq!(raw.load.items.len(), 1);
        assert!(!raw.load.complete);
    }

    #[test]
    fn inline_policies_keep_file_order_and_spans() {
        let text = "name = \"x\"\nduration = \"1s\"\n[[iam.roles]]\nname = \"r\"\ntrust = \"ec2\"\ninline = { b = \"b.json\", a = \"a.json\" }\n";
        let (raw, errors) = RawScenario::parse(text).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let inline = &raw.roles.items[0].inline.as_ref().unwrap().0;
        let names: Vec<&str> = inline.iter().map(|(k, _)| k.get_ref().as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(&text[inline[0].0.span()], "b");
    }
}
