#!/usr/bin/env bash
# The end-to-end demo: a server, two clients that edit offline, sync over TCP and WebSocket,
# converge, and a client restart that transfers no changes. Exits 0 only if all of that held.
# Usage: demo.sh PATH/TO/dagsync-peer
set -euo pipefail
peer=${1:?usage: demo.sh PATH/TO/dagsync-peer}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'demo failed: %s\n' "$*" >&2; exit 1; }
heads() { "$peer" local --store "$work/$1.db" --peer-id "$1" --doc notes --list | sed -n '1s/.*heads //p'; }

say "starting a server (TCP and WebSocket, SQLite store)"
"$peer" serve --tcp 127.0.0.1:0 --ws 127.0.0.1:0 --store "$work/server.db" --peer-id server >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q 'ws://' "$work/server.log" 2>/dev/null && break; sleep 0.05; done
tcp=$(grep -o 'tcp://[^ ]*' "$work/server.log") || fail "server did not start: $(cat "$work/server.log")"
ws=$(grep -o 'ws://[^ ]*' "$work/server.log")
echo "server listens on $tcp and $ws"

say "alice and bob edit the same document while offline"
"$peer" local --store "$work/alice.db" --peer-id alice --doc notes --create \
  --add "alice: agenda for monday" --add "alice: book the room" --add "alice: invite the team"
"$peer" local --store "$work/bob.db" --peer-id bob --doc notes --create \
  --add "bob: order lunch" --add "bob: print the slides"

say "alice syncs over TCP, bob over WebSocket, then alice again"
printf 'alice: '; "$peer" connect "$tcp" --store "$work/alice.db" --peer-id alice --doc notes sync
printf 'bob:   '; "$peer" connect "$ws" --store "$work/bob.db" --peer-id bob --doc notes sync
printf 'alice: '; "$peer" connect "$tcp" --store "$work/alice.db" --peer-id alice --doc notes sync

say "the merged document, as alice has it"
"$peer" local --store "$work/alice.db" --peer-id alice --doc notes --list
a=$(heads alice); b=$(heads bob)
echo "heads: alice $a, bob $b"
[ "$a" = "$b" ] || fail "alice and bob disagree"

say "alice restarts from her store: the saved sync state means only heads travel"
out=$("$peer" connect "$tcp" --store "$work/alice.db" --peer-id alice --doc notes status)
echo "alice: $out"
echo "$out" | grep -q 'changes 0 sent / 0 received' || fail "the restart transferred changes"

say "stopping the server"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
grep -E 'connected|disconnected|stopped' "$work/server.log" | tail -n 3
echo
echo "demo complete: all peers hold heads $a"
