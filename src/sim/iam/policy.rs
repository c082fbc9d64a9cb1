//! IAM policy documents: the model, the parser, and IAM's write-time
//! validation (`MalformedPolicyDocument`) and size quotas (`LimitExceeded`).
//!
//! This module owns turning policy JSON into a [`PolicyDocument`] that the
//! evaluator (`super::eval`) can run per request without re-parsing:
//! actions are lowercased once here, policy variables are split into
//! [`Template`] pieces once here, and every rule IAM enforces on write is
//! checked here, so a document the double stores is one AWS would store.
//!
//! The error text is IAM's (what the SDK shows the caller); each error also
//! carries a `detail` naming the statement and element, because IAM's own
//! messages ("Syntax errors in policy.") rarely say where the problem is.

use serde_json::{Map, Value};
use thiserror::Error;

/// IAM's catch-all rejection for structural problems.
pub const SYNTAX_ERRORS: &str = "Syntax errors in policy.";
/// IAM's rejection for elements that parse but fail its older grammar
/// (for example `"Effect": "allow"`).
pub const FAILED_LEGACY_PARSING: &str = "The policy failed legacy parsing";
/// Identity policies attach to their principal, so naming one is an error.
pub const SHOULD_NOT_SPECIFY_PRINCIPAL: &str = "Policy document should not specify a principal.";
/// A statement without `Action`/`NotAction` (or with an empty list).
pub const MUST_CONTAIN_ACTIONS: &str = "Policy statement must contain actions.";
/// A statement without `Resource`/`NotResource` (or with an empty list).
pub const MUST_CONTAIN_RESOURCES: &str = "Policy statement must contain resources.";
/// Two statements share a `Sid`.
pub const SID_NOT_UNIQUE: &str = "Statement IDs (SID) in a single policy must be unique.";
/// A `Sid` outside `[0-9A-Za-z]*` (identity and trust policies).
pub const SID_NOT_ALPHANUMERIC: &str = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*";
/// An action or condition key without a `service:` prefix.
pub const MISSING_VENDOR: &str =
    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
/// An action with more than one colon.
pub const ONE_COLON: &str = "Actions/Condition can contain only one colon.";
/// A role trust policy naming a non-STS action.
pub const TRUST_ACTIONS_ONLY: &str = "AssumeRole policy may only specify STS AssumeRole actions.";

// IAM's documented size quotas, counted in characters excluding
// whitespace. Inline quotas are per entity (all its inline policies
// together), managed and trust quotas per document.

/// All inline policies of one role together.
pub const MAX_INLINE_ROLE_POLICY_CHARS: usize = 10_240;
/// All inline policies of one user together.
pub const MAX_INLINE_USER_POLICY_CHARS: usize = 2_048;
/// All inline policies of one group together.
pub const MAX_INLINE_GROUP_POLICY_CHARS: usize = 5_120;
/// One managed policy version.
pub const MAX_MANAGED_POLICY_CHARS: usize = 6_144;
/// The default role trust policy quota (raisable to 4,096 on AWS).
pub const MAX_TRUST_POLICY_CHARS: usize = 2_048;

/// Why IAM refused a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// `MalformedPolicyDocument` (HTTP 400). `message` is IAM's text, as the
    /// caller should see it; `detail` says where, for logs and tests.
    #[error("{message}")]
    MalformedPolicy {
        /// IAM's text.
        message: String,
        /// Which statement and element, and what is wrong with it.
        detail: String,
    },
    /// `LimitExceeded` (HTTP 409): a size quota from [`SizeQuota`].
    #[error("{message}")]
    LimitExceeded {
        /// IAM's text.
        message: String,
    },
}

impl PolicyError {
    /// The AWS error code to put on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::MalformedPolicy { .. } => "MalformedPolicyDocument",
            PolicyError::LimitExceeded { .. } => "LimitExceeded",
        }
    }

    /// IAM's message text (what `Display` prints).
    pub fn message(&self) -> &str {
        match self {
            PolicyError::MalformedPolicy { message, .. }
            | PolicyError::LimitExceeded { message } => message,
        }
    }

    /// Where the problem is (empty for quota errors).
    pub fn detail(&self) -> &str {
        match self {
            PolicyError::MalformedPolicy { detail, .. } => detail,
            PolicyError::LimitExceeded { .. } => "",
        }
    }
}

fn malformed(message: &str, detail: impl Into<String>) -> PolicyError {
    PolicyError::MalformedPolicy {
        message: message.to_owned(),
        detail: detail.into(),
    }
}

/// Which grammar a document is validated against. The same JSON can be a
/// valid trust policy and an invalid identity policy, so the caller says
/// which one it is storing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a principal (inline, managed, boundary, session, SCP):
    /// no `Principal`; `Action` and `Resource` required.
    Identity,
    /// A role's `AssumeRolePolicyDocument`: `Principal` required, no
    /// `Resource`, only STS actions.
    Trust,
    /// Attached to a resource (bucket policy and the like): `Principal`,
    /// `Action` and `Resource` required.
    Resource,
}

/// The policy language version. It matters for evaluation: policy
/// variables are only substituted in 2012-10-17 documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2008-10-17`, also what a document without `Version` gets.
    V2008_10_17,
    /// `2012-10-17`.
    V2012_10_17,
}

