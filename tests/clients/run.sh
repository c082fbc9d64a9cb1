#!/usr/bin/env bash
# Runs every client script in this directory (*.py with the venv's python,
# *.sh with bash) against its own fresh `iamstorm sim`, with the exports the
# sim prints in the environment and `aws` bound to the venv's AWS CLI.
#
# A script may ask for extra `iamstorm sim` arguments with a header line:
#   # sim-args: --scenario tests/data/scenarios/fleet.toml
#
# Usage: tests/clients/run.sh IAMSTORM_BINARY [SCRIPT...]
# Creates (or reuses) a venv at $IAMSTORM_VENV (default /var/tmp/iamstorm-venv)
# with boto3 and awscli from PyPI. Exits non-zero on the first failing script.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:?usage: tests/clients/run.sh IAMSTORM_BINARY [SCRIPT...]}"
shift
venv="${IAMSTORM_VENV:-/var/tmp/iamstorm-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check boto3 awscli

scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
  for f in tests/clients/*.py tests/clients/*.sh; do
    [ "$f" = tests/clients/run.sh ] || scripts+=("$f")
  done
fi
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
work="$(mktemp -d)"
sim_pid=""
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"' EXIT

for script in "${scripts[@]}"; do
  echo "-- $script"
  # shellcheck disable=SC2207
  extra=($(sed -n 's/^# sim-args: //p' "$script" | head -1))
  "$bin" sim --listen 127.0.0.1:0 "${extra[@]}" >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 200); do
    grep -q '^export AWS_DEFAULT_REGION' "$work/sim.out" && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
    sleep 0.05
  done
  (
    eval "$(grep '^export ' "$work/sim.out")"
    export IAMSTORM_SIM_OUT="$work/sim.out" PATH="$venv/bin:$PATH"
    cd "$work"
    case "$script" in
      *.py) "$venv/bin/python" "$OLDPWD/$script" ;;
      *.sh) bash "$OLDPWD/$script" ;;
    esac
  ) || { echo "FAILED: $script (sim stderr follows)" >&2; cat "$work/sim.err" >&2; exit 1; }
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=""
done
echo "client scripts: ${#scripts[@]} passed"
