// The harness of the hostile-peer tests (tests/session/hostile/): a server Repo over real TCP
// and WebSocket connections (loopback, ports chosen by the OS) that also serves a
// well-behaved client Repo, and attackers that connect to it by hand. Each test shows four
// things:
//   1. a clear error: the error envelope the attacker receives and/or the server's log;
//   2. the attacker's session is closed (its server-side connection reports why);
//   3. other sessions are unaffected: the well-behaved client is never disconnected and
//      keeps syncing in both directions after the attack (Arena::good_keeps_syncing);
//   4. memory stays within the configured limits (pending changes, send queue, documents
//      created; the largest single allocation in the alloc binary, largest_allocation.h).
//
// The server accepts through Repo::accept behind a Spy connection, so a test sees each
// server-side connection's queued bytes and close reason without touching the library.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net_helpers.h"
#include "raw_peer.h"
#include "raw_socket.h"

namespace dagsync::test {

// Every attack runs over both network transports.
inline const std::vector<std::string> kHostileSchemes = {"tcp", "ws"};

Bytes concat(Bytes a, ByteView b);

Change make_change(std::uint8_t actor_n, std::uint64_t seq, std::vector<ChangeHash> deps,
                   const std::string& payload);

// A hash nobody can produce the bytes for.
ChangeHash nonexistent(const std::string& label);

// A server-side connection as the Repo sees it, recording what the test needs to know.
struct Spy : Connection {
  std::shared_ptr<Connection> inner;
  std::size_t max_queued = 0;
  std::optional<CloseReason> closed;

  explicit Spy(std::shared_ptr<Connection> c) : inner(std::move(c)) {}
  void note() { max_queued = std::max(max_queued, inner->queued_bytes()); }
  void start(FrameHandler on_frame, CloseHandler on_close) override;
  bool send(Bytes frame) override;
  void close(CloseReason reason) override { inner->close(std::move(reason)); }
  void pause_reading(bool paused) override { inner->pause_reading(paused); }
  bool is_open() const override { return inner->is_open(); }
  std::size_t queued_bytes() const override { return inner->queued_bytes(); }
  std::string description() const override { return inner->description(); }
  PeerCredentials credentials() const override { return inner->credentials(); }
};

// A RawPeer connected to the Arena's server, with the server's side of its connection.
struct Attacker : RawPeer {
  using RawPeer::RawPeer;
  std::shared_ptr<Spy> spy;
};

// A server Repo (accepting through Spy connections) and a well-behaved client Repo that
// syncs document "doc" with it, on one io_context.
struct Arena {
  asio::io_context& io;
  std::string scheme;
  CapturedLog log;            // the server Repo's log
  CapturedLog transport_log;  // the server's transports
  Transports client_transports;
  Transports server_transports;
  std::vector<std::shared_ptr<Spy>> spies;
  std::unique_ptr<Listener> listener;
  std::string url;
  std::unique_ptr<Repo> server;
  std::vector<PeerEvent> server_events;
  Subscription server_sub;
  std::unique_ptr<Repo> good;
  std::vector<PeerEvent> good_events;
  Subscription good_sub;

  Arena(asio::io_context& context, std::string s,
        const std::function<void(RepoOptions&)>& tweak_server = {},
        TransportOptions server_transport_options = {},
        const std::function<void(RepoOptions&)>& tweak_good = {});

  ChangeGraph& doc(const std::string& id = "doc");

  // Server and client hold the same applied history of `id` (the server may also hold
  // pending changes an attacker left behind).
  bool converged(const std::string& id);

  // A raw peer, connected and seen by the server; with `hello_as`, it has said hello.
  std::unique_ptr<Attacker> attacker(const std::string& hello_as = "");

  // A raw socket; for ws, `upgrade` performs the opening handshake and waits for the
  // server's side of the connection.
  std::unique_ptr<RawSocket> raw_socket(bool upgrade = true);

  bool connected(const std::string& peer) const;

  // Waits until the attacker's session is gone from the server.
  void wait_closed(const Spy& spy);
  // ... and until the attacker has seen the end (after the error envelope, if any).
  void wait_closed(const Attacker& raw);

  // The well-behaved client was never dropped and still syncs both ways.
  void good_keeps_syncing(const std::string& label);
};

}  // namespace dagsync::test
