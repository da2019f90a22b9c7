// Storage: where a Repo keeps documents' changes and per-peer sync states.
//
// Contract, for every backend:
// - Called only from the Repo's io_context thread; a backend need not be thread-safe.
// - Every method throws dagsync::Error on failure, with a message naming the backend, the
//   document and what went wrong. A method that throws has changed nothing (each write is
//   one transaction). The Repo turns a failure on its event loop into a closed session and
//   a PeerEvent::kStorageFailed (docs/sessions.md), never into an exception out of io.run().
// - Documents exist once something was stored for them (a change or a sync state).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/change.h"
#include "dagsync/error.h"

namespace dagsync {

// The store exists but is not a dagsync store (another application's file or database).
// Nothing was written to it.
class NotAStoreError : public Error {
 public:
  using Error::Error;
};

// The store cannot be reached: a refused connection, failed authentication, a connection
// lost mid-operation. The call that threw wrote nothing, except that a connection lost
// while committing leaves it unknown whether the commit happened (appends skip what is
// stored already, so storing again is harmless).
class StorageUnavailableError : public Error {
 public:
  using Error::Error;
};

// append_changes() refused a change because the store holds another change with the same
// (actor, seq) for the document: another writer sharing the store committed it first.
// Nothing of the call was stored. The message reads like the graph's own ("equivocation:
// ... is both ... and ...").
class StoredEquivocationError : public GraphError {
 public:
  using GraphError::GraphError;
};

// What a store shared with other writers says was appended by them (Storage::watch_appends).
struct AppendNotice {
  std::vector<std::string> doc_ids;  // documents another writer appended changes to
  bool missed = false;               // notices may have been lost (the feed reconnected): check all
};

// The changes of a document appended after a position, and the position after them.
struct StoredChanges {
  std::vector<Change> changes;
  std::int64_t position = 0;
};

// One sync state to save: SyncState::encode() of the state for `doc_id`.
struct SyncStateRecord {
  std::string doc_id;
  Bytes state;
  // The peer was known to hold every change of ours to the document when the state was
  // saved. A state saved with this set stays "fresh" until a change is next appended to the
  // document; every other state is "stale" (stale_documents()).
  bool peer_has_ours = false;
};

// What a repo keeps about a peer between sessions for resuming (docs/sessions.md#resuming).
struct PeerRecord {
  std::string store_id;  // the peer's Storage::store_id() when its states were saved
  // Our change_sequence() when we last offered the peer every document our share policy
  // gives it: documents changed since are offered again.
  std::uint64_t offered_seq = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Every document with stored changes or sync states, sorted by id.
  virtual std::vector<std::string> list_documents() = 0;

  // Whether list_documents() would name `doc_id`, without listing or loading anything:
  // a Repo loads documents when first needed and asks this for each id a peer names. The
  // default lists; backends override it with a lookup.
  virtual bool has_document(const std::string& doc_id) {
    auto all = list_documents();
    return std::binary_search(all.begin(), all.end(), doc_id);
  }

  // Every change appended for the document, each exactly once, in an order in which they
  // can be re-applied (the order they were first appended: the Repo appends in application
  // order). Each is verified against its hash; a corrupt one is an Error naming it. An
  // unknown document has no changes.
  virtual std::vector<Change> load_changes(const std::string& doc_id) = 0;

  // Stores the changes durably before returning (as durably as the backend can), all or
  // none. A change already stored for the document (same hash) is skipped, not stored
  // twice, so re-appending is harmless.
  virtual void append_changes(const std::string& doc_id, std::span<const Change> changes) = 0;

  // The state last saved for (document, peer), or nothing. Sync states are opaque bytes.
  virtual std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                               const std::string& peer_id) = 0;

  // Replaces the state for (document, peer).
  virtual void save_sync_state(const std::string& doc_id, const std::string& peer_id,
                               ByteView state) = 0;

