//! The edge listener: one port for S3, STS, IAM and the admin API, like
//! LocalStack's. A request is routed by its SigV4 credential scope's
//! service; every response carries a request id whose verdict is logged.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use s3s::service::S3Service;

use super::admin;
use super::auth::{self, Principal};
use super::iam;
use super::iam::authz::RequestFacts;
use super::query::{self, Params, QueryError};
use super::state::{Evaluated, SimState};
use super::sts;
use super::throttle::QuotaClass;
use super::truth::{RequestId, VerdictKind};

/// Carried through s3s in the request extensions so its hooks can log the
/// verdict under this request's id.
#[derive(Clone)]
pub struct EdgeContext {
    pub id: RequestId,
    slot: Arc<Mutex<Slot>>,
}

enum Slot {
    /// Nothing decided yet (an auth failure inside s3s ends here).
    Open,
    /// A terminal verdict was already logged.
    Recorded,
    /// Authorized; the final verdict depends on the operation's result.
    Allowed {
        action: String,
        principal: Principal,
        evaluated: Evaluated,
    },
}

impl EdgeContext {
    fn new(id: RequestId) -> Self {
        Self {
            id,
            slot: Arc::new(Mutex::new(Slot::Open)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs a terminal verdict (denied, throttled, auth failed).
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &self,
        state: &SimState,
        kind: VerdictKind,
        action: &str,
        principal: Option<&Principal>,
        evaluated: Option<&Evaluated>,
        code: Option<&str>,
        reason: String,
    ) {
        state.record(self.id, kind, action, principal, evaluated, code, reason);
        *self.lock() = Slot::Recorded;
    }

    /// Marks the request authorized; `complete` logs how it ended.
    pub fn allowed(&self, action: String, principal: Principal, evaluated: Evaluated) {
        *self.lock() = Slot::Allowed {
            action,
            principal,
            evaluated,
        };
    }

    /// Logs the verdict of a request whose handler did not.
    fn complete(&self, state: &SimState, status: StatusCode, code: Option<String>) {
        let slot = std::mem::replace(&mut *self.lock(), Slot::Recorded);
        match slot {
            Slot::Recorded => {}
            Slot::Allowed {
                action,
                principal,
                evaluated,
            } => {
                let kind = if status.is_success() || status.is_redirection() {
                    VerdictKind::Ok
                } else {
                    VerdictKind::Error
                };
                let reason = evaluated.decision.reason.clone();
                state.record(
                    self.id,
                    kind,
                    &action,
                    Some(&principal),
                    Some(&evaluated),
                    code.as_deref(),
                    reason,
                );
            }
            Slot::Open => {
                let kind = if status == StatusCode::FORBIDDEN {
                    VerdictKind::AuthFailed
                } else {
                    VerdictKind::Error
                };
                let reason = format!(
                    "rejected before authorization with HTTP {}",
                    status.as_u16()
                );
                state.record(
                    self.id,
                    kind,
                    "s3:unknown",
                    None,
                    None,
                    code.as_deref(),
                    reason,
                );
            }
        }
    }
}

/// The service a request is signed for, from its credential scope.
fn signed_service(req: &Request<Incoming>) -> Option<String> {
    signed_scope(req).and_then(|scope| scope.split('/').nth(3).map(str::to_owned))
}

/// The request's SigV4 credential scope (`AKID/yyyymmdd/region/service/aws4_request`).
fn signed_scope<B>(req: &Request<B>) -> Option<String> {
    let from_header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or(c).to_owned());
    let scope = from_header.or_else(|| {
        let q = req.uri().query()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.into_owned())
    })?;
    Some(scope)
}

/// Handles one HTTP request on the edge port.
pub async fn handle(
    state: Arc<SimState>,
    s3: S3Service,
    mut req: Request<Incoming>,
) -> Result<Response<s3s::Body>, Infallible> {
    if req.uri().path().starts_with(admin::PREFIX) {
        return Ok(admin::handle(&state, req).await.map(s3s::Body::from));
    }
    let id = state.truth.next_id();
    let mut resp = match signed_service(&req).as_deref() {
        Some(service @ ("sts" | "iam")) => {
            let service = service.to_owned();
            handle_query(&state, id, &service, req)
                .await
                .map(s3s::Body::from)
        }
        _ => {
            let edge = EdgeContext::new(id);
            req.extensions_mut().insert(edge.clone());
            let req = req.map(s3s::Body::from);
            match s3.call(req).await {
                Ok(resp) => finish_s3(&state, &edge, resp).await,
                Err(e) => {
                    edge.complete(
                        &state,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some("InternalError".into()),
                    );
                    let mut r = Response::new(s3s::Body::from(format!("internal error: {e:?}")));
                    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    r
                }
            }
        }
    };
    if let Ok(v) = http::HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    Ok(resp)
}