impl Version {
    /// The version string as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008_10_17 => "2008-10-17",
            Version::V2012_10_17 => "2012-10-17",
        }
    }

    /// Whether `${...}` is a policy variable (true) or literal text.
    pub fn supports_variables(self) -> bool {
        self == Version::V2012_10_17
    }
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// `Version`; decides whether policy variables are substituted.
    pub version: Version,
    /// `Id`, if given (informational).
    pub id: Option<String>,
    /// The grammar it was validated against.
    pub kind: PolicyKind,
    /// In document order; never empty.
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Whether evaluating it can read request context keys: a `Condition`
    /// block, or a policy variable in a `Resource`/`NotResource` (actions
    /// and principals take none). When no policy of a request does, its
    /// keys need not be built.
    pub fn reads_context_keys(&self) -> bool {
        self.statements.iter().any(|st| {
            !st.conditions.is_empty()
                || st
                    .resource
                    .as_ref()
                    .is_some_and(|r| r.patterns.iter().any(|t| !t.pieces.is_empty()))
        })
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Grants, unless something denies.
    Allow,
    /// Denies, overriding every allow.
    Deny,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the document's `Statement` list (0-based), so a decision
    /// can name a statement that has no `Sid`.
    pub index: usize,
    /// `Sid`, if given.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`/`NotPrincipal`; `None` in identity policies.
    pub principal: Option<PrincipalSpec>,
    /// `Action`/`NotAction`.
    pub action: ActionSpec,
    /// `Resource`/`NotResource`; `None` in trust policies.
    pub resource: Option<ResourceSpec>,
    /// Every (operator, key) pair of the `Condition` block; all must hold.
    pub conditions: Vec<Condition>,
}

/// `Action` (`negated == false`) or `NotAction` (`negated == true`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// True for `NotAction`.
    pub negated: bool,
    /// The listed actions; never empty.
    pub patterns: Vec<ActionPattern>,
}

impl ActionSpec {
    /// Whether the statement applies to `action`, `NotAction` included.
    pub fn applies_to(&self, action: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(action)) != self.negated
    }
}

/// One action pattern, lowercased at parse time so matching a request
/// only folds the request's characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern {
    /// As written in the policy.
    pub raw: String,
    /// Lowercased.
    pub lowered: String,
}

impl ActionPattern {
    /// Case-insensitive glob match (`s3:get*` matches `s3:GetObject`).
    pub fn matches(&self, action: &str) -> bool {
        super::wildcard::matches_ignore_case(&self.lowered, action)
    }
}

/// `Resource` (`negated == false`) or `NotResource` (`negated == true`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
    /// True for `NotResource`.
    pub negated: bool,
    /// The listed ARN patterns (with variables in 2012-10-17); never empty.
    pub patterns: Vec<Template>,
}

/// `Principal` (`negated == false`) or `NotPrincipal` (`negated == true`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalSpec {
    /// True for `NotPrincipal`.
    pub negated: bool,
    /// The listed principals; never empty.
    pub entries: Vec<PrincipalEntry>,
}

/// One principal named by a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"Principal": "*"`: everyone, services included.
    Anyone,
    /// `{"AWS": "*"}`: any AWS principal.
    AnyAws,
    /// `{"AWS": "123456789012"}` or the account's root ARN: any principal
    /// of that account (whose own policies then decide).
    AwsAccount(String),
    /// `{"AWS": "arn:aws:iam::123456789012:role/R"}`: that principal (a role
    /// ARN also matches the role's sessions).
    AwsArn(String),
    /// `{"Service": "ec2.amazonaws.com"}`.
    Service(String),
    /// `{"Federated": "..."}`.
    Federated(String),
    /// `{"CanonicalUser": "..."}` (S3 only; never matches here yet).
    CanonicalUser(String),
}

/// Set qualifier on a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// No prefix: the operator compares each context value.
    Single,
    /// `ForAnyValue:`: at least one context value satisfies the operator
    /// (false when the key is absent).
    ForAnyValue,
    /// `ForAllValues:`: every context value satisfies the operator (true
    /// when the key is absent or empty).
    ForAllValues,
}

