# AWS CLI against `iamstorm sim`: S3 and STS basics, answers checked.
set -euo pipefail
aws s3 mb s3://cli-bucket
echo hello >hello.txt
aws s3 cp hello.txt s3://cli-bucket/hello.txt
test "$(aws s3 cp s3://cli-bucket/hello.txt -)" = hello
test "$(aws sts get-caller-identity --query Account --output text)" = 123456789012
echo "aws cli smoke: all checks passed"
