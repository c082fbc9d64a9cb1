//! The admin API (`/_iamstorm/…`, JSON, unsigned, loopback peers only
//! unless `SimConfig::admin_allow_remote`): launch simulated instances,
//! read the ground truth — every replica's application time for every IAM
//! change, the verdict behind any request id, counters per (service, API,
//! outcome), a dump of the state — reset the double, and control faults.
//! The harness reads it over HTTP like any client would.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET health` | clock origin, seed |
//! | `GET propagation` | model settings, every version's application times |
//! | `POST propagation/converge` | every replica enforces every version now (a scenario's starting state); pending versions are marked `converged_at` |
//! | `GET requests/{id}` | the verdict behind a request id |
//! | `POST requests/lookup` | `{"ids": [...]}` (at most 10,000) → `{"verdicts": [...]}`, in order |
//! | `GET stats` | whole-run verdict counts by `kind:service:Api` |
//! | `GET counters` | rows of (service, api, ok, denied, throttled, auth_failed, error, fault) |
//! | `GET state` | roles, policies, profiles, buckets, instances, versions |
//! | `POST reset` | back to the empty state |
//! | `GET/POST/DELETE faults`, `DELETE faults/{id}` | fault rules (`sim::faults`) |
//! | `POST instances` | launch an instance with its IMDS |

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::clock::ms;
use super::faults::FaultSpec;
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

/// Whether a peer may use the admin API: loopback always; others only
/// when the double was started with `admin_allow_remote`.
pub fn peer_allowed(peer: SocketAddr, allow_remote: bool) -> bool {
    allow_remote || peer.ip().is_loopback()
}

/// The answer to a non-loopback peer when remote admin is off.
pub fn refuse_remote(peer: SocketAddr) -> Response<Bytes> {
    error(
        StatusCode::FORBIDDEN,
        format!(
            "the admin API answers loopback peers only (this request came from {peer}); start the double with admin_allow_remote to allow others"
        ),
    )
}

/// The answer when the admin API is off (`iamstorm sim --no-admin`): a 404,
/// so a harness probing `/_iamstorm/health` sees a plain AWS endpoint.
pub fn closed() -> Response<Bytes> {
    error(
        StatusCode::NOT_FOUND,
        "the admin API is off (iamstorm sim --no-admin)",
    )
}

/// Largest admin request body.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most request ids one `POST requests/lookup` answers.
pub const MAX_LOOKUP_IDS: usize = 10_000;

async fn body(req: Request<Incoming>) -> Result<Bytes, Response<Bytes>> {
    match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {MAX_BODY_BYTES} bytes"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<FaultSpec>),
    One(Box<FaultSpec>),
}

/// `POST faults`: one rule or a list; all or nothing.
async fn post_faults(state: &SimState, req: Request<Incoming>) -> Response<Bytes> {
    let bytes = match body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let specs = match serde_json::from_slice::<OneOrMany>(&bytes) {
        Ok(OneOrMany::Many(v)) => v,
        Ok(OneOrMany::One(s)) => vec![*s],
        Err(e) => {
            // Re-parse as one rule for serde's precise message.
            let detail = serde_json::from_slice::<FaultSpec>(&bytes)
                .err()
                .map_or_else(|| e.to_string(), |e| e.to_string());
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected a fault rule or a list of them: {detail}"),
            );
        }
    };
    let now = state.clock.elapsed();
    // Validate every rule first so that a bad one adds none.
    for (i, spec) in specs.iter().enumerate() {
        if let Err(e) = spec.clone().into_fault(0, now) {
            return error(StatusCode::BAD_REQUEST, format!("fault rule {i}: {e}"));
        }
    }
    let mut ids = Vec::new();
    for spec in specs {
        match state.faults.add(spec, now) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    state.faults.remove(id);
                }
                return error(StatusCode::CONFLICT, e);
            }
        }
    }
    json(
        StatusCode::CREATED,
        serde_json::json!({ "ids": ids, "elapsed_ms": ms(now) }),
    )
}

