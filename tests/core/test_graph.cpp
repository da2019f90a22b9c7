// ChangeGraph: commits, duplicates, out-of-order delivery with ImportStatus ranges, refusals
// (equivocation, seq gaps, pending limits) that leave the graph unchanged, eviction, the
// queries, local subscriptions, and Loro-style export/import of updates.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dagsync/detail/hash_index.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

Change make_change(std::uint8_t a, std::uint64_t seq, std::vector<ChangeHash> deps,
                   const std::string& payload = "") {
  ChangeFields f;
  f.actor = actor(a);
  f.seq = seq;
  f.deps = std::move(deps);
  f.payload = text(payload.empty() ? "actor " + std::to_string(a) + " seq " + std::to_string(seq)
                                   : payload);
  return Change::build(f);
}

// Changes 1..n of actor `a`, each depending on the previous (the first on `first_deps`).
std::vector<Change> chain(std::uint8_t a, int n, std::vector<ChangeHash> first_deps = {},
                          const std::string& label = "") {
  std::vector<Change> out;
  for (int i = 1; i <= n; ++i) {
    std::vector<ChangeHash> deps = i == 1 ? first_deps : std::vector<ChangeHash>{out.back().hash()};
    out.push_back(make_change(a, static_cast<std::uint64_t>(i), deps,
                              label.empty() ? "" : label + " " + std::to_string(i)));
  }
  return out;
}

std::vector<Change> slice(const std::vector<Change>& v, std::size_t begin, std::size_t end) {
  return {v.begin() + static_cast<std::ptrdiff_t>(begin),
          v.begin() + static_cast<std::ptrdiff_t>(end)};
}

// Everything observable about a graph's contents, for "unchanged" checks.
struct Snapshot {
  std::vector<ChangeHash> heads;
  std::vector<ChangeHash> applied;  // in application order
  std::vector<ChangeHash> pending;
  std::size_t size = 0;
  std::size_t pending_count = 0;
  std::size_t pending_bytes = 0;
  std::vector<ChangeHash> missing;
  VersionVector vv;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const ChangeGraph& g) {
  return {g.heads(),        hashes_of(g.changes()), hashes_of(g.pending_changes()),
          g.size(),         g.pending_count(),      g.pending_bytes(),
          g.missing_deps(), g.version_vector()};
}

std::size_t byte_size(const std::vector<Change>& changes) {
  std::size_t n = 0;
  for (const auto& c : changes) n += c.bytes().size();
  return n;
}

// Every applied change's deps were applied before it.
bool topological(const std::vector<Change>& order) {
  std::unordered_set<ChangeHash, IdHasher> seen;
  for (const auto& c : order) {
    for (const auto& d : c.deps()) {
      if (!seen.count(d)) return false;
    }
    seen.insert(c.hash());
  }
  return true;
}

ActorRanges ranges(std::initializer_list<std::pair<std::uint8_t, std::vector<SeqRange>>> list) {
  ActorRanges out;
  for (const auto& [a, r] : list) out[actor(a)] = r;
  return out;
}

// Expects `fn` to throw GraphError whose message contains every needle, and `g` unchanged.
template <typename Fn>
void check_refused(ChangeGraph& g, Fn fn, std::vector<std::string> needles) {
  Snapshot before = snapshot(g);
  try {
    fn();
    FAIL("accepted");
  } catch (const GraphError& e) {
    std::string what = e.what();
    INFO("what(): " << what);
    for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
  }
  CHECK(snapshot(g) == before);
}

}  // namespace

TEST_CASE("graph: commit builds seq 1, 2, 3 on the current heads") {
  ChangeGraph g(actor(1));
  CHECK(g.local_actor() == actor(1));
  CHECK(g.size() == 0);
  CHECK(g.heads().empty());

  Change c1 = g.commit(text("one"), "first", 1000);
  Change c2 = g.commit(text("two"));
  Change c3 = g.commit(text("three"), std::nullopt, -5);

  CHECK(c1.actor() == actor(1));
  CHECK(c1.seq() == 1);
  CHECK(c1.deps().empty());
  CHECK(c1.message() == std::optional<std::string>("first"));
  CHECK(c1.timestamp_ms() == std::optional<std::int64_t>(1000));
  CHECK(c2.seq() == 2);
  CHECK(c2.deps() == std::vector<ChangeHash>{c1.hash()});
  CHECK_FALSE(c2.message().has_value());
  CHECK_FALSE(c2.timestamp_ms().has_value());
  CHECK(c3.seq() == 3);
  CHECK(c3.deps() == std::vector<ChangeHash>{c2.hash()});
  CHECK(c3.timestamp_ms() == std::optional<std::int64_t>(-5));

  CHECK(g.size() == 3);
  CHECK(g.heads() == std::vector<ChangeHash>{c3.hash()});
  CHECK(hashes_of(g.changes()) == std::vector<ChangeHash>{c1.hash(), c2.hash(), c3.hash()});
  for (const auto& c : {c1, c2, c3}) {
    CHECK(g.has(c.hash()));
    CHECK_FALSE(g.is_pending(c.hash()));
    REQUIRE(g.get(c.hash()).has_value());
    CHECK(g.get(c.hash())->hash() == c.hash());
  }
  CHECK_FALSE(g.get(make_change(9, 1, {}).hash()).has_value());
}

TEST_CASE("graph: heads are sorted and a commit merges every head") {
  ChangeGraph g(actor(1));
  std::vector<Change> roots;
  for (std::uint8_t a = 2; a <= 6; ++a) roots.push_back(make_change(a, 1, {}));
  g.add(roots);
  CHECK(g.heads() == sorted(hashes_of(roots)));
  const std::vector<ChangeHash> heads = g.heads();
  CHECK(heads.size() == 5);
  CHECK(std::is_sorted(heads.begin(), heads.end()));

  Change merge = g.commit(text("merge"));
  CHECK(merge.deps() == sorted(hashes_of(roots)));
  CHECK(g.heads() == std::vector<ChangeHash>{merge.hash()});

  // Two actors building on the merge: two heads again, sorted.
  Change a = make_change(2, 2, {merge.hash()});
  Change b = make_change(3, 2, {merge.hash()});
  g.add(std::vector<Change>{b, a});
  CHECK(g.heads() == sorted({a.hash(), b.hash()}));
}

TEST_CASE("graph: duplicates are counted and ignored") {
  ChangeGraph g(actor(1));
  auto c = chain(2, 4);
  ImportStatus first = g.add(slice(c, 0, 2));
  CHECK(first.duplicates == 0);
  CHECK(first.applied.size() == 2);

  Snapshot before = snapshot(g);
  ImportStatus again = g.add(slice(c, 0, 2));
  CHECK(again.duplicates == 2);
  CHECK(again.applied.empty());
  CHECK(again.success.empty());
  CHECK(again.pending.empty());
  CHECK(snapshot(g) == before);

  // Within one batch, and for pending changes.
  ImportStatus parked = g.add(std::vector<Change>{c[3], c[3]});
  CHECK(parked.duplicates == 1);
  CHECK(g.pending_count() == 1);
  ImportStatus parked_again = g.add(c[3]);
  CHECK(parked_again.duplicates == 1);
  CHECK(parked_again.pending.empty());
  CHECK(g.pending_count() == 1);

  ImportStatus mixed = g.add(std::vector<Change>{c[0], c[2], c[2], c[3]});
  CHECK(mixed.duplicates == 3);
  CHECK(mixed.applied == std::vector<ChangeHash>{c[2].hash(), c[3].hash()});
  CHECK(g.size() == 4);
  CHECK(g.pending_count() == 0);
}

