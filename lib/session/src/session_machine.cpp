#include "session_machine.h"

#include <algorithm>

#include "dagsync/error.h"
#include "resume_capability.h"

namespace dagsync {

using Level = session_output::Log::Level;

SessionMachine::SessionMachine(SessionHost& host, SessionPolicy policy, SessionConfig config,
                               std::unique_ptr<WireDialect> dialect, bool dialled)
    : host_(host),
      policy_(std::move(policy)),
      config_(std::move(config)),
      dialect_(std::move(dialect)),
      dialled_(dialled) {}

std::vector<SessionOutput> SessionMachine::take_outputs() {
  std::vector<SessionOutput> out;
  out.swap(outputs_);
  return out;
}

std::optional<SessionClock::time_point> SessionMachine::next_deadline() const {
  if (closed_) return std::nullopt;
  std::optional<SessionClock::time_point> next = next_heartbeat_;
  if (hello_deadline_ && (!next || *hello_deadline_ < *next)) next = hello_deadline_;
  if (idle_deadline_ && (!next || *idle_deadline_ < *next)) next = idle_deadline_;
  if (goodbye_deadline_ && (!next || *goodbye_deadline_ < *next)) next = goodbye_deadline_;
  return next;
}

void SessionMachine::log(Level level, std::string text) {
  outputs_.push_back(session_output::Log{level, std::move(text)});
}

void SessionMachine::start(SessionClock::time_point now) {
  if (started_ || closed_) return;
  started_ = true;
  if (config_.hello_timeout.count() > 0) hello_deadline_ = now + config_.hello_timeout;
  if (config_.heartbeat_interval.count() > 0) next_heartbeat_ = now + config_.heartbeat_interval;
  // automerge-repo: our hello (its `peer`) answers the client's and names it.
  if (!dialect_->answers_hello() || dialled_) send_hello();
}

void SessionMachine::send_hello() {
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = Repo::kProtocolVersion;
  hello.peer_id = policy_.local_peer_id;
  hello.capabilities = config_.capabilities;
  store_id_ = host_.store_id();
  if (!store_id_.empty() && hello.capabilities.size() < Envelope::kMaxCapabilities) {
    hello.capabilities.push_back(kResumeCapability + store_id_);
  }
  hello.token = policy_.token;
  send(std::move(hello));
}

void SessionMachine::tick(SessionClock::time_point now) {
  if (closed_) return;
  if (hello_deadline_ && now >= *hello_deadline_ && !hello_received_) {
    std::string problem =
        "no hello within " + std::to_string(config_.hello_timeout.count()) + " ms";
    log(Level::kWarn, problem + "; closing");
    return finish({CloseReason::Code::kTimeout, problem}, true);
  }
  if (goodbye_deadline_ && now >= *goodbye_deadline_) {
    log(Level::kInfo, "no answer to our goodbye within " +
                          std::to_string(config_.goodbye_timeout.count()) +
                          " ms: what we sent last will be offered again");
    return finish(closing_reason_, true);
  }
  if (idle_deadline_ && now >= *idle_deadline_) {
    std::string problem =
        "nothing received for " + std::to_string(config_.idle_timeout.count()) + " ms";
    log(Level::kWarn, problem + "; closing");
    return finish({CloseReason::Code::kTimeout, problem}, true);
  }
  if (next_heartbeat_ && now >= *next_heartbeat_) {
    Envelope beat;
    beat.type = Envelope::Type::kHeartbeat;
    send(std::move(beat));
    next_heartbeat_ = now + config_.heartbeat_interval;
  }
}

void SessionMachine::send(Envelope message) {
  if (closed_) return;
  // After our goodbye nothing else goes out: the peer's answer counts what we sent.
  if (closing_ && message.type != Envelope::Type::kGoodbye) return;
  Bytes frame = dialect_->encode(std::move(message));
  if (frame.empty()) return;  // no form in this dialect
  ++stats_.frames_sent;
  stats_.bytes_sent += frame.size();
  outputs_.push_back(session_output::Send{std::move(frame)});
}

void SessionMachine::send_doc_message(Envelope::Type type, const std::string& doc_id) {
  Envelope e;
  e.type = type;
  e.doc_id = doc_id;
  send(std::move(e));
}

void SessionMachine::protocol_error(const std::string& problem) {
  close_with_error(problem, problem);
}

void SessionMachine::fail(const std::string& problem) {
  // The details (paths, backend messages) are for our log, not for the peer.
  close_with_error(problem, "the peer could not store what it received; try again later");
}

void SessionMachine::refuse_stored(const std::string& doc_id, const std::string& problem) {
  if (auto it = states_.find(doc_id); it != states_.end()) it->second.sync = SyncState{};
  refuse_document(doc_id, "document " + doc_id + ": refused changes: " + problem);
}

void SessionMachine::close_with_error(const std::string& problem, const std::string& told,
                                      const std::string& code) {
  if (closed_) return;
  log(Level::kWarn, problem + "; closing the connection");
  Envelope error;
  error.type = Envelope::Type::kError;
  error.error = told.substr(0, Envelope::kMaxErrorChars);
  error.code = code;
  send(std::move(error));
  finish({CloseReason::Code::kProtocol, problem}, true);
}

void SessionMachine::close(const CloseReason& reason, SessionClock::time_point now, bool goodbye) {
  if (closed_) return;
  if (closing_ || !goodbye || !resumed_ || config_.goodbye_timeout.count() <= 0) {
    return finish(reason, true);
  }
  closing_ = true;
  closing_reason_ = reason;
  Envelope bye;
  bye.type = Envelope::Type::kGoodbye;
  bye.count = frames_handled_;
  send(std::move(bye));
  goodbye_deadline_ = now + config_.goodbye_timeout;
  next_heartbeat_.reset();
  idle_deadline_.reset();
}

void SessionMachine::handle_goodbye(const Envelope& message) {
  // The count names every frame we sent when it covers them all: the peer handled our
  // last sync messages (changes applied and stored) before it said goodbye or answered.
  delivered_ = message.count == stats_.frames_sent;
  if (closing_) return finish(closing_reason_, true);
  Envelope answer;
  answer.type = Envelope::Type::kGoodbye;
  answer.count = frames_handled_;
  send(std::move(answer));
  finish({CloseReason::Code::kRemoteClosed, "the peer said goodbye"}, true);
}

void SessionMachine::connection_closed(const CloseReason& reason) {
  finish(reason, false);
}

void SessionMachine::finish(const CloseReason& reason, bool emit_close) {
  if (closed_) return;
  closed_ = true;
  stats_.connected = false;
  hello_deadline_.reset();
  next_heartbeat_.reset();
  idle_deadline_.reset();
  goodbye_deadline_.reset();
  if (hello_received_) {
    // Only states that learnt something worth keeping: a document merely offered, or one
    // whose shared heads did not move, costs no write.
    // A resumed session also saves what it offered at the start, so that an offer the peer
    // never answered stays stale; each state says whether the peer holds all of ours.
    session_output::SaveStates save;
    for (auto& [doc_id, doc] : states_) {
      if (doc.engine) {
        if (auto state = doc.engine->saved_state(); state && state != doc.saved) {
          save.states.push_back({doc_id, std::move(*state)});
        }
        continue;
      }
      if (dialect_->automerge()) continue;  // no engine: nothing learnt
      ChangeGraph* graph = host_.find_document(doc_id);
      // What is saved rests on what the peer said, never on what we merely sent: a message
      // sent last may be lost however the connection ended (a reset discards what the peer
      // had not read, a peer that crashes loses what it had not stored). Both hold exactly
      // our heads when we hold the peer's latest heads and either the peer said they cover
      // all of ours, or our complete message went out before a goodbye the peer confirmed
      // (it handled every frame we sent). Otherwise the side that sent last saves a stale
      // state and offers the document again when resuming.
      const auto& theirs = doc.sync.their_heads;
      bool hold_theirs = graph && theirs && graph->pending_count() == 0 &&
                         std::all_of(theirs->begin(), theirs->end(),
                                     [&](const ChangeHash& h) { return graph->has(h); });
      bool confirmed =
          hold_theirs && (graph->covered_by(*theirs) || (delivered_ && has_our_changes(doc_id)));
      if (confirmed) doc.sync.shared_heads = graph->heads();
      if (doc.sync.shared_heads == doc.loaded_shared_heads && !resume_offered_.count(doc_id))
        continue;
      // Fresh only when the state saved says so by itself: a later session that leaves the
      // document untouched answers in_sync_with from these shared heads.
      std::vector<ChangeHash> shared;
      for (const auto& h : doc.sync.shared_heads) {
        if (graph && graph->has(h)) shared.push_back(h);
      }
      bool fresh = confirmed && graph->covered_by(shared);
      save.states.push_back({doc_id, doc.sync.encode(), fresh});
    }
    save.peer = resume_record_;
    if (!save.states.empty() || save.peer) outputs_.push_back(std::move(save));
  }
  if (emit_close) outputs_.push_back(session_output::Close{reason});
  log(Level::kInfo, "disconnected (" + reason.to_string() + ")");
}

void SessionMachine::receive_frame(ByteView frame, SessionClock::time_point now) {
  if (closed_) return;
  ++stats_.frames_received;
  stats_.bytes_received += frame.size();
  DecodedFrame decoded = dialect_->decode(frame);
  switch (decoded.kind) {
    case DecodedFrame::Kind::kError:
      return protocol_error(decoded.error);
    case DecodedFrame::Kind::kIgnore:
      log(Level::kDebug, "ignoring a repeated frame");
      break;
    case DecodedFrame::Kind::kMessage:
      ++frames_handled_;
      handle(std::move(decoded.message));
      break;
  }
  if (!closed_ && !closing_ && hello_received_ && config_.idle_timeout.count() > 0) {
    idle_deadline_ = now + config_.idle_timeout;
  }
}

void SessionMachine::handle(Envelope message) {
  if (message.type == Envelope::Type::kHello) return handle_hello(message);
  if (message.type == Envelope::Type::kError) {
    // Before the hello too: that is where a peer refuses us, and why matters to our retries.
    if (message.code == Envelope::kErrorUnauthorized || message.code == Envelope::kErrorVersion)
      refused_permanently_ = true;
    log(Level::kWarn, "peer reported an error: " + message.error);
    return finish({CloseReason::Code::kProtocol, "peer reported: " + message.error}, true);
  }
  if (!hello_received_) {
    return protocol_error(std::string("expected hello, got ") + to_string(message.type));
  }
  if (message.type == Envelope::Type::kGoodbye) {
    if (!resumed_) return protocol_error("goodbye from a peer that does not resume");
    return handle_goodbye(message);
  }
  // Waiting for the answer to our goodbye: what the peer sent meanwhile stays unhandled
  // (its goodbye will not count it, so the peer offers it again when resuming).
  if (closing_) return;
  switch (message.type) {
    case Envelope::Type::kSync:
      if (dialect_->automerge()) return handle_automerge_sync(message, false);
      return handle_sync(message);
    case Envelope::Type::kRequest:
      if (dialect_->automerge()) return handle_automerge_sync(message, true);
      return handle_request(message);
    case Envelope::Type::kEphemeral:
      return handle_ephemeral(std::move(message));
    case Envelope::Type::kUnavailable:
      outputs_.push_back(session_output::Unavailable{message.doc_id});
      return;
    case Envelope::Type::kReadOnly:
      return handle_read_only(message);
    case Envelope::Type::kError:  // handled above
    case Envelope::Type::kGoodbye:
    case Envelope::Type::kHeartbeat:
    case Envelope::Type::kHello:
      return;
  }
}

void SessionMachine::handle_hello(const Envelope& hello) {
  if (hello_received_) return protocol_error("second hello");
  if (hello.protocol_version != Repo::kProtocolVersion) {
    refused_permanently_ = true;
    std::string problem = "unsupported protocol version " + std::to_string(hello.protocol_version) +
                          " (this peer speaks " + std::to_string(Repo::kProtocolVersion) + ")";
    return close_with_error(problem, problem, Envelope::kErrorVersion);
  }
  if (auto refusal = policy_.refuse_hello(hello.peer_id)) return protocol_error(*refusal);
  auto resume_capability = find_resume_capability(hello.capabilities);
  if (auto* bad = std::get_if<ResumeError>(&resume_capability)) return protocol_error(bad->problem);
  auto principal = policy_.authenticate_hello(hello.peer_id, hello.token);
  if (!principal || principal->empty()) {
    // The peer learns only that it was refused: nothing about documents or other peers.
    return close_with_error("refused peer " + hello.peer_id + ": not authenticated", "unauthorized",
                            Envelope::kErrorUnauthorized);
  }
  if (auto refusal = dialled_ ? std::nullopt : host_.admit(hello.peer_id, *principal)) {
    return close_with_error(
        "refused peer " + hello.peer_id + " as " + *principal + ": " + refusal->reason,
        refusal->reason, refusal->permanent ? Envelope::kErrorUnauthorized : "");
  }
  policy_.principal = *principal;
  hello_received_ = true;
  hello_deadline_.reset();
  stats_.peer_id = hello.peer_id;
  stats_.connected = true;
  log(Level::kInfo, "connected");
  if (dialect_->answers_hello() && !dialled_) send_hello();
  outputs_.push_back(session_output::Ready{});
  if (auto* peer_store = std::get_if<std::string>(&resume_capability);
      peer_store && !store_id_.empty()) {
    return resume(*peer_store);
  }
  // Without resuming, every document the policy gives the peer is offered, changed or not.
  if (policy_.offers_anything()) {
    for (const auto& doc_id : host_.document_ids()) {
      if (policy_.offers(stats_.peer_id, doc_id)) offer(doc_id);
    }
  }
}

void SessionMachine::resume(const std::string& peer_store_id) {
  SessionHost::ResumePlan plan = host_.plan_resume(stats_.peer_id, peer_store_id);
  resumed_ = true;
  stats_.resumed = true;
  if (plan.record_changed) resume_record_ = plan.record;
  if (plan.discarded) {
    log(Level::kInfo, "the peer's store changed: discarded " + std::to_string(plan.discarded) +
                          " sync states saved for its former store");
  }
  outputs_.push_back(session_output::Resumed{});
  // A document neither side changed since it was last in sync with the peer costs nothing:
  // only stale states and documents new to the peer are offered (the peer does the same).
  auto offer_listed = [&](const std::string& doc_id) {
    if (closed_ || resume_offered_.count(doc_id)) return;
    resume_offered_.insert(doc_id);
    ++stats_.documents_resumed;
    offer(doc_id);
  };
  for (const auto& doc_id : plan.stale) {
    if (policy_.may_read(doc_id)) offer_listed(doc_id);
  }
  if (!policy_.offers_anything()) return;
  if (plan.first) {
    for (const auto& doc_id : host_.document_ids()) {
      if (policy_.offers(stats_.peer_id, doc_id)) offer_listed(doc_id);
    }
  } else {
    for (const auto& doc_id : plan.changed) {
      if (policy_.offers(stats_.peer_id, doc_id)) offer_listed(doc_id);
    }
  }
}

void SessionMachine::handle_request(const Envelope& message) {
  // A document the peer may not read is answered exactly as one we do not hold.
  if (policy_.may_read(message.doc_id)) {
    if (ChangeGraph* graph = host_.find_document(message.doc_id)) {
      if (!wrong_format(message.doc_id, *graph)) return offer(message.doc_id);
    }
  }
  ++stats_.unavailable_sent;
  send_doc_message(Envelope::Type::kUnavailable, message.doc_id);
}

void SessionMachine::handle_read_only(const Envelope& message) {
  auto it = states_.find(message.doc_id);
  if (it == states_.end() || it->second.read_only) return;
  it->second.read_only = true;
  outputs_.push_back(session_output::ReadOnly{message.doc_id});
  log(Level::kInfo,
      "document " + message.doc_id + ": the peer lets us only read it; our changes stay here");
}

std::optional<std::string> SessionMachine::refuse_authorship(const ChangeGraph& graph,
                                                             const std::vector<Change>& changes) {
  for (const Change& c : changes) {
    if (graph.has(c.hash()) || graph.is_pending(c.hash())) continue;  // held: relayed is fine
    // Our own actor's changes come from us alone: one arriving from a peer is forged.
    if (c.actor() == graph.local_actor()) {
      return "change " + c.hash().hex() + " claims our own actor " + c.actor().hex();
    }
    if (policy_.enforce_authorship() && !host_.may_author(policy_.principal, c.actor())) {
      return "change " + c.hash().hex() + ": actor " + c.actor().hex() +
             " belongs to another principal than " + policy_.principal;
    }
  }
  return std::nullopt;
}

bool SessionMachine::wrong_format(const std::string& doc_id, const ChangeGraph& graph) {
  bool automerge = graph.format() == ChangeFormat::kAutomerge;
  if (automerge == dialect_->automerge()) return false;
  // A document's format is fixed when it is made: the other protocol's peers are answered
  // unavailable (said once per session in the log) and the document is left as it was.
  if (!logged_wrong_format_) {
    logged_wrong_format_ = true;
    log(Level::kWarn,
        "document " + doc_id + " holds " +
            (automerge ? "Automerge changes; a dagsync peer"
                       : "dagsync changes; an automerge-repo peer") +
            " cannot sync it: answering unavailable (further documents are not logged)");
  }
  return true;
}

void SessionMachine::refuse_document(const std::string& doc_id, const std::string& problem) {
  if (!dialled_) return protocol_error(problem);
  log(Level::kWarn, problem + "; no longer syncing this document with the peer");
  state_for(doc_id).refused = true;
}

void SessionMachine::handle_sync(const Envelope& envelope) {
  const std::string& doc_id = envelope.doc_id;
  SyncMessage message;
  try {
    message = SyncMessage::decode(envelope.payload, config_.sync_limits);
  } catch (const DecodeError& e) {
    return protocol_error("document " + doc_id + ": bad sync message: " + e.what());
  }
  // A document the peer may not read is answered exactly as one we do not hold and will
  // not create: no existence leak.
  Access access = policy_.access_to(doc_id);
  ChangeGraph* graph = access == Access::kNone ? nullptr : host_.find_document(doc_id);
  bool created = false;
  if (!graph) {
    if (!policy_.creates(stats_.peer_id, doc_id)) {
      ++stats_.unavailable_sent;
      return send_doc_message(Envelope::Type::kUnavailable, doc_id);
    }
    if (auto refusal = host_.refuse_creation(stats_.peer_id, policy_.principal)) {
      // Logged once per session: a peer naming documents by the thousand cannot flood the log.
      if (!logged_creation_refusal_) {
        logged_creation_refusal_ = true;
        log(Level::kWarn, "document " + doc_id + ": not created for " + policy_.principal + ": " +
                              *refusal + " (further refusals are not logged)");
      }
      ++stats_.unavailable_sent;
      return send_doc_message(Envelope::Type::kUnavailable, doc_id);
    }
    graph = &host_.create_document(doc_id);
    created = true;
  }
  if (wrong_format(doc_id, *graph)) {
    ++stats_.unavailable_sent;
    return send_doc_message(Envelope::Type::kUnavailable, doc_id);
  }
  DocState& doc = state_for(doc_id);
  if (doc.refused) return;
  bool read_only = access == Access::kRead;
  auto discard_created = [&] {
    if (!created) return;
    // A refused message leaves nothing behind, not even an empty document.
    states_.erase(doc_id);
    host_.discard_document(doc_id);
  };
  if (!read_only) {
    if (auto problem = refuse_authorship(*graph, message.changes)) {
      discard_created();
      return refuse_document(doc_id, "document " + doc_id + ": refused changes: " + *problem);
    }
  }
  bool answers_ours = doc.sync.in_flight;  // a reply to a message of ours: one round trip
  ReceiveResult result;
  try {
    ReceiveOptions receive;
    receive.apply_changes = !read_only;
    result = receive_sync_message(*graph, doc.sync, message, receive);
  } catch (const GraphError& e) {
    discard_created();
    return refuse_document(doc_id, "document " + doc_id + ": refused changes: " + e.what());
  }
  if (read_only && result.ignored_changes > 0 && !doc.told_read_only) {
    // Told once: a dagsync peer then stops sending changes for it, with no reconnect loop.
    doc.told_read_only = true;
    log(Level::kInfo, "document " + doc_id + ": " + policy_.principal +
                          " may only read it; ignoring its changes");
    send_doc_message(Envelope::Type::kReadOnly, doc_id);
  }
  share(doc_id);  // before any refusal below: the Repo cleans up what the peer shared
  // What this peer leaves parked on missing deps counts against it across documents.
  pending_ = pending_ - doc.pending + graph->pending_count();
  pending_bytes_ = pending_bytes_ - doc.pending_bytes + graph->pending_bytes();
  doc.pending = graph->pending_count();
  doc.pending_bytes = graph->pending_bytes();
  if ((config_.max_pending_changes && pending_ > config_.max_pending_changes) ||
      (config_.max_pending_bytes && pending_bytes_ > config_.max_pending_bytes)) {
    return protocol_error("too many changes waiting for missing deps: " + std::to_string(pending_) +
                          " changes, " + std::to_string(pending_bytes_) +
                          " bytes across documents (limits " +
                          std::to_string(config_.max_pending_changes) + ", " +
                          std::to_string(config_.max_pending_bytes) + ")");
  }
  ++stats_.sync_messages_received;
  stats_.changes_received += message.changes.size();
  if (answers_ours) ++stats_.round_trips;
  for (const auto& e : result.status.evicted) {
    log(Level::kWarn,
        "document " + doc_id + ": dropped pending change " + e.hash.hex() + ": " + e.reason);
  }
  if (!result.status.applied.empty()) {
    outputs_.push_back(session_output::Applied{doc_id, result.status.applied});
  }
  sync_document(doc_id);
  // A document first heard of from this peer is offered to our other peers too, as one
  // opened locally would be: a relay passes on what it learns.
  if (created) outputs_.push_back(session_output::Created{doc_id});
}

void SessionMachine::send_unavailable(const std::string& doc_id) {
  ++stats_.unavailable_sent;
  send_doc_message(Envelope::Type::kUnavailable, doc_id);
}

AutomergeSyncEngine* SessionMachine::engine_for(const std::string& doc_id, ChangeGraph& graph) {
  if (!config_.automerge_sync_engine) return nullptr;
  DocState& doc = state_for(doc_id);
  if (!doc.engine) doc.engine = config_.automerge_sync_engine(graph, doc.saved);
  return doc.engine.get();
}

void SessionMachine::handle_automerge_sync(const Envelope& envelope, bool request) {
  const std::string& doc_id = envelope.doc_id;
  // A document the peer may not read is answered exactly as one we do not hold.
  Access access = policy_.access_to(doc_id);
  // find_document consults storage before answering: a request is answered with the data
  // or doc-unavailable, never with an empty reply while storage is still being read.
  ChangeGraph* graph = access == Access::kNone ? nullptr : host_.find_document(doc_id);
  bool created = false;
  if (!graph) {
    // The requester stays subscribed: when the document turns up (another peer brings it),
    // the push to the document's sharers reaches it.
    share(doc_id);
    if (!request && !config_.automerge_sync_engine && !logged_no_engine_) {
      logged_no_engine_ = true;
      log(Level::kWarn, "document " + doc_id +
                            ": no Automerge sync engine; answering unavailable (further "
                            "documents are not logged)");
    }
    if (request || !policy_.creates(stats_.peer_id, doc_id) || !config_.automerge_sync_engine) {
      return send_unavailable(doc_id);
    }
    if (auto refusal = host_.refuse_creation(stats_.peer_id, policy_.principal)) {
      if (!logged_creation_refusal_) {
        logged_creation_refusal_ = true;
        log(Level::kWarn, "document " + doc_id + ": not created for " + policy_.principal + ": " +
                              *refusal + " (further refusals are not logged)");
      }
      return send_unavailable(doc_id);
    }
    graph = &host_.create_automerge_document(doc_id);
    created = true;
  }
  auto discard_created = [&] {
    if (!created) return;
    states_.erase(doc_id);
    host_.discard_document(doc_id);
  };
  if (!created && config_.automerge_sync_engine && wrong_format(doc_id, *graph)) {
    share(doc_id);
    return send_unavailable(doc_id);
  }
  AutomergeSyncEngine* engine = engine_for(doc_id, *graph);
  if (!engine) {
    if (!config_.automerge_sync_engine && !logged_no_engine_) {
      logged_no_engine_ = true;
      log(Level::kWarn, "document " + doc_id +
                            ": no Automerge sync engine; answering unavailable (further "
                            "documents are not logged)");
    }
    discard_created();
    share(doc_id);
    return send_unavailable(doc_id);
  }
  DocState& doc = state_for(doc_id);
  if (doc.refused) return;
  std::vector<ChangeHash> applied;
  try {
    applied = engine->receive(envelope.payload, access == Access::kWrite);
  } catch (const DecodeError& e) {
    discard_created();
    return protocol_error("document " + doc_id + ": bad Automerge sync message: " + e.what());
  } catch (const GraphError& e) {
    discard_created();
    return refuse_document(doc_id, "document " + doc_id + ": refused changes: " + e.what());
  }
  share(doc_id);
  ++stats_.sync_messages_received;
  stats_.changes_received += applied.size();
  if (!applied.empty()) outputs_.push_back(session_output::Applied{doc_id, std::move(applied)});
  sync_document(doc_id);
  if (created) outputs_.push_back(session_output::Created{doc_id});
}

void SessionMachine::handle_ephemeral(Envelope message) {
  // Relayed to the document's other peers, never stored, never answered; a peer that may
  // not read the document cannot reach its peers this way either.
  if (!policy_.may_read(message.doc_id)) return;
  share(message.doc_id);
  outputs_.push_back(session_output::Ephemeral{std::move(message)});
}

void SessionMachine::relay_ephemeral(const Envelope& message) {
  if (!hello_received_ || closed_ || !dialect_->automerge()) return;
  if (!shared_.count(message.doc_id)) return;
  send(message);
}

SessionMachine::DocState& SessionMachine::state_for(const std::string& doc_id) {
  auto it = states_.find(doc_id);
  if (it != states_.end()) return it->second;
  DocState doc;
  try {
    if (auto saved = host_.load_sync_state(doc_id, stats_.peer_id)) {
      if (dialect_->automerge()) {
        doc.saved = std::move(saved);  // for the engine, which reads it
        return states_.emplace(doc_id, std::move(doc)).first->second;
      }
      doc.sync = SyncState::decode(*saved);
      doc.loaded_shared_heads = doc.sync.shared_heads;
    }
  } catch (const Error& e) {
    // A lost or unreadable state only costs a fuller first sync.
    log(Level::kWarn, "document " + doc_id + ": ignoring saved sync state: " + e.what());
  }
  return states_.emplace(doc_id, std::move(doc)).first->second;
}

void SessionMachine::share(const std::string& doc_id) {
  if (!policy_.may_read(doc_id)) return;  // never offered, relayed or sent
  if (shared_.insert(doc_id).second) outputs_.push_back(session_output::Sharing{doc_id});
}

void SessionMachine::offer(const std::string& doc_id) {
  if (closed_) return;
  share(doc_id);
  sync_document(doc_id);
}

void SessionMachine::request(const std::string& doc_id) {
  if (!hello_received_ || closed_) return;
  share(doc_id);
  send_doc_message(Envelope::Type::kRequest, doc_id);
}

void SessionMachine::sync_document(const std::string& doc_id) {
  if (!hello_received_ || closed_ || !shared_.count(doc_id)) return;
  ChangeGraph* graph = host_.find_document(doc_id);
  if (!graph) return;
  DocState& doc = state_for(doc_id);
  if (doc.refused) return;
  if (dialect_->automerge()) {
    AutomergeSyncEngine* engine = engine_for(doc_id, *graph);
    if (!engine) return;
    auto bytes = engine->generate();
    if (!bytes) return;
    ++stats_.sync_messages_sent;
    Envelope e;
    e.type = Envelope::Type::kSync;
    e.doc_id = doc_id;
    e.payload = std::move(*bytes);
    return send(std::move(e));
  }
  if (graph->format() != ChangeFormat::kDagsync) return;  // never offered to dagsync peers
  GenerateOptions generate;
  generate.max_message_bytes = config_.max_message_bytes;
  generate.send_changes = !doc.read_only;
  auto message = generate_sync_message(*graph, doc.sync, generate);
  if (!message) return;
  ++stats_.sync_messages_sent;
  stats_.changes_sent += message->changes.size();
  Envelope e;
  e.type = Envelope::Type::kSync;
  e.doc_id = doc_id;
  e.payload = message->encode();
  send(std::move(e));
}

bool SessionMachine::has_our_changes(const std::string& doc_id) const {
  if (dialect_->automerge()) {
    auto it = states_.find(doc_id);
    return it != states_.end() && it->second.engine && it->second.engine->peer_has_our_changes();
  }
  ChangeGraph* graph = host_.find_document(doc_id);
  if (!graph) return false;
  auto it = states_.find(doc_id);
  if (it != states_.end()) return dagsync::has_our_changes(*graph, it->second.sync);
  // A resumed session leaves the documents neither side changed untouched: what the peer
  // holds of them is what the state saved with it says.
  if (!resumed_) return false;
  try {
    auto saved = host_.load_sync_state(doc_id, stats_.peer_id);
    if (!saved) return false;
    // A saved state keeps only the shared heads: what both held when it was saved.
    std::vector<ChangeHash> shared;
    for (const auto& h : SyncState::decode(*saved).shared_heads) {
      if (graph->has(h)) shared.push_back(h);
    }
    return graph->covered_by(shared);
  } catch (const Error&) {
    return false;
  }
}

bool SessionMachine::in_sync(const std::string& doc_id) const {
  if (!has_our_changes(doc_id)) return false;
  if (dialect_->automerge()) return states_.at(doc_id).engine->in_sync();
  ChangeGraph* graph = host_.find_document(doc_id);
  auto it = states_.find(doc_id);
  if (it == states_.end()) return graph->pending_count() == 0;  // resumed, untouched: as saved
  const auto& theirs = it->second.sync.their_heads;
  return theirs && graph->pending_count() == 0 &&
         std::all_of(theirs->begin(), theirs->end(),
                     [&](const ChangeHash& h) { return graph->has(h); });
}

}  // namespace dagsync
