//! A standalone `iamstorm sim` for tests that drive the binary against a
//! target outliving the run: its exports, SDK configuration, and the
//! `iamstorm` command with the default chain reading its keys.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// A standalone `iamstorm sim` (seeded with `scenario` if given) and the
/// environment its exports describe.
pub struct Sim {
    child: Child,
    pub env: HashMap<String, String>,
}

impl Sim {
    pub fn start(scenario: Option<&Path>) -> Sim {
        Sim::start_with(scenario, &[])
    }

    /// [`Sim::start`] with extra `iamstorm sim` flags.
    pub fn start_with(scenario: Option<&Path>, flags: &[&str]) -> Sim {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iamstorm"));
        cmd.args(["sim", "--listen", "127.0.0.1:0"]).args(flags);
        if let Some(s) = scenario {
            cmd.arg("--scenario").arg(s);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("iamstorm sim starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut env = HashMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                env.insert(k.to_owned(), v.to_owned());
            }
            if env.len() == 5 {
                break;
            }
        }
        assert_eq!(env.len(), 5, "iamstorm sim printed its exports");
        Sim { child, env }
    }

    pub fn url(&self) -> &str {
        &self.env["AWS_ENDPOINT_URL"]
    }

    /// `iamstorm ARGS` with the default chain reading the sim's keys from
    /// the environment and nothing else (no profile files; the chain stops
    /// at the environment, so it never reaches for a real IMDS).
    pub fn iamstorm(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iamstorm"));
        cmd.args(args)
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/nonexistent/iamstorm-test")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/iamstorm-test")
            .env("AWS_ACCESS_KEY_ID", &self.env["AWS_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", &self.env["AWS_SECRET_ACCESS_KEY"])
            .env("AWS_REGION", &self.env["AWS_REGION"])
            .env("NO_PROXY", "127.0.0.1");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.iamstorm(args).output().expect("iamstorm runs")
    }

    /// The operator's SDK configuration for this double.
    pub fn config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.env["AWS_REGION"].clone()))
            .endpoint_url(self.url())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                self.env["AWS_ACCESS_KEY_ID"].clone(),
                self.env["AWS_SECRET_ACCESS_KEY"].clone(),
                None,
                None,
                "test",
            )))
            .build()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
