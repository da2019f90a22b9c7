// The ancestry queries and the summary algorithms against brute force: on seeded random DAGs
// (up to 16 actors, merges, long concurrent branches, new roots, actors whose next change
// does not depend on their previous one, pending changes), every answer is compared with one
// computed by marking every ancestor of the given hashes. The queries walk only part of the
// graph; a walk that stops too early or a shortcut that is wrong for some graph fails here.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "helpers.h"
#include "sync/summary_algorithms.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

// One random graph and the reference answers computed from its applied changes alone.
struct RandomDag {
  ChangeGraph graph;
  std::vector<ChangeHash> pending;  // received, waiting for a dep that never comes
  std::unordered_map<ChangeHash, std::size_t, IdHasher> at;

  explicit RandomDag(std::uint64_t seed) : graph(actor(1)) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    std::size_t actors = 2 + pick(15);
    std::size_t n = 30 + pick(300);
    std::vector<std::uint64_t> seqs(actors, 0);
    std::vector<ChangeHash> prev(actors);
    // Branch tips: each new change extends one tip (or several, merging them), so long
    // concurrent branches grow side by side until a merge joins them.
    std::vector<ChangeHash> tips;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t a = pick(actors);
      std::vector<ChangeHash> deps;
      const auto& all = graph.changes();
      if (!all.empty() && pick(40) != 0) {  // else: a new root
        if (!tips.empty()) {
          std::size_t t = pick(tips.size());
          deps.push_back(tips[t]);
          if (pick(6) == 0) deps.push_back(tips[pick(tips.size())]);  // a merge of two tips
        }
        if (pick(8) == 0) deps.push_back(all[pick(all.size())].hash());  // an old change
      }
      // Usually the actor's previous change is in the history; sometimes it is only applied.
      if (seqs[a] > 0 && pick(4) == 0) deps.push_back(prev[a]);
      std::sort(deps.begin(), deps.end());
      deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
      ChangeFields f;
      f.actor = actor(static_cast<std::uint8_t>(10 + a));
      f.seq = ++seqs[a];
      f.deps = deps;
      f.payload = text("s" + std::to_string(seed) + " " + std::to_string(i));
      Change c = Change::build(f);
      graph.add(c);
      prev[a] = c.hash();
      for (const auto& d : deps) tips.erase(std::remove(tips.begin(), tips.end(), d), tips.end());
      if (pick(5) == 0 || tips.empty()) {
        tips.push_back(c.hash());  // a new branch beside the others
      } else {
        tips[pick(tips.size())] = c.hash();  // extends (and replaces) one tip
      }
      if (tips.size() > 6) tips.erase(tips.begin());
    }
    // Pending: changes that wait on a hash nobody has.
    for (int k = 0; k < 3; ++k) {
      ChangeFields missing;
      missing.actor = actor(99);
      missing.seq = 1;
      missing.payload = text("never sent " + std::to_string(k));
      std::size_t a = pick(actors);
      ChangeFields f;
      f.actor = actor(static_cast<std::uint8_t>(10 + a));
      f.seq = seqs[a] + 1 + static_cast<std::uint64_t>(k);
      f.deps = {Change::build(missing).hash(), graph.changes()[pick(graph.size())].hash()};
      std::sort(f.deps.begin(), f.deps.end());
      f.payload = text("pending " + std::to_string(k));
      Change c = Change::build(f);
      graph.add(c);
      pending.push_back(c.hash());
    }
    const auto& all = graph.changes();
    for (std::size_t i = 0; i < all.size(); ++i) at[all[i].hash()] = i;
  }

  // Marks every applied ancestor of (or equal to) the held hashes of `given`.
  std::vector<bool> ancestors(const std::vector<ChangeHash>& given) const {
    const auto& all = graph.changes();
    std::vector<bool> marked(all.size(), false);
    for (const auto& h : given) {
      if (auto it = at.find(h); it != at.end()) marked[it->second] = true;
    }
    for (std::size_t i = all.size(); i-- > 0;) {
      if (!marked[i]) continue;
      for (const auto& d : all[i].deps()) marked[at.at(d)] = true;
    }
    return marked;
  }

  std::vector<ChangeHash> outside(const std::vector<ChangeHash>& given) const {
    auto marked = ancestors(given);
    std::vector<ChangeHash> out;
    for (std::size_t i = 0; i < marked.size(); ++i) {
      if (!marked[i]) out.push_back(graph.changes()[i].hash());
    }
    return out;
  }

  // A random set of hashes: applied changes (recent ones more often), heads, pending
  // changes and hashes nobody holds.
  std::vector<ChangeHash> random_hashes(std::mt19937_64& rng, std::size_t max) const {
    const auto& all = graph.changes();
    std::vector<ChangeHash> out;
    std::size_t k = static_cast<std::size_t>(rng() % (max + 1));
    for (std::size_t j = 0; j < k; ++j) {
      switch (rng() % 6) {
        case 0:
          out.push_back(all[rng() % all.size()].hash());
          break;
        case 1:
        case 2: {
          std::size_t back =
              1 + static_cast<std::size_t>(rng() % std::min<std::size_t>(20, all.size()));
          out.push_back(all[all.size() - back].hash());
          break;
        }
        case 3: {
          auto heads = graph.heads();
          out.push_back(heads[rng() % heads.size()]);
          break;
        }
        case 4:
          out.push_back(pending[rng() % pending.size()]);
          break;
        default: {
          ChangeFields f;
          f.actor = actor(98);
          f.seq = 1 + rng() % 1000;
          out.push_back(Change::build(f).hash());
        }
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  // The graph a peer holding the ancestry of `heads` has: closed under deps and under each
  // actor's earlier seqs, as every graph's applied set is.
  ChangeGraph peer_holding(const std::vector<ChangeHash>& heads) const {
    const auto& all = graph.changes();
    std::vector<bool> held(all.size(), false);
    std::vector<std::size_t> stack;
    for (const auto& h : heads) {
      if (auto it = at.find(h); it != at.end()) stack.push_back(it->second);
    }
    std::map<ActorId, std::vector<std::size_t>> by_actor;
    for (std::size_t i = 0; i < all.size(); ++i) by_actor[all[i].actor()].push_back(i);
    while (!stack.empty()) {
      std::size_t i = stack.back();
      stack.pop_back();
      if (held[i]) continue;
      held[i] = true;
      for (const auto& d : all[i].deps()) stack.push_back(at.at(d));
      if (all[i].seq() > 1) stack.push_back(by_actor[all[i].actor()][all[i].seq() - 2]);
    }
    ChangeGraph peer(actor(2));
    std::vector<Change> batch;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (held[i]) batch.push_back(all[i]);
    }
    peer.add(batch);
    return peer;
  }
};

int dag_seeds() {
  return seed_count(300);
}

}  // namespace