/// Logs an S3 response's verdict. Error bodies are small and already
/// buffered by s3s; their `<Code>` is read for the log.
async fn finish_s3(
    state: &SimState,
    edge: &EdgeContext,
    resp: Response<s3s::Body>,
) -> Response<s3s::Body> {
    let status = resp.status();
    if status.is_success() || status.is_redirection() {
        edge.complete(state, status, None);
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let code = xml_code(&bytes);
    edge.complete(state, status, code);
    Response::from_parts(parts, s3s::Body::from(bytes))
}

fn xml_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// The Query-protocol pipeline: authenticate → throttle → authorize → act.
async fn handle_query(
    state: &SimState,
    id: RequestId,
    service: &str,
    req: Request<Incoming>,
) -> Response<Bytes> {
    let namespace = if service == "iam" {
        query::IAM_NAMESPACE
    } else {
        query::STS_NAMESPACE
    };
    // Request keys for conditions: the peer address, plain HTTP, and the
    // region the request was signed for.
    let source_ip = req
        .extensions()
        .get::<super::server::PeerAddr>()
        .map(|p| p.0.ip().to_string());
    let region = signed_scope(&req).and_then(|s| s.split('/').nth(2).map(str::to_owned));
    let (parts, body) = req.into_parts();
    let limit = state.config.max_query_body_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let err = QueryError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request body larger than {limit} bytes"),
            );
            state.record(
                id,
                VerdictKind::Error,
                &format!("{service}:unknown"),
                None,
                None,
                Some(&err.code),
                err.message.clone(),
            );
            return query::error(namespace, &err, id);
        }
    };
    let params = Params::parse(&body, parts.uri.query());
    let action_name = params.action().unwrap_or("").to_owned();
    let action = format!("{service}:{action_name}");
    let fail = |kind: VerdictKind,
                principal: Option<&Principal>,
                evaluated: Option<&Evaluated>,
                err: QueryError| {
        state.record(
            id,
            kind,
            &action,
            principal,
            evaluated,
            Some(&err.code),
            err.message.clone(),
        );
        query::error(namespace, &err, id)
    };

    let cred = match auth::authenticate_query(&state.creds, &parts, &body, state.now_wall()) {
        Ok((cred, _)) => cred,
        Err(failure) => {
            let (status, code, message) = failure.query_error();
            return fail(
                VerdictKind::AuthFailed,
                None,
                None,
                QueryError::new(status, code, message),
            );
        }
    };
    let principal = &cred.principal;
    if action_name.is_empty() {
        return fail(
            VerdictKind::Error,
            Some(principal),
            None,
            QueryError::new(400, "MissingAction", "Missing Action"),
        );
    }
    let known = if service == "iam" {
        iam::api::ACTIONS
    } else {
        sts::ACTIONS
    };
    if !known.contains(&action_name.as_str()) {
        let err = QueryError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {action_name}"),
        );
        return fail(VerdictKind::Error, Some(principal), None, err);
    }
    let class = if service == "iam" {
        QuotaClass::Iam
    } else {
        QuotaClass::Sts
    };
    if let Err(key) = state.throttle.check(class, &action) {
        let err = QueryError::new(400, "Throttling", "Rate exceeded");
        state.record(
            id,
            VerdictKind::Throttled,
            &action,
            Some(principal),
            None,
            Some("Throttling"),
            format!("quota bucket {key} is empty"),
        );
        return query::error(namespace, &err, id);
    }
    let resource = if service == "iam" {
        Some(iam::api::resource_arn(state, &action_name, &params))
    } else {
        sts::resource_arn(&action_name, &params)
    };
    let mut facts = RequestFacts {
        keys: vec![("aws:SecureTransport", "false")],
        ..RequestFacts::default()
    };
    if let Some(ip) = &source_ip {
        facts.keys.push(("aws:SourceIp", ip));
    }
    if let Some(region) = &region {
        facts.keys.push(("aws:RequestedRegion", region));
    }
    let evaluated = resource.map(|r| state.evaluate(id, principal, &action, &r, &facts));
    if let Some(ev) = &evaluated
        && ev.decision.deny.is_some()
    {
        let err = QueryError::new(403, "AccessDenied", ev.decision.message.clone());
        return fail(VerdictKind::Denied, Some(principal), Some(ev), err);
    }
    let result = if service == "iam" {
        iam::api::handle(state, &action_name, &params)
    } else {
        sts::handle(state, id, &action_name, &params, principal)
    };
    match result {
        Ok(xml) => {
            let reason = evaluated.as_ref().map_or_else(
                || "not subject to policy".to_owned(),
                |e| e.decision.reason.clone(),
            );
            state.record(
                id,
                VerdictKind::Ok,
                &action,
                Some(principal),
                evaluated.as_ref(),
                None,
                reason,
            );
            query::success(namespace, &action_name, &xml, id)
        }
        Err(err) => {
            let kind = if err.code == "AccessDenied" {
                VerdictKind::Denied
            } else {
                VerdictKind::Error
            };
            fail(kind, Some(principal), evaluated.as_ref(), err)
        }
    }
}
