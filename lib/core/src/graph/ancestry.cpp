// Ancestry queries: which applied changes lie in, or outside, the history of given hashes,
// and what the applied set holds per actor. Walks follow the node numbers add() stored for
// each change's deps (dep_begin_/dep_index_), so a walk looks no dep up by hash, and go
// deepest first (depth_), so they stop where the two histories meet: a query costs what lies
// between the given hashes and our heads, not the length of the history.
//
// The invariant per-actor arithmetic may use, and the one it may not. import.cpp applies a
// change (actor, seq) only once (actor, seq - 1) is applied (run_plan parks it in
// seq_parked until then, evicts it when that predecessor is nowhere; add_in_order's
// applies_next demands seq == max_seq + 1), and refuses a second change at one (actor, seq)
// as equivocation. So each actor's applied changes are exactly seqs 1..max_seq(actor), in
// by_actor_, and a version vector names an applied set exactly: changes_missing_from takes
// per-actor tails by seq. What import.cpp does not demand is that (actor, seq - 1) lie in the
// history of (actor, seq): applied before it suffices (a replica that committed on an older
// state, a hand-built change). "(a, s) is an ancestor of H exactly when s <= VV(H)[a]"
// therefore fails on some graphs the graph accepts (tests/core/test_ancestry.cpp builds such
// graphs), and the queries below decide ancestry by walking deps, never by seq.
#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "dagsync/change_graph.h"

namespace dagsync {

namespace {
// True when each of `ours` is among `given`. Called with the graph's heads: then nothing
// applied lies outside the history of `given`, and a query needs no walk.
bool all_given(std::span<const ChangeHash> ours, std::span<const ChangeHash> given) {
  return std::all_of(ours.begin(), ours.end(), [&](const ChangeHash& h) {
    return std::find(given.begin(), given.end(), h) != given.end();
  });
}
}  // namespace

namespace {

// A walk back from two sets of nodes at once, deepest first: `ours` (the graph's heads) and
// `theirs` (the given hashes). Every dep of a change is shallower than the change, so when a
// node is taken from the queue every node that could reach it has been taken already, and its
// marks are final. A node marked ours alone is then outside the history of `theirs`; the walk
// stops as soon as no such node waits in the queue, so it touches the difference and the
// frontier around it, not the history below. Memory is proportional to the nodes touched:
// marks live in a hash map while the walk is small, and move to a flat array (one byte per
// change) once it touches more than a sixteenth of the graph, where the array is both smaller
// and several times faster (a backlog streamed to a peer that is far behind walks most of
// the history for each message).
class SinceWalk {
 public:
  static constexpr std::uint8_t kOurs = 1;
  static constexpr std::uint8_t kTheirs = 2;

  SinceWalk(const std::vector<std::uint32_t>& depth, const std::vector<std::uint32_t>& dep_begin,
            const std::vector<std::uint32_t>& dep_index)
      : depth_(depth), dep_begin_(dep_begin), dep_index_(dep_index) {}

  void mark(std::uint32_t node, std::uint8_t flag) {
    std::uint8_t old = get(node);
    std::uint8_t now = static_cast<std::uint8_t>(old | flag);
    if (now == old) return;
    set(node, now);
    if (old == 0) {
      queue_.push_back({depth_[node], node});
      std::push_heap(queue_.begin(), queue_.end());
      if (now == kOurs) ++ours_only_;
    } else if (old == kOurs) {
      --ours_only_;  // still queued: a node's marks are final once it leaves the queue
    }
  }

  // Calls `found(node)` for each node reachable from ours but not from theirs, deepest
  // first, until it returns false.
  template <typename Found>
  void run(const Found& found) {
    while (ours_only_ > 0) {
      std::pop_heap(queue_.begin(), queue_.end());
      std::uint32_t node = queue_.back().second;
      queue_.pop_back();
      std::uint8_t flag = get(node) == kOurs ? kOurs : kTheirs;
      if (flag == kOurs) {
        --ours_only_;
        if (!found(node)) return;
      }
      for (std::uint32_t k = dep_begin_[node]; k < dep_begin_[node + 1]; ++k) {
        mark(dep_index_[k], flag);
      }
    }
  }

 private:
  std::uint8_t get(std::uint32_t node) const {
    if (!dense_.empty()) return dense_[node];
    auto it = sparse_.find(node);
    return it == sparse_.end() ? 0 : it->second;
  }
  void set(std::uint32_t node, std::uint8_t flags) {
    if (!dense_.empty()) {
      dense_[node] = flags;
      return;
    }
    sparse_[node] = flags;
    if (sparse_.size() > depth_.size() / 16 + 64) {
      dense_.assign(depth_.size(), 0);
      for (const auto& [n, f] : sparse_) dense_[n] = f;
      std::unordered_map<std::uint32_t, std::uint8_t>().swap(sparse_);
    }
  }

