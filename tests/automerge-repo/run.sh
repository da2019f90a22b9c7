#!/usr/bin/env bash
# Interop test against real automerge-repo clients: installs the packages pinned by
# package-lock.json (@automerge/automerge 3.5.0, automerge-repo and its WebSocket adapter
# 2.5.6; npm ci) into WORK_DIR/node_modules when missing or when the lockfile changed, then
# runs the doctest cases that start the scripts here against our server.
# Usage: run.sh WORK_DIR TEST_BINARY      (meson passes <build>/tests/automerge-repo and the binary)
# Exits 77 (meson: skipped) when node or npm is missing; scripts/bootstrap.sh --tests installs them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
binary=$2

# shellcheck source=../support/npm_install.sh
source "$here/../support/npm_install.sh"
npm_install "$here" "$work" @automerge/automerge-repo

# ES modules resolve packages from the script's own folder upwards (not through NODE_PATH,
# and through a symlink's target), so the scripts are copied beside the install.
cp "$here/interop.mjs" "$here/sync.mjs" "$work/"
export DAGSYNC_AUTOMERGE_REPO_DIR="$work"
# The interop case (handshake, unavailable, ephemeral) and the sync case (two clients edit
# and converge; a restarted server serves every edit to a third).
exec "$binary" --no-skip --test-case='automerge-repo: interop*,automerge-repo: sync' --duration=false
