//! Fleet rollouts end to end, real SDK clients against the double: a launch
//! template's boot delay keeps a new instance out of the load until it has
//! booted; `replace` swaps every running instance of a group for one from
//! the group's current template, batch by batch; and the double's
//! fleet-wide IMDS credential budget throttles a scale-out stampede but not
//! a trickle of launches.

use std::time::Duration;

use iamstorm::fleet::{self, GroupSpec};
use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::report::summary::{BootSummary, Summary};
use iamstorm::run::{RunOptions, execute};
use iamstorm::sim::SimConfig;
use iamstorm::sim::throttle::Quotas;
use iamstorm::target::Target;
use iamstorm::target::clients::SdkSettings;

mod common;

/// A scratch directory holding `scenario` (and the read policy) → its run.
async fn run(tag: &str, scenario: &str) -> Summary {
    let dir = std::env::temp_dir().join(format!("iamstorm-fleet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("policies")).expect("temp dir");
    std::fs::write(dir.join("policies/read.json"), common::READ_POLICY).expect("policy");
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario).expect("scenario file");
    let parsed = iamstorm::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        scenario: path,
        out: Some(dir.join("out")),
        quiet: true,
        ..Default::default()
    };
    let outcome = execute(&parsed, &opts)
        .await
        .unwrap_or_else(|e| panic!("run failed: {}", e.message));
    assert!(!outcome.interrupted);
    let _ = std::fs::remove_dir_all(&dir);
    outcome.summary
}

fn counts(b: &BootSummary, class: OutcomeClass) -> u64 {
    b.counts_by_class.get(class)
}