TEST_CASE("graph: out-of-order delivery parks changes and applies them when deps arrive") {
  auto a = chain(1, 5);

  SUBCASE("seq 3..5 first, then 1..2") {
    ChangeGraph g(actor(9));
    ImportStatus s1 = g.add(slice(a, 2, 5));
    CHECK(s1.success.empty());
    CHECK(s1.applied.empty());
    CHECK(s1.has_pending());
    CHECK(s1.pending == ranges({{1, {{3, 6}}}}));
    CHECK(g.size() == 0);
    CHECK(g.heads().empty());
    CHECK(g.pending_count() == 3);
    CHECK(g.pending_bytes() == byte_size(slice(a, 2, 5)));
    CHECK(hashes_of(g.pending_changes()) == sorted(hashes_of(slice(a, 2, 5))));
    for (int i = 2; i < 5; ++i) {
      CHECK(g.is_pending(a[i].hash()));
      CHECK_FALSE(g.has(a[i].hash()));
    }

    ImportStatus s2 = g.add(slice(a, 0, 2));
    CHECK(s2.success == ranges({{1, {{1, 6}}}}));
    CHECK(s2.pending.empty());
    CHECK_FALSE(s2.has_pending());
    CHECK(s2.applied == hashes_of(a));
    CHECK(g.size() == 5);
    CHECK(g.pending_count() == 0);
    CHECK(g.pending_bytes() == 0);
    CHECK(g.heads() == std::vector<ChangeHash>{a[4].hash()});
    CHECK(hashes_of(g.changes()) == hashes_of(a));
  }
  SUBCASE("one at a time, newest first") {
    ChangeGraph g(actor(9));
    for (int i = 4; i >= 1; --i) {
      ImportStatus s = g.add(a[i]);
      CHECK(s.pending == ranges({{1, {{std::uint64_t(i + 1), std::uint64_t(i + 2)}}}}));
      CHECK(s.success.empty());
    }
    CHECK(g.pending_count() == 4);
    ImportStatus s = g.add(a[0]);
    CHECK(s.success == ranges({{1, {{1, 6}}}}));
    CHECK(s.applied == hashes_of(a));
    CHECK(g.pending_count() == 0);
  }
  SUBCASE("ranges per actor, with gaps") {
    ChangeGraph g(actor(9));
    auto b = chain(2, 3);
    ImportStatus s = g.add(std::vector<Change>{a[4], a[2], b[1], b[2]});
    CHECK(s.pending == ranges({{1, {{3, 4}, {5, 6}}}, {2, {{2, 4}}}}));
    ImportStatus s2 = g.add(std::vector<Change>{b[0], a[0]});
    CHECK(s2.success == ranges({{1, {{1, 2}}}, {2, {{1, 4}}}}));
    CHECK(g.pending_count() == 2);
    ImportStatus s3 = g.add(a[1]);
    CHECK(s3.success == ranges({{1, {{2, 4}}}}));
    CHECK(g.pending_count() == 1);
    ImportStatus s4 = g.add(a[3]);
    CHECK(s4.success == ranges({{1, {{4, 6}}}}));
    CHECK(g.pending_count() == 0);
    CHECK(topological(g.changes()));
  }
  SUBCASE("a change parked on its actor's pending predecessor wakes with it") {
    // a3x names only a1 as dep, but its actor's seq 2 (a2x) is pending on b1.
    ChangeGraph g(actor(9));
    Change b1 = make_change(2, 1, {});
    Change a2x = make_change(1, 2, {a[0].hash(), b1.hash()}, "a2x");
    Change a3x = make_change(1, 3, {a[0].hash()}, "a3x");
    g.add(a[0]);
    CHECK(g.add(a2x).pending == ranges({{1, {{2, 3}}}}));
    ImportStatus parked = g.add(a3x);
    CHECK(parked.pending == ranges({{1, {{3, 4}}}}));
    CHECK(g.pending_count() == 2);
    ImportStatus s = g.add(b1);
    CHECK(s.success == ranges({{1, {{2, 4}}}, {2, {{1, 2}}}}));
    CHECK(s.applied == std::vector<ChangeHash>{b1.hash(), a2x.hash(), a3x.hash()});
    CHECK(g.pending_count() == 0);
  }
}

TEST_CASE("graph: missing_deps names what pending changes wait for, plus unknown heads") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 5);
  auto b = chain(2, 2);
  CHECK(g.missing_deps().empty());
  g.add(a[0]);
  g.add(std::vector<Change>{a[3], a[4], b[1]});
  // a4 waits on a3 (nowhere), a5 on a4 (pending), b2 on b1 (nowhere).
  CHECK(g.missing_deps() == sorted({a[2].hash(), b[0].hash()}));

  ChangeHash unknown = make_change(7, 1, {}).hash();
  std::vector<ChangeHash> heads = {unknown, a[0].hash(), a[4].hash()};
  CHECK(g.missing_deps(heads) == sorted({a[2].hash(), b[0].hash(), unknown}));

  g.add(std::vector<Change>{a[1], a[2]});
  CHECK(g.missing_deps() == std::vector<ChangeHash>{b[0].hash()});
  g.add(b[0]);
  CHECK(g.missing_deps().empty());
  CHECK(g.missing_deps(heads) == std::vector<ChangeHash>{unknown});
}

TEST_CASE("graph: equivocation is refused with both hashes named, graph unchanged") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 3);
  Change a2_other = make_change(1, 2, {a[0].hash()}, "a different seq 2");
  REQUIRE(a2_other.hash() != a[1].hash());

  SUBCASE("against an applied change") {
    g.add(a);
    g.add(make_change(5, 2, {make_change(5, 1, {}).hash()}));  // something pending too
    REQUIRE(g.pending_count() == 1);
    check_refused(g, [&] { g.add(a2_other); },
                  {"equivocation", a[1].hash().hex(), a2_other.hash().hex()});
    // Also when it hides in a batch of good changes.
    check_refused(g,
                  [&] {
                    g.add(std::vector<Change>{make_change(2, 1, {}), a2_other});
                  },
                  {"equivocation", a[1].hash().hex(), a2_other.hash().hex()});
  }
  SUBCASE("between two changes of one batch") {
    g.add(a[0]);
    check_refused(g,
                  [&] {
                    g.add(std::vector<Change>{a[1], a2_other});
                  },
                  {"equivocation", a[1].hash().hex(), a2_other.hash().hex()});
    CHECK_FALSE(g.has(a[1].hash()));
  }
  SUBCASE("against a change applied earlier in the same batch") {
    check_refused(g,
                  [&] {
                    g.add(std::vector<Change>{a[0], a[1], a[2], a2_other});
                  },
                  {"equivocation", a[1].hash().hex(), a2_other.hash().hex()});
    CHECK(g.size() == 0);
  }
}

