//! The embedded AWS double: S3, STS, IAM, EC2 and per-instance IMDS on loopback,
//! speaking AWS's wire protocols, verifying SigV4, enforcing IAM through a
//! replica propagation model, throttling like AWS, and recording the ground
//! truth of every decision.
//!
//! Architecture invariant: nothing here imports the harness. `start` is the
//! only door in; the returned handle exposes endpoints, not internals.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod consistency;
pub mod ec2;
pub mod edge;
pub mod faults;
pub mod iam;
pub mod imds;
pub mod query;
pub mod rng;
pub mod s3;
pub mod server;
pub mod state;
pub mod sts;
pub mod throttle;
pub mod truth;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

pub use state::SimConfig;

/// A running double. Dropping it stops every listener.
pub struct SimHandle {
    pub endpoint: SocketAddr,
    pub account_id: String,
    pub region: String,
    pub admin_access_key_id: String,
    pub admin_secret_access_key: String,
    shutdown: watch::Sender<bool>,
    state: Arc<state::SimState>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("endpoint", &self.endpoint)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("admin_access_key_id", &self.admin_access_key_id)
            .field("admin_secret_access_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` — the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.endpoint)
    }

    /// `http://127.0.0.1:PORT/_iamstorm/` — the admin API root.
    pub fn admin_url(&self) -> String {
        format!("http://{}{}", self.endpoint, admin::PREFIX)
    }

    /// Stops serving `/_iamstorm/` (answered 404 from now on): a double
    /// seeded through its admin API can then be served without it.
    pub fn close_admin(&self) {
        self.state
            .admin_open
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Stops accepting connections on every listener.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the double on `config.listen` (port 0 picks a free port).
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let endpoint = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let state = Arc::new(state::SimState::new(config.clone(), rx.clone()));

    let mut builder = s3s::service::S3ServiceBuilder::new(s3::S3Backend(state.clone()));
    builder.set_auth(s3::S3Keys(state.clone()));
    builder.set_access(s3::S3Policy(state.clone()));
    let s3_service = builder.build();

    let st = state.clone();
    tokio::spawn(server::serve(
        listener,
        rx,
        config.max_connections,
        move |req| edge::handle(st.clone(), s3_service.clone(), req),
    ));
    Ok(SimHandle {
        endpoint,
        account_id: config.account_id,
        region: config.region,
        admin_access_key_id: config.admin_access_key_id,
        admin_secret_access_key: config.admin_secret_access_key,
        shutdown: tx,
        state,
    })
}
