//! `iamstorm sim` as a user runs it: a standalone double that prints
//! `export` lines an AWS client can use as they are, and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

#[tokio::test]
async fn sim_prints_working_exports_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(["sim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("iamstorm sim starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut exports = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 line");
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(k.to_owned(), v.to_owned());
        }
        if exports.len() == 5 {
            break;
        }
    }
    let endpoint = exports["AWS_ENDPOINT_URL"].clone();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(exports["AWS_REGION"].clone()))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                exports["AWS_ACCESS_KEY_ID"].clone(),
                exports["AWS_SECRET_ACCESS_KEY"].clone(),
                None,
                None,
                "exports",
            )),
        )
        .build();
    let who = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .expect("the exports work");
    assert_eq!(who.account(), Some("123456789012"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("sim exits");
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean shutdown");
}
