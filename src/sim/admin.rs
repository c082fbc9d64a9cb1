//! The admin API (`/_iamstorm/…`, JSON, loopback only, unsigned): launch
//! simulated instances, and read the ground truth — every replica's
//! application time for every IAM change, and the verdict behind any
//! request id. The harness reads it over HTTP like any client would.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::clock::ms;
use super::imds;
use super::state::SimState;
use super::truth::RequestId;

pub const PREFIX: &str = "/_iamstorm/";

fn json(status: StatusCode, value: serde_json::Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Bytes> {
    json(status, serde_json::json!({ "error": message.into() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchRequest {
    instance_profile: Option<String>,
}

pub async fn handle(state: &Arc<SimState>, req: Request<Incoming>) -> Response<Bytes> {
    let path = req.uri().path().trim_start_matches(PREFIX).to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "health") => json(
            StatusCode::OK,
            serde_json::json!({
                "ok": true,
                "account_id": state.config.account_id,
                "region": state.config.region,
                "seed": state.config.seed,
                "started_at_unix_ms": state.clock.started_at_unix_ms(),
                "elapsed_ms": ms(state.clock.elapsed()),
            }),
        ),
        (Method::GET, "propagation") => {
            let iam = state.iam_read();
            json(
                StatusCode::OK,
                serde_json::json!({
                    "started_at_unix_ms": state.clock.started_at_unix_ms(),
                    "elapsed_ms": ms(state.clock.elapsed()),
                    "replicas": iam.replica_count(),
                    "versions": iam.propagation_records(),
                }),
            )
        }
        (Method::GET, "stats") => json(
            StatusCode::OK,
            serde_json::json!({ "verdicts": state.truth.counts() }),
        ),
        (Method::GET, p) if p.starts_with("requests/") => {
            let raw = &p["requests/".len()..];
            match raw.parse::<RequestId>() {
                Ok(id) => json(
                    StatusCode::OK,
                    serde_json::to_value(state.truth.lookup(id)).unwrap_or_default(),
                ),
                Err(_) => error(
                    StatusCode::BAD_REQUEST,
                    format!("{raw:?} is not a request id (16 hex digits)"),
                ),
            }
        }
        (Method::POST, "instances") => {
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 64 KiB"),
            };
            let launch: LaunchRequest = match serde_json::from_slice(&body) {
                Ok(l) => l,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("expected {{\"instance_profile\": name or null}}: {e}"),
                    );
                }
            };
            match imds::launch(state, launch.instance_profile).await {
                Ok(inst) => json(
                    StatusCode::CREATED,
                    serde_json::json!({
                        "instance_id": inst.id,
                        "imds_endpoint": format!("http://{}", inst.imds_addr),
                    }),
                ),
                Err(e) => error(StatusCode::CONFLICT, e),
            }
        }
        (Method::GET, "instances") => imds::admin_api::list(state),
        (_, p) if p.starts_with("instances/") => {
            let rest = p["instances/".len()..].to_owned();
            imds::admin_api::handle(state, &rest, req).await
        }
        (_, other) => error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint {PREFIX}{other}; see ARCHITECTURE.md"),
        ),
    }
}
