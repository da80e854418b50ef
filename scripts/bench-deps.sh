#!/usr/bin/env bash
# Installs what `make bench` needs besides the Go modules: PostgreSQL's server
# and client programs (initdb, pg_ctl, pgbench), PgBouncer and HAProxy, with
# apt-get. It changes nothing when they are already there.
set -euo pipefail

have_initdb() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1
}

need=()
have_initdb || need+=(postgresql)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-client)
command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || need+=(pgbouncer)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "bench-deps: installing ${need[*]} with apt-get" >&2
  timeout 300 $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq \
    -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null
  # Debian starts system services on install; the benchmark runs its own.
  for svc in postgresql pgbouncer haproxy; do
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi
