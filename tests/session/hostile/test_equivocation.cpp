// Hostile peers: two different changes for one actor and seq, in one message, against applied
// history, or across two messages, are refused naming both hashes, and a refused message
// creates no document. The harness: tests/support/hostile_peer.h.
#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: equivocating changes are refused naming both hashes") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    Arena arena(io, scheme);
    const auto heads_before = arena.doc().heads();
    const auto size_before = arena.doc().size();

    // (a) Two different changes for one actor and seq, in one message, for a new document.
    {
      auto raw = arena.attacker("liar-a");
      Change x = make_change(0xa1, 1, {}, "x");
      Change y = make_change(0xa1, 1, {}, "y");
      SyncMessage m;
      m.heads = {x.hash(), y.hash()};
      m.changes = {x, y};
      raw->sync("fresh", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document fresh: refused changes: equivocation: actor " +
                                actor(0xa1).hex() + " seq 1 is both"));
      CHECK(contains(error, x.hash().hex()));
      CHECK(contains(error, y.hash().hex()));
      CHECK(contains(arena.log.text(), y.hash().hex()));
      ChangeGraph* fresh = arena.server->find("fresh");
      CHECK((fresh == nullptr || fresh->size() + fresh->pending_count() == 0));
      // A refused message creates no document, so none can spread to later peers.
      CHECK(arena.server->find("fresh") == nullptr);
      {
        Repo late(io, arena.client_transports, repo_options("late"));
        late.connect(arena.url, "server");
        // The server offers all its documents at once on hello: wait for as many messages.
        const std::size_t offered = arena.server->documents().size();
        REQUIRE(run_until(io, [&] {
          auto peers = late.peers();
          return !peers.empty() && peers[0].sync_messages_received >= offered &&
                 arena.converged("doc") && late.find("doc") &&
                 late.find("doc")->heads() == arena.doc().heads();
        }));
        CHECK(late.find("fresh") == nullptr);
      }
      REQUIRE(run_until(io, [&] { return arena.server->peers().size() == 1; }));
    }

    // (b) A change under the good client's actor and seq 1 with other content: it collides
    // with applied history.
    {
      auto raw = arena.attacker("liar-b");
      const Change genuine = arena.good->find("doc")->changes().front();
      ChangeFields f;
      f.actor = genuine.actor();
      f.seq = genuine.seq();
      f.payload = text("not what good wrote");
      Change forged = Change::build(f);
      SyncMessage m;
      m.heads = {forged.hash()};
      m.changes = {forged};
      raw->sync("doc", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document doc: refused changes: equivocation: actor " +
                                genuine.actor().hex() + " seq 1 is both " + genuine.hash().hex() +
                                " and " + forged.hash().hex()));
      CHECK(contains(arena.log.text(), "refused changes: equivocation"));
      CHECK(arena.doc().heads() == heads_before);
      CHECK(arena.doc().size() == size_before);
    }

    // (c) The same actor and seq in two messages: the first is accepted, the second refused.
    {
      auto raw = arena.attacker("liar-c");
      Change x = make_change(0xa3, 1, {}, "first story");
      Change y = make_change(0xa3, 1, {}, "second story");
      SyncMessage m1;
      m1.heads = {x.hash()};
      m1.changes = {x};
      raw->sync("eq", m1);
      REQUIRE(run_until(
          io, [&] { return arena.server->find("eq") && arena.server->find("eq")->has(x.hash()); }));
      const auto eq_heads = arena.doc("eq").heads();
      SyncMessage m2;
      m2.heads = {y.hash()};
      m2.changes = {y};
      raw->sync("eq", m2);
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "is both " + x.hash().hex() + " and " + y.hash().hex()));
      CHECK(arena.doc("eq").heads() == eq_heads);
      CHECK_FALSE(arena.doc("eq").has(y.hash()));
      CHECK(arena.doc("eq").pending_count() == 0);
    }

    arena.good_keeps_syncing("equivocation");
  }
}
