#!/usr/bin/env bash
# Installs what pgshield's demo and tests need on a fresh Debian machine:
# PostgreSQL's server and client programs (initdb, pg_ctl, psql, pgbench) and
# the Go modules. It changes nothing when they are already there.
set -euo pipefail

have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1
}

need=()
have_initdb || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-client)
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "ensure-deps: installing ${need[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts a system cluster on install; pgshield runs its own.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    $sudo service postgresql stop >/dev/null 2>&1 || true
  fi
fi
go mod download
