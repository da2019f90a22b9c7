// Hostile peers: a peer that asks for a large history again and again but never reads is
// closed once its send queue reaches max_send_queue_bytes. The harness:
// tests/support/hostile_peer.h.
#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: a peer that never reads is closed on a bounded send queue") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    TransportOptions to;
    to.max_send_queue_bytes = 1u << 20;
    Arena arena(io, scheme, {}, to);
    // A document whose whole history (16 x 16 KiB) the attacker can ask for again and again.
    for (int i = 0; i < 16; ++i)
      arena.server->commit("big", Bytes(16u << 10, static_cast<std::uint8_t>(i)));
    REQUIRE(run_until(io, [&] { return arena.converged("big"); }));
    const Spy& good_spy = *arena.spies.front();

    auto raw = arena.attacker("sloth");
    raw->connection->pause_reading(true);
    // Requests alternate between claiming the server's heads (so the server forgets what it
    // sent) and claiming an empty history (a peer that lost everything): the server answers
    // every second request with the whole history (~256 KiB).
    SyncMessage holds_all, lost_all;
    holds_all.heads = arena.doc("big").heads();
    holds_all.have.push_back(Have{});
    lost_all.have.push_back(Have{});
    int requests = 0;
    std::size_t max_queued = 0;
    REQUIRE(run_until(
        io,
        [&] {
          raw->spy->note();
          max_queued = std::max(max_queued, raw->spy->max_queued);
          if (raw->spy->closed) return true;
          if (requests < 4000) {
            raw->sync("big", requests % 2 ? holds_all : lost_all);
            ++requests;
          }
          return false;
        },
        20s));
    arena.wait_closed(*raw->spy);  // it does not read: it sees nothing yet
    CHECK(raw->spy->closed->code == CloseReason::Code::kBackpressure);
    CHECK(contains(raw->spy->closed->message, "send queue full"));
    CHECK(contains(arena.log.text(), "disconnected (backpressure: send queue full"));
    CHECK(max_queued <= to.max_send_queue_bytes);
    CHECK(raw->spy->max_queued <= to.max_send_queue_bytes);
    MESSAGE(scheme << ": closed after " << requests << " requests, at most " << max_queued
                   << " bytes queued");
    // When the attacker finally reads, it finds the connection gone.
    raw->connection->pause_reading(false);
    REQUIRE(run_until(io, [&] { return raw->closed.has_value(); }));
    CHECK(raw->error_text().empty());  // nothing more could be queued for it

    arena.good_keeps_syncing("slow consumer");
    CHECK(good_spy.max_queued <= to.max_send_queue_bytes);
  }
}
