#include "dagsync/repo.h"

#include <algorithm>

#include "dagsync/error.h"
#include "dagsync/logging.h"
#include "dagsync/memory_storage.h"
#include "envelope.h"
#include "log_text.h"
#include "peer_session.h"
#include "repo_impl.h"

namespace dagsync {

namespace {
// The remote host of a transport description ("tcp 1.2.3.4:5678", "ws://[::1]:80/x"):
// connection quotas count per host, whatever the port.
std::string remote_host(const std::string& description) {
  // Descriptions are "<scheme> <host>:<port>" or URLs ("<scheme>://<host>:<port>/...").
  std::string rest = description;
  if (auto scheme = rest.find("://"); scheme != std::string::npos) {
    rest = rest.substr(scheme + 3);
  } else if (auto space = rest.find(' '); space != std::string::npos) {
    rest = rest.substr(space + 1);
  }
  if (!rest.empty() && rest.front() == '[') {
    auto end = rest.find(']');
    return end == std::string::npos ? rest : rest.substr(0, end + 1);
  }
  auto colon = rest.find(':');
  return colon == std::string::npos ? rest.substr(0, rest.find('/')) : rest.substr(0, colon);
}

// Turns a connection away before a session exists for it: one error frame, then a close.
void refuse_connection(Connection& connection, const std::string& reason) {
  connection.start([](Bytes) {}, [](const CloseReason&) {});
  Envelope error;
  error.type = Envelope::Type::kError;
  error.error = reason;
  connection.send(error.encode());
  connection.close({CloseReason::Code::kProtocol, reason});
}
}  // namespace

RepoImpl::RepoImpl(asio::io_context& io_context, Transports& t, RepoOptions o)
    : io(io_context),
      transports(t),
      options(std::move(o)),
      push_timer(io_context),
      unload_timer(io_context),
      forget_timer(io_context) {
  if (options.peer_id.empty()) options.peer_id = random_actor_id().hex();
  if (!options.storage) options.storage = std::make_shared<MemoryStorage>();
  log = options.logger ? options.logger : make_default_logger();
  options.logger = log;
}

RepoImpl::Document& RepoImpl::open(const std::string& doc_id, ChangeFormat format) {
  if (auto* doc = loaded(doc_id)) return *doc;
  if (doc_id.empty() || doc_id.size() > Envelope::kMaxIdChars) {
    throw Error("document id must be 1 to " + std::to_string(Envelope::kMaxIdChars) + " bytes");
  }
  StoredChanges from_storage = options.storage->load_changes_after(doc_id, 0);
  const auto& stored = from_storage.changes;
  if (!stored.empty()) format = stored.front().format();
  auto doc = std::make_unique<Document>(options.graph_limits, format);
  doc->stored_position = from_storage.position;
  if (!stored.empty()) {
    try {
      doc->graph.add(stored);
    } catch (const Error& e) {
      throw Error("document " + doc_id + ": stored changes are inconsistent: " + e.what());
    }
  }
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  doc->local = doc->graph.subscribe_local([weak, doc_id](const Change& change) {
    if (auto self = weak.lock()) self->local_change(doc_id, change);
  });
  auto& ref = *doc;
  documents.emplace(doc_id, std::move(doc));
  if (options.max_loaded_documents && documents.size() > options.max_loaded_documents) {
    unload_idle(doc_id);
  }
  return ref;
}

RepoImpl::Document* RepoImpl::loaded(const std::string& doc_id) {
  auto it = documents.find(doc_id);
  if (it == documents.end()) return nullptr;
  it->second->last_used = std::chrono::steady_clock::now();
  return it->second.get();
}

RepoImpl::Document* RepoImpl::find(const std::string& doc_id) {
  if (auto* doc = loaded(doc_id)) return doc;
  if (doc_id.empty() || doc_id.size() > Envelope::kMaxIdChars) return nullptr;
  if (!options.storage->has_document(doc_id)) return nullptr;
  return &open(doc_id);
}

std::vector<std::string> RepoImpl::document_ids() const {
  std::vector<std::string> ids = options.storage->list_documents();
  for (const auto& [id, doc] : documents) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void RepoImpl::arm_unload_timer() {
  if (options.unload_after.count() <= 0 || shutting_down) return;
  unload_timer.expires_after(std::max(options.unload_after / 2, std::chrono::milliseconds(1)));
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  unload_timer.async_wait([weak](const std::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) {
      self->unload_idle();
      self->arm_unload_timer();
    }
  });
}

void RepoImpl::forget_old_peers() {
  if (shutting_down) return;
  auto cutoff =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch() - options.forget_peers_after)
          .count();
  try {
    if (std::size_t n = options.storage->forget_peers_before(cutoff)) {
      log->info("forgot {} sync states of peers not seen for {} h", n,
                std::chrono::duration_cast<std::chrono::hours>(options.forget_peers_after).count());
    }
  } catch (const Error& e) {
    log->warn("could not forget old peers' sync states: {}", log_text(e.what()));
  }
  forget_timer.expires_after(std::chrono::hours(24));
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  forget_timer.async_wait([weak](const std::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->forget_old_peers();
  });
}

