#!/usr/bin/env bash
# pgshield's benchmark: `make bench-quick` runs `bench/run.sh` (under 3
# minutes), `make bench` runs `bench/run.sh -full` (about 11 minutes).
# Further flags go to benchrun (bench/run.sh -h lists them). Results land in
# bench/results/<date>-<mode>.{md,json,png}.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-deps.sh pgbouncer haproxy
# Thousands of idle TLS clients need descriptors (benchrun raises its own
# limit too; this covers the tools it starts).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout 300 go build -o "$tmp/benchrun" ./bench/cmd/benchrun
timeout 300 go build -o "$tmp/pgshield" ./cmd/pgshield
# Not exec: the trap removes the binaries afterwards. benchrun stops every
# process it started on Ctrl-C, on failure and at its own -timeout.
"$tmp/benchrun" -pgshield "$tmp/pgshield" -repo . "$@"
