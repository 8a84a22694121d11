#!/usr/bin/env bash
# Installs what building and testing SmartQueue needs on Debian 12, only what is missing.
# Idempotent: a second run does nothing and takes about a second.
#   bash scripts/setup.sh          everything the tests need (GUI stacks, WebDriver, PostgreSQL)
#   bash scripts/setup.sh server   only what building and running the server needs
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-all}"

PACKAGES=(build-essential pkg-config file)
[ "$MODE" = server ] || PACKAGES+=(
  # Tauri (desktop) and Dioxus desktop (mobile, display-app): WebKitGTK 4.1 + GTK 3
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
  # headless GUI runs, screenshots, keyring on a box without a desktop session
  xvfb xauth x11-utils xdotool imagemagick openbox keyutils fonts-dejavu-core
  # the console's end-to-end test drives the real window through WebKit's WebDriver
  webkit2gtk-driver
  # the server's pages are checked in a real browser (tests/tests/page_headers.rs)
  chromium
  # the display's spoken announcements (speech engine; aplay plays them where there is a sound card)
  espeak-ng alsa-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
[ "$MODE" = server ] && exit 0
# The tests run every store test and the server's integration tests on PostgreSQL as well.
bash scripts/setup-postgres.sh
# tauri-driver bridges WebDriver to the Tauri window (desktop/tests/window.rs).
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0 >/dev/null 2>&1
fi
