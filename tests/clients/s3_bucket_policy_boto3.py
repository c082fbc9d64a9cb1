"""boto3 against `iamstorm sim`: a role session (AssumeRole via STS) that
only a bucket policy grants anything, with conditions on s3:prefix
(StringLike) and aws:SourceIp (IpAddress, loopback vs an office range), an
explicit Deny that wins, object tags, and S3's error shape. Exits non-zero
on the first mismatch."""

import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
BUCKET = "policy-bucket"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/policy-role"
TRUST_ACCOUNT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
})
PATH_STYLE = boto3.session.Config(s3={"addressing_style": "path"})


def expect(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def await_converged():
    url = os.environ["AWS_ENDPOINT_URL"] + "/_iamstorm/propagation"
    truth = json.load(urllib.request.urlopen(url))
    done_ms = max(truth["versions"][-1]["applied_at"])
    if done_ms > truth["elapsed_ms"]:
        time.sleep((done_ms - truth["elapsed_ms"] + 1) / 1000)


def error_of(call):
    try:
        call()
    except ClientError as e:
        return e.response
    return None


def statement(sid, action, resource, condition=None, effect="Allow"):
    s = {"Sid": sid, "Effect": effect, "Principal": {"AWS": ROLE_ARN}, "Action": action,
         "Resource": f"arn:aws:s3:::{BUCKET}{resource}"}
    if condition:
        s["Condition"] = condition
    return s


def main():
    session = boto3.session.Session()
    s3 = session.client("s3", config=PATH_STYLE)
    s3.create_bucket(Bucket=BUCKET)
    for key in ["home/alice/notes", "home/bob/notes", "open/readme", "office/plan", "secret/x"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    s3.put_object(Bucket=BUCKET, Key="tagged/pub", Body=b"pub", Tagging="class=public")
    s3.put_object(Bucket=BUCKET, Key="tagged/priv", Body=b"priv", Tagging="class=private")

    session.client("iam").create_role(RoleName="policy-role", AssumeRolePolicyDocument=TRUST_ACCOUNT)
    await_converged()
    creds = session.client("sts").assume_role(RoleArn=ROLE_ARN, RoleSessionName="boto3")["Credentials"]
    role = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=session.region_name,
    ).client("s3", config=PATH_STYLE)

    err = error_of(lambda: role.get_object(Bucket=BUCKET, Key="open/readme"))
    expect(err and err["Error"]["Code"] == "AccessDenied", "no policy at all: AccessDenied")
    expect(err["ResponseMetadata"]["RequestId"] and err["ResponseMetadata"]["HostId"],
           "S3 error carries RequestId and HostId")

    policy = {"Version": "2012-10-17", "Statement": [
        statement("AliceHome", "s3:ListBucket", "", {"StringLike": {"s3:prefix": "home/alice/*"}}),
        statement("Loopback", "s3:GetObject", "/open/*", {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        statement("OfficeOnly", "s3:GetObject", "/office/*", {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}),
        statement("Everything", "s3:GetObject", "/*", {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}),
        statement("NoSecrets", "s3:*", "/secret/*", effect="Deny"),
        statement("ReadSecretsToo", "s3:GetObject", "/secret/*"),
    ]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    expect(json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == policy, "GetBucketPolicy round trip")

    listed = role.list_objects_v2(Bucket=BUCKET, Prefix="home/alice/")
    expect([o["Key"] for o in listed["Contents"]] == ["home/alice/notes"], "s3:prefix home/alice/ allowed")
    err = error_of(lambda: role.list_objects_v2(Bucket=BUCKET, Prefix="home/bob/"))
    expect(err and err["Error"]["Code"] == "AccessDenied", "s3:prefix home/bob/ denied")
    err = error_of(lambda: role.list_objects_v2(Bucket=BUCKET))
    expect(err and err["Error"]["Code"] == "AccessDenied", "no prefix: StringLike does not match an absent key")

    expect(role.get_object(Bucket=BUCKET, Key="open/readme")["Body"].read() == b"open/readme",
           "aws:SourceIp 127.0.0.0/8 matches the loopback caller")
    err = error_of(lambda: role.get_object(Bucket=BUCKET, Key="office/plan"))
    expect(err and err["Error"]["Code"] == "AccessDenied", "aws:SourceIp 198.51.100.0/24 does not match")

    expect(role.get_object(Bucket=BUCKET, Key="tagged/pub")["Body"].read() == b"pub",
           "s3:ExistingObjectTag/class = public allowed")
    err = error_of(lambda: role.get_object(Bucket=BUCKET, Key="tagged/priv"))
    expect(err and err["Error"]["Code"] == "AccessDenied", "class = private denied")

    err = error_of(lambda: role.get_object(Bucket=BUCKET, Key="secret/x"))
    expect(err and "with an explicit deny in a resource-based policy" in err["Error"]["Message"],
           "explicit Deny beats the Allow in the same bucket policy")

    err = error_of(lambda: s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{BUCKET}/*"}]})))
    expect(err and err["Error"]["Code"] == "MalformedPolicy"
           and err["Error"]["Message"] == "Missing required field Principal",
           "MalformedPolicy: Missing required field Principal")

    s3.delete_bucket_policy(Bucket=BUCKET)
    err = error_of(lambda: role.get_object(Bucket=BUCKET, Key="open/readme"))
    expect(err and err["Error"]["Code"] == "AccessDenied", "policy deleted: denied again at once")
    err = error_of(lambda: s3.get_bucket_policy(Bucket=BUCKET))
    expect(err and err["Error"]["Code"] == "NoSuchBucketPolicy", "NoSuchBucketPolicy")
    print("s3 bucket policy (boto3): all checks passed")


if __name__ == "__main__":
    main()
