# The runbook's IAM commands (accessdenied-instance-profile-scaling.txt)
# with the real AWS CLI against `iamstorm sim`, checking each answer, plus
# permissions boundaries and policy versions.
set -euo pipefail
ROLE_NAME=runbook-role
ACTION=s3:GetObject
RESOURCE_ARN=arn:aws:s3:::assets/obj-1
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
test "$ACCOUNT" = 123456789012

check() { # check WHAT EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: expected '$2', got '$3'" >&2
    exit 1
  fi
  echo "ok: $1"
}

cat >trust-ec2.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}
JSON
cat >trust-both.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}
JSON
cat >inline-policy.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}
JSON
cat >list-only.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}
JSON

arn=$(aws iam create-role --role-name $ROLE_NAME --assume-role-policy-document file://trust-ec2.json --query Role.Arn --output text)
check "create-role ARN" "arn:aws:iam::$ACCOUNT:role/$ROLE_NAME" "$arn"
check "get-account-summary Roles" 1 "$(aws iam get-account-summary --query 'SummaryMap.Roles' --output text)"
check "get-account-summary RolesQuota" 1000 "$(aws iam get-account-summary --query 'SummaryMap.RolesQuota' --output text)"

# Step 1: simulate.
simulate() {
  aws iam simulate-principal-policy \
    --policy-source-arn "arn:aws:iam::$(aws sts get-caller-identity --query Account --output text):role/$ROLE_NAME" \
    --action-names $ACTION --resource-arns $RESOURCE_ARN \
    --query 'EvaluationResults[0].EvalDecision' --output text
}
check "simulate-principal-policy without policies" implicitDeny "$(simulate)"

# Step 2: check and attach.
check "list-attached-role-policies (none)" 0 \
  "$(aws iam list-attached-role-policies --role-name $ROLE_NAME --query 'length(AttachedPolicies)' --output text)"
aws iam attach-role-policy --role-name $ROLE_NAME --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess
check "list-attached-role-policies" arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess \
  "$(aws iam list-attached-role-policies --role-name $ROLE_NAME --query 'AttachedPolicies[0].PolicyArn' --output text)"
check "simulate after attach" allowed "$(simulate)"
aws iam detach-role-policy --role-name $ROLE_NAME --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess
check "simulate after detach" implicitDeny "$(simulate)"
aws iam put-role-policy --role-name $ROLE_NAME --policy-name S3GetObjectFix --policy-document file://inline-policy.json
check "simulate with the inline fix" allowed "$(simulate)"
check "simulate names the inline policy" S3GetObjectFix \
  "$(aws iam simulate-principal-policy --policy-source-arn "$arn" --action-names $ACTION --resource-arns $RESOURCE_ARN \
      --query 'EvaluationResults[0].MatchedStatements[0].SourcePolicyId' --output text)"

# Step 3: trust relationship.
check "get-role trust principal" ec2.amazonaws.com \
  "$(aws iam get-role --role-name $ROLE_NAME --query 'Role.AssumeRolePolicyDocument.Statement[0].Principal.Service' --output text)"
aws iam update-assume-role-policy --role-name $ROLE_NAME --policy-document file://trust-both.json
check "update-assume-role-policy" 2 \
  "$(aws iam get-role --role-name $ROLE_NAME --query 'length(Role.AssumeRolePolicyDocument.Statement)' --output text)"
# The runbook's `--query 'SummaryMap[Roles]'` is not valid JMESPath: the
# CLI rejects it before sending anything (as against AWS). The working form:
if out=$(aws iam get-account-summary --query 'SummaryMap[Roles]' --output text 2>&1); then
  echo "FAIL: the runbook's invalid JMESPath was accepted: $out" >&2; exit 1
fi
case "$out" in *"Bad value for --query"*) echo "ok: runbook query is rejected client-side" ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
check "get-account-summary --query 'SummaryMap.Roles'" 1 "$(aws iam get-account-summary --query 'SummaryMap.Roles' --output text)"

# Permissions boundary: caps what the role's policies allow.
aws iam put-role-permissions-boundary --role-name $ROLE_NAME --permissions-boundary arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess
check "get-role shows the boundary" arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess \
  "$(aws iam get-role --role-name $ROLE_NAME --query 'Role.PermissionsBoundary.PermissionsBoundaryArn' --output text)"
check "simulate within the boundary" allowed "$(simulate)"
aws iam put-role-policy --role-name $ROLE_NAME --policy-name Put --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}'
check "simulate outside the boundary" implicitDeny \
  "$(aws iam simulate-principal-policy --policy-source-arn "$arn" --action-names s3:PutObject --query 'EvaluationResults[0].EvalDecision' --output text)"
aws iam delete-role-permissions-boundary --role-name $ROLE_NAME
check "simulate without the boundary" allowed \
  "$(aws iam simulate-principal-policy --policy-source-arn "$arn" --action-names s3:PutObject --query 'EvaluationResults[0].EvalDecision' --output text)"

# Policy versions.
parn=$(aws iam create-policy --policy-name reader --policy-document file://inline-policy.json --query Policy.Arn --output text)
aws iam attach-role-policy --role-name $ROLE_NAME --policy-arn "$parn"
check "create-policy-version --set-as-default" v2 \
  "$(aws iam create-policy-version --policy-arn "$parn" --policy-document file://list-only.json --set-as-default --query PolicyVersion.VersionId --output text)"
check "get-policy default version" v2 "$(aws iam get-policy --policy-arn "$parn" --query Policy.DefaultVersionId --output text)"
check "get-policy-version v1 document" s3:GetObject \
  "$(aws iam get-policy-version --policy-arn "$parn" --version-id v1 --query 'PolicyVersion.Document.Statement[0].Action' --output text)"
for _ in 3 4 5; do aws iam create-policy-version --policy-arn "$parn" --policy-document file://list-only.json >/dev/null; done
if out=$(aws iam create-policy-version --policy-arn "$parn" --policy-document file://list-only.json 2>&1); then
  echo "FAIL: a sixth version was accepted" >&2; exit 1
fi
case "$out" in *LimitExceeded*) echo "ok: sixth version is LimitExceeded" ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
check "list-policy-versions" "v5 v4 v3 v2 v1" \
  "$(aws iam list-policy-versions --policy-arn "$parn" --query 'Versions[].VersionId' --output text | tr '\t' ' ')"
if out=$(aws iam delete-policy --policy-arn "$parn" 2>&1); then
  echo "FAIL: deleted an attached policy" >&2; exit 1
fi
case "$out" in *DeleteConflict*) echo "ok: delete-policy while attached is DeleteConflict" ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
aws iam set-default-policy-version --policy-arn "$parn" --version-id v1
check "set-default-policy-version" v1 "$(aws iam get-policy --policy-arn "$parn" --query Policy.DefaultVersionId --output text)"
aws iam delete-policy-version --policy-arn "$parn" --version-id v5
check "delete-policy-version" 4 "$(aws iam list-policy-versions --policy-arn "$parn" --query 'length(Versions)' --output text)"
echo "iam runbook: all checks passed"
