//! The edge listener: one port for S3, STS, IAM and the admin API, like
//! LocalStack's. A request is routed by its SigV4 credential scope's
//! service; every response carries a request id whose verdict is logged.
//!
//! Before a request reaches its front end the edge applies the models that
//! sit in front of every service: fault injection (`sim::faults`), the
//! double's (possibly skewed) clock for SigV4 signing times, and the
//! new-credential lag. It also scopes the request's connection id for
//! sticky routing ([`current_connection`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use s3s::service::S3Service;

use super::admin;
use super::auth::{self, MAX_SKEW, Principal};
use super::clock;
use super::faults::{ConnectionReset, Effect, Protocol};
use super::iam;
use super::iam::authz::RequestFacts;
use super::query::{self, Params, QueryError};
use super::s3;
use super::server::Connection;
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

tokio::task_local! {
    static CONNECTION: Option<u64>;
}

/// The id of the connection the current request arrived on, inside the
/// edge's handling of it (sticky routing reads it); `None` elsewhere.
pub fn current_connection() -> Option<u64> {
    CONNECTION.try_with(|c| *c).ok().flatten()
}

/// Handles one HTTP request on the edge port. `Err` closes the connection
/// without a response (an injected reset).
pub async fn handle(
    state: Arc<SimState>,
    s3: S3Service,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, ConnectionReset> {
    let connection = req.extensions().get::<Connection>().copied();
    if req.uri().path().starts_with(admin::PREFIX) {
        if !state.admin_open.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(admin::closed().map(s3s::Body::from));
        }
        if let Some(c) = connection
            && !admin::peer_allowed(c.peer, state.config.admin_allow_remote)
        {
            return Ok(admin::refuse_remote(c.peer).map(s3s::Body::from));
        }
        return Ok(admin::handle(&state, req).await.map(s3s::Body::from));
    }
    CONNECTION
        .scope(connection.map(|c| c.id), handle_service(state, s3, req))
        .await
}

async fn handle_service(
    state: Arc<SimState>,
    s3: S3Service,
    mut req: Request<Incoming>,
) -> Result<Response<s3s::Body>, ConnectionReset> {
    let id = state.truth.next_id();
    let mut resp = match signed_service(&req).as_deref() {
        Some("ec2") => super::ec2::handle(&state, id, req)
            .await
            .map(s3s::Body::from),
        Some(service @ ("sts" | "iam")) => {
            let service = service.to_owned();
            handle_query(&state, id, &service, req)
                .await?
                .map(s3s::Body::from)
        }
        _ => match s3_preflight(&state, id, &req).await? {
            Some(answer) => answer.map(s3s::Body::from),
            None => {
                let edge = EdgeContext::new(id);
                req.extensions_mut().insert(edge.clone());
                let req = req.map(s3s::Body::from);
                match s3.call(req).await {
                    Ok(mut resp) => {
                        if let Ok(v) =
                            http::HeaderValue::from_str(&s3::wire::host_id(&id.to_string()))
                        {
                            resp.headers_mut().insert("x-amz-id-2", v);
                        }
                        finish_s3(&state, &edge, resp).await
                    }
                    Err(e) => {
                        edge.complete(
                            &state,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            Some("InternalError".into()),
                        );
                        let mut r =
                            Response::new(s3s::Body::from(format!("internal error: {e:?}")));
                        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        r
                    }
                }
            }
        },
    };
    if let Ok(v) = http::HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    // With a skewed clock, say so the way AWS does: the Date header carries
    // the server's time (SDKs derive their clock-skew correction from it).
    if state.faults.skew_ms(state.clock.elapsed()) != 0
        && let Ok(v) = http::HeaderValue::from_str(&clock::http_date(state.now_wall()))
    {
        resp.headers_mut().insert(http::header::DATE, v);
    }
    Ok(resp)
}

