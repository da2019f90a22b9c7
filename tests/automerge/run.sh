#!/usr/bin/env bash
# Interop test against the real Automerge: installs @automerge/automerge as pinned by
# package-lock.json (npm ci) into WORK_DIR/node_modules when it is missing or the lockfile
# changed, then runs interop.js against PIPE_PEER (tests/automerge/pipe_peer.cpp).
# Usage: run.sh WORK_DIR PIPE_PEER      (meson passes <build>/tests/automerge and the binary)
# Exits 77 (meson: skipped) when node or npm is missing; scripts/bootstrap.sh installs them.
# To re-record the golden vectors: NODE_PATH=WORK_DIR/node_modules node record_vectors.js
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
if [ ! -f "$work/node_modules/@automerge/automerge/package.json" ] ||
  ! cmp -s "$here/package-lock.json" "$work/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "run.sh: npm ci failed in $work (is the npm registry reachable?)" >&2; exit 1; }
fi

export NODE_PATH="$work/node_modules"
exec node "$here/interop.js" "$binary"
