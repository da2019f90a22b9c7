#include "peer_session.h"

#include <spdlog/spdlog.h>

#include "dagsync/error.h"
#include "log_text.h"
#include "repo_impl.h"

namespace dagsync {

// The machine's view of the repo. Holds the repo weakly: a session may outlive it for the
// last few callbacks of a closing connection, and then sees no documents.
class PeerSession::Host : public SessionHost {
 public:
  explicit Host(std::weak_ptr<RepoImpl> repo) : repo_(std::move(repo)) {}

  ChangeGraph* find_document(const std::string& doc_id) override {
    auto repo = repo_.lock();
    auto* doc = repo ? repo->find(doc_id) : nullptr;
    return doc ? &doc->graph : nullptr;
  }
  ChangeGraph& create_document(const std::string& doc_id) override {
    auto repo = repo_.lock();
    if (!repo) throw Error("repo gone");
    return repo->open(doc_id).graph;
  }
  ChangeGraph& create_automerge_document(const std::string& doc_id) override {
    auto repo = repo_.lock();
    if (!repo) throw Error("repo gone");
    return repo->open(doc_id, ChangeFormat::kAutomerge).graph;
  }
  void discard_document(const std::string& doc_id) override {
    if (auto repo = repo_.lock()) repo->discard(doc_id);
  }
  std::vector<std::string> document_ids() const override {
    auto repo = repo_.lock();
    return repo ? repo->document_ids() : std::vector<std::string>{};
  }
  std::optional<Bytes> load_sync_state(const std::string& doc_id,
                                       const std::string& peer_id) override {
    auto repo = repo_.lock();
    return repo ? repo->options.storage->load_sync_state(doc_id, peer_id) : std::nullopt;
  }
  std::string store_id() override {
    auto repo = repo_.lock();
    if (!repo || !repo->options.storage->tracks_changes()) return "";
    return repo->options.storage->store_id();
  }
  ResumePlan plan_resume(const std::string& peer_id, const std::string& peer_store_id) override {
    auto repo = repo_.lock();
    if (!repo) throw Error("repo gone");
    return repo->plan_resume(peer_id, peer_store_id);
  }
  std::optional<Refusal> admit(const std::string& peer_id, const std::string& principal) override {
    auto repo = repo_.lock();
    if (!repo) return Refusal{"repo gone", false};
    return repo->admit(peer_id, principal);
  }
  std::optional<std::string> refuse_creation(const std::string& peer_id,
                                             const std::string& principal) override {
    auto repo = repo_.lock();
    return repo ? repo->refuse_creation(peer_id, principal)
                : std::optional<std::string>("repo gone");
  }
  bool may_author(const std::string& principal, const ActorId& actor) override {
    auto repo = repo_.lock();
    return repo && repo->may_author(principal, actor);
  }

