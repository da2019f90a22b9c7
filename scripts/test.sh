#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing Debian packages, then
#   1. builds with Meson (build/) and runs `meson test`;
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/);
#   3. each libFuzzer target for a short while (build-fuzz/, clang), seeded from tests/fuzz/corpus.
# Ends with one line: "tests: N passed, M failed".
#
#   scripts/test.sh                 # all three phases (what .ci/run does)
#   scripts/test.sh --quick         # phase 1 only
#   scripts/test.sh --sanitize      # phase 2 only
#   scripts/test.sh --fuzz [SECS]   # phase 3 only, SECS per target (default 15; hours for a long run)
# DAGSYNC_SEEDS / DAGSYNC_SIM_SEEDS override the randomised tests' seed counts.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
fuzz_seconds=${DAGSYNC_FUZZ_SECONDS:-15}
[ "$mode" = "--fuzz" ] && [ -n "${2:-}" ] && fuzz_seconds=$2
case "$mode" in all | --quick | --sanitize | --fuzz) ;; *) echo "usage: $0 [--quick|--sanitize|--fuzz [SECS]]" >&2; exit 2 ;; esac

bash scripts/bootstrap.sh --tests || exit 1
passed=0
failed=0

# Adds a meson test run's results to the totals: doctest cases one by one, other tests as one.
count_meson() {
  local counts
  counts=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.strip():
        continue
    t = json.loads(line)
    m = re.search(r"\[doctest\] test cases:\s*\d+\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", t.get("stdout", ""))
    if m:
        passed += int(m.group(1)); failed += int(m.group(2))
        if t["result"] not in ("OK", "SKIP") and int(m.group(2)) == 0:
            failed += 1  # crashed or timed out after the summary
    elif t["result"] == "OK":
        passed += 1
    elif t["result"] != "SKIP":
        failed += 1
print(passed, failed)
PY
)
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
}

run_suite() {
  local dir=$1
  shift
  echo "==> test suite in $dir"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  fi
  if ! meson compile -C "$dir" -j 2; then
    failed=$((failed + 1))
    return
  fi
  meson test -C "$dir" --verbose --num-processes 2
  count_meson "$dir"
}

run_fuzz() {
  echo "==> fuzzing, ${fuzz_seconds} s per target"
  local dir=build-fuzz
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
      -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link >"$dir.setup.log" 2>&1 ||
      { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  fi
  local targets
  targets=$(ls tests/fuzz/corpus)
  if ! ninja -C "$dir" -j 2 $(for t in $targets; do echo "tests/fuzz/$t"; done); then
    failed=$((failed + 1))
    return
  fi
  local work
  work=$(mktemp -d)
  for t in $targets; do
    cp -r "tests/fuzz/corpus/$t" "$work/$t"
    if "$dir/tests/fuzz/$t" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -artifact_prefix="$work/$t-" \
      "$work/$t" >"$work/$t.log" 2>&1; then
      echo "fuzz: $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$work/$t.log" | tail -n 1), no findings"
      passed=$((passed + 1))
    else
      echo "fuzz: $t: FAILED"
      tail -n 40 "$work/$t.log"
      ls "$work"/"$t"-* 2>/dev/null | sed 's/^/fuzz: reproducer: /'
      failed=$((failed + 1))
    fi
  done
  rm -rf "$work"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
case "$mode" in
  --quick) run_suite build ;;
  --sanitize) run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized ;;
  --fuzz) run_fuzz ;;
  all)
    run_suite build
    run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
    run_fuzz
    ;;
esac

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
