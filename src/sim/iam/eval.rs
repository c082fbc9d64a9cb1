//! The IAM policy evaluator: a pure function of (policies, request context)
//! to a [`Decision`] that names the statement that decided it, plus AWS's
//! AccessDenied message text and role trust-policy checks.
//!
//! This module owns *deciding*; it never parses (documents arrive parsed by
//! `super::policy`) and never looks anything up (the caller passes every
//! policy that applies and every condition key it knows). That keeps the
//! decision reproducible: the same inputs always give the same decision,
//! which is what the double's ground-truth log records.
//!
//! Evaluation follows AWS's documented logic for a same-account request:
//! an explicit `Deny` in any policy wins; then every guardrail present (SCP,
//! RCP, VPC endpoint policy) must allow; then a resource-based policy can
//! allow on its own; otherwise an identity-based policy must allow, and so
//! must the permissions boundary and session policy when present. With no
//! allow, the request is implicitly denied.
//!
//! It runs per request at thousands of requests per second, so the hot path
//! does not allocate: the decision borrows from the policies, condition
//! keys are borrowed strings looked up by a case-insensitive scan, and
//! policy variables are substituted while matching instead of by building
//! strings.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use super::policy::{
    Condition, Effect, Operator, Piece, PolicyDocument, PrincipalEntry, PrincipalSpec, Qualifier,
    ResourceSpec, Statement, Template,
};
use super::wildcard::{self, Tok};

/// The condition keys of one request: key → one or more values.
///
/// Keys are matched case-insensitively, as IAM does. A multi-valued key
/// (for example `aws:TagKeys`) is inserted once per value. A key with no
/// values is indistinguishable from an absent one, which is also how IAM
/// treats an empty set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextKeys<'a> {
    entries: Vec<(&'a str, &'a str)>,
}

impl<'a> ContextKeys<'a> {
    /// An empty set of keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `n` key/value pairs, so a request builds its context with
    /// one allocation.
    pub fn with_capacity(n: usize) -> Self {
        ContextKeys {
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds one value of `key` (call again to make the key multi-valued).
    pub fn insert(&mut self, key: &'a str, value: &'a str) -> &mut Self {
        self.entries.push((key, value));
        self
    }

    /// Adds every value of a multi-valued key.
    pub fn insert_all(
        &mut self,
        key: &'a str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.entries.extend(values.into_iter().map(|v| (key, v)));
        self
    }

    /// The values of `key` (case-insensitive), in insertion order.
    pub fn values<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'a str> + Clone + 's {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    /// Whether `key` has at least one value.
    pub fn contains(&self, key: &str) -> bool {
        self.values(key).next().is_some()
    }

    /// The value of a single-valued key; `None` when absent or when it has
    /// several values (a policy variable needs exactly one).
    pub fn single(&self, key: &str) -> Option<&'a str> {
        let mut it = self.values(key);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for ContextKeys<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        ContextKeys {
            entries: iter.into_iter().collect(),
        }
    }
}

/// What is being authorized: who, doing what, to what, and the request's
/// condition keys (which also supply policy variables such as
/// `${aws:username}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext<'a> {
    /// The caller's ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`,
    /// `arn:aws:iam::ACCOUNT:user/NAME`, ...). Matched against `Principal`
    /// in resource-based policies.
    pub principal_arn: &'a str,
    /// `service:Action`, matched case-insensitively.
    pub action: &'a str,
    /// The resource ARN, matched case-sensitively (`*` for actions that
    /// take no resource).
    pub resource: &'a str,
    /// Condition keys, which also supply policy variables.
    pub keys: ContextKeys<'a>,
}

impl<'a> RequestContext<'a> {
    /// A context with no condition keys.
    pub fn new(principal_arn: &'a str, action: &'a str, resource: &'a str) -> Self {
        RequestContext {
            principal_arn,
            action,
            resource,
            keys: ContextKeys::new(),
        }
    }

    /// Builder form of [`ContextKeys::insert`].
    pub fn with_key(mut self, key: &'a str, value: &'a str) -> Self {
        self.keys.insert(key, value);
        self
    }
}

/// The policy types AWS distinguishes, both in evaluation order and in
/// the AccessDenied message ("... in a service control policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    /// Inline or managed policies of the user or role: one must allow.
    IdentityBased,
    /// A policy on the resource (bucket policy, ...): in the same account
    /// its allow suffices on its own.
    ResourceBased,
    /// Caps identity-based permissions: when present, it must also allow.
    PermissionsBoundary,
    /// Passed to AssumeRole: when present, it must also allow.
    Session,
    /// Organizations SCP: when present, it must allow.
    ServiceControl,
    /// Organizations RCP: when present, it must allow.
    ResourceControl,
    /// The VPC endpoint's policy: when present, it must allow.
    VpcEndpoint,
    /// A role's trust policy (see [`evaluate_trust`]); in [`evaluate`] it
    /// counts like a resource-based policy.
    RoleTrust,
}

impl PolicyType {
    const COUNT: usize = 8;

    /// How AWS names the type in AccessDenied messages.
    pub fn label(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "identity-based policy",
            PolicyType::ResourceBased => "resource-based policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
            PolicyType::ServiceControl => "service control policy",
            PolicyType::ResourceControl => "resource control policy",
            PolicyType::VpcEndpoint => "VPC endpoint policy",
            PolicyType::RoleTrust => "role trust policy",
        }
    }

    /// The label with its indefinite article ("an identity-based policy").
    pub fn label_with_article(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "an identity-based policy",
            PolicyType::ResourceBased => "a resource-based policy",
            PolicyType::PermissionsBoundary => "a permissions boundary",
            PolicyType::Session => "a session policy",
            PolicyType::ServiceControl => "a service control policy",
            PolicyType::ResourceControl => "a resource control policy",
            PolicyType::VpcEndpoint => "a VPC endpoint policy",
            PolicyType::RoleTrust => "a role trust policy",
        }
    }

    /// Whether AWS appends the denying policy's ARN to an explicit-deny
    /// message for this type (it does for SCPs, RCPs, permissions
    /// boundaries, session and identity policies).
    pub fn message_names_policy(self) -> bool {
        matches!(
            self,
            PolicyType::IdentityBased
                | PolicyType::PermissionsBoundary
                | PolicyType::Session
                | PolicyType::ServiceControl
                | PolicyType::ResourceControl
        )
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One policy that applies to a request.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    /// The parsed document.
    pub document: &'a PolicyDocument,
    /// Its role in evaluation, and how messages name it.
    pub policy_type: PolicyType,
    /// The policy's ARN (managed) or name (inline); it appears in decisions
    /// and explicit-deny messages. Empty to leave it out of messages.
    pub name: &'a str,
}

impl<'a> PolicyRef<'a> {
    /// An identity-based policy (inline or managed).
    pub fn identity(document: &'a PolicyDocument, name: &'a str) -> Self {
        PolicyRef {
            document,
            policy_type: PolicyType::IdentityBased,
            name,
        }
    }
}

/// The statement that decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementMatch<'a> {
    /// Index into the `policies` slice given to [`evaluate`].
    pub policy_index: usize,
    /// The type of the deciding policy.
    pub policy_type: PolicyType,
    /// [`PolicyRef::name`] of the deciding policy.
    pub policy_name: &'a str,
    /// The statement's position in its document.
    pub statement_index: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<&'a str>,
}

impl fmt::Display for StatementMatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.policy_type.label())?;
        if !self.policy_name.is_empty() {
            write!(f, " {}", self.policy_name)?;
        }
        match self.sid {
            Some(sid) if !sid.is_empty() => {
                write!(f, ", statement {} (Sid {sid})", self.statement_index)
            }
            _ => write!(f, ", statement {}", self.statement_index),
        }
    }
}

/// The outcome of an evaluation, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Allowed by this statement.
    Allow(StatementMatch<'a>),
    /// Denied by this `Deny` statement.
    ExplicitDeny(StatementMatch<'a>),
    /// No statement allowed it; `policy_type` is the type AWS names as
    /// lacking the allow ("because no <type> allows ...").
    ImplicitDeny {
        /// The policy type that lacked an allow.
        policy_type: PolicyType,
    },
}

/// The decision without its reason, for comparing outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    /// Some statement allowed and nothing denied.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// Nothing matched (or a required policy type did not allow).
    ImplicitDeny,
}