/// `GET state`: what the double holds now.
fn dump_state(state: &SimState) -> serde_json::Value {
    let iam = state.iam_read();
    let snap = iam.latest();
    let now = state.clock.elapsed();
    let roles: Vec<_> = snap
        .roles
        .values()
        .map(|r| {
            serde_json::json!({
                "name": r.name, "arn": r.arn, "path": r.path,
                "inline_policies": r.inline.keys().collect::<Vec<_>>(),
                "attached_policies": r.attached.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    let policies: Vec<_> = snap
        .policies
        .values()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "arn": p.arn, "aws_managed": p.is_aws_managed(),
                "attachment_count": snap.attachment_count(&p.arn),
            })
        })
        .collect();
    let profiles: Vec<_> = snap
        .profiles
        .values()
        .map(|p| serde_json::json!({ "name": p.name, "arn": p.arn, "role": p.role }))
        .collect();
    let replica_versions: Vec<u64> = (0..iam.replica_count())
        .map(|r| iam.at_replica(r, now).0)
        .collect();
    let latest_version = iam.propagation_records().len() as u64 - 1;
    drop(iam);
    let buckets: Vec<_> = state
        .objects
        .summary()
        .into_iter()
        .map(|(name, objects, bytes)| {
            serde_json::json!({ "name": name, "objects": objects, "bytes": bytes })
        })
        .collect();
    let mut instances: Vec<_> = state
        .instances
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|i| i.to_json())
        .collect();
    instances.sort_by(|a, b| a["instance_id"].as_str().cmp(&b["instance_id"].as_str()));
    serde_json::json!({
        "elapsed_ms": ms(now),
        "roles": roles,
        "policies": policies,
        "instance_profiles": profiles,
        "buckets": buckets,
        "instances": instances,
        "versions": { "latest": latest_version, "per_replica": replica_versions },
        "faults": state.faults.describe().len(),
    })
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
                    "model": state.config.propagation.describe(),
                    "versions": iam.propagation_records(),
                }),
            )
        }
        (Method::POST, "propagation/converge") => {
            let now = state.clock.elapsed();
            let converged = state.iam_write().converge(now);
            json(
                StatusCode::OK,
                serde_json::json!({ "converged_versions": converged, "elapsed_ms": ms(now) }),
            )
        }
        (Method::GET, "stats") => json(
            StatusCode::OK,
            serde_json::json!({ "verdicts": state.truth.counts() }),
        ),
        (Method::GET, "counters") => json(
            StatusCode::OK,
            serde_json::json!({
                "elapsed_ms": ms(state.clock.elapsed()),
                "counters": state.truth.counters(),
            }),
        ),
        (Method::GET, "state") => json(StatusCode::OK, dump_state(state)),
        (Method::POST, "reset") => {
            // Answer once every old IMDS port is closed.
            for instance in state.reset() {
                instance
                    .await_closed(std::time::Duration::from_secs(5))
                    .await;
            }
            json(
                StatusCode::OK,
                serde_json::json!({ "reset": true, "elapsed_ms": ms(state.clock.elapsed()) }),
            )
        }
        (Method::GET, "faults") => json(
            StatusCode::OK,
            serde_json::json!({
                "elapsed_ms": ms(state.clock.elapsed()),
                "clock_skew_ms": state.faults.skew_ms(state.clock.elapsed()),
                "faults": state.faults.describe(),
            }),
        ),
        (Method::POST, "faults") => post_faults(state, req).await,
        (Method::DELETE, "faults") => {
            state.faults.clear();
            json(StatusCode::OK, serde_json::json!({ "deleted": "all" }))
        }
        (Method::DELETE, p) if p.starts_with("faults/") => {
            let raw = &p["faults/".len()..];
            match raw.parse::<u64>() {
                Ok(id) if state.faults.remove(id) => {
                    json(StatusCode::OK, serde_json::json!({ "deleted": id }))
                }
                Ok(id) => error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
                Err(_) => error(
                    StatusCode::BAD_REQUEST,
                    format!("{raw:?} is not a fault rule id"),
                ),
            }
        }
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
        (Method::POST, "requests/lookup") => {
            #[derive(Deserialize)]
            struct Ids {
                ids: Vec<String>,
            }
            let body = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let ids: Ids = match serde_json::from_slice(&body) {
                Ok(ids) => ids,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("expected {{\"ids\": [\"request id\", ...]}}: {e}"),
                    );
                }
            };
            if ids.ids.len() > MAX_LOOKUP_IDS {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{} ids in one lookup; at most {MAX_LOOKUP_IDS}: split the list",
                        ids.ids.len()
                    ),
                );
            }
            let verdicts: Vec<serde_json::Value> = ids
                .ids
                .iter()
                .map(|raw| match raw.parse::<RequestId>() {
                    Ok(id) => serde_json::to_value(state.truth.lookup(id)).unwrap_or_default(),
                    Err(_) => serde_json::json!({"status": "unknown"}),
                })
                .collect();
            json(StatusCode::OK, serde_json::json!({ "verdicts": verdicts }))
        }
        (Method::POST, "instances") => {
            let body = match body(req).await {
                Ok(b) => b,
                Err(r) => return r,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_unless_remote_is_allowed() {
        let v4: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let v6: SocketAddr = "[::1]:5000".parse().expect("addr");
        let lan: SocketAddr = "192.168.1.20:5000".parse().expect("addr");
        assert!(peer_allowed(v4, false) && peer_allowed(v6, false));
        assert!(!peer_allowed(lan, false));
        assert!(peer_allowed(lan, true));
        assert_eq!(refuse_remote(lan).status(), StatusCode::FORBIDDEN);
    }
}