void RepoImpl::unload_idle(const std::string& keep) {
  auto now = std::chrono::steady_clock::now();
  // Only what storage can give back as it is: no session sharing it (its sync states live
  // in that session), nothing unstored, nothing pending, no reference held by the
  // application.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> idle;
  for (const auto& [id, doc] : documents) {
    if (id == keep || doc->held_by_application || sharers.count(id) || !doc->unstored.empty() ||
        doc->graph.pending_count() > 0 || dirty.count(id)) {
      continue;
    }
    idle.emplace_back(doc->last_used, id);
  }
  std::sort(idle.begin(), idle.end());
  std::size_t over = options.max_loaded_documents && documents.size() > options.max_loaded_documents
                         ? documents.size() - options.max_loaded_documents
                         : 0;
  std::size_t unloaded = 0;
  for (const auto& [used, id] : idle) {
    bool stale = options.unload_after.count() > 0 && now - used >= options.unload_after;
    if (!stale && unloaded >= over) break;  // sorted: the rest were used more recently
    documents.erase(id);
    ++unloaded;
  }
  if (unloaded)
    log->debug("unloaded {} idle documents, {} stay loaded", unloaded, documents.size());
}

void RepoImpl::discard(const std::string& doc_id) {
  documents.erase(doc_id);
}

void RepoImpl::store(Document& doc, const std::string& doc_id, std::vector<Change> changes,
                     bool applied) {
  // Changes a failed store left in memory only go first: storage keeps application order.
  std::vector<Change> batch = std::move(changes);
  if (!doc.unstored.empty()) batch.insert(batch.begin(), doc.unstored.begin(), doc.unstored.end());
  try {
    options.storage->append_changes(doc_id, batch);
  } catch (const Error&) {
    // Applied but not stored: kept for the next store of this document. Changes not yet
    // applied (Repo::commit's) are simply not made.
    if (applied) doc.unstored = std::move(batch);
    throw;
  }
  doc.unstored.clear();
}

Change RepoImpl::commit(const std::string& doc_id, Bytes payload,
                        std::optional<std::string> message,
                        std::optional<std::int64_t> timestamp_ms) {
  Document& doc = open(doc_id);
  doc.held_by_application = true;
  // Stored before it is applied, so a storage failure leaves the document unchanged.
  Change change = doc.graph.next_change(std::move(payload), std::move(message), timestamp_ms);
  store(doc, doc_id, {change}, /*applied=*/false);
  doc.stored_ahead = change.hash();
  doc.graph.commit_built(change);
  doc.stored_ahead.reset();
  return change;
}

void RepoImpl::local_change(const std::string& doc_id, const Change& change) {
  Document* doc = loaded(doc_id);
  if (!doc) return;
  if (doc->stored_ahead != change.hash()) {
    try {
      store(*doc, doc_id, {change}, /*applied=*/true);
    } catch (const Error&) {
      schedule_push(doc_id);  // it is in the graph: peers may have it all the same
      throw;
    }
  }
  schedule_push(doc_id);
}