TEST_CASE("graph: a seq gap is refused, graph unchanged") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 2);
  g.add(a);

  // A root at seq 2: its deps (none) are all there, its seq 1 is nowhere.
  Change orphan = make_change(2, 2, {});
  check_refused(g, [&] { g.add(orphan); }, {"seq gap", orphan.hash().hex()});

  // Seq 4 on top of seq 2: seq 3 is nowhere.
  Change skip = make_change(1, 4, {a[1].hash()});
  check_refused(g, [&] { g.add(skip); }, {"seq gap", skip.hash().hex()});
  CHECK_FALSE(g.is_pending(skip.hash()));

  // When seq 3 is pending, seq 4 waits for it instead, then applies.
  Change b1 = make_change(3, 1, {});
  Change a3 = make_change(1, 3, {a[1].hash(), b1.hash()});
  g.add(a3);
  ImportStatus parked = g.add(skip);
  CHECK(parked.pending == ranges({{1, {{4, 5}}}}));
  CHECK(g.pending_count() == 2);
  ImportStatus done = g.add(b1);
  CHECK(done.applied == std::vector<ChangeHash>{b1.hash(), a3.hash(), skip.hash()});
  CHECK(g.pending_count() == 0);
}

TEST_CASE("graph: a batch is atomic") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 3);
  auto b = chain(2, 3);
  g.add(a[0]);
  g.add(b[2]);  // pending
  Change a2_other = make_change(1, 2, {a[0].hash()}, "equivocating");
  Change gap = make_change(4, 2, {});

  // Good changes around a bad one: none of them is applied or parked.
  std::vector<Change> batch = {a[1], b[0], b[1], a2_other, a[2], make_change(3, 1, {})};
  check_refused(g, [&] { g.add(batch); }, {"equivocation"});
  std::vector<Change> batch2 = {b[0], gap, b[1], make_change(5, 5, {make_change(6, 1, {}).hash()})};
  check_refused(g, [&] { g.add(batch2); }, {"seq gap"});
  CHECK_FALSE(g.has(b[0].hash()));
  CHECK(g.is_pending(b[2].hash()));
  CHECK(g.size() == 1);

  // Without the bad ones, the same batch applies.
  ImportStatus ok = g.add(std::vector<Change>{a[1], b[0], b[1], a[2]});
  CHECK(ok.success == ranges({{1, {{2, 4}}}, {2, {{1, 4}}}}));
  CHECK(g.pending_count() == 0);
}

TEST_CASE("graph: a batch that stops applying in order midway is rolled back first") {
  // With nothing pending, add() applies a batch change by change as long as each is new, its
  // actor's next seq and has its deps; at the first that is not, it undoes the ones before
  // and takes the general path. The undo must leave no trace of them.
  ChangeGraph g(actor(9));
  auto a = chain(1, 3);
  auto b = chain(2, 2);
  g.add(a[0]);
  g.add(b[0]);  // two heads
  REQUIRE(g.heads().size() == 2);
  Snapshot before = snapshot(g);
  Change merge = make_change(1, 2, {a[0].hash(), b[0].hash()}, "merge");
  Change newcomer = make_change(7, 1, {merge.hash()});  // an actor the graph has not seen
  Change newcomer2 = make_change(7, 2, {newcomer.hash()});
  Change a2_other = make_change(1, 2, {a[0].hash()}, "equivocating");
  Change gap = make_change(7, 4, {newcomer2.hash()});

  SUBCASE("an equivocation after the in-order prefix") {
    check_refused(g,
                  [&] {
                    g.add(std::vector<Change>{merge, newcomer, newcomer2, a2_other});
                  },
                  {"equivocation", merge.hash().hex(), a2_other.hash().hex()});
  }
  SUBCASE("a seq gap after the in-order prefix") {
    check_refused(g,
                  [&] {
                    g.add(std::vector<Change>{merge, newcomer, newcomer2, gap});
                  },
                  {"seq gap", gap.hash().hex()});
  }
  SUBCASE("the pending limit, reached by the tail of the batch") {
    ChangeGraph tight(actor(9), GraphLimits{1, 1u << 20});
    tight.add(a[0]);
    tight.add(b[0]);
    Change waits1 = make_change(3, 1, {make_change(4, 1, {}).hash()});
    Change waits2 = make_change(5, 1, {make_change(6, 1, {}).hash()});
    check_refused(tight,
                  [&] {
                    tight.add(std::vector<Change>{merge, newcomer, waits1, waits2});
                  },
                  {"pending limit"});
    CHECK(snapshot(tight) == before);
  }
  CHECK(snapshot(g) == before);
  for (const Change& c : {merge, newcomer, newcomer2}) {
    CHECK_FALSE(g.has(c.hash()));
    CHECK_FALSE(g.get(c.hash()).has_value());
    CHECK(g.depth(c.hash()) == 0);
  }
  CHECK(g.version_vector().get(actor(7)) == 0);

  // The graph is intact: the good prefix applies afterwards, in order.
  ImportStatus ok = g.add(std::vector<Change>{merge, newcomer, newcomer2});
  CHECK(ok.applied == std::vector<ChangeHash>{merge.hash(), newcomer.hash(), newcomer2.hash()});
  CHECK(ok.success == ranges({{1, {{2, 3}}}, {7, {{1, 3}}}}));
  CHECK(g.heads() == std::vector<ChangeHash>{newcomer2.hash()});
  CHECK(g.depth(newcomer2.hash()) == 4);
  CHECK(g.version_vector().get(actor(7)) == 2);
  CHECK(topological(g.changes()));
}

TEST_CASE("graph: a batch that stops applying in order midway keeps its general-path outcome") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 4);
  auto b = chain(2, 2);

  SUBCASE("a missing dep parks the tail") {
    // a[3] waits for a[2], which is not in the batch.
    ImportStatus s = g.add(std::vector<Change>{a[0], a[1], b[0], a[3], b[1]});
    // The general path's order: ready changes first, then those they wake.
    CHECK(s.applied == std::vector<ChangeHash>{a[0].hash(), b[0].hash(), a[1].hash(), b[1].hash()});
    CHECK(s.success == ranges({{1, {{1, 3}}}, {2, {{1, 3}}}}));
    CHECK(s.pending == ranges({{1, {{4, 5}}}}));
    CHECK(g.is_pending(a[3].hash()));
    ImportStatus rest = g.add(a[2]);
    CHECK(rest.applied == std::vector<ChangeHash>{a[2].hash(), a[3].hash()});
  }
  SUBCASE("a duplicate inside the batch is counted once") {
    ImportStatus s = g.add(std::vector<Change>{a[0], a[1], a[0], a[2]});
    CHECK(s.applied == std::vector<ChangeHash>{a[0].hash(), a[1].hash(), a[2].hash()});
    CHECK(s.duplicates == 1);
  }
  SUBCASE("a change already applied") {
    g.add(a[0]);
    ImportStatus s = g.add(std::vector<Change>{a[1], a[0], a[2]});
    CHECK(s.applied == std::vector<ChangeHash>{a[1].hash(), a[2].hash()});
    CHECK(s.duplicates == 1);
  }
  SUBCASE("a change that a pending one waits for") {
    g.add(a[2]);  // waits for a[1]
    REQUIRE(g.pending_count() == 1);
    // In order up to a[1], which wakes a[2]: rolled back, then the general path applies all.
    ImportStatus s = g.add(std::vector<Change>{b[0], a[0], a[1]});
    CHECK(s.applied == std::vector<ChangeHash>{b[0].hash(), a[0].hash(), a[1].hash(), a[2].hash()});
    CHECK(s.success == ranges({{1, {{1, 4}}}, {2, {{1, 2}}}}));
    CHECK(g.pending_count() == 0);
  }
  SUBCASE("an in-order batch unrelated to a pending change") {
    g.add(a[2]);  // waits for a[1]
    ImportStatus s = g.add(std::vector<Change>{b[0], a[0], b[1]});
    CHECK(s.applied == std::vector<ChangeHash>{b[0].hash(), a[0].hash(), b[1].hash()});
    CHECK(g.is_pending(a[2].hash()));
    CHECK(g.missing_deps() == std::vector<ChangeHash>{a[1].hash()});
  }
  SUBCASE("changes out of order within the batch") {
    ImportStatus s = g.add(std::vector<Change>{a[1], a[0]});
    CHECK(s.applied == std::vector<ChangeHash>{a[0].hash(), a[1].hash()});
    CHECK(s.success == ranges({{1, {{1, 3}}}}));
  }
  CHECK(g.pending_count() + g.size() > 0);
  CHECK(topological(g.changes()));
}

