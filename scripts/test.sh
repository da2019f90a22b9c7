#!/usr/bin/env bash
# Runs the whole test suite: installs missing Debian packages, builds with Meson, runs
# `meson test`, and ends with one summary line.
#   scripts/test.sh              # the normal build, in build/
#   scripts/test.sh --sanitize   # AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
# DAGSYNC_SEEDS=N overrides the randomised test's seed count (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."

builddir=build
setup_args=()
if [ "${1:-}" = "--sanitize" ]; then
  builddir=build-asan
  setup_args=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

bash scripts/bootstrap.sh
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "${setup_args[@]}"
fi
meson compile -C "$builddir" -j 2

status=0
meson test -C "$builddir" --verbose --num-processes 2 || status=$?

# One closing line: doctest cases counted one by one, every other test as one.
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.strip():
        continue
    t = json.loads(line)
    m = re.search(r"\[doctest\] test cases:\s*\d+\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", t.get("stdout", ""))
    if m:
        passed += int(m.group(1)); failed += int(m.group(2))
        if t["result"] != "OK" and int(m.group(2)) == 0:
            failed += 1  # crashed or timed out after the summary
    elif t["result"] == "OK":
        passed += 1
    else:
        failed += 1
print(f"tests: {passed} passed, {failed} failed")
PY
exit $status
