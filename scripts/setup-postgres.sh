#!/usr/bin/env bash
# PostgreSQL for the tests. Uses the server at $SMARTQUEUE_TEST_POSTGRES (default
# postgres://postgres@127.0.0.1:5432) when it answers; otherwise installs Debian's PostgreSQL,
# lets the `postgres` role in without a password on loopback only, and starts it.
set -euo pipefail
URL="${SMARTQUEUE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
ready() { psql "$URL/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; }
command -v psql >/dev/null 2>&1 && ready && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "setup: installing postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
pg_lsclusters -h | grep -q "^$VERSION main" || $SUDO pg_createcluster "$VERSION" main >/dev/null
HBA="/etc/postgresql/$VERSION/main/pg_hba.conf"
if ! $SUDO grep -q "smartqueue tests" "$HBA"; then
  $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust # smartqueue tests: loopback only' "$HBA"
fi
$SUDO pg_ctlcluster "$VERSION" main start 2>/dev/null || $SUDO pg_ctlcluster "$VERSION" main reload
for _ in $(seq 1 50); do
  ready && { echo "setup: PostgreSQL $VERSION ready"; exit 0; }
  sleep 0.2
done
echo "setup: PostgreSQL did not answer at $URL" >&2
exit 1
