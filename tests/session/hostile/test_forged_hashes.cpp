// Hostile peers: forged hashes, and deps naming changes nobody holds. Hashes are never taken on
// trust: a change is known by the SHA-256 of the bytes that arrived. Altered bytes are another
// change (refused as equivocation if it collides with a held actor/seq); hashes named in heads
// or deps that nobody can produce stay missing, are asked for with `need`, and what waits on
// them is pending, bounded by GraphLimits. The harness: tests/support/hostile_peer.h.
#include <algorithm>

#include "hostile_peer.h"

using namespace dagsync;
using namespace dagsync::test;
using namespace std::chrono_literals;

TEST_CASE("hostile peers: forged hashes and deps naming nonexistent changes") {
  for (const auto& scheme : kHostileSchemes) {
    CAPTURE(scheme);
    asio::io_context io;
    GraphLimits limits;
    limits.max_pending_changes = 50;
    Arena arena(io, scheme, [&](RepoOptions& o) { o.graph_limits = limits; });
    const Change genuine = arena.good->find("doc")->changes().front();
    const auto heads_before = arena.doc().heads();
    const auto size_before = arena.doc().size();

    // (a) A change's bytes altered so that they no longer decode.
    {
      auto raw = arena.attacker("forger-a");
      SyncMessage m;
      m.heads = {genuine.hash()};
      m.changes = {genuine};
      Bytes wire = m.encode();
      auto at =
          std::search(wire.begin(), wire.end(), genuine.bytes().begin(), genuine.bytes().end());
      REQUIRE(at != wire.end());
      at[1] = 0x02;  // the change's version field
      raw->sync("doc", wire);
      arena.wait_closed(*raw);
      CHECK(contains(raw->error_text(), "document doc: bad sync message: sync message: change 0"));
      CHECK(contains(raw->error_text(), "unsupported version 2"));
      CHECK(contains(arena.log.text(), "bad sync message"));
      CHECK(raw->spy->closed->code == CloseReason::Code::kProtocol);
    }

    // (b) A held change's payload altered: it decodes, but to another hash than the one the
    // message claims in its heads. The server hashes what arrived: same actor and seq as the
    // genuine change, different content, so it is refused as equivocation naming both.
    {
      auto raw = arena.attacker("forger-b");
      Bytes altered(genuine.bytes().begin(), genuine.bytes().end());
      altered.back() ^= 0xff;  // the payload is the tail of the encoding
      Change forged = Change::decode(altered);
      REQUIRE(forged.hash() != genuine.hash());
      SyncMessage m;
      m.heads = {genuine.hash()};  // the claim
      m.changes = {forged};
      raw->sync("doc", m);
      arena.wait_closed(*raw);
      std::string error = raw->error_text();
      CHECK(contains(error, "document doc: refused changes: equivocation"));
      CHECK(contains(error, genuine.hash().hex()));
      CHECK(contains(error, forged.hash().hex()));
      CHECK(contains(arena.log.text(), forged.hash().hex()));
      CHECK_FALSE(arena.doc().has(forged.hash()));
      CHECK_FALSE(arena.doc().is_pending(forged.hash()));
    }
    CHECK(arena.doc().heads() == heads_before);
    CHECK(arena.doc().size() == size_before);

    // (c) A change whose deps name hashes nobody holds. Not an error (deps may arrive
    // later): it waits as pending, within GraphLimits, and the server asks for the missing
    // hashes with `need`. Nothing claimed is believed: the named hashes stay missing.
    // (d) A chain whose first change was altered in transit: the second names the original
    // hash as its dep. The server holds the altered change under the hash of its bytes and
    // never the claimed one; the second waits for a hash that can no longer be applied.
    {
      auto raw = arena.attacker("dangler");
      const ChangeHash ghost1 = nonexistent("1"), ghost2 = nonexistent("2");
      Change dangling = make_change(0xc1, 1, {ghost1, ghost2}, "dangling");
      SyncMessage m;
      m.heads = {dangling.hash()};
      m.changes = {dangling};
      raw->sync("doc", m);

      Change c1 = make_change(0xc2, 1, {}, "chain 1");
      Change c2 = make_change(0xc2, 2, {c1.hash()}, "chain 2");
      Bytes altered(c1.bytes().begin(), c1.bytes().end());
      altered.back() ^= 0x01;
      Change c1_forged = Change::decode(altered);
      SyncMessage chain;
      chain.heads = {c2.hash()};
      chain.changes = {c1_forged, c2};
      raw->sync("chain", chain);

      auto asked_for = [&](const std::string& doc, const ChangeHash& h) {
        for (const auto& msg : raw->sync_messages(doc)) {
          if (std::find(msg.need.begin(), msg.need.end(), h) != msg.need.end()) return true;
        }
        return false;
      };
      REQUIRE(run_until(io, [&] {
        return asked_for("doc", ghost1) && asked_for("doc", ghost2) &&
               asked_for("chain", c1.hash());
      }));
      ChangeGraph& doc = arena.doc();
      CHECK(doc.is_pending(dangling.hash()));
      CHECK_FALSE(doc.has(ghost1));
      CHECK_FALSE(doc.has(ghost2));
      CHECK(doc.heads() == heads_before);
      CHECK(doc.size() == size_before);
      CHECK(doc.pending_count() <= limits.max_pending_changes);
      ChangeGraph& forged_chain = arena.doc("chain");
      CHECK(forged_chain.has(c1_forged.hash()));  // known by the hash of its bytes
      CHECK_FALSE(forged_chain.has(c1.hash()));   // never by the claimed one
      CHECK(forged_chain.is_pending(c2.hash()));
      CHECK(forged_chain.heads() == std::vector<ChangeHash>{c1_forged.hash()});
      for (const Change& c : forged_chain.changes()) CHECK(sha256(c.bytes()) == c.hash());
      CHECK(raw->error_text().empty());
      CHECK(raw->spy->is_open());
      // The attacker leaves; what it left waiting stays bounded.
      raw->connection->close({CloseReason::Code::kNormal, "bye"});
      arena.wait_closed(*raw);
      CHECK(doc.pending_count() <= limits.max_pending_changes);
    }

    arena.good_keeps_syncing("forgeries");
    CHECK(arena.doc().pending_count() == 1);  // the dangling change, still waiting
    // The server relays the attacker's document like any other, but only what it accepted:
    // changes known by the hash of their bytes, never the dangling one it still holds back.
    REQUIRE(run_until(io, [&] { return arena.good->find("chain") != nullptr; }));
    ChangeGraph& relayed = *arena.good->find("chain");
    REQUIRE(run_until(io, [&] { return relayed.heads() == arena.doc("chain").heads(); }));
    for (const Change& c : relayed.changes()) CHECK(sha256(c.bytes()) == c.hash());
    CHECK(relayed.size() == arena.doc("chain").size());
    CHECK(relayed.pending_count() == 0);
    CHECK(arena.doc("chain").pending_count() == 1);
  }
}
