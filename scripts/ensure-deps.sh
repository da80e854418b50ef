#!/usr/bin/env bash
# Installs what pgshield's demo and tests need on a fresh Debian machine:
# PostgreSQL's server and client programs (initdb, pg_ctl, psql, pgbench) and
# the Go modules. Each argument names one more program whose Debian package
# has the same name (`make bench` passes pgbouncer and haproxy). It changes
# nothing when they are already there.
set -euo pipefail

have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1
}

need=()
have_initdb || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-client)
for prog in "$@"; do
  command -v "$prog" >/dev/null 2>&1 || [[ -x /usr/sbin/$prog ]] || need+=("$prog")
done
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "ensure-deps: installing ${need[*]} with apt-get" >&2
  timeout 300 $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq \
    -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null
  # Debian starts system services on install; pgshield and the benchmark
  # run their own.
  for svc in postgresql "$@"; do
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi
go mod download