TEST_CASE("ancestry: queries on random DAGs agree with marking every ancestor") {
  for (int seed = 0; seed < dag_seeds(); ++seed) {
    CAPTURE(seed);
    RandomDag dag(static_cast<std::uint64_t>(seed));
    const ChangeGraph& g = dag.graph;
    REQUIRE(g.pending_count() == dag.pending.size());
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 7919 + 1);
    for (int q = 0; q < 25; ++q) {
      CAPTURE(q);
      std::vector<ChangeHash> given = dag.random_hashes(rng, 5);
      std::vector<ChangeHash> expected = dag.outside(given);
      CHECK(hashes_of(g.changes_since(given)) == expected);
      CHECK(g.count_since(given) == expected.size());
      std::vector<ChangeHash> visited;
      std::size_t stop_after = 1 + static_cast<std::size_t>(rng() % 4);
      g.visit_since(given, [&](const Change& c) {
        visited.push_back(c.hash());
        return visited.size() < stop_after;
      });
      std::vector<ChangeHash> prefix(
          expected.begin(),
          expected.begin() + static_cast<std::ptrdiff_t>(std::min(stop_after, expected.size())));
      CHECK(visited == prefix);
      bool all_held = std::all_of(given.begin(), given.end(), [&](auto& h) { return g.has(h); });
      CHECK(g.covered_by(given) == (all_held && expected.empty()));

      std::vector<ChangeHash> candidates = dag.random_hashes(rng, 8);
      // ancestors_among keeps the candidates' order, duplicates included.
      if (!candidates.empty()) candidates.push_back(candidates.front());
      auto marked = dag.ancestors(given);
      std::vector<ChangeHash> among;
      for (const auto& c : candidates) {
        auto it = dag.at.find(c);
        if (it != dag.at.end() && marked[it->second]) among.push_back(c);
      }
      CHECK(g.ancestors_among(candidates, given) == among);

      // Between any two sets: ancestors of `from` outside the history of `given`.
      std::vector<ChangeHash> from = dag.random_hashes(rng, 3);
      auto from_marked = dag.ancestors(from);
      std::vector<ChangeHash> between, between_seen;
      for (std::size_t i = 0; i < marked.size(); ++i) {
        if (from_marked[i] && !marked[i]) between.push_back(g.changes()[i].hash());
      }
      g.visit_between(from, given, [&](const Change& c) {
        between_seen.push_back(c.hash());
        return true;
      });
      CHECK(between_seen == between);
    }
    // Our own heads and the full history as the given hashes: nothing outside.
    CHECK(g.changes_since(g.heads()).empty());
    CHECK(g.covered_by(g.heads()));
    CHECK(g.count_since({}) == g.size());
  }
}

TEST_CASE("ancestry: changes_missing_from and version_vector agree with the applied set") {
  for (int seed = 0; seed < dag_seeds(); seed += 3) {
    CAPTURE(seed);
    RandomDag dag(static_cast<std::uint64_t>(seed));
    const ChangeGraph& g = dag.graph;
    std::map<ActorId, std::uint64_t> max_seq;
    for (const Change& c : g.changes()) max_seq[c.actor()] = std::max(max_seq[c.actor()], c.seq());
    VersionVector vv = g.version_vector();
    CHECK(vv.entries() == max_seq);
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) + 17);
    for (int q = 0; q < 10; ++q) {
      VersionVector from;
      for (const auto& [a, s] : max_seq) {
        if (rng() % 3) from.set(a, rng() % (s + 2));
      }
      std::vector<ChangeHash> expected;
      for (const Change& c : g.changes()) {
        if (c.seq() > from.get(c.actor())) expected.push_back(c.hash());
      }
      CHECK(hashes_of(g.changes_missing_from(from)) == expected);
    }
  }
}

