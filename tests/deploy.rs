//! The deploy/ manifests, checked without a cluster: parsed as YAML/JSON,
//! the fields that make them sharded runs asserted, their arguments given
//! to the binary's own command-line parser, and the environment each
//! engine sets given to the binary's shard detection.

use std::path::Path;

use clap::Parser;
use iamstorm::cli::{Cli, Command};
use iamstorm::shard::{ShardSpec, detect};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `iamstorm ARGS` through the real parser: a `run` with the sharding flags.
fn parse_run(args: &[String]) -> Command {
    let argv = std::iter::once("iamstorm".to_owned()).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(matches!(cli.command, Command::Run { .. }), "{args:?}");
    cli.command
}

fn str_list(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|a| a.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn kubernetes_indexed_job_runs_every_shard_at_once_with_the_count_the_binary_reads() {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml"))
        .expect("manifest");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("a {k}"))
    };
    let account = kind("ServiceAccount");
    let job = kind("Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let completions = spec["completions"].as_u64().expect("completions");
    assert_eq!(
        spec["parallelism"].as_u64(),
        Some(completions),
        "all shards at once"
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::")),
        "IRSA role"
    );
    let container = &pod["containers"][0];
    let env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().expect("name").to_owned(),
                e["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    let shards = env
        .iter()
        .find(|(k, _)| k == "IAMSTORM_SHARDS")
        .map(|(_, v)| v.clone())
        .expect("IAMSTORM_SHARDS");
    assert_eq!(
        shards,
        completions.to_string(),
        "IAMSTORM_SHARDS == completions"
    );
    let args = str_list(&container["args"]);
    let Command::Run {
        start_at,
        results_uri,
        shard,
        ..
    } = parse_run(&args)
    else {
        unreachable!()
    };
    assert!(start_at.is_some() && results_uri.is_some(), "{args:?}");
    assert_eq!(shard, None, "the index comes from the Job, not the args");
    // The volume the scenario path points into is mounted.
    let mounts = container["volumeMounts"].as_sequence().expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| args[1].starts_with(m["mountPath"].as_str().expect("path")))
    );
    // What Kubernetes sets, plus the manifest's env: each pod is its shard.
    for index in 0..completions {
        let detected = detect(None, |name| match name {
            "JOB_COMPLETION_INDEX" => Some(index.to_string()),
            _ => env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
        })
        .expect("detects")
        .expect("sharded");
        assert_eq!(
            detected.spec,
            ShardSpec::new(index as u32, completions as u32).expect("valid")
        );
    }
}

#[test]
fn aws_batch_job_definition_takes_its_shard_from_the_array_and_its_flags_from_parameters() {
    let text = std::fs::read_to_string(root().join("deploy/aws-batch/job-definition.json"))
        .expect("job definition");
    let def: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(def["type"], "container");
    let params = def["parameters"].as_object().expect("parameters");
    let container = &def["containerProperties"];
    assert!(
        container["jobRoleArn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::")),
        "job role: the operator's credentials"
    );
    // Batch substitutes Ref::NAME with the parameters (defaults here).
    let args: Vec<String> = container["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| {
            let a = a.as_str().expect("a string");
            match a.strip_prefix("Ref::") {
                Some(name) => params[name].as_str().expect("a parameter").to_owned(),
                None => a.to_owned(),
            }
        })
        .collect();
    let Command::Run {
        start_at,
        results_uri,
        ..
    } = parse_run(&args)
    else {
        unreachable!()
    };
    assert!(start_at.is_some() && results_uri.is_some(), "{args:?}");
    // AWS_BATCH_ is Batch's own prefix: a definition may not set it.
    for e in container["environment"].as_array().into_iter().flatten() {
        assert!(!e["name"].as_str().expect("name").starts_with("AWS_BATCH_"));
    }
    // The baked-in scenario exists in the image's library.
    let scenario = params["scenario"].as_str().expect("scenario");
    let file = scenario
        .strip_prefix("/opt/iamstorm/")
        .expect("the image's scenario library");
    assert!(root().join(file).is_file(), "{file}");
    let detected = detect(None, |name| match name {
        "AWS_BATCH_JOB_ARRAY_INDEX" => Some("3".to_owned()),
        "AWS_BATCH_JOB_ARRAY_SIZE" => Some("4".to_owned()),
        _ => None,
    })
    .expect("detects")
    .expect("sharded");
    assert_eq!(detected.spec, ShardSpec::new(3, 4).expect("valid"));
}

#[test]
fn the_dockerfile_is_multi_stage_rust_195_to_debian_slim_non_root() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("FROM rust:1.95") && froms[0].ends_with(" AS builder"));
    assert!(froms[1].starts_with("FROM debian:") && froms[1].contains("-slim"));
    assert!(
        text.contains("COPY --from=builder /src/target/release/iamstorm /usr/local/bin/iamstorm")
    );
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(text.contains("ENTRYPOINT [\"iamstorm\"]"));
    assert!(
        text.contains("--locked"),
        "the image builds the locked graph"
    );
}
