//! Which target a run talks to and how to reach it: the embedded double on
//! ephemeral loopback ports (default), any AWS-compatible endpoint, or real
//! AWS. Every conversation goes through the real AWS SDK (data and control
//! plane); a target that is an iamstorm double (embedded, or an endpoint
//! that answers `/_iamstorm/health`) also has its admin API, which launches
//! simulated instances with their own IMDS and reads ground truth. Without
//! it, each simulated instance takes credentials from the default chain
//! (env, profile, and on EC2 the real instance profile through IMDS).

pub mod admin;
pub mod clients;
pub mod ec2;
pub mod identity;

use std::sync::atomic::{AtomicU64, Ordering};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::scenario::TargetKind;
use crate::sim::{self, SimConfig, SimHandle};

pub use admin::AdminClient;
use admin::{AdminError, LaunchedInstance};

/// The region used when neither the scenario nor the default chain names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A reachable target.
pub struct Target {
    pub kind: TargetKind,
    /// `None`: the SDK resolves AWS's own endpoints.
    pub endpoint_url: Option<String>,
    pub region: String,
    pub account_id: String,
    /// The operator's credentials (setup, timeline, rollback): the embedded
    /// double's admin keys, else the default chain's.
    pub operator: SharedCredentialsProvider,
    /// The operator's keys as resolved at connect (the EC2 Query client
    /// signs with them).
    operator_keys: Credentials,
    /// The double's admin API, when the target is a double.
    admin: Option<AdminClient>,
    /// Ids for simulated instances on targets without an admin API.
    next_local_instance: AtomicU64,
    /// Keeps the embedded double alive for the run.
    _sim: Option<SimHandle>,
}

/// Why a target could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "{kind} target needs an endpoint URL\n  help: pass --endpoint-url http://HOST:PORT, set AWS_ENDPOINT_URL, or write url = \"...\" under [target]"
    )]
    NoEndpoint { kind: TargetKind },
    #[error(
        "no operator credentials from the default chain: {0}\n  help: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for `iamstorm sim`, the keys it prints) or AWS_PROFILE"
    )]
    NoCredentials(String),
    #[error("the target at {endpoint} did not answer sts:GetCallerIdentity: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("cannot start the embedded double: {0}")]
    Embedded(std::io::Error),
}

impl Target {
    /// The double's admin API: the embedded double, or an endpoint that is
    /// an iamstorm double. `None` for other endpoints and real AWS (double-only
    /// timeline actions refuse then, and there is no ground truth).
    pub fn double_admin(&self) -> Option<&AdminClient> {
        self.admin.as_ref()
    }

    /// The embedded double's admin API (`Target::embedded` always has one).
    pub fn embedded_admin(&self) -> &AdminClient {
        assert!(
            self.is_embedded(),
            "only the embedded double is sure to have an admin API"
        );
        self.admin
            .as_ref()
            .expect("Target::embedded sets the admin API")
    }

    /// Whether the double runs inside this process (its state dies with the run).
    pub fn is_embedded(&self) -> bool {
        self._sim.is_some()
    }

    /// Closes the embedded double's admin API (`iamstorm sim --no-admin`,
    /// once seeded); nothing on other targets.
    pub fn close_embedded_admin(&self) {
        if let Some(sim) = &self._sim {
            sim.close_admin();
        }
    }

    /// The operator's keys as resolved at connect.
    pub fn operator_keys(&self) -> &Credentials {
        &self.operator_keys
    }

    /// Where requests go, for humans.
    pub fn describe(&self) -> String {
        let at = self.endpoint_url.as_deref().unwrap_or("AWS endpoints");
        match (self.kind, self.is_embedded(), self.admin.is_some()) {
            (_, true, _) => format!("embedded double at {at}"),
            (_, false, true) => format!(
                "{} target {at} (an iamstorm double: instances with IMDS, ground truth)",
                self.kind
            ),
            _ => format!(
                "{} target {at}, region {}, account {} (no iamstorm admin API: instances use the default credential chain, no ground truth)",
                self.kind, self.region, self.account_id
            ),
        }
    }

