//! What the doctor examines: the target (an embedded double seeded from
//! `--scenario`, an endpoint, or real AWS) and the one instance whose
//! credentials it diagnoses — a simulated instance chosen with
//! `--instance`, an instance of an endpoint double (its admin listing), or
//! the machine the doctor runs on (IMDS at its default address or
//! `--imds-endpoint`). With a scenario, `--timeline-until` first applies
//! the scenario's timeline actions scheduled up to that time, at once and
//! in order, so a cause that a timeline sets up can be diagnosed offline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::chaos::{self, Clients, Launcher};
use crate::fleet::{self, Fleet, GroupSpec, SimInstance};
use crate::scenario::{self, Scenario, TargetKind};
use crate::target::clients::{self, SdkSettings};
use crate::target::{ConnectError, Target};

/// Seed for the double when neither `--seed` nor the scenario names one.
const DEFAULT_SEED: u64 = 1;

/// The target and the instance under examination.
pub struct Subject {
    pub target: Arc<Target>,
    pub instance_id: Option<String>,
    pub group: Option<String>,
    pub imds_endpoint: String,
    /// (profile, where the expectation comes from).
    pub expected_profile: Option<(String, String)>,
    /// Timeline actions applied before the diagnosis, with their results.
    pub timeline_applied: Vec<String>,
    /// Keeps the simulated instances' registry alive.
    _fleet: Option<Arc<Fleet>>,
}

/// Why there is nothing to examine.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    /// The user's input: exit 2.
    #[error("{0}")]
    BadInput(String),
    /// The target: exit 3.
    #[error("{0}")]
    Unreachable(String),
}

/// How the subject is chosen (from the command line).
pub struct Selection<'a> {
    pub scenario: Option<&'a Path>,
    pub target: Option<TargetKind>,
    pub endpoint_url: Option<String>,
    pub instance: Option<&'a str>,
    pub imds_endpoint: Option<String>,
    pub expect_profile: Option<String>,
    pub timeline_until: Option<Duration>,
    pub seed: Option<u64>,
}

/// Brings up (or connects to) the target and picks the instance.
pub async fn prepare(sel: &Selection<'_>) -> Result<Subject, SubjectError> {
    match sel.scenario {
        Some(path) => from_scenario(sel, path).await,
        None => connected(sel).await,
    }
}

fn expected(sel: &Selection<'_>) -> Option<(String, String)> {
    sel.expect_profile
        .clone()
        .map(|p| (p, "--expect-profile".to_owned()))
}

async fn from_scenario(sel: &Selection<'_>, path: &Path) -> Result<Subject, SubjectError> {
    let scenario = scenario::load(path).map_err(|e| SubjectError::BadInput(e.to_string()))?;
    if let Some(until) = sel.timeline_until
        && until > scenario.duration
    {
        return Err(SubjectError::BadInput(format!(
            "--timeline-until {until:?} is past the end of {} ({:?})",
            path.display(),
            scenario.duration
        )));
    }
    let seed = sel.seed.or(scenario.seed).unwrap_or(DEFAULT_SEED);
    let target = Target::embedded(crate::run::sim_config(&scenario, seed))
        .await
        .map_err(|e| SubjectError::Unreachable(format!("cannot start the embedded double: {e}")))?;
    let target = Arc::new(target);
    let unreachable = |what: &str, e: String| {
        SubjectError::Unreachable(format!(
            "seeding the double from {} failed at {what}: {e}",
            path.display()
        ))
    };
    let operator = clients::operator_config(&target);
    crate::setup::apply(&scenario, &clients::iam(&operator), &clients::s3(&operator))
        .await
        .map_err(|e| unreachable("setup", e.to_string()))?;
    target
        .embedded_admin()
        .converge()
        .await
        .map_err(|e| unreachable("converge", e.to_string()))?;
    let groups = group_specs(&scenario);
    let settings = SdkSettings::default();
    let launched = fleet::launch(&target, &groups, &settings)
        .await
        .map_err(|e| unreachable("fleet launch", e.to_string()))?;
    if !scenario.sim.faults.is_empty() {
        target
            .embedded_admin()
            .add_faults(&scenario.sim.faults)
            .await
            .map_err(|e| unreachable("faults", e.to_string()))?;
    }
    let fleet = Arc::new(Fleet::new(launched, &groups));
    let timeline_applied = match sel.timeline_until {
        Some(until) => apply_timeline(&scenario, &target, &fleet, &settings, until).await,
        None => Vec::new(),
    };
    let instance = choose(&fleet, sel.instance, path)?;
    let expected_profile = expected(sel).or_else(|| {
        scenario
            .fleet
            .iter()
            .find(|g| g.group == instance.group)
            .map(|g| {
                (
                    g.instance_profile.clone(),
                    format!("scenario fleet group {}", g.group),
                )
            })
    });
    Ok(Subject {
        instance_id: Some(instance.instance_id.clone()),
        group: Some(instance.group.clone()),
        imds_endpoint: sel
            .imds_endpoint
            .clone()
            .unwrap_or_else(|| instance.imds_endpoint.clone()),
        expected_profile,
        timeline_applied,
        target,
        _fleet: Some(fleet),
    })
}

