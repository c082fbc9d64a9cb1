//! The admin API's per-instance part (`/_iamstorm/instances…`, JSON):
//! list instances, read one instance's IMDS state, and apply or clear its
//! fault knobs.
//!
//! - `GET    instances`                       every instance, in launch order
//! - `GET    instances/{id}/imds`              knobs, metadata options, counters
//! - `PUT    instances/{id}/imds`              replace the knobs ([`ControlsSpec`])
//! - `DELETE instances/{id}/imds`              clear the knobs
//! - `POST   instances/{id}/imds/expire-tokens` every issued token expires now

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::controls::{Controls, ControlsSpec};
use super::{Instance, MetadataOptions};
use crate::sim::state::SimState;

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

/// `GET /_iamstorm/instances`.
pub fn list(state: &SimState) -> Response<Bytes> {
    let items: Vec<_> = super::all(state).iter().map(|i| i.to_json()).collect();
    json(StatusCode::OK, serde_json::json!({ "instances": items }))
}

/// `…/instances/{rest}`; `rest` is what follows `instances/`.
pub async fn handle(state: &SimState, rest: &str, req: Request<Incoming>) -> Response<Bytes> {
    let (id, sub) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(instance) = super::find(state, id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no instance {id:?}; GET /_iamstorm/instances lists them"),
        );
    };
    match (req.method().clone(), sub) {
        (Method::GET, "" | "imds") => json(StatusCode::OK, instance.to_json()),
        (Method::DELETE, "imds") => {
            instance.set_controls(Controls::default());
            settled(&instance).await
        }
        (Method::PUT, "imds") => {
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 64 KiB"),
            };
            let spec: ControlsSpec = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("not an IMDS control set: {e} (see README, `iamstorm sim`)"),
                    );
                }
            };
            match apply(&instance, &spec) {
                Ok(()) => settled(&instance).await,
                Err(e) => error(StatusCode::BAD_REQUEST, e),
            }
        }
        (Method::POST, "imds/expire-tokens") => {
            let expired = instance.expire_tokens();
            json(
                StatusCode::OK,
                serde_json::json!({ "expired_tokens": expired }),
            )
        }
        (m, s) => error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint {m} instances/{id}/{s}"),
        ),
    }
}

/// Answers once the listener obeys the new controls (port closed during a
/// `refuse` outage, open otherwise).
async fn settled(instance: &Instance) -> Response<Bytes> {
    if instance.await_listener_settled(SETTLE_TIMEOUT).await {
        json(StatusCode::OK, instance.to_json())
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the controls are set but the IMDS port of {} did not open/close within {} ms",
                instance.id,
                SETTLE_TIMEOUT.as_millis()
            ),
        )
    }
}

/// How long an admin call waits for the IMDS listener to follow.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

fn apply(instance: &Instance, spec: &ControlsSpec) -> Result<(), String> {
    let controls = Controls::from_spec(spec, Instant::now())?;
    let mut metadata: MetadataOptions = instance.metadata();
    if let Some(t) = &spec.http_tokens {
        metadata.http_tokens_required = match t.as_str() {
            "required" => true,
            "optional" => false,
            other => return Err(format!("http_tokens {other:?} is not optional|required")),
        };
    }
    if let Some(h) = spec.hop_limit {
        if !(1..=64).contains(&h) {
            return Err(format!("hop_limit {h} is outside 1..=64"));
        }
        metadata.hop_limit = h;
    }
    instance.set_metadata(metadata);
    instance.set_controls(controls);
    Ok(())
}