/// A condition operator (without qualifier and `IfExists`). Variants are
/// named exactly as in policies; see AWS's condition operator reference.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl Operator {
    const ALL: [Operator; 27] = [
        Operator::StringEquals,
        Operator::StringNotEquals,
        Operator::StringEqualsIgnoreCase,
        Operator::StringNotEqualsIgnoreCase,
        Operator::StringLike,
        Operator::StringNotLike,
        Operator::NumericEquals,
        Operator::NumericNotEquals,
        Operator::NumericLessThan,
        Operator::NumericLessThanEquals,
        Operator::NumericGreaterThan,
        Operator::NumericGreaterThanEquals,
        Operator::DateEquals,
        Operator::DateNotEquals,
        Operator::DateLessThan,
        Operator::DateLessThanEquals,
        Operator::DateGreaterThan,
        Operator::DateGreaterThanEquals,
        Operator::Bool,
        Operator::BinaryEquals,
        Operator::IpAddress,
        Operator::NotIpAddress,
        Operator::ArnEquals,
        Operator::ArnLike,
        Operator::ArnNotEquals,
        Operator::ArnNotLike,
        Operator::Null,
    ];

    /// The operator's name as written in a policy.
    pub fn name(self) -> &'static str {
        match self {
            Operator::StringEquals => "StringEquals",
            Operator::StringNotEquals => "StringNotEquals",
            Operator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            Operator::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            Operator::StringLike => "StringLike",
            Operator::StringNotLike => "StringNotLike",
            Operator::NumericEquals => "NumericEquals",
            Operator::NumericNotEquals => "NumericNotEquals",
            Operator::NumericLessThan => "NumericLessThan",
            Operator::NumericLessThanEquals => "NumericLessThanEquals",
            Operator::NumericGreaterThan => "NumericGreaterThan",
            Operator::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            Operator::DateEquals => "DateEquals",
            Operator::DateNotEquals => "DateNotEquals",
            Operator::DateLessThan => "DateLessThan",
            Operator::DateLessThanEquals => "DateLessThanEquals",
            Operator::DateGreaterThan => "DateGreaterThan",
            Operator::DateGreaterThanEquals => "DateGreaterThanEquals",
            Operator::Bool => "Bool",
            Operator::BinaryEquals => "BinaryEquals",
            Operator::IpAddress => "IpAddress",
            Operator::NotIpAddress => "NotIpAddress",
            Operator::ArnEquals => "ArnEquals",
            Operator::ArnLike => "ArnLike",
            Operator::ArnNotEquals => "ArnNotEquals",
            Operator::ArnNotLike => "ArnNotLike",
            Operator::Null => "Null",
        }
    }

    /// Looks an operator up by its exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Negated operators are the complement of a positive one, and (per
    /// AWS) evaluate to true when the context key is absent.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Operator::StringNotEquals
                | Operator::StringNotEqualsIgnoreCase
                | Operator::StringNotLike
                | Operator::NumericNotEquals
                | Operator::DateNotEquals
                | Operator::NotIpAddress
                | Operator::ArnNotEquals
                | Operator::ArnNotLike
        )
    }
}

/// One (operator, key) entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The base operator.
    pub operator: Operator,
    /// `ForAnyValue:`/`ForAllValues:` prefix, if any.
    pub qualifier: Qualifier,
    /// The `...IfExists` suffix: true when the key is absent.
    pub if_exists: bool,
    /// The condition key as written (looked up case-insensitively).
    pub key: String,
    /// The policy values; any one matching is enough (OR).
    pub values: Vec<Template>,
    /// The operator text as written, for diagnostics.
    pub raw_operator: String,
}

/// A string from a policy that may contain policy variables.
///
/// Parsed once, at write time: a plain string has no pieces and is matched
/// directly; one with variables is a list of pieces the evaluator
/// substitutes without building a new string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written in the policy.
    pub raw: String,
    /// Empty when `raw` contains no policy variable (the common case).
    pub pieces: Vec<Piece>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Policy text; `*` and `?` in it are wildcards where the element
    /// supports them.
    Text(String),
    /// `${*}`, `${?}` or `${$}`: a literal character, never a wildcard.
    Literal(char),
    /// `${key}` or `${key, 'default'}`: the context key's value, matched
    /// literally. A missing key without default makes the value not match.
    Var {
        /// The context key, e.g. `aws:username`.
        key: String,
        /// The value to use when the key is absent.
        default: Option<String>,
    },
}

impl Template {
    /// A template with no variables.
    pub fn plain(raw: &str) -> Template {
        Template {
            raw: raw.to_owned(),
            pieces: Vec::new(),
        }
    }

    /// Splits `raw` into pieces when `variables` is true (2012-10-17
    /// documents); otherwise `${...}` stays literal text. An unterminated
    /// `${` or an empty `${}` is literal text too.
    pub fn parse(raw: &str, variables: bool) -> Template {
        if !variables || !raw.contains("${") {
            return Template::plain(raw);
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                break;
            };
            let inner = after[..end].trim();
            let piece = match inner {
                "" => None,
                "*" => Some(Piece::Literal('*')),
                "?" => Some(Piece::Literal('?')),
                "$" => Some(Piece::Literal('$')),
                _ => Some(parse_variable(inner)),
            };
            match piece {
                Some(piece) => {
                    text.push_str(&rest[..start]);
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                }
                None => text.push_str(&rest[..start + 2 + end + 1]),
            }
            rest = &after[end + 1..];
        }
        text.push_str(rest);
        if pieces.is_empty() {
            return Template::plain(raw);
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Template {
            raw: raw.to_owned(),
            pieces,
        }
    }

    /// Whether the template has no variables.
    pub fn is_plain(&self) -> bool {
        self.pieces.is_empty()
    }
}

fn parse_variable(inner: &str) -> Piece {
    if let Some((key, default)) = inner.split_once(',') {
        let default = default.trim();
        let default = default
            .strip_prefix('\'')
            .and_then(|d| d.strip_suffix('\''))
            .unwrap_or(default);
        Piece::Var {
            key: key.trim().to_owned(),
            default: Some(default.to_owned()),
        }
    } else {
        Piece::Var {
            key: inner.to_owned(),
            default: None,
        }
    }
}

