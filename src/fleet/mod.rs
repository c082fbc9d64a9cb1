//! Simulated instances: each launched on the target (its own IMDS
//! endpoint), with its own credential provider, identity cache, connection
//! pool and SDK clients, and a cap on requests in flight (its workers).
//! An instance waits out its launch template's boot delay (the OS boot),
//! then boots = IMDS token + credential fetch, timed and classified, so a
//! credential stampede on scale-out is visible; only then does it join.
//!
//! [`Fleet`] is the run's registry: instances launched at start, by
//! `scale-out` and by `replace`, each group's launch template versions (new
//! instances use the current one), and retirement by `scale-in`/`replace`. Senders read it through a
//! version number, so membership changes cost them nothing until they happen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Semaphore;

use crate::observe::classify;
use crate::observe::outcome::{Outcome, OutcomeClass};
use crate::target::Target;
use crate::target::admin::AdminError;
use crate::target::clients::{self, SdkSettings};
use crate::target::identity::CredentialsCache;

/// One fleet group to launch.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub group: String,
    pub instance_profile: Option<String>,
    pub instances: u32,
    pub workers_per_instance: u32,
    /// Waited after launch, before the boot (the OS booting).
    pub boot_delay: Duration,
}

/// How an instance's first credential fetch went.
#[derive(Clone, Debug)]
pub struct Boot {
    pub duration: Duration,
    pub outcome: Outcome,
}

/// One version of a group's launch template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchTemplate {
    /// 1 for the scenario's `[[fleet]]` entry, then +1 per `set-launch-template`.
    pub version: u32,
    pub instance_profile: Option<String>,
    pub workers_per_instance: u32,
    pub boot_delay: Duration,
}

/// What a `set-launch-template` changes; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateChange {
    pub instance_profile: Option<String>,
    pub workers_per_instance: Option<u32>,
    pub boot_delay: Option<Duration>,
}

/// A running simulated instance.
pub struct SimInstance {
    /// Position in the fleet, stable for the run (reports key on it).
    pub index: usize,
    pub group: String,
    pub instance_id: String,
    pub imds_endpoint: String,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
    pub credentials: SharedCredentialsProvider,
    /// The raw engine's identity cache over `credentials` (empty until a
    /// raw entry sends).
    pub raw_credentials: CredentialsCache,
    /// One permit per worker: the cap on requests in flight.
    pub workers: Arc<Semaphore>,
    /// The cap itself.
    pub workers_per_instance: u32,
    pub boot: Boot,
    /// The launch template version it was launched with.
    pub template_version: u32,
    /// When it was launched, s since the load started (0 for the first fleet).
    pub launched_at_s: f64,
    /// The boot delay it waited before its boot.
    pub boot_delay: Duration,
    /// When it joined the load, s since the load started: launch + boot
    /// delay + boot (0 for the first fleet, which is up before the load).
    pub joined_at_s: f64,
    /// Set by `scale-in`: it sends nothing more.
    pub retired: AtomicBool,
}

/// The run's instances and launch templates.
pub struct Fleet {
    instances: RwLock<Vec<Arc<SimInstance>>>,
    /// Bumped on every membership change.
    version: AtomicU64,
    templates: Mutex<HashMap<String, LaunchTemplate>>,
}