void RepoImpl::remote_applied(const std::string& doc_id, const std::string& peer_id,
                              const std::vector<ChangeHash>& applied) {
  Document* doc = loaded(doc_id);
  if (!doc) return;
  std::vector<Change> changes;
  changes.reserve(applied.size());
  for (const auto& h : applied) changes.push_back(*doc->graph.get(h));
  try {
    store(*doc, doc_id, std::move(changes), /*applied=*/true);
  } catch (const StoredEquivocationError&) {
    drop_refused(*doc, applied);  // another server stored the other one first
    throw;
  }
  change_listeners.notify(RemoteChanges{doc_id, peer_id, applied});
  schedule_push(doc_id);  // relay to the other peers
}

void RepoImpl::save_sync_states(const std::string& peer_id, std::span<const SyncStateRecord> states,
                                const std::optional<PeerRecord>& peer) {
  try {
    if (!states.empty()) options.storage->save_sync_states(peer_id, states);
    if (peer) options.storage->save_peer(peer_id, *peer);
  } catch (const Error& e) {
    // A lost state only costs a fuller sync next time.
    log->warn("peer {}: could not save {} sync state(s): {}", log_text(peer_id), states.size(),
              log_text(e.what()));
    emit({PeerEvent::Kind::kStorageFailed, peer_id, "", e.what()});
  }
}

void RepoImpl::emit(const PeerEvent& event) {
  switch (event.kind) {
    case PeerEvent::Kind::kConnectFailed:
      ++ended.connect_failures;
      break;
    case PeerEvent::Kind::kUnavailable:
      ++ended.unavailable;
      break;
    case PeerEvent::Kind::kStorageFailed:
      ++ended.storage_failures;
      break;
    case PeerEvent::Kind::kConnected:
    case PeerEvent::Kind::kDisconnected:
    case PeerEvent::Kind::kReadOnly:
      break;
  }
  peer_listeners.notify(event);
}

namespace {

void add_stats(RepoMetrics& m, const PeerStats& s) {
  m.frames_sent += s.frames_sent;
  m.frames_received += s.frames_received;
  m.bytes_sent += s.bytes_sent;
  m.bytes_received += s.bytes_received;
  m.sync_messages_sent += s.sync_messages_sent;
  m.sync_messages_received += s.sync_messages_received;
  m.changes_sent += s.changes_sent;
  m.changes_received += s.changes_received;
  m.unavailable_sent += s.unavailable_sent;
}

}  // namespace

void RepoImpl::storage_failed(const std::string& peer_id, const std::string& address,
                              const std::string& problem) {
  emit({PeerEvent::Kind::kStorageFailed, peer_id, address, problem});
}

SharePolicy share_everything() {
  return [](const SharePeer&, const std::string&) { return true; };
}

SharePolicy share_nothing() {
  return [](const SharePeer&, const std::string&) { return false; };
}

SharePolicy share_with_dialled_peers() {
  return [](const SharePeer& peer, const std::string&) { return peer.dialled; };
}

SessionPolicy RepoImpl::policy_for(const ConnectOptions& dial, std::string address,
                                   bool dialled) const {
  SessionPolicy policy;
  policy.local_peer_id = options.peer_id;
  policy.expected_peer_id = dial.expected_peer_id;
  policy.token = dial.token;
  policy.address = address;
  if (!dialled) {
    // Access control guards what peers that connect to us may do; a peer we dialled is one
    // we chose (our server), checked by its expected peer id instead.
    policy.authenticate = options.authenticate;
    policy.access = options.access;
    policy.may_create = options.may_create;
  }
  policy.accept_unknown_documents = options.accept_unknown_documents;
  if (!options.share_policy && !dialled) return policy;  // the default offers these nothing
  SharePolicy share = options.share_policy ? options.share_policy : share_with_dialled_peers();
  // Built once per session: a relay asks this for every session each time a document
  // appears, so the call must not copy the peer's strings.
  policy.share = [share = std::move(share), peer = SharePeer{"", std::move(address), dialled}](
                     const std::string& peer_id, const std::string& doc_id) mutable {
    if (peer.peer_id != peer_id) peer.peer_id = peer_id;
    return share(peer, doc_id);
  };
  return policy;
}

void RepoImpl::schedule_push(const std::string& doc_id) {
  dirty.insert(doc_id);
  if (push_scheduled || shutting_down) return;
  push_scheduled = true;
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  if (options.push_delay.count() > 0) {
    push_timer.expires_after(options.push_delay);
    push_timer.async_wait([weak](const std::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->push();
    });
  } else {
    asio::post(io, [weak] {
      if (auto self = weak.lock()) self->push();
    });
  }
}

