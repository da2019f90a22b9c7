// Internal: the Asio shell around one SessionMachine (docs/sessions.md). It feeds the
// connection's frames and one timer's expiries into the machine and carries the machine's
// outputs out: frames to the connection, events and storage writes to the Repo, log lines
// to the Repo's logger. Created by the Repo for each connection; ends when the connection
// does. All protocol decisions live in the machine (session_machine.h).
#pragma once

#include <asio.hpp>
#include <memory>
#include <string>

#include "session_machine.h"

namespace dagsync {

class RepoImpl;

class PeerSession : public std::enable_shared_from_this<PeerSession> {
 public:
  PeerSession(std::weak_ptr<RepoImpl> repo, asio::io_context& io,
              std::shared_ptr<Connection> connection, std::string address, std::string dialled_url,
              ConnectOptions dial,
              ListenOptions::Dialect dialect = ListenOptions::Dialect::kDagsync);
  ~PeerSession();

  void start();
  void sync_document(const std::string& doc_id);
  void offer(const std::string& doc_id);
  void request(const std::string& doc_id);
  // `goodbye`: a resumed session first says goodbye and waits for the answer (bounded by
  // RepoOptions::goodbye_timeout), so that what it saves can count as fresh.
  void close(const CloseReason& reason, bool goodbye = false);
  void relay_ephemeral(const Envelope& message);
  ListenOptions::Dialect dialect() const { return dialect_; }

  bool ready() const { return machine_.ready(); }
  bool refused_permanently() const { return machine_.refused_permanently(); }
  const std::string& peer_id() const { return machine_.peer_id(); }
  const std::string& principal() const { return machine_.principal(); }
  const std::string& dialled_url() const { return dialled_url_; }
  const PeerStats& stats() const { return machine_.stats(); }
  bool has_our_changes(const std::string& doc_id) const { return machine_.has_our_changes(doc_id); }
  bool in_sync(const std::string& doc_id) const { return machine_.in_sync(doc_id); }
  // Whether the share policy offers the document to this peer unasked.
  bool offers(const std::string& doc_id) const { return machine_.offers(doc_id); }
  bool offers_anything() const { return machine_.offers_anything(); }
  const std::set<std::string>& shared_documents() const { return machine_.shared_documents(); }

 private:
  class Host;

  void on_frame(Bytes frame);
  void on_closed(const CloseReason& reason);
  // Executes the machine's outputs until it has none left, then re-arms the timer.
  void drain();
  void execute(SessionOutput& output);
  void arm_timer();
  std::string label() const;

  std::weak_ptr<RepoImpl> repo_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<Host> host_;
  SessionMachine machine_;
  std::shared_ptr<Connection> connection_;
  std::string dialled_url_;
  ListenOptions::Dialect dialect_;
  asio::steady_timer timer_;
  std::optional<SessionClock::time_point> armed_for_;
  bool draining_ = false;
  bool connection_closed_ = false;
  std::optional<CloseReason> close_reason_;  // how the session ended, once it has
  bool close_reported_ = false;
};

}  // namespace dagsync
