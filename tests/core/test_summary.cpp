// The summary path of protocol v2 (docs/protocol.md, "Summaries") and bounded messages: a
// first sync costs about the difference, a peer whose summary lies still converges, and a
// backlog larger than the message limit streams as messages applied one by one.
#include <cstring>
#include <functional>

#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

// n changes, round-robin over `actors` actors (ids 100, 101, ...), each on the previous one.
std::vector<Change> linear_history(int n, int actors, const std::string& label) {
  std::vector<Change> out;
  std::vector<std::uint64_t> seq(static_cast<std::size_t>(actors), 0);
  for (int i = 0; i < n; ++i) {
    ChangeFields f;
    f.actor = actor(static_cast<std::uint8_t>(100 + i % actors));
    if (actors > 100) f.actor.bytes[1] = static_cast<std::uint8_t>(i % actors / 100);
    f.actor.bytes[0] = static_cast<std::uint8_t>(i % actors);
    f.seq = ++seq[static_cast<std::size_t>(i % actors)];
    if (!out.empty()) f.deps = {out.back().hash()};
    f.payload = text(label + " " + std::to_string(i));
    out.push_back(Change::build(f));
  }
  return out;
}

struct Exchange {
  int messages = 0;
  std::size_t wire_bytes = 0, change_bytes = 0;
  std::vector<SyncMessage> sent;  // as received
  std::size_t overhead() const { return wire_bytes - change_bytes; }
};

using Tamper = std::function<void(int side, SyncMessage&)>;

// Ping-pong as the benchmark drives it: a generates first; each side receives what waits for
// it, then generates. `tamper` may rewrite a message before it is encoded.
Exchange ping_pong(ChangeGraph& a, ChangeGraph& b, SyncState& sa, SyncState& sb,
                   const Tamper& tamper = {}, const GenerateOptions& options = {},
                   int max_messages = 12) {
  Exchange ex;
  ChangeGraph* graphs[2] = {&a, &b};
  SyncState* states[2] = {&sa, &sb};
  std::optional<SyncMessage> waiting[2];
  int idle = 0;
  for (int turn = 0; idle < 2; turn ^= 1) {
    if (waiting[turn]) {
      receive_sync_message(*graphs[turn], *states[turn], *waiting[turn]);
      waiting[turn].reset();
    }
    auto m = generate_sync_message(*graphs[turn], *states[turn], options);
    if (!m) {
      ++idle;
      continue;
    }
    idle = 0;
    if (tamper) tamper(turn, *m);
    Bytes bytes = m->encode();
    ex.wire_bytes += bytes.size();
    ex.change_bytes += m->change_bytes();
    waiting[turn ^ 1] = SyncMessage::decode(bytes);
    ex.sent.push_back(*waiting[turn ^ 1]);
    if (++ex.messages > max_messages) {
      FAIL("no convergence within " << max_messages << " messages");
      break;
    }
  }
  return ex;
}

// Two graphs sharing `history`, each with `d` further changes of its own.
struct Forked {
  ChangeGraph a{actor(1)}, b{actor(2)};
  SyncState sa, sb;
  Forked(const std::vector<Change>& history, int d) {
    a.add(history);
    b.add(history);
    commit_n(a, d, "a");
    commit_n(b, d, "b");
  }
};

}  // namespace

TEST_CASE(
    "summary: a first sync without state sends summaries, not filters, and costs the difference") {
  Forked f(linear_history(3000, 3, "shared"), 5);
  Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb);
  check_converged(f.a, f.b);
  // a's summary; b's summary and a's five; b's five, complete, which b does not answer.
  CHECK(ex.messages == 3);
  // Both opening messages describe their history as a whole version vector (4 actors).
  for (int i = 0; i < 2; ++i) {
    REQUIRE(ex.sent[i].summary);
    CHECK(ex.sent[i].summary->complete());
    CHECK(ex.sent[i].summary->levels.back().actors.size() == 4);
    CHECK(ex.sent[i].have.empty());
  }
  // Each side sends exactly its own five changes: nothing twice, nothing shared.
  std::size_t changes = 0;
  for (const auto& m : ex.sent) changes += m.changes.size();
  CHECK(changes == 10);
  // A Bloom filter over 3000 changes alone would be 3750 bytes each way.
  MESSAGE("first sync, 3000 shared, 5 new per side: overhead " << ex.overhead() << " bytes");
  CHECK(ex.overhead() < 800);

  // Filters only (Automerge's behaviour) on the same shape costs the whole history.
  Forked g(linear_history(3000, 3, "shared"), 5);
  Exchange filters = ping_pong(g.a, g.b, g.sa, g.sb, {}, GenerateOptions{.summaries = false});
  check_converged(g.a, g.b);
  CHECK(filters.overhead() > 7000);
}

