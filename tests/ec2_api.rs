//! The EC2 Query API of the double, through SigV4-signed requests (the real
//! `aws-sigv4` signer) over HTTP: what DescribeInstances and the
//! association calls answer, how an association change reaches IMDS, IAM
//! authorization of `ec2:` actions, and EC2's throttling shape.

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use common::ec2::{Ec2, http, imds_get};
use common::*;
use iamstorm::setup::TRUST_EC2;
use iamstorm::sim::SimHandle;
use iamstorm::target::admin::RequestTruth;

const OTHER_ROLE: &str = "other-role";
const OTHER_PROFILE: &str = "other-profile";

/// A second role and profile to swap to.
async fn other_profile(sim: &SimHandle) {
    let iam = aws_sdk_iam::Client::new(&operator_config(sim));
    iam.create_role()
        .role_name(OTHER_ROLE)
        .assume_role_policy_document(TRUST_EC2)
        .send()
        .await
        .expect("create role");
    iam.create_instance_profile()
        .instance_profile_name(OTHER_PROFILE)
        .send()
        .await
        .expect("create profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name(OTHER_PROFILE)
        .role_name(OTHER_ROLE)
        .send()
        .await
        .expect("add role");
    admin(sim).await_converged().await.expect("admin API");
}

fn profile_arn(name: &str) -> String {
    format!("arn:aws:iam::123456789012:instance-profile/{name}")
}

#[tokio::test]
async fn describe_instances_lists_the_fleet_with_profiles_and_filters() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let bare = admin(&sim).launch_instance(None).await.expect("launch");
    let with_profile = imds_get(&imds, "instance-id").await.body;
    let ec2 = Ec2::operator(&sim);

    let all = ec2.call("DescribeInstances", &[]).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(
        all.body.contains(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
        ),
        "{}",
        all.body
    );
    assert_eq!(
        all.texts("instanceId"),
        vec![with_profile.clone(), bare.instance_id.clone()]
    );
    assert_eq!(all.texts("arn"), vec![profile_arn(PROFILE)]);
    assert_eq!(all.texts("name"), vec!["running", "running"]);
    assert_eq!(all.texts("httpTokens"), vec!["required", "required"]);
    assert_eq!(all.texts("httpPutResponseHopLimit"), vec!["2", "2"]);
    assert_eq!(
        all.texts("privateIpAddress"),
        vec!["10.0.0.10", "10.0.0.11"]
    );
    assert_eq!(all.texts("launchTime").len(), 2);

    let one = ec2
        .call("DescribeInstances", &[("InstanceId.1", &bare.instance_id)])
        .await;
    assert_eq!(one.texts("instanceId"), vec![bare.instance_id.clone()]);
    let arn = profile_arn(PROFILE);
    let by_profile = ec2
        .call(
            "DescribeInstances",
            &[
                ("Filter.1.Name", "iam-instance-profile.arn"),
                ("Filter.1.Value.1", &arn),
                ("Filter.2.Name", "instance-state-name"),
                ("Filter.2.Value.1", "running"),
            ],
        )
        .await;
    assert_eq!(by_profile.texts("instanceId"), vec![with_profile]);
    let stopped = ec2
        .call(
            "DescribeInstances",
            &[
                ("Filter.1.Name", "instance-state-name"),
                ("Filter.1.Value.1", "stopped"),
            ],
        )
        .await;
    assert!(stopped.texts("instanceId").is_empty(), "{}", stopped.body);

    for (params, status, code) in [
        (
            vec![("InstanceId.1", "i-0123456789abcdef0")],
            400,
            "InvalidInstanceID.NotFound",
        ),
        (
            vec![("InstanceId.1", "i-nothex")],
            400,
            "InvalidInstanceID.Malformed",
        ),
        (
            vec![("Filter.1.Name", "tag:Name"), ("Filter.1.Value.1", "x")],
            400,
            "InvalidParameterValue",
        ),
    ] {
        let r = ec2.call("DescribeInstances", &params).await;
        assert_eq!(
            (r.status, r.code().as_deref()),
            (status, Some(code)),
            "{}",
            r.body
        );
        assert!(r.body.contains("<Response><Errors><Error>") && r.body.contains("<RequestID>"));
    }
    let unknown = ec2.call("RunInstances", &[]).await;
    assert_eq!(unknown.code().as_deref(), Some("InvalidAction"));
}

