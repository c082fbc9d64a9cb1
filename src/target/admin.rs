//! A small JSON client for the double's admin API (`/_iamstorm/…`). The
//! harness reaches the double only over HTTP (Architecture invariant 1),
//! so this is how it launches simulated instances and reads ground truth.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// How long one admin call may take before the double counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AdminClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin API {url} unreachable: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("admin API {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("admin API {url} sent JSON we cannot read: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A launched simulated instance.
#[derive(Debug, Clone, Deserialize)]
pub struct LaunchedInstance {
    pub instance_id: String,
    pub imds_endpoint: String,
}

/// `GET /_iamstorm/propagation`: every IAM change and when each replica applied it.
#[derive(Debug, Clone, Deserialize)]
pub struct PropagationTruth {
    pub started_at_unix_ms: u64,
    pub elapsed_ms: u64,
    pub replicas: usize,
    pub versions: Vec<VersionTruth>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionTruth {
    pub version: u64,
    pub label: String,
    pub published_at: u64,
    pub applied_at: Vec<u64>,
    /// Each replica's drawn delay, ms (seed-determined).
    #[serde(default)]
    pub drawn: Vec<u64>,
    /// When an admin `converge` applied this version everywhere before
    /// its drawn delays ran out (ms since the double started).
    #[serde(default)]
    pub converged_at: Option<u64>,
}

/// `GET /_iamstorm/requests/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestTruth {
    Found { verdict: VerdictTruth },
    Evicted,
    Pending,
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerdictTruth {
    pub kind: String,
    pub action: String,
    pub replica: Option<u16>,
    pub version: Option<u64>,
    pub code: Option<String>,
    pub reason: String,
}

impl AdminClient {
    /// `base` is the admin root, e.g. `http://127.0.0.1:4566/_iamstorm/`.
    pub fn new(base: String) -> Self {
        let http = Client::builder(TokioExecutor::new()).build_http();
        Self { base, http }
    }

    /// The admin root this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<T, AdminError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| AdminError::Unreachable {
            url: url.clone(),
            source: e,
        };
        let req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| unreachable(e.into()))?;
        let resp = tokio::time::timeout(CALL_TIMEOUT, self.http.request(req))
            .await
            .map_err(|e| unreachable(e.into()))?
            .map_err(|e| unreachable(e.into()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.into()))?
            .to_bytes();
        if !(200..300).contains(&status) {
            return Err(AdminError::Status {
                url,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| AdminError::Decode { url, source })
    }

    /// `GET /_iamstorm/health`: answers only if the target is an iamstorm double.
    pub async fn health(&self) -> Result<serde_json::Value, AdminError> {
        self.call(http::Method::GET, "health", None).await
    }

    pub async fn launch_instance(
        &self,
        instance_profile: Option<&str>,
    ) -> Result<LaunchedInstance, AdminError> {
        let body = serde_json::json!({ "instance_profile": instance_profile }).to_string();
        self.call(http::Method::POST, "instances", Some(body)).await
    }

    /// `POST /_iamstorm/faults`: adds the rules (all or none); returns their ids.
    pub async fn add_faults(
        &self,
        rules: &[crate::sim::faults::FaultSpec],
    ) -> Result<Vec<u64>, AdminError> {
        #[derive(Deserialize)]
        struct Added {
            ids: Vec<u64>,
        }
        let body = serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned());
        let added: Added = self.call(http::Method::POST, "faults", Some(body)).await?;
        Ok(added.ids)
    }

    /// `PUT /_iamstorm/instances/{id}/imds`: replace the instance's IMDS
    /// knobs (`sim::imds::controls::ControlsSpec` as JSON); answers once
    /// the listener obeys them.
    pub async fn set_imds(
        &self,
        instance_id: &str,
        knobs: &serde_json::Value,
    ) -> Result<serde_json::Value, AdminError> {
        let path = format!("instances/{instance_id}/imds");
        self.call(http::Method::PUT, &path, Some(knobs.to_string()))
            .await
    }

    /// `DELETE /_iamstorm/instances/{id}/imds`: clear the instance's knobs.
    pub async fn clear_imds(&self, instance_id: &str) -> Result<serde_json::Value, AdminError> {
        let path = format!("instances/{instance_id}/imds");
        self.call(http::Method::DELETE, &path, None).await
    }

    /// `GET /_iamstorm/instances/{id}/imds`: knobs, options and counters.
    pub async fn imds(&self, instance_id: &str) -> Result<serde_json::Value, AdminError> {
        let path = format!("instances/{instance_id}/imds");
        self.call(http::Method::GET, &path, None).await
    }

    /// `GET /_iamstorm/faults`: the active rules and the clock skew now.
    pub async fn faults(&self) -> Result<serde_json::Value, AdminError> {
        self.call(http::Method::GET, "faults", None).await
    }

    pub async fn propagation(&self) -> Result<PropagationTruth, AdminError> {
        self.call(http::Method::GET, "propagation", None).await
    }

    pub async fn request(&self, request_id: &str) -> Result<RequestTruth, AdminError> {
        self.call(http::Method::GET, &format!("requests/{request_id}"), None)
            .await
    }

    /// `POST /_iamstorm/requests/lookup`: the verdicts behind `ids`, in
    /// order (at most `sim::admin::MAX_LOOKUP_IDS` per call).
    pub async fn requests(&self, ids: &[String]) -> Result<Vec<RequestTruth>, AdminError> {
        #[derive(Deserialize)]
        struct Verdicts {
            verdicts: Vec<RequestTruth>,
        }
        let body = serde_json::json!({ "ids": ids }).to_string();
        let v: Verdicts = self
            .call(http::Method::POST, "requests/lookup", Some(body))
            .await?;
        Ok(v.verdicts)
    }

    /// `POST /_iamstorm/propagation/converge`: every replica enforces the
    /// newest IAM version from now on. A scenario's starting state is
    /// history, not part of the experiment, so a run converges it instead
    /// of waiting out the delay model. Returns how many versions were
    /// still pending (the ground truth marks them `converged_at`).
    pub async fn converge(&self) -> Result<usize, AdminError> {
        #[derive(Deserialize)]
        struct Converged {
            converged_versions: usize,
        }
        let c: Converged = self
            .call(http::Method::POST, "propagation/converge", None)
            .await?;
        Ok(c.converged_versions)
    }

    /// Waits until every replica enforces the newest IAM version, by
    /// reading the double's own schedule (no guessing with sleeps: the
    /// wait ends at the instant the ground truth says it is done).
    pub async fn await_converged(&self) -> Result<(), AdminError> {
        let truth = self.propagation().await?;
        let done_ms = truth
            .versions
            .last()
            .and_then(|v| v.applied_at.iter().max().copied())
            .unwrap_or(0);
        if done_ms > truth.elapsed_ms {
            tokio::time::sleep(Duration::from_millis(done_ms - truth.elapsed_ms + 1)).await;
        }
        Ok(())
    }
}