TEST_CASE("graph: in-order batches give the same statuses and queries as one-by-one adds") {
  // Three actors, branching and merging, delivered in application order in batches of
  // several sizes and one by one.
  ChangeGraph source(actor(9));
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::uint8_t who = static_cast<std::uint8_t>(1 + rng() % 3);
    ChangeGraph& g = source;
    ChangeFields f;
    f.actor = actor(who);
    f.seq = g.version_vector().get(f.actor) + 1;
    // Build on all heads, or only on the actor's own last change (a branch).
    if (rng() % 4 == 0 && f.seq > 1) {
      f.deps = {g.changes()[0].hash()};
      for (const Change& c : g.changes()) {
        if (c.actor() == f.actor && c.seq() == f.seq - 1) f.deps = {c.hash()};
      }
    } else {
      f.deps = g.heads();
    }
    f.payload = text("change " + std::to_string(i));
    g.add(Change::build(f));
  }
  const std::vector<Change>& all = source.changes();
  for (std::size_t batch : {std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(300)}) {
    CAPTURE(batch);
    ChangeGraph g(actor(8));
    std::vector<ChangeHash> applied;
    for (std::size_t i = 0; i < all.size(); i += batch) {
      ImportStatus s = g.add(slice(all, i, std::min(all.size(), i + batch)));
      CHECK(s.pending.empty());
      CHECK(s.duplicates == 0);
      applied.insert(applied.end(), s.applied.begin(), s.applied.end());
    }
    CHECK(applied == hashes_of(all));
    CHECK(g.heads() == source.heads());
    CHECK(g.version_vector() == source.version_vector());
    for (const Change& c : all) CHECK(g.depth(c.hash()) == source.depth(c.hash()));
  }
}

TEST_CASE("graph: the hash index finds every change across its growth") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 3000);
  for (std::size_t i = 0; i < a.size(); i += 100) g.add(slice(a, i, i + 100));
  REQUIRE(g.size() == a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(g.has(a[i].hash()));
    CHECK(g.get(a[i].hash())->hash() == a[i].hash());
    CHECK(g.depth(a[i].hash()) == i + 1);
  }
  for (int i = 0; i < 3000; ++i) {
    CHECK_FALSE(g.has(sha256(as_bytes("absent " + std::to_string(i)))));
  }
  ChangeGraph copy = g;
  copy.add(make_change(2, 1, {a.back().hash()}));
  CHECK(copy.size() == g.size() + 1);
  CHECK(copy.has(a[1234].hash()));
  ChangeGraph moved = std::move(copy);
  CHECK(moved.has(a[2999].hash()));
}

namespace {

// A hash whose first 31 bytes are all `prefix` and whose last byte is `last`.
ChangeHash prefixed_hash(std::uint8_t prefix, std::uint8_t last) {
  ChangeHash h;
  h.bytes.fill(prefix);
  h.bytes.back() = last;
  return h;
}

}  // namespace

TEST_CASE("hash index: hashes sharing long prefixes and fingerprints, inserts and erases") {
  // The index stores node numbers; the caller's table holds the hashes.
  std::vector<ChangeHash> hashes;
  auto hash_of = [&](std::uint32_t node) -> const ChangeHash& { return hashes[node]; };
  HashIndex index(42);

  SUBCASE("hashes that differ only in their last byte") {
    for (int i = 0; i < 256; ++i) hashes.push_back(prefixed_hash(0xab, std::uint8_t(i)));
  }
  SUBCASE("hashes with equal fingerprints") {
    // Birthday search for 32-bit fingerprint collisions: expected after ~2^16 tries.
    std::unordered_map<std::uint32_t, ChangeHash> seen;
    for (int i = 0; hashes.size() < 8 && i < 2'000'000; ++i) {
      ChangeHash h = sha256(as_bytes("fingerprint " + std::to_string(i)));
      auto [it, fresh] = seen.emplace(index.fingerprint(h), h);
      if (!fresh) {
        hashes.push_back(it->second);
        hashes.push_back(h);
        seen.erase(it);
      }
    }
    REQUIRE(hashes.size() >= 2);
    CHECK(index.fingerprint(hashes[0]) == index.fingerprint(hashes[1]));
    // And many ordinary ones around them.
    for (int i = 0; i < 200; ++i) hashes.push_back(sha256(as_bytes("other " + std::to_string(i))));
  }

  for (std::uint32_t i = 0; i < hashes.size(); ++i) {
    CHECK_FALSE(index.find(hashes[i], hash_of).has_value());
    index.insert(hashes[i], i);
  }
  CHECK(index.size() == hashes.size());
  CHECK(index.capacity() >= hashes.size() * 4 / 3);
  for (std::uint32_t i = 0; i < hashes.size(); ++i) CHECK(index.find(hashes[i], hash_of) == i);
  CHECK_FALSE(index.find(prefixed_hash(0xcd, 1), hash_of).has_value());

  // Erase every other one (backward shifts move later members of the probe runs up).
  for (std::uint32_t i = 0; i < hashes.size(); i += 2) CHECK(index.erase(hashes[i], hash_of));
  CHECK_FALSE(index.erase(hashes[0], hash_of));
  for (std::uint32_t i = 0; i < hashes.size(); ++i) {
    CHECK(index.find(hashes[i], hash_of) ==
          (i % 2 ? std::optional<std::uint32_t>(i) : std::nullopt));
  }
  CHECK(index.size() == hashes.size() / 2);
}

