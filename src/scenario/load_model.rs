//! Validation of a `[[load]]` entry's load model: open (a rate profile and
//! an arrival process) or closed (looping workers with think time). Owns the
//! fields `rate`, `ramp`, `steps`, `spike`, `sine`, `arrivals`, `model`,
//! `workers` and `think_time`, and the key choice (`key_choice`,
//! `zipf_exponent`) and the role target (`role`, `session_name`); the rest
//! of the entry is checked in `mod.rs`.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::model::{RatePerS, RawLoad};
use super::{MAX_WORKERS_PER_INSTANCE, Names, Op, Validator, check_rate_per_s};
pub use crate::load::keys::KeyChoice;
pub use crate::load::profile::{Arrivals, RateProfile, Stage};

/// How a load entry generates requests.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// Requests arrive on a schedule, whatever the answers do; latency is
    /// from the intended start.
    Open {
        profile: RateProfile,
        arrivals: Arrivals,
    },
    /// Each of `workers` loops per instance: request, answer, think.
    Closed {
        workers_per_instance: u32,
        think_time: Duration,
    },
}

impl LoadModel {
    /// The open model's profile, if any.
    pub fn profile(&self) -> Option<&RateProfile> {
        match self {
            LoadModel::Open { profile, .. } => Some(profile),
            LoadModel::Closed { .. } => None,
        }
    }

    /// The open model's highest rate, requests per second.
    pub fn peak_per_s(&self) -> Option<f64> {
        self.profile().map(RateProfile::peak_per_s)
    }
}

/// The role an `sts:AssumeRole` or `iam:GetRole` entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTarget {
    /// Names an `[[iam.roles]]` entry.
    pub name: String,
    /// `sts:AssumeRole`'s `RoleSessionName`; `None` for `iam:GetRole`.
    pub session_name: Option<String>,
}

/// AssumeRole's default `RoleSessionName`.
pub const DEFAULT_SESSION_NAME: &str = "iamstorm";

const RATE_HELP: &str = "a rate is requests per second across the whole fleet, for example 200";
const PROFILE_FIELDS: &str = "`rate`, `ramp`, `steps`, `spike` or `sine`";