TEST_CASE("summary: a peer holding all our heads gets exactly what follows them") {
  auto history = linear_history(500, 2, "shared");
  ChangeGraph ahead(actor(1)), behind(actor(2));
  ahead.add(history);
  behind.add(history);
  commit_n(ahead, 7, "new");
  SyncState s_ahead, s_behind;
  Exchange ex = ping_pong(behind, ahead, s_behind, s_ahead);
  check_converged(ahead, behind);
  // behind opens; ahead holds behind's heads and answers with the 7 changes at once.
  REQUIRE(ex.messages >= 2);
  CHECK(ex.sent[1].changes.size() == 7);
  CHECK(ex.messages <= 3);
}

TEST_CASE("summary: many actors get a partial summary of checkpoints that still reaches the fork") {
  // 400 actors: a whole version vector (~7 KB) is larger than a filter (~5 KB), so the
  // summary names checkpoints 1, 2, 4, ... changes back and only the actors since each.
  Forked f(linear_history(4000, 400, "shared"), 3);
  Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb);
  check_converged(f.a, f.b);
  CHECK(ex.messages == 3);
  REQUIRE(ex.sent[0].summary);
  CHECK_FALSE(ex.sent[0].summary->complete());
  CHECK(ex.sent[0].summary->levels.size() >= 3);
  CHECK_FALSE(ex.sent[0].want_filter);
  CHECK_FALSE(ex.sent[1].want_filter);
  MESSAGE("400 actors, 4000 shared, 3 new per side: overhead " << ex.overhead() << " bytes");
  CHECK(ex.overhead() < 2000);
}

TEST_CASE("summary: a divergence deeper than a partial summary reaches is resolved by a filter") {
  // Each side adds 300 changes by 300 new actors: the checkpoints the budget allows all lie
  // after the fork, so neither can use the other's summary and both ask for a filter.
  auto history = linear_history(4000, 400, "shared");
  ChangeGraph a(actor(1)), b(actor(2));
  a.add(history);
  b.add(history);
  auto extend = [](ChangeGraph& g, std::uint8_t tag) {
    for (int i = 0; i < 300; ++i) {
      ChangeFields f;
      f.actor = actor(tag);
      f.actor.bytes[0] = static_cast<std::uint8_t>(i);
      f.actor.bytes[1] = static_cast<std::uint8_t>(i >> 8);
      f.actor.bytes[15] = 0x77;  // apart from the shared history's actors
      f.seq = 1;
      f.deps = g.heads();
      f.payload = text("deep " + std::to_string(i));
      g.add(Change::build(f));
    }
  };
  extend(a, 0xa0);
  extend(b, 0xb0);
  SyncState sa, sb;
  Exchange ex = ping_pong(a, b, sa, sb);
  check_converged(a, b);
  bool asked = false, filtered = false;
  for (const auto& m : ex.sent) {
    asked = asked || m.want_filter;
    filtered = filtered || !m.have.empty();
  }
  CHECK(asked);
  CHECK(filtered);
  CHECK(ex.messages <= 6);
}

// a and b forked from 1,000 shared changes, b with 4 of its own; a's first summary lies,
// claiming b's 4 changes (and 996 more) as held. The exchange runs until both are quiet.
static Exchange exchange_with_a_lying_summary(Forked& f) {
  ActorId b_actor = f.b.local_actor();
  bool lied = false;
  Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb, [&](int side, SyncMessage& m) {
    if (side != 0 || lied || !m.summary) return;
    m.summary->levels.back().actors.set(b_actor, 1000);
    lied = true;
  });
  REQUIRE(lied);
  check_converged(f.a, f.b);
  return ex;
}

TEST_CASE("summary: a peer whose first summary lies still receives what it lacks") {
  Forked f(linear_history(1000, 3, "shared"), 4);
  Exchange ex = exchange_with_a_lying_summary(f);
  // The lie worked at first: b's reply carried none of its changes...
  CHECK(ex.sent[1].changes.empty());
  // ...and a's next, honest summary got them.
  std::size_t from_b = 0;
  for (std::size_t i = 1; i < ex.sent.size(); i += 2) from_b += ex.sent[i].changes.size();
  CHECK(from_b == 4);
}

TEST_CASE("summary: a peer that always lies in its summary recovers through need") {
  Forked f(linear_history(1000, 3, "shared"), 3);
  ActorId b_actor = f.b.local_actor();
  Exchange ex = ping_pong(
      f.a, f.b, f.sa, f.sb,
      [&](int side, SyncMessage& m) {
        if (side == 0 && m.summary) m.summary->levels.back().actors.set(b_actor, 1000);
      },
      {}, 20);
  // Heads are the final word: a asks for b's head by hash, then for each missing dep.
  check_converged(f.a, f.b);
  bool needed = false;
  for (std::size_t i = 0; i < ex.sent.size(); i += 2) needed = needed || !ex.sent[i].need.empty();
  CHECK(needed);
}