TEST_CASE("hash index: random inserts and erases agree with std::unordered_map") {
  std::vector<ChangeHash> hashes;
  for (int i = 0; i < 2000; ++i) hashes.push_back(sha256(as_bytes("random " + std::to_string(i))));
  auto hash_of = [&](std::uint32_t node) -> const ChangeHash& { return hashes[node]; };
  for (std::uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    HashIndex index(seed);
    std::unordered_map<ChangeHash, std::uint32_t, IdHasher> model;
    for (int step = 0; step < 20'000; ++step) {
      auto node = static_cast<std::uint32_t>(rng() % hashes.size());
      const ChangeHash& h = hashes[node];
      if (rng() % 3 == 0) {
        CHECK(index.erase(h, hash_of) == (model.erase(h) == 1));
      } else if (!model.count(h)) {
        index.insert(h, node);
        model[h] = node;
      }
      if (step % 1000 == 0) {
        for (std::uint32_t i = 0; i < hashes.size(); ++i) {
          auto it = model.find(hashes[i]);
          CHECK(index.find(hashes[i], hash_of) ==
                (it == model.end() ? std::nullopt : std::optional<std::uint32_t>(it->second)));
        }
      }
    }
    CHECK(index.size() == model.size());
    HashIndex moved = std::move(index);
    CHECK(index.size() == 0);
    CHECK_FALSE(index.find(hashes[0], hash_of).has_value());
    index.insert(hashes[0], 0);
    CHECK(index.find(hashes[0], hash_of) == 0u);
    CHECK(moved.size() == model.size());
  }
}

TEST_CASE("graph: the pending pool is bounded by count") {
  GraphLimits limits;
  limits.max_pending_changes = 3;
  ChangeGraph g(actor(9), limits);
  CHECK(g.limits().max_pending_changes == 3);
  auto a = chain(1, 6);

  // Four would wait: refused as a whole.
  check_refused(g, [&] { g.add(slice(a, 1, 5)); }, {"pending limit", "3"});
  CHECK(g.pending_count() == 0);

  // Three fit; a fourth, alone, does not.
  g.add(slice(a, 1, 4));
  CHECK(g.pending_count() == 3);
  check_refused(g, [&] { g.add(a[4]); }, {"pending limit"});

  // A batch that drains the pool while parking new ones is judged on the result.
  auto b = chain(2, 3);
  ImportStatus s = g.add(std::vector<Change>{a[0], b[1], b[2]});
  CHECK(s.success == ranges({{1, {{1, 5}}}}));
  CHECK(s.pending == ranges({{2, {{2, 4}}}}));
  CHECK(g.pending_count() == 2);

  GraphLimits none;
  none.max_pending_changes = 0;
  ChangeGraph strict(actor(9), none);
  check_refused(strict, [&] { strict.add(a[1]); }, {"pending limit"});
  CHECK_NOTHROW(strict.add(a[0]));  // nothing waits: fine
}

TEST_CASE("graph: the pending pool is bounded by bytes") {
  auto a = chain(1, 4);
  GraphLimits limits;
  limits.max_pending_bytes = byte_size(slice(a, 1, 3));  // exactly two of them
  ChangeGraph g(actor(9), limits);

  check_refused(g, [&] { g.add(slice(a, 1, 4)); }, {"pending limit", "bytes"});
  g.add(slice(a, 1, 3));
  CHECK(g.pending_bytes() == limits.max_pending_bytes);
  check_refused(g, [&] { g.add(a[3]); }, {"pending limit", "bytes"});
  g.add(a[0]);
  CHECK(g.pending_bytes() == 0);
  CHECK(g.size() == 3);
}

TEST_CASE("graph: a formerly pending change that proves invalid is evicted and reported") {
  ChangeGraph g(actor(9));
  Change root = make_change(3, 1, {});

  SUBCASE("equivocation found when the deps arrive") {
    auto a = chain(1, 2, {root.hash()});
    Change a2_other = make_change(1, 2, {a[0].hash()}, "other seq 2");
    g.add(a[1]);
    g.add(a2_other);  // both wait for a1: no conflict can be seen yet
    CHECK(g.pending_count() == 2);
    ImportStatus s = g.add(std::vector<Change>{root, a[0]});
    CHECK(s.applied == std::vector<ChangeHash>{root.hash(), a[0].hash(), a[1].hash()});
    REQUIRE(s.evicted.size() == 1);
    CHECK(s.evicted[0].hash == a2_other.hash());
    CHECK(s.evicted[0].reason.find("equivocation") != std::string::npos);
    CHECK(g.pending_count() == 0);
    CHECK(g.pending_bytes() == 0);
    CHECK_FALSE(g.is_pending(a2_other.hash()));
    CHECK_FALSE(g.has(a2_other.hash()));
    CHECK(g.has(a[1].hash()));
  }
  SUBCASE("pending changes that wait on an evicted change go with it") {
    auto a = chain(1, 2, {root.hash()});
    Change a2_other = make_change(1, 2, {a[0].hash()}, "other seq 2");
    Change a3_other = make_change(1, 3, {a2_other.hash()}, "built on the other seq 2");
    Change b_other = make_change(2, 2, {a3_other.hash(), make_change(2, 1, {}).hash()});
    g.add(a[1]);
    g.add(std::vector<Change>{a2_other, a3_other, b_other});
    CHECK(g.pending_count() == 4);
    ImportStatus s = g.add(std::vector<Change>{root, a[0]});
    CHECK(s.applied == std::vector<ChangeHash>{root.hash(), a[0].hash(), a[1].hash()});
    REQUIRE(s.evicted.size() == 3);
    CHECK(s.evicted[0].hash == a2_other.hash());
    CHECK(s.evicted[0].reason.find("equivocation") != std::string::npos);
    std::vector<ChangeHash> dependents = {s.evicted[1].hash, s.evicted[2].hash};
    CHECK(sorted(dependents) == sorted({a3_other.hash(), b_other.hash()}));
    for (std::size_t i = 1; i < 3; ++i) {
      CHECK(s.evicted[i].reason.find("depends on evicted change") != std::string::npos);
    }
    CHECK(g.pending_count() == 0);
    CHECK(g.pending_bytes() == 0);
    CHECK(g.missing_deps().empty());
  }
  SUBCASE("seq gap found when the deps arrive") {
    Change gap = make_change(2, 2, {root.hash()});
    g.add(gap);
    CHECK(g.is_pending(gap.hash()));
    ImportStatus s = g.add(root);
    CHECK(s.applied == std::vector<ChangeHash>{root.hash()});
    REQUIRE(s.evicted.size() == 1);
    CHECK(s.evicted[0].hash == gap.hash());
    CHECK(s.evicted[0].reason.find("seq gap") != std::string::npos);
    CHECK(g.pending_count() == 0);
    CHECK_FALSE(g.has(gap.hash()));
  }
}

