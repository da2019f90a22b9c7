// Hostile peers: a flood of changes whose deps never arrive fills the pending pool up to
// GraphLimits (by count and by bytes) and no further; the bound is per document. The harness:
// tests/support/hostile_peer.h.
#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: a flood of changes with missing deps hits the pending bound") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    GraphLimits limits;
    limits.max_pending_changes = 50;
    limits.max_pending_bytes = 16u << 10;
    Arena arena(io, scheme, [&](RepoOptions& o) { o.graph_limits = limits; });
    const auto size_before = arena.doc().size();

    // By count: 8 dangling changes per message, on the document the good client syncs.
    {
      auto raw = arena.attacker("flooder");
      int actor_n = 0;
      for (int msg = 0; msg < 20; ++msg) {
        SyncMessage m;
        for (int i = 0; i < 8; ++i, ++actor_n) {
          m.changes.push_back(make_change(static_cast<std::uint8_t>(actor_n), 1,
                                          {nonexistent(std::to_string(actor_n))}, "flood"));
          m.heads.push_back(m.changes.back().hash());
        }
        raw->sync("doc", m);
      }
      std::size_t max_pending = 0;
      REQUIRE(run_until(io, [&] {
        max_pending = std::max(max_pending, arena.doc().pending_count());
        return raw->closed.has_value();
      }));
      arena.wait_closed(*raw);
      max_pending = std::max(max_pending, arena.doc().pending_count());
      CHECK(contains(raw->error_text(),
                     "document doc: refused changes: pending limit: 56 changes waiting for deps "
                     "exceed 50"));
      CHECK(contains(arena.log.text(), "pending limit: 56 changes"));
      CHECK(max_pending <= limits.max_pending_changes);
      CHECK(arena.doc().pending_count() == 48);  // six messages fitted, the seventh did not
      CHECK(arena.doc().size() == size_before);
    }

    // By bytes: 4 KiB dangling changes on another document.
    {
      auto raw = arena.attacker("heavy");
      for (int i = 0; i < 10; ++i) {
        SyncMessage m;
        m.changes = {make_change(static_cast<std::uint8_t>(0x80 + i), 1,
                                 {nonexistent("heavy" + std::to_string(i))},
                                 std::string(4096, 'h'))};
        m.heads = {m.changes[0].hash()};
        raw->sync("heavy", m);
      }
      std::size_t max_bytes = 0;
      REQUIRE(run_until(io, [&] {
        if (auto* g = arena.server->find("heavy"))
          max_bytes = std::max(max_bytes, g->pending_bytes());
        return raw->closed.has_value();
      }));
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "document heavy: refused changes: pending limit: "));
      CHECK(contains(raw->error_text(), "bytes waiting for deps exceed 16384"));
      CHECK(max_bytes <= limits.max_pending_bytes);
      CHECK(arena.doc("heavy").pending_bytes() <= limits.max_pending_bytes);
      CHECK(arena.doc("heavy").pending_count() == 3);
    }

    // Spread over documents the attacker creates, no single graph exceeds the bound and
    // nothing is refused: GraphLimits bound each document, not a peer or the Repo. (With
    // accept_unknown_documents, the default, one peer can therefore park up to
    // max_pending_changes / max_pending_bytes in as many documents as it names.)
    {
      auto raw = arena.attacker("spreader");
      for (int d = 0; d < 4; ++d) {
        SyncMessage m;
        for (int i = 0; i < 40; ++i) {
          m.changes.push_back(make_change(static_cast<std::uint8_t>(i), 1,
                                          {nonexistent("spread" + std::to_string(d * 100 + i))},
                                          "spread"));
          m.heads.push_back(m.changes.back().hash());
        }
        raw->sync("spread" + std::to_string(d), m);
      }
      REQUIRE(run_until(io, [&] {
        auto* last = arena.server->find("spread3");
        return last && last->pending_count() == 40;
      }));
      std::size_t total = 0;
      for (int d = 0; d < 4; ++d) {
        std::size_t n = arena.doc("spread" + std::to_string(d)).pending_count();
        CHECK(n <= limits.max_pending_changes);
        total += n;
      }
      CHECK(raw->error_text().empty());
      CHECK(raw->spy->is_open());
      MESSAGE(scheme << ": one peer parked " << total << " pending changes over 4 documents (bound "
                     << limits.max_pending_changes << " per document)");
      raw->connection->close({CloseReason::Code::kNormal, "bye"});
      arena.wait_closed(*raw);
    }

    arena.good_keeps_syncing("flood");
    CHECK(arena.doc().pending_count() <= limits.max_pending_changes);
  }
}