impl<'a> Decision<'a> {
    /// The outcome without its reason.
    pub fn kind(&self) -> DecisionKind {
        match self {
            Decision::Allow(_) => DecisionKind::Allow,
            Decision::ExplicitDeny(_) => DecisionKind::ExplicitDeny,
            Decision::ImplicitDeny { .. } => DecisionKind::ImplicitDeny,
        }
    }

    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The deciding statement (none for an implicit deny).
    pub fn statement(&self) -> Option<StatementMatch<'a>> {
        match self {
            Decision::Allow(m) | Decision::ExplicitDeny(m) => Some(*m),
            Decision::ImplicitDeny { .. } => None,
        }
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow(m) => write!(f, "allowed by {m}"),
            Decision::ExplicitDeny(m) => write!(f, "explicit deny in {m}"),
            Decision::ImplicitDeny { policy_type } => {
                write!(
                    f,
                    "implicit deny: no {} allows the action",
                    policy_type.label()
                )
            }
        }
    }
}

/// Who is asking, as a `Principal` element sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustPrincipal<'a> {
    /// An AWS service, e.g. `ec2.amazonaws.com` (instance profiles).
    Service(&'a str),
    /// An IAM user, role session or root, with its account.
    Aws {
        /// The caller's ARN (user, assumed-role session, root).
        arn: &'a str,
        /// Its 12-digit account, which `{"AWS": "<account>"}` matches.
        account: &'a str,
    },
    /// A federated identity provider (web identity, SAML).
    Federated(&'a str),
}

impl<'a> TrustPrincipal<'a> {
    /// An AWS principal, its account taken from the ARN's fifth component.
    pub fn from_arn(arn: &'a str) -> Self {
        TrustPrincipal::Aws {
            arn,
            account: arn.split(':').nth(4).unwrap_or(""),
        }
    }
}

/// Evaluates a request against every policy that applies to it.
///
/// Pure and allocation-free: the decision borrows names and Sids from
/// `policies`. Within one policy type, the first matching statement (in
/// slice order, then document order) is reported; the decision *kind* does
/// not depend on order.
pub fn evaluate<'a>(policies: &[PolicyRef<'a>], ctx: &RequestContext<'_>) -> Decision<'a> {
    let who = TrustPrincipal::from_arn(ctx.principal_arn);
    let mut present = [false; PolicyType::COUNT];
    let mut allowed: [Option<StatementMatch<'a>>; PolicyType::COUNT] = [None; PolicyType::COUNT];
    for (policy_index, policy) in policies.iter().enumerate() {
        let slot = policy.policy_type.slot();
        present[slot] = true;
        for st in &policy.document.statements {
            if st.effect == Effect::Allow && allowed[slot].is_some() {
                continue;
            }
            if !statement_applies(st, &who, ctx.action, Some(ctx.resource), &ctx.keys) {
                continue;
            }
            let m = StatementMatch {
                policy_index,
                policy_type: policy.policy_type,
                policy_name: policy.name,
                statement_index: st.index,
                sid: st.sid.as_deref(),
            };
            match st.effect {
                Effect::Deny => return Decision::ExplicitDeny(m),
                Effect::Allow => allowed[slot] = Some(m),
            }
        }
    }
    // Guardrails: when present, each must allow.
    for t in [
        PolicyType::ServiceControl,
        PolicyType::ResourceControl,
        PolicyType::VpcEndpoint,
    ] {
        if present[t.slot()] && allowed[t.slot()].is_none() {
            return Decision::ImplicitDeny { policy_type: t };
        }
    }
    // Same account: a resource-based (or trust) policy allow suffices.
    for t in [PolicyType::ResourceBased, PolicyType::RoleTrust] {
        if let Some(m) = allowed[t.slot()] {
            return Decision::Allow(m);
        }
    }
    let Some(identity) = allowed[PolicyType::IdentityBased.slot()] else {
        return Decision::ImplicitDeny {
            policy_type: PolicyType::IdentityBased,
        };
    };
    for t in [PolicyType::PermissionsBoundary, PolicyType::Session] {
        if present[t.slot()] && allowed[t.slot()].is_none() {
            return Decision::ImplicitDeny { policy_type: t };
        }
    }
    Decision::Allow(identity)
}

/// AWS's enriched AccessDenied message for a denied request, e.g.
/// `User: arn:aws:sts::123456789012:assumed-role/R/S is not authorized to
/// perform: s3:GetObject on resource: arn:aws:s3:::b/k because no
/// identity-based policy allows the s3:GetObject action`.
///
/// The ` on resource: ...` part is left out when `resource` is empty or `*`
/// (actions without a resource), as AWS does. An explicit deny names the
/// policy (` ...: <name>`) for the types AWS names, when the name is not
/// empty. For an `Allow` decision there is no reason to give, so this
/// returns the bare "is not authorized" sentence.
pub fn access_denied_message(
    principal_arn: &str,
    action: &str,
    resource: &str,
    decision: &Decision<'_>,
) -> String {
    let mut out = format!("User: {principal_arn} is not authorized to perform: {action}");
    if !resource.is_empty() && resource != "*" {
        out.push_str(" on resource: ");
        out.push_str(resource);
    }
    match decision {
        Decision::Allow(_) => {}
        Decision::ImplicitDeny { policy_type } => {
            out.push_str(" because no ");
            out.push_str(policy_type.label());
            out.push_str(" allows the ");
            out.push_str(action);
            out.push_str(" action");
        }
        Decision::ExplicitDeny(m) => {
            out.push_str(" with an explicit deny in ");
            out.push_str(m.policy_type.label_with_article());
            if m.policy_type.message_names_policy() && !m.policy_name.is_empty() {
                out.push_str(": ");
                out.push_str(m.policy_name);
            }
        }
    }
    out
}

/// Evaluates a role trust policy for `principal` performing `action`
/// (`sts:AssumeRole`, `sts:TagSession`, ...). An explicit `Deny` wins; the
/// decision names the statement (policy index 0, empty policy name).
pub fn evaluate_trust<'a>(
    trust: &'a PolicyDocument,
    principal: &TrustPrincipal<'_>,
    action: &str,
    keys: &ContextKeys<'_>,
) -> Decision<'a> {
    let mut allowed = None;
    for st in &trust.statements {
        if st.effect == Effect::Allow && allowed.is_some() {
            continue;
        }
        if st.principal.is_none() || !statement_applies(st, principal, action, None, keys) {
            continue;
        }
        let m = StatementMatch {
            policy_index: 0,
            policy_type: PolicyType::RoleTrust,
            policy_name: "",
            statement_index: st.index,
            sid: st.sid.as_deref(),
        };
        match st.effect {
            Effect::Deny => return Decision::ExplicitDeny(m),
            Effect::Allow => allowed = Some(m),
        }
    }
    match allowed {
        Some(m) => Decision::Allow(m),
        None => Decision::ImplicitDeny {
            policy_type: PolicyType::RoleTrust,
        },
    }
}

/// Whether a role's trust policy lets `principal` perform `action`.
pub fn trust_allows(
    trust: &PolicyDocument,
    principal: &TrustPrincipal<'_>,
    action: &str,
    keys: &ContextKeys<'_>,
) -> bool {
    evaluate_trust(trust, principal, action, keys).is_allowed()
}

/// Whether a statement matches the request: principal (when the statement
/// names one), action, resource (when both sides have one) and every
/// condition.
fn statement_applies(
    st: &Statement,
    who: &TrustPrincipal<'_>,
    action: &str,
    resource: Option<&str>,
    keys: &ContextKeys<'_>,
) -> bool {
    if let Some(p) = &st.principal
        && !principal_matches(p, who)
    {
        return false;
    }
    if !st.action.applies_to(action) {
        return false;
    }
    if let (Some(spec), Some(resource)) = (&st.resource, resource)
        && !resource_matches(spec, resource, keys)
    {
        return false;
    }
    st.conditions.iter().all(|c| condition_holds(c, keys))
}