void RepoImpl::announce(const std::string& doc_id) {
  // Collected first (offering may close a session), without copying the whole set: a relay
  // announces every document it learns of, so this runs once per document and session.
  std::vector<std::shared_ptr<PeerSession>> targets;
  for (const auto& session : sessions) {
    if (session->ready() && session->offers_anything() && session->offers(doc_id)) {
      targets.push_back(session);
    }
  }
  for (const auto& session : targets) session->offer(doc_id);
}

void RepoImpl::add_sharer(const std::string& doc_id, PeerSession* session) {
  sharers[doc_id].insert(session);
}

std::vector<std::shared_ptr<PeerSession>> RepoImpl::sharers_of(const std::string& doc_id) const {
  std::vector<std::shared_ptr<PeerSession>> out;
  auto it = sharers.find(doc_id);
  if (it == sharers.end()) return out;
  out.reserve(it->second.size());
  for (PeerSession* session : it->second) out.push_back(session->shared_from_this());
  return out;
}

void RepoImpl::push() {
  push_scheduled = false;
  auto docs = std::move(dirty);
  dirty.clear();
  for (const auto& doc_id : docs) {
    for (const auto& session : sharers_of(doc_id)) session->sync_document(doc_id);
  }
  offer_to_resumed(docs);
}

void RepoImpl::relay_ephemeral(PeerSession* from, const Envelope& message) {
  for (const auto& session : sharers_of(message.doc_id)) {
    if (session.get() != from) session->relay_ephemeral(message);
  }
}

void RepoImpl::add_session(std::shared_ptr<Connection> connection, std::string address,
                           std::string dialled_url, ConnectOptions dial,
                           ListenOptions::Dialect dialect) {
  if (shutting_down) {
    connection->close({CloseReason::Code::kShutdown, "repo shutting down"});
    return;
  }
  // Connection quotas are checked before anything is allocated for the peer; a dialled
  // connection is ours and not counted.
  std::string remote;
  if (dialled_url.empty()) {
    remote = remote_host(connection->description());
    const Quotas& q = options.quotas;
    std::string refusal;
    if (q.max_connections && sessions.size() >= q.max_connections) {
      refusal = "too many connections (" + std::to_string(q.max_connections) + ")";
    } else if (q.max_connections_per_address &&
               address_connections[remote] >= q.max_connections_per_address) {
      refusal = "too many connections from " + remote + " (" +
                std::to_string(q.max_connections_per_address) + ")";
    }
    if (!refusal.empty()) {
      if (address_connections[remote] == 0) address_connections.erase(remote);
      refuse_connection(*connection, refusal);
      return;
    }
  }
  ++(dialled_url.empty() ? ended.sessions_accepted : ended.sessions_dialled);
  auto session =
      std::make_shared<PeerSession>(weak_from_this(), io, std::move(connection), std::move(address),
                                    std::move(dialled_url), std::move(dial), dialect);
  sessions.insert(session);
  if (!remote.empty()) {
    ++address_connections[remote];
    counted_address[session.get()] = remote;
  }
  session->start();
}

void RepoImpl::session_ready(const std::shared_ptr<PeerSession>& session) {
  if (auto it = dialers.find(session->dialled_url()); it != dialers.end()) {
    it->second->connected = true;
    it->second->connected_at = std::chrono::steady_clock::now();
  }
  emit({PeerEvent::Kind::kConnected, session->peer_id(), session->stats().address, ""});
  if (session->dialect() == ListenOptions::Dialect::kAutomergeRepo) {
    // automerge-repo clients redial with the same peer id when they think the socket died
    // (every 5 s): the new socket replaces the old one, as automerge-repo's server does.
    auto current = sessions;
    for (const auto& other : current) {
      if (other != session && other->ready() && other->peer_id() == session->peer_id() &&
          other->dialect() == ListenOptions::Dialect::kAutomergeRepo) {
        other->close({CloseReason::Code::kNormal, "replaced by a new connection of the same peer"});
      }
    }
  }
}

