//! The doctor's judgement: a pure function of the [`Evidence`] to one
//! [`Cause`] (the runbook's causes, plus "none" and "undetermined"), the
//! evidence lines that support it, and the fix — a minimal policy or a
//! command, printed; applied only by `doctor::fix` when asked. The order
//! of the checks is the runbook's causality: no credentials at all (trust,
//! profile, IMDS) before what IAM decides, a denial before throttling.

use serde::Serialize;

use super::evidence::{Evidence, ImdsFailure};

/// Why the request fails (or that it does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Nothing wrong found: the request is allowed and not throttled.
    None,
    /// No policy of the role allows the action on the resource.
    MissingPermission,
    /// A statement explicitly denies it.
    ExplicitDeny,
    /// The role's trust policy does not let `ec2.amazonaws.com` assume it.
    TrustPolicy,
    /// The instance has no instance profile at all.
    NoInstanceProfile,
    /// The instance runs with another profile than expected (outdated
    /// launch template, stale association).
    WrongInstanceProfile,
    /// IAM allows it, enforcement denied it, and then allowed it: a grant
    /// still propagating.
    PropagationRace,
    /// Rate limiting, not a denial.
    Throttling,
    /// IMDS did not hand out credentials (unreachable, throttled, 5xx, token refused).
    ImdsFailure,
    /// A failure the evidence does not explain (see the evidence).
    Undetermined,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::None => "none",
            Cause::MissingPermission => "missing_permission",
            Cause::ExplicitDeny => "explicit_deny",
            Cause::TrustPolicy => "trust_policy",
            Cause::NoInstanceProfile => "no_instance_profile",
            Cause::WrongInstanceProfile => "wrong_instance_profile",
            Cause::PropagationRace => "propagation_race",
            Cause::Throttling => "throttling",
            Cause::ImdsFailure => "imds_failure",
            Cause::Undetermined => "undetermined",
        }
    }
}

/// A change that would fix the cause.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fix {
    /// Add an inline policy to the role (`--fix` can apply it).
    PutRolePolicy {
        role: String,
        policy_name: String,
        document: String,
    },
    /// Replace the role's trust policy (`--fix` can apply it).
    UpdateAssumeRolePolicy { role: String, document: String },
    /// Something for a human to do; never applied by `--fix`.
    Advice { text: String },
}

impl Fix {
    /// The AWS CLI command that applies it (none for advice).
    pub fn command(&self) -> Option<String> {
        match self {
            Fix::PutRolePolicy {
                role,
                policy_name,
                document,
            } => Some(format!(
                "aws iam put-role-policy --role-name {role} --policy-name {policy_name} --policy-document '{document}'"
            )),
            Fix::UpdateAssumeRolePolicy { role, document } => Some(format!(
                "aws iam update-assume-role-policy --role-name {role} --policy-document '{document}'"
            )),
            Fix::Advice { .. } => None,
        }
    }
}

/// The doctor's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub cause: Cause,
    /// One line: the cause in words.
    pub summary: String,
    /// The observations that support it, most telling first.
    pub evidence: Vec<String>,
    pub fix: Option<Fix>,
    /// Other findings worth knowing that are not the cause.
    pub notes: Vec<String>,
}

/// The inline policy name `--fix` uses.
pub const FIX_POLICY_NAME: &str = "iamstorm-doctor-fix";

/// The smallest identity policy that allows `action` on `resource`.
pub fn minimal_policy(action: &str, resource: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IamstormDoctorFix",
            "Effect": "Allow",
            "Action": action,
            "Resource": resource,
        }]
    })
    .to_string()
}

/// `trust` with one statement added that lets EC2 assume the role (the
/// other statements kept); a fresh EC2 trust policy if `trust` is not JSON.
pub fn trust_with_ec2(trust: Option<&str>) -> String {
    let ec2 = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    });
    let parsed = trust.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let mut doc = match parsed {
        Some(v @ serde_json::Value::Object(_)) => v,
        _ => serde_json::json!({"Version": "2012-10-17", "Statement": []}),
    };
    let statements = match doc.get_mut("Statement") {
        Some(serde_json::Value::Array(a)) => std::mem::take(a),
        Some(one @ serde_json::Value::Object(_)) => vec![one.take()],
        _ => Vec::new(),
    };
    let mut statements = statements;
    statements.push(ec2);
    doc["Statement"] = serde_json::Value::Array(statements);
    doc.to_string()
}

