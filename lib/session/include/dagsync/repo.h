// Repo: many documents (by id), their storage, and live sync with any number of peers.
//
// Contract:
// - Runs on the application's io_context; every method and callback runs on its thread.
// - A document is a ChangeGraph. Local changes (Repo::commit, or commit() on the graph)
//   are stored, then pushed to every connected peer that shares the document; bursts made
//   in one turn of the event loop (or within push_delay) go out as one round.
// - Each connection starts with a hello (protocol version, peer id, capabilities); a
//   version mismatch or any malformed frame is a clear error, sent to the peer, logged, and
//   the connection closed. Other connections are unaffected.
// - One SyncState per (peer, document): loaded from storage when the session first needs it,
//   saved when the connection ends (those whose shared heads changed, in one storage write).
// - Storage failures never escape io.run(): a failure while storing what a peer sent closes
//   that session (kProtocol, naming the problem) and is reported as
//   PeerEvent::kStorageFailed; other sessions go on. Repo::commit() stores the change before
//   applying it, so a storage failure there throws and leaves the document unchanged. A
//   commit() made directly on a Repo document's graph is stored after it was applied: if
//   that store fails, the exception reaches the caller of commit() and the change is held
//   in memory only (it is stored again with the next change that reaches storage).
// - Peers share a document once either side sends sync messages for it: the share policy
//   (RepoOptions::share_policy) says which documents are offered unasked to which peer;
//   request() asks peers for a document we lack, and a peer without it answers
//   "unavailable".
// - connect() keeps the connection up: after a failure or a drop it retries with
//   exponential backoff until disconnect() or the Repo's destruction.
// - Destroying the Repo closes its connections and saves their sync states.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dagsync/access.h"
#include "dagsync/automerge_sync.h"
#include "dagsync/change_graph.h"
#include "dagsync/storage.h"
#include "dagsync/subscription.h"
#include "dagsync/sync.h"
#include "dagsync/transport.h"

namespace asio {
class io_context;
}
namespace spdlog {
class logger;
}