/// Applies the fault rules to request `id` (`service`, `action`): sleeps
/// the injected latency, then answers an injected error or outage in the
/// service's wire shape, or resets the connection. `Ok(None)`: serve it.
async fn inject(
    state: &SimState,
    id: RequestId,
    service: &str,
    action: &str,
    protocol: Protocol,
) -> Result<Option<Response<Bytes>>, ConnectionReset> {
    let decision = state
        .faults
        .decide(service, action, id.0, state.clock.elapsed());
    if decision.delay > Duration::ZERO {
        tokio::time::sleep(decision.delay).await;
    }
    let Some(terminal) = decision.terminal else {
        return Ok(None);
    };
    // The ground truth names S3 requests by their IAM action (HeadObject is
    // s3:GetObject), as the S3 front end does; keep the counters aligned.
    let full_action = if service == "s3" {
        super::s3::action_and_resource(action, &s3s::path::S3Path::Root).0
    } else {
        format!("{service}:{action}")
    };
    let rule = terminal.rule;
    let (status, code, message, json) = match terminal.effect {
        Effect::Error {
            status,
            code,
            message,
            json,
        } => (status, code, message, json),
        Effect::Unavailable => (
            503,
            "ServiceUnavailable".to_owned(),
            "Service is unable to handle request.".to_owned(),
            false,
        ),
        Effect::Reset => {
            state.record(
                id,
                VerdictKind::Fault,
                &full_action,
                None,
                None,
                None,
                format!("injected fault #{rule}: connection reset without a response"),
            );
            return Err(ConnectionReset);
        }
        Effect::Latency(_) | Effect::ClockSkew { .. } => {
            unreachable!("faults::decide returns only error, outage and reset as terminal")
        }
    };
    state.record(
        id,
        VerdictKind::Fault,
        &full_action,
        None,
        None,
        Some(&code),
        format!("injected fault #{rule}: HTTP {status} {code}"),
    );
    Ok(Some(super::faults::error_response(
        protocol, json, status, &code, &message, id,
    )))
}

/// The access key id a request is signed with (header or presigned query).
fn access_key_id(headers: &http::HeaderMap, uri: &http::Uri) -> Option<String> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split('/').next().unwrap_or(c).to_owned());
    header.or_else(|| {
        let q = uri.query()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.split('/').next().unwrap_or("").to_owned())
    })
}

/// How long ago `access_key_id` was issued, when that is still inside the
/// new-credential lag window.
fn within_credential_lag(state: &SimState, access_key_id: &str) -> Option<Duration> {
    let lag = state.config.new_credential_lag;
    if lag.is_zero() {
        return None;
    }
    let age = state.creds.issued_at(access_key_id)?.elapsed();
    (age < lag).then_some(age)
}

fn lag_reason(key: &str, age: Duration, lag: Duration) -> String {
    format!(
        "credential {key} was issued {} ms ago: new credentials are accepted after {} ms (new_credential_lag)",
        age.as_millis(),
        lag.as_millis()
    )
}

