// Internal: one connection with one remote peer, multiplexing the sync of many documents
// (docs/sessions.md). Created by the Repo for each connection; ends when the connection does.
#pragma once

#include <asio.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "dagsync/repo.h"
#include "envelope.h"

namespace dagsync {

class PeerSession : public std::enable_shared_from_this<PeerSession> {
 public:
  PeerSession(std::weak_ptr<Repo::Impl> repo, asio::io_context& io,
              std::shared_ptr<Connection> connection, std::string address, std::string dialled_url,
              std::string expected_peer_id);

  void start();
  // Sends what the peer needs for this document, if the two share it.
  void sync_document(const std::string& doc_id);
  // Starts sharing: offer our document, or ask for one we lack.
  void offer(const std::string& doc_id);
  void request(const std::string& doc_id);
  void close(const CloseReason& reason);

  bool ready() const { return hello_received_; }
  const std::string& peer_id() const { return stats_.peer_id; }
  const std::string& dialled_url() const { return dialled_url_; }
  const PeerStats& stats() const { return stats_; }
  bool has_our_changes(const std::string& doc_id) const;
  bool in_sync(const std::string& doc_id) const;

 private:
  void on_frame(Bytes frame);
  void on_closed(const CloseReason& reason);
  void handle(Envelope envelope);
  void handle_hello(const Envelope& envelope);
  void handle_sync(const Envelope& envelope);
  void send(Envelope envelope);
  void protocol_error(const std::string& problem);
  SyncState& state_for(const std::string& doc_id);
  void arm_heartbeat();
  std::string label() const;

  std::weak_ptr<Repo::Impl> repo_;
  std::shared_ptr<Connection> connection_;
  std::string dialled_url_;
  std::string expected_peer_id_;
  asio::steady_timer hello_timer_;
  asio::steady_timer heartbeat_timer_;
  bool hello_received_ = false;
  bool closed_ = false;
  std::uint64_t send_seq_ = 0;
  std::uint64_t receive_seq_ = 0;
  std::map<std::string, SyncState> states_;
  std::set<std::string> shared_;
  PeerStats stats_;
  std::shared_ptr<spdlog::logger> log_;
  RepoOptions options_;
};

}  // namespace dagsync
