//! Which target a run talks to and how to reach it. This version runs the
//! embedded double on ephemeral loopback ports; every conversation with it
//! goes through the real AWS SDK (data and control plane) or the admin API
//! (instances and ground truth).

pub mod admin;
pub mod clients;
pub mod ec2;

use crate::sim::{self, SimConfig, SimHandle};

pub use admin::AdminClient;

/// A reachable target.
pub struct Target {
    pub endpoint_url: String,
    pub region: String,
    pub account_id: String,
    pub admin_access_key_id: String,
    pub admin_secret_access_key: String,
    pub admin: AdminClient,
    /// Keeps the embedded double alive for the run.
    _sim: Option<SimHandle>,
}

impl Target {
    /// The double's admin API when the target is the embedded double;
    /// `None` for a real endpoint (double-only timeline actions refuse then).
    pub fn double_admin(&self) -> Option<&AdminClient> {
        self._sim.as_ref().map(|_| &self.admin)
    }

    /// Starts the embedded double and points at it.
    pub async fn embedded(config: SimConfig) -> std::io::Result<Self> {
        let handle = sim::start(config).await?;
        Ok(Self {
            endpoint_url: handle.endpoint_url(),
            region: handle.region.clone(),
            account_id: handle.account_id.clone(),
            admin_access_key_id: handle.admin_access_key_id.clone(),
            admin_secret_access_key: handle.admin_secret_access_key.clone(),
            admin: AdminClient::new(handle.admin_url()),
            _sim: Some(handle),
        })
    }
}