fn secs(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

/// Judges the evidence.
pub fn decide(e: &Evidence) -> Verdict {
    let mut v = Verdict {
        cause: Cause::Undetermined,
        summary: String::new(),
        evidence: Vec::new(),
        fix: None,
        notes: notes(e),
    };
    let role_name = e
        .role
        .as_ref()
        .map(|r| r.name.clone())
        .or_else(|| e.imds.role_name.clone());
    let probe = e.probe.as_ref();
    let probe_line = probe.and_then(|p| {
        p.class.as_ref().map(|c| {
            let mut line = format!("probe {} → {c}", p.call.as_deref().unwrap_or("(no probe)"));
            if let Some(d) = &p.detail {
                line.push_str(&format!(" ({d})"));
            }
            if let Some(err) = &p.error {
                line.push_str(&format!(": {err}"));
            }
            line
        })
    });

    // 1. Trust: EC2 cannot assume the role, so the instance gets no credentials.
    let trust_broken = e.imds.credentials_code.as_deref() == Some("AssumeRoleUnauthorizedAccess")
        || e.role.as_ref().and_then(|r| r.trust_allows_ec2) == Some(false);
    if trust_broken {
        let role = role_name.clone().unwrap_or_else(|| "the role".to_owned());
        v.cause = Cause::TrustPolicy;
        v.summary = format!(
            "the trust policy of {role} does not allow ec2.amazonaws.com, so the instance never gets credentials (not a permission problem)"
        );
        if let Some(code) = &e.imds.credentials_code {
            v.evidence.push(format!(
                "IMDS credentials document: Code={code}{}",
                e.imds
                    .credentials_message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(r) = &e.role
            && r.trust_allows_ec2 == Some(false)
        {
            v.evidence.push(format!(
                "iam:GetRole {}: no Allow statement for Service ec2.amazonaws.com in {}",
                r.name,
                r.trust_document.as_deref().unwrap_or("(trust policy)")
            ));
        }
        v.evidence.extend(probe_line);
        let trust = e.role.as_ref().and_then(|r| r.trust_document.as_deref());
        v.fix = Some(Fix::UpdateAssumeRolePolicy {
            role,
            document: trust_with_ec2(trust),
        });
        return v;
    }

    // 2. No instance profile at all.
    if e.imds.no_role() {
        v.cause = Cause::NoInstanceProfile;
        v.summary = "the instance has no instance profile: IMDS has no role to serve".to_owned();
        v.evidence
            .push("IMDS GET iam/security-credentials/ → 404".to_owned());
        v.evidence.extend(probe_line);
        v.fix = Some(Fix::Advice {
            text: match &e.association.expected_profile {
                Some(p) => format!(
                    "associate {p}: aws ec2 associate-iam-instance-profile --instance-id {} --iam-instance-profile Name={p}",
                    e.instance.instance_id.as_deref().unwrap_or("INSTANCE_ID")
                ),
                None => "associate an instance profile whose role has the permission (aws ec2 associate-iam-instance-profile)".to_owned(),
            },
        });
        return v;
    }

    // 3. Another profile than expected (outdated launch template).
    if e.association.matches() == Some(false) {
        let a = &e.association;
        let actual = a
            .associated_profile
            .as_deref()
            .or(a.imds_profile.as_deref())
            .unwrap_or("none");
        let expected = a.expected_profile.as_deref().unwrap_or_default();
        v.cause = Cause::WrongInstanceProfile;
        v.summary = format!(
            "the instance runs with instance profile {actual} but {expected} was expected (outdated launch template or stale association)"
        );
        v.evidence.push(format!(
            "associated profile {actual} (from {}); expected {expected} ({})",
            a.associated_source.as_deref().unwrap_or("IMDS"),
            a.expected_source.as_deref().unwrap_or("given")
        ));
        if let Some(role) = &role_name {
            v.evidence
                .push(format!("the instance's credentials are for role {role}"));
        }
        if let (Some(role), Some(d)) = (&a.expected_role, &a.expected_role_decision) {
            v.evidence.push(format!(
                "SimulatePrincipalPolicy for the expected profile's role {role}: {d}"
            ));
        }
        if let Some(s) = &e.simulation
            && let Some(d) = &s.decision
        {
            v.evidence.push(format!(
                "SimulatePrincipalPolicy for the instance's role: {d}"
            ));
        }
        v.evidence.extend(probe_line);
        v.fix = Some(Fix::Advice {
            text: format!(
                "update the launch template first, then replace the association: aws ec2 replace-iam-instance-profile-association --association-id ASSOCIATION_ID --iam-instance-profile Name={expected} (instance {}), and restart the app or reboot",
                e.instance.instance_id.as_deref().unwrap_or("INSTANCE_ID")
            ),
        });
        return v;
    }

    // 4. IMDS itself failing.
    let probe_no_creds = probe.is_some_and(|p| p.class_is("credentials_unavailable"));
    if let Some((kind, call_name, call)) = e.imds.failure() {
        v.cause = Cause::ImdsFailure;
        let what = match kind {
            ImdsFailure::Unreachable => "is unreachable",
            ImdsFailure::Throttled => "throttles the credential fetch (429)",
            ImdsFailure::Unavailable => "answers 5xx",
            ImdsFailure::TokenRefused => "refuses the token flow",
        };
        v.summary = format!(
            "IMDS {what}: the instance cannot get credentials, so requests fail before IAM decides anything"
        );
        v.evidence.push(format!(
            "IMDS {call_name} → {}{}",
            call.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".to_owned()),
            call.detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
        v.evidence.extend(probe_line);
        v.fix = Some(Fix::Advice {
            text: match kind {
                ImdsFailure::Throttled => "spread credential fetches (stagger boots, cache credentials, retry with backoff); IMDS is throttled per instance and the credential service fleet-wide".to_owned(),
                _ => "check the instance's metadata options (HttpEndpoint, HttpTokens, hop limit) and what blocks 169.254.169.254; retry credential fetches with backoff".to_owned(),
            },
        });
        return v;
    }
    if probe_no_creds {
        v.cause = Cause::ImdsFailure;
        v.summary = "the SDK could not load credentials from IMDS".to_owned();
        v.evidence.extend(probe_line);
        v.fix = Some(Fix::Advice {
            text: "check IMDS from the instance (curl -X PUT http://169.254.169.254/latest/api/token …) and the SDK's credential chain".to_owned(),
        });
        return v;
    }

    let sim = e.simulation.as_ref();
    let sim_line = sim.map(|s| match (&s.decision, &s.error) {
        (Some(d), _) => format!(
            "SimulatePrincipalPolicy {} on {}: {d}{}",
            e.action,
            e.resource,
            if s.matched.is_empty() {
                String::new()
            } else {
                format!(" (matched {})", s.matched.join(", "))
            }
        ),
        (None, Some(err)) => format!("SimulatePrincipalPolicy could not run: {err}"),
        (None, None) => "SimulatePrincipalPolicy gave no answer".to_owned(),
    });
    let statement_lines = |deny_only: bool| -> Vec<String> {
        e.role
            .iter()
            .flat_map(|r| r.statements.iter())
            .filter(|s| s.resource_matches && (!deny_only || s.effect == "Deny"))
            .map(|s| {
                format!(
                    "{} statement {}{}: {}{}",
                    s.policy,
                    s.index,
                    s.sid
                        .as_ref()
                        .map(|sid| format!(" ({sid})"))
                        .unwrap_or_default(),
                    s.text,
                    if s.has_condition {
                        " (has a Condition)"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    };
    let denied = probe.is_some_and(|p| p.class_is("access_denied"));
    let explicit_probe = probe
        .and_then(|p| p.detail.as_deref())
        .is_some_and(|d| d.starts_with("explicit"));
    let explicit = sim.is_some_and(|s| s.is("explicitDeny")) || (denied && explicit_probe);

    // 5. An explicit deny wins over any allow.
    if explicit {
        v.cause = Cause::ExplicitDeny;
        v.summary = format!(
            "{} on {} is explicitly denied by a policy statement (an Allow cannot override it)",
            e.action, e.resource
        );
        v.evidence.extend(probe_line);
        v.evidence.extend(sim_line);
        v.evidence.extend(statement_lines(true));
        v.fix = Some(Fix::Advice {
            text: "narrow or remove the Deny statement above (or exclude this resource with NotResource / a Condition); --fix never removes a deny".to_owned(),
        });
        return v;
    }

    // 6. IAM allows but enforcement denied: the propagation FAQ.
    if denied && sim.is_some_and(|s| s.is("allowed")) {
        v.evidence.extend(probe_line.clone());
        v.evidence.extend(sim_line.clone());
        if let Some(p) = &e.propagation {
            if let Some(after) = p.allowed_after_ms {
                v.cause = Cause::PropagationRace;
                v.summary = format!(
                    "a propagation race: IAM already allows {} but enforcement denied it until {} later — the policy is right, the change had not propagated",
                    e.action,
                    secs(after)
                );
                v.evidence.push(format!(
                    "{} probes over {}: {} denied, first allowed after {}{}{}",
                    p.probes,
                    secs(p.waited_ms),
                    p.denied_probes,
                    secs(after),
                    p.stable_after_ms
                        .map(|s| format!(", stable from {}", secs(s)))
                        .unwrap_or_default(),
                    if p.flaps > 0 {
                        format!(", {} flaps (replicas disagreeing)", p.flaps)
                    } else {
                        String::new()
                    }
                ));
                v.fix = Some(Fix::Advice {
                    text: "nothing to change in IAM: wait for the grant to propagate (or retry AccessDenied with backoff for a few seconds after a policy change)".to_owned(),
                });
                return v;
            }
            v.evidence.push(format!(
                "still denied after {} probes over {} (limit {})",
                p.probes,
                secs(p.waited_ms),
                secs(p.wait_limit_ms as f64)
            ));
        }
        v.cause = Cause::Undetermined;
        v.summary = "IAM's simulation allows the request but enforcement keeps denying it: look at what the simulation does not see — a bucket/resource policy, an SCP, a session policy, or a change still propagating past the wait".to_owned();
        v.fix = Some(Fix::Advice {
            text: "check the bucket policy (aws s3api get-bucket-policy), SCPs and session policies; re-run with a longer --propagation-wait".to_owned(),
        });
        return v;
    }

    // 7. Nothing allows it.
    let implicit_probe = denied
        && probe
            .and_then(|p| p.detail.as_deref())
            .is_some_and(|d| d.starts_with("implicit") || d == "unspecified" || d == "no_body");
    let sim_implicit = sim.is_some_and(|s| s.is("implicitDeny"));
    let no_probe = probe.is_none_or(|p| p.call.is_none());
    if (denied && (sim_implicit || sim.is_none_or(|s| s.decision.is_none()) && implicit_probe))
        || (no_probe && sim_implicit)
    {
        let role = role_name.clone().unwrap_or_else(|| "ROLE".to_owned());
        v.cause = Cause::MissingPermission;
        v.summary = format!(
            "missing permission {} on {} for role {role} — not a propagation delay",
            e.action, e.resource
        );
        v.evidence.extend(probe_line);
        v.evidence.extend(sim_line);
        let near: Vec<String> = e
            .role
            .iter()
            .flat_map(|r| r.statements.iter())
            .filter(|s| s.effect == "Allow")
            .map(|s| {
                format!(
                    "closest: {} statement {} allows the action on {} — not this resource",
                    s.policy, s.index, s.text
                )
            })
            .collect();
        if near.is_empty() {
            if let Some(r) = &e.role {
                v.evidence.push(format!(
                    "no statement in the role's {} policies allows {} ({})",
                    r.policies.len(),
                    e.action,
                    r.policies
                        .iter()
                        .map(|p| p.policy.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        } else {
            v.evidence.extend(near);
        }
        v.fix = Some(Fix::PutRolePolicy {
            role,
            policy_name: FIX_POLICY_NAME.to_owned(),
            document: minimal_policy(&e.action, &e.resource),
        });
        return v;
    }

    // 8. Throttling: the probe or the burst was rate limited.
    let burst_throttled = e.burst.as_ref().map_or(0, |b| b.count("throttled"));
    let probe_throttled = probe.is_some_and(|p| p.class_is("throttled"));
    if probe_throttled || burst_throttled > 0 {
        v.cause = Cause::Throttling;
        v.summary = "throttling, not a denial: the target rate-limits these requests (an app that retries poorly or maps errors loosely reports it as AccessDenied)".to_owned();
        v.evidence.extend(probe_line);
        if let Some(b) = &e.burst {
            v.evidence.push(burst_line(b));
        }
        v.evidence.extend(sim_line);
        v.fix = Some(Fix::Advice {
            text: "retry throttling errors with exponential backoff and jitter (SDK standard/adaptive retry mode), spread keys across prefixes, or ask for a higher quota".to_owned(),
        });
        return v;
    }

    // 9. Allowed.
    if probe.is_some_and(|p| p.class_is("ok")) || (no_probe && sim.is_some_and(|s| s.is("allowed")))
    {
        v.cause = Cause::None;
        v.summary = format!(
            "no problem found: {} on {} is allowed for this instance",
            e.action, e.resource
        );
        v.evidence.extend(probe_line);
        v.evidence.extend(sim_line);
        v.evidence
            .extend(statement_lines(false).into_iter().take(3));
        if let Some(b) = &e.burst {
            v.evidence.push(burst_line(b));
        }
        return v;
    }

    v.cause = Cause::Undetermined;
    v.summary = "the request fails for a reason the runbook's checks do not explain".to_owned();
    v.evidence.extend(probe_line);
    v.evidence.extend(sim_line);
    if let Some(b) = &e.burst {
        v.evidence.push(burst_line(b));
    }
    v
}

fn burst_line(b: &super::evidence::BurstEvidence) -> String {
    let classes: Vec<String> = b
        .counts
        .iter()
        .map(|(class, n)| {
            let rate = b.rate_per_s.get(class).copied().unwrap_or(0.0);
            let first = b
                .first_at_ms
                .get(class)
                .map(|ms| format!(", first at {ms:.0} ms"))
                .unwrap_or_default();
            format!("{class} {n} ({rate:.1}/s{first})")
        })
        .collect();
    let details: Vec<String> = b.details.iter().map(|(d, n)| format!("{d}×{n}")).collect();
    format!(
        "burst of {} requests at {:.0}/s over {:.0} ms: {}{}",
        b.requests,
        b.rate_per_s_target,
        b.duration_ms,
        classes.join(", "),
        if details.is_empty() {
            String::new()
        } else {
            format!(" [{}]", details.join(", "))
        }
    )
}

/// Findings that are not the cause but worth a line.
fn notes(e: &Evidence) -> Vec<String> {
    let mut notes = Vec::new();
    if e.imds.v1_get.as_ref().is_some_and(|c| c.ok()) {
        notes.push("IMDSv1 is enabled (a GET without a token was answered): require tokens with HttpTokens=required".to_owned());
    }
    if e.imds.token_put.as_ref().is_some_and(|c| c.ok()) && e.imds.token_ttl_s.is_none() {
        notes.push("the token answer lacks x-aws-ec2-metadata-token-ttl-seconds: the Rust SDK rejects such tokens".to_owned());
    }
    if let Some(s) = e.imds.credentials_expires_in_s {
        if s <= 0 {
            notes.push(format!("the credentials IMDS serves expired {}s ago", -s));
        } else if s < 300 {
            notes.push(format!(
                "the credentials IMDS serves expire in {s}s (refresh is due)"
            ));
        }
    }
    if let Some(r) = &e.role {
        for err in &r.read_errors {
            notes.push(format!("could not read: {err}"));
        }
        if let Some(b) = &r.permissions_boundary {
            notes.push(format!(
                "the role has a permissions boundary {b}: it caps what the policies allow"
            ));
        }
    }
    if let Some(id) = &e.identity
        && let Some(err) = &id.error
    {
        notes.push(format!(
            "sts:GetCallerIdentity as the instance failed: {err}"
        ));
    }
    if let Some(err) = &e.association.ec2_error {
        notes.push(format!("EC2 association not checked: {err}"));
    }
    if let Some(b) = &e.burst
        && b.count("throttled") > 0
        && e.probe
            .as_ref()
            .is_some_and(|p| p.class_is("access_denied"))
    {
        notes.push(format!(
            "the burst was also throttled ({} of {}): fix the denial first",
            b.count("throttled"),
            b.requests
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::evidence::*;

    fn base() -> Evidence {
        Evidence {
            action: "s3:GetObject".into(),
            resource: "arn:aws:s3:::assets/obj-1".into(),
            imds: ImdsEvidence {
                token_put: Some(ImdsCall {
                    status: Some(200),
                    ..Default::default()
                }),
                token_ttl_s: Some(21600),
                role_get: Some(ImdsCall {
                    status: Some(200),
                    ..Default::default()
                }),
                role_name: Some("app-role".into()),
                credentials_get: Some(ImdsCall {
                    status: Some(200),
                    ..Default::default()
                }),
                credentials_code: Some("Success".into()),
                ..Default::default()
            },
            role: Some(RoleEvidence {
                name: "app-role".into(),
                trust_allows_ec2: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn probe(class: &str, detail: Option<&str>) -> Option<ProbeEvidence> {
        Some(ProbeEvidence {
            call: Some("GetObject".into()),
            class: Some(class.into()),
            detail: detail.map(str::to_owned),
            ..Default::default()
        })
    }

    fn sim(decision: &str) -> Option<SimulationEvidence> {
        Some(SimulationEvidence {
            decision: Some(decision.into()),
            ..Default::default()
        })
    }

    #[test]
    fn allowed_and_unthrottled_is_no_problem() {
        let mut e = base();
        e.probe = probe("ok", None);
        e.simulation = sim("allowed");
        assert_eq!(decide(&e).cause, Cause::None);
    }

    #[test]
    fn implicit_denial_is_a_missing_permission_with_a_minimal_policy() {
        let mut e = base();
        e.probe = probe("access_denied", Some("implicit"));
        e.simulation = sim("implicitDeny");
        let v = decide(&e);
        assert_eq!(v.cause, Cause::MissingPermission);
        let Some(Fix::PutRolePolicy { role, document, .. }) = &v.fix else {
            panic!("a policy fix: {:?}", v.fix)
        };
        assert_eq!(role, "app-role");
        let doc: serde_json::Value = serde_json::from_str(document).unwrap();
        assert_eq!(doc["Statement"][0]["Action"], "s3:GetObject");
        assert_eq!(doc["Statement"][0]["Resource"], "arn:aws:s3:::assets/obj-1");
    }

    #[test]
    fn explicit_deny_wins_over_simulation_allow() {
        let mut e = base();
        e.probe = probe("access_denied", Some("explicit"));
        e.simulation = sim("allowed");
        assert_eq!(decide(&e).cause, Cause::ExplicitDeny);
    }

    #[test]
    fn denied_then_allowed_while_simulation_allows_is_a_propagation_race() {
        let mut e = base();
        e.probe = probe("access_denied", Some("implicit"));
        e.simulation = sim("allowed");
        e.propagation = Some(PropagationEvidence {
            allowed_after_ms: Some(2000.0),
            probes: 10,
            ..Default::default()
        });
        assert_eq!(decide(&e).cause, Cause::PropagationRace);
        e.propagation.as_mut().unwrap().allowed_after_ms = None;
        assert_eq!(decide(&e).cause, Cause::Undetermined);
    }

    #[test]
    fn trust_failure_comes_before_anything_iam_decides() {
        let mut e = base();
        e.imds.credentials_code = Some("AssumeRoleUnauthorizedAccess".into());
        e.probe = probe("credentials_unavailable", Some("trust_failure"));
        e.simulation = sim("allowed");
        let v = decide(&e);
        assert_eq!(v.cause, Cause::TrustPolicy);
        let Some(Fix::UpdateAssumeRolePolicy { document, .. }) = &v.fix else {
            panic!("a trust fix")
        };
        assert!(document.contains("ec2.amazonaws.com"));
    }

    #[test]
    fn a_profile_other_than_expected_is_named() {
        let mut e = base();
        e.association.imds_profile = Some("legacy-profile".into());
        e.association.expected_profile = Some("app-profile".into());
        e.probe = probe("access_denied", Some("implicit"));
        e.simulation = sim("implicitDeny");
        assert_eq!(decide(&e).cause, Cause::WrongInstanceProfile);
    }

    #[test]
    fn imds_failures_and_missing_profiles_are_not_iam() {
        let mut e = base();
        e.imds.token_put = Some(ImdsCall {
            status: Some(503),
            ..Default::default()
        });
        e.probe = probe("credentials_unavailable", Some("provider_error"));
        assert_eq!(decide(&e).cause, Cause::ImdsFailure);
        let mut e = base();
        e.imds.role_get = Some(ImdsCall {
            status: Some(404),
            ..Default::default()
        });
        assert_eq!(decide(&e).cause, Cause::NoInstanceProfile);
    }

    #[test]
    fn throttled_burst_without_denial_is_throttling() {
        let mut e = base();
        e.probe = probe("ok", None);
        e.simulation = sim("allowed");
        let mut b = BurstEvidence::default();
        b.counts.insert("throttled".into(), 30);
        b.counts.insert("ok".into(), 20);
        e.burst = Some(b);
        assert_eq!(decide(&e).cause, Cause::Throttling);
    }

    #[test]
    fn trust_fix_keeps_existing_statements() {
        let doc = trust_with_ec2(Some(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#,
        ));
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["Statement"][1]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
    }
}
