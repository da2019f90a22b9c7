// The sync protocol, sans-I/O: pure functions over a graph, a per-peer SyncState and
// messages. No sockets, threads or clocks; the same inputs always give the same outputs.
//
// Loop (per peer and document): call generate_sync_message() and send what it returns;
// on every message from the peer call receive_sync_message() and then generate again.
// When both sides' generate returns nothing, the two graphs hold the same applied changes.
#pragma once

#include <optional>
#include <vector>

#include "dagsync/change_graph.h"
#include "dagsync/import_status.h"
#include "dagsync/sync_message.h"
#include "dagsync/sync_state.h"

namespace dagsync {

struct GenerateOptions {
  // Changes beyond this many encoded bytes wait for later messages: a backlog streams as a
  // series of messages, each applicable on arrival. A single larger change travels alone.
  std::size_t max_message_bytes = 1u << 20;
  // Describe our history with an exact summary when that is smaller than a Bloom filter,
  // and answer a peer whose heads we all hold with exactly what follows them. Off: Bloom
  // filters only, as Automerge does (the conformance scenarios about filters use this).
  bool summaries = true;
  // Off: describe our heads and history and say what we need, but send no changes (the
  // peer told us it ignores ours: we may only read the document there).
  bool send_changes = true;
};

// The next message for the peer, or nothing when the peer is known to hold everything we
// could tell it (or a message is in flight and nothing new happened). Updates `state`.
// While a backlog streams, each call returns its next part.
std::optional<SyncMessage> generate_sync_message(const ChangeGraph& graph, SyncState& state,
                                                 const GenerateOptions& options = {});

struct ReceiveOptions {
  // Read-only receiving: record what the peer says, but apply none of its changes.
  bool apply_changes = true;
};

struct ReceiveResult {
  ImportStatus status;              // what applying the message's changes did
  std::size_t ignored_changes = 0;  // changes not applied because of read-only receiving
};

// Applies the message's changes to `graph` and updates `state`. Throws GraphError if the
// graph refuses the changes; then neither `graph` nor `state` has changed.
ReceiveResult receive_sync_message(ChangeGraph& graph, SyncState& state, const SyncMessage& message,
                                   ReceiveOptions options = {});

// True when the peer is known to hold every change we hold: its last reported heads cover
// our whole graph, or our last `complete` message, counted as delivered once sent, brings it
// to heads that do (docs/protocol.md, section 8.14).
bool has_our_changes(const ChangeGraph& graph, const SyncState& state);

}  // namespace dagsync