TEST_CASE("ancestry: summaries on random DAGs are exact and their levels match brute force") {
  int partial = 0, exact_partial = 0;
  for (int seed = 0; seed < dag_seeds(); ++seed) {
    CAPTURE(seed);
    RandomDag dag(static_cast<std::uint64_t>(seed));
    const ChangeGraph& ours = dag.graph;
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 31 + 5);
    for (int q = 0; q < 6; ++q) {
      CAPTURE(q);
      // A peer that holds part of our history, and maybe shared heads it names.
      ChangeGraph peer = dag.peer_holding(dag.random_hashes(rng, 3));
      std::vector<ChangeHash> shared;
      if (peer.size() > 0 && rng() % 2) {
        auto heads = peer.heads();
        shared.push_back(heads[rng() % heads.size()]);
      }
      // Budgets from one level to the whole version vector, mostly partial.
      std::size_t full = full_summary_size(peer);
      std::size_t budget = rng() % 4 == 0 ? full : 30 + static_cast<std::size_t>(rng() % full);
      std::optional<Summary> summary = summarize(peer, shared, budget);
      if (!summary) continue;
      partial += summary->complete() ? 0 : 1;
      CHECK(summary->encoded_size() <= budget);

      // Each level names, among the actors of the peer's changes outside its hashes' history,
      // those no earlier level named, with the peer's highest seq.
      std::unordered_map<ChangeHash, std::size_t, IdHasher> at;
      const auto& all = peer.changes();
      for (std::size_t i = 0; i < all.size(); ++i) at[all[i].hash()] = i;
      std::set<ActorId> named;
      VersionVector peer_vv = peer.version_vector();
      for (const SummaryLevel& level : summary->levels) {
        std::vector<bool> marked(all.size(), false);
        for (const auto& h : level.hashes) {
          REQUIRE(at.count(h));
          marked[at[h]] = true;
        }
        for (std::size_t i = all.size(); i-- > 0;) {
          if (!marked[i]) continue;
          for (const auto& d : all[i].deps()) marked[at.at(d)] = true;
        }
        VersionVector expected;
        for (std::size_t i = 0; i < all.size(); ++i) {
          if (!marked[i] && !named.count(all[i].actor())) {
            expected.set(all[i].actor(), peer_vv.get(all[i].actor()));
          }
        }
        CHECK(level.actors == expected);
        for (const auto& [a, s] : level.actors.entries()) named.insert(a);
      }

      // Read on our side, the summary gives exactly what the peer lacks.
      auto missing = missing_from(ours, *summary);
      bool usable =
          std::any_of(summary->levels.begin(), summary->levels.end(), [&](const SummaryLevel& l) {
            return std::all_of(l.hashes.begin(), l.hashes.end(),
                               [&](const ChangeHash& h) { return ours.has(h); });
          });
      REQUIRE(missing.has_value() == usable);
      if (!missing) continue;
      std::vector<ChangeHash> expected;
      for (const Change& c : ours.changes()) {
        if (!peer.has(c.hash())) expected.push_back(c.hash());
      }
      CHECK(hashes_of(*missing) == expected);
      exact_partial += summary->complete() ? 0 : 1;
    }
  }
  // The seeds reach partial summaries, and receivers that can use them.
  MESSAGE(partial << " partial summaries, " << exact_partial << " of them usable");
  CHECK(partial > dag_seeds() / 3);
  CHECK(exact_partial > dag_seeds() / 3);
}

TEST_CASE("summary: a partial summary names at most 16 checkpoints, the last 2^15 changes back") {
  // 300 actors early (a whole version vector of ~6 KB), then a long chain of 3: levels keep
  // fitting the budget, and only the cap stops the walk down the history.
  ChangeGraph g(actor(1));
  std::vector<Change> batch;
  std::vector<std::uint64_t> seqs(303, 0);
  std::optional<ChangeHash> prev;
  const std::size_t n = 70'000;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t a = i < 1000 ? i % 300 : 300 + i % 3;
    ChangeFields f;
    f.actor = actor(0);
    f.actor.bytes[0] = static_cast<std::uint8_t>(a);
    f.actor.bytes[1] = static_cast<std::uint8_t>(a >> 8);
    f.seq = ++seqs[a];
    if (prev) f.deps = {*prev};
    Change c = Change::build(f);
    prev = c.hash();
    batch.push_back(std::move(c));
  }
  g.add(batch);
  std::size_t full = full_summary_size(g);
  auto summary = summarize(g, {}, full - 1);
  REQUIRE(summary);
  CHECK_FALSE(summary->complete());
  REQUIRE(summary->levels.size() == 16);
  CHECK(g.depth(summary->levels.back().hashes.at(0)) == n - 32768);
  CHECK(g.depth(summary->levels.front().hashes.at(0)) == n - 1);
}
