# sim-args: --scenario tests/data/scenarios/ec2_runbook.toml
# The runbook's step 4 with the real AWS CLI and curl: swap an instance's
# profile (disassociate, associate, reboot) and watch IMDS hand out the new
# role's credentials, which STS and S3 then see.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

mapfile -t lines < <(grep '^# instance ' "$IAMSTORM_SIM_OUT")
[ "${#lines[@]}" -eq 2 ] || fail "expected 2 instances, sim printed ${#lines[@]}"
read -r _ _ iid _ imds _ <<<"${lines[0]}"
account=123456789012
app_arn="arn:aws:iam::$account:instance-profile/app-profile"
fixed_arn="arn:aws:iam::$account:instance-profile/fixed-profile"

# Every instance of the fleet is listed with the scenario's profile.
test "$(aws ec2 describe-instances --query 'length(Reservations[].Instances[])' --output text)" = 2 \
  || fail "describe-instances does not list the 2 instances"
for arn in $(aws ec2 describe-instances --query 'Reservations[].Instances[].IamInstanceProfile.Arn' --output text); do
  [ "$arn" = "$app_arn" ] || fail "instance profile ARN $arn, expected $app_arn"
done
test "$(aws ec2 describe-instances --instance-ids "$iid" --query 'Reservations[0].Instances[0].State.Name' --output text)" = running

# IMDSv2 from the shell: token, then the role's credentials.
imds_get() {
  local token
  token=$(curl -sf -X PUT "$imds/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')
  curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"
}
test "$(imds_get iam/security-credentials/)" = app-role || fail "IMDS role before the swap"
test "$(curl -s -o /dev/null -w '%{http_code}' "$imds/latest/meta-data/iam/info")" = 401 \
  || fail "IMDSv1 (no token) must be refused: HttpTokens=required"

# app-role cannot read the bucket: the AccessDenied the runbook is about.
creds=$(imds_get iam/security-credentials/app-role)
if AWS_ACCESS_KEY_ID=$(json '["AccessKeyId"]' <<<"$creds") \
   AWS_SECRET_ACCESS_KEY=$(json '["SecretAccessKey"]' <<<"$creds") \
   AWS_SESSION_TOKEN=$(json '["Token"]' <<<"$creds") \
   aws s3api get-object --bucket assets --key obj-0 obj.bin >/dev/null 2>err.txt; then
  fail "app-role read the bucket"
fi
grep -q AccessDenied err.txt || fail "expected AccessDenied, got: $(cat err.txt)"

# Step 4: disassociate, associate the fixed profile, reboot.
assoc=$(aws ec2 describe-iam-instance-profile-associations --filters "Name=instance-id,Values=$iid" \
  --query 'IamInstanceProfileAssociations[0].AssociationId' --output text)
[[ "$assoc" == iip-assoc-* ]] || fail "association id $assoc"
test "$(aws ec2 disassociate-iam-instance-profile --association-id "$assoc" \
  --query IamInstanceProfileAssociation.State --output text)" = disassociating
test "$(aws ec2 describe-iam-instance-profile-associations --filters "Name=instance-id,Values=$iid" \
  --query 'length(IamInstanceProfileAssociations)' --output text)" = 0 || fail "association still listed"
new=$(aws ec2 associate-iam-instance-profile --instance-id "$iid" --iam-instance-profile Name=fixed-profile \
  --query IamInstanceProfileAssociation.AssociationId --output text)
[ "$new" != "$assoc" ] || fail "a new association gets a new id"
# A second association is refused with AWS's error.
if aws ec2 associate-iam-instance-profile --instance-id "$iid" --iam-instance-profile Name=app-profile 2>err.txt; then
  fail "a second association was accepted"
fi
grep -q "IncorrectState" err.txt || fail "expected IncorrectState, got: $(cat err.txt)"
test "$(aws ec2 describe-instances --instance-ids "$iid" --query 'Reservations[0].Instances[0].IamInstanceProfile.Arn' --output text)" = "$fixed_arn"

# EC2 knows at once; IMDS lags (5 s by default) until the reboot.
test "$(imds_get iam/info | json '["InstanceProfileArn"]')" = "$app_arn" || fail "IMDS switched before the lag or a reboot"
aws ec2 reboot-instances --instance-ids "$iid"
test "$(imds_get iam/info | json '["InstanceProfileArn"]')" = "$fixed_arn" || fail "iam/info after reboot"
test "$(imds_get iam/security-credentials/)" = fixed-role || fail "IMDS role after reboot"

creds=$(imds_get iam/security-credentials/fixed-role)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
AWS_ACCESS_KEY_ID=$(json '["AccessKeyId"]' <<<"$creds")
AWS_SECRET_ACCESS_KEY=$(json '["SecretAccessKey"]' <<<"$creds")
AWS_SESSION_TOKEN=$(json '["Token"]' <<<"$creds")
who=$(aws sts get-caller-identity --query Arn --output text)
test "$who" = "arn:aws:sts::$account:assumed-role/fixed-role/$iid" || fail "caller identity $who"
aws s3api get-object --bucket assets --key obj-0 obj.bin >/dev/null && grep -q obj-0 obj.bin || fail "fixed-role cannot read the bucket"
echo "ec2 runbook: all checks passed"
