//! `iamstorm sim`: the double served standalone until Ctrl-C, optionally
//! seeded from a scenario. Seeding goes through the harness's own doors —
//! `setup` (IAM roles, trust, inline policies, instance profiles, buckets,
//! objects through the real SDK) and `fleet` (instances launched through
//! the admin API and booted through their IMDS) — never into the double's
//! state directly. Prints `export` lines an AWS client can use as they are,
//! preceded by one `# instance …` line per launched instance.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::ShutdownSignal;
use crate::exit::Exit;
use crate::fleet::{self, GroupSpec};
use crate::scenario::{self, Scenario};
use crate::sim::SimConfig;
use crate::target::Target;
use crate::target::clients::{self, SdkSettings};

/// What `iamstorm sim` was asked to serve. Its `Debug` redacts the secret key.
#[derive(Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub limits: SimLimits,
    pub seed: Option<u64>,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub scenario: Option<PathBuf>,
    pub instance_credentials_ttl: Option<Duration>,
    pub imds_rotate_before: Option<Duration>,
    pub imds_association_lag: Option<Duration>,
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOptions")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field("seed", &self.seed)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("scenario", &self.scenario)
            .finish_non_exhaustive()
    }
}

/// The standalone double's exposure and size limits (`None`: the default).
#[derive(Clone, Debug, Default)]
pub struct SimLimits {
    /// Close the admin API once seeded.
    pub no_admin: bool,
    /// Serve the admin API to non-loopback peers.
    pub admin_allow_remote: bool,
    pub max_object_bytes: Option<u64>,
    pub max_store_bytes: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub max_connections: Option<usize>,
}

/// Seed used when neither `--seed` nor the scenario names one.
const DEFAULT_SEED: u64 = 1;

