#!/usr/bin/env bash
# Runs every SmartQueue test (unit, property, integration, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The desktop console keeps its session in the OS keyring; on a headless box the kernel keyring
# (keyutils) needs a session keyring, which `keyctl session -` provides.
keyring=()
command -v keyctl >/dev/null 2>&1 && keyring=(keyctl session -)
if command -v cargo-nextest >/dev/null 2>&1; then
  run=(cargo nextest run --no-fail-fast)
  # The same build as the first run (a `-p` build would resolve features anew and recompile).
  e2e=(--workspace -E 'package(smartqueue-tests)')
else
  run=(cargo test --no-fail-fast)
  e2e=(-p smartqueue-tests)
fi
# Everything on SQLite (store conformance on both backends), then the server's end-to-end tests
# again on PostgreSQL (a fresh database per test, tests/src/pg.rs).
status=0
"${keyring[@]}" "${run[@]}" --workspace || status=$?
echo "== end-to-end tests on PostgreSQL"
SMARTQUEUE_TEST_BACKEND=postgres "${run[@]}" "${e2e[@]}" || status=$?
exit $status
