#include "peer_session.h"

#include <spdlog/spdlog.h>

#include "dagsync/error.h"
#include "repo_impl.h"

namespace dagsync {

PeerSession::PeerSession(std::weak_ptr<Repo::Impl> repo, asio::io_context& io,
                         std::shared_ptr<Connection> connection, std::string address,
                         std::string dialled_url, std::string expected_peer_id)
    : repo_(std::move(repo)),
      connection_(std::move(connection)),
      dialled_url_(std::move(dialled_url)),
      expected_peer_id_(std::move(expected_peer_id)),
      hello_timer_(io),
      heartbeat_timer_(io) {
  stats_.address = std::move(address);
  auto r = repo_.lock();
  log_ = r->log;
  options_ = r->options;
}

std::string PeerSession::label() const {
  return (stats_.peer_id.empty() ? std::string("?") : stats_.peer_id) + " (" + stats_.address + ")";
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
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = Repo::kProtocolVersion;
  if (auto r = repo_.lock()) hello.peer_id = r->options.peer_id;
  hello.capabilities = options_.capabilities;
  send(std::move(hello));
  if (options_.hello_timeout.count() > 0) {
    hello_timer_.expires_after(options_.hello_timeout);
    hello_timer_.async_wait([weak](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->hello_received_ || self->closed_) return;
      self->log_->warn("peer {}: no hello within {} ms; closing", self->label(),
                       self->options_.hello_timeout.count());
      self->close(
          {CloseReason::Code::kTimeout,
           "no hello within " + std::to_string(self->options_.hello_timeout.count()) + " ms"});
    });
  }
  arm_heartbeat();
}

void PeerSession::arm_heartbeat() {
  if (options_.heartbeat_interval.count() <= 0 || closed_) return;
  heartbeat_timer_.expires_after(options_.heartbeat_interval);
  std::weak_ptr<PeerSession> weak = weak_from_this();
  heartbeat_timer_.async_wait([weak](const std::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    Envelope beat;
    beat.type = Envelope::Type::kHeartbeat;
    self->send(std::move(beat));
    self->arm_heartbeat();
  });
}

void PeerSession::send(Envelope envelope) {
  if (closed_) return;
  envelope.seq = send_seq_++;
  Bytes frame = envelope.take_frame();
  ++stats_.frames_sent;
  stats_.bytes_sent += frame.size();
  connection_->send(std::move(frame));  // a refusal closes the connection: on_closed follows
}

void PeerSession::close(const CloseReason& reason) {
  if (closed_) return;
  auto keep_alive = shared_from_this();  // the Repo may drop its reference while we close
  connection_->close(reason);            // calls on_closed
  if (!closed_) on_closed(reason);
}

void PeerSession::protocol_error(const std::string& problem) {
  if (closed_) return;
  log_->warn("peer {}: {}; closing the connection", label(), problem);
  Envelope error;
  error.type = Envelope::Type::kError;
  error.error = problem.substr(0, Envelope::kMaxErrorChars);
  send(std::move(error));
  close({CloseReason::Code::kProtocol, problem});
}

void PeerSession::on_frame(Bytes frame) {
  if (closed_) return;
  ++stats_.frames_received;
  stats_.bytes_received += frame.size();
  Envelope envelope;
  try {
    envelope = Envelope::decode(frame, options_.sync_limits.max_message_bytes);
  } catch (const DecodeError& e) {
    return protocol_error(std::string("malformed frame: ") + e.what());
  }
  // The transport promises order and no loss; a channel that breaks that is detected here
  // and the connection is reset, so that sync restarts from a consistent state.
  if (envelope.seq < receive_seq_) {
    log_->debug("peer {}: ignoring repeated frame {}", label(), envelope.seq);
    return;
  }
  if (envelope.seq > receive_seq_) {
    return protocol_error("frames lost: expected frame " + std::to_string(receive_seq_) + ", got " +
                          std::to_string(envelope.seq));
  }
  ++receive_seq_;
  handle(std::move(envelope));
}

void PeerSession::handle(Envelope envelope) {
  if (envelope.type == Envelope::Type::kHello) return handle_hello(envelope);
  if (!hello_received_) {
    return protocol_error(std::string("expected hello, got ") + to_string(envelope.type));
  }
  auto repo = repo_.lock();
  if (!repo) return;
  switch (envelope.type) {
    case Envelope::Type::kSync:
      return handle_sync(envelope);
    case Envelope::Type::kRequest:
      if (repo->find(envelope.doc_id)) {
        offer(envelope.doc_id);
      } else {
        Envelope reply;
        reply.type = Envelope::Type::kUnavailable;
        reply.doc_id = envelope.doc_id;
        send(std::move(reply));
      }
      return;
    case Envelope::Type::kUnavailable:
      repo->document_unavailable(envelope.doc_id, stats_.peer_id, stats_.address);
      return;
    case Envelope::Type::kError:
      log_->warn("peer {} reported an error: {}", label(), envelope.error);
      close({CloseReason::Code::kProtocol, "peer reported: " + envelope.error});
      return;
    case Envelope::Type::kHeartbeat:
    case Envelope::Type::kHello:
      return;
  }
}

void PeerSession::handle_hello(const Envelope& hello) {
  if (hello_received_) return protocol_error("second hello");
  if (hello.protocol_version != Repo::kProtocolVersion) {
    return protocol_error("unsupported protocol version " + std::to_string(hello.protocol_version) +
                          " (this peer speaks " + std::to_string(Repo::kProtocolVersion) + ")");
  }
  auto repo = repo_.lock();
  if (!repo) return;
  if (hello.peer_id == repo->options.peer_id) return protocol_error("connected to itself");
  if (!expected_peer_id_.empty() && hello.peer_id != expected_peer_id_) {
    return protocol_error("expected peer " + expected_peer_id_ + ", got a hello from " +
                          hello.peer_id);
  }
  hello_received_ = true;
  hello_timer_.cancel();
  stats_.peer_id = hello.peer_id;
  stats_.connected = true;
  log_->info("peer {}: connected", label());
  repo->session_ready(shared_from_this());
  if (options_.announce_documents) {
    for (const auto& [doc_id, doc] : repo->documents) offer(doc_id);
  }
}