TEST_CASE("summary: with saved states the summary starts at the shared heads") {
  auto history = linear_history(2000, 500, "shared");
  ChangeGraph a(actor(1)), b(actor(2));
  a.add(history);
  b.add(history);
  SyncState sa, sb;
  ping_pong(a, b, sa, sb);
  sa = reload(sa);
  sb = reload(sb);
  commit_n(a, 40, "a");
  commit_n(b, 40, "b");
  Exchange ex = ping_pong(a, b, sa, sb);
  check_converged(a, b);
  // a pushes its 40 changes beyond the shared heads; b answers with its 40, complete.
  CHECK(ex.messages == 2);
  CHECK(ex.sent[0].changes.size() == 40);
  CHECK(ex.sent[1].changes.size() == 40);
  CHECK(ex.sent[1].complete);
  // Nothing describes a's history beyond its heads: the 500 actors are not listed.
  CHECK(ex.sent[0].encode().size() - ex.sent[0].change_bytes() < 100);
}

TEST_CASE("bounded messages: a backlog larger than the limit streams in parts applied on arrival") {
  ChangeGraph source(actor(1)), empty(actor(2));
  for (int i = 0; i < 300; ++i) source.commit(Bytes(1000, static_cast<std::uint8_t>(i)));
  SyncState s_source, s_empty;
  GenerateOptions limit{.max_message_bytes = 32u << 10};
  std::vector<std::size_t> sizes_seen;
  std::size_t max_bytes = 0;
  int parts = 0;
  Exchange ex = ping_pong(
      empty, source, s_empty, s_source,
      [&](int side, SyncMessage& m) {
        max_bytes = std::max(max_bytes, m.encode().size());
        if (side == 1 && !m.changes.empty()) {
          ++parts;
          sizes_seen.push_back(empty.size());
        }
      },
      limit, 100);
  check_converged(source, empty);
  CHECK(max_bytes <= limit.max_message_bytes);
  CHECK(parts >= 10);  // 300 KB in parts of at most 32 KiB
  // Each part was applied before the next was generated: the receiver grew part by part.
  REQUIRE(sizes_seen.size() == static_cast<std::size_t>(parts));
  for (std::size_t i = 1; i < sizes_seen.size(); ++i) CHECK(sizes_seen[i] > sizes_seen[i - 1]);
  // No change travelled twice.
  std::size_t changes = 0;
  for (const auto& m : ex.sent) changes += m.changes.size();
  CHECK(changes == 300);

  // A change larger than the limit still travels, alone.
  ChangeGraph big(actor(3)), none(actor(4));
  big.commit(Bytes(100u << 10, 7));
  big.commit(Bytes(10, 8));
  SyncState s_big, s_none;
  Exchange alone = ping_pong(none, big, s_none, s_big, {}, limit);
  check_converged(big, none);
  CHECK(alone.sent[1].changes.size() == 1);
}