void RepoImpl::session_closed(const std::shared_ptr<PeerSession>& session,
                              const CloseReason& reason) {
  // Counted once: a session closed by shutdown() may report after the set was cleared.
  if (sessions.erase(session) > 0 || shutting_down) {
    add_stats(ended, session->stats());
    ++ended.sessions_closed[to_string(reason.code)];
  }
  if (auto it = counted_address.find(session.get()); it != counted_address.end()) {
    if (--address_connections[it->second] == 0) address_connections.erase(it->second);
    counted_address.erase(it);
  }
  resumed_offering.erase(session.get());
  if (auto it = resumed_sessions.find(session->peer_id()); it != resumed_sessions.end()) {
    it->second.erase(session.get());
    if (it->second.empty()) resumed_sessions.erase(it);
  }
  if (session->ready()) {
    auto it = principal_connections.find(quota_key(session->peer_id(), session->principal()));
    if (it != principal_connections.end() && --it->second == 0) principal_connections.erase(it);
  }
  for (const auto& doc_id : session->shared_documents()) {
    auto it = sharers.find(doc_id);
    if (it != sharers.end()) {
      it->second.erase(session.get());
      if (it->second.empty()) sharers.erase(it);
    }
    if (sharers.count(doc_id)) continue;
    // Nobody else shares it: what this peer left parked on missing deps can never be
    // completed by it, and a document it only named (nothing applied, not the
    // application's) goes too, so an invented document costs nothing once the peer left.
    Document* doc = loaded(doc_id);
    if (!doc) continue;
    if (std::size_t dropped = doc->graph.drop_pending()) {
      log->info("document {}: dropped {} changes {} left waiting for deps", log_text(doc_id),
                dropped, log_text(session->peer_id()));
    }
    if (doc->graph.size() == 0 && !doc->held_by_application) discard(doc_id);
  }
  // A peer that refused our hello (it says hello first, then judges ours) did not let us
  // connect, whatever came before.
  bool refused = session->refused_permanently() && !session->dialled_url().empty();
  if (session->ready() && !refused) {
    emit({PeerEvent::Kind::kDisconnected, session->peer_id(), session->stats().address,
          reason.to_string()});
  }
  auto it = dialers.find(session->dialled_url());
  if (it != dialers.end() && it->second->active && !shutting_down) {
    auto& dialer = it->second;
    dialer->connected = false;
    bool permanent = session->refused_permanently();
    if (!session->ready() || refused) {
      emit({PeerEvent::Kind::kConnectFailed, session->peer_id(), it->first, reason.to_string(),
            permanent});
    } else if (std::chrono::steady_clock::now() - dialer->connected_at >= options.reconnect.max) {
      // A connection that stayed up this long was healthy: what ends it now is news.
      dialer->backoff = options.reconnect.initial;
      dialer->last_failure.clear();
    }
    retry_later(dialer, reason.to_string(), permanent);
  }
}

std::optional<SessionHost::Refusal> RepoImpl::admit(const std::string& peer_id,
                                                    const std::string& principal) {
  const Quotas& q = options.quotas;
  const std::string key = quota_key(peer_id, principal);
  if (q.max_connections_per_principal &&
      principal_connections[key] >= q.max_connections_per_principal) {
    return SessionHost::Refusal{"too many connections for " + key + " (" +
                                    std::to_string(q.max_connections_per_principal) + ")",
                                false};
  }
  // A peer id names its sync states: once a principal used it, no other may.
  if (options.authenticate) {
    auto& owner = owners[{"peer", peer_id}];
    if (owner.empty()) owner = options.storage->claim("peer", peer_id, principal);
    if (owner != principal) {
      return SessionHost::Refusal{"peer id " + peer_id + " belongs to another principal", true};
    }
  }
  ++principal_connections[key];
  return std::nullopt;
}

std::optional<std::string> RepoImpl::refuse_creation(const std::string& peer_id,
                                                     const std::string& principal) {
  std::size_t limit = options.quotas.max_documents_created_per_principal;
  std::size_t& created = documents_created[quota_key(peer_id, principal)];
  if (limit && created >= limit) {
    return "it created " + std::to_string(created) + " documents (limit " + std::to_string(limit) +
           ")";
  }
  ++created;
  return std::nullopt;
}

