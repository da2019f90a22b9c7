// Automerge documents in a Repo: the seam between the session layer, which speaks
// automerge-repo's WebSocket protocol (docs/automerge.md), and the engine that runs
// Automerge's own sync protocol over a document's change graph.
//
// An automerge-repo `sync` or `request` message carries an opaque Automerge sync message
// (0x42 ...). The session hands it, unread, to the AutomergeSyncEngine of that (peer,
// document) and sends back whatever the engine generates. The engine owns everything about
// the bytes: decoding, Bloom filters, which changes to send, Automerge's sync state.
//
// Contract for an engine (one per peer and document, created by the factory):
// - receive() applies one message from the peer to the document, or throws and leaves the
//   document and the engine's state unchanged: DecodeError for bytes that are not a valid
//   sync message (the session closes with a protocol error), GraphError for changes the
//   document refuses (the session stops syncing that document with the peer). With
//   `apply_changes` false (the peer may only read), changes in the message are ignored.
//   It returns the hashes newly applied, in application order (they are stored and relayed).
// - generate() returns the next message for the peer, or nothing when it has nothing to say.
//   It is called after every receive() and whenever the document changed.
// - saved_state() is what to keep between connections (Automerge's encoded sync state); it
//   is stored per (document, peer) and given back to the factory on the next connection.
// - Everything runs on the session's thread; no I/O.
//
// The factory returns nullptr when the graph does not hold an Automerge document (a
// document's change format is fixed when it is made, in the core): the peer is then told
// the document is unavailable. Documents an automerge-repo peer brings are made through
// SessionHost::create_automerge_document.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/change_graph.h"
#include "dagsync/limits.h"

namespace dagsync {

class AutomergeSyncEngine {
 public:
  virtual ~AutomergeSyncEngine() = default;
  virtual std::vector<ChangeHash> receive(ByteView message, bool apply_changes) = 0;
  virtual std::optional<Bytes> generate() = 0;
  virtual std::optional<Bytes> saved_state() const = 0;
  // Whether the peer is known to hold every change we hold (Repo::peer_has_our_changes).
  virtual bool peer_has_our_changes() const = 0;
  // Both ways: also we hold every head the peer last reported (Repo::in_sync_with).
  virtual bool in_sync() const = 0;
};

// `saved`: the state saved_state() returned at the end of the last connection with this
// peer, if any; an engine that cannot read it starts afresh.
using AutomergeSyncEngineFactory = std::function<std::unique_ptr<AutomergeSyncEngine>(
    ChangeGraph& document, const std::optional<Bytes>& saved)>;

// The engine over the core's Automerge sync protocol (dagsync/automerge/sync.h): messages
// decoded within `limits`, Automerge's sync state saved per (document, peer) as its 0x43
// form (an unreadable saved state starts afresh). Returns null for a graph that does not
// hold Automerge changes. A Repo uses it when RepoOptions::automerge_sync_engine is unset.
AutomergeSyncEngineFactory core_automerge_sync_engine(const SyncLimits& limits = {});

}  // namespace dagsync