 private:
  std::weak_ptr<RepoImpl> repo_;
};

namespace {
SessionConfig session_config(const RepoOptions& options, ListenOptions::Dialect dialect) {
  SessionConfig config;
  config.capabilities = options.capabilities;
  config.hello_timeout = options.hello_timeout;
  config.heartbeat_interval = options.heartbeat_interval;
  config.goodbye_timeout = options.goodbye_timeout;
  config.sync_limits = options.sync_limits;
  config.max_message_bytes = options.max_message_bytes;
  config.idle_timeout = options.idle_timeout;
  config.max_pending_changes = options.quotas.max_pending_changes_per_peer;
  config.max_pending_bytes = options.quotas.max_pending_bytes_per_peer;
  if (dialect == ListenOptions::Dialect::kAutomergeRepo) {
    // automerge-repo clients send nothing while idle and no heartbeats exist in their
    // protocol: the WebSocket's pings (TransportOptions::keepalive_interval) find dead peers.
    config.idle_timeout = std::chrono::milliseconds(0);
    config.heartbeat_interval = std::chrono::milliseconds(0);
    // The core's engine unless the application set its own.
    config.automerge_sync_engine = options.automerge_sync_engine
                                       ? options.automerge_sync_engine
                                       : core_automerge_sync_engine(options.sync_limits);
  }
  return config;
}

std::unique_ptr<WireDialect> make_dialect(const RepoOptions& options,
                                          ListenOptions::Dialect dialect) {
  if (dialect == ListenOptions::Dialect::kAutomergeRepo) {
    AutomergeRepoLimits limits;
    limits.max_message_bytes = options.sync_limits.max_message_bytes;
    return std::make_unique<AutomergeRepoDialect>(options.peer_id, options.automerge_storage_id,
                                                  limits);
  }
  return std::make_unique<EnvelopeDialect>(options.sync_limits.max_message_bytes);
}

SessionPolicy policy_with_credentials(SessionPolicy policy, const Connection& connection) {
  policy.transport = connection.credentials();
  return policy;
}
}  // namespace

PeerSession::PeerSession(std::weak_ptr<RepoImpl> repo, asio::io_context& io,
                         std::shared_ptr<Connection> connection, std::string address,
                         std::string dialled_url, ConnectOptions dial,
                         ListenOptions::Dialect dialect)
    : repo_(repo),
      log_(repo.lock()->log),
      host_(std::make_unique<Host>(repo)),
      machine_(*host_,
               policy_with_credentials(repo.lock()->policy_for(dial, address, !dialled_url.empty()),
                                       *connection),
               session_config(repo.lock()->options, dialect),
               make_dialect(repo.lock()->options, dialect), !dialled_url.empty()),
      connection_(std::move(connection)),
      dialled_url_(std::move(dialled_url)),
      dialect_(dialect),
      timer_(io) {
  machine_.stats().address = std::move(address);
}

PeerSession::~PeerSession() = default;

std::string PeerSession::label() const {
  const auto& stats = machine_.stats();
  return (stats.peer_id.empty() ? std::string("?") : log_text(stats.peer_id)) + " (" +
         log_text(stats.address) + ")";
}

void PeerSession::start() {
  std::weak_ptr<PeerSession> weak = weak_from_this();
  connection_->start(
      [weak](Bytes frame) {
        if (auto self = weak.lock()) self->on_frame(std::move(frame));
      },
      [weak](const CloseReason& reason) {
        if (auto self = weak.lock()) self->on_closed(reason);
      });
  machine_.start(SessionClock::now());
  drain();
}

void PeerSession::on_frame(Bytes frame) {
  try {
    machine_.receive_frame(frame, SessionClock::now());
  } catch (const Error& e) {
    // Only the repo's side (storage, loading a document) throws here; the machine handles
    // everything a peer can send. The session cannot go on without its storage.
    log_->error("peer {}: storage failed: {}", label(), log_text(e.what()));
    machine_.fail(std::string("storage failed: ") + e.what());
    if (auto repo = repo_.lock()) repo->storage_failed(peer_id(), stats().address, e.what());
  }
  drain();
}

void PeerSession::sync_document(const std::string& doc_id) {
  machine_.sync_document(doc_id);
  drain();
}

void PeerSession::offer(const std::string& doc_id) {
  machine_.offer(doc_id);
  drain();
}

void PeerSession::request(const std::string& doc_id) {
  machine_.request(doc_id);
  drain();
}

void PeerSession::close(const CloseReason& reason, bool goodbye) {
  machine_.close(reason, SessionClock::now(), goodbye);
  drain();
}

void PeerSession::relay_ephemeral(const Envelope& message) {
  machine_.relay_ephemeral(message);
  drain();
}

void PeerSession::on_closed(const CloseReason& reason) {
  if (connection_closed_) return;
  connection_closed_ = true;
  if (!close_reason_) close_reason_ = reason;
  machine_.connection_closed(reason);
  drain();
}

void PeerSession::drain() {
  if (draining_) return;  // an output's execution fed the machine: the outer loop goes on
  auto keep_alive = shared_from_this();  // the Repo may drop its reference while we run
  draining_ = true;
  for (auto outputs = machine_.take_outputs(); !outputs.empty();
       outputs = machine_.take_outputs()) {
    for (auto& output : outputs) execute(output);
  }
  draining_ = false;
  arm_timer();
  // Reported once, after the machine's last outputs (its saved states among them) ran.
  if (close_reason_ && !close_reported_) {
    close_reported_ = true;
    timer_.cancel();
    if (auto repo = repo_.lock()) repo->session_closed(shared_from_this(), *close_reason_);
  }
}

void PeerSession::execute(SessionOutput& output) {
  namespace out = session_output;
  auto repo = repo_.lock();
  if (auto* send = std::get_if<out::Send>(&output)) {
    // A refusal closes the connection: on_closed follows, inside this call or later.
    if (!connection_closed_) connection_->send(std::move(send->frame));
  } else if (auto* close = std::get_if<out::Close>(&output)) {
    if (!close_reason_) close_reason_ = close->reason;
    if (!connection_closed_) {
      connection_closed_ = true;
      connection_->close(close->reason);  // our close handler sees connection_closed_ set
    }
  } else if (auto* sharing = std::get_if<out::Sharing>(&output)) {
    if (repo) repo->add_sharer(sharing->doc_id, this);
  } else if (std::holds_alternative<out::Ready>(output)) {
    if (repo) repo->session_ready(shared_from_this());
  } else if (auto* applied = std::get_if<out::Applied>(&output)) {
    if (!repo) return;
    try {
      repo->remote_applied(applied->doc_id, peer_id(), applied->hashes);
    } catch (const StoredEquivocationError& e) {
      // Not a failure of ours: another server stored the other change first.
      machine_.refuse_stored(applied->doc_id, e.what());
    } catch (const Error& e) {
      log_->error("peer {}: document {}: storage failed: {}", label(), log_text(applied->doc_id),
                  log_text(e.what()));
      machine_.fail("storage failed: " + std::string(e.what()));
      repo->storage_failed(peer_id(), stats().address, e.what());
    }
  } else if (auto* unavailable = std::get_if<out::Unavailable>(&output)) {
    if (repo)
      repo->emit({PeerEvent::Kind::kUnavailable, peer_id(), stats().address, unavailable->doc_id});
  } else if (auto* read_only = std::get_if<out::ReadOnly>(&output)) {
    if (repo)
      repo->emit({PeerEvent::Kind::kReadOnly, peer_id(), stats().address, read_only->doc_id});
  } else if (auto* ephemeral = std::get_if<out::Ephemeral>(&output)) {
    if (repo) repo->relay_ephemeral(this, ephemeral->message);
  } else if (auto* created = std::get_if<out::Created>(&output)) {
    if (repo) repo->announce(created->doc_id);
  } else if (auto* save = std::get_if<out::SaveStates>(&output)) {
    if (repo) repo->save_sync_states(peer_id(), save->states, save->peer);
  } else if (std::holds_alternative<out::Resumed>(output)) {
    if (repo) repo->session_resumed(this);
  } else if (auto* line = std::get_if<out::Log>(&output)) {
    auto level = line->level == out::Log::Level::kWarn   ? spdlog::level::warn
                 : line->level == out::Log::Level::kInfo ? spdlog::level::info
                                                         : spdlog::level::debug;
    // The machine's lines quote ids and error texts a peer chose: escaped as a whole.
    log_->log(level, "peer {}: {}", label(), log_text(line->text));
  }
}

void PeerSession::arm_timer() {
  auto deadline = machine_.next_deadline();
  if (deadline == armed_for_) return;
  // A later deadline (every frame received moves the idle deadline) keeps the armed timer:
  // it fires early, tick() finds nothing due, and the timer is armed again then. One timer
  // operation per interval rather than one per frame.
  if (deadline && armed_for_ && *armed_for_ < *deadline) return;
  armed_for_ = deadline;
  timer_.cancel();
  if (!deadline) return;
  timer_.expires_at(*deadline);
  std::weak_ptr<PeerSession> weak = weak_from_this();
  timer_.async_wait([weak](const std::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->armed_for_.reset();
    self->machine_.tick(SessionClock::now());
    self->drain();
  });
}

}  // namespace dagsync
