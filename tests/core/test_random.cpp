// Conformance scenario 30 of docs/conformance.md: randomised histories, splits, sync orders,
// state restores and data loss. Every run is reproducible from its seed (printed on failure);
// the default seed count is DAGSYNC_DEFAULT_SEEDS (meson option random_seeds), DAGSYNC_SEEDS
// overrides it.
#include <map>
#include <random>
#include <set>

#include "helpers.h"

#ifndef DAGSYNC_DEFAULT_SEEDS
#define DAGSYNC_DEFAULT_SEEDS 2000
#endif

using namespace dagsync;
using namespace dagsync::test;

namespace {

struct Totals {
  long sessions = 0;
  long messages = 0;
  long changes_sent = 0;
  long max_iterations = 0;
  long restores = 0;
  long stale_states = 0;
};

struct Peer {
  ChangeGraph graph;
  std::map<int, Bytes> saved;     // persisted sync state per remote peer
  std::map<int, SyncState> live;  // an open connection's state per remote peer
  std::optional<std::pair<ChangeGraph, std::map<int, Bytes>>> backup;
};

class World {
 public:
  explicit World(std::uint32_t seed) : rng_(seed) {
    int n = 2 + pick(4);
    for (int i = 0; i < n; ++i)
      peers_.push_back(Peer{ChangeGraph(actor(std::uint8_t(i + 1))), {}, {}, {}});
  }

  void run(Totals& totals) {
    int history_steps = 5 + pick(30);
    for (int i = 0; i < history_steps; ++i) history_step();
    int sessions = static_cast<int>(peers_.size()) * 3;
    for (int i = 0; i < sessions; ++i) {
      if (pick(3) == 0) commit(pick(size()));
      if (pick(20) == 0) take_backup(pick(size()));
      if (pick(20) == 0) maybe_restore(pick(size()), totals);
      int a = pick(size());
      int b = (a + 1 + pick(size() - 1)) % size();
      session(a, b, totals);
    }
    // Final rounds along a chain, forwards then backwards, spread everything everywhere.
    for (int i = 0; i + 1 < size(); ++i) session(i, i + 1, totals);
    for (int i = size() - 1; i > 0; --i) session(i, i - 1, totals);
    check();
  }