bool RepoImpl::may_author(const std::string& principal, const ActorId& actor) {
  auto& owner = owners[{"actor", actor.hex()}];
  if (owner.empty()) owner = options.storage->claim("actor", actor.hex(), principal);
  return owner == principal;
}

void RepoImpl::dial(const std::string& url) {
  auto it = dialers.find(url);
  if (it == dialers.end() || !it->second->active || shutting_down) return;
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  transports.connect(url, [weak, url](std::shared_ptr<Connection> connection, ConnectError error) {
    auto self = weak.lock();
    if (!self) {
      if (connection) connection->close({CloseReason::Code::kShutdown, "repo gone"});
      return;
    }
    auto it = self->dialers.find(url);
    if (it == self->dialers.end() || !it->second->active || self->shutting_down) {
      if (connection) connection->close({CloseReason::Code::kShutdown, "no longer wanted"});
      return;
    }
    if (!connection) {
      // Said once per reason: a server that stays down is one warning, not one per retry.
      auto level =
          error.message == it->second->last_failure ? spdlog::level::debug : spdlog::level::warn;
      self->log->log(level, "connect {}: {}", log_text(url), log_text(error.message));
      self->emit({PeerEvent::Kind::kConnectFailed, "", url, error.message, error.permanent});
      self->retry_later(it->second, error.message, error.permanent);
      return;
    }
    self->add_session(std::move(connection), url, url, it->second->options);
  });
}

void RepoImpl::retry_later(const std::shared_ptr<Dialer>& dialer, const std::string& reason,
                           bool permanent) {
  if (permanent) {
    dialer->active = false;
    log->warn("connect {}: giving up, this cannot succeed by retrying: {}", log_text(dialer->url),
              log_text(reason));
    return;
  }
  // A new reason starts the backoff again; the same one repeating keeps it growing, however
  // far each attempt got (an error after the hello included).
  if (reason != dialer->last_failure) {
    dialer->backoff = options.reconnect.initial;
    dialer->last_failure = reason;
  }
  auto delay = dialer->backoff;
  dialer->backoff =
      std::min(options.reconnect.max,
               std::chrono::milliseconds(static_cast<long long>(
                   static_cast<double>(dialer->backoff.count()) * options.reconnect.factor)));
  dialer->timer->expires_after(delay);
  std::weak_ptr<RepoImpl> weak = weak_from_this();
  std::string url = dialer->url;
  dialer->timer->async_wait([weak, url](const std::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->dial(url);
  });
}

void RepoImpl::shutdown() {
  if (shutting_down) return;
  shutting_down = true;
  for (auto& [url, dialer] : dialers) {
    dialer->active = false;
    dialer->timer->cancel();
  }
  for (auto& listener : listeners) listener->close();
  push_timer.cancel();
  unload_timer.cancel();
  forget_timer.cancel();
  options.storage->watch_appends(nullptr);  // waits for a notice being handed over
  auto current = sessions;
  for (const auto& session : current)
    session->close({CloseReason::Code::kShutdown, "repo shutting down"});
  sessions.clear();
  sharers.clear();
  resumed_sessions.clear();
  resumed_offering.clear();
}

// ---- Repo ----

Repo::Repo(asio::io_context& io, Transports& transports, RepoOptions options)
    : impl_(std::make_shared<RepoImpl>(io, transports, std::move(options))) {
  // Documents load when first needed (a peer or the application names them), not here.
  impl_->arm_unload_timer();
  impl_->watch_storage();
  if (impl_->options.forget_peers_after.count() > 0) {
    // On the loop, not here: construction stays constant-time however large the store.
    std::weak_ptr<RepoImpl> weak = impl_;
    asio::post(io, [weak] {
      if (auto self = weak.lock()) self->forget_old_peers();
    });
  }
}

Repo::~Repo() {
  impl_->shutdown();
}

const std::string& Repo::peer_id() const {
  return impl_->options.peer_id;
}
spdlog::logger& Repo::logger() {
  return *impl_->log;
}

ChangeGraph& Repo::open(const std::string& doc_id) {
  bool existed = impl_->find(doc_id) != nullptr;
  auto& doc = impl_->open(doc_id);
  doc.held_by_application = true;
  if (!existed) impl_->announce(doc_id);
  return doc.graph;
}

