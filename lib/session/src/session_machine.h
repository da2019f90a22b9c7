// Internal: the session protocol with one remote peer, sans-I/O (docs/sessions.md).
//
// A SessionMachine is driven by inputs (start, a frame that arrived, the clock passing a
// deadline, the application asking to sync, offer or request a document, the connection
// ending) and answers with outputs, in order: frames to send, a close, events for the
// application, sync states to save, log lines. It owns the hello, the frame checks (through
// its WireDialect), document routing, the per-document SyncStates and the decisions to load
// and save them; it never touches a socket, a timer, a logger or storage itself. The same
// inputs give the same outputs, which is what tests/session/test_session_machine.cpp uses.
//
// PeerSession is the Asio shell around it: it feeds frames and timer expiries in and carries
// the outputs out. The machine reads documents and saved states through its SessionHost and
// asks its SessionPolicy every question of access.
//
// Contract:
// - Outputs accumulate until take_outputs(); the shell drains them after every input (an
//   output's execution may feed new inputs, e.g. an offer; it drains again).
// - After a Close output or connection_closed(), no further frames are produced, and the
//   states worth keeping have been emitted once as SaveStates (only those whose shared heads
//   changed since they were loaded, and only after a hello).
// - Time is given, never read: deadlines come from the `now` passed in and next_deadline()
//   says when the shell must call tick().
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "dagsync/automerge_sync.h"
#include "dagsync/repo.h"
#include "dagsync/storage.h"
#include "dagsync/sync.h"
#include "dagsync/transport.h"
#include "session_host.h"
#include "session_policy.h"
#include "wire_dialect.h"

