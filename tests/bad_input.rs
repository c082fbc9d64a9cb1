//! Bad input, table-driven: malformed scenarios, policies, flags, durations,
//! rates, references, and hostile requests to the double. Every case runs
//! the real binary and asserts the documented exit code (README: 2 for bad
//! input), a message naming the place (file:line:col for files), and no
//! panic. The double's cases drive a standalone `iamstorm sim` over loopback
//! with raw sockets and the real SDK, and check it answers in AWS's shapes
//! and keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

mod standalone;
use standalone::Sim;

/// A valid scenario; cases replace one of its lines.
const BASE: &str = r#"name = "bad"
seed = 7
duration = "8s"

[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { s3-read = "read.json" }

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
workers_per_instance = 4

[[load]]
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 80
"#;

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#;

/// One bad input: the files written into a fresh directory (the scenario is
/// `scenario.toml`, with `read.json` beside it unless replaced), the
/// command's arguments, the exit code and what stderr must say.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<&'static str>,
    exit: i32,
    says: Vec<&'static str>,
}

/// The base scenario with `line` (which must occur) replaced by `with`.
fn scenario(line: &str, with: &str) -> Vec<u8> {
    assert!(BASE.contains(line), "the base scenario has {line:?}");
    BASE.replacen(line, with, 1).into_bytes()
}

fn validate(name: &'static str, toml: Vec<u8>, says: Vec<&'static str>) -> Case {
    Case {
        name,
        files: vec![("scenario.toml", toml)],
        args: vec!["validate", "scenario.toml"],
        exit: 2,
        says,
    }
}

fn with_policy(name: &'static str, policy: &[u8], says: Vec<&'static str>) -> Case {
    Case {
        name,
        files: vec![
            ("scenario.toml", BASE.as_bytes().to_vec()),
            ("read.json", policy.to_vec()),
        ],
        args: vec!["validate", "scenario.toml"],
        exit: 2,
        says,
    }
}

