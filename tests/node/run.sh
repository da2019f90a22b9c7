#!/usr/bin/env bash
# Interop test against a WebSocket client we did not write: installs the npm `ws` package
# pinned by package-lock.json (npm ci) into WORK_DIR/node_modules when it is missing or the
# lockfile changed, then runs the doctest case that starts ws_client.js against our server.
# Usage: run.sh WORK_DIR TEST_BINARY      (meson passes <build>/tests/node and the binary)
# Exits 77 (meson: skipped) when node or npm is missing; scripts/bootstrap.sh installs them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
binary=$2

# shellcheck source=../support/npm_install.sh
source "$here/../support/npm_install.sh"
npm_install "$here" "$work" ws

# ws_client.js stays in the source tree; require('ws') finds the install through NODE_PATH.
export NODE_PATH="$work/node_modules"
export DAGSYNC_WS_NODE_SCRIPT="$here/ws_client.js"
exec "$binary" --no-skip --test-case='ws: interop*,wss: interop*' --duration=false
