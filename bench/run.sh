#!/usr/bin/env bash
# The benchmark command: builds dagsync-bench (release, build-bench/), installs the pinned
# Node peers (bench/peers, npm ci), runs every scenario on dagsync and on Automerge, Yjs and
# Loro with the same shapes, and prints the side-by-side table with each target and whether
# this run met it. Raw JSON lines: build-bench/bench-results.jsonl; markdown tables:
# build-bench/bench-results.md.
#
#   bash bench/run.sh            # everything (about 10 minutes on 2 cores, plus Automerge's
#                                # realtime round at N = 10^6: loading 10^6 changes into two
#                                # documents takes minutes by itself)
#   bash bench/run.sh --quick    # smaller shapes, for a smoke test
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/bootstrap.sh --bench || exit 1
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench --buildtype=release -Dtests=false >/dev/null || exit 1
fi
ninja -C build-bench -j 2 bench/dagsync-bench examples/dagsync-peer >/dev/null || { echo "bench: build failed" >&2; exit 1; }
if [ ! -d bench/peers/node_modules ] || [ bench/peers/package-lock.json -nt bench/peers/node_modules ]; then
  (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi

bench=build-bench/bench/dagsync-bench
out=build-bench/bench-results.jsonl
: >"$out"
failed=0
run() {  # run <label> <command...>: appends its JSON lines, notes a failure
  echo "bench: $1" >&2
  shift
  if ! "$@" >>"$out" 2>>build-bench/bench.log; then
    echo "bench: FAILED: $*" >&2
    failed=$((failed + 1))
  fi
}

# scenario shape N D A (P is 64 throughout)
shapes=(
  "a linear 100000 10 3"
  "a linear 10000 100 3"
  "a linear 100000 1000 3"
  "a linear 100000 10 1000"
  "a linear 100000 10 10000"
  "a branchy 10000 100 8"
  "a branchy 100000 100 64"
  "b linear 100000 10 3"
  "b linear 10000 100 3"
  "b linear 100000 10 1000"
  "b branchy 10000 100 8"
)
((quick)) && shapes=("a linear 10000 10 3" "a linear 10000 100 3" "b linear 10000 10 3" "a branchy 2000 50 8")

for s in "${shapes[@]}"; do
  read -r sc shape n d a <<<"$s"
  args=(--scenario "$sc" --shape "$shape" --N "$n" --D "$d" --A "$a" --P 64)
  run "dagsync $s" "$bench" sync "${args[@]}"
  for impl in automerge yjs loro; do
    run "$impl $s" node bench/peers/run.mjs --quiet --impl "$impl" "${args[@]}"
  done
done

rounds=2000
((quick)) && rounds=200
for scheme in tcp ws; do
  for k in 1 4; do run "realtime $scheme k=$k" "$bench" realtime --scheme "$scheme" --k "$k" --rounds "$rounds"; done
done
# (c) again with the server alone in its process: one process per client.
run "realtime tcp k=4, a process per client" "$bench" fanout --k 4 --N 0 --workers 4 --clients repo --rounds "$rounds" --warmup 200
# (g) fan-out: one commit to a document of N = 10^5 changes reaching k TCP clients in other
# processes; server CPU per delivered change, delivery p50/p99.
for k in 100 $((quick ? 300 : 1000)); do
  run "fan-out k=$k" "$bench" fanout --k "$k" --N $((quick ? 10000 : 100000)) --rounds $((quick ? 20 : 100))
done
# (f) history independence: a realtime round (sans-I/O and over TCP loopback), a saved-state
# sync (D=1) and a first sync (D=10, A=3) at N = 10^3 ... 10^6, each with its ratio to
# N = 10^3 and, at 10^6, its target.
# Automerge's realtime round on the same
# shapes (fewer rounds where each takes long: about N/10 us per round in JS).
if ((quick)); then
  run "history" "$bench" history --N 1000,10000,100000 --rounds 50 --R 3
  for n in 1000 10000; do
    run "automerge realtime N=$n" node bench/peers/run.mjs --quiet --impl automerge --scenario realtime --N "$n" --rounds 20 --warmup 5
  done
else
  run "history" "$bench" history --N 1000,10000,100000,1000000 --rounds 200 --R 5
  for nr in "1000 200 20" "10000 200 20" "100000 50 5" "1000000 2 1"; do
    read -r n r w <<<"$nr"
    run "automerge realtime N=$n" node bench/peers/run.mjs --quiet --impl automerge --scenario realtime --N "$n" --rounds "$r" --warmup "$w"
  done
fi
run "ingest" "$bench" ingest --N $((quick ? 100000 : 1000000)) --P 64
# (h) many clients and documents: C clients with their own documents (the default share
# policy against sharing everything, the old default), and the sync-state writes at
# disconnect with M documents.
for c in 100 1000 $((quick ? 2000 : 10000)); do run "clients C=$c" "$bench" clients --C "$c"; done
run "clients C=100, share everything" "$bench" clients --C 100 --share everything
run "disconnect" "$bench" disconnect --M $((quick ? 10000 : 100000))
for m in 1000 10000 $((quick ? 10000 : 100000)); do run "startup M=$m" "$bench" startup --M "$m"; done
# (h) a reconnect costs what changed (0% and 1% of M documents changed while apart), and one
# server holding C idle connections (its RSS per connection).
for m in 1000 10000 $((quick ? 10000 : 100000)); do
  for pct in 0 1; do run "reconnect M=$m $pct%" "$bench" reconnect --M "$m" --changed "$pct"; done
done
run "idle connections" "$bench" idle --C $((quick ? 2000 : 10000))
# automerge-repo 2.5.6 clients (bench/peers/amrepo.mjs) against dagsync's automerge-repo
# server (dagsync-peer serve --automerge, SQLite) and a Node server built the way
# automerge-repo-sync-server is (issue 14): a fresh client loading 1,000 documents of 100
# changes, one change fanned out to 100 clients; then (h) on the Node server and clients
# (dagsync's own figures are the startup, reconnect and idle rows above).
amrepo=(node bench/peers/amrepo.mjs --quiet --peer build-bench/examples/dagsync-peer)
for server in dagsync node; do
  run "automerge-repo load, $server server" "${amrepo[@]}" --server "$server" --workload load --docs $((quick ? 200 : 1000)) --changes 100
  run "automerge-repo fan-out, $server server" "${amrepo[@]}" --server "$server" --workload fanout --clients 100 --rounds $((quick ? 10 : 50))
done
# M = 1,000 only: at M = 10^4 the Node client's reconnect alone takes many minutes
# (docs/performance.md; run it by hand with --M 10000). dagsync's server with the same
# automerge-repo clients beside it.
for server in node dagsync; do
  run "automerge-repo many M=1000, $server server" "${amrepo[@]}" --server "$server" --workload many --M 1000
  run "automerge-repo idle, $server server" "${amrepo[@]}" --server "$server" --workload idle --clients $((quick ? 200 : 1000))
done
run "backlog" "$bench" backlog --MB $((quick ? 10 : 100))
# (h) two servers on one PostgreSQL (started by the bench in a temporary directory, as the
# tests start theirs): delivery from a client of one to a client of the other.
run "postgres" "$bench" postgres --rounds $((quick ? 100 : 300))

node bench/peers/targets.mjs <"$out" >"$out.tmp" && mv "$out.tmp" "$out"
node bench/peers/table.mjs --markdown <"$out" >build-bench/bench-results.md
node bench/peers/table.mjs <"$out"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "raw: $out; markdown: build-bench/bench-results.md; log: build-bench/bench.log"
misses=$(grep -c '"target_ok":false' "$out")
echo "bench: $failed runs failed, $misses targets missed"
[ "$failed" -eq 0 ]
