#!/usr/bin/env bash
# The end-to-end demo: a TLS server with access control, two clients that edit offline, sync
# over TLS (TCP and WebSocket), converge, a client restart that transfers no changes, a
# reader whose write is refused and a wrong token refused at once. Exits 0 only if all held.
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

say "making a test CA and a certificate for 127.0.0.1 (openssl)"
ssl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed"; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
ssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$work/ca.pem" -days 1 -subj "/CN=demo CA"
ssl req "${ec[@]}" -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=127.0.0.1"
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/san.ext"
ssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -out "$work/server.pem" -days 1 -extfile "$work/san.ext"

say "who may do what: alice and bob write, carol only reads (tokens stored as hashes)"
{
  echo "$("$peer" hash-token alice-token) alice *=write"
  echo "$("$peer" hash-token bob-token) bob *=write"
  echo "$("$peer" hash-token carol-token) carol notes=read"
} >"$work/users.auth"
cut -c1-16,65- "$work/users.auth" | sed 's/^/  /; s/ / ... /'

say "starting a server (TLS over TCP and WebSocket, SQLite store)"
"$peer" serve --tcp 127.0.0.1:0 --ws 127.0.0.1:0 --store "$work/server.db" --peer-id server \
  --auth "$work/users.auth" --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q 'documents\? in ' "$work/server.log" 2>/dev/null && break; sleep 0.05; done
tcp=$(grep -o 'tls://[^ ]*' "$work/server.log" | head -n 1) || fail "server did not start: $(cat "$work/server.log")"
ws=$(grep -o 'wss://[^ ]*' "$work/server.log" | head -n 1)
echo "server listens on $tcp and $ws"
tls=(--ca "$work/ca.pem")

say "alice and bob edit the same document while offline"
"$peer" local --store "$work/alice.db" --peer-id alice --doc notes --create \
  --add "alice: agenda for monday" --add "alice: book the room" --add "alice: invite the team"
"$peer" local --store "$work/bob.db" --peer-id bob --doc notes --create \
  --add "bob: order lunch" --add "bob: print the slides"

say "alice syncs over TCP, bob over WebSocket, then alice again"
alice() { "$peer" connect "$tcp" "${tls[@]}" --token alice-token --store "$work/alice.db" --peer-id alice --doc notes "$@"; }
bob() { "$peer" connect "$ws" "${tls[@]}" --token bob-token --store "$work/bob.db" --peer-id bob --doc notes "$@"; }
printf 'alice: '; alice sync
printf 'bob:   '; bob sync
printf 'alice: '; alice sync

say "the merged document, as alice has it"
"$peer" local --store "$work/alice.db" --peer-id alice --doc notes --list
a=$(heads alice); b=$(heads bob)
echo "heads: alice $a, bob $b"
[ "$a" = "$b" ] || fail "alice and bob disagree"

say "alice restarts from her store: the saved sync state means only heads travel"
out=$(alice status)
echo "alice: $out"
echo "$out" | grep -q 'changes 0 sent / 0 received' || fail "the restart transferred changes"

say "carol reads the document, then tries to write: refused, her change stays with her"
carol() { "$peer" connect "$tcp" "${tls[@]}" --token carol-token --store "$work/carol.db" --peer-id carol --doc notes "$@"; }
printf 'carol: '; carol sync
"$peer" local --store "$work/carol.db" --peer-id carol --doc notes --list | head -n 1
set +e
carol add "carol: cancel the meeting"
code=$?
set -e
[ "$code" -eq 7 ] || fail "carol's write was not refused as read-only (exit $code)"
[ "$(heads alice)" = "$a" ] || fail "carol's change reached alice"
out=$(alice status)
echo "$out" | grep -q 'changes 0 sent / 0 received' || fail "carol's change reached the server"

say "a wrong token is refused at once"
set +e
"$peer" connect "$tcp" "${tls[@]}" --token guessed --store "$work/mallory.db" --peer-id mallory --doc notes --create sync
code=$?
set -e
[ "$code" -eq 3 ] || fail "a wrong token was not refused (exit $code)"

say "stopping the server"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
grep -E 'connected|disconnected|stopped' "$work/server.log" | tail -n 3
echo
echo "demo complete: all peers hold heads $a"
