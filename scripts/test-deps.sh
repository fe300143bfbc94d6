#!/usr/bin/env bash
# What the test suite needs from the system, on Debian 12: run as root (sudo). Safe to run again.
# - python3-venv (Debian's python3 refuses `pip install` outside a virtual environment)
# - ffmpeg, espeak-ng, sox: MP3 import and the prompts; kannel (+ kannel-extras for fakesmsc): the real SMS
#   gateway tests; chromium: the browser tests; postgresql: the store tests (and initdb for the fault tests)
# - a running PostgreSQL on 127.0.0.1:5432 with the loopback-only test role the suite uses by default
#   (callback_test / callback_test, allowed to create the per-test databases; a test credential, not a secret)
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test-deps.sh installs system packages: run it with sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-venv ffmpeg espeak-ng sox kannel kannel-extras chromium \
  postgresql postgresql-client >/dev/null

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  # Debian's package starts the cluster under systemd; without systemd (containers, CI) start it here.
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_admin -d postgres -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callback_test') THEN
    CREATE ROLE callback_test LOGIN CREATEDB PASSWORD 'callback_test';
  END IF; END \$\$;"
if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'callback_test'" | grep -q 1; then
  psql_admin -d postgres -c "CREATE DATABASE callback_test OWNER callback_test"
fi
echo "test dependencies ready (PostgreSQL on 127.0.0.1:5432, role callback_test)"