const BOOT_DELAY: &str = r#"name = "boot-delay"
seed = 5
duration = "4s"
[[iam.roles]]
name = "app-role"
trust = "ec2"
[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"
[[fleet]]
group = "web"
instance_profile = "app-profile"
instances = 1
workers_per_instance = 8
boot_delay = "300ms"
[[load]]
op = "sts:GetCallerIdentity"
rate = 60
[[timeline]]
at = "500ms"
action = "set-launch-template"
group = "web"
boot_delay = "1500ms"
[[timeline]]
at = "500ms"
action = "scale-out"
group = "web"
by = 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_delay_keeps_an_instance_out_of_the_load_until_it_has_booted() {
    let s = run("boot-delay", BOOT_DELAY).await;
    assert_eq!(s.boots.len(), 3, "{:?}", s.boots);
    // The starting fleet waits out its delay before the load starts.
    let first = &s.boots[0];
    assert_eq!(first.boot_delay_ms, 300.0);
    assert_eq!((first.launched_at_s, first.joined_at_s), (0.0, 0.0));
    assert!(first.first_request_s.expect("it sent") < 0.1, "{first:?}");
    for b in &s.boots[1..] {
        assert_eq!(b.template_version, 2, "{b:?}");
        assert_eq!(b.boot_delay_ms, 1500.0, "{b:?}");
        assert_eq!(b.class, OutcomeClass::Ok, "{b:?}");
        assert!((0.5..0.8).contains(&b.launched_at_s), "{b:?}");
        // Joined after launch + delay + boot, and not a request before.
        let ready_s = b.launched_at_s + 1.5 + b.boot_ms / 1000.0;
        assert!(b.joined_at_s >= ready_s - 0.001, "{b:?}");
        let first_s = b.first_request_s.expect("it joined and sent");
        assert!(first_s >= b.launched_at_s + 1.5, "{b:?}");
        assert!(first_s >= b.joined_at_s - 0.02, "{b:?}");
        assert!(counts(b, OutcomeClass::Ok) > 0, "{b:?}");
    }
    // Until they joined, the first instance served the whole rate.
    assert!(counts(first, OutcomeClass::Ok) > 90, "{first:?}");
    let scale_out = &s.timeline[1];
    assert!(
        scale_out
            .action
            .starts_with("scale-out web +2 (template v2: app-profile)"),
        "{scale_out:?}"
    );
    assert!(
        scale_out.action.contains("after a 1.5s boot delay"),
        "{scale_out:?}"
    );
    // The action is acknowledged once they have booted.
    assert!(scale_out.acked_s >= 2.0, "{scale_out:?}");
    assert!(
        s.verdict_lines
            .iter()
            .any(|l| l.contains("joined the load p50")),
        "{:?}",
        s.verdict_lines
    );
}

const REPLACE: &str = r#"name = "replace"
seed = 6
duration = "4s"
[[iam.roles]]
name = "app-role"
trust = "ec2"
inline = { read = "policies/read.json" }
[[iam.roles]]
name = "old-role"
trust = "ec2"
[[iam.instance_profiles]]
name = "app-profile"
role = "app-role"
[[iam.instance_profiles]]
name = "old-profile"
role = "old-role"
[[s3.buckets]]
name = "assets"
objects = "obj-{0..9}"
[[fleet]]
group = "web"
instance_profile = "old-profile"
instances = 4
workers_per_instance = 8
[[fleet]]
group = "api"
instance_profile = "old-profile"
instances = 2
workers_per_instance = 8
[[load]]
name = "web-reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 80
group = "web"
[[load]]
name = "api-reads"
op = "s3:GetObject"
bucket = "assets"
keys = "obj-{0..9}"
rate = 40
group = "api"
[[timeline]]
at = "1s"
action = "set-launch-template"
group = "web"
instance_profile = "app-profile"
[[timeline]]
at = "1s"
action = "replace"
group = "web"
batch = 2
pause = "500ms"
[[timeline]]
at = "1s"
action = "replace"
group = "api"
batch = 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_swaps_every_running_instance_for_the_current_template() {
    let s = run("replace", REPLACE).await;
    let actions: Vec<(&str, &str)> = s
        .timeline
        .iter()
        .map(|t| (t.action.as_str(), t.result.as_str()))
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(actions.iter().all(|(_, r)| *r == "ok"), "{actions:?}");
    assert!(
        actions[1].0.starts_with(
            "replace web 4 instances in 2 batches (template v2: app-profile); boot p50"
        ),
        "{actions:?}"
    );
    // Replaced without a template change: the same (broken) template again.
    assert!(
        actions[2]
            .0
            .starts_with("replace api 2 instances in 1 batch (template v1: old-profile)"),
        "{actions:?}"
    );
    let of = |group: &str, version: u32, retired: bool| -> Vec<&BootSummary> {
        s.boots
            .iter()
            .filter(|b| b.group == group && b.template_version == version && b.retired == retired)
            .collect()
    };
    assert_eq!(s.boots.len(), 12, "6 at start, 4 + 2 replacements");
    // web: the four old instances retired, only denied; four new ones from
    // v2, never denied, launched in two batches half a second apart.
    let old_web = of("web", 1, true);
    assert_eq!(old_web.len(), 4, "{:?}", s.boots);
    for b in &old_web {
        assert!(counts(b, OutcomeClass::AccessDenied) > 0, "{b:?}");
        assert_eq!(counts(b, OutcomeClass::Ok), 0, "{b:?}");
    }
    let new_web = of("web", 2, false);
    assert_eq!(new_web.len(), 4, "{:?}", s.boots);
    for b in &new_web {
        assert_eq!(counts(b, OutcomeClass::AccessDenied), 0, "{b:?}");
        assert!(counts(b, OutcomeClass::Ok) > 0, "{b:?}");
        assert!(b.launched_at_s >= 1.0, "{b:?}");
    }
    assert!(of("web", 1, false).is_empty() && of("web", 2, true).is_empty());
    let mut launched: Vec<f64> = new_web.iter().map(|b| b.launched_at_s).collect();
    launched.sort_by(f64::total_cmp);
    assert!(launched[1] - launched[0] < 0.1, "{launched:?}");
    assert!(launched[2] - launched[1] >= 0.5, "{launched:?}");
    // The web entry's denials end with the replacement: none in a second
    // after the one its second batch joined in (spans are whole seconds).
    let web = s.ops.iter().find(|o| o.op == "web-reads").expect("web op");
    let span = web
        .class_spans
        .get(&OutcomeClass::AccessDenied)
        .expect("denied before the replace");
    assert!(
        span.last_s <= (launched[3] + 0.3).ceil(),
        "{span:?} vs {launched:?}"
    );
    // api: the replacements are v1 again, and still denied — the runbook's
    // "new instances still on the old role".
    assert_eq!(of("api", 1, true).len(), 2, "{:?}", s.boots);
    let new_api = of("api", 1, false);
    assert_eq!(new_api.len(), 2, "{:?}", s.boots);
    for b in &new_api {
        assert!(b.launched_at_s >= 1.0, "{b:?}");
        assert!(counts(b, OutcomeClass::AccessDenied) > 0, "{b:?}");
        assert_eq!(counts(b, OutcomeClass::Ok), 0, "{b:?}");
    }
}

fn group(instances: u32) -> GroupSpec {
    GroupSpec {
        group: "web".into(),
        instance_profile: Some(common::PROFILE.into()),
        instances,
        workers_per_instance: 1,
        boot_delay: Duration::ZERO,
    }
}

/// `(throttled_429, fleet_throttled_429)` at `instance_id`'s IMDS.
async fn throttled(target: &Target, instance_id: &str) -> (u64, u64) {
    let view = target
        .embedded_admin()
        .imds(instance_id)
        .await
        .expect("IMDS view");
    let c = &view["counters"];
    (
        c["throttled_429"].as_u64().expect("counter"),
        c["fleet_throttled_429"].as_u64().expect("counter"),
    )
}

/// A double with `imds_fleet_per_s`, its world, and a stampede of
/// `instances` booting at once: `(booted, throttled at boot)`.
async fn stampede(budget: Option<u32>, instances: u32) -> (Target, usize, usize) {
    let target = Target::embedded(SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        quotas: Quotas {
            imds_fleet_per_s: budget,
            ..Quotas::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("the double starts");
    common::world_on(&target, common::TRUST_EC2).await;
    let launched = fleet::launch(&target, &[group(instances)], &SdkSettings::default())
        .await
        .expect("launch");
    let ok = launched
        .iter()
        .filter(|i| i.boot.outcome.class == OutcomeClass::Ok)
        .count();
    let mut throttled_at_boot = 0;
    for i in &launched {
        if i.boot.outcome.class == OutcomeClass::Ok {
            continue;
        }
        assert_eq!(
            (i.boot.outcome.class, i.boot.outcome.detail.as_deref()),
            (OutcomeClass::CredentialsUnavailable, Some("imds_throttled")),
            "{}",
            i.instance_id
        );
        // One 429 per failed boot (the SDK does not retry a 429), from the
        // fleet budget, not the instance's own quota.
        let (all, fleet) = throttled(&target, &i.instance_id).await;
        assert_eq!((all, fleet), (1, 1), "{}", i.instance_id);
        throttled_at_boot += 1;
    }
    (target, ok, throttled_at_boot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_credential_budget_throttles_a_stampede_but_not_a_trickle() {
    // Without a budget, 20 instances fetching at once all get credentials.
    let (_, ok, failed) = stampede(None, 20).await;
    assert_eq!((ok, failed), (20, 0));

    // With 5/s shared by every instance: about the bucket's 5 get through.
    let (target, ok, failed) = stampede(Some(5), 20).await;
    eprintln!("stampede of 20 at 5/s: {ok} booted, {failed} throttled");
    assert!((5..=8).contains(&ok), "{ok} booted");
    assert_eq!(ok + failed, 20);

    // A trickle under the budget — one launch every 400 ms, 2.5/s against
    // 5/s, the first a refill after the stampede emptied the bucket — boots
    // every instance.
    let every = Duration::from_millis(400);
    let mut pace = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    for n in 0..5 {
        pace.tick().await;
        let one = fleet::launch(&target, &[group(1)], &SdkSettings::default())
            .await
            .expect("launch");
        let i = &one[0];
        assert_eq!(
            i.boot.outcome.class,
            OutcomeClass::Ok,
            "trickle launch {n}: {:?}",
            i.boot.outcome
        );
        assert_eq!(throttled(&target, &i.instance_id).await, (0, 0));
    }
}

/// A scale-out still waiting out its boot delay when the load ends does not
/// hold the run: it is reported unfinished and its instances never joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_action_still_booting_at_the_end_does_not_hold_the_run() {
    let scenario = BOOT_DELAY
        .replace("duration = \"4s\"", "duration = \"2s\"")
        .replace("boot_delay = \"1500ms\"", "boot_delay = \"10m\"");
    let started = std::time::Instant::now();
    let s = run("unfinished", &scenario).await;
    let took = started.elapsed();
    // Setup, 0.3 s start-fleet delay, 2 s of load, reports: far below 10 min.
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
    assert_eq!(s.timeline.len(), 2, "{:?}", s.timeline);
    assert_eq!(s.timeline[1].result, "not finished: the run ended first");
    assert_eq!(s.boots.len(), 1, "nothing joined: {:?}", s.boots);
}
