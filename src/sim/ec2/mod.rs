//! The EC2 Query API front end, over the simulated instances: the pipeline
//! (authenticate → throttle → authorize → act → log the verdict) with EC2's
//! error codes. Wire shapes are in `wire`, the actions in `actions`; the
//! instances themselves (and their IMDS) are `sim::imds`'s.

pub mod actions;
pub mod wire;

use std::cell::RefCell;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::auth::{self, AuthFailure, Principal};
use super::iam::authz::RequestFacts;
use super::imds::Instance;
use super::query::{Params, QueryError};
use super::state::{Evaluated, SimState};
use super::throttle::QuotaClass;
use super::truth::{RequestId, VerdictKind};

pub use actions::ACTIONS;

/// One authorized request in progress: who is calling, and the last IAM
/// evaluation (kept for the verdict).
pub struct Ctx<'a> {
    pub state: &'a SimState,
    id: RequestId,
    principal: &'a Principal,
    evaluated: RefCell<Option<Evaluated>>,
}

impl Ctx<'_> {
    /// Evaluates `action` on `resource`; a deny is EC2's `UnauthorizedOperation`.
    pub fn authorize(&self, action: &str, resource: &str) -> Result<(), QueryError> {
        let ev = self.state.evaluate(
            self.id,
            self.principal,
            action,
            resource,
            &RequestFacts::NONE,
        );
        let denied = ev.decision.deny.is_some().then(|| {
            QueryError::new(
                403,
                "UnauthorizedOperation",
                format!(
                    "You are not authorized to perform this operation. {}",
                    ev.decision.message
                ),
            )
        });
        *self.evaluated.borrow_mut() = Some(ev);
        denied.map_or(Ok(()), Err)
    }

    /// `arn:aws:ec2:REGION:ACCOUNT:instance/ID`.
    pub fn instance_arn(&self, instance: &Instance) -> String {
        format!(
            "arn:aws:ec2:{}:{}:instance/{}",
            self.state.config.region, self.state.config.account_id, instance.id
        )
    }
}

/// EC2's answers to failed authentication (as the AWS CLI shows them).
fn auth_error(failure: &AuthFailure) -> QueryError {
    match failure {
        AuthFailure::UnknownKey | AuthFailure::InvalidToken => QueryError::new(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        AuthFailure::BadSignature(_) => QueryError::new(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
        AuthFailure::ExpiredToken | AuthFailure::Skewed => {
            QueryError::new(400, "RequestExpired", "Request has expired.")
        }
        AuthFailure::Missing(what) => QueryError::new(
            401,
            "AuthFailure",
            format!("AWS was not able to validate the provided access credentials: {what}"),
        ),
    }
}

/// Handles one EC2 request on the edge port.
pub async fn handle(state: &SimState, id: RequestId, req: Request<Incoming>) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let limit = state.config.max_query_body_bytes;
    let fail = |kind: VerdictKind,
                action: &str,
                principal: Option<&Principal>,
                evaluated: Option<&Evaluated>,
                err: QueryError| {
        state.record(
            id,
            kind,
            action,
            principal,
            evaluated,
            Some(&err.code),
            err.message.clone(),
        );
        wire::error(&err, id)
    };
    let body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let err = QueryError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request body larger than {limit} bytes"),
            );
            return fail(VerdictKind::Error, "ec2:unknown", None, None, err);
        }
    };
    let params = Params::parse(&body, parts.uri.query());
    let action_name = params.action().unwrap_or("").to_owned();
    let action = format!("ec2:{action_name}");
    let cred = match auth::authenticate_query(&state.creds, &parts, &body, state.now_wall()) {
        Ok((cred, _)) => cred,
        Err(failure) => {
            return fail(
                VerdictKind::AuthFailed,
                &action,
                None,
                None,
                auth_error(&failure),
            );
        }
    };
    let principal = &cred.principal;
    if !ACTIONS.contains(&action_name.as_str()) {
        let err = QueryError::new(
            400,
            "InvalidAction",
            format!("The action {action_name} is not valid for this web service."),
        );
        return fail(VerdictKind::Error, &action, Some(principal), None, err);
    }
    if let Err(key) = state.throttle.check(QuotaClass::Ec2, &action) {
        state.record(
            id,
            VerdictKind::Throttled,
            &action,
            Some(principal),
            None,
            Some("RequestLimitExceeded"),
            format!("quota bucket {key} is empty"),
        );
        let err = QueryError::new(503, "RequestLimitExceeded", "Request limit exceeded.");
        return wire::error(&err, id);
    }
    let ctx = Ctx {
        state,
        id,
        principal,
        evaluated: RefCell::new(None),
    };
    let result = match action_name.as_str() {
        "DescribeInstances" => actions::describe_instances(&ctx, &params),
        "DescribeIamInstanceProfileAssociations" => actions::describe_associations(&ctx, &params),
        "AssociateIamInstanceProfile" => actions::associate(&ctx, &params),
        "DisassociateIamInstanceProfile" => actions::disassociate(&ctx, &params),
        "ReplaceIamInstanceProfileAssociation" => actions::replace(&ctx, &params),
        "RebootInstances" => actions::reboot(&ctx, &params),
        "ModifyInstanceMetadataOptions" => actions::modify_metadata_options(&ctx, &params),
        other => unreachable!("{other} is in ACTIONS but has no handler"),
    };
    let evaluated = ctx.evaluated.into_inner();
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
            wire::success(&action_name, &xml, id)
        }
        Err(err) => {
            let kind = if err.code == "UnauthorizedOperation" {
                VerdictKind::Denied
            } else {
                VerdictKind::Error
            };
            fail(kind, &action, Some(principal), evaluated.as_ref(), err)
        }
    }
}