/// Number of characters IAM counts against a size quota: everything but
/// whitespace.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The size quotas IAM enforces, so the caller can apply the right one
/// (inline quotas are per entity: sum [`policy_size`] over its policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeQuota {
    /// [`MAX_INLINE_ROLE_POLICY_CHARS`], per role.
    InlineRole,
    /// [`MAX_INLINE_USER_POLICY_CHARS`], per user.
    InlineUser,
    /// [`MAX_INLINE_GROUP_POLICY_CHARS`], per group.
    InlineGroup,
    /// [`MAX_MANAGED_POLICY_CHARS`], per managed policy.
    Managed,
    /// [`MAX_TRUST_POLICY_CHARS`], per trust policy.
    Trust,
}

impl SizeQuota {
    /// The quota in non-whitespace characters.
    pub fn max_chars(self) -> usize {
        match self {
            SizeQuota::InlineRole => MAX_INLINE_ROLE_POLICY_CHARS,
            SizeQuota::InlineUser => MAX_INLINE_USER_POLICY_CHARS,
            SizeQuota::InlineGroup => MAX_INLINE_GROUP_POLICY_CHARS,
            SizeQuota::Managed => MAX_MANAGED_POLICY_CHARS,
            SizeQuota::Trust => MAX_TRUST_POLICY_CHARS,
        }
    }

    /// `Err(LimitExceeded)` with IAM's message when `chars` is over the
    /// quota. `entity` is the role/user/group name (ignored for managed and
    /// trust quotas, whose messages do not name it).
    pub fn check(self, chars: usize, entity: &str) -> Result<(), PolicyError> {
        let max = self.max_chars();
        if chars <= max {
            return Ok(());
        }
        let message = match self {
            SizeQuota::InlineRole => {
                format!("Maximum policy size of {max} bytes exceeded for role {entity}")
            }
            SizeQuota::InlineUser => {
                format!("Maximum policy size of {max} bytes exceeded for user {entity}")
            }
            SizeQuota::InlineGroup => {
                format!("Maximum policy size of {max} bytes exceeded for group {entity}")
            }
            SizeQuota::Managed => format!("Cannot exceed quota for PolicySize: {max}"),
            SizeQuota::Trust => format!("Cannot exceed quota for ACLSizePerRole: {max}"),
        };
        Err(PolicyError::LimitExceeded { message })
    }
}

const TOP_ELEMENTS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// Parses and validates a policy document as IAM does on write.
///
/// `kind` selects the grammar (see [`PolicyKind`]). Size quotas are not
/// checked here; apply [`SizeQuota::check`] to [`policy_size`].
pub fn parse_policy(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| malformed(SYNTAX_ERRORS, format!("not valid JSON: {e}")))?;
    let Value::Object(top) = value else {
        return Err(malformed(
            SYNTAX_ERRORS,
            "the document is not a JSON object",
        ));
    };
    if let Some(unknown) = top.keys().find(|k| !TOP_ELEMENTS.contains(&k.as_str())) {
        return Err(malformed(
            SYNTAX_ERRORS,
            format!("unknown top-level element {unknown}"),
        ));
    }
    let version = match top.get("Version") {
        None => Version::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(other) => {
            return Err(malformed(
                SYNTAX_ERRORS,
                format!("Version must be \"2012-10-17\" or \"2008-10-17\", got {other}"),
            ));
        }
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(malformed(
                SYNTAX_ERRORS,
                format!("Id must be a string, got {other}"),
            ));
        }
    };
    let raw_statements: Vec<&Map<String, Value>> = match top.get("Statement") {
        None => return Err(malformed(SYNTAX_ERRORS, "missing Statement")),
        Some(Value::Object(s)) => vec![s],
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(s) => out.push(s),
                    other => {
                        return Err(malformed(
                            SYNTAX_ERRORS,
                            format!("statement {i} is not an object: {other}"),
                        ));
                    }
                }
            }
            out
        }
        Some(Value::Array(_)) => return Err(malformed(SYNTAX_ERRORS, "Statement is empty")),
        Some(other) => {
            return Err(malformed(
                SYNTAX_ERRORS,
                format!("Statement must be an object or a list, got {other}"),
            ));
        }
    };
    let mut statements = Vec::with_capacity(raw_statements.len());
    for (index, raw) in raw_statements.into_iter().enumerate() {
        statements.push(parse_statement(index, raw, kind, version)?);
    }
    for (i, a) in statements.iter().enumerate() {
        let Some(sid) = a.sid.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if statements[..i]
            .iter()
            .any(|b| b.sid.as_deref() == Some(sid))
        {
            return Err(malformed(
                SID_NOT_UNIQUE,
                format!("Sid {sid:?} appears more than once"),
            ));
        }
    }
    Ok(PolicyDocument {
        version,
        id,
        kind,
        statements,
    })
}

/// Where an error is, for `detail`.
fn at(index: usize, what: impl std::fmt::Display) -> String {
    format!("statement {index}: {what}")
}