fn flags(name: &'static str, args: Vec<&'static str>, says: Vec<&'static str>) -> Case {
    Case {
        name,
        files: vec![("scenario.toml", BASE.as_bytes().to_vec())],
        args,
        exit: 2,
        says,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // TOML and the scenario's shape.
        validate(
            "toml_syntax",
            scenario("duration = \"8s\"", "duration = "),
            vec!["scenario.toml:3:12", "string values must be quoted"],
        ),
        validate(
            "unknown_field_with_suggestion",
            scenario("duration = \"8s\"", "duraton = \"8s\""),
            vec!["scenario.toml:3:1", "unknown field `duraton`", "did you mean `duration`"],
        ),
        validate(
            "empty_file",
            Vec::new(),
            vec!["scenario.toml:1:1", "missing field `name`"],
        ),
        validate(
            "not_utf8",
            vec![0xff, 0xfe, 0x00],
            vec!["scenario.toml:1:1", "UTF-8"],
        ),
        Case {
            name: "missing_scenario_file",
            files: Vec::new(),
            args: vec!["validate", "nowhere.toml"],
            exit: 2,
            says: vec!["nowhere.toml:1:1", "cannot read scenario file"],
        },
        // Durations.
        validate(
            "duration_unknown_unit",
            scenario("duration = \"8s\"", "duration = \"10parsecs\""),
            vec!["scenario.toml:3:15", "unknown unit \"parsecs\""],
        ),
        validate(
            "duration_too_large",
            scenario("duration = \"8s\"", "duration = \"18446744073709551615s\""),
            vec!["scenario.toml:3:12", "too large"],
        ),
        validate(
            "duration_zero",
            scenario("duration = \"8s\"", "duration = \"0s\""),
            vec!["scenario.toml:3:12", "greater than 0s"],
        ),
        validate(
            "duration_not_a_number",
            scenario("duration = \"8s\"", "duration = \"NaNs\""),
            vec!["scenario.toml:3:12", "does not start with a number"],
        ),
        validate(
            "duration_exponent",
            scenario("duration = \"8s\"", "duration = \"1e400s\""),
            vec!["scenario.toml:3:", "unknown unit"],
        ),
        // Rates.
        validate(
            "rate_negative",
            scenario("rate = 80", "rate = -5"),
            vec!["scenario.toml:28:8", "greater than 0"],
        ),
        validate(
            "rate_nan",
            scenario("rate = 80", "rate = nan"),
            vec!["scenario.toml:28:8", "finite number"],
        ),
        validate(
            "rate_infinite",
            scenario("rate = 80", "rate = inf"),
            vec!["scenario.toml:28:8", "finite number"],
        ),
        validate(
            "rate_huge",
            scenario("rate = 80", "rate = 1e300"),
            vec!["scenario.toml:28:8", "at most 1000000 per second"],
        ),
        validate(
            "rate_words",
            scenario("rate = 80", "rate = \"fast\""),
            vec!["scenario.toml:28:8", "invalid rate \"fast\""],
        ),
        validate(
            "rate_unknown_unit",
            scenario("rate = 80", "rate = \"5/fortnight\""),
            vec!["scenario.toml:28:8", "unknown unit \"fortnight\""],
        ),
        // Counts and key patterns.
        validate(
            "instances_zero",
            scenario("instances = 2", "instances = 0"),
            vec!["scenario.toml:21:13", "between 1 and 256"],
        ),
        validate(
            "instances_huge",
            scenario("instances = 2", "instances = 100000000000"),
            vec!["scenario.toml:21:13", "between 1 and 256"],
        ),
        validate(
            "objects_range_too_large",
            scenario(
                "objects = \"obj-{0..9}\"",
                "objects = \"obj-{0..18446744073709551615}\"",
            ),
            vec!["scenario.toml:16:", "larger than 4294967295"],
        ),
        validate(
            "objects_range_reversed",
            scenario("objects = \"obj-{0..9}\"", "objects = \"obj-{9..0}\""),
            vec!["scenario.toml:16:16", "reversed"],
        ),
        validate(
            "objects_range_unclosed",
            scenario("objects = \"obj-{0..9}\"", "objects = \"obj-{0..\""),
            vec!["scenario.toml:16:16", "never closed"],
        ),
        // References.
        validate(
            "unknown_instance_profile",
            scenario(
                "instance_profile = \"app-profile\"",
                "instance_profile = \"app-profil\"",
            ),
            vec!["scenario.toml:20:20", "app-profil"],
        ),
        validate(
            "unknown_bucket",
            scenario("bucket = \"assets\"", "bucket = \"asset\""),
            vec!["scenario.toml:26:", "asset"],
        ),
        validate(
            "unknown_timeline_action",
            [
                BASE.as_bytes(),
                b"\n[[timeline]]\nat = \"1s\"\naction = \"delete-everything\"\n",
            ]
            .concat(),
            vec!["scenario.toml:32:", "delete-everything"],
        ),
        validate(
            "imds_fault_rules_point_to_the_timeline",
            [
                BASE.as_bytes(),
                b"\n[[sim.faults]]\nkind = \"error\"\nservice = \"imds\"\nstatus = 500\n",
            ]
            .concat(),
            vec!["scenario.toml:32:11", "imds-outage", "imds-throttle"],
        ),
        // Policy files.
        validate(
            "policy_file_missing",
            scenario(
                "inline = { s3-read = \"read.json\" }",
                "inline = { s3-read = \"nope.json\" }",
            ),
            vec!["scenario.toml:8:22", "not found"],
        ),
        with_policy(
            "policy_json_syntax",
            b"{\"Version\":\"2012-10-17\",\n\"Statement\":[{\"Effect\":\"Allow\",\n\"Action\":\"s3:Get*\" \"Resource\":\"*\"}]}",
            vec!["read.json:3:20", "invalid JSON", "scenario.toml:8:22"],
        ),
        with_policy(
            "policy_empty",
            b"",
            vec!["read.json:1:1", "EOF while parsing"],
        ),
        with_policy(
            "policy_not_an_object",
            b"  [1]\n",
            vec!["read.json:1:3", "must be a JSON object"],
        ),
        with_policy(
            "policy_bad_effect_is_refused_before_the_run",
            br#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:GetObject","Resource":"*"}]}"#,
            vec!["scenario.toml:8:22", "not a valid IAM policy", "Effect"],
        ),
        with_policy(
            "policy_without_statement",
            br#"{"Version":"2012-10-17"}"#,
            vec!["scenario.toml:8:22", "missing Statement"],
        ),
        with_policy(
            "policy_deeply_nested",
            &[b'['; 100_000],
            vec!["read.json:1:", "recursion limit"],
        ),
        // Flags.
        flags(
            "seed_not_a_number",
            vec!["run", "scenario.toml", "--seed", "abc"],
            vec!["--seed", "invalid digit"],
        ),
        flags(
            "metrics_addr_not_an_address",
            vec!["run", "scenario.toml", "--metrics-addr", "nowhere"],
            vec!["--metrics-addr", "invalid socket address"],
        ),
        flags(
            "threshold_unknown_metric",
            vec!["run", "scenario.toml", "--threshold", "p99 < 5"],
            vec!["unknown metric \"p99\" at column 1"],
        ),
        flags(
            "unknown_target",
            vec!["run", "scenario.toml", "--target", "mars"],
            vec!["unknown target \"mars\""],
        ),
        flags(
            "aws_target_without_opt_in",
            vec!["run", "scenario.toml", "--target", "aws"],
            vec!["--allow-aws"],
        ),
        flags(
            "output_directory_under_a_file",
            vec!["run", "scenario.toml", "--out", "scenario.toml/out"],
            vec!["cannot create the output directory", "--out"],
        ),
        flags(
            "sim_size_unknown_unit",
            vec!["sim", "--max-object-bytes", "5parsecs"],
            vec!["--max-object-bytes", "unknown unit \"parsecs\""],
        ),
        flags(
            "sim_size_zero",
            vec!["sim", "--max-body-bytes", "0"],
            vec!["--max-body-bytes", "greater than 0"],
        ),
        flags(
            "sim_listen_not_an_address",
            vec!["sim", "--listen", "1.2.3.4"],
            vec!["--listen", "invalid socket address"],
        ),
        flags(
            "report_of_a_missing_directory",
            vec!["report", "no-such-run"],
            vec!["no-such-run/summary.json", "iamstorm run"],
        ),
        Case {
            name: "rollback_of_a_file_that_is_not_a_journal",
            files: vec![("journal.jsonl", b"not json\n".to_vec())],
            args: vec!["rollback", "journal.jsonl"],
            exit: 2,
            says: vec!["journal.jsonl:1:", "not an iamstorm journal header"],
        },
    ]
}

