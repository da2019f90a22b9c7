// Internal: the Repo's state, shared with the peer sessions it runs.
#pragma once

#include <spdlog/spdlog.h>
#include <asio.hpp>
#include <map>
#include <memory>
#include <set>

#include "dagsync/repo.h"
#include "dagsync/transports.h"

namespace dagsync {

class PeerSession;

class Repo::Impl : public std::enable_shared_from_this<Repo::Impl> {
 public:
  Impl(asio::io_context& io, Transports& transports, RepoOptions options);

  struct Document {
    explicit Document(GraphLimits limits) : graph(random_actor_id(), limits) {}
    ChangeGraph graph;
    Subscription local;
  };

  Document& open(const std::string& doc_id);
  Document* find(const std::string& doc_id);

  // Sessions report here.
  void session_ready(const std::shared_ptr<PeerSession>& session);
  void session_closed(const std::shared_ptr<PeerSession>& session, const CloseReason& reason);
  void remote_applied(const std::string& doc_id, const std::string& peer_id,
                      const std::vector<ChangeHash>& applied);
  void document_unavailable(const std::string& doc_id, const std::string& peer_id,
                            const std::string& address);

  void add_session(std::shared_ptr<Connection> connection, std::string address,
                   std::string dialled_url, std::string expected_peer_id = "");
  void dial(const std::string& url);
  void schedule_push(const std::string& doc_id);
  // Offers the document to every ready session (announce_documents).
  void announce(const std::string& doc_id);
  void shutdown();
  void emit(const PeerEvent& event);

  asio::io_context& io;
  Transports& transports;
  RepoOptions options;
  std::shared_ptr<spdlog::logger> log;
  std::map<std::string, std::unique_ptr<Document>> documents;
  std::set<std::shared_ptr<PeerSession>> sessions;
  std::vector<std::unique_ptr<Listener>> listeners;
  bool shutting_down = false;

  struct Dialer {
    std::string url;
    std::string expected_peer_id;  // empty: any
    std::chrono::milliseconds backoff;
    std::unique_ptr<asio::steady_timer> timer;
    bool active = true;
    bool connected = false;
  };
  std::map<std::string, std::shared_ptr<Dialer>> dialers;

  std::set<std::string> dirty;
  bool push_scheduled = false;
  asio::steady_timer push_timer;

  std::uint64_t next_listener_id = 0;
  std::map<std::uint64_t, std::function<void(const RemoteChanges&)>> change_listeners;
  std::map<std::uint64_t, std::function<void(const PeerEvent&)>> peer_listeners;

 private:
  void local_change(const std::string& doc_id, const Change& change);
  void push();
  void retry_later(const std::shared_ptr<Dialer>& dialer);
};

}  // namespace dagsync
