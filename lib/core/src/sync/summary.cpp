// Summaries (docs/protocol.md, "Summaries"): the size of the public value, and the internal
// algorithms that build ours and read a peer's.
#include "sync/summary_algorithms.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "dagsync/summary.h"
#include "encoding/hash_list.h"
#include "sync/wire_size.h"

namespace dagsync {

namespace {

// Checkpoints, one at a time: the ancestors of our deepest head 1, 2, 4, ... steps back along
// the deepest deps, so a peer that forked from us k changes ago holds the checkpoint about
// log2(k) levels down. Each is an ancestor of the one before, which lets the summary find the
// actors of each level from the changes between two checkpoints alone. At most
// kMaxCheckpoints: the walk to the last one costs 2^(kMaxCheckpoints-1) steps whatever the
// length of the history, and a peer that forked deeper than that is told the filter instead.
class Checkpoints {
 public:
  static constexpr std::size_t kMaxCheckpoints = 16;

  explicit Checkpoints(const ChangeGraph& graph) : graph_(graph) {
    std::vector<ChangeHash> heads = graph.heads();
    if (!heads.empty()) at_ = deepest(heads);
  }

  std::optional<ChangeHash> next() {
    if (made_ == kMaxCheckpoints || !at_) return std::nullopt;
    while (true) {
      auto change = graph_.get(*at_);
      if (!change || change->deps().empty()) {
        at_.reset();
        return std::nullopt;
      }
      at_ = deepest(change->deps());
      if (++step_ == next_step_) {
        next_step_ *= 2;
        ++made_;
        return at_;
      }
    }
  }

 private:
  template <typename Hashes>
  ChangeHash deepest(const Hashes& hashes) const {
    return *std::max_element(hashes.begin(), hashes.end(), [&](const auto& a, const auto& b) {
      return graph_.depth(a) < graph_.depth(b);
    });
  }

  const ChangeGraph& graph_;
  std::optional<ChangeHash> at_;
  std::uint64_t step_ = 0, next_step_ = 1;
  std::size_t made_ = 0;
};

}  // namespace

std::size_t Summary::encoded_size() const {
  std::size_t n = array_header_size(levels.size());
  for (const SummaryLevel& l : levels) {
    std::size_t entry_bytes = 0;
    for (const auto& [actor, seq] : l.actors.entries()) entry_bytes += summary_entry_size(seq);
    n += summary_level_size(l.hashes.size(), l.actors.size(), entry_bytes);
  }
  return n;
}

std::size_t full_summary_size(const ChangeGraph& graph) {
  const VersionVector& vv = graph.version_vector();
  std::size_t entry_bytes = 0;
  for (const auto& [actor, seq] : vv.entries()) entry_bytes += summary_entry_size(seq);
  return array_header_size(1) + summary_level_size(0, vv.size(), entry_bytes);
}

std::optional<Summary> summarize(const ChangeGraph& graph, std::span<const ChangeHash> shared_heads,
                                 std::size_t budget) {
  const VersionVector& ours = graph.version_vector();
  Summary summary;
  if (full_summary_size(graph) <= budget) {
    summary.levels.push_back(SummaryLevel{{}, ours});
    return summary;
  }
  std::unordered_set<ActorId, IdHasher> emitted;
  std::size_t size = array_header_size(0);
  // Adds a level while the running size stays within budget; false once it does not.
  auto try_level = [&](std::vector<ChangeHash> hashes, const std::vector<ActorId>& actors) {
    SummaryLevel level;
    std::size_t entry_bytes = 0;
    for (const ActorId& a : actors) {
      if (emitted.count(a) || level.actors.get(a)) continue;
      std::uint64_t seq = ours.get(a);
      level.actors.set(a, seq);
      entry_bytes += summary_entry_size(seq);
    }
    std::size_t levels_header = array_header_size(summary.levels.size() + 1);
    std::size_t add = summary_level_size(hashes.size(), level.actors.size(), entry_bytes);
    std::size_t next = size - array_header_size(summary.levels.size()) + levels_header + add;
    if (next > budget) return false;
    size = next;
    for (const auto& [actor, seq] : level.actors.entries()) emitted.insert(actor);
    level.hashes = std::move(hashes);
    summary.levels.push_back(std::move(level));
    return true;
  };
  // The actors of our changes between `from` and `to`.
  auto actors_between = [&](std::span<const ChangeHash> from, std::span<const ChangeHash> to) {
    std::vector<ActorId> actors;
    std::unordered_set<ActorId, IdHasher> seen;
    graph.visit_between(from, to, [&](const Change& c) {
      if (seen.insert(c.actor()).second) actors.push_back(c.actor());
      return true;
    });
    return actors;
  };

  std::vector<ChangeHash> shared;
  for (const auto& h : shared_heads) {
    if (graph.has(h)) shared.push_back(h);
  }
  make_sorted_unique(shared);
  std::vector<ChangeHash> heads = graph.heads();
  if (!shared.empty() && !try_level(shared, actors_between(heads, shared))) return std::nullopt;
  // One pass down the checkpoint chain: each change between our heads and the last checkpoint
  // tried is visited once. A level names the actors of our changes outside its checkpoint's
  // history that no earlier level named; those outside the previous checkpoint's history
  // were all named by the previous levels, so the changes between the two suffice.
  Checkpoints checkpoints(graph);
  std::vector<ChangeHash> above = heads;
  while (auto c = checkpoints.next()) {
    std::vector<ChangeHash> level{*c};
    if (!try_level(level, actors_between(above, level))) break;
    above = std::move(level);
  }
  if (summary.levels.empty()) return std::nullopt;
  return summary;
}

std::optional<std::vector<Change>> missing_from(const ChangeGraph& graph, const Summary& summary) {
  std::unordered_map<ActorId, std::uint64_t, IdHasher> claimed;
  const VersionVector& ours = graph.version_vector();
  for (const SummaryLevel& level : summary.levels) {
    for (const auto& [actor, seq] : level.actors.entries()) {
      auto& c = claimed[actor];
      c = std::max(c, seq);
    }
    bool usable = std::all_of(level.hashes.begin(), level.hashes.end(),
                              [&](const ChangeHash& h) { return graph.has(h); });
    if (!usable) continue;
    // Only actors of which we hold more than is claimed can contribute: usually none, and
    // then the answer needs no walk over the history.
    std::unordered_map<ActorId, std::uint64_t, IdHasher> ahead;
    for (const auto& [actor, seq] : ours.entries()) {
      auto it = claimed.find(actor);
      std::uint64_t theirs = it == claimed.end() ? 0 : it->second;
      if (seq > theirs) ahead.emplace(actor, theirs);
    }
    std::vector<Change> out;
    if (ahead.empty()) return out;
    if (level.hashes.empty()) {
      // A whole version vector: the per-actor tails above it, found by seq.
      VersionVector from;
      for (const auto& [actor, seq] : claimed) from.set(actor, seq);
      return graph.changes_missing_from(from);
    }
    // Only what lies between the checkpoints and our heads can be missing.
    for (const Change& c : graph.changes_since(level.hashes)) {
      auto it = ahead.find(c.actor());
      if (it != ahead.end() && c.seq() > it->second) out.push_back(c);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace dagsync
