//! Secret hygiene: a run against a standalone `iamstorm sim` as an endpoint
//! (so the operator's keys come from the default chain, and a timeline IAM
//! change fills the journal) writes none of the secrets it used — the
//! operator's secret key, the instances' secret keys and session tokens —
//! to stdout, stderr or any file of its results directory. The instances'
//! secrets are read back from their IMDS afterwards, as an SDK would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

mod standalone;
use standalone::Sim;

const OPERATOR_SECRET: &str = "hygieneOperatorSecret/0123456789abcdefGHIJ";
const OPERATOR_KEY: &str = "AKIAHYGIENETEST00001";

const SCENARIO: &str = r#"name = "hygiene"
seed = 11
duration = "3s"

[sim.propagation]
model = "fixed"
delay = "100ms"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { read = "read.json" }

[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"

[[s3.buckets]]
name = "assets"
objects = "obj-{0..9}"

[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 2
workers_per_instance = 2

[[load]]
name = "reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 30

[[load]]
name = "whoami"
op = "sts:GetCallerIdentity"
rate = 5

[[timeline]]
at = "1s"
action = "put-role-policy"
role = "app-role"
policy_name = "extra"
policy = "extra.json"
"#;

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;
const EXTRA_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::assets"}]}"#;

/// One HTTP/1.1 exchange over a fresh loopback connection; the body.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    body.to_owned()
}

/// The secret key and session token each instance's IMDS serves now (the
/// same it served during the run: the TTL is hours).
fn instance_secrets(sim: &Sim) -> Vec<String> {
    let admin = sim.url().trim_start_matches("http://").to_owned();
    let list: serde_json::Value =
        serde_json::from_str(&http(&admin, "GET", "/_iamstorm/instances", &[])).expect("json");
    let mut secrets = Vec::new();
    for instance in list["instances"].as_array().expect("instances") {
        let imds = instance["imds_endpoint"]
            .as_str()
            .expect("imds endpoint")
            .trim_start_matches("http://")
            .to_owned();
        let token = http(
            &imds,
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        );
        let auth = [("X-aws-ec2-metadata-token", token.trim())];
        let path = "/latest/meta-data/iam/security-credentials/";
        let role = http(&imds, "GET", path, &auth);
        let creds: serde_json::Value = serde_json::from_str(&http(
            &imds,
            "GET",
            &format!("{path}{}", role.trim()),
            &auth,
        ))
        .expect("credentials json");
        for field in ["SecretAccessKey", "Token"] {
            secrets.push(creds[field].as_str().expect(field).to_owned());
        }
    }
    assert_eq!(secrets.len(), 4, "two instances, a secret and a token each");
    secrets
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("results dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn no_secret_reaches_logs_reports_or_the_journal() {
    let dir = std::env::temp_dir().join(format!("iamstorm-hygiene-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("read.json"), READ_POLICY).expect("policy");
    std::fs::write(dir.join("extra.json"), EXTRA_POLICY).expect("policy");
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).expect("scenario");
    let sim = Sim::start_with(
        None,
        &[
            "--access-key-id",
            OPERATOR_KEY,
            "--secret-access-key",
            OPERATOR_SECRET,
        ],
    );
    assert_eq!(sim.env["AWS_SECRET_ACCESS_KEY"], OPERATOR_SECRET);
    let out = dir.join("out");
    let run = sim.run(&[
        "run",
        scenario.to_str().expect("utf-8"),
        "--target",
        "endpoint",
        "--endpoint-url",
        sim.url(),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{stderr}");
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).expect("a journal");
    assert!(
        journal.contains("put-role-policy"),
        "the timeline change was journaled: {journal}"
    );

    let mut secrets = vec![OPERATOR_SECRET.to_owned()];
    secrets.extend(instance_secrets(&sim));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("summary parses");
    assert!(
        summary["counts_by_class"]["ok"].as_u64() > Some(0),
        "the instances' credentials were used: {summary}"
    );

    let mut places = vec![("stdout".to_owned(), stdout), ("stderr".to_owned(), stderr)];
    for file in files_under(&out) {
        let bytes = std::fs::read(&file).expect("result file");
        places.push((
            file.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    assert!(
        places.len() > 8,
        "every output was looked at: {}",
        places.len()
    );
    for (place, text) in &places {
        for (i, secret) in secrets.iter().enumerate() {
            assert!(
                !text.contains(secret.as_str()),
                "secret #{i} (0: operator, then per instance: secret key, token) appears in {place}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The types that hold secret keys print them redacted: a `{:?}` in a log
/// line, an `expect` or a panic cannot leak them.
#[tokio::test]
async fn debug_output_of_secret_holding_types_is_redacted() {
    let config = iamstorm::sim::SimConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_secret_access_key: OPERATOR_SECRET.to_owned(),
        ..iamstorm::sim::SimConfig::default()
    };
    let handle = iamstorm::sim::start(config.clone()).await.expect("double");
    let options = iamstorm::sim_cmd::SimOptions {
        listen: config.listen,
        limits: Default::default(),
        seed: None,
        access_key_id: OPERATOR_KEY.to_owned(),
        secret_access_key: OPERATOR_SECRET.to_owned(),
        scenario: None,
        instance_credentials_ttl: None,
        imds_rotate_before: None,
        imds_association_lag: None,
    };
    let credential = iamstorm::sim::auth::Credential {
        access_key_id: OPERATOR_KEY.to_owned(),
        secret_access_key: OPERATOR_SECRET.to_owned(),
        session_token: Some("hygieneSessionToken".to_owned()),
        expires_at: None,
        principal: iamstorm::sim::auth::Principal::Root {
            account_id: "123456789012".to_owned(),
            user_arn: "arn:aws:iam::123456789012:root".to_owned(),
        },
    };
    for text in [
        format!("{config:?}"),
        format!("{handle:?}"),
        format!("{options:?}"),
        format!("{credential:?}"),
    ] {
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains(OPERATOR_SECRET), "{text}");
        assert!(!text.contains("hygieneSessionToken"), "{text}");
    }
}
