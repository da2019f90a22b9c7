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

# shellcheck source=../support/npm_install.sh
source "$here/../support/npm_install.sh"
npm_install "$here" "$work" @automerge/automerge

export NODE_PATH="$work/node_modules"
exec node "$here/interop.js" "$binary"
