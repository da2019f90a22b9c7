#!/usr/bin/env bash
# Runs the main demo: installs missing Debian packages, builds with Meson, then runs a real
# scenario with example peers: a server, two clients editing offline, sync over TCP and
# WebSocket, convergence, and a restart that transfers no changes (examples/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build -j 2 dagsync-peer >/dev/null
exec bash examples/demo.sh build/examples/dagsync-peer