fn group_specs(scenario: &Scenario) -> Vec<GroupSpec> {
    scenario
        .fleet
        .iter()
        .map(|g| GroupSpec {
            group: g.group.clone(),
            instance_profile: Some(g.instance_profile.clone()),
            instances: g.instances,
            workers_per_instance: g.workers_per_instance,
            // The doctor arrives after the boot: nothing to wait for.
            boot_delay: Duration::ZERO,
        })
        .collect()
}

/// Applies the timeline actions at or before `until`, in order, at once.
async fn apply_timeline(
    scenario: &Scenario,
    target: &Arc<Target>,
    fleet: &Arc<Fleet>,
    settings: &SdkSettings,
    until: Duration,
) -> Vec<String> {
    let operator = clients::operator_config(target);
    let keys = target.operator_keys();
    let ec2 = target.endpoint_url.as_deref().map(|url| {
        crate::target::ec2::Ec2Client::new(
            url,
            &target.region,
            keys.access_key_id(),
            keys.secret_access_key(),
        )
    });
    let clients = Clients {
        iam: clients::iam(&operator),
        s3: clients::s3(&operator),
        admin: target.double_admin().cloned(),
        fleet: Some(fleet.clone()),
        instances: Vec::new(),
        launcher: Some(Launcher {
            target: target.clone(),
            sdk: settings.clone(),
            t0: tokio::time::Instant::now(),
        }),
        ec2,
        journal: None,
    };
    let mut applied = Vec::new();
    for action in scenario.timeline.iter().filter(|a| a.at <= until) {
        let a = chaos::apply(&clients, &action.kind, action.at.as_secs_f64()).await;
        applied.push(match a.result {
            Ok(()) => format!("at {}s {}: ok", action.at.as_secs_f64(), a.label),
            Err(e) => format!("at {}s {}: failed: {e}", action.at.as_secs_f64(), a.label),
        });
    }
    applied
}

