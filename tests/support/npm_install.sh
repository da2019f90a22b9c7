# Sourced by the interop tests' run.sh scripts (tests/node, tests/automerge,
# tests/automerge-repo): installs the npm packages that SOURCE_DIR's package-lock.json pins
# into WORK_DIR/node_modules (npm ci) when PACKAGE is missing there or the lockfile changed.
# Exits 77 (meson: skipped) when node or npm is missing; scripts/bootstrap.sh installs them.
#
#   npm_install SOURCE_DIR WORK_DIR PACKAGE
npm_install() {
  local source=$1 work=$2 package=$3 tool
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
      echo "run.sh: $tool not found; skipping (scripts/bootstrap.sh installs nodejs and npm)"
      exit 77
    fi
  done
  mkdir -p "$work"
  if [ ! -f "$work/node_modules/$package/package.json" ] ||
    ! cmp -s "$source/package-lock.json" "$work/package-lock.json"; then
    cp "$source/package.json" "$source/package-lock.json" "$work/"
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) ||
      { echo "run.sh: npm ci failed in $work (is the npm registry reachable?)" >&2; exit 1; }
  fi
}