#[tokio::test]
async fn association_changes_follow_aws_and_reach_imds_after_the_lag_or_a_reboot() {
    let lag = Duration::from_secs(3600);
    let sim = start(Duration::ZERO, |c| c.imds_association_lag = lag).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    other_profile(&sim).await;
    let ec2 = Ec2::operator(&sim);
    let iid = imds_get(&imds, "instance-id").await.body;

    let listed = ec2
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await;
    assert_eq!(listed.texts("state"), vec!["associated"], "{}", listed.body);
    let assoc = listed.text("associationId").expect("an association");
    assert!(assoc.starts_with("iip-assoc-"), "{assoc}");

    let again = ec2
        .call(
            "AssociateIamInstanceProfile",
            &[
                ("InstanceId", &iid),
                ("IamInstanceProfile.Name", OTHER_PROFILE),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.code().as_deref(), Some("IncorrectState"));
    assert_eq!(
        again.text("Message").as_deref(),
        Some(format!("There is an existing association for instance {iid}").as_str())
    );

    let gone = ec2
        .call(
            "DisassociateIamInstanceProfile",
            &[("AssociationId", &assoc)],
        )
        .await;
    assert_eq!(
        gone.text("state").as_deref(),
        Some("disassociating"),
        "{}",
        gone.body
    );
    let none = ec2
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await;
    assert!(none.texts("associationId").is_empty(), "{}", none.body);
    let twice = ec2
        .call(
            "DisassociateIamInstanceProfile",
            &[("AssociationId", &assoc)],
        )
        .await;
    assert_eq!(
        twice.code().as_deref(),
        Some("InvalidAssociationID.NotFound")
    );
    let bad_profile = ec2
        .call(
            "AssociateIamInstanceProfile",
            &[("InstanceId", &iid), ("IamInstanceProfile.Name", "nope")],
        )
        .await;
    assert_eq!(bad_profile.code().as_deref(), Some("InvalidParameterValue"));

    let new = ec2
        .call(
            "AssociateIamInstanceProfile",
            &[
                ("InstanceId", &iid),
                ("IamInstanceProfile.Arn", &profile_arn(OTHER_PROFILE)),
            ],
        )
        .await;
    assert_eq!(
        new.text("state").as_deref(),
        Some("associating"),
        "{}",
        new.body
    );
    let new_id = new.text("associationId").expect("new association id");
    assert_ne!(new_id, assoc);
    let described = ec2
        .call("DescribeInstances", &[("InstanceId.1", &iid)])
        .await;
    assert_eq!(described.texts("arn"), vec![profile_arn(OTHER_PROFILE)]);

    // EC2 knows at once; IMDS still serves the old profile inside the lag.
    let info = imds_get(&imds, "iam/info").await.body;
    assert!(info.contains(&profile_arn(PROFILE)), "{info}");
    assert_eq!(
        imds_get(&imds, "iam/security-credentials/").await.body,
        ROLE
    );

    let reboot = ec2.call("RebootInstances", &[("InstanceId.1", &iid)]).await;
    assert_eq!(
        reboot.text("return").as_deref(),
        Some("true"),
        "{}",
        reboot.body
    );
    let info = imds_get(&imds, "iam/info").await.body;
    assert!(info.contains(&profile_arn(OTHER_PROFILE)), "{info}");
    assert_eq!(
        imds_get(&imds, "iam/security-credentials/").await.body,
        OTHER_ROLE
    );
    // A fresh SDK provider now gets the other role's credentials.
    let who = aws_sdk_sts::Client::new(&instance_config(&sim, &imds))
        .get_caller_identity()
        .send()
        .await
        .expect("IMDS credentials work");
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::123456789012:assumed-role/{OTHER_ROLE}/{iid}").as_str())
    );

    let replaced = ec2
        .call(
            "ReplaceIamInstanceProfileAssociation",
            &[
                ("AssociationId", &new_id),
                ("IamInstanceProfile.Name", PROFILE),
            ],
        )
        .await;
    assert_eq!(replaced.text("state").as_deref(), Some("associating"));
    assert_ne!(replaced.text("associationId"), Some(new_id));
    assert_eq!(
        imds_get(&imds, "iam/security-credentials/").await.body,
        OTHER_ROLE,
        "still inside the lag"
    );
}

