//! The `[[timeline]]` actions beyond put/delete-role-policy: which fields
//! each takes, and their validation into a [`TimelineKind`]. The shared
//! fields (`at`, `measure`, `probe_op`) and the inline-policy replay stay in
//! `Validator::timeline`.

use std::ops::Range;
use std::time::Duration;

use super::model::{RawTimelineEntry, Text};
use super::units::parse_duration;
use super::{
    DelayFields, FaultSpec, Names, TimelineKind, Trust, Validator, bucket_name_problem, closest,
    delay_fields, delay_spec,
};

/// Every timeline action, in the order the README documents them.
pub const ACTIONS: &[&str] = &[
    "put-role-policy",
    "delete-role-policy",
    "attach-role-policy",
    "detach-role-policy",
    "create-policy-version",
    "update-assume-role-policy",
    "put-role-permissions-boundary",
    "delete-role-permissions-boundary",
    "put-bucket-policy",
    "delete-bucket-policy",
    "imds-outage",
    "imds-throttle",
    "throttle-storm",
    "latency",
    "error-inject",
    "clock-skew",
    "scale-out",
    "scale-in",
    "set-launch-template",
    "replace",
    "swap-instance-profile",
    "reboot-instance",
];

/// Most instances one scale action may ask for (per group).
pub const MAX_SCALE: u32 = 1024;

/// The size a scale action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetSize {
    /// The group's new instance count.
    To(u32),
    /// How many to add (scale-out) or remove (scale-in).
    By(u32),
}

/// Longest window a double-only action may hold (an hour): a typo must not
/// outlive the run by days.
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// How an IMDS outage looks to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImdsOutageMode {
    /// The port is closed: connection refused.
    Refuse,
    /// Every request is answered `503`.
    Unavailable,
}

/// Which fault-rule action a [`TimelineKind::Fault`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    ThrottleStorm,
    Latency,
    ErrorInject,
    ClockSkew,
}

impl FaultAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultAction::ThrottleStorm => "throttle-storm",
            FaultAction::Latency => "latency",
            FaultAction::ErrorInject => "error-inject",
            FaultAction::ClockSkew => "clock-skew",
        }
    }
}

/// The sections a timeline action may name.
pub(super) struct Refs<'n, 'r> {
    pub roles: &'n Names<'r>,
    pub buckets: &'n Names<'r>,
    pub groups: &'n Names<'r>,
    pub profiles: &'n Names<'r>,
}

