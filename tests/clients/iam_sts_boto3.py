"""boto3 STS against `iamstorm sim`: AssumeRole with a session policy (the
session can do less than the role), an ExternalId trust condition, and
session tags as aws:PrincipalTag (overriding role tags, gated by
sts:TagSession). Exits non-zero on the first mismatch."""

import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def expect(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def await_converged():
    """Wait until every replica applied the newest IAM change."""
    url = os.environ["AWS_ENDPOINT_URL"] + "/_iamstorm/propagation"
    truth = json.load(urllib.request.urlopen(url))
    done_ms = max(truth["versions"][-1]["applied_at"])
    if done_ms > truth["elapsed_ms"]:
        time.sleep((done_ms - truth["elapsed_ms"] + 1) / 1000)


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None, None


def s3_for(creds, region):
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return session.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))


def main():
    session = boto3.session.Session()
    region = session.region_name
    sts, iam = session.client("sts"), session.client("iam")
    s3 = session.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="k", Body=b"v")

    # Session policy: the role may read and write; the session only read.
    role = iam.create_role(
        RoleName="rw",
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
    )["Role"]
    iam.put_role_policy(RoleName="rw", PolicyName="rw", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/*"}))
    await_converged()
    full = s3_for(sts.assume_role(RoleArn=role["Arn"], RoleSessionName="full")["Credentials"], region)
    full.put_object(Bucket="data", Key="by-role", Body=b"x")
    expect(True, "the role itself may PutObject")
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="narrow", Policy=doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    expect(0 < out["PackedPolicySize"] <= 100, "PackedPolicySize reported")
    narrow = s3_for(out["Credentials"], region)
    expect(narrow.get_object(Bucket="data", Key="k")["Body"].read() == b"v", "the session may GetObject")
    code, message = error_code(lambda: narrow.put_object(Bucket="data", Key="by-session", Body=b"x"))
    expect(code == "AccessDenied", "the session may not PutObject")
    expect(message.endswith("because no session policy allows the s3:PutObject action"), "message names the session policy")
    code, _ = error_code(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="big", Policy=doc(
        {"Sid": "A" * 2100, "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})))
    expect(code == "PackedPolicyTooLarge", "an oversized session policy is PackedPolicyTooLarge")
    code, _ = error_code(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=7200))
    expect(code == "ValidationError", "DurationSeconds above MaxSessionDuration (3600) is a ValidationError")

    # ExternalId.
    partner = iam.create_role(
        RoleName="partner",
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
                                      "Condition": {"StringEquals": {"sts:ExternalId": "ext-7"}}}),
    )["Role"]
    await_converged()
    ok = sts.assume_role(RoleArn=partner["Arn"], RoleSessionName="pp", ExternalId="ext-7")
    expect(ok["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/partner/pp", "the right ExternalId is trusted")
    code, _ = error_code(lambda: sts.assume_role(RoleArn=partner["Arn"], RoleSessionName="pp", ExternalId="ext-8"))
    expect(code == "AccessDenied", "a wrong ExternalId is denied")
    code, _ = error_code(lambda: sts.assume_role(RoleArn=partner["Arn"], RoleSessionName="pp"))
    expect(code == "AccessDenied", "a missing ExternalId is denied")

    # Session tags.
    iam.create_role(
        RoleName="abac",
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": ["sts:AssumeRole", "sts:TagSession"]}),
        Tags=[{"Key": "team", "Value": "red"}],
    )
    iam.put_role_policy(RoleName="abac", PolicyName="blue", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}))
    await_converged()
    abac = f"arn:aws:iam::{ACCOUNT}:role/abac"
    red = s3_for(sts.assume_role(RoleArn=abac, RoleSessionName="red")["Credentials"], region)
    code, _ = error_code(lambda: red.get_object(Bucket="data", Key="k"))
    expect(code == "AccessDenied", "role tag team=red does not match")
    blue = s3_for(sts.assume_role(RoleArn=abac, RoleSessionName="blue",
                                  Tags=[{"Key": "team", "Value": "blue"}])["Credentials"], region)
    expect(blue.get_object(Bucket="data", Key="k")["Body"].read() == b"v", "session tag team=blue overrides the role tag")
    code, message = error_code(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tt",
                                                        Tags=[{"Key": "team", "Value": "blue"}]))
    expect(code == "AccessDenied" and "sts:TagSession" in message, "tags need sts:TagSession in the trust policy")
    print("iam sts boto3: all checks passed")


if __name__ == "__main__":
    main()