#[tokio::test]
async fn with_a_short_lag_imds_switches_profile_when_the_ground_truth_says() {
    let lag = Duration::from_millis(300);
    let sim = start(Duration::ZERO, |c| c.imds_association_lag = lag).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    other_profile(&sim).await;
    let ec2 = Ec2::operator(&sim);
    let assoc = ec2
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await
        .text("associationId")
        .expect("association");
    let r = ec2
        .call(
            "ReplaceIamInstanceProfileAssociation",
            &[
                ("AssociationId", &assoc),
                ("IamInstanceProfile.Name", OTHER_PROFILE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let iid = imds_get(&imds, "instance-id").await.body;
    let state = http(
        "GET",
        &format!("{}instances/{iid}", sim.admin_url()),
        &[],
        "",
    )
    .await
    .expect("admin API");
    let view: serde_json::Value = serde_json::from_str(&state.body).expect("JSON");
    assert_eq!(view["instance_profile"], OTHER_PROFILE);
    assert_eq!(view["imds_instance_profile"], PROFILE);
    let wait_ms = view["imds_association_visible_in_ms"]
        .as_u64()
        .expect("visible_in_ms");
    assert!(wait_ms <= 300, "{wait_ms}");
    assert_eq!(
        imds_get(&imds, "iam/security-credentials/").await.body,
        ROLE
    );
    // Wait exactly as long as the double says the change takes.
    tokio::time::sleep(Duration::from_millis(wait_ms + 1)).await;
    assert_eq!(
        imds_get(&imds, "iam/security-credentials/").await.body,
        OTHER_ROLE
    );
}

#[tokio::test]
async fn modify_metadata_options_switches_imdsv1_and_is_reported() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    let iid = imds_get(&imds, "instance-id").await.body;
    let ec2 = Ec2::operator(&sim);
    let v1_url = format!("{imds}/latest/meta-data/instance-id");
    let v1 = || http("GET", &v1_url, &[], "");
    assert_eq!(
        v1().await.expect("IMDS").status,
        401,
        "v2 required by default"
    );

    let r = ec2
        .call(
            "ModifyInstanceMetadataOptions",
            &[
                ("InstanceId", &iid),
                ("HttpTokens", "optional"),
                ("HttpPutResponseHopLimit", "3"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.text("state").as_deref(), Some("pending"));
    let ok = v1().await.expect("IMDS");
    assert_eq!((ok.status, ok.body.as_str()), (200, iid.as_str()));
    let bad_token = http(
        "GET",
        &format!("{imds}/latest/meta-data/instance-id"),
        &[("x-aws-ec2-metadata-token", "forged")],
        "",
    )
    .await
    .expect("IMDS");
    assert_eq!(
        bad_token.status, 401,
        "an invalid token is refused even in v1 mode"
    );
    let d = ec2
        .call("DescribeInstances", &[("InstanceId.1", &iid)])
        .await;
    assert_eq!(d.text("httpTokens").as_deref(), Some("optional"));
    assert_eq!(d.text("httpPutResponseHopLimit").as_deref(), Some("3"));

    let bad = ec2
        .call(
            "ModifyInstanceMetadataOptions",
            &[("InstanceId", &iid), ("HttpPutResponseHopLimit", "65")],
        )
        .await;
    assert_eq!(bad.code().as_deref(), Some("InvalidParameterValue"));
    ec2.call(
        "ModifyInstanceMetadataOptions",
        &[("InstanceId", &iid), ("HttpEndpoint", "disabled")],
    )
    .await;
    assert_eq!(v1().await.expect("IMDS").status, 403, "IMDS turned off");
}

#[tokio::test]
async fn ec2_actions_are_authorized_by_iam_including_pass_role() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let imds = world(&sim, TRUST_EC2, None).await;
    other_profile(&sim).await;
    let creds = imds_get(&imds, &format!("iam/security-credentials/{ROLE}")).await;
    let c: serde_json::Value = serde_json::from_str(&creds.body).expect("JSON");
    let as_role = Ec2::new(
        &sim,
        Credentials::new(
            c["AccessKeyId"].as_str().expect("key"),
            c["SecretAccessKey"].as_str().expect("secret"),
            c["Token"].as_str().map(str::to_owned),
            None,
            "imds",
        ),
    );
    let denied = as_role.call("DescribeInstances", &[]).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(denied.code().as_deref(), Some("UnauthorizedOperation"));
    assert!(
        denied.text("Message").is_some_and(|m| m.contains(
            "is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows"
        )),
        "{}",
        denied.body
    );
    let id = denied.text("RequestID").expect("request id");
    match admin(&sim).request(&id).await.expect("truth") {
        RequestTruth::Found { verdict } => {
            assert_eq!(
                (verdict.kind.as_str(), verdict.action.as_str()),
                ("denied", "ec2:DescribeInstances")
            );
        }
        other => panic!("no verdict for {id}: {other:?}"),
    }

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:DisassociateIamInstanceProfile","ec2:AssociateIamInstanceProfile"],"Resource":"*"}]}"#;
    aws_sdk_iam::Client::new(&operator_config(&sim))
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("ec2")
        .policy_document(policy)
        .send()
        .await
        .expect("grant");
    admin(&sim).await_converged().await.expect("admin API");
    let allowed = as_role
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let assoc = allowed.text("associationId").expect("association");
    let iid = allowed.text("instanceId").expect("instance");
    let r = as_role
        .call(
            "DisassociateIamInstanceProfile",
            &[("AssociationId", &assoc)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Attaching a profile passes its role: without iam:PassRole, denied.
    let r = as_role
        .call(
            "AssociateIamInstanceProfile",
            &[
                ("InstanceId", &iid),
                ("IamInstanceProfile.Name", OTHER_PROFILE),
            ],
        )
        .await;
    assert_eq!(
        r.code().as_deref(),
        Some("UnauthorizedOperation"),
        "{}",
        r.body
    );
    assert!(
        r.text("Message")
            .is_some_and(|m| m
                .contains("iam:PassRole on resource: arn:aws:iam::123456789012:role/other-role")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn ec2_throttling_is_request_limit_exceeded_503_and_logged() {
    let sim = start(Duration::ZERO, |c| c.quotas.ec2_per_s = 1).await;
    let ec2 = Ec2::operator(&sim);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(ec2.call("DescribeInstances", &[]).await);
    }
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    // Bucket of 5 s of refill at 1/s; one more may refill while the loop runs.
    assert!((5..=6).contains(&ok), "{ok} allowed");
    let throttled = statuses.last().expect("8 replies");
    assert_eq!(throttled.status, 503, "{}", throttled.body);
    assert_eq!(throttled.code().as_deref(), Some("RequestLimitExceeded"));
    let id = throttled.text("RequestID").expect("request id");
    match admin(&sim).request(&id).await.expect("truth") {
        RequestTruth::Found { verdict } => assert_eq!(verdict.kind, "throttled"),
        other => panic!("no verdict for {id}: {other:?}"),
    }
    // Buckets are per action: another API still answers.
    let other = ec2
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
}

#[tokio::test]
async fn bad_keys_are_ec2_auth_failures() {
    let sim = start(Duration::ZERO, |_| {}).await;
    let unknown = Ec2::new(
        &sim,
        Credentials::new("AKIAUNKNOWN000000000", "x", None, None, "t"),
    );
    let r = unknown.call("DescribeInstances", &[]).await;
    assert_eq!((r.status, r.code().as_deref()), (401, Some("AuthFailure")));
    let wrong_secret = Ec2::new(
        &sim,
        Credentials::new(sim.admin_access_key_id.clone(), "wrong", None, None, "t"),
    );
    let r = wrong_secret.call("DescribeInstances", &[]).await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("SignatureDoesNotMatch"))
    );
}

/// `iamstorm sim --scenario`: the scenario's fleet is launched, printed with
/// its IMDS endpoints before the exports, and listed by DescribeInstances.
#[tokio::test]
async fn sim_with_a_scenario_prints_and_serves_its_fleet() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_iamstorm"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            "tests/data/scenarios/ec2_runbook.toml",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("iamstorm sim starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (mut instances, mut endpoint) = (Vec::new(), None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 line");
        if let Some(rest) = line.strip_prefix("# instance ") {
            let words: Vec<&str> = rest.split(' ').collect();
            assert_eq!(words[1], "imds", "{line}");
            assert!(words.ends_with(&["credentials", "ok"]), "{line}");
            instances.push((words[0].to_owned(), words[2].to_owned()));
        }
        if let Some(url) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            endpoint = Some(url.to_owned());
        }
        if line.starts_with("export AWS_DEFAULT_REGION=") {
            break;
        }
    }
    let endpoint = endpoint.expect("an endpoint export");
    assert_eq!(instances.len(), 2, "{instances:?}");
    for (iid, imds) in &instances {
        assert_eq!(&imds_get(imds, "instance-id").await.body, iid);
        assert_eq!(
            imds_get(imds, "iam/security-credentials/").await.body,
            "app-role"
        );
    }
    // The exports' keys sign EC2 requests too.
    let handle_like = Ec2::with_endpoint(&endpoint);
    let d = handle_like.call("DescribeInstances", &[]).await;
    let listed: Vec<String> = instances.iter().map(|(i, _)| i.clone()).collect();
    assert_eq!(d.texts("instanceId"), listed, "{}", d.body);
    assert_eq!(
        d.texts("arn"),
        vec![profile_arn("app-profile"), profile_arn("app-profile")]
    );
    // The scenario's [[sim.faults]] are in force.
    let (code, faults) =
        common::admin_http::call(&format!("{endpoint}/_iamstorm/"), "GET", "faults", None).await;
    assert_eq!(code, 200);
    let rules = faults["faults"].as_array().expect("a list of rules");
    assert_eq!(rules.len(), 1, "{faults}");
    assert_eq!(rules[0]["code"], "ServiceUnavailable", "{faults}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(child.wait().expect("sim exits").code(), Some(0));
}