    /// Starts the embedded double and points at it.
    pub async fn embedded(config: SimConfig) -> std::io::Result<Self> {
        let handle = sim::start(config).await?;
        let keys = Credentials::new(
            handle.admin_access_key_id.clone(),
            handle.admin_secret_access_key.clone(),
            None,
            None,
            "iamstorm-operator",
        );
        Ok(Self {
            kind: TargetKind::Sim,
            endpoint_url: Some(handle.endpoint_url()),
            region: handle.region.clone(),
            account_id: handle.account_id.clone(),
            operator: SharedCredentialsProvider::new(keys.clone()),
            operator_keys: keys,
            admin: Some(AdminClient::new(handle.admin_url())),
            next_local_instance: AtomicU64::new(0),
            _sim: Some(handle),
        })
    }

    /// Connects to an endpoint or real AWS with the default credential chain:
    /// detects an iamstorm double by its admin API, then proves the target
    /// answers (and learns the account) with `sts:GetCallerIdentity`.
    pub async fn connect(
        kind: TargetKind,
        endpoint_url: Option<String>,
        region: Option<String>,
    ) -> Result<Self, ConnectError> {
        assert!(
            kind != TargetKind::Sim,
            "the embedded double starts with Target::embedded"
        );
        if kind == TargetKind::Endpoint && endpoint_url.is_none() {
            return Err(ConnectError::NoEndpoint { kind });
        }
        let endpoint_url = endpoint_url.map(|u| u.trim_end_matches('/').to_owned());
        // Only an endpoint may be a double: against `aws` the run behaves as
        // against real AWS even when pointed at one (that is how it is tested).
        let admin = match &endpoint_url {
            Some(url) if kind == TargetKind::Endpoint => {
                let admin = AdminClient::new(format!("{url}{}", sim::admin::PREFIX));
                admin.health().await.ok().map(|_| admin)
            }
            _ => None,
        };
        let region = match region {
            Some(r) => r,
            None => aws_config::default_provider::region::DefaultRegionChain::builder()
                .build()
                .region()
                .await
                .map_or_else(|| DEFAULT_REGION.to_owned(), |r| r.to_string()),
        };
        let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
            .region(aws_config::Region::new(region.clone()))
            .build()
            .await;
        let operator = SharedCredentialsProvider::new(chain);
        let operator_keys = operator
            .provide_credentials()
            .await
            .map_err(|e| ConnectError::NoCredentials(error_chain(&e)))?;
        let mut target = Self {
            kind,
            endpoint_url,
            region,
            account_id: String::new(),
            operator,
            operator_keys,
            admin,
            next_local_instance: AtomicU64::new(0),
            _sim: None,
        };
        let sts = clients::sts(&clients::operator_config(&target));
        let who =
            sts.get_caller_identity()
                .send()
                .await
                .map_err(|e| ConnectError::Unreachable {
                    endpoint: target
                        .endpoint_url
                        .clone()
                        .unwrap_or_else(|| "AWS".to_owned()),
                    message: crate::chaos::describe(&e),
                })?;
        target.account_id = who.account().unwrap_or_default().to_owned();
        Ok(target)
    }

    /// Launches one simulated instance: through the double's admin API (its
    /// own IMDS), or — without one — a harness-side instance whose
    /// credentials come from the default chain (`imds_endpoint` empty).
    pub async fn launch_instance(
        &self,
        instance_profile: Option<&str>,
    ) -> Result<LaunchedInstance, AdminError> {
        match &self.admin {
            Some(admin) => admin.launch_instance(instance_profile).await,
            None => Ok(LaunchedInstance {
                instance_id: format!(
                    "local-{}",
                    self.next_local_instance.fetch_add(1, Ordering::Relaxed)
                ),
                imds_endpoint: String::new(),
            }),
        }
    }
}

/// An error and its sources, `: `-joined (the SDK's top-level messages
/// alone rarely say what went wrong).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
