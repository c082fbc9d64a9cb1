//! `[target]`: where a run's requests go and, for targets that are not the
//! embedded double, the safety rails the scenario asks for — the resources
//! it may change (`mutable`) and hard caps on rate and total requests.
//! The command line can override the kind, URL and caps (`run --target`).

use std::fmt;

use super::model::RawTarget;
use super::{Validator, check_rate_per_s};

/// Which kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// The embedded double on loopback ports (default).
    Sim,
    /// Any AWS-compatible endpoint: a standalone `iamstorm sim` (detected
    /// by its admin API: every feature), LocalStack, moto.
    Endpoint,
    /// Real AWS through the default credential chain; needs `--allow-aws`.
    Aws,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Sim => "sim",
            TargetKind::Endpoint => "endpoint",
            TargetKind::Aws => "aws",
        }
    }

    /// `"sim"`, `"endpoint"` or `"aws"`.
    pub fn from_name(name: &str) -> Option<Self> {
        [TargetKind::Sim, TargetKind::Endpoint, TargetKind::Aws]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource the run may change on a real target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mutable {
    /// `role/NAME`: inline policies, attachments, trust, boundary.
    Role(String),
    /// `bucket/NAME`: the bucket policy.
    Bucket(String),
    /// `policy/ARN`: new versions of a managed policy.
    Policy(String),
}

impl fmt::Display for Mutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mutable::Role(n) => write!(f, "role/{n}"),
            Mutable::Bucket(n) => write!(f, "bucket/{n}"),
            Mutable::Policy(a) => write!(f, "policy/{a}"),
        }
    }
}

impl Mutable {
    /// `"role/NAME"`, `"bucket/NAME"` or `"policy/ARN"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, name) = text.split_once('/')?;
        if name.is_empty() {
            return None;
        }
        match kind {
            "role" => Some(Mutable::Role(name.to_owned())),
            "bucket" => Some(Mutable::Bucket(name.to_owned())),
            "policy" if name.starts_with("arn:") => Some(Mutable::Policy(name.to_owned())),
            _ => None,
        }
    }
}

/// `[target]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub kind: TargetKind,
    /// `endpoint`'s URL (an `aws` run may point at one too, as tests do).
    pub url: Option<String>,
    /// The signing region; `None`: the default chain's, else `us-east-1`.
    pub region: Option<String>,
    /// What the run may change on a non-embedded target.
    pub mutable: Vec<Mutable>,
    /// Hard cap on the fleet-wide rate, requests per second.
    pub max_rate_per_s: Option<f64>,
    /// Hard cap on the run's requests.
    pub max_requests: Option<u64>,
}

impl Default for TargetSpec {
    fn default() -> Self {
        Self {
            kind: TargetKind::Sim,
            url: None,
            region: None,
            mutable: Vec::new(),
            max_rate_per_s: None,
            max_requests: None,
        }
    }
}

/// The most requests a cap may allow (a typo should not reach AWS).
pub const MAX_REQUESTS_CAP: i64 = 1_000_000_000;

const KIND_HELP: &str = "use kind = \"sim\" (the embedded double, default), \"endpoint\" (with url = \"http://...\") or \"aws\" (real AWS; needs --allow-aws)";

impl Validator<'_> {
    pub(super) fn target(&mut self, raw: Option<&RawTarget>) -> Option<TargetSpec> {
        let Some(raw) = raw else {
            return Some(TargetSpec::default());
        };
        let kind = match TargetKind::from_name(raw.kind.get_ref()) {
            Some(kind) => Some(kind),
            None => {
                self.error(
                    raw.kind.span(),
                    format!("unknown target kind {:?}", raw.kind.get_ref()),
                    KIND_HELP,
                );
                None
            }
        };
        let url = raw.url.as_ref().and_then(|url| {
            let text = url.get_ref();
            if kind == Some(TargetKind::Sim) {
                self.error(
                    url.span(),
                    "`url` is not used with kind = \"sim\"",
                    "remove `url`: kind = \"sim\" starts the embedded double on loopback ports; use kind = \"endpoint\" for a URL",
                );
                return None;
            }
            if !(text.starts_with("http://") || text.starts_with("https://"))
                || text.parse::<http::Uri>().is_err()
            {
                self.error(
                    url.span(),
                    format!("`url` {text:?} is not an http(s) URL"),
                    "write the endpoint's base URL, for example url = \"http://127.0.0.1:4566\"",
                );
                return None;
            }
            Some(text.trim_end_matches('/').to_owned())
        });
        let region = raw.region.as_ref().and_then(|r| {
            let ok = !r.get_ref().is_empty()
                && r.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Some(r.get_ref().clone())
            } else {
                self.error(
                    r.span(),
                    format!("`region` {:?} is not a region name", r.get_ref()),
                    "write a region such as \"us-east-1\"",
                );
                None
            }
        });
        let mut mutable = Vec::new();
        for m in raw.mutable.iter().flatten() {
            match Mutable::parse(m.get_ref()) {
                Some(parsed) => mutable.push(parsed),
                None => self.error(
                    m.span(),
                    format!("`mutable` entry {:?} names no resource", m.get_ref()),
                    "write \"role/NAME\", \"bucket/NAME\" or \"policy/arn:aws:iam::ACCOUNT:policy/NAME\"",
                ),
            }
        }
        let max_rate_per_s =
            raw.max_rate
                .as_ref()
                .and_then(|rate| match check_rate_per_s(rate.get_ref().0) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.error(
                            rate.span(),
                            format!("`max_rate` {e}"),
                            "the cap on the fleet-wide rate, for example max_rate = \"100/s\"",
                        );
                        None
                    }
                });
        let max_requests = raw.max_requests.as_ref().and_then(|n| {
            self.int::<u64>(
                n,
                "max_requests",
                1..=MAX_REQUESTS_CAP,
                "the most requests the run may send, for example max_requests = 20000",
            )
        });
        let caps_ok = raw.max_rate.is_none() == max_rate_per_s.is_none()
            && raw.max_requests.is_none() == max_requests.is_none();
        let url_ok = raw.url.is_none() == url.is_none();
        let region_ok = raw.region.is_none() == region.is_none();
        let mutable_ok = mutable.len() == raw.mutable.as_ref().map_or(0, Vec::len);
        match kind {
            Some(kind) if caps_ok && url_ok && region_ok && mutable_ok => Some(TargetSpec {
                kind,
                url,
                region,
                mutable,
                max_rate_per_s,
                max_requests,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutable_grammar() {
        assert_eq!(
            Mutable::parse("role/app-role"),
            Some(Mutable::Role("app-role".into()))
        );
        assert_eq!(
            Mutable::parse("bucket/data"),
            Some(Mutable::Bucket("data".into()))
        );
        let arn = "policy/arn:aws:iam::123456789012:policy/app";
        assert_eq!(
            Mutable::parse(arn).map(|m| m.to_string()),
            Some(arn.to_owned())
        );
        for bad in ["role/", "app-role", "user/x", "policy/app", ""] {
            assert_eq!(Mutable::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in [TargetKind::Sim, TargetKind::Endpoint, TargetKind::Aws] {
            assert_eq!(TargetKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(TargetKind::from_name("localstack"), None);
    }
}
