// Ancestry queries: which applied changes lie in, or outside, the history of given hashes,
// and what the applied set holds per actor. Ancestors are marked by walking the node numbers
// add() stored for each change's deps (dep_begin_/dep_index_), so a walk looks no dep up by
// hash.
#include <algorithm>
#include <set>

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

std::vector<std::uint8_t> ChangeGraph::ancestor_marks(std::span<const ChangeHash> heads) const {
  std::vector<std::uint8_t> marks(changes_.size(), 0);
  std::vector<std::uint32_t> stack;
  for (const auto& h : heads) {
    if (auto idx = index_of(h); idx && !marks[*idx]) {
      marks[*idx] = 1;
      stack.push_back(*idx);
    }
  }
  while (!stack.empty()) {
    std::uint32_t i = stack.back();
    stack.pop_back();
    for (std::uint32_t k = dep_begin_[i]; k < dep_begin_[i + 1]; ++k) {
      std::uint32_t d = dep_index_[k];
      if (!marks[d]) {
        marks[d] = 1;
        stack.push_back(d);
      }
    }
  }
  return marks;
}

std::size_t ChangeGraph::count_since(std::span<const ChangeHash> heads) const {
  if (all_given(heads_, heads)) return 0;
  auto marks = ancestor_marks(heads);
  return static_cast<std::size_t>(std::count(marks.begin(), marks.end(), std::uint8_t{0}));
}

void ChangeGraph::visit_since(std::span<const ChangeHash> heads,
                              const std::function<bool(const Change&)>& visit) const {
  if (all_given(heads_, heads)) return;
  auto marks = ancestor_marks(heads);
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    if (!marks[i] && !visit(changes_[i])) return;
  }
}

std::vector<Change> ChangeGraph::changes_since(std::span<const ChangeHash> heads) const {
  std::vector<Change> out;
  if (all_given(heads_, heads)) return out;
  auto marks = ancestor_marks(heads);
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    if (!marks[i]) out.push_back(changes_[i]);
  }
  return out;
}

bool ChangeGraph::covered_by(std::span<const ChangeHash> hashes) const {
  for (const auto& h : hashes) {
    if (!has(h)) return false;
  }
  if (all_given(heads_, hashes)) return true;
  auto marks = ancestor_marks(hashes);
  return std::all_of(marks.begin(), marks.end(), [](std::uint8_t m) { return m != 0; });
}

std::vector<ChangeHash> ChangeGraph::ancestors_among(std::span<const ChangeHash> candidates,
                                                     std::span<const ChangeHash> heads) const {
  std::vector<ChangeHash> out;
  if (candidates.empty()) return out;
  auto marks = ancestor_marks(heads);
  for (const auto& h : candidates) {
    if (auto idx = index_of(h); idx && marks[*idx]) out.push_back(h);
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

VersionVector ChangeGraph::version_vector() const {
  VersionVector vv;
  for (const auto& [actor, nodes] : by_actor_) vv.set(actor, nodes.size());
  return vv;
}

std::uint64_t ChangeGraph::depth(const ChangeHash& hash) const {
  auto idx = index_of(hash);
  return idx ? depth_[*idx] : 0;
}

std::vector<Change> ChangeGraph::changes_missing_from(const VersionVector& from) const {
  std::vector<Change> out;
  for (const Change& c : changes_) {
    if (c.seq() > from.get(c.actor())) out.push_back(c);
  }
  return out;
}

}  // namespace dagsync
