// ChangeGraph: construction, copying and the lookups every other part builds on. The rest
// of the class is split by concept: import.cpp (add), authoring.cpp (commit and local
// subscribers), ancestry.cpp (queries over the history) and updates_format.cpp (update
// batches).
#include "dagsync/change_graph.h"

#include <algorithm>
#include <memory>

#include "graph/graph_internal.h"

namespace dagsync {

ChangeGraph::ChangeGraph(ActorId local_actor, GraphLimits limits)
    : local_actor_(local_actor), limits_(limits), dep_begin_{0} {}

ChangeGraph::ChangeGraph(ChangeFormat format, GraphLimits limits)
    : local_actor_(random_actor_id()), limits_(limits), format_(format), dep_begin_{0} {}

ChangeGraph::ChangeGraph(const ChangeGraph& other)
    : local_actor_(other.local_actor_),
      limits_(other.limits_),
      format_(other.format_),
      changes_(other.changes_),
      dep_begin_(other.dep_begin_),
      dep_index_(other.dep_index_),
      depth_(other.depth_),
      index_(other.index_),
      by_actor_(other.by_actor_),
      version_(other.version_),
      heads_(other.heads_),
      pending_(other.pending_),
      waiters_(other.waiters_),
      pending_bytes_(other.pending_bytes_) {}

ChangeGraph& ChangeGraph::operator=(const ChangeGraph& other) {
  if (this != &other) {
    ChangeGraph copy(other);
    copy.listeners_ = std::move(listeners_);  // an assigned graph keeps its own listeners
    *this = std::move(copy);
  }
  return *this;
}

ChangeGraph::ChangeGraph(ChangeGraph&&) noexcept = default;
ChangeGraph& ChangeGraph::operator=(ChangeGraph&&) noexcept = default;
ChangeGraph::~ChangeGraph() = default;

std::optional<std::uint32_t> ChangeGraph::index_of(const ChangeHash& hash) const {
  return index_.find(
      hash, [this](std::uint32_t node) -> const ChangeHash& { return changes_[node].hash(); });
}

bool ChangeGraph::has(const ChangeHash& hash) const {
  return index_of(hash).has_value();
}
bool ChangeGraph::is_pending(const ChangeHash& hash) const {
  return pending_.count(hash) != 0;
}

std::optional<Change> ChangeGraph::get(const ChangeHash& hash) const {
  auto idx = index_of(hash);
  if (!idx) return std::nullopt;
  return changes_[*idx];
}

std::uint64_t ChangeGraph::max_seq(const ActorId& actor) const {
  auto it = by_actor_.find(actor);
  return it == by_actor_.end() ? 0 : it->second.size();
}

std::size_t ChangeGraph::drop_pending() {
  std::size_t n = pending_.size();
  pending_.clear();
  waiters_.clear();
  pending_bytes_ = 0;
  return n;
}

std::vector<Change> ChangeGraph::pending_changes() const {
  std::vector<Change> out;
  out.reserve(pending_.size());
  for (const auto& [hash, change] : pending_) out.push_back(change);
  std::sort(out.begin(), out.end(),
            [](const Change& a, const Change& b) { return a.hash() < b.hash(); });
  return out;
}

}  // namespace dagsync