TEST_CASE("graph: changes_since") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 5);
  g.add(a);
  auto b = chain(2, 2, {a[1].hash()});  // branches off a2
  g.add(b);
  const ChangeHash unknown = make_change(7, 1, {}).hash();

  CHECK(hashes_of(g.changes_since({})) == hashes_of(g.changes()));
  CHECK(g.changes_since(g.heads()).empty());
  std::vector<ChangeHash> a3 = {a[2].hash()};
  CHECK(sorted(hashes_of(g.changes_since(a3))) ==
        sorted({a[3].hash(), a[4].hash(), b[0].hash(), b[1].hash()}));
  std::vector<ChangeHash> a5 = {a[4].hash()};
  CHECK(hashes_of(g.changes_since(a5)) == hashes_of(b));
  std::vector<ChangeHash> b2 = {b[1].hash()};
  CHECK(hashes_of(g.changes_since(b2)) == hashes_of(slice(a, 2, 5)));

  // Unknown hashes are ignored.
  std::vector<ChangeHash> only_unknown = {unknown};
  CHECK(hashes_of(g.changes_since(only_unknown)) == hashes_of(g.changes()));
  std::vector<ChangeHash> mixed = {unknown, a[4].hash()};
  CHECK(hashes_of(g.changes_since(mixed)) == hashes_of(b));
  // A pending change is not held either.
  Change pending = make_change(1, 7, {make_change(1, 6, {a[4].hash()}).hash()});
  g.add(pending);
  std::vector<ChangeHash> with_pending = {pending.hash(), a[4].hash()};
  CHECK(hashes_of(g.changes_since(with_pending)) == hashes_of(b));

  // The result is in application order, which is topological.
  for (const auto& heads : {std::vector<ChangeHash>{}, a3, a5, b2}) {
    auto since = g.changes_since(heads);
    std::unordered_set<ChangeHash, IdHasher> have;
    for (const auto& c : g.changes()) {
      if (std::none_of(since.begin(), since.end(), [&](const Change& s) { return s == c; })) {
        have.insert(c.hash());
      }
    }
    for (const auto& c : since) {
      for (const auto& d : c.deps()) CHECK(have.count(d) == 1);
      have.insert(c.hash());
    }
  }
}

TEST_CASE("graph: covered_by") {
  ChangeGraph g(actor(9));
  CHECK(g.covered_by({}));
  auto a = chain(1, 3);
  auto b = chain(2, 2, {a[0].hash()});
  g.add(a);
  g.add(b);
  REQUIRE(g.heads().size() == 2);
  const std::vector<ChangeHash> heads = g.heads();

  CHECK(g.covered_by(heads));
  std::vector<ChangeHash> everything = hashes_of(g.changes());
  CHECK(g.covered_by(everything));
  std::vector<ChangeHash> one_head = {a[2].hash()};
  CHECK_FALSE(g.covered_by(one_head));
  std::vector<ChangeHash> ancestors = {a[1].hash(), b[1].hash()};
  CHECK_FALSE(g.covered_by(ancestors));
  std::vector<ChangeHash> with_unknown = {a[2].hash(), b[1].hash(), make_change(7, 1, {}).hash()};
  CHECK_FALSE(g.covered_by(with_unknown));
  CHECK_FALSE(g.covered_by({}));
}

TEST_CASE("graph: ancestors_among") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 4);
  auto b = chain(2, 2, {a[0].hash()});
  g.add(a);
  g.add(b);
  const ChangeHash unknown = make_change(7, 1, {}).hash();

  std::vector<ChangeHash> candidates = {a[3].hash(), a[0].hash(), unknown, b[1].hash(),
                                        a[2].hash()};
  std::vector<ChangeHash> at_a3 = {a[2].hash()};
  CHECK(g.ancestors_among(candidates, at_a3) == std::vector<ChangeHash>{a[0].hash(), a[2].hash()});
  std::vector<ChangeHash> at_b2 = {b[1].hash()};
  CHECK(g.ancestors_among(candidates, at_b2) == std::vector<ChangeHash>{a[0].hash(), b[1].hash()});
  std::vector<ChangeHash> both = {b[1].hash(), a[3].hash(), unknown};
  CHECK(g.ancestors_among(candidates, both) ==
        std::vector<ChangeHash>{a[3].hash(), a[0].hash(), b[1].hash(), a[2].hash()});
  std::vector<ChangeHash> nowhere = {unknown};
  CHECK(g.ancestors_among(candidates, nowhere).empty());
  CHECK(g.ancestors_among({}, both).empty());
}

// The queries walk only the difference between the given hashes and our heads; this checks
// them against marking every ancestor, on seeded random DAGs with several actors, branches
// that stay unmerged (old heads), merges, and hashes the graph does not hold.
TEST_CASE("graph: ancestry queries agree with marking the whole history") {
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    ChangeGraph g(actor(1));
    std::vector<std::uint64_t> seqs(5, 0);
    std::vector<std::vector<ChangeHash>> deps_of;
    int n = 20 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      auto a = static_cast<std::uint8_t>(rng() % 5);
      std::vector<ChangeHash> deps;
      const auto& all = g.changes();
      if (!all.empty()) {
        int k = static_cast<int>(rng() % 3);  // 0: a new root now and then
        for (int j = 0; j < k; ++j) deps.push_back(all[rng() % all.size()].hash());
        if (rng() % 2) deps.push_back(all.back().hash());
      }
      deps = sorted(deps);
      deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
      g.add(make_change(static_cast<std::uint8_t>(10 + a), ++seqs[a], deps,
                        "r" + std::to_string(seed) + " " + std::to_string(i)));
    }
    const auto& all = g.changes();
    std::unordered_map<ChangeHash, std::size_t, IdHasher> at;
    for (std::size_t i = 0; i < all.size(); ++i) at[all[i].hash()] = i;
    auto ancestors = [&](const std::vector<ChangeHash>& heads) {
      std::vector<bool> marked(all.size(), false);
      for (const auto& h : heads) {
        if (at.count(h)) marked[at[h]] = true;
      }
      for (std::size_t i = all.size(); i-- > 0;) {
        if (!marked[i]) continue;
        for (const auto& d : all[i].deps()) marked[at[d]] = true;
      }
      return marked;
    };
    for (int q = 0; q < 20; ++q) {
      std::vector<ChangeHash> given;
      int k = static_cast<int>(rng() % 4);
      for (int j = 0; j < k; ++j) given.push_back(all[rng() % all.size()].hash());
      if (rng() % 4 == 0) given.push_back(make_change(99, 1, {}).hash());  // not held
      given = sorted(given);
      given.erase(std::unique(given.begin(), given.end()), given.end());
      auto marked = ancestors(given);
      std::vector<ChangeHash> expected;
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (!marked[i]) expected.push_back(all[i].hash());
      }
      CHECK(hashes_of(g.changes_since(given)) == expected);
      CHECK(g.count_since(given) == expected.size());
      std::vector<ChangeHash> visited;
      g.visit_since(given, [&](const Change& c) {
        visited.push_back(c.hash());
        return true;
      });
      CHECK(visited == expected);
      bool all_held = std::all_of(given.begin(), given.end(), [&](auto& h) { return g.has(h); });
      CHECK(g.covered_by(given) == (all_held && expected.empty()));
      std::vector<ChangeHash> candidates, among;
      for (int j = 0; j < 6; ++j) candidates.push_back(all[rng() % all.size()].hash());
      for (const auto& c : candidates) {
        if (marked[at[c]]) among.push_back(c);
      }
      CHECK(g.ancestors_among(candidates, given) == among);
    }
  }
}

TEST_CASE("graph: version_vector") {
  ChangeGraph g(actor(1));
  CHECK(g.version_vector().size() == 0);
  commit_n(g, 3, "mine");
  auto b = chain(2, 4);
  g.add(slice(b, 0, 2));
  g.add(b[3]);  // pending: not counted
  VersionVector vv = g.version_vector();
  CHECK(vv.size() == 2);
  CHECK(vv.get(actor(1)) == 3);
  CHECK(vv.get(actor(2)) == 2);
  CHECK(vv.get(actor(3)) == 0);
  g.add(b[2]);
  CHECK(g.version_vector().get(actor(2)) == 4);
  CHECK(VersionVector::decode(g.version_vector().encode()) == g.version_vector());
}