/// `--instance`: an instance id, `GROUP` (its first running instance),
/// `GROUP:N` (its N-th, from 0) or `GROUP:newest`; default the first
/// instance of the first group.
fn choose(
    fleet: &Fleet,
    wanted: Option<&str>,
    path: &Path,
) -> Result<Arc<SimInstance>, SubjectError> {
    let running = fleet.active(None);
    let listing = || {
        running
            .iter()
            .map(|i| format!("{} ({})", i.instance_id, i.group))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(wanted) = wanted else {
        return running.first().cloned().ok_or_else(|| {
            SubjectError::BadInput(format!("{} launches no instance", path.display()))
        });
    };
    if let Some(i) = running.iter().find(|i| i.instance_id == wanted) {
        return Ok(i.clone());
    }
    let (group, which) = match wanted.split_once(':') {
        Some((g, w)) => (g, Some(w)),
        None => (wanted, None),
    };
    let members: Vec<&Arc<SimInstance>> = running.iter().filter(|i| i.group == group).collect();
    if members.is_empty() {
        return Err(SubjectError::BadInput(format!(
            "--instance {wanted:?}: no running instance or group of that name in {}\n  help: use an instance id, GROUP, GROUP:N or GROUP:newest; running: {}",
            path.display(),
            listing()
        )));
    }
    let picked = match which {
        None => members.first(),
        Some("newest") => members.last(),
        Some(n) => match n.parse::<usize>() {
            Ok(n) => members.get(n),
            Err(_) => {
                return Err(SubjectError::BadInput(format!(
                    "--instance {wanted:?}: {n:?} is not a number or \"newest\""
                )));
            }
        },
    };
    picked.map(|i| (*i).clone()).ok_or_else(|| {
        SubjectError::BadInput(format!(
            "--instance {wanted:?}: group {group} has {} running instance(s) (0..{})",
            members.len(),
            members.len().saturating_sub(1)
        ))
    })
}

/// An endpoint or real AWS.
async fn connected(sel: &Selection<'_>) -> Result<Subject, SubjectError> {
    if sel.timeline_until.is_some() {
        return Err(SubjectError::BadInput(
            "--timeline-until needs --scenario (it applies that scenario's timeline)".to_owned(),
        ));
    }
    let endpoint_url = sel.endpoint_url.clone().or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|u| !u.is_empty())
    });
    let kind = match sel.target {
        Some(TargetKind::Sim) => {
            return Err(SubjectError::BadInput(
                "--target sim needs --scenario FILE: an empty double has no instance to diagnose"
                    .to_owned(),
            ));
        }
        Some(k) => k,
        None if endpoint_url.is_some() => TargetKind::Endpoint,
        None => TargetKind::Aws,
    };
    let target = Target::connect(kind, endpoint_url, None)
        .await
        .map_err(|e| match e {
            ConnectError::NoEndpoint { .. } => SubjectError::BadInput(e.to_string()),
            other => SubjectError::Unreachable(other.to_string()),
        })?;
    let target = Arc::new(target);
    let (instance_id, imds_endpoint) = match (&sel.imds_endpoint, target.double_admin()) {
        (None, Some(admin)) => {
            let listed = list_instances(admin.base()).await?;
            let picked = match sel.instance {
                Some(id) => listed.iter().find(|(i, _)| i == id),
                None => listed.first(),
            };
            match picked {
                Some((id, imds)) => (Some(id.clone()), imds.clone()),
                None => {
                    return Err(SubjectError::BadInput(format!(
                        "the double at {} has no instance{}\n  help: launch one (iamstorm sim --scenario FILE) or pass --imds-endpoint",
                        target.endpoint_url.as_deref().unwrap_or_default(),
                        sel.instance
                            .map(|i| format!(" named {i}"))
                            .unwrap_or_default()
                    )));
                }
            }
        }
        (imds, _) => {
            let imds = imds
                .clone()
                .or_else(|| {
                    std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                        .ok()
                        .filter(|u| !u.is_empty())
                })
                .unwrap_or_else(|| super::imds::DEFAULT_IMDS_ENDPOINT.to_owned());
            let id = match sel.instance {
                Some(i) => Some(i.to_owned()),
                None => super::imds::Imds::new(&imds).instance_id().await,
            };
            (id, imds)
        }
    };
    Ok(Subject {
        instance_id,
        group: None,
        imds_endpoint,
        expected_profile: expected(sel),
        timeline_applied: Vec::new(),
        target,
        _fleet: None,
    })
}

/// `(instance id, IMDS endpoint)` of every instance an endpoint double has.
async fn list_instances(admin_base: &str) -> Result<Vec<(String, String)>, SubjectError> {
    let url = format!("{admin_base}instances");
    let unreachable =
        |e: String| SubjectError::Unreachable(format!("admin API {url} unreachable: {e}"));
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::get(&url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| unreachable(e.to_string()))?;
    let resp = tokio::time::timeout(Duration::from_secs(10), http.request(req))
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| unreachable(e.to_string()))?;
    Ok(v["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i["instance_id"].as_str()?.to_owned(),
                i["imds_endpoint"].as_str()?.to_owned(),
            ))
        })
        .collect())
}
