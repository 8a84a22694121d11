#!/usr/bin/env bash
# Runs SmartQueue: builds the server and starts it on an embedded SQLite file (./smartqueue.db)
# with the demo tenant "demo-bank", printing the URL and the logins.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server
cargo build --release -p smartqueue-server
exec "${CARGO_TARGET_DIR:-target}/release/smartqueue-server" serve --demo --addr "${SMARTQUEUE_ADDR:-127.0.0.1:8000}"