ChangeGraph* Repo::find(const std::string& doc_id) {
  auto* doc = impl_->find(doc_id);
  if (doc) doc->held_by_application = true;
  return doc ? &doc->graph : nullptr;
}

std::vector<std::string> Repo::documents() const {
  return impl_->document_ids();
}

std::size_t Repo::loaded_documents() const {
  return impl_->documents.size();
}

Change Repo::commit(const std::string& doc_id, Bytes payload, std::optional<std::string> message,
                    std::optional<std::int64_t> timestamp_ms) {
  bool existed = impl_->find(doc_id) != nullptr;
  Change change = impl_->commit(doc_id, std::move(payload), std::move(message), timestamp_ms);
  if (!existed) impl_->announce(doc_id);
  return change;
}

void Repo::request(const std::string& doc_id) {
  impl_->open(doc_id).held_by_application = true;
  for (const auto& session : impl_->sessions) session->request(doc_id);
}

std::string Repo::listen(const std::string& url) {
  return listen(url, ListenOptions{});
}

std::string Repo::listen(const std::string& url, ListenOptions options) {
  auto listener = impl_->transports.listen(url);
  std::string bound = listener->url();
  std::weak_ptr<RepoImpl> weak = impl_;
  listener->start([weak, bound, options](std::shared_ptr<Connection> connection) {
    auto self = weak.lock();
    if (!self) return connection->close({CloseReason::Code::kShutdown, "repo gone"});
    std::string address = connection->description();
    self->add_session(std::move(connection), address, "", {}, options.dialect);
  });
  impl_->listeners.push_back(std::move(listener));
  impl_->log->info("listening on {}", bound);
  return bound;
}

void Repo::connect(const std::string& url, std::string expected_peer_id) {
  connect(url, ConnectOptions{std::move(expected_peer_id), ""});
}

void Repo::connect(const std::string& url, ConnectOptions options) {
  auto& dialer = impl_->dialers[url];
  if (dialer && dialer->active) return;
  dialer = std::make_shared<RepoImpl::Dialer>();
  dialer->url = url;
  dialer->options = std::move(options);
  dialer->backoff = impl_->options.reconnect.initial;
  dialer->timer = std::make_unique<asio::steady_timer>(impl_->io);
  impl_->dial(url);
}

void Repo::disconnect(const std::string& url) {
  auto it = impl_->dialers.find(url);
  if (it == impl_->dialers.end()) return;
  it->second->active = false;
  it->second->timer->cancel();
  impl_->dialers.erase(it);
  auto current = impl_->sessions;
  for (const auto& session : current) {
    if (session->dialled_url() == url)
      session->close({CloseReason::Code::kNormal, "disconnected"}, true);
  }
}

void Repo::accept(std::shared_ptr<Connection> connection, std::string address) {
  if (address.empty()) address = connection->description();
  impl_->add_session(std::move(connection), std::move(address), "");
}

Subscription Repo::on_remote_changes(std::function<void(const RemoteChanges&)> callback) {
  return impl_->change_listeners.add(std::move(callback));
}

Subscription Repo::on_peer_event(std::function<void(const PeerEvent&)> callback) {
  return impl_->peer_listeners.add(std::move(callback));
}

std::vector<PeerStats> Repo::peers() const {
  std::vector<PeerStats> out;
  for (const auto& session : impl_->sessions) out.push_back(session->stats());
  return out;
}

RepoMetrics Repo::metrics() const {
  RepoMetrics m = impl_->ended;
  for (const auto& session : impl_->sessions) {
    add_stats(m, session->stats());
    ++m.sessions_open;
    if (session->ready()) ++m.peers_connected;
  }
  return m;
}

bool Repo::peer_has_our_changes(const std::string& peer_id, const std::string& doc_id) const {
  for (const auto& session : impl_->sessions) {
    if (session->peer_id() == peer_id && session->has_our_changes(doc_id)) return true;
  }
  return false;
}

bool Repo::in_sync_with(const std::string& peer_id, const std::string& doc_id) const {
  for (const auto& session : impl_->sessions) {
    if (session->peer_id() == peer_id && session->in_sync(doc_id)) return true;
  }
  return false;
}

}  // namespace dagsync