fn case_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamstorm-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("case dir");
    dir
}

/// Runs one case; returns what went wrong, if anything.
fn check(case: &Case) -> Option<String> {
    let dir = case_dir(case.name);
    std::fs::write(dir.join("read.json"), READ_POLICY).expect("policy");
    for (name, bytes) in &case.files {
        std::fs::write(dir.join(name), bytes).expect("case file");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args(&case.args)
        .current_dir(&dir)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .expect("iamstorm runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut wrong = Vec::new();
    if out.status.code() != Some(case.exit) {
        wrong.push(format!("exit {:?}, want {}", out.status.code(), case.exit));
    }
    for needle in &case.says {
        if !stderr.contains(needle) {
            wrong.push(format!("stderr lacks {needle:?}"));
        }
    }
    for forbidden in ["panicked", "RUST_BACKTRACE"] {
        if stderr.contains(forbidden) {
            wrong.push(format!("stderr has {forbidden:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    (!wrong.is_empty())
        .then(|| format!("{}: {}\n--- stderr:\n{stderr}", case.name, wrong.join("; ")))
}

#[test]
fn every_bad_input_gets_a_located_message_and_exit_2() {
    let cases = cases();
    assert!(cases.len() >= 30, "the table has {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Sends `bytes` on a fresh connection, then half-closes it; returns what
/// the double answered before closing (possibly nothing).
fn raw_exchange(addr: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(bytes).expect("send");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn health(addr: &str) -> String {
    raw_exchange(
        addr,
        b"GET /_iamstorm/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
}

/// Hostile requests: truncated, garbage, wrong content types, oversized
/// bodies to the admin API, S3 and the Query APIs. Each gets an answer in
/// its protocol's error shape (or a closed connection for a request that
/// never finished) and the double keeps serving.
#[tokio::test]
async fn the_double_answers_hostile_requests_and_keeps_serving() {
    let sim = Sim::start_with(
        None,
        &["--max-object-bytes", "1KiB", "--max-body-bytes", "2KiB"],
    );
    let addr = sim.url().trim_start_matches("http://").to_owned();
    let table: Vec<(&str, Vec<u8>, &str)> = vec![
        // A request cut off mid-headers: closed without an answer.
        ("truncated_headers", b"GET / HTTP/1.1\r\nHost: 127".to_vec(), ""),
        // A body shorter than its Content-Length: nothing to answer.
        (
            "truncated_body",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=Get".to_vec(),
            "",
        ),
        ("not_http", b"GARBAGE\r\n\r\n".to_vec(), "400 Bad Request"),
        (
            "admin_malformed_json",
            b"POST /_iamstorm/faults HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{".to_vec(),
            "expected a fault rule",
        ),
        (
            "admin_wrong_content",
            b"POST /_iamstorm/faults HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
            "400 Bad Request",
        ),
        (
            "admin_oversized_body",
            [
                b"POST /_iamstorm/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n".as_slice(),
                &vec![b' '; 2_000_000],
            ]
            .concat(),
            "body larger than",
        ),
        (
            "unsigned_json_to_the_query_api",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(),
            "<Error><Code>",
        ),
    ];
    for (name, bytes, expect) in &table {
        let answer = raw_exchange(&addr, bytes);
        assert!(
            answer.contains(expect),
            "{name}: expected {expect:?} in the answer:\n{answer}"
        );
        assert!(
            health(&addr).contains("\"ok\":true"),
            "{name}: the double still serves"
        );
    }

    // Signed requests over the limits, through the real SDK.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sim.config())
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("limits")
        .send()
        .await
        .expect("bucket");
    let err = s3
        .put_object()
        .bucket("limits")
        .key("big")
        .body(vec![b'x'; 4096].into())
        .send()
        .await
        .expect_err("an object over --max-object-bytes is refused");
    let service = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&service),
        Some("EntityTooLarge"),
        "{service:?}"
    );
    s3.put_object()
        .bucket("limits")
        .key("small")
        .body(vec![b'x'; 512].into())
        .send()
        .await
        .expect("an object under the limit is stored");

    let big_trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole","Sid":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let err = sim
        .iam()
        .create_role()
        .role_name("big")
        .assume_role_policy_document(big_trust)
        .send()
        .await
        .expect_err("a Query body over --max-body-bytes is refused");
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(413), "{err:?}");
    assert!(health(&addr).contains("\"ok\":true"));
}

/// `iamstorm sim --no-admin`: `/_iamstorm/` answers 404 with a reason, the
/// AWS APIs keep working.
#[tokio::test]
async fn the_double_without_admin_answers_404_and_serves_aws() {
    let sim = Sim::start_with(None, &["--no-admin"]);
    let addr = sim.url().trim_start_matches("http://").to_owned();
    let answer = health(&addr);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("--no-admin"), "{answer}");
    sim.iam()
        .list_roles()
        .send()
        .await
        .expect("IAM still served");
}