impl Validator<'_> {
    /// A rate in a profile; `zero_ok` for rates a profile may pass through.
    fn profile_rate(
        &mut self,
        rate: &Spanned<RatePerS>,
        field: &str,
        zero_ok: bool,
    ) -> Option<f64> {
        let value = rate.get_ref().0;
        if zero_ok && value == 0.0 {
            return Some(0.0);
        }
        match check_rate_per_s(value) {
            Ok(rate) => Some(rate),
            Err(error) => {
                self.error(rate.span(), format!("{field} {error}"), RATE_HELP);
                None
            }
        }
    }

    /// A duration in a profile that must be above zero.
    fn positive_duration(&mut self, value: &super::Text, field: &str) -> Option<Duration> {
        let d = self.duration(value, field)?;
        if d.is_zero() {
            self.error(
                value.span(),
                format!("`{field}` must be longer than 0s"),
                "use a duration such as \"1s\"",
            );
            return None;
        }
        Some(d)
    }

    /// `size`: `Some(None)` when absent, `None` after an error.
    pub(super) fn put_size(&mut self, raw: &RawLoad, op: Option<Op>) -> Option<Option<u64>> {
        let Some(size) = &raw.size else {
            return Some(None);
        };
        if op.is_some_and(|op| op != Op::S3PutObject) {
            self.error(
                size.span(),
                format!(
                    "`size` is the s3:PutObject body size; {} sends none",
                    raw.op().get_ref()
                ),
                "remove `size`, or use it on an s3:PutObject entry (or mix item)",
            );
            return None;
        }
        self.object_size(size, "size").map(Some)
    }

    /// The entry's own `sdk`: `Some(None)` when absent, `None` after an error.
    pub(super) fn entry_sdk(&mut self, raw: &RawLoad) -> Option<Option<super::SdkBehaviour>> {
        let Some(sdk) = &raw.sdk else {
            return Some(None);
        };
        if let Some(buffer) = &sdk.identity_cache_buffer {
            self.error(
                buffer.span(),
                "`identity_cache_buffer` belongs to the instance, not to one entry",
                "set it under [sdk]: each instance has one identity cache shared by its calls",
            );
            return None;
        }
        if let Some(lean) = &sdk.lean {
            self.error(
                lean.span(),
                "`lean` belongs to the instance's client, not to one entry",
                "set it under [sdk]: each instance has one S3 client shared by its entries",
            );
            return None;
        }
        self.sdk(Some(sdk)).map(Some)
    }

    /// The entry's role target: `Some(None)` when the op takes none,
    /// `None` after an error.
    pub(super) fn role_target(
        &mut self,
        raw: &RawLoad,
        op: Option<Op>,
        roles: &Names<'_>,
    ) -> Option<Option<RoleTarget>> {
        let op = op?;
        if !op.needs_role() {
            for (field, value) in [("role", &raw.role), ("session_name", &raw.session_name)] {
                if let Some(v) = value {
                    self.error(
                        v.span(),
                        format!("{op} does not take `{field}`"),
                        "only sts:AssumeRole and iam:GetRole are about a role",
                    );
                    return None;
                }
            }
            return Some(None);
        }
        let Some(role) = &raw.role else {
            self.error(
                raw.op().span(),
                format!("{op} needs `role`"),
                "add role = \"...\" naming one of the [[iam.roles]]",
            );
            return None;
        };
        let what = format!("load {:?}", raw.op().get_ref());
        if !self.reference(role, roles, &what, "role", "[[iam.roles]]") {
            return None;
        }
        let session_name = match (op, &raw.session_name) {
            (Op::StsAssumeRole, None) => Some(DEFAULT_SESSION_NAME.to_owned()),
            (Op::StsAssumeRole, Some(s)) => {
                let v = s.get_ref();
                let valid = (2..=64).contains(&v.len())
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
                if !valid {
                    self.error(
                        s.span(),
                        format!(
                            "session_name {v:?} must be 2 to 64 of letters, digits and _+=,.@-"
                        ),
                        "STS's RoleSessionName rule",
                    );
                    return None;
                }
                Some(v.clone())
            }
            (_, Some(s)) => {
                self.error(
                    s.span(),
                    format!("{op} does not take `session_name`"),
                    "session_name is for sts:AssumeRole",
                );
                return None;
            }
            (_, None) => None,
        };
        Some(Some(RoleTarget {
            name: role.get_ref().clone(),
            session_name,
        }))
    }

    /// How the entry picks among its keys.
    pub(super) fn key_choice(&mut self, raw: &RawLoad) -> Option<KeyChoice> {
        let zipf = match &raw.key_choice {
            None => false,
            Some(c) if c.get_ref() == "uniform" => false,
            Some(c) if c.get_ref() == "zipf" => true,
            Some(c) => {
                self.error(
                    c.span(),
                    format!("unknown key_choice {:?}", c.get_ref()),
                    "use \"uniform\" (every key alike) or \"zipf\" (a few hot keys, a long tail)",
                );
                return None;
            }
        };
        if let (Some(c), None) = (&raw.key_choice, &raw.keys) {
            self.error(
                c.span(),
                "`key_choice` needs `keys`",
                "key_choice picks among the keys of `keys`; remove it for ops without keys",
            );
            return None;
        }
        if !zipf {
            if let Some(e) = &raw.zipf_exponent {
                self.error(
                    e.span(),
                    "`zipf_exponent` applies only to key_choice = \"zipf\"",
                    "add key_choice = \"zipf\", or remove zipf_exponent",
                );
                return None;
            }
            return Some(KeyChoice::Uniform);
        }
        let exponent = raw.zipf_exponent.as_ref().map_or(1.0, |e| *e.get_ref());
        if !(exponent.is_finite() && exponent > 0.0 && exponent <= 10.0) {
            let span = raw
                .zipf_exponent
                .as_ref()
                .map_or(raw.op().span(), |e| e.span());
            self.error(
                span,
                format!("zipf_exponent must be above 0 and at most 10 (got {exponent})"),
                "1.0 is classic Zipf; higher concentrates requests on fewer keys",
            );
            return None;
        }
        Some(KeyChoice::Zipf { exponent })
    }

    /// The entry's load model; `window` is `end - start` when both are valid.
    pub(super) fn load_model(
        &mut self,
        raw: &RawLoad,
        window: Option<Duration>,
    ) -> Option<LoadModel> {
        let closed = match &raw.model {
            None => false,
            Some(m) if m.get_ref() == "open" => false,
            Some(m) if m.get_ref() == "closed" => true,
            Some(m) => {
                self.error(
                    m.span(),
                    format!("unknown load model {:?}", m.get_ref()),
                    "use \"open\" (an arrival rate) or \"closed\" (workers with think_time)",
                );
                return None;
            }
        };
        let profiles: Vec<(&str, Range<usize>)> = [
            raw.rate.as_ref().map(|v| ("rate", v.span())),
            raw.ramp.as_ref().map(|v| ("ramp", v.span())),
            raw.steps.as_ref().map(|v| ("steps", v.span())),
            raw.spike.as_ref().map(|v| ("spike", v.span())),
            raw.sine.as_ref().map(|v| ("sine", v.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if closed {
            let mut ok = true;
            let mut forbid = |this: &mut Self, field: &str, span: Range<usize>| {
                this.error(
                    span,
                    format!("`{field}` does not apply to model = \"closed\""),
                    "a closed model sends as fast as its workers and think_time allow; remove it or use model = \"open\"",
                );
                ok = false;
            };
            for (field, span) in &profiles {
                forbid(self, field, span.clone());
            }
            if let Some(a) = &raw.arrivals {
                forbid(self, "arrivals", a.span());
            }
            let workers = match &raw.workers {
                Some(w) => self.int::<u32>(
                    w,
                    "workers",
                    1..=i64::from(MAX_WORKERS_PER_INSTANCE),
                    "workers are looping senders per instance",
                ),
                None => {
                    self.error(
                        raw.model.as_ref().map_or(raw.op().span(), |m| m.span()),
                        "model = \"closed\" needs `workers`",
                        "add workers = 4: the looping senders per instance",
                    );
                    None
                }
            };
            let think_time = match &raw.think_time {
                Some(t) => self.duration(t, "think_time"),
                None => Some(Duration::ZERO),
            };
            return match (ok, workers, think_time) {
                (true, Some(workers_per_instance), Some(think_time)) => Some(LoadModel::Closed {
                    workers_per_instance,
                    think_time,
                }),
                _ => None,
            };
        }
        for (field, value) in [
            ("workers", raw.workers.as_ref().map(|v| v.span())),
            ("think_time", raw.think_time.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = value {
                self.error(
                    span,
                    format!("`{field}` applies only to model = \"closed\""),
                    "add model = \"closed\", or remove it for an arrival-rate entry",
                );
            }
        }
        let arrivals = match &raw.arrivals {
            None => Some(Arrivals::Uniform),
            Some(a) if a.get_ref() == "uniform" => Some(Arrivals::Uniform),
            Some(a) if a.get_ref() == "poisson" => Some(Arrivals::Poisson),
            Some(a) => {
                self.error(
                    a.span(),
                    format!("unknown arrivals {:?}", a.get_ref()),
                    "use \"uniform\" (evenly spaced) or \"poisson\" (random, seeded from the run seed)",
                );
                None
            }
        };
        match profiles.as_slice() {
            [] => {
                self.error(
                    raw.op().span(),
                    format!("load {:?} needs a rate", raw.op().get_ref()),
                    format!("add one of {PROFILE_FIELDS}, for example rate = 100"),
                );
                return None;
            }
            [_] => {}
            [(first, _), (second, span), ..] => {
                self.error(
                    span.clone(),
                    format!("`{second}` and `{first}` both set this entry's rate"),
                    format!("keep exactly one of {PROFILE_FIELDS}"),
                );
                return None;
            }
        }
        let profile = self.profile(raw, window)?;
        if profile.peak_per_s() <= 0.0 {
            self.error(
                profiles[0].1.clone(),
                "this rate profile never sends a request",
                "give it a rate above 0 somewhere",
            );
            return None;
        }
        Some(LoadModel::Open {
            profile,
            arrivals: arrivals?,
        })
    }

    fn profile(&mut self, raw: &RawLoad, window: Option<Duration>) -> Option<RateProfile> {
        if let Some(rate) = &raw.rate {
            let rate_per_s = self.profile_rate(rate, "rate", false)?;
            return Some(RateProfile::Constant { rate_per_s });
        }
        if let Some(ramp) = &raw.ramp {
            let from = self.profile_rate(&ramp.get_ref().from, "ramp.from", true);
            let to = self.profile_rate(&ramp.get_ref().to, "ramp.to", true);
            return Some(RateProfile::Ramp {
                from_per_s: from?,
                to_per_s: to?,
            });
        }
        if let Some(steps) = &raw.steps {
            if steps.get_ref().is_empty() {
                self.error(
                    steps.span(),
                    "`steps` has no stage",
                    "write stages like steps = [{ rate = 50, duration = \"2s\" }, { rate = 200, duration = \"3s\" }]",
                );
                return None;
            }
            let mut stages = Vec::new();
            let mut ok = true;
            for stage in steps.get_ref() {
                let rate = self.profile_rate(&stage.rate, "steps.rate", true);
                let length = self.positive_duration(&stage.duration, "steps.duration");
                match (rate, length) {
                    (Some(rate_per_s), Some(length)) => stages.push(Stage { rate_per_s, length }),
                    _ => ok = false,
                }
            }
            let total: Duration = stages.iter().map(|s| s.length).sum();
            if let (true, Some(window)) = (ok, window)
                && total > window
            {
                self.error(
                    steps.span(),
                    format!("the stages last {total:?} but the entry runs for {window:?}"),
                    "shorten the stages or widen the entry's start..end (the last stage's rate holds until the end)",
                );
                ok = false;
            }
            return ok.then_some(RateProfile::Steps { stages });
        }
        if let Some(spike) = &raw.spike {
            let s = spike.get_ref();
            let base = self.profile_rate(&s.base, "spike.base", true);
            let peak = self.profile_rate(&s.peak, "spike.peak", false);
            let at = self.duration(&s.at, "spike.at");
            let length = self.positive_duration(&s.length, "spike.for");
            if let (Some(at), Some(window)) = (at, window)
                && at >= window
            {
                self.error(
                    s.at.span(),
                    format!("the spike starts at {at:?}, after the entry's {window:?} window"),
                    "spike.at is measured from the entry's start",
                );
                return None;
            }
            return Some(RateProfile::Spike {
                base_per_s: base?,
                peak_per_s: peak?,
                at: at?,
                length: length?,
            });
        }
        if let Some(sine) = &raw.sine {
            let s = sine.get_ref();
            let mean = self.profile_rate(&s.mean, "sine.mean", false);
            let amplitude = self.profile_rate(&s.amplitude, "sine.amplitude", true);
            let period = self.positive_duration(&s.period, "sine.period");
            if let (Some(mean), Some(amplitude)) = (mean, amplitude)
                && amplitude > mean
            {
                self.error(
                    s.amplitude.span(),
                    format!("sine.amplitude ({amplitude}) is above sine.mean ({mean}): the rate would go negative"),
                    "keep amplitude <= mean",
                );
                return None;
            }
            return Some(RateProfile::Sine {
                mean_per_s: mean?,
                amplitude_per_s: amplitude?,
                period: period?,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScenarioError, parse};

    /// A minimal scenario whose one `[[load]]` is `load`, from line 16 on
    /// (`op` on line 15).
    fn with_load(load: &str) -> Result<LoadModel, ScenarioError> {
        let text = format!(
            "name = \"t\"\nduration = \"10s\"\n\
             [[iam.roles]]\nname = \"r\"\ntrust = \"ec2\"\n\
             [[iam.instance_profiles]]\nname = \"p\"\nrole = \"r\"\n\
             [[fleet]]\ngroup = \"g\"\ninstance_profile = \"p\"\ninstances = 1\nworkers_per_instance = 1\n\
             [[load]]\nop = \"sts:GetCallerIdentity\"\n{load}\n"
        );
        parse("t.toml", &text, std::path::Path::new(".")).map(|s| s.load[0].model.clone())
    }

    /// The one diagnostic: line, column, message.
    fn error(load: &str) -> (u32, u32, String) {
        let error = with_load(load).expect_err(load);
        let [d] = &error.diagnostics[..] else {
            panic!("expected one diagnostic for {load:?}: {error}")
        };
        (d.line, d.col, d.message.clone())
    }

    #[test]
    fn every_profile_reads() {
        let cases: &[(&str, RateProfile)] = &[
            ("rate = 5", RateProfile::Constant { rate_per_s: 5.0 }),
            (
                "ramp = { from = 0, to = 50 }",
                RateProfile::Ramp {
                    from_per_s: 0.0,
                    to_per_s: 50.0,
                },
            ),
            (
                "steps = [{ rate = 5, duration = \"2s\" }, { rate = 0, duration = \"500ms\" }]",
                RateProfile::Steps {
                    stages: vec![
                        Stage {
                            rate_per_s: 5.0,
                            length: Duration::from_secs(2),
                        },
                        Stage {
                            rate_per_s: 0.0,
                            length: Duration::from_millis(500),
                        },
                    ],
                },
            ),
            (
                "spike = { base = 1, peak = 90, at = \"3s\", for = \"1s\" }",
                RateProfile::Spike {
                    base_per_s: 1.0,
                    peak_per_s: 90.0,
                    at: Duration::from_secs(3),
                    length: Duration::from_secs(1),
                },
            ),
            (
                "sine = { mean = 10, amplitude = 10, period = \"4s\" }",
                RateProfile::Sine {
                    mean_per_s: 10.0,
                    amplitude_per_s: 10.0,
                    period: Duration::from_secs(4),
                },
            ),
        ];
        for (load, profile) in cases {
            let model = with_load(&format!("{load}\narrivals = \"poisson\""))
                .unwrap_or_else(|e| panic!("{load}: {e}"));
            assert_eq!(
                model,
                LoadModel::Open {
                    profile: profile.clone(),
                    arrivals: Arrivals::Poisson
                }
            );
        }
        assert_eq!(
            with_load("rate = 5").unwrap(),
            LoadModel::Open {
                profile: RateProfile::Constant { rate_per_s: 5.0 },
                arrivals: Arrivals::Uniform
            }
        );
    }

    /// A scenario with a bucket and one s3 `[[load]]` of `load`'s fields.
    fn s3_entry(load: &str) -> Result<crate::scenario::LoadEntry, ScenarioError> {
        let text = format!(
            "name = \"t\"\nduration = \"10s\"\n\
             [[iam.roles]]\nname = \"r\"\ntrust = \"ec2\"\n\
             [[iam.instance_profiles]]\nname = \"p\"\nrole = \"r\"\n\
             [[s3.buckets]]\nname = \"bkt\"\n\
             [[fleet]]\ngroup = \"g\"\ninstance_profile = \"p\"\ninstances = 1\nworkers_per_instance = 1\n\
             [[load]]\nbucket = \"bkt\"\nrate = 1\n{load}\n"
        );
        parse("t.toml", &text, std::path::Path::new(".")).map(|s| s.load[0].clone())
    }

    #[test]
    fn key_choice_reads_and_is_checked() {
        let e = s3_entry("op = \"s3:DeleteObject\"\nkeys = \"k-{0..9}\"\nkey_choice = \"zipf\"\nzipf_exponent = 1.3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.op, crate::scenario::Op::S3DeleteObject);
        assert_eq!(e.key_choice, KeyChoice::Zipf { exponent: 1.3 });
        let e =
            s3_entry("op = \"s3:GetObject\"\nkeys = \"k-{0..9}\"\nkey_choice = \"zipf\"").unwrap();
        assert_eq!(e.key_choice, KeyChoice::Zipf { exponent: 1.0 });
        let e = s3_entry("op = \"s3:GetObject\"\nkeys = \"k\"").unwrap();
        assert_eq!(e.key_choice, KeyChoice::Uniform);
        // Line 19 is the first line of `load`.
        let cases: &[(&str, u32, u32, &str)] = &[
            (
                "op = \"s3:GetObject\"\nkeys = \"k\"\nkey_choice = \"hot\"",
                21,
                14,
                "unknown key_choice \"hot\"",
            ),
            (
                "op = \"s3:ListObjectsV2\"\nkey_choice = \"zipf\"",
                20,
                14,
                "`key_choice` needs `keys`",
            ),
            (
                "op = \"s3:GetObject\"\nkeys = \"k\"\nzipf_exponent = 2.0",
                21,
                17,
                "applies only to key_choice = \"zipf\"",
            ),
            (
                "op = \"s3:GetObject\"\nkeys = \"k\"\nkey_choice = \"zipf\"\nzipf_exponent = -1.0",
                22,
                17,
                "zipf_exponent must be above 0",
            ),
            (
                "op = \"s3:DeleteObject\"",
                19,
                6,
                "s3:DeleteObject needs `keys`",
            ),
        ];
        for &(load, line, col, message) in cases {
            let error = s3_entry(load).expect_err(load);
            let [d] = &error.diagnostics[..] else {
                panic!("one diagnostic for {load:?}: {error}")
            };
            assert!(d.message.contains(message), "{load:?}: {}", d.message);
            assert_eq!((d.line, d.col), (line, col), "{load:?}: {}", d.message);
        }
    }

    /// A scenario with role "r" and one `[[load]]` of `load`'s fields, from line 15.
    fn entry(load: &str) -> Result<crate::scenario::LoadEntry, ScenarioError> {
        let text = format!(
            "name = \"t\"\nduration = \"10s\"\n\
             [[iam.roles]]\nname = \"r\"\ntrust = \"ec2\"\n\
             [[iam.instance_profiles]]\nname = \"p\"\nrole = \"r\"\n\
             [[fleet]]\ngroup = \"g\"\ninstance_profile = \"p\"\ninstances = 1\nworkers_per_instance = 1\n\
             [[load]]\nrate = 1\n{load}\n"
        );
        parse("t.toml", &text, std::path::Path::new(".")).map(|s| s.load[0].clone())
    }

    #[test]
    fn role_targets_read_and_are_checked() {
        let e = entry("op = \"sts:AssumeRole\"\nrole = \"r\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e.role,
            Some(RoleTarget {
                name: "r".into(),
                session_name: Some(DEFAULT_SESSION_NAME.into())
            })
        );
        let e = entry("op = \"iam:GetRole\"\nrole = \"r\"").unwrap();
        assert_eq!(e.op.service(), crate::scenario::Service::Iam);
        assert_eq!(
            e.role,
            Some(RoleTarget {
                name: "r".into(),
                session_name: None
            })
        );
        assert_eq!(entry("op = \"sts:GetCallerIdentity\"").unwrap().role, None);
        let cases: &[(&str, u32, u32, &str)] = &[
            (
                "op = \"sts:AssumeRole\"",
                16,
                6,
                "sts:AssumeRole needs `role`",
            ),
            (
                "op = \"iam:GetRole\"\nrole = \"q\"",
                17,
                8,
                "refers to unknown role \"q\"",
            ),
            (
                "op = \"sts:AssumeRole\"\nrole = \"r\"\nsession_name = \"a b\"",
                18,
                16,
                "session_name \"a b\" must be",
            ),
            (
                "op = \"iam:GetRole\"\nrole = \"r\"\nsession_name = \"ab\"",
                18,
                16,
                "iam:GetRole does not take `session_name`",
            ),
            (
                "op = \"sts:GetCallerIdentity\"\nrole = \"r\"",
                17,
                8,
                "sts:GetCallerIdentity does not take `role`",
            ),
        ];
        for &(load, line, col, message) in cases {
            let error = entry(load).expect_err(load);
            let [d] = &error.diagnostics[..] else {
                panic!("one diagnostic for {load:?}: {error}")
            };
            assert!(d.message.contains(message), "{load:?}: {}", d.message);
            assert_eq!((d.line, d.col), (line, col), "{load:?}: {}", d.message);
        }
    }

    #[test]
    fn closed_model_reads() {
        assert_eq!(
            with_load("model = \"closed\"\nworkers = 3\nthink_time = \"250ms\"").unwrap(),
            LoadModel::Closed {
                workers_per_instance: 3,
                think_time: Duration::from_millis(250)
            }
        );
        assert_eq!(
            with_load("model = \"closed\"\nworkers = 1").unwrap(),
            LoadModel::Closed {
                workers_per_instance: 1,
                think_time: Duration::ZERO
            }
        );
    }

    #[test]
    fn bad_models_are_reported_where_they_are() {
        let cases: &[(&str, u32, u32, &str)] = &[
            ("", 15, 6, "needs a rate"),
            (
                "rate = 5\nramp = { from = 1, to = 2 }",
                17,
                8,
                "`ramp` and `rate` both set",
            ),
            (
                "ramp = { from = -1, to = 2 }",
                16,
                17,
                "ramp.from must be greater than 0",
            ),
            ("ramp = { from = 1 }", 16, 8, "missing field `to`"),
            (
                "ramp = { from = 0, to = 0 }",
                16,
                8,
                "never sends a request",
            ),
            (
                "rate = 5\narrivals = \"bursty\"",
                17,
                12,
                "unknown arrivals \"bursty\"",
            ),
            ("steps = []", 16, 9, "`steps` has no stage"),
            (
                "steps = [{ rate = 5, duration = \"8s\" }, { rate = 5, duration = \"3s\" }]",
                16,
                9,
                "the stages last 11s but the entry runs for 10s",
            ),
            (
                "steps = [{ rate = 5, duration = \"0s\" }]",
                16,
                33,
                "`steps.duration` must be longer than 0s",
            ),
            (
                "spike = { base = 1, peak = 9, at = \"12s\", for = \"1s\" }",
                16,
                36,
                "after the entry's 10s window",
            ),
            (
                "sine = { mean = 5, amplitude = 6, period = \"1s\" }",
                16,
                32,
                "sine.amplitude (6) is above sine.mean (5)",
            ),
            ("model = \"shut\"", 16, 9, "unknown load model \"shut\""),
            ("model = \"closed\"", 16, 9, "needs `workers`"),
            (
                "model = \"closed\"\nworkers = 0",
                17,
                11,
                "`workers` must be",
            ),
            (
                "model = \"closed\"\nworkers = 2\nrate = 5",
                18,
                8,
                "`rate` does not apply to model = \"closed\"",
            ),
            (
                "rate = 5\nworkers = 2",
                17,
                11,
                "applies only to model = \"closed\"",
            ),
            (
                "model = \"closed\"\nworkers = 2\nthink_time = \"soon\"",
                18,
                14,
                "invalid duration \"soon\" for `think_time`",
            ),
        ];
        for &(load, line, col, message) in cases {
            let (l, c, m) = error(load);
            assert!(m.contains(message), "{load:?}: {m:?} lacks {message:?}");
            assert_eq!((l, c), (line, col), "{load:?}: {m}");
        }
    }
}