fn resource_matches(spec: &ResourceSpec, resource: &str, keys: &ContextKeys<'_>) -> bool {
    spec.patterns
        .iter()
        .any(|p| template_glob(p, resource, keys, false))
        != spec.negated
}

fn principal_matches(spec: &PrincipalSpec, who: &TrustPrincipal<'_>) -> bool {
    spec.entries.iter().any(|e| entry_matches(e, who)) != spec.negated
}

fn entry_matches(entry: &PrincipalEntry, who: &TrustPrincipal<'_>) -> bool {
    match (entry, who) {
        (PrincipalEntry::Anyone, _) => true,
        (PrincipalEntry::AnyAws, TrustPrincipal::Aws { .. }) => true,
        (PrincipalEntry::AwsAccount(a), TrustPrincipal::Aws { account, .. }) => a == account,
        (PrincipalEntry::AwsArn(p), TrustPrincipal::Aws { arn, .. }) => {
            p == arn || is_session_of_role(arn, p)
        }
        (PrincipalEntry::Service(s), TrustPrincipal::Service(x)) => s.eq_ignore_ascii_case(x),
        (PrincipalEntry::Federated(f), TrustPrincipal::Federated(x)) => f == x,
        _ => false,
    }
}

/// Whether `session` (`arn:aws:sts::A:assumed-role/NAME/S`) is a session of
/// `role` (`arn:aws:iam::A:role/PATH/NAME`): a role ARN in `Principal`
/// covers its sessions.
fn is_session_of_role(session: &str, role: &str) -> bool {
    let mut s = session.splitn(6, ':');
    let mut r = role.splitn(6, ':');
    let (Some("arn"), Some("arn")) = (s.next(), r.next()) else {
        return false;
    };
    if s.next() != r.next() {
        return false; // partition
    }
    if (s.next(), r.next()) != (Some("sts"), Some("iam")) {
        return false;
    }
    s.next();
    r.next();
    if s.next() != r.next() {
        return false; // account
    }
    let (Some(s_res), Some(r_res)) = (s.next(), r.next()) else {
        return false;
    };
    let Some(s_name) = s_res
        .strip_prefix("assumed-role/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(name, _session)| name)
    else {
        return false;
    };
    let Some(r_path) = r_res.strip_prefix("role/") else {
        return false;
    };
    r_path.rsplit('/').next() == Some(s_name)
}

// ---------------------------------------------------------------------------
// Conditions

fn condition_holds(c: &Condition, keys: &ContextKeys<'_>) -> bool {
    let present = keys.contains(&c.key);
    if c.operator == Operator::Null {
        // `"Null": {"k": "true"}` holds when k is absent; "false" when present.
        return c
            .values
            .iter()
            .any(|v| match template_resolve(v, keys).as_deref() {
                Some(s) if s.eq_ignore_ascii_case("true") => !present,
                Some(s) if s.eq_ignore_ascii_case("false") => present,
                _ => false,
            });
    }
    if !present {
        if c.if_exists {
            return true;
        }
        return match c.qualifier {
            Qualifier::ForAllValues => true,
            Qualifier::ForAnyValue => false,
            Qualifier::Single => c.operator.is_negated(),
        };
    }
    let negated = c.operator.is_negated();
    // The positive form of the operator for one context value: any policy
    // value matches (values are ORed).
    let hit = |v: &str| {
        c.values
            .iter()
            .any(|p| positive_match(c.operator, p, v, keys))
    };
    let mut values = keys.values(&c.key);
    match c.qualifier {
        // A plain operator on a (possibly multi-valued) key: the positive
        // form holds when any value matches; the negated form is its
        // complement.
        Qualifier::Single => values.any(hit) != negated,
        // Some context value satisfies the operator (negation applied per value).
        Qualifier::ForAnyValue => values.any(|v| hit(v) != negated),
        // Every context value satisfies the operator.
        Qualifier::ForAllValues => values.all(|v| hit(v) != negated),
    }
}

/// The positive form of `op` (a negated operator uses its complement's
/// test) for one policy value against one context value.
fn positive_match(op: Operator, policy: &Template, value: &str, keys: &ContextKeys<'_>) -> bool {
    use Operator as O;
    match op {
        O::StringEquals | O::StringNotEquals => template_eq(policy, value, keys, false),
        O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase => {
            template_eq(policy, value, keys, true)
        }
        O::StringLike | O::StringNotLike => template_glob(policy, value, keys, false),
        O::ArnEquals | O::ArnLike | O::ArnNotEquals | O::ArnNotLike => {
            template_arn(policy, value, keys)
        }
        O::NumericEquals
        | O::NumericNotEquals
        | O::NumericLessThan
        | O::NumericLessThanEquals
        | O::NumericGreaterThan
        | O::NumericGreaterThanEquals => {
            let (Some(p), Some(v)) = (
                template_resolve(policy, keys).and_then(|p| parse_number(&p)),
                parse_number(value),
            ) else {
                return false;
            };
            compare(op, v.partial_cmp(&p))
        }
        O::DateEquals
        | O::DateNotEquals
        | O::DateLessThan
        | O::DateLessThanEquals
        | O::DateGreaterThan
        | O::DateGreaterThanEquals => {
            let (Some(p), Some(v)) = (
                template_resolve(policy, keys).and_then(|p| parse_date_millis(&p)),
                parse_date_millis(value),
            ) else {
                return false;
            };
            compare(op, Some(v.cmp(&p)))
        }
        O::Bool => template_resolve(policy, keys).is_some_and(|p| {
            (p.eq_ignore_ascii_case("true") || p.eq_ignore_ascii_case("false"))
                && p.eq_ignore_ascii_case(value)
        }),
        O::BinaryEquals => template_resolve(policy, keys).is_some_and(|p| p == value),
        O::IpAddress | O::NotIpAddress => {
            let (Some((net, bits)), Ok(ip)) = (
                template_resolve(policy, keys).and_then(|p| parse_cidr(&p)),
                value.trim().parse::<IpAddr>(),
            ) else {
                return false;
            };
            cidr_contains(net, bits, ip)
        }
        O::Null => false,
    }
}

/// Applies an ordering operator to `context.cmp(policy)`.
fn compare(op: Operator, ord: Option<std::cmp::Ordering>) -> bool {
    use Operator as O;
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(ord) = ord else {
        return false;
    };
    match op {
        O::NumericEquals | O::NumericNotEquals | O::DateEquals | O::DateNotEquals => ord == Equal,
        O::NumericLessThan | O::DateLessThan => ord == Less,
        O::NumericLessThanEquals | O::DateLessThanEquals => ord != Greater,
        O::NumericGreaterThan | O::DateGreaterThan => ord == Greater,
        O::NumericGreaterThanEquals | O::DateGreaterThanEquals => ord != Less,
        _ => false,
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Milliseconds since the Unix epoch from an epoch-seconds integer or an
/// ISO 8601 date/date-time (`2024-01-31`, `2024-01-31T12:00:00Z`,
/// `2024-01-31T12:00:00.5+02:00`), the forms IAM's date operators accept.
///
/// Every field is range-checked before any arithmetic, so hostile input
/// (from a policy or a request) cannot overflow.
fn parse_date_millis(s: &str) -> Option<i64> {
    fn field(text: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|v| range.contains(v))
    }
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut d = date.split('-');
    let year = field(d.next()?, 0..=9999)?;
    let month = d.next().map_or(Some(1), |m| field(m, 1..=12))?;
    let day = d.next().map_or(Some(1), |x| field(x, 1..=31))?;
    if d.next().is_some() {
        return None;
    }
    // Both lie in 1..=31 after `field`.
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if time.is_empty() {
        return Some(millis);
    }
    // Split off the zone: Z, +hh[:mm] or -hh[:mm].
    let (clock, offset_minutes) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let sign = if time[i..].starts_with('-') { -1 } else { 1 };
        let zone = &time[i + 1..];
        let (h, m) = zone.split_once(':').unwrap_or((zone, "0"));
        (
            &time[..i],
            sign * (field(h, 0..=23)? * 60 + field(m, 0..=59)?),
        )
    } else {
        (time, 0)
    };
    let mut parts = clock.split(':');
    let h = field(parts.next()?, 0..=23)?;
    let m = parts.next().map_or(Some(0), |x| field(x, 0..=59))?;
    let sec_text = parts.next().unwrap_or("0");
    if parts.next().is_some() {
        return None;
    }
    let (whole, frac) = sec_text.split_once('.').unwrap_or((sec_text, ""));
    let sec = field(whole, 0..=60)?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Milliseconds from the first three fraction digits.
    let frac_millis = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
    millis += ((h * 60 + m - offset_minutes) * 60 + sec) * 1000 + frac_millis;
    Some(millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `203.0.113.0/24`, `2001:db8::/32` or a bare address (a /32 or /128).
fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let s = s.trim();
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn cidr_contains(net: IpAddr, bits: u32, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Policy variables

/// The value a variable stands for: the key's single value, else its
/// default.
fn resolve_var<'k>(keys: &ContextKeys<'k>, key: &str, default: Option<&'k str>) -> Option<&'k str> {
    keys.single(key).or(default)
}

/// Whether every variable in `t` has a value; a template with a missing
/// one matches nothing.
fn resolvable(t: &Template, keys: &ContextKeys<'_>) -> bool {
    t.pieces.iter().all(|p| match p {
        Piece::Var { key, default } => default.is_some() || keys.single(key).is_some(),
        Piece::Text(_) | Piece::Literal(_) => true,
    })
}

/// Tokens of a template with its variables substituted; `wild` decides
/// whether `*`/`?` in the policy's own text are wildcards. Substituted
/// values and `${*}`-style literals are never wildcards.
#[derive(Clone)]
struct TemplateToks<'x> {
    pieces: std::slice::Iter<'x, Piece>,
    cur: std::str::Chars<'x>,
    cur_wild: bool,
    pending: Option<char>,
    keys: &'x ContextKeys<'x>,
    wild: bool,
}

impl<'x> TemplateToks<'x> {
    fn new(t: &'x Template, keys: &'x ContextKeys<'x>, wild: bool) -> Self {
        TemplateToks {
            pieces: t.pieces.iter(),
            cur: "".chars(),
            cur_wild: false,
            pending: None,
            keys,
            wild,
        }
    }
}

impl Iterator for TemplateToks<'_> {
    type Item = Tok;

    fn next(&mut self) -> Option<Tok> {
        loop {
            if let Some(c) = self.pending.take() {
                return Some(Tok::Char(c));
            }
            if let Some(c) = self.cur.next() {
                return Some(if self.cur_wild {
                    wildcard::tok(c)
                } else {
                    Tok::Char(c)
                });
            }
            match self.pieces.next()? {
                Piece::Text(s) => {
                    self.cur = s.chars();
                    self.cur_wild = self.wild;
                }
                Piece::Literal(c) => self.pending = Some(*c),
                Piece::Var { key, default } => {
                    let value = resolve_var(self.keys, key, default.as_deref()).unwrap_or("");
                    self.cur = value.chars();
                    self.cur_wild = false;
                }
            }
        }
    }
}

/// Glob match (Resource, `StringLike`).
fn template_glob(t: &Template, text: &str, keys: &ContextKeys<'_>, fold: bool) -> bool {
    if t.is_plain() {
        return if fold {
            wildcard::matches_ignore_case(&t.raw, text)
        } else {
            wildcard::matches(&t.raw, text)
        };
    }
    resolvable(t, keys) && wildcard::matches_tokens(TemplateToks::new(t, keys, true), text, fold)
}

/// Exact match (`StringEquals`, optionally case-insensitive).
fn template_eq(t: &Template, text: &str, keys: &ContextKeys<'_>, fold: bool) -> bool {
    if t.is_plain() {
        return if fold {
            wildcard::eq_ignore_case(&t.raw, text)
        } else {
            t.raw == text
        };
    }
    resolvable(t, keys) && wildcard::matches_tokens(TemplateToks::new(t, keys, false), text, fold)
}

/// Segment-wise ARN match (`ArnLike`, `ArnEquals`).
fn template_arn(t: &Template, text: &str, keys: &ContextKeys<'_>) -> bool {
    if t.is_plain() {
        return wildcard::arn_matches(&t.raw, text);
    }
    resolvable(t, keys) && wildcard::arn_matches_tokens(TemplateToks::new(t, keys, true), text)
}

/// The template as a string (allocates only when it has variables), for
/// operators that compare parsed values. `None` when a variable is missing.
fn template_resolve<'t>(t: &'t Template, keys: &ContextKeys<'_>) -> Option<Cow<'t, str>> {
    if t.is_plain() {
        return Some(Cow::Borrowed(&t.raw));
    }
    let mut out = String::with_capacity(t.raw.len());
    for p in &t.pieces {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Literal(c) => out.push(*c),
            Piece::Var { key, default } => {
                out.push_str(resolve_var(keys, key, default.as_deref())?)
            }
        }
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::super::policy::{PolicyKind, parse_policy};
    use super::*;

    const ROLE_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/ROLE/SESSION";

    fn identity(json: &str) -> PolicyDocument {
        match parse_policy(json, PolicyKind::Identity) {
            Ok(d) => d,
            Err(e) => panic!("{e}: {}", e.detail()),
        }
    }

    fn trust(json: &str) -> PolicyDocument {
        match parse_policy(json, PolicyKind::Trust) {
            Ok(d) => d,
            Err(e) => panic!("{e}: {}", e.detail()),
        }
    }

    /// A 2012-10-17 identity policy allowing `s3:GetObject` on `*` under
    /// one condition.
    fn with_condition(condition: &str) -> PolicyDocument {
        identity(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}}}"#
        ))
    }

    fn allows(doc: &PolicyDocument, keys: &[(&str, &str)]) -> bool {
        let mut ctx = RequestContext::new(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
        for (k, v) in keys {
            ctx.keys.insert(k, v);
        }
        evaluate(&[PolicyRef::identity(doc, "p")], &ctx).is_allowed()
    }

    /// Asserts a condition's outcome for several contexts.
    fn check(condition: &str, cases: &[(&[(&str, &str)], bool)]) {
        let doc = with_condition(condition);
        for (keys, expected) in cases {
            assert_eq!(allows(&doc, keys), *expected, "{condition} with {keys:?}");
        }
    }

    #[test]
    fn string_operators() {
        check(
            r#"{"StringEquals":{"aws:username":["alice","bob"]}}"#,
            &[
                (&[("aws:username", "bob")], true),
                (&[("aws:username", "Bob")], false),
                (&[], false),
            ],
        );
        check(
            r#"{"StringNotEquals":{"aws:username":"alice"}}"#,
            &[
                (&[("aws:username", "bob")], true),
                (&[("aws:username", "alice")], false),
                (&[], true),
            ],
        );
        check(
            r#"{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}"#,
            &[
                (&[("aws:username", "alice")], true),
                (&[("aws:username", "bob")], false),
            ],
        );
        check(
            r#"{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}"#,
            &[
                (&[("aws:username", "alice")], false),
                (&[("aws:username", "bob")], true),
            ],
        );
        check(
            r#"{"StringLike":{"s3:prefix":["home/*","pub?"]}}"#,
            &[
                (&[("s3:prefix", "home/a/b")], true),
                (&[("s3:prefix", "pub1")], true),
                (&[("s3:prefix", "pub12")], false),
                (&[], false),
            ],
        );
        check(
            r#"{"StringNotLike":{"s3:prefix":"home/*"}}"#,
            &[
                (&[("s3:prefix", "home/a")], false),
                (&[("s3:prefix", "etc")], true),
                (&[], true),
            ],
        );
    }

    #[test]
    fn condition_key_names_are_case_insensitive() {
        check(
            r#"{"StringEquals":{"AWS:UserName":"alice"}}"#,
            &[(&[("aws:username", "alice")], true)],
        );
    }

    #[test]
    fn bool_and_null_operators() {
        check(
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            &[
                (&[("aws:SecureTransport", "true")], true),
                (&[("aws:SecureTransport", "TRUE")], true),
                (&[("aws:SecureTransport", "false")], false),
                (&[("aws:SecureTransport", "yes")], false),
                (&[], false),
            ],
        );
        check(
            r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":false}}"#,
            &[
                (&[], true),
                (&[("aws:MultiFactorAuthPresent", "true")], false),
            ],
        );
        check(
            r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            &[
                (&[], true),
                (&[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")], false),
            ],
        );
        check(
            r#"{"Null":{"aws:TokenIssueTime":"false"}}"#,
            &[
                (&[], false),
                (&[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")], true),
            ],
        );
    }

    #[test]
    fn arn_operators() {
        let src = "arn:aws:sns:us-east-1:123456789012:topic";
        check(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:*"}}"#,
            &[
                (&[("aws:SourceArn", src)], true),
                (
                    &[("aws:SourceArn", "arn:aws:sns:us-east-1:999999999999:t")],
                    false,
                ),
                (&[], false),
            ],
        );
        check(
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:topic"}}"#,
            &[
                (&[("aws:SourceArn", src)], true),
                (
                    &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic2")],
                    false,
                ),
            ],
        );
        check(
            r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:topic"}}"#,
            &[
                (&[("aws:SourceArn", src)], false),
                (
                    &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:x")],
                    true,
                ),
                (&[], true),
            ],
        );
        check(
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:top*"}}"#,
            &[
                (&[("aws:SourceArn", src)], false),
                (&[("aws:SourceArn", "arn:aws:sqs:us-east-1:1:q")], true),
            ],
        );
    }

    #[test]
    fn numeric_operators() {
        let cases: [(&str, &str, bool); 12] = [
            ("NumericEquals", "10", true),
            ("NumericEquals", "10.0", true),
            ("NumericEquals", "11", false),
            ("NumericNotEquals", "11", true),
            ("NumericNotEquals", "10", false),
            ("NumericLessThan", "9", true),
            ("NumericLessThan", "10", false),
            ("NumericLessThanEquals", "10", true),
            ("NumericGreaterThan", "11", true),
            ("NumericGreaterThan", "10", false),
            ("NumericGreaterThanEquals", "10", true),
            ("NumericGreaterThanEquals", "not-a-number", false),
        ];
        for (op, value, expected) in cases {
            check(
                &format!(r#"{{"{op}":{{"s3:max-keys":"10"}}}}"#),
                &[(&[("s3:max-keys", value)], expected)],
            );
        }
        check(r#"{"NumericLessThan":{"s3:max-keys":10}}"#, &[(&[], false)]);
        check(r#"{"NumericNotEquals":{"s3:max-keys":10}}"#, &[(&[], true)]);
    }

    #[test]
    fn date_operators() {
        let t = "2024-06-15T12:00:00Z";
        check(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2024-12-31T23:59:59Z"}}"#,
            &[
                (&[("aws:CurrentTime", t)], true),
                (&[("aws:CurrentTime", "2025-01-01T00:00:00Z")], false),
                (&[], false),
            ],
        );
        check(
            r#"{"DateEquals":{"aws:CurrentTime":"2024-06-15T14:00:00+02:00"}}"#,
            &[
                (&[("aws:CurrentTime", t)], true),
                (&[("aws:CurrentTime", "1718452800")], true),
            ],
        );
        check(
            r#"{"DateNotEquals":{"aws:CurrentTime":"2024-06-15"}}"#,
            &[(&[("aws:CurrentTime", t)], true)],
        );
        check(
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-15T12:00:00.000Z"}}"#,
            &[(&[("aws:CurrentTime", t)], true)],
        );
        check(
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-06-15T12:00:01Z"}}"#,
            &[(&[("aws:CurrentTime", t)], false)],
        );
        assert_eq!(parse_date_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date_millis("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_date_millis("2024-13-01"), None);
        assert_eq!(
            parse_date_millis("2024-01-01T00:00:00.25Z"),
            Some(1_704_067_200_250)
        );
        assert_eq!(
            parse_date_millis("2024-01-01T02:00:00+02"),
            Some(1_704_067_200_000)
        );
        // Hostile input never overflows.
        for bad in [
            "99999999999999999999",
            "999999999999999999-01-01",
            "2024-01-01T00:00:99999999999999999999Z",
            "2024-01-01T00:00:00+99999999999:00",
            "2024-01-01T00:00:00.x",
            "",
        ] {
            assert_eq!(parse_date_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn ip_and_binary_operators() {
        check(
            r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}"#,
            &[
                (&[("aws:SourceIp", "203.0.113.7")], true),
                (&[("aws:SourceIp", "203.0.114.7")], false),
                (&[("aws:SourceIp", "2001:db8::1")], true),
                (&[("aws:SourceIp", "garbage")], false),
            ],
        );
        check(
            r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.1"}}"#,
            &[
                (&[("aws:SourceIp", "10.0.0.1")], false),
                (&[("aws:SourceIp", "10.0.0.2")], true),
            ],
        );
        check(
            r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
            &[(&[("aws:SourceIp", "1.2.3.4")], true)],
        );
        check(
            r#"{"BinaryEquals":{"k:bin":"QmluYXJ5"}}"#,
            &[(&[("k:bin", "QmluYXJ5")], true), (&[("k:bin", "x")], false)],
        );
    }

    #[test]
    fn set_qualifiers() {
        let tags_ab: &[(&str, &str)] = &[("aws:TagKeys", "a"), ("aws:TagKeys", "b")];
        let tags_ax: &[(&str, &str)] = &[("aws:TagKeys", "a"), ("aws:TagKeys", "x")];
        check(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b","c"]}}"#,
            &[(tags_ab, true), (tags_ax, false), (&[], true)],
        );
        check(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["x"]}}"#,
            &[(tags_ab, false), (tags_ax, true), (&[], false)],
        );
        // ForAnyValue with a negated operator: some value is outside the set.
        check(
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags_ab, false), (tags_ax, true), (&[], false)],
        );
        // ForAllValues with a negated operator: no value is in the set.
        check(
            r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":["x*"]}}"#,
            &[(tags_ab, true), (tags_ax, false), (&[], true)],
        );
        // Plain operators on a multi-valued key: any value matches.
        check(
            r#"{"StringEquals":{"aws:TagKeys":"b"}}"#,
            &[(tags_ab, true), (tags_ax, false)],
        );
        check(
            r#"{"StringNotEquals":{"aws:TagKeys":"b"}}"#,
            &[(tags_ab, false), (tags_ax, true)],
        );
    }

    #[test]
    fn if_exists_and_absent_keys() {
        check(
            r#"{"StringEqualsIfExists":{"ec2:InstanceType":"t3.micro"}}"#,
            &[
                (&[], true),
                (&[("ec2:InstanceType", "t3.micro")], true),
                (&[("ec2:InstanceType", "m5.large")], false),
            ],
        );
        check(
            r#"{"StringNotEqualsIfExists":{"ec2:InstanceType":"t3.micro"}}"#,
            &[(&[], true), (&[("ec2:InstanceType", "t3.micro")], false)],
        );
        check(
            r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
            &[(&[], true)],
        );
    }

    #[test]
    fn multiple_operators_and_keys_are_anded() {
        check(
            r#"{"StringEquals":{"aws:username":"alice","aws:RequestedRegion":"us-east-1"},"Bool":{"aws:SecureTransport":"true"}}"#,
            &[
                (
                    &[
                        ("aws:username", "alice"),
                        ("aws:RequestedRegion", "us-east-1"),
                        ("aws:SecureTransport", "true"),
                    ],
                    true,
                ),
                (
                    &[
                        ("aws:username", "alice"),
                        ("aws:RequestedRegion", "us-east-1"),
                    ],
                    false,
                ),
                (
                    &[
                        ("aws:username", "alice"),
                        ("aws:RequestedRegion", "eu-west-1"),
                        ("aws:SecureTransport", "true"),
                    ],
                    false,
                ),
            ],
        );
    }

    #[test]
    fn variables_in_resources_by_version() {
        let json = |version: &str| {
            format!(
                r#"{{{version}"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/home/${{aws:username}}/*"}}}}"#
            )
        };
        let v2012 = identity(&json(r#""Version":"2012-10-17","#));
        let v2008 = identity(&json(r#""Version":"2008-10-17","#));
        let none = identity(&json(""));
        let run = |doc: &PolicyDocument, resource: &str, user: Option<&str>| {
            let mut ctx = RequestContext::new(ROLE_SESSION, "s3:GetObject", resource);
            if let Some(u) = user {
                ctx.keys.insert("aws:username", u);
            }
            evaluate(&[PolicyRef::identity(doc, "p")], &ctx).is_allowed()
        };
        assert!(run(&v2012, "arn:aws:s3:::b/home/alice/x", Some("alice")));
        assert!(!run(&v2012, "arn:aws:s3:::b/home/bob/x", Some("alice")));
        // Missing key: the value matches nothing, not even the literal.
        assert!(!run(&v2012, "arn:aws:s3:::b/home/${aws:username}/x", None));
        assert!(!run(&v2012, "arn:aws:s3:::b/home//x", None));
        // 2008-10-17 (and no Version): the variable is literal text.
        for doc in [&v2008, &none] {
            assert!(!run(doc, "arn:aws:s3:::b/home/alice/x", Some("alice")));
            assert!(run(
                doc,
                "arn:aws:s3:::b/home/${aws:username}/x",
                Some("alice")
            ));
        }
        // A substituted value is literal: a `*` in it is not a wildcard.
        assert!(run(&v2012, "arn:aws:s3:::b/home/a*/x", Some("a*")));
        assert!(!run(&v2012, "arn:aws:s3:::b/home/abc/x", Some("a*")));
    }

    #[test]
    fn special_variables_and_defaults() {
        let doc = identity(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}${?}${$}/${aws:PrincipalTag/team, 'shared'}/*"}}"#,
        );
        let run = |resource: &str, team: Option<&str>| {
            let mut ctx = RequestContext::new(ROLE_SESSION, "s3:GetObject", resource);
            if let Some(t) = team {
                ctx.keys.insert("aws:PrincipalTag/team", t);
            }
            evaluate(&[PolicyRef::identity(&doc, "p")], &ctx).is_allowed()
        };
        assert!(run("arn:aws:s3:::b/*?$/red/k", Some("red")));
        assert!(!run("arn:aws:s3:::b/xy$/red/k", Some("red")));
        assert!(run("arn:aws:s3:::b/*?$/shared/k", None));
        assert!(!run("arn:aws:s3:::b/*?$/red/k", None));
    }

    #[test]
    fn variables_in_condition_values() {
        let doc = with_condition(r#"{"StringLike":{"s3:prefix":["${aws:username}/*"]}}"#);
        assert!(allows(
            &doc,
            &[("aws:username", "alice"), ("s3:prefix", "alice/docs")]
        ));
        assert!(!allows(
            &doc,
            &[("aws:username", "alice"), ("s3:prefix", "bob/docs")]
        ));
        assert!(!allows(&doc, &[("s3:prefix", "alice/docs")]));
        let doc = with_condition(
            r#"{"StringEquals":{"aws:ResourceTag/owner":"${aws:PrincipalTag/owner}"}}"#,
        );
        assert!(allows(
            &doc,
            &[
                ("aws:PrincipalTag/owner", "t1"),
                ("aws:ResourceTag/owner", "t1")
            ]
        ));
        assert!(!allows(
            &doc,
            &[
                ("aws:PrincipalTag/owner", "t1"),
                ("aws:ResourceTag/owner", "t2")
            ]
        ));
        let doc = with_condition(
            r#"{"NumericLessThanEquals":{"s3:max-keys":"${aws:PrincipalTag/limit}"}}"#,
        );
        assert!(allows(
            &doc,
            &[("aws:PrincipalTag/limit", "10"), ("s3:max-keys", "5")]
        ));
        assert!(!allows(
            &doc,
            &[("aws:PrincipalTag/limit", "10"), ("s3:max-keys", "50")]
        ));
        let doc = with_condition(
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/${aws:PrincipalTag/role}"}}"#,
        );
        assert!(allows(
            &doc,
            &[
                ("aws:PrincipalTag/role", "r1"),
                ("aws:PrincipalArn", "arn:aws:iam::123456789012:role/r1")
            ]
        ));
        assert!(!allows(
            &doc,
            &[
                ("aws:PrincipalTag/role", "r1"),
                ("aws:PrincipalArn", "arn:aws:iam::123456789012:role/r2")
            ]
        ));
    }

    #[test]
    fn evaluation_order_and_reasons() {
        let allow = identity(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#,
        );
        let deny = identity(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::secret/*"}]}"#,
        );
        let policies = [
            PolicyRef::identity(&allow, "inline-read"),
            PolicyRef::identity(&deny, "arn:aws:iam::123456789012:policy/Deny"),
        ];
        let ctx = RequestContext::new(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
        let d = evaluate(&policies, &ctx);
        assert_eq!(
            d,
            Decision::Allow(StatementMatch {
                policy_index: 0,
                policy_type: PolicyType::IdentityBased,
                policy_name: "inline-read",
                statement_index: 0,
                sid: Some("Read"),
            })
        );
        assert_eq!(
            d.to_string(),
            "allowed by identity-based policy inline-read, statement 0 (Sid Read)"
        );
        let ctx = RequestContext::new(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::secret/k");
        let d = evaluate(&policies, &ctx);
        let Decision::ExplicitDeny(m) = d else {
            panic!("expected an explicit deny, got {d:?}");
        };
        assert_eq!((m.policy_index, m.statement_index, m.sid), (1, 1, None));
        let ctx = RequestContext::new(ROLE_SESSION, "s3:PutObject", "arn:aws:s3:::b/k");
        assert_eq!(
            evaluate(&policies, &ctx),
            Decision::ImplicitDeny {
                policy_type: PolicyType::IdentityBased
            }
        );
        assert_eq!(
            evaluate(&[], &ctx),
            Decision::ImplicitDeny {
                policy_type: PolicyType::IdentityBased
            }
        );
    }

    #[test]
    fn boundaries_and_session_policies_intersect() {
        let admin = identity(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        );
        let s3_only = identity(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        );
        let boundary = PolicyRef {
            document: &s3_only,
            policy_type: PolicyType::PermissionsBoundary,
            name: "arn:aws:iam::123456789012:policy/Boundary",
        };
        let session = PolicyRef {
            document: &s3_only,
            policy_type: PolicyType::Session,
            name: "",
        };
        let scp = PolicyRef {
            document: &s3_only,
            policy_type: PolicyType::ServiceControl,
            name: "p-1",
        };
        let ec2 = RequestContext::new(ROLE_SESSION, "ec2:RunInstances", "*");
        let s3 = RequestContext::new(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
        for (extra, ty) in [
            (boundary, PolicyType::PermissionsBoundary),
            (session, PolicyType::Session),
            (scp, PolicyType::ServiceControl),
        ] {
            let policies = [PolicyRef::identity(&admin, "admin"), extra];
            assert_eq!(
                evaluate(&policies, &ec2),
                Decision::ImplicitDeny { policy_type: ty }
            );
            assert!(evaluate(&policies, &s3).is_allowed());
        }
    }

    #[test]
    fn resource_based_policy_allows_named_principal() {
        let bucket = parse_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ROLE"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
            PolicyKind::Resource,
        )
        .unwrap();
        let policies = [PolicyRef {
            document: &bucket,
            policy_type: PolicyType::ResourceBased,
            name: "bucket b",
        }];
        let ok = RequestContext::new(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k");
        assert!(evaluate(&policies, &ok).is_allowed());
        let other = RequestContext::new(
            "arn:aws:sts::123456789012:assumed-role/OTHER/s",
            "s3:GetObject",
            "arn:aws:s3:::b/k",
        );
        assert!(!evaluate(&policies, &other).is_allowed());
    }

    #[test]
    fn access_denied_messages() {
        let implicit = Decision::ImplicitDeny {
            policy_type: PolicyType::IdentityBased,
        };
        assert_eq!(
            access_denied_message(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k", &implicit),
            "User: arn:aws:sts::123456789012:assumed-role/ROLE/SESSION is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action"
        );
        let m = StatementMatch {
            policy_index: 0,
            policy_type: PolicyType::IdentityBased,
            policy_name: "arn:aws:iam::123456789012:policy/DenyS3",
            statement_index: 0,
            sid: None,
        };
        assert_eq!(
            access_denied_message(
                ROLE_SESSION,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &Decision::ExplicitDeny(m)
            ),
            "User: arn:aws:sts::123456789012:assumed-role/ROLE/SESSION is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/DenyS3"
        );
        let user = "arn:aws:iam::777788889999:user/MaryMajor";
        assert_eq!(
            access_denied_message(user, "codecommit:ListRepositories", "*", &implicit),
            "User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action"
        );
        let boundary = Decision::ImplicitDeny {
            policy_type: PolicyType::PermissionsBoundary,
        };
        assert!(
            access_denied_message(user, "ec2:RunInstances", "", &boundary)
                .ends_with("because no permissions boundary allows the ec2:RunInstances action")
        );
        let scp = Decision::ExplicitDeny(StatementMatch {
            policy_type: PolicyType::ServiceControl,
            policy_name: "arn:aws:organizations::111111111111:policy/o-a/service_control_policy/p-b",
            ..m
        });
        assert!(access_denied_message(user, "s3:GetObject", "arn:aws:s3:::b/k", &scp).ends_with(
            "with an explicit deny in a service control policy: arn:aws:organizations::111111111111:policy/o-a/service_control_policy/p-b"
        ));
        // Resource-based denies do not name the policy; empty names are left out.
        let rbp = Decision::ExplicitDeny(StatementMatch {
            policy_type: PolicyType::ResourceBased,
            policy_name: "bucket",
            ..m
        });
        assert!(
            access_denied_message(user, "s3:GetObject", "arn:aws:s3:::b/k", &rbp)
                .ends_with("with an explicit deny in a resource-based policy")
        );
        let unnamed = Decision::ExplicitDeny(StatementMatch {
            policy_name: "",
            ..m
        });
        assert!(
            access_denied_message(user, "s3:GetObject", "arn:aws:s3:::b/k", &unnamed)
                .ends_with("with an explicit deny in an identity-based policy")
        );
    }

    #[test]
    fn trust_evaluation() {
        let doc = trust(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},
                {"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"xyz"}}},
                {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/path/Chain"},"Action":"sts:AssumeRole"},
                {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/mallory"},"Action":"sts:*"}
            ]}"#,
        );
        let none = ContextKeys::new();
        let mut ext = ContextKeys::new();
        ext.insert("sts:ExternalId", "xyz");
        let ec2 = TrustPrincipal::Service("ec2.amazonaws.com");
        assert!(trust_allows(&doc, &ec2, "sts:AssumeRole", &none));
        assert!(!trust_allows(&doc, &ec2, "sts:TagSession", &none));
        assert!(!trust_allows(
            &doc,
            &TrustPrincipal::Service("lambda.amazonaws.com"),
            "sts:AssumeRole",
            &none
        ));
        // Account root in Principal: any principal of the account, subject to conditions.
        let alice = TrustPrincipal::from_arn("arn:aws:iam::123456789012:user/alice");
        assert!(trust_allows(&doc, &alice, "sts:AssumeRole", &ext));
        assert!(!trust_allows(&doc, &alice, "sts:AssumeRole", &none));
        let stranger = TrustPrincipal::from_arn("arn:aws:iam::999999999999:user/alice");
        assert!(!trust_allows(&doc, &stranger, "sts:AssumeRole", &ext));
        // A role ARN covers that role's sessions (role chaining).
        let chain = TrustPrincipal::from_arn("arn:aws:sts::444455556666:assumed-role/Chain/s1");
        assert!(trust_allows(&doc, &chain, "sts:AssumeRole", &none));
        let other = TrustPrincipal::from_arn("arn:aws:sts::444455556666:assumed-role/Other/s1");
        assert!(!trust_allows(&doc, &other, "sts:AssumeRole", &none));
        // Explicit deny wins over the account-wide allow.
        let mallory = TrustPrincipal::from_arn("arn:aws:iam::123456789012:user/mallory");
        let d = evaluate_trust(&doc, &mallory, "sts:AssumeRole", &ext);
        assert_eq!(d.kind(), DecisionKind::ExplicitDeny);
        assert_eq!(d.statement().map(|m| m.statement_index), Some(3));
    }

    #[test]
    fn trust_principal_star_and_not_principal() {
        let anyone = trust(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#,
        );
        assert!(trust_allows(
            &anyone,
            &TrustPrincipal::Service("ec2.amazonaws.com"),
            "sts:AssumeRole",
            &ContextKeys::new()
        ));
        let not = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/Admin"},"Action":"sts:AssumeRole"}]}"#,
        );
        let admin = TrustPrincipal::from_arn("arn:aws:sts::123456789012:assumed-role/Admin/s");
        let dev = TrustPrincipal::from_arn("arn:aws:sts::123456789012:assumed-role/Dev/s");
        assert!(trust_allows(
            &not,
            &admin,
            "sts:AssumeRole",
            &ContextKeys::new()
        ));
        assert!(!trust_allows(
            &not,
            &dev,
            "sts:AssumeRole",
            &ContextKeys::new()
        ));
    }

    #[test]
    fn session_of_role_parsing() {
        assert!(is_session_of_role(
            "arn:aws:sts::1:assumed-role/R/s",
            "arn:aws:iam::1:role/R"
        ));
        assert!(is_session_of_role(
            "arn:aws:sts::1:assumed-role/R/s",
            "arn:aws:iam::1:role/a/b/R"
        ));
        assert!(!is_session_of_role(
            "arn:aws:sts::1:assumed-role/R/s",
            "arn:aws:iam::2:role/R"
        ));
        assert!(!is_session_of_role(
            "arn:aws-cn:sts::1:assumed-role/R/s",
            "arn:aws:iam::1:role/R"
        ));
        assert!(!is_session_of_role(
            "arn:aws:iam::1:user/R",
            "arn:aws:iam::1:role/R"
        ));
        assert!(!is_session_of_role("garbage", "arn:aws:iam::1:role/R"));
    }
}

/// Table-driven cases from `tests/data/iam-eval/*.json`, drawn from AWS's
/// documented evaluation examples, plus an order-independence property.
///
/// Each file is one case:
///
/// ```json
/// {
///   "name": "...", "source": "AWS doc the example comes from",
///   "policies": [{"name": "...", "type": "identity-based", "document": {...}}],
///   "request": {"principal": "arn...", "action": "s3:GetObject",
///               "resource": "arn...", "context": {"key": "v" | ["v1", "v2"]}},
///   "trust_principal": {"service": "..."} | {"arn": "..."},   // trust cases only
///   "expect": {"decision": "Allow" | "ExplicitDeny" | "ImplicitDeny",
///              "policy": "name", "statement": "Sid" | index,
///              "policy_type": "permissions-boundary", "message": "exact AccessDenied text"}
/// }
/// ```
///
/// `type` is one of `identity-based`, `resource-based`,
/// `permissions-boundary`, `session`, `service-control`,
/// `resource-control`, `vpc-endpoint`, `role-trust`. A case with
/// `trust_principal` evaluates its single `role-trust` policy with
/// [`evaluate_trust`].
#[cfg(test)]
mod table {
    use std::path::Path;

    use serde::Deserialize;
    use serde_json::Value;

    use super::super::policy::{PolicyKind, parse_policy};
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/iam-eval");
    const MIN_CASES: usize = 25;
    const SHUFFLES: u64 = 16;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Case {
        name: String,
        /// The AWS documentation the example comes from (required).
        source: String,
        policies: Vec<CasePolicy>,
        request: CaseRequest,
        #[serde(default)]
        trust_principal: Option<CaseTrustPrincipal>,
        expect: Expect,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CasePolicy {
        name: String,
        #[serde(rename = "type")]
        policy_type: String,
        document: Value,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CaseRequest {
        #[serde(default)]
        principal: String,
        action: String,
        #[serde(default)]
        resource: String,
        #[serde(default)]
        context: serde_json::Map<String, Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "lowercase")]
    enum CaseTrustPrincipal {
        Service(String),
        Arn(String),
        Federated(String),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Expect {
        decision: String,
        #[serde(default)]
        policy: Option<String>,
        #[serde(default)]
        statement: Option<Value>,
        #[serde(default)]
        policy_type: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }

    fn policy_type(s: &str) -> (PolicyType, PolicyKind) {
        match s {
            "identity-based" => (PolicyType::IdentityBased, PolicyKind::Identity),
            "resource-based" => (PolicyType::ResourceBased, PolicyKind::Resource),
            "permissions-boundary" => (PolicyType::PermissionsBoundary, PolicyKind::Identity),
            "session" => (PolicyType::Session, PolicyKind::Identity),
            "service-control" => (PolicyType::ServiceControl, PolicyKind::Identity),
            "resource-control" => (PolicyType::ResourceControl, PolicyKind::Resource),
            "vpc-endpoint" => (PolicyType::VpcEndpoint, PolicyKind::Resource),
            "role-trust" => (PolicyType::RoleTrust, PolicyKind::Trust),
            other => panic!("unknown policy type {other:?}"),
        }
    }

    fn kind_name(k: DecisionKind) -> &'static str {
        match k {
            DecisionKind::Allow => "Allow",
            DecisionKind::ExplicitDeny => "ExplicitDeny",
            DecisionKind::ImplicitDeny => "ImplicitDeny",
        }
    }

    /// Context values as strings (numbers and booleans as JSON prints them).
    fn context_pairs(ctx: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
        let scalar = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut out = Vec::new();
        for (k, v) in ctx {
            match v {
                Value::Array(items) => out.extend(items.iter().map(|i| (k.clone(), scalar(i)))),
                single => out.push((k.clone(), scalar(single))),
            }
        }
        out
    }

    struct Loaded {
        file: String,
        case: Case,
        docs: Vec<(PolicyDocument, PolicyType)>,
        pairs: Vec<(String, String)>,
    }

    fn load_all() -> Vec<Loaded> {
        let mut paths: Vec<_> = std::fs::read_dir(DIR)
            .unwrap_or_else(|e| panic!("reading {DIR}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths.iter().map(|p| load(p)).collect()
    }

    fn load(path: &Path) -> Loaded {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            case.source.starts_with("https://"),
            "{file}: cite the AWS example in \"source\""
        );
        let docs = case
            .policies
            .iter()
            .map(|p| {
                let (ty, kind) = policy_type(&p.policy_type);
                let json = serde_json::to_string(&p.document).unwrap_or_default();
                let doc = parse_policy(&json, kind)
                    .unwrap_or_else(|e| panic!("{file}: policy {}: {e} ({})", p.name, e.detail()));
                (doc, ty)
            })
            .collect();
        let pairs = context_pairs(&case.request.context);
        Loaded {
            file,
            case,
            docs,
            pairs,
        }
    }

    /// Evaluates a case with the given documents (possibly shuffled).
    fn run<'a>(
        l: &'a Loaded,
        docs: &'a [(PolicyDocument, PolicyType)],
        order: &[usize],
    ) -> Decision<'a> {
        let keys: ContextKeys<'_> = l
            .pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(tp) = &l.case.trust_principal {
            let who = match tp {
                CaseTrustPrincipal::Service(s) => TrustPrincipal::Service(s),
                CaseTrustPrincipal::Arn(a) => TrustPrincipal::from_arn(a),
                CaseTrustPrincipal::Federated(f) => TrustPrincipal::Federated(f),
            };
            assert_eq!(
                docs.len(),
                1,
                "{}: a trust case has exactly one policy",
                l.file
            );
            return evaluate_trust(&docs[0].0, &who, &l.case.request.action, &keys);
        }
        let refs: Vec<PolicyRef<'a>> = order
            .iter()
            .map(|&i| PolicyRef {
                document: &docs[i].0,
                policy_type: docs[i].1,
                name: &l.case.policies[i].name,
            })
            .collect();
        let ctx = RequestContext {
            principal_arn: &l.case.request.principal,
            action: &l.case.request.action,
            resource: &l.case.request.resource,
            keys,
        };
        evaluate(&refs, &ctx)
    }

    fn check_expectations(l: &Loaded, d: &Decision<'_>) {
        let e = &l.case.expect;
        let f = &l.file;
        assert_eq!(
            kind_name(d.kind()),
            e.decision,
            "{f} ({}): got {d}",
            l.case.name
        );
        if let Some(policy) = &e.policy {
            let got = d.statement().map(|m| m.policy_name);
            assert_eq!(got, Some(policy.as_str()), "{f}: deciding policy ({d})");
        }
        if let Some(st) = &e.statement {
            let m = d
                .statement()
                .unwrap_or_else(|| panic!("{f}: no deciding statement ({d})"));
            match st {
                Value::String(sid) => {
                    assert_eq!(m.sid, Some(sid.as_str()), "{f}: deciding Sid ({d})")
                }
                Value::Number(n) => assert_eq!(
                    Some(m.statement_index as u64),
                    n.as_u64(),
                    "{f}: deciding statement ({d})"
                ),
                other => panic!("{f}: bad expect.statement {other}"),
            }
        }
        if let Some(ty) = &e.policy_type {
            let got = match d {
                Decision::Allow(m) | Decision::ExplicitDeny(m) => m.policy_type,
                Decision::ImplicitDeny { policy_type } => *policy_type,
            };
            assert_eq!(got, policy_type(ty).0, "{f}: policy type ({d})");
        }
        if let Some(msg) = &e.message {
            let r = &l.case.request;
            assert_eq!(
                &access_denied_message(&r.principal, &r.action, &r.resource, d),
                msg,
                "{f}: message"
            );
        }
    }

    #[test]
    fn table_cases() {
        let cases = load_all();
        assert!(
            cases.len() >= MIN_CASES,
            "only {} cases in {DIR}; expected at least {MIN_CASES}",
            cases.len()
        );
        for l in &cases {
            let order: Vec<usize> = (0..l.docs.len()).collect();
            let d = run(l, &l.docs, &order);
            check_expectations(l, &d);
        }
    }

    /// A tiny seeded LCG (Knuth's MMIX constants): deterministic shuffles
    /// without a `rand` dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                let j = (self.next() % (i as u64 + 1)) as usize;
                items.swap(i, j);
            }
        }
    }

    /// Deterministic: the same inputs give the same decision, statement
    /// and message every time (including across shuffled copies that are
    /// put back in the original order).
    #[test]
    fn decision_is_deterministic() {
        for l in &load_all() {
            let order: Vec<usize> = (0..l.docs.len()).collect();
            let first = run(l, &l.docs, &order);
            let docs = l.docs.clone();
            for _ in 0..4 {
                let again = run(l, &docs, &order);
                assert_eq!(again, first, "{}: decision differs between runs", l.file);
                let r = &l.case.request;
                assert_eq!(
                    access_denied_message(&r.principal, &r.action, &r.resource, &again),
                    access_denied_message(&r.principal, &r.action, &r.resource, &first),
                    "{}: message differs",
                    l.file
                );
            }
        }
    }

    #[test]
    fn decision_kind_is_order_independent() {
        let cases = load_all();
        assert!(cases.len() >= MIN_CASES);
        for (n, l) in cases.iter().enumerate() {
            let order: Vec<usize> = (0..l.docs.len()).collect();
            let expected = run(l, &l.docs, &order).kind();
            for seed in 0..SHUFFLES {
                let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n as u64);
                let mut docs = l.docs.clone();
                for (doc, _) in &mut docs {
                    rng.shuffle(&mut doc.statements);
                }
                let mut order = order.clone();
                rng.shuffle(&mut order);
                let got = run(l, &docs, &order).kind();
                assert_eq!(
                    got, expected,
                    "{} (seed {seed}): shuffled decision differs",
                    l.file
                );
            }
        }
    }
}