void PeerSession::handle_sync(const Envelope& envelope) {
  auto repo = repo_.lock();
  if (!repo) return;
  const std::string& doc_id = envelope.doc_id;
  SyncMessage message;
  try {
    message = SyncMessage::decode(envelope.payload, options_.sync_limits);
  } catch (const DecodeError& e) {
    return protocol_error("document " + doc_id + ": bad sync message: " + e.what());
  }
  Repo::Impl::Document* doc = repo->find(doc_id);
  bool created = false;
  if (!doc) {
    if (!options_.accept_unknown_documents) {
      Envelope reply;
      reply.type = Envelope::Type::kUnavailable;
      reply.doc_id = doc_id;
      return send(std::move(reply));
    }
    doc = &repo->open(doc_id);
    created = true;
  }
  SyncState& state = state_for(doc_id);
  bool answers_ours = state.in_flight;  // a reply to a message of ours: one round trip
  ReceiveResult result;
  try {
    result = receive_sync_message(doc->graph, state, message);
  } catch (const GraphError& e) {
    if (created) {
      // A refused message leaves nothing behind, not even an empty document.
      states_.erase(doc_id);
      repo->documents.erase(doc_id);
    }
    return protocol_error("document " + doc_id + ": refused changes: " + e.what());
  }
  shared_.insert(doc_id);
  ++stats_.sync_messages_received;
  stats_.changes_received += message.changes.size();
  if (answers_ours) ++stats_.round_trips;
  for (const auto& e : result.status.evicted) {
    log_->warn("peer {}: document {}: dropped pending change {}: {}", label(), doc_id, e.hash.hex(),
               e.reason);
  }
  if (!result.status.applied.empty())
    repo->remote_applied(doc_id, stats_.peer_id, result.status.applied);
  sync_document(doc_id);
  // A document first heard of from this peer is offered to our other peers too, as one
  // opened locally would be: a relay passes on what it learns.
  if (created) repo->announce(doc_id);
}

SyncState& PeerSession::state_for(const std::string& doc_id) {
  auto it = states_.find(doc_id);
  if (it != states_.end()) return it->second;
  SyncState state;
  if (auto repo = repo_.lock()) {
    try {
      if (auto saved = repo->options.storage->load_sync_state(doc_id, stats_.peer_id)) {
        state = SyncState::decode(*saved);
      }
    } catch (const Error& e) {
      // A lost or unreadable state only costs a fuller first sync.
      log_->warn("peer {}: document {}: ignoring saved sync state: {}", label(), doc_id, e.what());
    }
  }
  return states_.emplace(doc_id, std::move(state)).first->second;
}

void PeerSession::offer(const std::string& doc_id) {
  shared_.insert(doc_id);
  sync_document(doc_id);
}

void PeerSession::request(const std::string& doc_id) {
  if (!hello_received_ || closed_) return;
  shared_.insert(doc_id);
  Envelope e;
  e.type = Envelope::Type::kRequest;
  e.doc_id = doc_id;
  send(std::move(e));
}

void PeerSession::sync_document(const std::string& doc_id) {
  if (!hello_received_ || closed_ || !shared_.count(doc_id)) return;
  auto repo = repo_.lock();
  if (!repo) return;
  Repo::Impl::Document* doc = repo->find(doc_id);
  if (!doc) return;
  GenerateOptions generate;
  generate.max_message_bytes = options_.max_message_bytes;
  auto message = generate_sync_message(doc->graph, state_for(doc_id), generate);
  if (!message) return;
  ++stats_.sync_messages_sent;
  stats_.changes_sent += message->changes.size();
  Envelope e;
  e.type = Envelope::Type::kSync;
  e.doc_id = doc_id;
  e.payload = message->encode();
  send(std::move(e));
}

bool PeerSession::has_our_changes(const std::string& doc_id) const {
  auto repo = repo_.lock();
  auto it = states_.find(doc_id);
  if (!repo || it == states_.end()) return false;
  auto* doc = repo->find(doc_id);
  return doc && dagsync::has_our_changes(doc->graph, it->second);
}

bool PeerSession::in_sync(const std::string& doc_id) const {
  if (!has_our_changes(doc_id)) return false;
  auto repo = repo_.lock();
  const auto& theirs = states_.at(doc_id).their_heads;
  auto* doc = repo->find(doc_id);
  return theirs && doc->graph.pending_count() == 0 &&
         std::all_of(theirs->begin(), theirs->end(),
                     [&](const ChangeHash& h) { return doc->graph.has(h); });
}

void PeerSession::on_closed(const CloseReason& reason) {
  if (closed_) return;
  closed_ = true;
  stats_.connected = false;
  hello_timer_.cancel();
  heartbeat_timer_.cancel();
  auto repo = repo_.lock();
  if (repo && hello_received_) {
    for (const auto& [doc_id, state] : states_) {
      try {
        repo->options.storage->save_sync_state(doc_id, stats_.peer_id, state.encode());
      } catch (const Error& e) {
        log_->warn("peer {}: document {}: could not save sync state: {}", label(), doc_id,
                   e.what());
      }
    }
  }
  log_->info("peer {}: disconnected ({})", label(), reason.to_string());
  if (repo) repo->session_closed(shared_from_this(), reason);
}

}  // namespace dagsync