// A first message from a peer with one change and no saved state used to be a one-entry
// Bloom filter, a few bytes smaller than the exact summary. On a false positive (about 1 in
// 100 actor pairs) the other side held its change back, the exchange took a round longer,
// and after the first quiet round one side reported has_our_changes and the other did not.
// A summary within 16 bytes of the filter now goes instead: every pair runs the same
// exchange, whatever its hashes.
TEST_CASE("defect: has_our_changes disagrees at quiescence about 1 time in 100") {
  int rounds_seen = -1;
  for (std::uint64_t seed = 0; seed < 10'000; ++seed) {
    CAPTURE(seed);
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    auto next = [&x] {  // xorshift64: seeded, the same on every platform
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    ActorId ids[2];
    for (ActorId& id : ids) {
      for (std::size_t i = 0; i < id.bytes.size(); i += 8) {
        std::uint64_t v = next();
        std::memcpy(id.bytes.data() + i, &v, 8);
      }
    }
    ChangeGraph a(ids[0]), b(ids[1]);
    a.commit(text("a"), std::nullopt, 0);
    b.commit(text("b"), std::nullopt, 0);
    SyncState sa, sb;
    int round = 0;
    for (; round <= kMaxIterations; ++round) {
      auto m = generate_sync_message(a, sa);
      auto n = generate_sync_message(b, sb);
      if (!m && !n) break;
      if (m) receive_sync_message(b, sb, wire(*m));
      if (n) receive_sync_message(a, sa, wire(*n));
      // After every round, quiet or not, both sides tell the same story.
      REQUIRE(has_our_changes(a, sa) == has_our_changes(b, sb));
    }
    REQUIRE(a.heads() == b.heads());
    REQUIRE(has_our_changes(a, sa));
    // The same exchange for every pair.
    if (rounds_seen < 0) rounds_seen = round;
    REQUIRE(round == rounds_seen);
  }
}

// Issue 11: a first sync in three messages, a saved-state sync in two (docs/protocol.md,
// section 8.14), and what a stale state or a lying peer costs on top.
TEST_CASE("a first sync takes 3 messages and a saved-state sync 2") {
  SUBCASE("no saved state: summary; summary and changes; changes, complete; then silence") {
    Forked f(linear_history(1000, 3, "shared"), 5);
    Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb);
    check_converged(f.a, f.b);
    REQUIRE(ex.messages == 3);
    CHECK(ex.sent[0].summary);
    CHECK(ex.sent[1].summary);
    CHECK(ex.sent[1].changes.size() == 5);
    CHECK(ex.sent[1].complete);
    CHECK(ex.sent[2].changes.size() == 5);
    CHECK(ex.sent[2].complete);
    CHECK_FALSE(ex.sent[2].summary);
    CHECK(ex.sent[2].have.empty());
    CHECK(has_our_changes(f.a, f.sa));
    CHECK(has_our_changes(f.b, f.sb));
    CHECK(f.sa.shared_heads == f.a.heads());
    CHECK(f.sb.shared_heads == f.b.heads());
  }
  SUBCASE("saved state: each side sends what follows the shared heads; at most 64 B + 32 B/head") {
    Forked f(linear_history(1000, 3, "shared"), 0);
    ping_pong(f.a, f.b, f.sa, f.sb);
    f.sa = reload(f.sa);
    f.sb = reload(f.sb);
    commit_n(f.a, 5, "a");
    commit_n(f.b, 5, "b");
    Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb);
    check_converged(f.a, f.b);
    REQUIRE(ex.messages == 2);
    CHECK(ex.sent[0].changes.size() == 5);
    CHECK(ex.sent[1].changes.size() == 5);
    std::size_t heads = 0;
    for (const auto& m : ex.sent) heads += m.heads.size();
    MESSAGE("saved-state sync: overhead " << ex.overhead() << " bytes, " << heads << " heads");
    CHECK(ex.overhead() <= 64 + 32 * heads);
    CHECK(has_our_changes(f.a, f.sa));
    CHECK(has_our_changes(f.b, f.sb));
    // The states saved now start the next connection from the merged heads.
    CHECK(reload(f.sa).shared_heads == f.a.heads());
    CHECK(reload(f.sb).shared_heads == f.b.heads());
  }
  SUBCASE("stale saved state: the peer was restored from an older copy") {
    auto history = linear_history(1000, 3, "shared");
    auto later = linear_history(1010, 3, "shared");  // the same 1000, then 10 more
    ChangeGraph a(actor(1)), b(actor(2));
    a.add(later);
    b.add(later);
    SyncState sa, sb;
    ping_pong(a, b, sa, sb);
    sa = reload(sa);
    sb = reload(sb);
    // b loses the last 10 shared changes; both states still name them.
    ChangeGraph restored(actor(3));
    restored.add(history);
    commit_n(a, 4, "a");
    commit_n(restored, 4, "b");
    Exchange ex = ping_pong(a, restored, sa, sb);
    check_converged(a, restored);
    // a's push waits as pending at restored, which needs its deps one layer at a time
    // until a holds restored's heads and answers with everything at once (complete). The
    // stale state costs three messages over the honest two; the hashes recover the rest.
    CHECK(ex.messages == 6);
    CHECK(has_our_changes(a, sa));
    CHECK(has_our_changes(restored, sb));
  }
  SUBCASE("a lying peer: a's first summary claims b's changes") {
    Forked f(linear_history(1000, 3, "shared"), 4);
    Exchange ex = exchange_with_a_lying_summary(f);
    // b's complete answer misses its own four; a does not reach b's heads, so it answers
    // (needing them) and b sends them: one message more than the honest exchange.
    CHECK(ex.sent[1].changes.empty());
    CHECK(ex.messages == 4);
    CHECK(has_our_changes(f.a, f.sa));
    CHECK(has_our_changes(f.b, f.sb));
  }
  SUBCASE("a lying peer: complete set on every message costs nothing") {
    Forked f(linear_history(1000, 3, "shared"), 4);
    Exchange ex = ping_pong(f.a, f.b, f.sa, f.sb, [](int side, SyncMessage& m) {
      if (side == 0) m.complete = true;
    });
    check_converged(f.a, f.b);
    CHECK(ex.messages == 3);
    CHECK(has_our_changes(f.b, f.sb));
  }
}
