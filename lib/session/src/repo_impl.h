// Internal: the Repo's state, shared with the peer sessions it runs. Documents, storage,
// listeners, dialers and the push schedule live here; each connection's protocol lives in
// its session (peer_session.h, session_machine.h).
#pragma once

#include <spdlog/spdlog.h>
#include <asio.hpp>
#include <map>
#include <memory>
#include <set>

#include "dagsync/listener_set.h"
#include "dagsync/repo.h"
#include "dagsync/storage.h"
#include "dagsync/transports.h"
#include "envelope.h"
#include "session_host.h"
#include "session_policy.h"

namespace dagsync {

class PeerSession;

class RepoImpl : public std::enable_shared_from_this<RepoImpl> {
 public:
  RepoImpl(asio::io_context& io, Transports& transports, RepoOptions options);

  struct Document {
    // Automerge documents have no local actor: Automerge makes their changes.
    Document(GraphLimits limits, ChangeFormat format)
        : graph(format == ChangeFormat::kAutomerge ? ChangeGraph(ChangeFormat::kAutomerge, limits)
                                                   : ChangeGraph(random_actor_id(), limits)) {}
    ChangeGraph graph;
    Subscription local;
    // Set by Repo::commit while it commits a change it has already stored.
    std::optional<ChangeHash> stored_ahead;
    // Applied in memory but not stored (a failed store); stored first with the next append.
    std::vector<Change> unstored;
    // The application holds a reference to it (open, find, commit, request): never discarded.
    bool held_by_application = false;
    // How far the store's changes of it were read (Storage::load_changes_after).
    std::int64_t stored_position = 0;
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
  };

  // Loads the document from storage if needed. Throws dagsync::Error for a bad id or a
  // storage failure, leaving the repo unchanged. A stored document keeps the format of its
  // stored changes; `format` is that of a new one (fixed from then on).
  Document& open(const std::string& doc_id, ChangeFormat format = ChangeFormat::kDagsync);
  // The document, loaded from storage when stored there and not in memory; null if neither.
  Document* find(const std::string& doc_id);
  // The document if it is in memory; never loads.
  Document* loaded(const std::string& doc_id);
  // Every document held, in memory or in storage, sorted.
  std::vector<std::string> document_ids() const;
  // Unloads documents unused for unload_after (and, beyond max_loaded_documents, the least
  // recently used) that nothing holds, `keep` aside: see RepoOptions.
  void unload_idle(const std::string& keep = "");
  void arm_unload_timer();
  void discard(const std::string& doc_id);
  Change commit(const std::string& doc_id, Bytes payload, std::optional<std::string> message,
                std::optional<std::int64_t> timestamp_ms);

  // What sessions report. remote_applied() stores the changes (throws dagsync::Error when
  // storage fails; the session then closes) and tells the application.
  void session_ready(const std::shared_ptr<PeerSession>& session);
  void session_closed(const std::shared_ptr<PeerSession>& session, const CloseReason& reason);
  // Access control and quotas (access.h), asked by sessions through their SessionHost.
  std::optional<SessionHost::Refusal> admit(const std::string& peer_id,
                                            const std::string& principal);
  std::optional<std::string> refuse_creation(const std::string& peer_id,
                                             const std::string& principal);
  // What per-principal quotas count under: the principal when peers are authenticated;
  // otherwise every peer is kAnonymous, and each peer id counts on its own.
  std::string quota_key(const std::string& peer_id, const std::string& principal) const {
    return options.authenticate ? principal : "peer " + peer_id;
  }
  bool may_author(const std::string& principal, const ActorId& actor);
  void remote_applied(const std::string& doc_id, const std::string& peer_id,
                      const std::vector<ChangeHash>& applied);
  // Saves the states, then (when they were saved) a resumed session's peer record.
  void save_sync_states(const std::string& peer_id, std::span<const SyncStateRecord> states,
                        const std::optional<PeerRecord>& peer = std::nullopt);