  // Replaces the states for (each record's document, peer), all in one transaction: a
  // session that ends saves what it learnt with one write, whatever the number of documents.
  // The default calls save_sync_state() for each (atomic only per record); backends with
  // transactions override it.
  virtual void save_sync_states(const std::string& peer_id,
                                std::span<const SyncStateRecord> states) {
    for (const auto& record : states) save_sync_state(record.doc_id, peer_id, record.state);
  }

  // Who owns `key` among keys of `kind` (the Repo claims "actor" ids and "peer" ids for the
  // principals that first use them; docs/security.md): records `principal` durably when no
  // one owns the key yet, and returns the owner either way, which is not `principal` when
  // another claimed the key first. Claims are not documents.
  virtual std::string claim(const std::string& kind, const std::string& key,
                            const std::string& principal) = 0;

  // Deletes every sync state of each peer whose newest saved state is older than
  // `unix_ms` (a peer not seen since: keeping its states only costs space), and those
  // peers' PeerRecords. Returns how many states went. The default keeps everything (a
  // backend without save times).
  virtual std::size_t forget_peers_before(std::int64_t /*unix_ms*/) { return 0; }

  // Stores shared by several writers (PostgresStorage: several servers on one database).
  //
  // The document's changes appended after `position` (0: all of them, like load_changes())
  // in append order, and the position to ask from next time: a loaded document picks up
  // what another writer appended without reading its whole history again. The default
  // returns every change and position 0 (a store nobody else writes has nothing new).
  virtual StoredChanges load_changes_after(const std::string& doc_id, std::int64_t /*position*/) {
    return {load_changes(doc_id), 0};
  }

  // Calls `handler` when other writers append to documents of this store; null stops it.
  // The handler may run on a thread of the backend's: it must only hand the notice over
  // (the Repo posts it to its io_context). Returns once no call of the previous handler is
  // running, so the caller may then destroy what it captured. The default never calls it.
  virtual void watch_appends(std::function<void(AppendNotice)> /*handler*/) {}
  // This store's identity: 32 lowercase hex characters, random, made once when the store
  // is created and the same every time it is opened. A peer's hello names it; sync states
  // a peer saved for us under another identity are discarded (docs/sessions.md).
  virtual std::string store_id() = 0;

  // ---- Resuming: a reconnect costs what changed (docs/sessions.md#resuming) ----
  // A backend that keeps what the methods below need says so here; the Repo then resumes
  // sessions with peers that can, and otherwise offers documents as before. The defaults
  // are those of a backend that does not.
  virtual bool tracks_changes() { return false; }

  // A counter bumped whenever an append stores a change the document did not have; each
  // document remembers the value of its last such append. 0 for an empty store.
  virtual std::uint64_t change_sequence() { return 0; }

  // Documents with a sync state saved for `peer_id` that is stale: saved without
  // peer_has_ours, or a change was appended to the document since. Sorted by id. Costs
  // what is stale, not what is stored (an index).
  virtual std::vector<std::string> stale_documents(const std::string& /*peer_id*/) { return {}; }

  // Documents whose last append came after change_sequence() was `seq` and that have no
  // sync state for `peer_id`: what changed or appeared since the peer was last offered
  // everything. Costs what changed since `seq` (an index on the sequence).
  virtual std::vector<std::string> documents_changed_since(std::uint64_t /*seq*/,
                                                           const std::string& /*peer_id*/) {
    return {};
  }

  // The peers with a sync state saved for the document: who hears of a change to it in real
  // time though its session never touched it.
  virtual std::vector<std::string> peers_with_state(const std::string& /*doc_id*/) { return {}; }

  virtual std::optional<PeerRecord> load_peer(const std::string& /*peer_id*/) {
    return std::nullopt;
  }
  // Replaces the record (creating it).
  virtual void save_peer(const std::string& /*peer_id*/, const PeerRecord& /*record*/) {}
  // Deletes every sync state saved for the peer and its record, in one write (the peer's
  // storage was reset or replaced: its states describe a store that is gone). Returns how
  // many states went.
  virtual std::size_t forget_peer(const std::string& /*peer_id*/) { return 0; }
};

}  // namespace dagsync
