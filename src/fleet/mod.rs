//! Simulated instances: each launched on the target (its own IMDS
//! endpoint), with its own credential provider, identity cache, connection
//! pool and SDK clients, and a cap on requests in flight (its workers).
//! Boot = IMDS token + credential fetch, timed and classified, so a
//! credential stampede on scale-out is visible.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Semaphore;

use crate::observe::classify;
use crate::observe::outcome::{Outcome, OutcomeClass};
use crate::target::Target;
use crate::target::admin::AdminError;
use crate::target::clients::{self, SdkSettings};

/// One fleet group to launch.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub group: String,
    pub instance_profile: Option<String>,
    pub instances: u32,
    pub workers_per_instance: u32,
}

/// How an instance's first credential fetch went.
#[derive(Clone, Debug)]
pub struct Boot {
    pub duration: Duration,
    pub outcome: Outcome,
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
    /// One permit per worker: the cap on requests in flight.
    pub workers: Arc<Semaphore>,
    pub boot: Boot,
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

/// Launches every group's instances and boots them (credential fetch) concurrently.
pub async fn launch(
    target: &Target,
    groups: &[GroupSpec],
    settings: &SdkSettings,
) -> Result<Vec<SimInstance>, FleetError> {
    let mut pending = Vec::new();
    for g in groups {
        for _ in 0..g.instances {
            let launched = target
                .admin
                .launch_instance(g.instance_profile.as_deref())
                .await
                .map_err(|source| FleetError::Launch {
                    group: g.group.clone(),
                    source,
                })?;
            let (config, credentials) =
                clients::instance_config(target, &launched.imds_endpoint, settings).map_err(
                    |e| FleetError::Endpoint {
                        instance_id: launched.instance_id.clone(),
                        endpoint: launched.imds_endpoint.clone(),
                        message: e.to_string(),
                    },
                )?;
            pending.push((g, launched, config, credentials));
        }
    }
    let boots = futures::future::join_all(pending.iter().map(|(_, _, _, creds)| boot(creds))).await;
    Ok(pending
        .into_iter()
        .zip(boots)
        .enumerate()
        .map(
            |(index, ((g, launched, config, credentials), boot))| SimInstance {
                index,
                group: g.group.clone(),
                instance_id: launched.instance_id,
                imds_endpoint: launched.imds_endpoint,
                s3: clients::s3(&config),
                sts: clients::sts(&config),
                iam: clients::iam(&config),
                credentials,
                workers: Arc::new(Semaphore::new(g.workers_per_instance as usize)),
                boot,
            },
        )
        .collect())
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
