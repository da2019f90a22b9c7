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

// Ancestors of our deepest head, 1, 2, 4, ... steps back along the deepest deps: a peer
// that forked from us k changes ago holds the checkpoint about log2(k) levels down.
std::vector<ChangeHash> checkpoints(const ChangeGraph& graph) {
  std::vector<ChangeHash> out;
  std::vector<ChangeHash> heads = graph.heads();
  if (heads.empty()) return out;
  auto deepest = [&](const auto& hashes) {
    return *std::max_element(hashes.begin(), hashes.end(), [&](const auto& a, const auto& b) {
      return graph.depth(a) < graph.depth(b);
    });
  };
  ChangeHash at = deepest(heads);
  std::uint64_t step = 0, next = 1;
  while (true) {
    auto change = graph.get(at);
    if (!change || change->deps().empty()) break;
    at = deepest(change->deps());
    if (++step == next) {
      out.push_back(at);
      next *= 2;
    }
  }
  return out;
}

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
  VersionVector vv = graph.version_vector();
  std::size_t entry_bytes = 0;
  for (const auto& [actor, seq] : vv.entries()) entry_bytes += summary_entry_size(seq);
  return array_header_size(1) + summary_level_size(0, vv.size(), entry_bytes);
}

std::optional<Summary> summarize(const ChangeGraph& graph, std::span<const ChangeHash> shared_heads,
                                 std::size_t budget) {
  VersionVector ours = graph.version_vector();
  Summary summary;
  if (full_summary_size(graph) <= budget) {
    summary.levels.push_back(SummaryLevel{{}, ours});
    return summary;
  }
  std::vector<std::vector<ChangeHash>> candidates;
  std::vector<ChangeHash> shared;
  for (const auto& h : shared_heads) {
    if (graph.has(h)) shared.push_back(h);
  }
  make_sorted_unique(shared);
  if (!shared.empty()) candidates.push_back(shared);
  for (const auto& c : checkpoints(graph)) candidates.push_back({c});

  std::unordered_set<ActorId, IdHasher> emitted;
  std::size_t size = array_header_size(candidates.size());
  for (auto& hashes : candidates) {
    SummaryLevel level;
    std::size_t entry_bytes = 0;
    for (const Change& c : graph.changes_since(hashes)) {
      if (emitted.count(c.actor()) || level.actors.get(c.actor())) continue;
      std::uint64_t seq = ours.get(c.actor());
      level.actors.set(c.actor(), seq);
      entry_bytes += summary_entry_size(seq);
    }
    std::size_t add = summary_level_size(hashes.size(), level.actors.size(), entry_bytes);
    if (size + add > budget) break;
    size += add;
    for (const auto& [actor, seq] : level.actors.entries()) emitted.insert(actor);
    level.hashes = std::move(hashes);
    summary.levels.push_back(std::move(level));
  }
  if (summary.levels.empty()) return std::nullopt;
  return summary;
}

std::optional<std::vector<Change>> missing_from(const ChangeGraph& graph, const Summary& summary) {
  std::unordered_map<ActorId, std::uint64_t, IdHasher> claimed;
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
    VersionVector ours = graph.version_vector();
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
