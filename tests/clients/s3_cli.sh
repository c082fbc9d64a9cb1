# AWS CLI against `iamstorm sim`'s S3: cp/ls/rm, multipart (a 9 MiB file
# crosses the CLI's 8 MiB threshold), bucket policies, presigned URLs, and
# S3's error codes — every answer checked, not just exit codes.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
B=cli-s3

aws s3 mb "s3://$B" >/dev/null
aws s3 ls | grep -q " $B\$" || fail "s3 ls lists the bucket"
ok "mb + ls"

printf 'hello from the cli\n' >small.txt
aws s3 cp small.txt "s3://$B/dir/small.txt" >/dev/null
aws s3 ls "s3://$B/dir/" | grep -q ' small.txt$' || fail "s3 ls shows the object"
aws s3 cp "s3://$B/dir/small.txt" small.out >/dev/null
cmp -s small.txt small.out || fail "download differs"
ok "cp up/down + ls prefix"

head -c $((9 * 1024 * 1024)) /dev/urandom >big.bin
aws s3 cp big.bin "s3://$B/big.bin" >/dev/null
etag="$(aws s3api head-object --bucket "$B" --key big.bin --query ETag --output text)"
case "$etag" in *-2\") ;; *) fail "multipart ETag ends in -2, got $etag" ;; esac
aws s3 cp "s3://$B/big.bin" big.out >/dev/null
cmp -s big.bin big.out || fail "multipart download differs"
test "$(aws s3api list-multipart-uploads --bucket "$B" --query 'length(Uploads || `[]`)')" = 0 \
  || fail "no uploads left in progress"
ok "multipart upload via s3 cp (ETag $etag)"

policy='{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::cli-s3/*"}]}'
if aws s3api get-bucket-policy --bucket "$B" 2>err.txt; then fail "no policy yet"; fi
grep -q NoSuchBucketPolicy err.txt || fail "NoSuchBucketPolicy: $(cat err.txt)"
aws s3api put-bucket-policy --bucket "$B" --policy "$policy"
test "$(aws s3api get-bucket-policy --bucket "$B" --query Policy --output text)" = "$policy" \
  || fail "get-bucket-policy returns the policy verbatim"
bad='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}'
if aws s3api put-bucket-policy --bucket "$B" --policy "$bad" 2>err.txt; then fail "resource outside the bucket"; fi
grep -q 'MalformedPolicy.*Policy has invalid resource' err.txt || fail "MalformedPolicy: $(cat err.txt)"
aws s3api delete-bucket-policy --bucket "$B"
ok "put/get/delete-bucket-policy + MalformedPolicy"

url="$(aws s3 presign "s3://$B/dir/small.txt" --expires-in 120)"
curl -sf "$url" -o presigned.out || fail "presigned GET"
cmp -s small.txt presigned.out || fail "presigned body differs"
status="$(curl -s -o tampered.out -w '%{http_code}' "${url/small.txt/other.txt}")"
test "$status" = 403 || fail "tampered presigned URL: HTTP $status"
grep -q '<Code>SignatureDoesNotMatch</Code>' tampered.out || fail "tampered: $(cat tampered.out)"
grep -q '<RequestId>' tampered.out || fail "error body has a RequestId"
ok "s3 presign + curl (and a tampered URL is refused)"

aws s3 rm "s3://$B/dir/small.txt" >/dev/null
if aws s3api head-object --bucket "$B" --key dir/small.txt 2>err.txt; then fail "removed"; fi
grep -q '404' err.txt || fail "head after rm: $(cat err.txt)"
if aws s3 rb "s3://$B" 2>err.txt; then fail "bucket with big.bin is not empty"; fi
grep -q BucketNotEmpty err.txt || fail "BucketNotEmpty: $(cat err.txt)"
aws s3 rm "s3://$B/big.bin" >/dev/null
aws s3 rb "s3://$B" >/dev/null
aws s3 ls | grep -q " $B\$" && fail "bucket removed"
ok "rm + rb (BucketNotEmpty first)"
echo "s3 cli: all checks passed"