namespace dagsync {

using SessionClock = std::chrono::steady_clock;

struct SessionConfig {
  std::vector<std::string> capabilities;
  std::chrono::milliseconds hello_timeout{10'000};      // 0: none
  std::chrono::milliseconds heartbeat_interval{5'000};  // 0: none
  // close(..., goodbye = true) of a resumed session waits this long for the peer's goodbye.
  // 0: no goodbye.
  std::chrono::milliseconds goodbye_timeout{2'000};
  SyncLimits sync_limits;
  std::size_t max_message_bytes = 1u << 20;  // largest sync message we generate
  // After the hello, nothing received for this long closes the session (kTimeout). The
  // peer's heartbeats keep an idle but honest connection open. 0: none.
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_pending_changes = 0;  // parked for this peer in all documents; 0: no bound
  std::size_t max_pending_bytes = 0;
  // Automerge documents, for a dialect whose payloads are Automerge sync messages
  // (WireDialect::automerge()); empty: such sync messages are answered unavailable.
  AutomergeSyncEngineFactory automerge_sync_engine;
};

namespace session_output {
struct Send {
  Bytes frame;
};
struct Close {
  CloseReason reason;
};
struct Ready {};  // the peer's hello was accepted; peer_id() is known
struct Applied {
  std::string doc_id;
  std::vector<ChangeHash> hashes;  // newly applied, in application order
};
struct Sharing {
  std::string doc_id;  // the session now shares this document: changes to it concern the peer
};
struct Unavailable {
  std::string doc_id;  // the peer does not have it
};
struct ReadOnly {
  std::string doc_id;  // the peer ignores our changes to it
};
struct Created {
  std::string doc_id;  // a document first heard of from this peer, now held here
};
struct Ephemeral {
  Envelope message;  // from the peer: for the document's other peers, never stored
};
struct SaveStates {
  std::vector<SyncStateRecord> states;  // for this session's peer, in one write
  std::optional<PeerRecord> peer;       // a resumed session's record, saved after the states
};
struct Resumed {};  // the peer resumes: documents it holds may be offered without its asking
struct Log {
  enum class Level { kDebug, kInfo, kWarn };
  Level level;
  std::string text;
};
}  // namespace session_output

using SessionOutput =
    std::variant<session_output::Send, session_output::Close, session_output::Ready,
                 session_output::Sharing, session_output::Applied, session_output::Unavailable,
                 session_output::Created, session_output::SaveStates, session_output::Log,
                 session_output::ReadOnly, session_output::Resumed, session_output::Ephemeral>;

class SessionMachine {
 public:
  // `dialled`: this side opened the connection (it dialled a server).
  SessionMachine(SessionHost& host, SessionPolicy policy, SessionConfig config,
                 std::unique_ptr<WireDialect> dialect, bool dialled = false);

  // Inputs.
  void start(SessionClock::time_point now);  // sends our hello, arms the hello deadline
  void receive_frame(ByteView frame, SessionClock::time_point now);
  void tick(SessionClock::time_point now);        // the clock reached next_deadline()
  void sync_document(const std::string& doc_id);  // send what the peer needs, if shared
  void offer(const std::string& doc_id);          // start sharing a document we hold
  void request(const std::string& doc_id);        // ask the peer for a document
  // An ephemeral message another peer sent for a document: passed on when this session
  // shares the document and its dialect carries ephemeral messages.
  void relay_ephemeral(const Envelope& message);
  // Ends the session from this side. With `goodbye`, a resumed session first sends a goodbye
  // and handles nothing but the peer's answer (or an error) until it arrives, the
  // connection ends or goodbye_timeout passes; then it closes with `reason`. The answer
  // confirms that the peer handled every frame we sent: only then may a state whose last
  // word was ours be saved as fresh (docs/sessions.md#goodbye).
  void close(const CloseReason& reason, SessionClock::time_point now, bool goodbye = false);
  void connection_closed(const CloseReason& reason);  // the transport ended it
  // The application could not keep what this session produced (a storage failure): the
  // session ends with kProtocol, naming the problem, and the peer is told.
  void fail(const std::string& problem);
  // The repo's store refused changes this session applied to `doc_id` as an equivocation
  // (another server stored a change with the same actor and seq first) and the repo
  // dropped them: refused as the graph refuses one; the document's sync state restarts.
  void refuse_stored(const std::string& doc_id, const std::string& problem);

  std::vector<SessionOutput> take_outputs();
  std::optional<SessionClock::time_point> next_deadline() const;

  bool ready() const { return hello_received_; }
  // Both sides resume (docs/sessions.md#resuming): only what changed is offered.
  bool resumed() const { return resumed_; }
  // Whether the session ended on an error that retrying cannot heal: the peer refused our
  // hello as unauthorized or of another protocol version, or we refused its version.
  bool refused_permanently() const { return refused_permanently_; }
  bool closed() const { return closed_; }
  const std::string& peer_id() const { return stats_.peer_id; }
  const PeerStats& stats() const { return stats_; }
  PeerStats& stats() { return stats_; }
  bool has_our_changes(const std::string& doc_id) const;
  bool in_sync(const std::string& doc_id) const;
  // The documents this session shares (each announced once by a Sharing output).
  const std::set<std::string>& shared_documents() const { return shared_; }
  bool offers_anything() const { return policy_.offers_anything(); }
  bool offers(const std::string& doc_id) const {
    return hello_received_ && policy_.offers(stats_.peer_id, doc_id);
  }
  // The principal the peer acts as (access.h); empty before the hello.
  const std::string& principal() const { return policy_.principal; }

 private:
  struct DocState {
    SyncState sync;
    std::vector<ChangeHash> loaded_shared_heads;  // as loaded; saved only when changed
    bool read_only = false;       // the peer ignores our changes to it (kReadOnly received)
    bool told_read_only = false;  // we told the peer it may only read it
    bool refused = false;         // we refused the peer's changes to it: no longer synced
    std::size_t pending = 0, pending_bytes = 0;  // parked in it after this peer's last message
    // Automerge documents (WireDialect::automerge()): the engine, made on first use from
    // the saved state.
    std::unique_ptr<AutomergeSyncEngine> engine;
    std::optional<Bytes> saved;
  };

  void handle(Envelope message);
  void handle_hello(const Envelope& hello);
  void handle_sync(const Envelope& message);
  void handle_request(const Envelope& message);
  void handle_read_only(const Envelope& message);
  void handle_goodbye(const Envelope& message);
  // After the hello of a peer that resumes: offers what changed since the last session.
  void resume(const std::string& peer_store_id);
  // automerge-repo's sync and request: the payload goes to the document's engine.
  void handle_automerge_sync(const Envelope& message, bool request);
  void handle_ephemeral(Envelope message);
  void send_unavailable(const std::string& doc_id);
  // The document's engine, made on first use; null when there is no factory or the
  // document is not an Automerge document.
  AutomergeSyncEngine* engine_for(const std::string& doc_id, ChangeGraph& graph);
  // Why the peer may not add these changes to `graph` (authorship), or nothing.
  std::optional<std::string> refuse_authorship(const ChangeGraph& graph,
                                               const std::vector<Change>& changes);
  // A document's changes were refused: on a connection we dialled, only that document stops
  // syncing (our server stays reachable for the others); otherwise the session closes.
  void refuse_document(const std::string& doc_id, const std::string& problem);
  // Whether the document's change format is not the one this session's dialect syncs
  // (logged once per session); the caller answers unavailable.
  bool wrong_format(const std::string& doc_id, const ChangeGraph& graph);
  void send_hello();
  void send(Envelope message);
  void send_doc_message(Envelope::Type type, const std::string& doc_id);
  void protocol_error(const std::string& problem);
  // Tells the peer `told` in an error envelope, logs `problem` and closes with it.
  void close_with_error(const std::string& problem, const std::string& told,
                        const std::string& code = "");
  void finish(const CloseReason& reason, bool emit_close);
  DocState& state_for(const std::string& doc_id);
  void share(const std::string& doc_id);
  void log(session_output::Log::Level level, std::string text);

  SessionHost& host_;
  SessionPolicy policy_;
  SessionConfig config_;
  std::unique_ptr<WireDialect> dialect_;
  bool dialled_ = false;
  bool started_ = false;
  bool hello_received_ = false;
  bool closed_ = false;
  bool refused_permanently_ = false;
  bool logged_creation_refusal_ = false;
  bool logged_no_engine_ = false;
  bool logged_wrong_format_ = false;
  std::optional<SessionClock::time_point> hello_deadline_;
  std::optional<SessionClock::time_point> next_heartbeat_;
  std::optional<SessionClock::time_point> idle_deadline_;
  // The goodbye (close(..., true)): whether we wait for the peer's answer, until when, how
  // we close then, and whether the peer confirmed every frame we sent (either way round).
  bool closing_ = false;
  std::optional<SessionClock::time_point> goodbye_deadline_;
  CloseReason closing_reason_;
  bool delivered_ = false;
  std::uint64_t frames_handled_ = 0;             // frames the dialect passed on (repeats excluded)
  std::size_t pending_ = 0, pending_bytes_ = 0;  // sums of the DocStates' pending counts
  std::map<std::string, DocState> states_;
  std::set<std::string> shared_;
  // Resuming: our store id (empty: we do not resume), whether this session does, what it
  // offered at the start (its states are saved at the end whatever they learnt, so that an
  // unfinished offer stays stale) and the record to save.
  std::string store_id_;
  bool resumed_ = false;
  std::set<std::string> resume_offered_;
  std::optional<PeerRecord> resume_record_;
  PeerStats stats_;
  std::vector<SessionOutput> outputs_;
};

}  // namespace dagsync
