// Hostile peers: bytes dribbled slower than the idle timeout. The TCP idle timeout counts whole
// frames (the timer re-arms only when a frame is complete); the WebSocket one counts whole
// messages, pings and pongs. A peer dribbling a frame slower than that is cut however many
// bytes it keeps sending. A dribbled WebSocket upgrade is cut by the handshake timeout. The
// harness: tests/support/hostile_peer.h.
#include <algorithm>

#include "frames.h"
#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: a peer that dribbles bytes is cut by the idle or handshake timeout") {
  const auto idle = 250ms;
  const auto interval = 100ms;
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    TransportOptions to;
    to.idle_timeout = idle;
    to.handshake_timeout = idle;
    // The good client beats often enough to stay within the server's idle timeout.
    Arena arena(io, scheme, {}, to, [](RepoOptions& o) { o.heartbeat_interval = 50ms; });

    // A whole hello, then the next frame one byte every 100 ms. Bytes keep arriving, but no
    // frame completes: the idle timeout counts whole frames (TCP) or whole messages, pings
    // and pongs (WebSocket), so the connection is cut 250 ms after the hello.
    Envelope request;
    request.type = Envelope::Type::kRequest;
    request.seq = 1;
    request.doc_id = std::string(40, 'd');
    const Bytes payload = request.encode();
    const Bytes frame = scheme == "tcp" ? tcp_frame(payload) : ws_frame(payload);
    {
      auto raw = arena.raw_socket();
      auto spy = arena.spies.back();
      Bytes hello = hello_bytes("dribbler");
      // The dribble starts before the server can have read the hello, so its first two bytes
      // are due before the server's idle timer (re-armed by the hello) expires.
      auto start = std::chrono::steady_clock::now();
      raw->write(scheme == "tcp" ? tcp_frame(hello) : ws_frame(hello));
      raw->dribble(frame, interval);
      REQUIRE(run_until(io, [&] { return arena.connected("dribbler"); }));
      REQUIRE(run_until(
          io, [&] { return spy->closed.has_value(); }, 10s));
      auto elapsed = std::chrono::steady_clock::now() - start;
      CHECK(spy->closed->code == CloseReason::Code::kTimeout);
      CHECK(contains(spy->closed->message, "250 ms"));
      CHECK(raw->dribbled() >= 2);            // bytes were still coming...
      CHECK(raw->dribbled() < frame.size());  // ...but the frame never completed
      CHECK(elapsed >= idle);
      MESSAGE(scheme << ": cut after " << raw->dribbled() << " of " << frame.size() << " bytes, "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                     << " ms");
      REQUIRE(run_until(io, [&] { return arena.server->peers().size() == 1; }));
      CHECK(std::any_of(arena.server_events.begin(), arena.server_events.end(),
                        [](const PeerEvent& e) {
                          return e.kind == PeerEvent::Kind::kDisconnected &&
                                 e.peer_id == "dribbler" && contains(e.detail, "timeout");
                        }));
      CHECK(contains(arena.log.text(), "peer dribbler"));
      CHECK(contains(arena.log.text(), "disconnected (timeout"));
      CHECK(arena.server->find(request.doc_id) == nullptr);
    }

    // Before any frame: the first frame dribbled (TCP), or the HTTP upgrade dribbled
    // (WebSocket: cut by the handshake timeout before the Repo ever sees a connection).
    {
      std::size_t spies_before = arena.spies.size();
      auto start = std::chrono::steady_clock::now();
      auto raw = arena.raw_socket(/*upgrade=*/false);
      if (scheme == "tcp") {
        raw->dribble(tcp_frame(hello_bytes("dribbler2")), interval);
      } else {
        std::string upgrade = RawSocket::upgrade_request(arena.url);
        raw->dribble(Bytes(upgrade.begin(), upgrade.end()), interval);
      }
      REQUIRE(run_until(
          io, [&] { return raw->ended(); }, 10s));
      auto elapsed = std::chrono::steady_clock::now() - start;
      CHECK(raw->dribbled() >= 2);
      CHECK(elapsed >= idle);
      CHECK_FALSE(contains(raw->received(), "101"));
      if (scheme == "tcp") {
        auto spy = arena.spies.back();
        REQUIRE(spy->closed.has_value());
        CHECK(spy->closed->code == CloseReason::Code::kTimeout);
        CHECK(contains(arena.log.text(), "disconnected (timeout: no frame received for 250 ms)"));
      } else {
        CHECK(arena.spies.size() == spies_before);  // the Repo never saw it
        CHECK(contains(arena.transport_log.text(), "handshake with"));
      }
      CHECK(arena.server->peers().size() == 1);
    }

    arena.good_keeps_syncing("dribble");
  }
}
