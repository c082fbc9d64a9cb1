"""boto3 against `iamstorm sim` fault injection: an S3 error injected over the
admin API reaches boto3 with that exact code; injected latency is measured;
clearing the faults restores service; the double's counters match what this
script did. Run by tests/clients/run.sh with the sim's exports."""

import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ADMIN = os.environ["AWS_ENDPOINT_URL"] + "/_iamstorm/"
LATENCY_MS = 300


def expect(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ADMIN + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return resp.status, json.load(resp)


# No retries: each call is exactly one request, so the counters can be checked.
s3 = boto3.client("s3", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
s3.create_bucket(Bucket="faults")
s3.put_object(Bucket="faults", Key="k", Body=b"v")

status, added = admin("POST", "faults", {
    "kind": "error", "service": "s3", "action": "GetObject",
    "status": 503, "code": "SlowDown",
})
expect(status == 201 and len(added["ids"]) == 1, "an S3 error rule is accepted")
try:
    s3.get_object(Bucket="faults", Key="k")
    expect(False, "GetObject fails while the rule is active")
except ClientError as e:
    err = e.response["Error"]
    expect(err["Code"] == "SlowDown", f"boto3 sees the injected code (got {err['Code']})")
    expect(e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, "with the injected status")
    expect(err["Message"] == "Please reduce your request rate.", "and S3's message")
    rid = e.response["ResponseMetadata"]["RequestId"]
    _, truth = admin("GET", f"requests/{rid}")
    expect(truth["verdict"]["kind"] == "fault", "the ground truth says it was injected")
expect(s3.list_objects_v2(Bucket="faults")["KeyCount"] == 1, "other S3 APIs are not affected")

_, listed = admin("GET", "faults")
expect(listed["faults"][0]["fired"] == 1, "the rule counts how often it fired")
admin("DELETE", "faults")
expect(s3.get_object(Bucket="faults", Key="k")["Body"].read() == b"v", "cleared: GetObject works again")

admin("POST", "faults", {"kind": "latency", "service": "s3", "action": "HeadObject",
                         "delay": {"model": "fixed", "delay_ms": LATENCY_MS}})
t = time.monotonic()
s3.head_object(Bucket="faults", Key="k")
took_ms = (time.monotonic() - t) * 1000
expect(took_ms >= LATENCY_MS, f"HeadObject took {took_ms:.0f} ms with {LATENCY_MS} ms injected")
admin("DELETE", "faults")
t = time.monotonic()
s3.head_object(Bucket="faults", Key="k")
took_ms = (time.monotonic() - t) * 1000
expect(took_ms < LATENCY_MS, f"without the rule HeadObject took {took_ms:.0f} ms")

_, counters = admin("GET", "counters")
rows = {(r["service"], r["api"]): r for r in counters["counters"]}
# S3 rows are named by IAM action, as the ground truth names them
# (HeadObject is s3:GetObject).
get = rows[("s3", "GetObject")]
expect(get["fault"] == 1 and get["ok"] == 3, f"GetObject+HeadObject: 1 fault, 3 ok (got {get})")
expect(rows[("s3", "PutObject")]["ok"] == 1, "one PutObject")
expect(rows[("s3", "CreateBucket")]["ok"] == 1, "one CreateBucket")
expect(rows[("s3", "ListBucket")]["ok"] == 1, "one ListObjectsV2")
total = sum(r[k] for r in rows.values()
            for k in ("ok", "denied", "throttled", "auth_failed", "error", "fault"))
expect(total == 7, f"seven S3 requests counted in all (got {total})")
