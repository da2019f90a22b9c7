#!/usr/bin/env bash
# Runs the main demo: installs missing Debian packages, builds with Meson, and runs two
# peers with diverged histories syncing through the protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build -j 2 dagsync-inprocess-demo >/dev/null
exec ./build/examples/dagsync-inprocess-demo
