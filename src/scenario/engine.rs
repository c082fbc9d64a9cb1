//! `[[load]] engine`: what sends an entry's requests. `sdk` (the default)
//! is the real AWS SDK — what applications experience. `raw` signs with
//! `aws-sigv4` and sends over one shared hyper client, for capacity tests
//! where the SDK's own CPU cost would cap the load; it implements only
//! [`Engine::RAW_OPS`], never retries, and shares one connection pool per
//! run, so an entry's own `sdk` may not ask for retries or a connect timeout.

use super::model::RawLoad;
use super::{Op, Validator};

/// What sends a load entry's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// One real AWS SDK call per request (retries, interceptors, checksums).
    #[default]
    Sdk,
    /// A SigV4-signed HTTP request per request, nothing else.
    Raw,
}

impl Engine {
    /// The ops the raw engine implements.
    pub const RAW_OPS: [Op; 4] = [
        Op::S3GetObject,
        Op::S3HeadObject,
        Op::S3PutObject,
        Op::StsGetCallerIdentity,
    ];

    /// The scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sdk => "sdk",
            Engine::Raw => "raw",
        }
    }

    /// Whether this engine can send `op`.
    pub fn supports(self, op: Op) -> bool {
        match self {
            Engine::Sdk => true,
            Engine::Raw => Engine::RAW_OPS.contains(&op),
        }
    }
}

impl Validator<'_> {
    /// `engine`, checked against the op and the entry's own `sdk`; `None`
    /// after an error.
    pub(super) fn engine(&mut self, raw: &RawLoad, op: Option<Op>) -> Option<Engine> {
        let engine = match &raw.engine {
            None => return Some(Engine::Sdk),
            Some(e) if e.get_ref() == "sdk" => return Some(Engine::Sdk),
            Some(e) if e.get_ref() == "raw" => Engine::Raw,
            Some(e) => {
                self.error(
                    e.span(),
                    format!("unknown engine {:?}", e.get_ref()),
                    "use \"sdk\" (the AWS SDK, what applications experience; the default) or \"raw\" (signed HTTP without the SDK, for capacity tests)",
                );
                return None;
            }
        };
        let mut ok = true;
        if let Some(op) = op
            && !engine.supports(op)
        {
            let names = Engine::RAW_OPS.map(Op::as_str).join(", ");
            self.error(
                raw.op().span(),
                format!("{op} has no raw engine (engine = \"raw\")"),
                format!("the raw engine sends {names}; use engine = \"sdk\" for {op}"),
            );
            ok = false;
        }
        if let Some(sdk) = &raw.sdk {
            if let Some(retry) = sdk.retry.as_ref().filter(|r| r.get_ref() != "off") {
                self.error(
                    retry.span(),
                    "the raw engine does not retry",
                    "remove `retry` (or set it to \"off\"): every raw answer is counted as it came",
                );
                ok = false;
            }
            if let Some(attempts) = &sdk.max_attempts {
                self.error(
                    attempts.span(),
                    "the raw engine does not retry, so it has no `max_attempts`",
                    "remove `max_attempts` from this entry's sdk",
                );
                ok = false;
            }
            if let Some(connect) = &sdk.connect_timeout {
                self.error(
                    connect.span(),
                    "the raw engine's connection pool is shared by the whole run, so one entry cannot set its connect timeout",
                    "set connect_timeout under [sdk]; an entry's sdk may set operation_timeout",
                );
                ok = false;
            }
        }
        ok.then_some(engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{LoadEntry, ScenarioError, parse};

    /// A scenario whose one `[[load]]` (line 16) has `load`'s fields from
    /// line 19 on.
    fn entry(load: &str) -> Result<LoadEntry, ScenarioError> {
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

    fn one_error(load: &str) -> (u32, u32, String, String) {
        let error = entry(load).expect_err(load);
        let [d] = &error.diagnostics[..] else {
            panic!("one diagnostic for {load:?}: {error}")
        };
        (
            d.line,
            d.col,
            d.message.clone(),
            d.help.clone().unwrap_or_default(),
        )
    }

    #[test]
    fn sdk_is_the_default_and_raw_reads() {
        let e = entry("op = \"s3:GetObject\"\nkeys = \"k-{0..9}\"").unwrap();
        assert_eq!(e.engine, Engine::Sdk);
        let e = entry("op = \"s3:PutObject\"\nkeys = \"k-{0..9}\"\nengine = \"raw\"").unwrap();
        assert_eq!(e.engine, Engine::Raw);
        let e = entry(
            "op = \"s3:HeadObject\"\nkeys = \"k\"\nengine = \"raw\"\nsdk = { retry = \"off\", operation_timeout = \"1s\" }",
        )
        .unwrap();
        assert_eq!(e.engine, Engine::Raw);
    }

    #[test]
    fn raw_mistakes_are_located_and_name_the_way_out() {
        let (line, col, message, help) = one_error("op = \"s3:ListObjectsV2\"\nengine = \"raw\"");
        assert_eq!((line, col), (19, 6), "{message}");
        assert!(
            message.contains("s3:ListObjectsV2 has no raw engine"),
            "{message}"
        );
        assert!(
            help.contains("s3:GetObject, s3:HeadObject, s3:PutObject, sts:GetCallerIdentity"),
            "{help}"
        );
        let (line, col, message, help) =
            one_error("op = \"s3:GetObject\"\nkeys = \"k\"\nengine = \"fast\"");
        assert_eq!((line, col), (21, 10), "{message}");
        assert!(message.contains("unknown engine \"fast\""), "{message}");
        assert!(help.contains("\"raw\""), "{help}");
        let (line, col, message, _) = one_error(
            "op = \"s3:GetObject\"\nkeys = \"k\"\nengine = \"raw\"\nsdk = { retry = \"standard\" }",
        );
        assert_eq!((line, col), (22, 17), "{message}");
        assert!(message.contains("does not retry"), "{message}");
        let (line, _, message, help) = one_error(
            "op = \"s3:GetObject\"\nkeys = \"k\"\nengine = \"raw\"\nsdk = { connect_timeout = \"1s\" }",
        );
        assert_eq!(line, 22, "{message}");
        assert!(message.contains("shared by the whole run"), "{message}");
        assert!(help.contains("[sdk]"), "{help}");
    }

    #[test]
    fn a_mix_on_the_raw_engine_points_at_the_op_without_one() {
        let error = entry(
            "name = \"api\"\nkeys = \"k\"\nengine = \"raw\"\nmix = [{ op = \"s3:GetObject\", weight = 1 }, { op = \"s3:DeleteObject\", weight = 1 }]",
        )
        .expect_err("DeleteObject has no raw engine");
        let [d] = &error.diagnostics[..] else {
            panic!("one diagnostic: {error}")
        };
        assert_eq!(d.line, 22, "{error}");
        assert!(
            d.message.contains("s3:DeleteObject has no raw engine"),
            "{error}"
        );
    }
}
