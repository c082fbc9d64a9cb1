//! Runbook step 4, from the instance's side: the IMDS token flow asked
//! directly over HTTP (what the SDK hides) — PUT a token, GET `iam/info`,
//! the role and its credential document with the token, and a GET without
//! one (IMDSv1 should be refused). Each call is timed and bounded; an
//! answer that is an error is evidence, never a Rust error.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::evidence::{ImdsCall, ImdsEvidence};

/// IMDS's address on EC2.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Longest one IMDS call may take (IMDS on the instance answers in ms).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read from one IMDS answer.
const MAX_BODY_BYTES: usize = 64 * 1024;
const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The token TTL asked for (what the SDK asks: 6 h).
const TOKEN_TTL_S: &str = "21600";

/// A minimal IMDS client over plain HTTP.
pub struct Imds {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// One answer: the call's evidence, the body, the TTL header.
struct Answer {
    call: ImdsCall,
    body: String,
    ttl_s: Option<u64>,
}

impl Imds {
    pub fn new(endpoint: &str) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn call(&self, method: http::Method, path: &str, token: Option<&str>) -> Answer {
        let started = Instant::now();
        let failed = |detail: String, started: Instant| Answer {
            call: ImdsCall {
                status: None,
                detail: Some(detail),
                latency_ms: started.elapsed().as_secs_f64() * 1e3,
            },
            body: String::new(),
            ttl_s: None,
        };
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if method == http::Method::PUT {
            req = req.header(TOKEN_TTL_HEADER, TOKEN_TTL_S);
        }
        if let Some(t) = token {
            req = req.header(TOKEN_HEADER, t);
        }
        let req = match req.body(Full::new(Bytes::new())) {
            Ok(r) => r,
            Err(e) => return failed(format!("bad IMDS URL {}: {e}", self.base), started),
        };
        let resp = match tokio::time::timeout(CALL_TIMEOUT, self.http.request(req)).await {
            Err(_) => return failed(format!("no answer within {CALL_TIMEOUT:?}"), started),
            Ok(Err(e)) => return failed(crate::target::error_chain(&e), started),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let ttl_s = resp
            .headers()
            .get(TOKEN_TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = match tokio::time::timeout(CALL_TIMEOUT, resp.into_body().collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            _ => Bytes::new(),
        };
        let body = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_BYTES)]).into_owned();
        Answer {
            call: ImdsCall {
                status: Some(status),
                detail: None,
                latency_ms: started.elapsed().as_secs_f64() * 1e3,
            },
            body,
            ttl_s,
        }
    }

    /// Walks the token flow and the credential document.
    pub async fn check(&self) -> ImdsEvidence {
        let mut e = ImdsEvidence::default();
        let put = self
            .call(http::Method::PUT, "/latest/api/token", None)
            .await;
        let token = put.call.ok().then(|| put.body.trim().to_owned());
        e.token_ttl_s = put.ttl_s;
        e.token_put = Some(put.call);
        // IMDSv1: a GET without a token. 401 is the healthy answer.
        e.v1_get = Some(
            self.call(http::Method::GET, "/latest/meta-data/instance-id", None)
                .await
                .call,
        );
        let Some(token) = token else {
            return e;
        };
        let info = self
            .call(
                http::Method::GET,
                "/latest/meta-data/iam/info",
                Some(&token),
            )
            .await;
        if info.call.ok() {
            e.instance_profile_arn = serde_json::from_str::<serde_json::Value>(&info.body)
                .ok()
                .and_then(|v| v["InstanceProfileArn"].as_str().map(str::to_owned));
        }
        e.info_get = Some(info.call);
        let role = self
            .call(
                http::Method::GET,
                "/latest/meta-data/iam/security-credentials/",
                Some(&token),
            )
            .await;
        let role_name = role
            .call
            .ok()
            .then(|| role.body.lines().next().unwrap_or("").trim().to_owned())
            .filter(|r| !r.is_empty());
        e.role_get = Some(role.call);
        let Some(role_name) = role_name else {
            return e;
        };
        let creds = self
            .call(
                http::Method::GET,
                &format!("/latest/meta-data/iam/security-credentials/{role_name}"),
                Some(&token),
            )
            .await;
        e.role_name = Some(role_name);
        if creds.call.ok()
            && let Ok(doc) = serde_json::from_str::<serde_json::Value>(&creds.body)
        {
            e.credentials_code = doc["Code"].as_str().map(str::to_owned);
            e.credentials_message = doc["Message"].as_str().map(str::to_owned);
            let now = SystemTime::now();
            e.credentials_age_s = doc["LastUpdated"]
                .as_str()
                .and_then(seconds_from)
                .map(|t| now_s(now) - t);
            e.credentials_expires_in_s = doc["Expiration"]
                .as_str()
                .and_then(seconds_from)
                .map(|t| t - now_s(now));
        }
        e.credentials_get = Some(creds.call);
        e
    }

    /// The instance id IMDS reports (with a fresh token), for targets
    /// where nothing else names the instance.
    pub async fn instance_id(&self) -> Option<String> {
        let put = self
            .call(http::Method::PUT, "/latest/api/token", None)
            .await;
        if !put.call.ok() {
            return None;
        }
        let id = self
            .call(
                http::Method::GET,
                "/latest/meta-data/instance-id",
                Some(put.body.trim()),
            )
            .await;
        id.call.ok().then(|| id.body.trim().to_owned())
    }
}

fn now_s(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds of an RFC 3339 timestamp (`2026-01-01T00:00:00Z`).
fn seconds_from(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn imds_timestamps_parse() {
        assert_eq!(super::seconds_from("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(super::seconds_from("yesterday"), None);
    }
}