TEST_CASE("graph: depth is the Lamport depth") {
  ChangeGraph g(actor(9));
  auto a = chain(1, 3);
  auto b = chain(2, 1);
  g.add(a);
  g.add(b);
  CHECK(g.depth(a[0].hash()) == 1);
  CHECK(g.depth(a[2].hash()) == 3);
  CHECK(g.depth(b[0].hash()) == 1);
  Change merge = g.commit(text("merge"));
  CHECK(g.depth(merge.hash()) == 4);
  Change after_b = make_change(2, 2, {b[0].hash()});
  g.add(after_b);
  CHECK(g.depth(after_b.hash()) == 2);
  CHECK(g.depth(make_change(7, 1, {}).hash()) == 0);
  Change pending = make_change(5, 2, {make_change(5, 1, {}).hash()});
  g.add(pending);
  CHECK(g.depth(pending.hash()) == 0);
}

TEST_CASE("graph: changes() is a topological order whatever the delivery order") {
  // A DAG from three writers that merge each other's work, delivered shuffled.
  ChangeGraph w1(actor(1)), w2(actor(2)), w3(actor(3));
  std::mt19937 rng(12345);
  for (int round = 0; round < 30; ++round) {
    ChangeGraph* writers[] = {&w1, &w2, &w3};
    ChangeGraph& w = *writers[rng() % 3];
    w.commit(text("round " + std::to_string(round)));
    ChangeGraph& other = *writers[rng() % 3];
    if (&other != &w) merge_into(other, w);
  }
  merge_into(w1, w2);
  merge_into(w1, w3);
  std::vector<Change> all = w1.changes();
  REQUIRE(all.size() == 30);
  CHECK(topological(all));

  for (int trial = 0; trial < 5; ++trial) {
    std::vector<Change> shuffled = all;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    ChangeGraph g(actor(9));
    std::size_t applied = 0;
    for (std::size_t i = 0; i < shuffled.size(); i += 4) {
      applied += g.add(slice(shuffled, i, std::min(i + 4, shuffled.size()))).applied.size();
    }
    CHECK(applied == all.size());
    CHECK(g.pending_count() == 0);
    CHECK(topological(g.changes()));
    CHECK(g.heads() == w1.heads());
    CHECK(change_set(g) == change_set(w1));
  }
}

TEST_CASE("graph: random delivery orders and batchings agree with a reference model") {
  // The model: a delivered change is applied once all its deps are applied and its actor's
  // previous seq is applied; the rest is pending. No equivocations or gaps here, so every
  // delivered change ends up in one of the two.
  auto merged_ranges = [](std::map<ActorId, std::vector<std::uint64_t>> seqs) {
    ActorRanges out;
    for (auto& [a, list] : seqs) {
      std::sort(list.begin(), list.end());
      for (std::uint64_t s : list) {
        auto& r = out[a];
        if (!r.empty() && r.back().end == s) {
          r.back().end = s + 1;
        } else {
          r.push_back({s, s + 1});
        }
      }
    }
    return out;
  };
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    std::vector<ChangeGraph> writers;
    for (std::uint8_t i = 1; i <= 4; ++i) writers.emplace_back(actor(i));
    for (int step = 0; step < 40; ++step) {
      ChangeGraph& w = writers[rng() % writers.size()];
      w.commit(text("seed " + std::to_string(seed) + " step " + std::to_string(step)));
      if (rng() % 2) merge_into(writers[rng() % writers.size()], w);
    }
    ChangeGraph all(actor(99));
    for (const auto& w : writers) merge_into(all, w);
    REQUIRE(all.size() == 40);
    REQUIRE(all.pending_count() == 0);

    std::vector<Change> order = all.changes();
    std::shuffle(order.begin(), order.end(), rng);
    ChangeGraph g(actor(98));
    std::set<ChangeHash> delivered, applied;
    std::map<ActorId, std::uint64_t> model_seq;
    std::size_t next = 0;
    while (next < order.size()) {
      std::vector<Change> batch;
      std::size_t n = 1 + rng() % 6;
      for (std::size_t k = 0; k < n && next < order.size(); ++k) batch.push_back(order[next++]);
      if (next > 2 && rng() % 3 == 0) batch.push_back(order[rng() % next]);  // a re-delivery
      std::shuffle(batch.begin(), batch.end(), rng);

      std::size_t duplicates = 0;
      std::set<ChangeHash> fresh;
      for (const auto& c : batch) {
        if (delivered.count(c.hash()) || !fresh.insert(c.hash()).second) ++duplicates;
      }
      delivered.insert(fresh.begin(), fresh.end());
      std::set<ChangeHash> newly;
      for (bool progress = true; progress;) {
        progress = false;
        for (const auto& c : order) {
          if (!delivered.count(c.hash()) || applied.count(c.hash())) continue;
          bool deps_ok = std::all_of(c.deps().begin(), c.deps().end(),
                                     [&](const ChangeHash& d) { return applied.count(d) != 0; });
          if (deps_ok && model_seq[c.actor()] + 1 == c.seq()) {
            applied.insert(c.hash());
            newly.insert(c.hash());
            model_seq[c.actor()] = c.seq();
            progress = true;
          }
        }
      }
      std::map<ActorId, std::vector<std::uint64_t>> newly_seqs, parked_seqs;
      for (const auto& c : order) {
        if (newly.count(c.hash())) newly_seqs[c.actor()].push_back(c.seq());
        if (fresh.count(c.hash()) && !applied.count(c.hash())) {
          parked_seqs[c.actor()].push_back(c.seq());
        }
      }

      ImportStatus status = g.add(batch);
      CHECK(status.duplicates == duplicates);
      CHECK(std::set<ChangeHash>(status.applied.begin(), status.applied.end()) == newly);
      CHECK(status.applied.size() == newly.size());
      CHECK(status.success == merged_ranges(newly_seqs));
      CHECK(status.pending == merged_ranges(parked_seqs));
      CHECK(status.evicted.empty());
      std::vector<ChangeHash> g_applied = hashes_of(g.changes());
      CHECK(std::set<ChangeHash>(g_applied.begin(), g_applied.end()) == applied);
      std::vector<ChangeHash> expected_pending;
      for (const auto& h : delivered) {
        if (!applied.count(h)) expected_pending.push_back(h);
      }
      CHECK(hashes_of(g.pending_changes()) == expected_pending);
      CHECK(topological(g.changes()));
    }
    CHECK(g.heads() == all.heads());
    CHECK(g.pending_count() == 0);
    CHECK(g.pending_bytes() == 0);
    CHECK(g.version_vector() == all.version_vector());
  }
}