 private:
  int size() const { return static_cast<int>(peers_.size()); }
  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint32_t>(n)); }

  void commit(int p) {
    int n = counter_++;
    Change c = peers_[p].graph.commit(text("p" + std::to_string(p) + " #" + std::to_string(n)),
                                      std::nullopt, n);
    universe_.insert(c.hash());
  }

  // Local commits and offline exchanges of history prefixes build branching DAGs and the
  // initial split between peers.
  void history_step() {
    int p = pick(size());
    if (pick(10) < 6) {
      commit(p);
    } else {
      int q = (p + 1 + pick(size() - 1)) % size();
      const auto& from = peers_[q].graph.changes();
      if (from.empty()) return;
      // A prefix of application order is closed under deps.
      std::size_t n = 1 + pick(static_cast<int>(from.size()));
      peers_[p].graph.add(std::span<const Change>(from.data(), n));
    }
  }

  void take_backup(int p) { peers_[p].backup.emplace(peers_[p].graph, peers_[p].saved); }

  // Data loss: restore a peer from its backup (graph and persisted states), but only when
  // everything it would lose exists elsewhere, so that "no change lost" stays checkable.
  void maybe_restore(int p, Totals& totals) {
    auto& peer = peers_[p];
    if (!peer.backup) return;
    for (const Change& c : peer.graph.changes()) {
      if (peer.backup->first.has(c.hash())) continue;
      bool elsewhere = false;
      for (int q = 0; q < size() && !elsewhere; ++q)
        elsewhere = q != p && peers_[q].graph.has(c.hash());
      if (!elsewhere) return;
    }
    // A restored replica writes under a new actor: its old actor's later seqs exist elsewhere,
    // and reusing them would be equivocation.
    ChangeGraph restored(actor(std::uint8_t(next_actor_++)));
    restored.add(peer.backup->first.changes());
    peer.graph = std::move(restored);
    peer.saved = peer.backup->second;
    peer.live.clear();  // its connections died with it
    for (auto& other : peers_) other.live.erase(p);
    ++totals.restores;
  }

  // A new connection's state: the persisted one, or none when it was never saved or lost.
  SyncState reconnect_state(int self, int remote, Totals& totals) {
    auto& peer = peers_[self];
    peer.live.erase(remote);
    auto saved = peer.saved.find(remote);
    if (saved == peer.saved.end()) return SyncState{};
    if (pick(10) == 0) {
      ++totals.stale_states;
      return SyncState{};
    }
    return SyncState::decode(saved->second);
  }

  void session(int a, int b, Totals& totals) {
    INFO("session " << a << " <-> " << b);
    // Either the connection is still open (both ends keep their states) or it is new.
    bool open = peers_[a].live.count(b) && peers_[b].live.count(a) && pick(2) == 0;
    SyncState sa = open ? peers_[a].live[b] : reconnect_state(a, b, totals);
    SyncState sb = open ? peers_[b].live[a] : reconnect_state(b, a, totals);
    auto& ga = peers_[a].graph;
    auto& gb = peers_[b].graph;
    std::set<ChangeHash> sent_ab, sent_ba;
    int iterations = 0;
    while (true) {
      auto x = generate_sync_message(ga, sa);
      auto y = generate_sync_message(gb, sb);
      if (!x && !y) break;
      ++iterations;
      REQUIRE_MESSAGE(iterations <= kMaxIterations, "session did not finish");
      for (auto [m, sent] : {std::pair{&x, &sent_ab}, std::pair{&y, &sent_ba}}) {
        if (!*m) continue;
        ++totals.messages;
        totals.changes_sent += static_cast<long>((*m)->changes.size());
        for (const Change& c : (*m)->changes) {
          CHECK_MESSAGE(sent->insert(c.hash()).second, "change sent twice in one session");
        }
      }
      if (x) receive_sync_message(gb, sb, wire(*x));
      if (y) receive_sync_message(ga, sa, wire(*y));
    }
    CHECK(ga.heads() == gb.heads());
    CHECK(ga.pending_count() == 0);
    CHECK(gb.pending_count() == 0);
    CHECK_MESSAGE(sa.shared_heads == ga.heads(), debug_heads(sa.shared_heads, ga.heads()));
    CHECK(sb.shared_heads == gb.heads());
    peers_[a].live[b] = sa;
    peers_[b].live[a] = sb;
    peers_[a].saved[b] = sa.encode();
    peers_[b].saved[a] = sb.encode();
    ++totals.sessions;
    totals.max_iterations = std::max<long>(totals.max_iterations, iterations);
  }

  static std::string debug_heads(const std::vector<ChangeHash>& a,
                                 const std::vector<ChangeHash>& b) {
    std::string out = "shared:";
    for (const auto& h : a) out += " " + h.short_hex();
    out += " heads:";
    for (const auto& h : b) out += " " + h.short_hex();
    return out;
  }

  void check() {
    std::vector<ChangeHash> all(universe_.begin(), universe_.end());
    for (int p = 0; p < size(); ++p) {
      INFO("peer " << p);
      CHECK(change_set(peers_[p].graph) == all);
      CHECK(peers_[p].graph.heads() == peers_[0].graph.heads());
    }
  }

  std::mt19937 rng_;
  std::vector<Peer> peers_;
  std::set<ChangeHash> universe_;
  int counter_ = 0;
  int next_actor_ = 100;
};

}  // namespace

TEST_CASE(
    "conformance 30: randomised DAGs, splits, sync orders and state restores always converge") {
  int seeds = seed_count(DAGSYNC_DEFAULT_SEEDS);
  Totals totals;
  for (int seed = 0; seed < seeds; ++seed) {
    INFO("seed " << seed << " (rerun with DAGSYNC_SEEDS=" << seed + 1 << ")");
    World(static_cast<std::uint32_t>(seed)).run(totals);
  }
  MESSAGE(seeds << " seeds: " << totals.sessions << " sessions, " << totals.messages
                << " messages, " << totals.changes_sent << " changes sent, at most "
                << totals.max_iterations << " iterations per session, " << totals.restores
                << " data-loss restores, " << totals.stale_states << " lost states");
  CHECK(totals.restores > 0);
}
