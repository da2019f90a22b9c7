#!/usr/bin/env bash
# The shared-list page in two headless Chromium pages, synced through dagsync-peer: builds
# the page (examples/web/build.sh: npm ci and esbuild, each only when its inputs changed),
# installs playwright-core as package-lock.json pins it (npm ci when the lockfile changed;
# it uses Debian's chromium and downloads no browser), then runs browser.mjs, which starts
# the server, drives both pages and stops everything itself.
# Usage: run.sh WORK_DIR DAGSYNC_PEER      (meson passes <build>/tests/browser and the binary)
# Exits 77 (meson: skipped) when node, npm or chromium is missing; scripts/bootstrap.sh
# --tests installs them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
peer=$2
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1

chromium=${DAGSYNC_CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
  echo "run.sh: chromium not found; skipping (scripts/bootstrap.sh --tests installs it)"
  exit 77
fi

# shellcheck source=../support/npm_install.sh
source "$here/../support/npm_install.sh"
npm_install "$here" "$work" playwright-core
bash "$here/../../examples/web/build.sh" "$work/web" "$work/site"

# ES modules resolve packages from the script's own folder upwards: copied beside the install.
cp "$here/browser.mjs" "$work/"
exec node "$work/browser.mjs" "$peer" "$work/site" "$chromium"
