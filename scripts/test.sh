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
  "${keyring[@]}" cargo nextest run --workspace --no-fail-fast
else
  "${keyring[@]}" cargo test --workspace --no-fail-fast
fi