fn parse_statement(
    index: usize,
    raw: &Map<String, Value>,
    kind: PolicyKind,
    version: Version,
) -> Result<Statement, PolicyError> {
    if let Some(unknown) = raw
        .keys()
        .find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str()))
    {
        return Err(malformed(
            SYNTAX_ERRORS,
            at(index, format!("unknown element {unknown}")),
        ));
    }
    let variables = version.supports_variables();

    let sid = match raw.get("Sid") {
        None => None,
        Some(Value::String(s)) => {
            if kind != PolicyKind::Resource && !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(malformed(
                    SID_NOT_ALPHANUMERIC,
                    at(index, format!("Sid {s:?}")),
                ));
            }
            Some(s.clone())
        }
        Some(other) => {
            return Err(malformed(
                SYNTAX_ERRORS,
                at(index, format!("Sid is not a string: {other}")),
            ));
        }
    };

    let effect = match raw.get("Effect") {
        None => {
            return Err(malformed(
                "Missing required field Effect",
                at(index, "no Effect"),
            ));
        }
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s))
            if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") =>
        {
            return Err(malformed(
                FAILED_LEGACY_PARSING,
                at(
                    index,
                    format!("Effect {s:?} must be spelled \"Allow\" or \"Deny\""),
                ),
            ));
        }
        Some(other) => {
            return Err(malformed(
                SYNTAX_ERRORS,
                at(
                    index,
                    format!("Effect must be \"Allow\" or \"Deny\", got {other}"),
                ),
            ));
        }
    };

    let principal = parse_principal(index, raw, kind)?;
    let action = parse_actions(index, raw, kind)?;
    let resource = parse_resources(index, raw, kind, variables)?;
    let conditions = match raw.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(index, c, variables)?,
    };

    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// A string or a list of strings, as `Action`, `Resource` and principal
/// values are written.
fn string_list<'v>(
    index: usize,
    element: &str,
    value: &'v Value,
) -> Result<Vec<&'v str>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(malformed(
                    SYNTAX_ERRORS,
                    at(
                        index,
                        format!("{element} values must be strings, got {other}"),
                    ),
                )),
            })
            .collect(),
        other => Err(malformed(
            SYNTAX_ERRORS,
            at(
                index,
                format!("{element} must be a string or a list of strings, got {other}"),
            ),
        )),
    }
}