impl Fleet {
    /// The fleet launched at start; each group's template is version 1.
    pub fn new(instances: Vec<SimInstance>, groups: &[GroupSpec]) -> Fleet {
        let templates = groups
            .iter()
            .map(|g| {
                (
                    g.group.clone(),
                    LaunchTemplate {
                        version: 1,
                        instance_profile: g.instance_profile.clone(),
                        workers_per_instance: g.workers_per_instance,
                        boot_delay: g.boot_delay,
                    },
                )
            })
            .collect();
        Fleet {
            instances: RwLock::new(instances.into_iter().map(Arc::new).collect()),
            version: AtomicU64::new(0),
            templates: Mutex::new(templates),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<SimInstance>>> {
        self.instances.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Instances ever launched (retired ones included: indexes are stable).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The instance at `index`.
    pub fn get(&self, index: usize) -> Option<Arc<SimInstance>> {
        self.read().get(index).cloned()
    }

    /// Every instance ever launched, in index order.
    pub fn all(&self) -> Vec<Arc<SimInstance>> {
        self.read().clone()
    }

    /// Changes whenever an instance joins or retires.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Running instances of `groups` (all groups when `None`), in index order.
    pub fn active(&self, groups: Option<&[String]>) -> Vec<Arc<SimInstance>> {
        self.read()
            .iter()
            .filter(|i| !i.retired.load(Ordering::Acquire))
            .filter(|i| groups.is_none_or(|g| g.contains(&i.group)))
            .cloned()
            .collect()
    }

    /// The group's current launch template.
    pub fn template(&self, group: &str) -> Option<LaunchTemplate> {
        self.templates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(group)
            .cloned()
    }

    /// Makes a new template version current; returns it.
    pub fn set_template(&self, group: &str, change: TemplateChange) -> Option<LaunchTemplate> {
        let mut templates = self.templates.lock().unwrap_or_else(|e| e.into_inner());
        let t = templates.get_mut(group)?;
        t.version += 1;
        if let Some(p) = change.instance_profile {
            t.instance_profile = Some(p);
        }
        if let Some(w) = change.workers_per_instance {
            t.workers_per_instance = w;
        }
        if let Some(d) = change.boot_delay {
            t.boot_delay = d;
        }
        Some(t.clone())
    }

    /// Adds instances (they get the next indexes); returns them as joined.
    pub fn join(&self, new: Vec<SimInstance>) -> Vec<Arc<SimInstance>> {
        let mut all = self.instances.write().unwrap_or_else(|e| e.into_inner());
        let mut joined = Vec::with_capacity(new.len());
        for mut i in new {
            i.index = all.len();
            let i = Arc::new(i);
            all.push(i.clone());
            joined.push(i);
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        joined
    }

    /// Replaces running instance `old` (retired) with `new` (joined), as
    /// after a reboot: reports keep both, under their own indexes.
    pub fn replace(&self, old: &SimInstance, new: SimInstance) {
        old.retired.store(true, Ordering::Release);
        self.join(vec![new]);
    }

    /// Retires `instances` (they finish what is in flight, then send nothing).
    pub fn retire(&self, instances: &[Arc<SimInstance>]) {
        for i in instances {
            i.retired.store(true, Ordering::Release);
        }
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Retires the newest `n` running instances of `group`; returns them.
    pub fn retire_newest(&self, group: &str, n: usize) -> Vec<Arc<SimInstance>> {
        let mut running = self.active(Some(&[group.to_owned()]));
        let retired: Vec<Arc<SimInstance>> = running.split_off(running.len().saturating_sub(n));
        for i in &retired {
            i.retired.store(true, Ordering::Release);
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        retired
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("could not launch an instance of group {group}: {source}")]
    Launch {
        group: String,
        #[source]
        source: AdminError,
    },
    #[error("bad IMDS endpoint {endpoint} for instance {instance_id}: {message}")]
    Endpoint {
        instance_id: String,
        endpoint: String,
        message: String,
    },
}

/// Launches every group's instances and boots them (boot delay, then
/// credential fetch) concurrently, as launch template version 1 at time 0:
/// the load starts once they are up, so they joined at 0 too.
pub async fn launch(
    target: &Target,
    groups: &[GroupSpec],
    settings: &SdkSettings,
) -> Result<Vec<SimInstance>, FleetError> {
    let mut launched = launch_at(target, groups, settings, 1, 0.0).await?;
    for i in &mut launched {
        i.joined_at_s = 0.0;
    }
    Ok(launched)
}

/// Launches `groups`' instances as template `version` at `at_s`; each waits
/// its group's boot delay, then they boot concurrently (a scale-out's
/// credential stampede is this call). Returns when every one has booted:
/// the caller joins them then.
pub async fn launch_at(
    target: &Target,
    groups: &[GroupSpec],
    settings: &SdkSettings,
    version: u32,
    at_s: f64,
) -> Result<Vec<SimInstance>, FleetError> {
    let started = Instant::now();
    let mut pending = Vec::new();
    for g in groups {
        for _ in 0..g.instances {
            let launched = target
                .launch_instance(g.instance_profile.as_deref())
                .await
                .map_err(|source| FleetError::Launch {
                    group: g.group.clone(),
                    source,
                })?;
            let (config, credentials) =
                clients::instance_config(target, &launched.imds_endpoint, settings)
                    .await
                    .map_err(|e| FleetError::Endpoint {
                        instance_id: launched.instance_id.clone(),
                        endpoint: launched.imds_endpoint.clone(),
                        message: e.to_string(),
                    })?;
            pending.push((g, launched, config, credentials));
        }
    }
    let boots = futures::future::join_all(pending.iter().map(|(g, _, _, creds)| async move {
        tokio::time::sleep(g.boot_delay).await;
        boot(creds).await
    }))
    .await;
    let joined_at_s = at_s + started.elapsed().as_secs_f64();
    Ok(pending
        .into_iter()
        .zip(boots)
        .enumerate()
        .map(
            |(index, ((g, launched, config, credentials), boot))| SimInstance {
                index,
                group: g.group.clone(),
                raw_credentials: raw_credentials(&credentials, settings, &launched.instance_id),
                instance_id: launched.instance_id,
                imds_endpoint: launched.imds_endpoint,
                s3: clients::instance_s3(&config, settings.lean),
                sts: clients::sts(&config),
                iam: clients::iam(&config),
                credentials,
                workers: Arc::new(Semaphore::new(g.workers_per_instance as usize)),
                workers_per_instance: g.workers_per_instance,
                boot,
                template_version: version,
                launched_at_s: at_s,
                boot_delay: g.boot_delay,
                joined_at_s,
                retired: AtomicBool::new(false),
            },
        )
        .collect())
}

/// The app on `old` restarted after a reboot: the same instance (id, IMDS
/// endpoint, group, template), new SDK clients with an empty identity cache,
/// booted again (timed and classified) — what a process restart does. The
/// OS boot itself is not modelled here: no boot delay.
pub async fn restart(
    target: &Target,
    old: &SimInstance,
    settings: &SdkSettings,
    at_s: f64,
) -> Result<SimInstance, FleetError> {
    let (config, credentials) = clients::instance_config(target, &old.imds_endpoint, settings)
        .await
        .map_err(|e| FleetError::Endpoint {
            instance_id: old.instance_id.clone(),
            endpoint: old.imds_endpoint.clone(),
            message: e.to_string(),
        })?;
    let boot = boot(&credentials).await;
    let joined_at_s = at_s + boot.duration.as_secs_f64();
    Ok(SimInstance {
        index: old.index,
        group: old.group.clone(),
        instance_id: old.instance_id.clone(),
        imds_endpoint: old.imds_endpoint.clone(),
        s3: clients::instance_s3(&config, settings.lean),
        sts: clients::sts(&config),
        iam: clients::iam(&config),
        raw_credentials: raw_credentials(&credentials, settings, &old.instance_id),
        credentials,
        workers: Arc::new(Semaphore::new(old.workers_per_instance as usize)),
        workers_per_instance: old.workers_per_instance,
        boot,
        template_version: old.template_version,
        launched_at_s: at_s,
        boot_delay: Duration::ZERO,
        joined_at_s,
        retired: AtomicBool::new(false),
    })
}

/// The raw engine's cache over the instance's provider, refreshing with
/// the SDK clients' buffer.
fn raw_credentials(
    credentials: &SharedCredentialsProvider,
    settings: &SdkSettings,
    instance_id: &str,
) -> CredentialsCache {
    CredentialsCache::new(
        credentials.clone(),
        settings.identity_cache_buffer,
        settings.connect_timeout,
        instance_id,
    )
}

async fn boot(credentials: &SharedCredentialsProvider) -> Boot {
    let started = Instant::now();
    let result = credentials.provide_credentials().await;
    let outcome = match result {
        Ok(_) => Outcome::new(OutcomeClass::Ok, None),
        Err(e) => Outcome::new(
            OutcomeClass::CredentialsUnavailable,
            Some(classify::credentials_detail(&e).to_owned()),
        ),
    };
    Boot {
        duration: started.elapsed(),
        outcome,
    }
}