namespace dagsync {

class Transports;
class RepoImpl;

// Delays between dial attempts: `initial`, growing by `factor` up to `max` while failures
// repeat with the same reason. It starts again from `initial` when the reason changes or
// after a connection that stayed up for at least `max`.
struct ReconnectPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{10'000};
  double factor = 2.0;
};

// Who a document would be offered to: the peer's id and address, and whether this repo
// dialled the connection (connect()) or accepted it (listen(), accept()).
struct SharePeer {
  std::string peer_id;
  std::string address;
  bool dialled = false;
};

// Whether to offer `doc_id` to `peer` unasked: on connect (for every document held), and
// whenever a document appears here (opened, committed to, or first heard of from another
// peer). A peer can always request() a document or send sync messages for it; the share
// policy only decides what is pushed unasked.
using SharePolicy = std::function<bool(const SharePeer& peer, const std::string& doc_id)>;

// Offer everything to everyone (a mesh of equals, or a server that mirrors all it holds).
SharePolicy share_everything();
// Offer nothing unasked.
SharePolicy share_nothing();
// The default: offer every document to the peers this repo dialled and nothing to the peers
// that dialled it. A client offers its documents to its server; a server pushes nothing a
// client did not ask for, so C clients cost it O(C), not O(C^2) (docs/sessions.md).
SharePolicy share_with_dialled_peers();

struct RepoOptions {
  std::string peer_id;               // default: random
  std::shared_ptr<Storage> storage;  // default: MemoryStorage
  // default: "dagsync" on stderr, warnings and up. Give the same logger to Transports to
  // have the network layer's warnings in the same place (Transports' own default is the
  // same stderr logger).
  std::shared_ptr<spdlog::logger> logger;
  SharePolicy share_policy;              // default (empty): share_with_dialled_peers()
  bool accept_unknown_documents = true;  // store documents peers offer
  // Access control for peers that connect (access.h, docs/security.md).
  Authenticator authenticate;  // default (empty): every peer is kAnonymous
  AccessPolicy access;         // default: kWrite on every document
  CreatePolicy may_create;     // default: accept_unknown_documents
  Quotas quotas;
  // After the hello, nothing received for this long closes the connection; our heartbeats
  // (heartbeat_interval) keep an honest idle peer's side alive. 0: off.
  std::chrono::milliseconds idle_timeout{30'000};
  // Documents load from storage when first needed (a peer names one, or the application
  // opens it) and unload after `unload_after` unused, and beyond `max_loaded_documents` the
  // least recently used first, when nothing holds them: no session shares them, nothing is
  // waiting to be stored or for deps, and the application never opened, found or committed
  // to them (a reference it holds must stay valid). 0: never unload; no bound.
  std::chrono::milliseconds unload_after{60'000};
  std::size_t max_loaded_documents = 0;
  // Sync states of peers whose newest state was saved longer ago than this are deleted
  // (Storage::forget_peers_before): at start, then once a day. 0: keep them for good.
  std::chrono::milliseconds forget_peers_after{std::chrono::hours(24 * 90)};
  std::vector<std::string> capabilities;
  std::chrono::milliseconds hello_timeout{10'000};
  std::chrono::milliseconds heartbeat_interval{5'000};  // 0: off
  // disconnect() of a resumed session says goodbye and waits this long for the peer's
  // answer, which confirms that everything we sent arrived (docs/sessions.md#goodbye):
  // without it the documents we sent last are offered again on the next reconnect. 0: no
  // goodbye (close at once).
  std::chrono::milliseconds goodbye_timeout{2'000};
  std::chrono::milliseconds push_delay{0};  // extra coalescing window for local changes
  ReconnectPolicy reconnect;
  SyncLimits sync_limits;
  GraphLimits graph_limits;
  // Largest sync message we send; a longer backlog streams as several, each applied by the
  // peer on arrival (one in flight per document and peer).
  std::size_t max_message_bytes = 1u << 20;
  // Automerge documents over automerge-repo's protocol (ListenOptions::Dialect::kAutomergeRepo,
  // docs/automerge.md): the engine that syncs each document with each such peer. Unset: the
  // core's Automerge sync protocol (core_automerge_sync_engine(sync_limits)).
  AutomergeSyncEngineFactory automerge_sync_engine;
  // Sent to automerge-repo peers as peerMetadata.storageId: set it only when storage is
  // durable, since clients then keep their shared heads with this server. Empty: none.
  std::string automerge_storage_id;
};

// How a listener's connections speak (Repo::listen).
struct ListenOptions {
  enum class Dialect {
    kDagsync,        // dagsync's envelopes (docs/sessions.md)
    kAutomergeRepo,  // automerge-repo's CBOR messages over WebSocket (docs/automerge.md)
  };
  Dialect dialect = Dialect::kDagsync;
};

struct RemoteChanges {
  std::string doc_id;
  std::string peer_id;
  std::vector<ChangeHash> applied;  // newly applied, in application order
};

struct PeerEvent {
  enum class Kind {
    kConnected,      // a hello arrived on a connection
    kDisconnected,   // a connection that had said hello ended; detail: the close reason
    kConnectFailed,  // dialling failed, or the connection ended before the hello
    kUnavailable,    // the peer does not have a requested document; detail: its id
    kStorageFailed,  // storage refused a write for this session; detail: the error
    kReadOnly,       // the peer lets us only read a document; detail: its id (our changes
                     // to it stay here; we go on receiving its changes)
  };
  Kind kind;
  std::string peer_id;  // empty before the hello
  std::string address;  // the URL dialled, or the transport's description
  std::string detail;   // close reason, connect error, or the unavailable document
  // kConnectFailed, kDisconnected: the Repo stopped dialling this URL, because the error
  // cannot heal by retrying (detail says why; see ConnectError). Otherwise it retries.
  bool final = false;
};

// How to dial a peer (Repo::connect).
struct ConnectOptions {
  std::string expected_peer_id;  // empty: any; a hello from another peer is refused
  std::string token;             // sent in our hello, for the peer's authenticator
};

struct PeerStats {
  std::string peer_id;
  std::string address;
  bool connected = false;
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t sync_messages_sent = 0, sync_messages_received = 0;
  std::uint64_t changes_sent = 0, changes_received = 0;
  std::uint64_t round_trips = 0;  // sync messages answered by the peer
  // Requests and offers of the peer's that we answered "unavailable" (a document we lack,
  // or one the policy would not create).
  std::uint64_t unavailable_sent = 0;
  // Both sides resumed (docs/sessions.md#resuming), and how many documents this side
  // offered at the start because they changed since the last session.
  bool resumed = false;
  std::uint64_t documents_resumed = 0;
};

// Totals since the Repo was made, over every session it ran, open or ended: what an
// operator's metrics endpoint exports (Repo::metrics()). Counters only grow, except the
// two gauges marked "now".
struct RepoMetrics {
  std::uint64_t sessions_accepted = 0;  // connections from listen() or accept()
  std::uint64_t sessions_dialled = 0;   // connections from connect()
  std::uint64_t sessions_open = 0;      // now: sessions not yet ended (hello or not)
  std::uint64_t peers_connected = 0;    // now: sessions past the hello
  std::uint64_t connect_failures = 0;   // PeerEvent::kConnectFailed
  std::uint64_t unavailable = 0;        // PeerEvent::kUnavailable: a peer lacked our request
  std::uint64_t unavailable_sent = 0;   // we lacked a peer's (PeerStats::unavailable_sent)
  std::uint64_t storage_failures = 0;   // PeerEvent::kStorageFailed
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t sync_messages_sent = 0, sync_messages_received = 0;
  std::uint64_t changes_sent = 0, changes_received = 0;
  // Sessions ended, by how: to_string(CloseReason::Code) ("remote closed", "protocol
  // error" for a refused peer or message, "timeout", ...). A small, fixed set of keys.
  std::map<std::string, std::uint64_t> sessions_closed;
};

class Repo {
 public:
  static constexpr std::uint64_t kProtocolVersion = 1;

  Repo(asio::io_context& io, Transports& transports, RepoOptions options = {});
  ~Repo();
  Repo(const Repo&) = delete;
  Repo& operator=(const Repo&) = delete;

  const std::string& peer_id() const;

  // Documents. open() creates the document if it does not exist (loading it from storage
  // when stored there); find() only looks. The graph stays owned by the Repo.
  ChangeGraph& open(const std::string& doc_id);
  ChangeGraph* find(const std::string& doc_id);
  // Every document held, loaded or only stored (a storage query: O(documents)).
  std::vector<std::string> documents() const;
  // How many documents are in memory now (see RepoOptions::unload_after).
  std::size_t loaded_documents() const;
  Change commit(const std::string& doc_id, Bytes payload,
                std::optional<std::string> message = std::nullopt,
                std::optional<std::int64_t> timestamp_ms = std::nullopt);
  // Asks every connected peer for the document (creating it empty here).
  void request(const std::string& doc_id);

  // Network. listen() returns the URL peers can dial (with the chosen port).
  std::string listen(const std::string& url);
  // The same, with the dialect its connections speak: automerge-repo clients dial a ws://
  // or wss:// listener with Dialect::kAutomergeRepo.
  std::string listen(const std::string& url, ListenOptions options);
  // Dials `url` and keeps the connection up: a transient failure (refused, reset, timed out,
  // dropped) is retried with exponential backoff that keeps growing while the same error
  // repeats; a permanent one (ConnectError::permanent, or the peer refusing our hello as
  // unauthorized or of another protocol version) stops dialling, reported as a PeerEvent
  // with `final` set. With `expected_peer_id`, a hello from any other peer is refused.
  void connect(const std::string& url, ConnectOptions options);
  void connect(const std::string& url, std::string expected_peer_id = "");
  void disconnect(const std::string& url);
  void accept(std::shared_ptr<Connection> connection, std::string address = "");

  // Events.
  Subscription on_remote_changes(std::function<void(const RemoteChanges&)> callback);
  Subscription on_peer_event(std::function<void(const PeerEvent&)> callback);

  std::vector<PeerStats> peers() const;
  RepoMetrics metrics() const;
  // Whether peer `peer_id` is known to hold every change of the document we hold.
  bool peer_has_our_changes(const std::string& peer_id, const std::string& doc_id) const;
  // Both ways: the peer holds all we hold, and we hold every head it last reported.
  bool in_sync_with(const std::string& peer_id, const std::string& doc_id) const;

  spdlog::logger& logger();

 private:
  std::shared_ptr<RepoImpl> impl_;
};

}  // namespace dagsync