  // Resuming (repo_resume.cpp, docs/sessions.md#resuming).
  SessionHost::ResumePlan plan_resume(const std::string& peer_id, const std::string& peer_store_id);
  void session_resumed(PeerSession* session);
  // Offers changed documents to resumed sessions whose peer has a state saved for them but
  // that do not share them yet: such a peer held the document before, so it hears of a
  // change in real time though it did not name the document this session.
  void offer_to_resumed(const std::set<std::string>& doc_ids);
  std::map<std::string, std::set<PeerSession*>> resumed_sessions;  // by peer id
  // Resumed sessions whose share policy offers anything: a changed document the session
  // skipped at its start is offered to them as the policy says, as at a hello without
  // resuming. (A server's default policy offers nothing to the peers that dial it.)
  std::set<PeerSession*> resumed_offering;
  void storage_failed(const std::string& peer_id, const std::string& address,
                      const std::string& problem);

  // Stores shared with other servers (repo_feed.cpp): appends of others reach loaded
  // documents and their peers; changes the store refused as an equivocation are dropped.
  void watch_storage();
  void stored_elsewhere(const AppendNotice& notice);
  void take_stored(const std::string& doc_id, Document& doc);
  void drop_refused(Document& doc, const std::vector<ChangeHash>& refused);

  // Sessions sharing each document: a push or relay visits only those, not every session.
  void add_sharer(const std::string& doc_id, PeerSession* session);
  std::vector<std::shared_ptr<PeerSession>> sharers_of(const std::string& doc_id) const;

  void add_session(std::shared_ptr<Connection> connection, std::string address,
                   std::string dialled_url, ConnectOptions dial = {},
                   ListenOptions::Dialect dialect = ListenOptions::Dialect::kDagsync);
  // An ephemeral message from `from`, passed on to the document's other sharers.
  void relay_ephemeral(PeerSession* from, const Envelope& message);
  void dial(const std::string& url);
  void schedule_push(const std::string& doc_id);
  // Offers the document to every ready session the policy lets see it.
  void announce(const std::string& doc_id);
  void shutdown();
  void emit(const PeerEvent& event);
  // The policy of one session: `dialled` when this repo dialled it.
  SessionPolicy policy_for(const ConnectOptions& dial, std::string address, bool dialled) const;

  asio::io_context& io;
  Transports& transports;
  RepoOptions options;
  std::shared_ptr<spdlog::logger> log;
  std::map<std::string, std::unique_ptr<Document>> documents;
  std::set<std::shared_ptr<PeerSession>> sessions;
  std::map<std::string, std::set<PeerSession*>> sharers;
  std::vector<std::unique_ptr<Listener>> listeners;
  bool shutting_down = false;

  // Connections per remote address (accepted ones) and per principal (after the hello).
  std::map<std::string, std::size_t> address_connections;
  std::map<const PeerSession*, std::string> counted_address;
  std::map<std::string, std::size_t> principal_connections;
  std::map<std::string, std::size_t> documents_created;  // per principal, while running
  // Owners of actor and peer ids, as recorded in storage (Storage::claim), cached.
  std::map<std::pair<std::string, std::string>, std::string> owners;

  struct Dialer {
    std::string url;
    ConnectOptions options;
    std::chrono::milliseconds backoff;
    std::string last_failure;  // the reason of the last failure; the backoff grows while it repeats
    std::chrono::steady_clock::time_point connected_at;
    std::unique_ptr<asio::steady_timer> timer;
    bool active = true;
    bool connected = false;
  };
  std::map<std::string, std::shared_ptr<Dialer>> dialers;

  std::set<std::string> dirty;
  bool push_scheduled = false;
  asio::steady_timer push_timer;
  asio::steady_timer unload_timer;
  asio::steady_timer forget_timer;
  // Deletes the sync states of peers not seen for forget_peers_after, then again a day later.
  void forget_old_peers();

  // Totals of the sessions that ended, and the counters no session holds (Repo::metrics()
  // adds the open sessions' stats).
  RepoMetrics ended;

  ListenerSet<RemoteChanges> change_listeners;
  ListenerSet<PeerEvent> peer_listeners;

 private:
  void local_change(const std::string& doc_id, const Change& change);
  // Appends `changes` (after any left unstored by an earlier failure) to storage. On failure
  // throws, keeping them for the next store when they are already in the graph (`applied`).
  void store(Document& doc, const std::string& doc_id, std::vector<Change> changes, bool applied);
  void push();
  // Schedules the next dial after a failure for `reason`, or stops dialling when it is
  // permanent (an event with `final` set says so).
  void retry_later(const std::shared_ptr<Dialer>& dialer, const std::string& reason,
                   bool permanent);
};

}  // namespace dagsync