/// Picks `positive` or `Not<positive>`; both present is a syntax error.
fn one_of<'v>(
    index: usize,
    raw: &'v Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Option<(bool, &'v Value)>, PolicyError> {
    match (raw.get(positive), raw.get(negative)) {
        (Some(_), Some(_)) => Err(malformed(
            SYNTAX_ERRORS,
            at(
                index,
                format!("{positive} and {negative} are mutually exclusive"),
            ),
        )),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

fn parse_actions(
    index: usize,
    raw: &Map<String, Value>,
    kind: PolicyKind,
) -> Result<ActionSpec, PolicyError> {
    let Some((negated, value)) = one_of(index, raw, "Action", "NotAction")? else {
        return Err(malformed(
            MUST_CONTAIN_ACTIONS,
            at(index, "no Action or NotAction"),
        ));
    };
    let element = if negated { "NotAction" } else { "Action" };
    let list = string_list(index, element, value)?;
    if list.is_empty() {
        return Err(malformed(
            MUST_CONTAIN_ACTIONS,
            at(index, format!("{element} is empty")),
        ));
    }
    let mut patterns = Vec::with_capacity(list.len());
    for action in list {
        validate_action(index, action)?;
        if kind == PolicyKind::Trust
            && !negated
            && action != "*"
            && !action
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("sts:"))
        {
            return Err(malformed(
                TRUST_ACTIONS_ONLY,
                at(index, format!("action {action:?}")),
            ));
        }
        patterns.push(ActionPattern {
            raw: action.to_owned(),
            lowered: action.to_lowercase(),
        });
    }
    Ok(ActionSpec { negated, patterns })
}

fn validate_action(index: usize, action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let Some((vendor, rest)) = action.split_once(':') else {
        return Err(malformed(
            MISSING_VENDOR,
            at(index, format!("action {action:?}")),
        ));
    };
    if rest.contains(':') {
        return Err(malformed(
            ONE_COLON,
            at(index, format!("action {action:?}")),
        ));
    }
    if vendor != "*"
        && (vendor.is_empty()
            || !vendor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(malformed(
            &format!("Vendor {vendor} is not valid"),
            at(index, format!("action {action:?}")),
        ));
    }
    Ok(())
}

fn parse_resources(
    index: usize,
    raw: &Map<String, Value>,
    kind: PolicyKind,
    variables: bool,
) -> Result<Option<ResourceSpec>, PolicyError> {
    let found = one_of(index, raw, "Resource", "NotResource")?;
    if kind == PolicyKind::Trust {
        return match found {
            None => Ok(None),
            Some((negated, _)) => {
                let element = if negated { "NotResource" } else { "Resource" };
                Err(malformed(
                    &format!("Has prohibited field {element}"),
                    at(index, format!("a trust policy may not name a {element}")),
                ))
            }
        };
    }
    let Some((negated, value)) = found else {
        return Err(malformed(
            MUST_CONTAIN_RESOURCES,
            at(index, "no Resource or NotResource"),
        ));
    };
    let element = if negated { "NotResource" } else { "Resource" };
    let list = string_list(index, element, value)?;
    if list.is_empty() {
        return Err(malformed(
            MUST_CONTAIN_RESOURCES,
            at(index, format!("{element} is empty")),
        ));
    }
    let mut patterns = Vec::with_capacity(list.len());
    for resource in list {
        if resource != "*" && !resource.contains(':') {
            return Err(malformed(
                &format!("Resource {resource} must be in ARN format or \"*\"."),
                at(index, format!("{element} {resource:?}")),
            ));
        }
        patterns.push(Template::parse(resource, variables));
    }
    Ok(Some(ResourceSpec { negated, patterns }))
}

fn parse_principal(
    index: usize,
    raw: &Map<String, Value>,
    kind: PolicyKind,
) -> Result<Option<PrincipalSpec>, PolicyError> {
    let found = one_of(index, raw, "Principal", "NotPrincipal")?;
    let Some((negated, value)) = found else {
        if kind == PolicyKind::Identity {
            return Ok(None);
        }
        return Err(malformed(
            "Missing required field Principal",
            at(index, "no Principal"),
        ));
    };
    if kind == PolicyKind::Identity {
        return Err(malformed(
            SHOULD_NOT_SPECIFY_PRINCIPAL,
            at(
                index,
                "identity policies apply to the principal they are attached to",
            ),
        ));
    }
    let element = if negated { "NotPrincipal" } else { "Principal" };
    let mut entries = Vec::new();
    match value {
        Value::String(s) if s == "*" => entries.push(PrincipalEntry::Anyone),
        Value::Object(map) if !map.is_empty() => {
            for (ptype, ids) in map {
                for id in string_list(index, element, ids)? {
                    entries.push(principal_entry(index, ptype, id)?);
                }
            }
        }
        other => {
            return Err(malformed(
                SYNTAX_ERRORS,
                at(
                    index,
                    format!("{element} must be \"*\" or an object, got {other}"),
                ),
            ));
        }
    }
    if entries.is_empty() {
        return Err(malformed(
            SYNTAX_ERRORS,
            at(index, format!("{element} names no principal")),
        ));
    }
    Ok(Some(PrincipalSpec { negated, entries }))
}

fn invalid_principal(index: usize, ptype: &str, id: &str) -> PolicyError {
    malformed(
        &format!("Invalid principal in policy: \"{ptype}\":\"{id}\""),
        at(index, format!("principal {ptype}:{id}")),
    )
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn principal_entry(index: usize, ptype: &str, id: &str) -> Result<PrincipalEntry, PolicyError> {
    match ptype {
        "AWS" => {
            if id == "*" {
                return Ok(PrincipalEntry::AnyAws);
            }
            if is_account_id(id) {
                return Ok(PrincipalEntry::AwsAccount(id.to_owned()));
            }
            let parts: Vec<&str> = id.splitn(6, ':').collect();
            let valid = parts.len() == 6
                && parts[0] == "arn"
                && !parts[1].is_empty()
                && (parts[2] == "iam" || parts[2] == "sts")
                && parts[3].is_empty()
                && is_account_id(parts[4])
                && !parts[5].is_empty()
                && !super::wildcard::has_wildcard(parts[5]);
            if !valid {
                return Err(invalid_principal(index, ptype, id));
            }
            if parts[2] == "iam" && parts[5] == "root" {
                return Ok(PrincipalEntry::AwsAccount(parts[4].to_owned()));
            }
            Ok(PrincipalEntry::AwsArn(id.to_owned()))
        }
        "Service" => {
            if id.is_empty() || id.contains(char::is_whitespace) {
                return Err(invalid_principal(index, ptype, id));
            }
            Ok(PrincipalEntry::Service(id.to_owned()))
        }
        "Federated" => {
            if id.is_empty() {
                return Err(invalid_principal(index, ptype, id));
            }
            Ok(PrincipalEntry::Federated(id.to_owned()))
        }
        "CanonicalUser" => Ok(PrincipalEntry::CanonicalUser(id.to_owned())),
        _ => Err(malformed(
            SYNTAX_ERRORS,
            at(index, format!("unknown principal type {ptype}")),
        )),
    }
}

/// Splits `ForAnyValue:StringLikeIfExists` into its parts.
fn parse_operator(name: &str) -> Option<(Qualifier, Operator, bool)> {
    let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Qualifier::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Qualifier::ForAllValues, r)
    } else {
        (Qualifier::Single, name)
    };
    if let Some(op) = Operator::from_name(rest) {
        return Some((qualifier, op, false));
    }
    let op = Operator::from_name(rest.strip_suffix("IfExists")?)?;
    // `Null` tests for existence; an `IfExists` form of it is meaningless
    // and IAM does not define one.
    (op != Operator::Null).then_some((qualifier, op, true))
}

fn condition_value(index: usize, op: &str, key: &str, v: &Value) -> Result<String, PolicyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(malformed(
            SYNTAX_ERRORS,
            at(
                index,
                format!("{op} {key}: values must be strings, numbers or booleans, got {other}"),
            ),
        )),
    }
}

