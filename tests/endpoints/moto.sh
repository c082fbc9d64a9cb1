#!/usr/bin/env bash
# `iamstorm run --target endpoint` against moto server, an AWS-compatible
# endpoint that is not an iamstorm double: setup through the SDK, instances
# on the default credential chain, what the endpoint lacks said at start,
# and the journaled timeline change restored at the end.
#
# Usage: tests/endpoints/moto.sh IAMSTORM_BINARY
# Installs moto[server] into a venv at $IAMSTORM_MOTO_VENV (default
# /var/tmp/iamstorm-moto-venv); traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${1:?usage: tests/endpoints/moto.sh IAMSTORM_BINARY}")"
venv="${IAMSTORM_MOTO_VENV:-/var/tmp/iamstorm-moto-venv}"
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]"
fi
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
work="$(mktemp -d)"
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do
  "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" >/dev/null 2>&1 && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; exit 1; }
  sleep 0.05
done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
unset AWS_PROFILE AWS_ENDPOINT_URL
set +e
"$bin" run tests/endpoints/moto-smoke.toml --endpoint-url "http://127.0.0.1:$port" \
  --out "$work/out" >"$work/stdout" 2>"$work/stderr"
code=$?
set -e
cat "$work/stderr"
fail() { echo "FAILED: $*" >&2; cat "$work/stdout" >&2; exit 1; }
[ "$code" -eq 0 ] || fail "exit $code"
grep -q "no iamstorm admin API" "$work/stderr" || fail "the missing admin API is not reported"
grep -q "restore: #1 delete-role-policy on role/app-role: restored" "$work/stderr" || fail "the change was not restored"
"$venv/bin/python" - "$work/out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["counts_by_class"]["ok"]
assert ok > 50, f"ok {ok}: {s['counts_by_class']}"
assert all(b["instance_id"].startswith("local-") for b in s["boots"]), s["boots"]
assert s["classifier"] is None, "no ground truth outside the double"
assert [r["result"] for r in s["restored"]] == ["restored"], s["restored"]
print(f"moto endpoint: {s['requests_total']} requests, {ok} ok, restored {len(s['restored'])}")
PY
# The role has its policy back.
"$venv/bin/python" - "$port" <<'PY'
import sys, boto3
iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
names = iam.list_role_policies(RoleName="app-role")["PolicyNames"]
assert names == ["read"], names
print("moto endpoint: app-role has its policy back")
PY