/// The optional fields an entry set, by name (besides `at` and `action`).
fn fields_set(entry: &RawTimelineEntry) -> Vec<(&'static str, Range<usize>)> {
    let text = |name, v: &Option<Text>| v.as_ref().map(|v| (name, v.span()));
    [
        text("role", &entry.role),
        text("policy_name", &entry.policy_name),
        text("policy", &entry.policy),
        text("policy_arn", &entry.policy_arn),
        entry
            .set_as_default
            .as_ref()
            .map(|v| ("set_as_default", v.span())),
        text("trust", &entry.trust),
        text("bucket", &entry.bucket),
        text("group", &entry.group),
        text("mode", &entry.mode),
        text("for", &entry.window),
        entry.rate_per_s.as_ref().map(|v| ("rate_per_s", v.span())),
        text("service", &entry.service),
        text("api", &entry.api),
        entry
            .probability
            .as_ref()
            .map(|v| ("probability", v.span())),
        entry.status.as_ref().map(|v| ("status", v.span())),
        text("code", &entry.code),
        text("message", &entry.message),
        text("model", &entry.model),
        text("delay", &entry.delay),
        text("min", &entry.min),
        text("max", &entry.max),
        text("median", &entry.median),
        text("p99", &entry.p99),
        entry
            .samples
            .as_ref()
            .and_then(|s| s.first())
            .map(|v| ("samples", v.span())),
        text("offset", &entry.offset),
        entry.to.as_ref().map(|v| ("to", v.span())),
        entry.by.as_ref().map(|v| ("by", v.span())),
        text("instance_profile", &entry.instance_profile),
        entry
            .workers_per_instance
            .as_ref()
            .map(|v| ("workers_per_instance", v.span())),
        text("boot_delay", &entry.boot_delay),
        entry.batch.as_ref().map(|v| ("batch", v.span())),
        text("pause", &entry.pause),
        text("measure", &entry.measure),
        text("probe_op", &entry.probe_op),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The fields `action` takes besides `at`/`action`; `None` for the two
/// actions `Validator::timeline` checks itself.
fn fields_of(action: &str) -> Option<&'static [&'static str]> {
    Some(match action {
        "attach-role-policy" | "detach-role-policy" | "put-role-permissions-boundary" => {
            &["role", "policy_arn", "measure", "probe_op"]
        }
        "create-policy-version" => &[
            "policy_arn",
            "policy",
            "set_as_default",
            "measure",
            "probe_op",
        ],
        "update-assume-role-policy" => &["role", "trust", "measure", "probe_op"],
        "delete-role-permissions-boundary" => &["role", "measure", "probe_op"],
        "put-bucket-policy" => &["bucket", "policy", "measure", "probe_op"],
        "delete-bucket-policy" => &["bucket", "measure", "probe_op"],
        "imds-outage" => &["group", "mode", "for"],
        "imds-throttle" => &["group", "rate_per_s", "for"],
        "throttle-storm" => &["service", "api", "probability", "for"],
        "latency" => &[
            "service",
            "api",
            "probability",
            "for",
            "model",
            "delay",
            "min",
            "max",
            "median",
            "p99",
            "samples",
        ],
        "error-inject" => &[
            "service",
            "api",
            "probability",
            "for",
            "status",
            "code",
            "message",
        ],
        "clock-skew" => &["offset", "for"],
        "scale-out" | "scale-in" => &["group", "to", "by"],
        "set-launch-template" => &[
            "group",
            "instance_profile",
            "workers_per_instance",
            "boot_delay",
        ],
        "replace" => &["group", "batch", "pause"],
        "swap-instance-profile" => &["group", "instance_profile"],
        "reboot-instance" => &["group"],
        _ => return None,
    })
}

impl Validator<'_> {
    /// Validates an entry whose action is one of [`ACTIONS`] other than
    /// put/delete-role-policy. `role` is the entry's role if it names one of
    /// the scenario's roles (already checked).
    pub(super) fn timeline_action(
        &mut self,
        entry: &RawTimelineEntry,
        role: Option<&Text>,
        refs: &Refs<'_, '_>,
    ) -> Option<TimelineKind> {
        let action = entry.action.get_ref().as_str();
        let allowed = fields_of(action)?;
        let mut ok = true;
        for (field, span) in fields_set(entry) {
            if !allowed.contains(&field) {
                let help = if field == "measure" || field == "probe_op" {
                    "only IAM and bucket-policy actions are measured: the double applies this one at once".to_owned()
                } else {
                    format!("{action} takes: {}", allowed.join(", "))
                };
                self.error(span, format!("`{field}` is not used by {action}"), help);
                ok = false;
            }
        }
        let mut need = |value: bool, field: &str, example: &str| {
            if !value {
                self.error(
                    entry.action.span(),
                    format!("{action} needs `{field}`"),
                    format!("add {field} = {example}"),
                );
                ok = false;
            }
        };
        for field in allowed {
            let (set, example) = match *field {
                "role" => (
                    entry.role.is_some(),
                    "\"...\" naming one of the [[iam.roles]]",
                ),
                "policy_arn" => (
                    entry.policy_arn.is_some(),
                    "\"arn:aws:iam::ACCOUNT:policy/NAME\"",
                ),
                "policy" => (
                    entry.policy.is_some(),
                    "\"policies/....json\" (relative to the scenario file)",
                ),
                "trust" => (
                    entry.trust.is_some(),
                    "\"ec2\", \"none\" or a trust policy file",
                ),
                "bucket" => (
                    entry.bucket.is_some(),
                    "\"...\" naming one of the [[s3.buckets]]",
                ),
                "mode" => (entry.mode.is_some(), "\"refuse\" or \"503\""),
                "for" => (entry.window.is_some(), "\"10s\" (how long it lasts)"),
                "rate_per_s" => (entry.rate_per_s.is_some(), "5"),
                "offset" => (entry.offset.is_some(), "\"-20m\""),
                "service" if action == "throttle-storm" => {
                    (entry.service.is_some(), "\"s3\", \"iam\" or \"sts\"")
                }
                "code" => (entry.code.is_some(), "\"InternalError\""),
                "status" => (entry.status.is_some(), "500"),
                "model" => (entry.model.is_some(), "\"fixed\" with delay = \"200ms\""),
                "group"
                    if action.starts_with("scale-")
                        || action == "set-launch-template"
                        || action == "replace" =>
                {
                    (
                        entry.group.is_some(),
                        "\"...\" naming one of the [[fleet]] groups",
                    )
                }
                _ => continue,
            };
            need(set, field, example);
        }
        let what = format!("{action} at {}", entry.at.get_ref());
        // An unknown role was reported by `Validator::timeline`.
        let role = role.map(|r| r.get_ref().clone());
        let policy_arn = entry
            .policy_arn
            .as_ref()
            .and_then(|arn| self.policy_arn(arn));
        let document = entry
            .policy
            .as_ref()
            .and_then(|p| self.document(p, "policy file", ""));
        let bucket = entry.bucket.as_ref().and_then(|b| {
            let name = b.get_ref();
            if let Some(problem) = bucket_name_problem(name) {
                self.error(
                    b.span(),
                    format!("bucket name {name:?} {problem}"),
                    "see S3's bucket naming rules",
                );
                return None;
            }
            self.reference(b, refs.buckets, &what, "bucket", "[[s3.buckets]]")
                .then(|| name.clone())
        });
        let group = match &entry.group {
            None => Some(None),
            Some(g) => self
                .reference(g, refs.groups, &what, "group", "[[fleet]]")
                .then(|| Some(g.get_ref().clone())),
        };
        let window = entry.window.as_ref().and_then(|w| {
            let d = self.duration(w, "for")?;
            if d.is_zero() || d > MAX_WINDOW {
                self.error(
                    w.span(),
                    format!("`for` of {d:?} is outside 1ms..={MAX_WINDOW:?}"),
                    "the effect lasts this long from `at`; it may run past the end of the load",
                );
                return None;
            }
            Some(d)
        });
        if !ok {
            return None;
        }
        Some(match action {
            "attach-role-policy" => TimelineKind::AttachRolePolicy {
                role: role.clone()?,
                policy_arn: policy_arn?,
            },
            "detach-role-policy" => TimelineKind::DetachRolePolicy {
                role: role.clone()?,
                policy_arn: policy_arn?,
            },
            "put-role-permissions-boundary" => TimelineKind::PutRolePermissionsBoundary {
                role: role.clone()?,
                policy_arn: policy_arn?,
            },
            "delete-role-permissions-boundary" => TimelineKind::DeleteRolePermissionsBoundary {
                role: role.clone()?,
            },
            "create-policy-version" => TimelineKind::CreatePolicyVersion {
                policy_arn: policy_arn?,
                document: document?,
                set_as_default: entry.set_as_default.as_ref().is_none_or(|v| *v.get_ref()),
            },
            "update-assume-role-policy" => {
                let trust = entry.trust.as_ref()?;
                let trust = match trust.get_ref().as_str() {
                    "ec2" => Trust::Ec2,
                    "none" => Trust::Nobody,
                    _ => Trust::Document(self.document(
                        trust,
                        "trust policy file",
                        "trust is \"ec2\", \"none\" or the path of a trust policy file; ",
                    )?),
                };
                TimelineKind::UpdateAssumeRolePolicy {
                    role: role.clone()?,
                    trust,
                }
            }
            "put-bucket-policy" => TimelineKind::PutBucketPolicy {
                bucket: bucket?,
                document: document?,
            },
            "delete-bucket-policy" => TimelineKind::DeleteBucketPolicy { bucket: bucket? },
            "scale-out" | "scale-in" => {
                let size = match (&entry.to, &entry.by) {
                    (Some(to), None) => FleetSize::To(self.int(
                        to,
                        "to",
                        0..=i64::from(MAX_SCALE),
                        "the group's new instance count",
                    )?),
                    (None, Some(by)) => FleetSize::By(self.int(
                        by,
                        "by",
                        1..=i64::from(MAX_SCALE),
                        "how many instances to add or remove",
                    )?),
                    _ => {
                        self.error(
                            entry.action.span(),
                            format!("{action} needs exactly one of `to` and `by`"),
                            "to = 12 (the new size) or by = 8 (how many)",
                        );
                        return None;
                    }
                };
                let group = group??;
                if action == "scale-out" {
                    TimelineKind::ScaleOut { group, size }
                } else {
                    TimelineKind::ScaleIn { group, size }
                }
            }
            "swap-instance-profile" => {
                let Some(p) = &entry.instance_profile else {
                    self.error(
                        entry.action.span(),
                        "swap-instance-profile needs `instance_profile`",
                        "add instance_profile = \"...\" naming one of the [[iam.instance_profiles]]",
                    );
                    return None;
                };
                self.reference(
                    p,
                    refs.profiles,
                    &what,
                    "instance profile",
                    "[[iam.instance_profiles]]",
                )
                .then_some(())?;
                TimelineKind::SwapInstanceProfile {
                    group: group?,
                    instance_profile: p.get_ref().clone(),
                }
            }
            "reboot-instance" => TimelineKind::RebootInstance { group: group? },
            "set-launch-template" => {
                let instance_profile = match &entry.instance_profile {
                    None => None,
                    Some(p) => Some(
                        self.reference(
                            p,
                            refs.profiles,
                            &what,
                            "instance profile",
                            "[[iam.instance_profiles]]",
                        )
                        .then(|| p.get_ref().clone())?,
                    ),
                };
                let workers_per_instance = match &entry.workers_per_instance {
                    None => None,
                    Some(w) => Some(self.int(
                        w,
                        "workers_per_instance",
                        1..=1024,
                        "requests in flight per instance",
                    )?),
                };
                let boot_delay = match &entry.boot_delay {
                    None => None,
                    Some(d) => Some(self.boot_delay(d)?),
                };
                if instance_profile.is_none()
                    && workers_per_instance.is_none()
                    && boot_delay.is_none()
                {
                    self.error(
                        entry.action.span(),
                        "set-launch-template changes nothing",
                        "set instance_profile, workers_per_instance and/or boot_delay for the new version",
                    );
                    return None;
                }
                TimelineKind::SetLaunchTemplate {
                    group: group??,
                    instance_profile,
                    workers_per_instance,
                    boot_delay,
                }
            }
            "replace" => {
                let batch = match &entry.batch {
                    None => 1,
                    Some(b) => self.int(
                        b,
                        "batch",
                        1..=i64::from(MAX_SCALE),
                        "how many instances are replaced at a time",
                    )?,
                };
                let pause = match &entry.pause {
                    None => Duration::ZERO,
                    Some(p) => {
                        let d = self.duration(p, "pause")?;
                        if d > MAX_WINDOW {
                            self.error(
                                p.span(),
                                format!("`pause` of {d:?} is longer than {MAX_WINDOW:?}"),
                                "the wait between batches, e.g. pause = \"1s\"",
                            );
                            return None;
                        }
                        d
                    }
                };
                TimelineKind::Replace {
                    group: group??,
                    batch,
                    pause,
                }
            }
            "imds-outage" => {
                let mode = entry.mode.as_ref()?;
                let mode = match mode.get_ref().as_str() {
                    "refuse" => ImdsOutageMode::Refuse,
                    "503" => ImdsOutageMode::Unavailable,
                    other => {
                        self.error(
                            mode.span(),
                            format!("unknown IMDS outage mode {other:?}"),
                            "use mode = \"refuse\" (port closed) or \"503\" (Service Unavailable)",
                        );
                        return None;
                    }
                };
                TimelineKind::ImdsOutage {
                    group: group?,
                    mode,
                    window: window?,
                }
            }
            "imds-throttle" => {
                let rate = entry.rate_per_s.as_ref()?;
                let rate_per_s = self.int::<u32>(
                    rate,
                    "rate_per_s",
                    1..=100_000,
                    "requests per second each instance's IMDS answers before 429",
                )?;
                TimelineKind::ImdsThrottle {
                    group: group?,
                    rate_per_s,
                    window: window?,
                }
            }
            "throttle-storm" | "latency" | "error-inject" | "clock-skew" => {
                self.fault_action(entry, window?)?
            }
            _ => return None,
        })
    }

    fn policy_arn(&mut self, arn: &Text) -> Option<String> {
        let value = arn.get_ref();
        let ok = value.starts_with("arn:aws:iam::")
            && value
                .split(':')
                .nth(5)
                .is_some_and(|r| r.starts_with("policy/"));
        if ok {
            return Some(value.clone());
        }
        self.error(
            arn.span(),
            format!("{value:?} is not a managed policy ARN"),
            "write arn:aws:iam::ACCOUNT:policy/NAME (or arn:aws:iam::aws:policy/NAME)",
        );
        None
    }

    /// throttle-storm, latency, error-inject, clock-skew: one fault rule
    /// posted at `at`, active for `window`.
    fn fault_action(&mut self, entry: &RawTimelineEntry, window: Duration) -> Option<TimelineKind> {
        let action = match entry.action.get_ref().as_str() {
            "throttle-storm" => FaultAction::ThrottleStorm,
            "latency" => FaultAction::Latency,
            "error-inject" => FaultAction::ErrorInject,
            _ => FaultAction::ClockSkew,
        };
        let text = |t: &Option<Text>| t.as_ref().map(|t| t.get_ref().clone());
        let mut spec = FaultSpec {
            service: text(&entry.service),
            action: text(&entry.api),
            probability: entry.probability.as_ref().map(|p| *p.get_ref()),
            after_ms: Some(0),
            for_ms: Some(window.as_millis() as u64),
            ..FaultSpec::default()
        };
        match action {
            FaultAction::ThrottleStorm => {
                let service = entry.service.as_ref()?;
                let (status, code) = match service.get_ref().as_str() {
                    // aws-behavior.md: S3 throttles with 503 SlowDown, the
                    // Query APIs with 400 Throttling.
                    "s3" => (503, "SlowDown"),
                    "iam" | "sts" => (400, "Throttling"),
                    other => {
                        let help = match closest(other, ["s3", "iam", "sts"]) {
                            Some(close) => format!("did you mean \"{close}\"? "),
                            None => String::new(),
                        } + "throttle-storm takes service = \"s3\", \"iam\" or \"sts\"";
                        self.error(service.span(), format!("unknown service {other:?}"), help);
                        return None;
                    }
                };
                spec.kind = "error".to_owned();
                spec.status = Some(status);
                spec.code = Some(code.to_owned());
            }
            FaultAction::Latency => {
                spec.kind = "latency".to_owned();
                let delay = self.delay(delay_fields!(entry), "this latency action")??;
                spec.delay = Some(delay_spec(&delay));
            }
            FaultAction::ErrorInject => {
                spec.kind = "error".to_owned();
                spec.status = Some(self.int::<u16>(
                    entry.status.as_ref()?,
                    "status",
                    400..=599,
                    "an HTTP error status, e.g. 503",
                )?);
                spec.code = text(&entry.code);
                spec.message = text(&entry.message);
            }
            FaultAction::ClockSkew => {
                spec.kind = "clock_skew".to_owned();
                let offset = entry.offset.as_ref()?;
                let raw = offset.get_ref();
                let (sign, rest) = match raw.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, raw.strip_prefix('+').unwrap_or(raw)),
                };
                match parse_duration(rest) {
                    Ok(d) => {
                        spec.offset_ms =
                            Some(sign * i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    }
                    Err(e) => {
                        self.error(
                            offset.span(),
                            format!("invalid clock offset {raw:?}: {e}"),
                            "a signed duration: \"-20m\" puts the double's clock 20 minutes behind, \"+20m\" ahead",
                        );
                        return None;
                    }
                }
            }
        }
        match spec.clone().into_fault(0, Duration::ZERO) {
            Ok(_) => Some(TimelineKind::Fault {
                action,
                spec: Box::new(spec),
            }),
            Err(problem) => {
                self.error(
                    entry.action.span(),
                    format!("invalid {} action: {problem}", action.as_str()),
                    "see the [[timeline]] reference in README.md",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{Scenario, ScenarioError, parse};
    use super::*;

    const HEAD: &str = r#"name = "t"
duration = "60s"

[[iam.roles]]
name = "app-role"
trust = "ec2"

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 1

[[load]]
op = "s3:GetObject"
bucket = "assets"
keys = "k"
rate = 1
"#;

    const ARN: &str = "arn:aws:iam::123456789012:policy/p";

    struct Fixture(PathBuf);

    impl Fixture {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("iamstorm-timeline-{}-{tag}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("p.json"),
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            )
            .unwrap();
            Self(dir)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn load(tag: &str, timeline: &str) -> Result<Scenario, ScenarioError> {
        let fixture = Fixture::new(tag);
        parse("t.toml", &format!("{HEAD}{timeline}"), &fixture.0)
    }

    /// The one diagnostic's `line:col: message`, lines counted in the timeline part.
    fn only_error(tag: &str, timeline: &str) -> (usize, usize, String) {
        let error = load(tag, timeline).expect_err("the scenario must be rejected");
        let [d] = &error.diagnostics[..] else {
            panic!("expected one diagnostic: {error}")
        };
        (
            d.line as usize - HEAD.lines().count(),
            d.col as usize,
            d.message.clone(),
        )
    }

    #[test]
    fn every_new_action_reads_into_its_kind() {
        let timeline = format!(
            r#"[[timeline]]
at = "1s"
action = "attach-role-policy"
role = "app-role"
policy_arn = "{ARN}"
measure = "grant"
[[timeline]]
at = "2s"
action = "create-policy-version"
policy_arn = "{ARN}"
policy = "p.json"
set_as_default = false
[[timeline]]
at = "3s"
action = "update-assume-role-policy"
role = "app-role"
trust = "none"
measure = "revoke"
[[timeline]]
at = "4s"
action = "put-bucket-policy"
bucket = "assets"
policy = "p.json"
[[timeline]]
at = "5s"
action = "imds-outage"
group = "web"
mode = "503"
for = "3s"
[[timeline]]
at = "6s"
action = "imds-throttle"
rate_per_s = 2
for = "1s"
[[timeline]]
at = "7s"
action = "throttle-storm"
service = "s3"
probability = 0.5
for = "2s"
[[timeline]]
at = "8s"
action = "latency"
model = "fixed"
delay = "200ms"
for = "2s"
[[timeline]]
at = "9s"
action = "error-inject"
service = "sts"
status = 500
code = "InternalError"
for = "2s"
[[timeline]]
at = "10s"
action = "clock-skew"
offset = "-20m"
for = "2s"
"#
        );
        let scenario = load("kinds", &timeline).unwrap_or_else(|e| panic!("{e}"));
        let kinds: Vec<&TimelineKind> = scenario.timeline.iter().map(|a| &a.kind).collect();
        assert_eq!(
            kinds[0],
            &TimelineKind::AttachRolePolicy {
                role: "app-role".into(),
                policy_arn: ARN.into()
            }
        );
        assert!(matches!(
            kinds[1],
            TimelineKind::CreatePolicyVersion {
                set_as_default: false,
                ..
            }
        ));
        assert_eq!(
            kinds[2],
            &TimelineKind::UpdateAssumeRolePolicy {
                role: "app-role".into(),
                trust: Trust::Nobody
            }
        );
        assert!(
            matches!(kinds[3], TimelineKind::PutBucketPolicy { bucket, .. } if bucket == "assets")
        );
        assert_eq!(
            kinds[4],
            &TimelineKind::ImdsOutage {
                group: Some("web".into()),
                mode: ImdsOutageMode::Unavailable,
                window: Duration::from_secs(3)
            }
        );
        assert_eq!(
            kinds[5],
            &TimelineKind::ImdsThrottle {
                group: None,
                rate_per_s: 2,
                window: Duration::from_secs(1)
            }
        );
        let TimelineKind::Fault { action, spec } = kinds[6] else {
            panic!("{:?}", kinds[6])
        };
        assert_eq!(*action, FaultAction::ThrottleStorm);
        assert_eq!(
            (spec.kind.as_str(), spec.status, spec.code.as_deref()),
            ("error", Some(503), Some("SlowDown"))
        );
        assert_eq!((spec.probability, spec.for_ms), (Some(0.5), Some(2000)));
        let TimelineKind::Fault { spec, .. } = kinds[7] else {
            panic!("{:?}", kinds[7])
        };
        assert_eq!(spec.delay.as_ref().and_then(|d| d.delay_ms), Some(200));
        let TimelineKind::Fault { spec, .. } = kinds[9] else {
            panic!("{:?}", kinds[9])
        };
        assert_eq!(spec.offset_ms, Some(-20 * 60 * 1000));
        assert!(kinds[4..].iter().all(|k| k.needs_double()));
        assert!(!kinds[..4].iter().any(|k| k.needs_double()));
    }

    #[test]
    fn fleet_actions_and_boot_delays_read_into_their_kinds() {
        let fixture = Fixture::new("fleet-kinds");
        let head = HEAD.replace(
            "workers_per_instance = 1\n",
            "workers_per_instance = 1\nboot_delay = \"1.5s\"\n",
        );
        let timeline = r#"[[timeline]]
at = "1s"
action = "set-launch-template"
group = "web"
boot_delay = "2s"
[[timeline]]
at = "2s"
action = "replace"
group = "web"
batch = 2
pause = "1s"
[[timeline]]
at = "3s"
action = "replace"
group = "web"
"#;
        let scenario = parse("t.toml", &format!("{head}{timeline}"), &fixture.0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.fleet[0].boot_delay, Duration::from_millis(1500));
        let kinds: Vec<&TimelineKind> = scenario.timeline.iter().map(|a| &a.kind).collect();
        assert_eq!(
            kinds,
            [
                &TimelineKind::SetLaunchTemplate {
                    group: "web".into(),
                    instance_profile: None,
                    workers_per_instance: None,
                    boot_delay: Some(Duration::from_secs(2)),
                },
                &TimelineKind::Replace {
                    group: "web".into(),
                    batch: 2,
                    pause: Duration::from_secs(1),
                },
                &TimelineKind::Replace {
                    group: "web".into(),
                    batch: 1,
                    pause: Duration::ZERO,
                },
            ]
        );
        assert!(kinds.iter().all(|k| k.needs_double()));
        // The starting fleet's delay defaults to none.
        let plain = parse("t.toml", HEAD, &fixture.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.fleet[0].boot_delay, Duration::ZERO);
    }

    #[test]
    fn fleet_action_problems_point_at_the_field() {
        let cases: &[(&str, &str, (usize, usize), &str)] = &[
            (
                "replace without a group",
                "[[timeline]]\nat = \"1s\"\naction = \"replace\"\nbatch = 2\n",
                (3, 10),
                "replace needs `group`",
            ),
            (
                "replace batch of zero",
                "[[timeline]]\nat = \"1s\"\naction = \"replace\"\ngroup = \"web\"\nbatch = 0\n",
                (5, 9),
                "`batch` must be between 1 and 1024 (got 0)",
            ),
            (
                "replace with a bad pause",
                "[[timeline]]\nat = \"1s\"\naction = \"replace\"\ngroup = \"web\"\npause = \"2 hours\"\n",
                (5, 12),
                "invalid duration",
            ),
            (
                "batch on scale-out",
                "[[timeline]]\nat = \"1s\"\naction = \"scale-out\"\ngroup = \"web\"\nby = 2\nbatch = 2\n",
                (6, 9),
                "`batch` is not used by scale-out",
            ),
            (
                "boot delay over the limit",
                "[[timeline]]\nat = \"1s\"\naction = \"set-launch-template\"\ngroup = \"web\"\nboot_delay = \"11m\"\n",
                (5, 14),
                "`boot_delay` of 660s is longer than the 600s limit",
            ),
            (
                "replace of an unknown group",
                "[[timeline]]\nat = \"1s\"\naction = \"replace\"\ngroup = \"db\"\n",
                (4, 9),
                "replace at 1s refers to unknown group \"db\"",
            ),
        ];
        for (name, timeline, (line, col), message) in cases {
            let tag = name.replace(' ', "-");
            let (l, c, m) = only_error(&tag, timeline);
            assert_eq!((l, c), (*line, *col), "case {name:?}: {m}");
            assert!(m.starts_with(message), "case {name:?}: {m}");
        }
    }

    #[test]
    fn problems_point_at_the_field() {
        let cases: &[(&str, String, (usize, usize), &str)] = &[
            (
                "unused field",
                "[[timeline]]\nat = \"1s\"\naction = \"imds-outage\"\nmode = \"refuse\"\nfor = \"1s\"\nrole = \"app-role\"\n".into(),
                (6, 8),
                "`role` is not used by imds-outage",
            ),
            (
                "measure on a double-only action",
                "[[timeline]]\nat = \"1s\"\naction = \"latency\"\nmodel = \"fixed\"\ndelay = \"1s\"\nfor = \"1s\"\nmeasure = \"grant\"\n".into(),
                (7, 11),
                "`measure` is not used by latency",
            ),
            (
                "missing window",
                "[[timeline]]\nat = \"1s\"\naction = \"clock-skew\"\noffset = \"5m\"\n".into(),
                (3, 10),
                "clock-skew needs `for`",
            ),
            (
                "unknown bucket",
                "[[timeline]]\nat = \"1s\"\naction = \"delete-bucket-policy\"\nbucket = \"asets\"\n".into(),
                (4, 10),
                "delete-bucket-policy at 1s refers to unknown bucket \"asets\"",
            ),
            (
                "unknown group",
                "[[timeline]]\nat = \"1s\"\naction = \"imds-throttle\"\ngroup = \"db\"\nrate_per_s = 1\nfor = \"1s\"\n".into(),
                (4, 9),
                "imds-throttle at 1s refers to unknown group \"db\"",
            ),
            (
                "bad outage mode",
                "[[timeline]]\nat = \"1s\"\naction = \"imds-outage\"\nmode = \"drop\"\nfor = \"1s\"\n".into(),
                (4, 8),
                "unknown IMDS outage mode \"drop\"",
            ),
            (
                "not an ARN",
                "[[timeline]]\nat = \"1s\"\naction = \"detach-role-policy\"\nrole = \"app-role\"\npolicy_arn = \"p\"\n".into(),
                (5, 14),
                "\"p\" is not a managed policy ARN",
            ),
            (
                "throttle-storm of an unknown service",
                "[[timeline]]\nat = \"1s\"\naction = \"throttle-storm\"\nservice = \"ec3\"\nfor = \"1s\"\n".into(),
                (4, 11),
                "unknown service \"ec3\"",
            ),
            (
                "error-inject with a bad code",
                "[[timeline]]\nat = \"1s\"\naction = \"error-inject\"\nstatus = 500\ncode = \"a b\"\nfor = \"1s\"\n".into(),
                (3, 10),
                "invalid error-inject action: code \"a b\" must be 1-128 letters, digits, '.' or '_'",
            ),
            (
                "typo in the action",
                "[[timeline]]\nat = \"1s\"\naction = \"imds-outag\"\n".into(),
                (3, 10),
                "unknown timeline action \"imds-outag\"",
            ),
        ];
        for (name, timeline, (line, col), message) in cases {
            let tag = name.replace(' ', "-");
            let got = only_error(&tag, timeline);
            assert_eq!(got, (*line, *col, (*message).to_owned()), "case {name:?}");
        }
    }
}