TEST_CASE("graph: subscribe_local fires on commit, not on add, until the subscription ends") {
  ChangeGraph g(actor(1));
  std::vector<ChangeHash> seen;
  std::vector<ChangeHash> seen2;
  {
    Subscription sub = g.subscribe_local([&](const Change& c) { seen.push_back(c.hash()); });
    Subscription sub2 = g.subscribe_local([&](const Change& c) { seen2.push_back(c.hash()); });
    CHECK(sub.active());
    Change c1 = g.commit(text("one"));
    CHECK(seen == std::vector<ChangeHash>{c1.hash()});
    CHECK(seen2 == seen);

    g.add(chain(2, 2));  // remote changes: no local event
    CHECK(seen.size() == 1);

    sub2.reset();
    CHECK_FALSE(sub2.active());
    Change c2 = g.commit(text("two"));
    CHECK(seen == std::vector<ChangeHash>{c1.hash(), c2.hash()});
    CHECK(seen2.size() == 1);
  }
  g.commit(text("three"));
  CHECK(seen.size() == 2);

  // A listener may cancel itself while being called.
  Subscription self;
  int calls = 0;
  self = g.subscribe_local([&](const Change&) {
    ++calls;
    self.reset();
  });
  g.commit(text("four"));
  g.commit(text("five"));
  CHECK(calls == 1);

  // A subscription may outlive its graph.
  Subscription outliving;
  {
    ChangeGraph temp(actor(3));
    outliving = temp.subscribe_local([&](const Change&) { ++calls; });
    temp.commit(text("temp"));
  }
  CHECK(calls == 2);
  CHECK(outliving.active());
  outliving.reset();
  CHECK_FALSE(outliving.active());
}

TEST_CASE("graph: copies keep the history but not the subscriptions") {
  ChangeGraph g(actor(1));
  commit_n(g, 2, "base");
  int calls = 0;
  Subscription sub = g.subscribe_local([&](const Change&) { ++calls; });

  ChangeGraph copy = g;
  CHECK(copy.heads() == g.heads());
  CHECK(hashes_of(copy.changes()) == hashes_of(g.changes()));
  copy.commit(text("in the copy"));
  CHECK(calls == 0);
  CHECK(g.size() == 2);  // the copy is independent
  CHECK(copy.size() == 3);

  ChangeGraph assigned(actor(4));
  assigned = g;
  CHECK(assigned.heads() == g.heads());
  assigned.commit(text("in the assigned copy"));
  CHECK(calls == 0);

  g.commit(text("in the original"));
  CHECK(calls == 1);
}

TEST_CASE("graph: Loro-style export_updates and import_updates converge diverged graphs") {
  ChangeGraph a(actor(1)), b(actor(2));
  commit_n(a, 10, "common");
  merge_into(b, a);
  commit_n(a, 5, "a only");
  commit_n(b, 3, "b only");
  b.add(chain(3, 2, {}, "third actor"));
  REQUIRE(a.heads() != b.heads());

  // Message 1: B tells A its version; A answers with what B lacks. Message 2: the reverse.
  VersionVector a_version = a.version_vector();
  VersionVector b_version = b.version_vector();
  CHECK(a.changes_missing_from(b_version).size() == 5);
  CHECK(b.changes_missing_from(a_version).size() == 5);
  Bytes to_b = a.export_updates(b_version);
  Bytes to_a = b.export_updates(a_version);

  ImportStatus sb = b.import_updates(to_b);
  CHECK(sb.success == ranges({{1, {{11, 16}}}}));
  CHECK_FALSE(sb.has_pending());
  ImportStatus sa = a.import_updates(to_a);
  CHECK(sa.success == ranges({{2, {{1, 4}}}, {3, {{1, 3}}}}));

  check_converged(a, b);
  CHECK(a.version_vector() == b.version_vector());
  CHECK(to_hex(a.export_updates(b.version_vector())) == "920190");  // an empty batch

  // Exporting everything rebuilds the whole graph in an empty one.
  ChangeGraph fresh(actor(6));
  ImportStatus all = fresh.import_updates(a.export_updates());
  CHECK(all.applied.size() == a.size());
  check_converged(fresh, a);

  // Importing the same updates again changes nothing.
  ImportStatus again = b.import_updates(to_b);
  CHECK(again.applied.empty());
  CHECK(again.duplicates == 5);
}

TEST_CASE("graph: import_updates rejects garbage and leaves the graph unchanged") {
  ChangeGraph src(actor(1));
  commit_n(src, 4, "src");
  ChangeGraph g(actor(2));
  commit_n(g, 2, "mine");
  g.add(make_change(3, 2, {make_change(3, 1, {}).hash()}));  // something pending
  Bytes valid = src.export_updates();

  auto rejects = [&](const Bytes& bytes, const char* needle, const SyncLimits& limits = {}) {
    INFO("bytes: " << to_hex(
             Bytes(bytes.begin(), bytes.begin() + std::min<std::size_t>(bytes.size(), 48))));
    Snapshot before = snapshot(g);
    CHECK_THROWS_WITH_AS(g.import_updates(bytes, limits), doctest::Contains(needle), DecodeError);
    CHECK(snapshot(g) == before);
  };
  rejects({}, "updates: fields");
  rejects(text("definitely not msgpack"), "updates");
  rejects(Bytes(valid.begin(), valid.end() - 1), "truncated");
  Bytes trailing = valid;
  trailing.push_back(0x00);
  rejects(trailing, "trailing");
  Bytes version = valid;
  version[1] = 0x02;
  rejects(version, "unsupported version 2");
  rejects({0x92, 0x01, 0xc0}, "changes");
  rejects({0x92, 0x01, 0x91, 0xa1, 'x'}, "expected binary");
  rejects({0x92, 0x01, 0x91, 0xc4, 0x01, 0x00}, "change 0");
  SyncLimits small;
  small.max_changes = 3;
  rejects(valid, "exceeds limit 3", small);
  small = {};
  small.max_message_bytes = valid.size() - 1;
  rejects(valid, "exceed limit", small);

  // A well-formed batch the graph refuses (an equivocation as its last change): GraphError,
  // and not even the good changes before it are applied.
  ChangeGraph liar(actor(2));
  commit_n(liar, 1, "mine");
  commit_n(liar, 1, "lie");
  ChangeGraph liar_src(actor(1));
  liar_src.add(src.changes());
  liar_src.add(liar.changes());  // its actor 2 seq 2 differs from g's
  Snapshot before = snapshot(g);
  CHECK_THROWS_AS(g.import_updates(liar_src.export_updates()), GraphError);
  CHECK(snapshot(g) == before);

  CHECK_NOTHROW(g.import_updates(valid));
  CHECK(g.size() == 6);
}

TEST_CASE("graph: next_change and commit_built commit in two steps; a stale change is refused") {
  ChangeGraph g(actor(1));
  g.commit(text("one"), std::nullopt, 0);
  int heard = 0;
  auto sub = g.subscribe_local([&](const Change&) { ++heard; });
  Change next = g.next_change(text("two"), std::nullopt, 0);
  CHECK(g.size() == 1);  // building applies nothing
  Change other = g.next_change(text("three"), std::nullopt, 0);
  g.commit_built(next);
  CHECK(g.size() == 2);
  CHECK(g.heads() == std::vector<ChangeHash>{next.hash()});
  CHECK(heard == 1);
  // `other` was built on the old heads: refused, graph and listeners untouched.
  CHECK_THROWS_WITH_AS(g.commit_built(other),
                       doctest::Contains("not the local actor's next change"), GraphError);
  ChangeGraph stranger(actor(2));
  CHECK_THROWS_AS(g.commit_built(stranger.next_change(text("x"))), GraphError);
  CHECK(g.size() == 2);
  CHECK(heard == 1);
  Change third = g.commit(text("three"), std::nullopt, 0);
  CHECK(g.heads() == std::vector<ChangeHash>{third.hash()});
}
