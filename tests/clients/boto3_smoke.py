"""boto3 against `iamstorm sim`: the double speaks AWS's wire formats for a
client that is not the Rust SDK. Run by .ci/run with the exports of
`iamstorm sim` in the environment; exits non-zero on the first mismatch."""

import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST_ACCOUNT = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
})
READ = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::smoke/*"}],
})


def expect(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def await_converged():
    """IAM enforcement lags its control plane (as on AWS): wait until the
    double's ground truth says every replica applied the newest change."""
    url = os.environ["AWS_ENDPOINT_URL"] + "/_iamstorm/propagation"
    truth = json.load(urllib.request.urlopen(url))
    done_ms = max(truth["versions"][-1]["applied_at"])
    if done_ms > truth["elapsed_ms"]:
        time.sleep((done_ms - truth["elapsed_ms"] + 1) / 1000)


def main():
    session = boto3.session.Session()
    sts, iam = session.client("sts"), session.client("iam")
    s3 = session.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))

    who = sts.get_caller_identity()
    expect(who["Account"] == ACCOUNT, "GetCallerIdentity account")

    role = iam.create_role(RoleName="smoke-role", AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]
    expect(role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/smoke-role", "CreateRole ARN")
    expect(iam.get_role(RoleName="smoke-role")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole",
           "GetRole returns the decoded trust policy")

    s3.create_bucket(Bucket="smoke")
    s3.put_object(Bucket="smoke", Key="k", Body=b"payload")
    expect(s3.get_object(Bucket="smoke", Key="k")["Body"].read() == b"payload", "PutObject/GetObject round trip")
    expect([o["Key"] for o in s3.list_objects_v2(Bucket="smoke")["Contents"]] == ["k"], "ListObjectsV2")
    head = s3.head_object(Bucket="smoke", Key="k")
    expect(head["ContentLength"] == 7 and head["ResponseMetadata"]["RequestId"], "HeadObject with a request id")

    await_converged()
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="smoke")["Credentials"]
    assumed = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name,
    )
    s3_as_role = assumed.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))
    try:
        s3_as_role.get_object(Bucket="smoke", Key="k")
        expect(False, "a role without a policy is denied")
    except ClientError as e:
        err = e.response["Error"]
        expect(err["Code"] == "AccessDenied", "AccessDenied code for the role session")
        expect("because no identity-based policy allows the s3:GetObject action" in err["Message"],
               "AWS's enriched AccessDenied message")
    expect(assumed.client("sts").get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/smoke-role/smoke",
           "assumed-role ARN")

    try:
        iam.put_role_policy(RoleName="smoke-role", PolicyName="bad", PolicyDocument='{"Statement":[{"Effect":"Allow"}]}')
        expect(False, "a malformed policy is refused")
    except ClientError as e:
        expect(e.response["Error"]["Code"] == "MalformedPolicyDocument", "MalformedPolicyDocument")
    iam.put_role_policy(RoleName="smoke-role", PolicyName="read", PolicyDocument=READ)
    expect(json.loads(json.dumps(iam.get_role_policy(RoleName="smoke-role", PolicyName="read")["PolicyDocument"]))["Statement"][0]["Action"] == "s3:GetObject",
           "GetRolePolicy returns the document at once (control plane is consistent)")
    read_only = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    iam.attach_role_policy(RoleName="smoke-role", PolicyArn=read_only)
    attached = iam.list_attached_role_policies(RoleName="smoke-role")["AttachedPolicies"]
    expect([p["PolicyArn"] for p in attached] == [read_only], "AttachRolePolicy / ListAttachedRolePolicies (the runbook's step 2)")
    print("boto3 smoke: all checks passed")


if __name__ == "__main__":
    main()