fn config(opts: &SimOptions, scenario: Option<&Scenario>) -> SimConfig {
    let seed = opts
        .seed
        .or(scenario.and_then(|s| s.seed))
        .unwrap_or(DEFAULT_SEED);
    let base = match scenario {
        Some(s) => crate::run::sim_config(s, seed),
        None => SimConfig::default(),
    };
    let mut config = SimConfig {
        listen: opts.listen,
        seed,
        admin_access_key_id: opts.access_key_id.clone(),
        admin_secret_access_key: opts.secret_access_key.clone(),
        ..base
    };
    if let Some(ttl) = opts.instance_credentials_ttl {
        config.instance_credentials_ttl = ttl;
    }
    if let Some(lead) = opts.imds_rotate_before {
        config.instance_credentials_rotate_before = lead;
    }
    if let Some(lag) = opts.imds_association_lag {
        config.imds_association_lag = lag;
    }
    let limits = &opts.limits;
    config.admin_allow_remote = limits.admin_allow_remote;
    if let Some(n) = limits.max_object_bytes {
        config.max_object_bytes = n;
    }
    if let Some(n) = limits.max_store_bytes {
        config.max_store_bytes = n;
    }
    if let Some(n) = limits.max_body_bytes {
        config.max_query_body_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = limits.max_connections {
        config.max_connections = n;
    }
    config
}

/// One printed line per launched instance.
struct Launched {
    instance_id: String,
    imds_endpoint: String,
    group: String,
    profile: String,
    credentials: String,
}

/// Brings the double to the scenario's starting state and launches its fleet.
async fn seed(target: &Target, scenario: &Scenario) -> Result<Vec<Launched>, String> {
    let operator = clients::operator_config(target);
    crate::setup::apply(scenario, &clients::iam(&operator), &clients::s3(&operator))
        .await
        .map_err(|e| e.to_string())?;
    target
        .embedded_admin()
        .converge()
        .await
        .map_err(|e| e.to_string())?;
    let groups: Vec<GroupSpec> = scenario
        .fleet
        .iter()
        .map(|g| GroupSpec {
            group: g.group.clone(),
            instance_profile: Some(g.instance_profile.clone()),
            instances: g.instances,
            workers_per_instance: g.workers_per_instance,
            boot_delay: g.boot_delay,
        })
        .collect();
    let fleet = fleet::launch(target, &groups, &SdkSettings::default())
        .await
        .map_err(|e| e.to_string())?;
    // The scenario's faults, timed from the moment the double is seeded.
    if !scenario.sim.faults.is_empty() {
        target
            .embedded_admin()
            .add_faults(&scenario.sim.faults)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(fleet
        .into_iter()
        .map(|i| Launched {
            profile: groups
                .iter()
                .find(|g| g.group == i.group)
                .and_then(|g| g.instance_profile.clone())
                .unwrap_or_default(),
            credentials: match &i.boot.outcome.detail {
                Some(d) => format!("{:?} ({d})", i.boot.outcome.class),
                None => format!("{:?}", i.boot.outcome.class),
            }
            .to_lowercase(),
            instance_id: i.instance_id,
            imds_endpoint: i.imds_endpoint,
            group: i.group,
        })
        .collect())
}

/// The `sim` command.
pub async fn serve_sim(opts: SimOptions) -> Exit {
    let scenario = match &opts.scenario {
        Some(path) => match scenario::load(path) {
            Ok(s) => Some(s),
            Err(e) => {
                errln!("{e}");
                return Exit::BadInput;
            }
        },
        None => None,
    };
    let config = config(&opts, scenario.as_ref());
    let (listen, seed) = (config.listen, config.seed);
    if !listen.ip().is_loopback() {
        errln!(
            "warning: serving the double on {listen}, which is not a loopback address: anyone who can reach it can use the admin keys{}",
            if config.admin_allow_remote {
                ", and the admin API (--admin-allow-remote)"
            } else {
                " (the admin API still answers loopback peers only)"
            }
        );
    }
    let target = match Target::embedded(config).await {
        Ok(t) => t,
        Err(e) => {
            errln!(
                "error: cannot listen on {listen}: {e}\n  help: pick another port with --listen 127.0.0.1:PORT"
            );
            return Exit::TargetUnavailable;
        }
    };
    let launched = match &scenario {
        Some(s) => match seed_or_report(&target, s, &opts).await {
            Some(l) => l,
            None => return Exit::TargetUnavailable,
        },
        None => Vec::new(),
    };
    // Listen before announcing readiness, so a signal sent right after the
    // exports are read is not lost.
    let mut shutdown = ShutdownSignal::install();
    let admin = if opts.limits.no_admin {
        // Seeding used it; from here the double is a plain AWS endpoint.
        target.close_embedded_admin();
        "off (--no-admin)".to_owned()
    } else {
        target.embedded_admin().base().to_string()
    };
    outln!(
        "# iamstorm double on {} (seed {seed}); admin API {admin}",
        target.endpoint_url.as_deref().unwrap_or_default(),
    );
    for l in &launched {
        outln!(
            "# instance {} imds {} group {} profile {} credentials {}",
            l.instance_id,
            l.imds_endpoint,
            l.group,
            l.profile,
            l.credentials
        );
    }
    let keys = target.operator_keys();
    outln!(
        "export AWS_ENDPOINT_URL={}",
        target.endpoint_url.as_deref().unwrap_or_default()
    );
    outln!("export AWS_ACCESS_KEY_ID={}", keys.access_key_id());
    outln!("export AWS_SECRET_ACCESS_KEY={}", keys.secret_access_key());
    outln!("export AWS_REGION={}", target.region);
    // AWS CLI v1 and older boto3 read the region from this one.
    outln!("export AWS_DEFAULT_REGION={}", target.region);
    shutdown.recv().await;
    drop(target);
    errln!("iamstorm sim: stopped");
    Exit::Ok
}

async fn seed_or_report(
    target: &Target,
    scenario: &Scenario,
    opts: &SimOptions,
) -> Option<Vec<Launched>> {
    match seed(target, scenario).await {
        Ok(l) => Some(l),
        Err(e) => {
            let path = opts
                .scenario
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            errln!("error: seeding the double from {path} failed: {e}");
            None
        }
    }
}
