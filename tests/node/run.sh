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

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found; skipping (scripts/bootstrap.sh installs nodejs and npm)"
    exit 77
  fi
done

mkdir -p "$work"
if [ ! -f "$work/node_modules/ws/package.json" ] || ! cmp -s "$here/package-lock.json" "$work/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "run.sh: npm ci failed in $work (is the npm registry reachable?)" >&2; exit 1; }
fi

# ws_client.js stays in the source tree; require('ws') finds the install through NODE_PATH.
export NODE_PATH="$work/node_modules"
export DAGSYNC_WS_NODE_SCRIPT="$here/ws_client.js"
exec "$binary" --no-skip --test-case='ws: interop*,wss: interop*' --duration=false