fn parse_conditions(
    index: usize,
    value: &Value,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(block) = value else {
        return Err(malformed(
            SYNTAX_ERRORS,
            at(index, format!("Condition must be an object, got {value}")),
        ));
    };
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let Value::Object(keys) = keys else {
            return Err(malformed(
                SYNTAX_ERRORS,
                at(
                    index,
                    format!("Condition {op_name:?} must map condition keys to values"),
                ),
            ));
        };
        let Some((qualifier, operator, if_exists)) = parse_operator(op_name) else {
            return Err(malformed(
                SYNTAX_ERRORS,
                at(index, format!("unknown condition operator {op_name:?}")),
            ));
        };
        for (key, values) in keys {
            if !key.contains(':') {
                return Err(malformed(
                    MISSING_VENDOR,
                    at(index, format!("condition key {key:?}")),
                ));
            }
            let raw_values = match values {
                Value::Array(items) => items
                    .iter()
                    .map(|v| condition_value(index, op_name, key, v))
                    .collect::<Result<Vec<_>, _>>()?,
                single => vec![condition_value(index, op_name, key, single)?],
            };
            out.push(Condition {
                operator,
                qualifier,
                if_exists,
                key: key.clone(),
                values: raw_values
                    .iter()
                    .map(|v| Template::parse(v, variables))
                    .collect(),
                raw_operator: op_name.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, kind: PolicyKind) -> PolicyError {
        match parse_policy(text, kind) {
            Ok(doc) => panic!("expected an error for {text}, got {doc:?}"),
            Err(e) => e,
        }
    }

    fn message(text: &str, kind: PolicyKind) -> String {
        err(text, kind).to_string()
    }

    const ID: PolicyKind = PolicyKind::Identity;
    const TRUST: PolicyKind = PolicyKind::Trust;

    #[test]
    fn minimal_identity_policy() {
        let doc = parse_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
            ID,
        )
        .unwrap();
        assert_eq!(doc.version, Version::V2012_10_17);
        assert_eq!(doc.statements.len(), 1);
        let st = &doc.statements[0];
        assert_eq!(st.effect, Effect::Allow);
        assert_eq!(st.action.patterns[0].lowered, "s3:getobject");
        assert!(st.principal.is_none());
        assert!(st.resource.as_ref().is_some_and(|r| !r.negated));
    }

    #[test]
    fn missing_version_is_2008() {
        let doc = parse_policy(
            r#"{"Statement":[{"Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:s3:::b"}]}"#,
            ID,
        )
        .unwrap();
        assert_eq!(doc.version, Version::V2008_10_17);
        assert!(doc.statements[0].action.negated);
        assert!(
            doc.statements[0]
                .resource
                .as_ref()
                .is_some_and(|r| r.negated)
        );
    }

    #[test]
    fn syntax_errors() {
        for text in [
            "{not json",
            "[]",
            "\u{feff}{}",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Version":"2012-10-17","Bogus":1,"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Extra":1}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Block","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":{"a":1},"Resource":"*"}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":[1]}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"aws:username":"x"}}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"x":1}}}}}"#,
        ] {
            assert_eq!(message(text, ID), SYNTAX_ERRORS, "{text}");
        }
    }

    #[test]
    fn unknown_operator_detail_names_it() {
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}]}"#,
            ID,
        );
        assert_eq!(e.code(), "MalformedPolicyDocument");
        assert!(e.detail().contains("statement 1"), "{}", e.detail());
        assert!(e.detail().contains("StringEqualz"), "{}", e.detail());
    }

    #[test]
    fn statement_field_errors() {
        let cases = [
            (
                r#"{"Statement":{"Action":"s3:*","Resource":"*"}}"#,
                "Missing required field Effect",
            ),
            (
                r#"{"Statement":{"Effect":"allow","Action":"s3:*","Resource":"*"}}"#,
                FAILED_LEGACY_PARSING,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
                MUST_CONTAIN_ACTIONS,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
                MUST_CONTAIN_ACTIONS,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
                MUST_CONTAIN_RESOURCES,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":[]}}"#,
                MUST_CONTAIN_RESOURCES,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#,
                MISSING_VENDOR,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:Get:Object","Resource":"*"}}"#,
                ONE_COLON,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s 3:Get","Resource":"*"}}"#,
                "Vendor s 3 is not valid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"mybucket"}}"#,
                "Resource mybucket must be in ARN format or \"*\".",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"*"}}"#,
                SHOULD_NOT_SPECIFY_PRINCIPAL,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","NotPrincipal":{"AWS":"*"}}}"#,
                SHOULD_NOT_SPECIFY_PRINCIPAL,
            ),
            (
                r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
                SID_NOT_UNIQUE,
            ),
            (
                r#"{"Statement":{"Sid":"Allow-S3","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
                SID_NOT_ALPHANUMERIC,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"username":"x"}}}}"#,
                MISSING_VENDOR,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(message(text, ID), expected, "{text}");
        }
    }

    #[test]
    fn trust_policy_rules() {
        let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        let doc = parse_policy(ok, TRUST).unwrap();
        assert_eq!(doc.kind, PolicyKind::Trust);
        assert!(doc.statements[0].resource.is_none());
        assert_eq!(
            doc.statements[0]
                .principal
                .as_ref()
                .map(|p| p.entries.clone()),
            Some(vec![PrincipalEntry::Service("ec2.amazonaws.com".into())])
        );
        // The same document is not a valid identity policy.
        assert_eq!(message(ok, ID), SHOULD_NOT_SPECIFY_PRINCIPAL);

        let cases = [
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#,
                "Has prohibited field Resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","NotResource":"*"}}"#,
                "Has prohibited field NotResource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject"}}"#,
                TRUST_ACTIONS_ONLY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}}"#,
                "Invalid principal in policy: \"AWS\":\"bob\"",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"sts:AssumeRole"}}"#,
                "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:role/*\"",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"sts:AssumeRole"}}"#,
                SYNTAX_ERRORS,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"me","Action":"sts:AssumeRole"}}"#,
                SYNTAX_ERRORS,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(message(text, TRUST), expected, "{text}");
        }
    }

    #[test]
    fn principal_forms() {
        let doc = parse_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":["123456789012","arn:aws:iam::111122223333:root","arn:aws:iam::123456789012:role/path/R","*"]}}}"#,
            TRUST,
        )
        .unwrap();
        let entries = doc.statements[0]
            .principal
            .as_ref()
            .map(|p| p.entries.clone())
            .unwrap_or_default();
        assert_eq!(
            entries,
            vec![
                PrincipalEntry::AwsAccount("123456789012".into()),
                PrincipalEntry::AwsAccount("111122223333".into()),
                PrincipalEntry::AwsArn("arn:aws:iam::123456789012:role/path/R".into()),
                PrincipalEntry::AnyAws,
            ]
        );
    }

    #[test]
    fn resource_policy_needs_principal_and_resource() {
        assert_eq!(
            message(
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
                PolicyKind::Resource
            ),
            "Missing required field Principal"
        );
        assert_eq!(
            message(
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}"#,
                PolicyKind::Resource
            ),
            MUST_CONTAIN_RESOURCES
        );
        // Bucket policies allow free-form Sids.
        assert!(
            parse_policy(
                r#"{"Statement":{"Sid":"Allow read-only","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
                PolicyKind::Resource
            )
            .is_ok()
        );
    }

    #[test]
    fn conditions_flatten_and_parse_operators() {
        let doc = parse_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{
                "ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*","b"],"s3:prefix":"x"},
                "Bool":{"aws:SecureTransport":true},
                "NumericLessThan":{"s3:max-keys":10}}}}"#,
            ID,
        )
        .unwrap();
        let conds = &doc.statements[0].conditions;
        assert_eq!(conds.len(), 4);
        let tag = conds.iter().find(|c| c.key == "aws:TagKeys").unwrap();
        assert_eq!(tag.qualifier, Qualifier::ForAnyValue);
        assert_eq!(tag.operator, Operator::StringLike);
        assert!(tag.if_exists);
        assert_eq!(tag.values.len(), 2);
        let b = conds.iter().find(|c| c.operator == Operator::Bool).unwrap();
        assert_eq!(b.values[0].raw, "true");
        let n = conds
            .iter()
            .find(|c| c.operator == Operator::NumericLessThan)
            .unwrap();
        assert_eq!(n.values[0].raw, "10");
        assert_eq!(n.qualifier, Qualifier::Single);
        assert!(!n.if_exists);
    }

    #[test]
    fn every_operator_name_round_trips() {
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.name()), Some(op));
            assert_eq!(
                parse_operator(&format!("ForAllValues:{}IfExists", op.name())).is_some(),
                op != Operator::Null
            );
        }
        assert_eq!(Operator::from_name("stringequals"), None);
    }

    #[test]
    fn templates() {
        let t = Template::parse("arn:aws:s3:::b/${aws:username}/*", true);
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("arn:aws:s3:::b/".into()),
                Piece::Var {
                    key: "aws:username".into(),
                    default: None
                },
                Piece::Text("/*".into()),
            ]
        );
        assert!(Template::parse("arn:aws:s3:::b/${aws:username}/*", false).is_plain());
        assert!(Template::parse("plain", true).is_plain());
        assert!(Template::parse("${unterminated", true).is_plain());
        assert!(Template::parse("${}", true).is_plain());
        let t = Template::parse("a${*}b${?}${$}", true);
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("a".into()),
                Piece::Literal('*'),
                Piece::Text("b".into()),
                Piece::Literal('?'),
                Piece::Literal('$'),
            ]
        );
        let t = Template::parse("${aws:PrincipalTag/team, 'none'}", true);
        assert_eq!(
            t.pieces,
            vec![Piece::Var {
                key: "aws:PrincipalTag/team".into(),
                default: Some("none".into())
            }]
        );
    }

    #[test]
    fn size_quotas() {
        assert_eq!(policy_size(" { \"a\" :\n 1 } "), 7);
        assert!(SizeQuota::InlineRole.check(10_240, "r").is_ok());
        let e = SizeQuota::InlineRole.check(10_241, "r").unwrap_err();
        assert_eq!(e.code(), "LimitExceeded");
        assert_eq!(
            e.to_string(),
            "Maximum policy size of 10240 bytes exceeded for role r"
        );
        assert_eq!(
            SizeQuota::Managed
                .check(6_145, "ignored")
                .unwrap_err()
                .to_string(),
            "Cannot exceed quota for PolicySize: 6144"
        );
        assert!(SizeQuota::Managed.check(6_144, "").is_ok());
        assert_eq!(SizeQuota::Trust.max_chars(), 2_048);
    }
}