/// The S3 checks the edge makes before s3s sees the request: faults, the
/// double's skewed clock (s3s checks the real one) and the credential lag.
async fn s3_preflight(
    state: &SimState,
    id: RequestId,
    req: &Request<Incoming>,
) -> Result<Option<Response<Bytes>>, ConnectionReset> {
    let head = req.method() == http::Method::HEAD;
    let action = super::faults::s3_action(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers().contains_key("x-amz-copy-source"),
    );
    let protocol = Protocol::S3 { head };
    if let Some(answer) = inject(state, id, "s3", action, protocol).await? {
        return Ok(Some(answer));
    }
    let full_action = super::s3::action_and_resource(action, &s3s::path::S3Path::Root).0;
    let fail = |code: &str, status: u16, message: &str, reason: String| {
        state.record(
            id,
            VerdictKind::AuthFailed,
            &full_action,
            None,
            None,
            Some(code),
            reason,
        );
        Some(super::faults::error_response(
            protocol, false, status, code, message, id,
        ))
    };
    if state.faults.skew_ms(state.clock.elapsed()) != 0
        && let Some(signed_at) = req
            .headers()
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| auth::sigv4::parse_amz_date(v).ok())
        && let Err(skew) = clock::check_signing_time(signed_at, state.now_wall(), MAX_SKEW)
    {
        return Ok(fail(
            "RequestTimeTooSkewed",
            403,
            "The difference between the request time and the current time is too large.",
            format!(
                "signed at {} but the double's (skewed) clock reads {}",
                clock::amz_date(skew.signed_at),
                clock::amz_date(skew.now)
            ),
        ));
    }
    if let Some(key) = access_key_id(req.headers(), req.uri())
        && let Some(age) = within_credential_lag(state, &key)
    {
        let reason = lag_reason(&key, age, state.config.new_credential_lag);
        return Ok(fail(
            "InvalidAccessKeyId",
            403,
            "The AWS Access Key Id you provided does not exist in our records.",
            reason,
        ));
    }
    Ok(None)
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
    let (mut parts, body) = resp.into_parts();
    let mut bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let code = xml_code(&bytes);
    edge.complete(state, status, code);
    let finished = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| s3::wire::finish_error_body(text, &edge.id.to_string()));
    if let Some(text) = finished {
        bytes = Bytes::from(text);
        parts.headers.remove(http::header::CONTENT_LENGTH);
    }
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
) -> Result<Response<Bytes>, ConnectionReset> {
    let namespace = if service == "iam" {
        query::IAM_NAMESPACE
    } else {
        query::STS_NAMESPACE
    };
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
            return Ok(query::error(namespace, &err, id));
        }
    };
    let params = Params::parse(&body, parts.uri.query());
    let action_name = params.action().unwrap_or("").to_owned();
    let protocol = Protocol::Query { namespace };
    if let Some(answer) = inject(state, id, service, &action_name, protocol).await? {
        return Ok(answer);
    }
    Ok(authorize_and_act(
        state,
        id,
        service,
        namespace,
        &parts,
        &body,
        &params,
        &action_name,
        region.as_deref(),
    ))
}

/// The Query pipeline after fault injection: clock and credential-lag
/// checks, authenticate → throttle → authorize → act.
#[allow(clippy::too_many_arguments)]
fn authorize_and_act(
    state: &SimState,
    id: RequestId,
    service: &str,
    namespace: &'static str,
    parts: &http::request::Parts,
    body: &Bytes,
    params: &Params,
    action_name: &str,
    region: Option<&str>,
) -> Response<Bytes> {
    // Request keys for conditions: the peer address, plain HTTP, and the
    // region the request was signed for.
    let source_ip = parts
        .extensions
        .get::<Connection>()
        .map(|c| c.peer.ip().to_string());
    let action = format!("{service}:{action_name}");
    let action_name = action_name.to_owned();
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

    // AWS's Query services answer a signing time more than 15 minutes from
    // their clock with SignatureDoesNotMatch "Signature expired: …".
    if let Some(signed_at) = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| auth::sigv4::parse_amz_date(v).ok())
        && let Err(skew) = clock::check_signing_time(signed_at, state.now_wall(), MAX_SKEW)
    {
        let err = QueryError::new(403, "SignatureDoesNotMatch", skew.query_message());
        return fail(VerdictKind::AuthFailed, None, None, err);
    }
    if let Some(key) = access_key_id(&parts.headers, &parts.uri)
        && let Some(age) = within_credential_lag(state, &key)
    {
        let err = QueryError::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
        state.record(
            id,
            VerdictKind::AuthFailed,
            &action,
            None,
            None,
            Some(&err.code),
            lag_reason(&key, age, state.config.new_credential_lag),
        );
        return query::error(namespace, &err, id);
    }
    let cred = match auth::authenticate_query(&state.creds, parts, body, state.now_wall()) {
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
        Some(iam::api::resource_arn(state, &action_name, params))
    } else {
        sts::resource_arn(&action_name, params)
    };
    let mut facts = RequestFacts {
        keys: vec![("aws:SecureTransport", "false")],
        ..RequestFacts::default()
    };
    if let Some(ip) = &source_ip {
        facts.keys.push(("aws:SourceIp", ip));
    }
    if let Some(region) = region {
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
        iam::api::handle(state, &action_name, params)
    } else {
        sts::handle(state, id, &action_name, params, principal)
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