  const std::vector<std::uint32_t>& depth_;
  const std::vector<std::uint32_t>& dep_begin_;
  const std::vector<std::uint32_t>& dep_index_;
  std::unordered_map<std::uint32_t, std::uint8_t> sparse_;
  std::vector<std::uint8_t> dense_;  // once the walk is large; empty until then
  std::vector<std::pair<std::uint32_t, std::uint32_t>> queue_;  // max-heap of (depth, node)
  std::size_t ours_only_ = 0;
};

}  // namespace

std::vector<std::uint32_t> ChangeGraph::since_nodes(std::span<const ChangeHash> heads,
                                                    bool first_only) const {
  std::vector<std::uint32_t> out;
  if (all_given(heads_, heads)) return out;
  if (std::none_of(heads.begin(), heads.end(), [&](const ChangeHash& h) { return has(h); })) {
    // Nothing given is held: the whole history, in order, without a walk.
    out.resize(first_only ? 1 : changes_.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint32_t>(i);
    return out;
  }
  return between_nodes(heads_, heads, first_only);
}

std::vector<std::uint32_t> ChangeGraph::between_nodes(std::span<const ChangeHash> from,
                                                      std::span<const ChangeHash> to,
                                                      bool first_only) const {
  std::vector<std::uint32_t> out;
  SinceWalk walk(depth_, dep_begin_, dep_index_);
  for (const auto& h : to) {
    if (auto idx = index_of(h)) walk.mark(*idx, SinceWalk::kTheirs);
  }
  for (const auto& h : from) {
    if (auto idx = index_of(h)) walk.mark(*idx, SinceWalk::kOurs);
  }
  walk.run([&](std::uint32_t node) {
    out.push_back(node);
    return !first_only;
  });
  std::sort(out.begin(), out.end());  // application order
  return out;
}

void ChangeGraph::visit_between(std::span<const ChangeHash> from, std::span<const ChangeHash> to,
                                const std::function<bool(const Change&)>& visit) const {
  for (std::uint32_t node : between_nodes(from, to, false)) {
    if (!visit(changes_[node])) return;
  }
}

std::size_t ChangeGraph::count_since(std::span<const ChangeHash> heads) const {
  if (std::none_of(heads.begin(), heads.end(), [&](const ChangeHash& h) { return has(h); })) {
    return changes_.size();
  }
  return since_nodes(heads, false).size();
}

void ChangeGraph::visit_since(std::span<const ChangeHash> heads,
                              const std::function<bool(const Change&)>& visit) const {
  for (std::uint32_t node : since_nodes(heads, false)) {
    if (!visit(changes_[node])) return;
  }
}

std::vector<Change> ChangeGraph::changes_since(std::span<const ChangeHash> heads) const {
  std::vector<Change> out;
  auto nodes = since_nodes(heads, false);
  out.reserve(nodes.size());
  for (std::uint32_t node : nodes) out.push_back(changes_[node]);
  return out;
}

bool ChangeGraph::covered_by(std::span<const ChangeHash> hashes) const {
  for (const auto& h : hashes) {
    if (!has(h)) return false;
  }
  return since_nodes(hashes, true).empty();
}

std::vector<ChangeHash> ChangeGraph::ancestors_among(std::span<const ChangeHash> candidates,
                                                     std::span<const ChangeHash> heads) const {
  std::vector<ChangeHash> out;
  if (candidates.empty()) return out;
  // Walk back from `heads`, deepest first, only as deep as the shallowest candidate: nothing
  // shallower can reach it.
  std::unordered_map<std::uint32_t, std::size_t> wanted;  // node -> candidates naming it
  std::uint32_t floor = UINT32_MAX;
  for (const auto& h : candidates) {
    if (auto idx = index_of(h)) {
      ++wanted[*idx];
      floor = std::min(floor, depth_[*idx]);
    }
  }
  if (wanted.empty()) return out;
  std::unordered_set<std::uint32_t> reached;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> queue;  // max-heap of (depth, node)
  auto reach = [&](std::uint32_t node) {
    if (depth_[node] >= floor && reached.insert(node).second) {
      queue.push_back({depth_[node], node});
      std::push_heap(queue.begin(), queue.end());
    }
  };
  for (const auto& h : heads) {
    if (auto idx = index_of(h)) reach(*idx);
  }
  std::size_t left = wanted.size();
  while (!queue.empty() && left > 0) {
    std::pop_heap(queue.begin(), queue.end());
    std::uint32_t node = queue.back().second;
    queue.pop_back();
    if (wanted.count(node)) --left;
    for (std::uint32_t k = dep_begin_[node]; k < dep_begin_[node + 1]; ++k) reach(dep_index_[k]);
  }
  for (const auto& h : candidates) {
    if (auto idx = index_of(h); idx && reached.count(*idx)) out.push_back(h);
  }
  return out;
}

std::vector<ChangeHash> ChangeGraph::missing_deps(std::span<const ChangeHash> heads) const {
  std::set<ChangeHash> out;
  for (const auto& [hash, change] : pending_) {
    for (const auto& dep : change.deps()) {
      if (!has(dep) && !is_pending(dep)) out.insert(dep);
    }
  }
  for (const auto& h : heads) {
    if (!has(h) && !is_pending(h)) out.insert(h);
  }
  return {out.begin(), out.end()};
}

std::uint64_t ChangeGraph::depth(const ChangeHash& hash) const {
  auto idx = index_of(hash);
  return idx ? depth_[*idx] : 0;
}

std::vector<Change> ChangeGraph::changes_missing_from(const VersionVector& from) const {
  // Each actor's changes are indexed by seq: take the tail above `from`, then restore
  // application order. Costs the changes returned and the actors, not the history.
  std::vector<std::uint32_t> nodes;
  for (const auto& [actor, by_seq] : by_actor_) {
    std::uint64_t have = from.get(actor);
    if (have >= by_seq.size()) continue;
    nodes.insert(nodes.end(), by_seq.begin() + static_cast<std::ptrdiff_t>(have), by_seq.end());
  }
  std::sort(nodes.begin(), nodes.end());
  std::vector<Change> out;
  out.reserve(nodes.size());
  for (std::uint32_t node : nodes) out.push_back(changes_[node]);
  return out;
}

}  // namespace dagsync
