#!/usr/bin/env bash
# Builds the shared-list page into OUT_DIR (index.html and app.js, the bundle), for
# `dagsync-peer serve --automerge HOST:PORT --web OUT_DIR`. Installs the packages pinned by
# package-lock.json (automerge-repo 2.5.6, @automerge/automerge 3.5.0, esbuild) into
# WORK_DIR/node_modules with npm ci when missing or when the lockfile changed, and bundles
# only when a source is newer than the bundle.
# Usage: build.sh WORK_DIR OUT_DIR      (e.g. build.sh build/web build/web/site)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
out=$2
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (scripts/bootstrap.sh installs nodejs and npm)" >&2; exit 77; }
done
mkdir -p "$work" "$out"
work=$(cd "$work" && pwd)
if [ ! -x "$work/node_modules/.bin/esbuild" ] ||
  ! cmp -s "$here/package-lock.json" "$work/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "build.sh: npm ci failed in $work (is the npm registry reachable?)" >&2; exit 1; }
fi
# esbuild resolves packages from the entry point's folder upwards: the sources are copied
# beside the install.
cp "$here/app.js" "$work/app.js"
sources=("$here/app.js" "$here/index.html" "$here/package-lock.json" "$here/build.sh")
stale=0
for source in "${sources[@]}"; do
  [ "$out/app.js" -nt "$source" ] && [ "$out/index.html" -nt "$source" ] || stale=1
done
if [ "$stale" = 1 ]; then
  "$work/node_modules/.bin/esbuild" "$work/app.js" --bundle --format=esm --target=es2022 \
    --platform=browser --minify --sourcemap --log-level=warning --outfile="$out/app.js"
  cp "$here/index.html" "$out/index.html"
  echo "build.sh: built $out ($(du -k "$out/app.js" | cut -f1) KiB of script)"
fi
