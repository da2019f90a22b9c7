// The import engine: ChangeGraph::add (docs/protocol.md, "Adding a batch"). A batch that
// applies in order takes a fast path, which undoes itself if a change turns out not to fit.
// Any other batch is planned in full without touching the graph and only then committed:
// planning first is what lets a refused batch leave the graph as it was.
#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_set>

#include "dagsync/change_graph.h"
#include "dagsync/error.h"
#include "graph/graph_internal.h"

namespace dagsync {

namespace {
using SeqKey = std::pair<ActorId, std::uint64_t>;

const char* format_name(ChangeFormat format) {
  return format == ChangeFormat::kAutomerge ? "Automerge" : "dagsync";
}

std::string describe(const ActorId& actor, std::uint64_t seq) {
  return "actor " + actor.hex() + " seq " + std::to_string(seq);
}

// Both places that find a clash name both hashes, so that the peer's log shows the fork.
std::string equivocation(const Change& c, const ChangeHash& other) {
  return "equivocation: " + describe(c.actor(), c.seq()) + " is both " + other.hex() + " and " +
         c.hash().hex();
}
}  // namespace

// The outcome of adding a batch, worked out before anything is mutated so that a refused
// batch leaves the graph as it was.
struct ChangeGraph::Plan {
  struct Candidate {
    Change change;
    bool fresh;  // from this batch (errors refuse the batch) or formerly pending (evicted)
    std::uint32_t missing = 0;
  };
  std::unordered_map<ChangeHash, Candidate, IdHasher> candidates;
  std::unordered_map<ChangeHash, std::vector<ChangeHash>, IdHasher> local_waiters;
  std::deque<ChangeHash> ready;
  std::vector<Change> order;
  std::unordered_set<ChangeHash, IdHasher> planned;
  std::unordered_map<ActorId, std::uint64_t, IdHasher> max_seq;
  std::map<SeqKey, ChangeHash> planned_at;
  std::map<SeqKey, std::vector<ChangeHash>> seq_parked;  // waiting for (actor, seq) to apply
  std::vector<Eviction> evicted;
  std::unordered_set<ChangeHash, IdHasher> evicted_set;
};

ImportStatus ChangeGraph::add(const Change& change) {
  return add(std::span<const Change>(&change, 1));
}

void ChangeGraph::plan_candidate(Plan& plan, const Change& change, bool fresh) const {
  const ChangeHash& h = change.hash();
  if (plan.candidates.count(h)) return;
  Plan::Candidate cand{change, fresh, 0};
  for (const auto& dep : change.deps()) {
    if (has(dep) || plan.planned.count(dep)) continue;
    ++cand.missing;
    plan.local_waiters[dep].push_back(h);
  }
  bool ready = cand.missing == 0;
  plan.candidates.emplace(h, std::move(cand));
  if (ready) plan.ready.push_back(h);
}

void ChangeGraph::run_plan(Plan& plan) const {
  auto reject = [&](const Plan::Candidate& cand, const std::string& reason) {
    if (cand.fresh) throw GraphError(reason);
    if (plan.evicted_set.insert(cand.change.hash()).second) {
      plan.evicted.push_back({cand.change.hash(), reason});
    }
  };
  auto current_seq = [&](const ActorId& actor) {
    auto it = plan.max_seq.find(actor);
    return it != plan.max_seq.end() ? it->second : max_seq(actor);
  };

  while (!plan.ready.empty()) {
    ChangeHash h = plan.ready.front();
    plan.ready.pop_front();
    const Plan::Candidate& cand = plan.candidates.at(h);
    const Change& c = cand.change;
    std::uint64_t cur = current_seq(c.actor());
    if (c.seq() <= cur) {
      auto at = plan.planned_at.find({c.actor(), c.seq()});
      ChangeHash other = at != plan.planned_at.end()
                             ? at->second
                             : changes_[by_actor_.at(c.actor())[c.seq() - 1]].hash();
      reject(cand, equivocation(c, other));
      continue;
    }
    if (c.seq() > cur + 1) {
      plan.seq_parked[{c.actor(), c.seq() - 1}].push_back(h);
      continue;
    }
    plan.order.push_back(c);
    plan.planned.insert(h);
    plan.max_seq[c.actor()] = c.seq();
    plan.planned_at[{c.actor(), c.seq()}] = h;

    if (auto it = plan.local_waiters.find(h); it != plan.local_waiters.end()) {
      for (const auto& w : it->second) {
        if (--plan.candidates.at(w).missing == 0) plan.ready.push_back(w);
      }
    }
    if (auto it = waiters_.find(h); it != waiters_.end()) {
      for (const auto& p : it->second) {
        auto pit = pending_.find(p);
        if (pit != pending_.end()) plan_candidate(plan, pit->second, false);
      }
    }
    if (auto it = plan.seq_parked.find({c.actor(), c.seq()}); it != plan.seq_parked.end()) {
      for (const auto& w : it->second) plan.ready.push_back(w);
      plan.seq_parked.erase(it);
    }
  }

  // A change whose deps are all available but whose actor's previous change is nowhere can
  // never apply: that predecessor is not in its history. If the predecessor is itself
  // waiting, so is this change. Evicting one may orphan the next: repeat until stable.
  bool evicted_more = true;
  while (!plan.seq_parked.empty() && evicted_more) {
    evicted_more = false;
    std::set<SeqKey> waiting;
    for (const auto& [hash, change] : pending_) {
      if (!plan.planned.count(hash) && !plan.evicted_set.count(hash)) {
        waiting.insert({change.actor(), change.seq()});
      }
    }
    for (const auto& [hash, cand] : plan.candidates) {
      if (cand.fresh && !plan.planned.count(hash)) {
        waiting.insert({cand.change.actor(), cand.change.seq()});
      }
    }
    for (auto it = plan.seq_parked.begin(); it != plan.seq_parked.end();) {
      if (waiting.count(it->first)) {
        ++it;
        continue;
      }
      for (const auto& w : it->second) {
        const Change& c = plan.candidates.at(w).change;
        reject(plan.candidates.at(w), "seq gap: " + describe(c.actor(), c.seq()) + " (" + w.hex() +
                                          ") has all its deps but seq " +
                                          std::to_string(c.seq() - 1) + " is not in its history");
      }
      it = plan.seq_parked.erase(it);
      evicted_more = true;
    }
  }
}

bool ChangeGraph::applies_next(const Change& c) const {
  if (has(c.hash()) || c.seq() != max_seq(c.actor()) + 1) return false;
  // A pending change, or one that a pending change waits for, needs the general path: it
  // wakes or evicts what is parked.
  if (!pending_.empty() && (pending_.count(c.hash()) || waiters_.count(c.hash()))) return false;
  for (const ChangeHash& dep : c.deps()) {
    if (!has(dep)) return false;
  }
  return true;
}

void ChangeGraph::truncate(std::size_t first, std::size_t first_dep,
                           std::vector<ChangeHash>* heads) {
  auto hash_of = [this](std::uint32_t node) -> const ChangeHash& { return changes_[node].hash(); };
  for (std::size_t i = changes_.size(); i-- > first;) {
    const Change& c = changes_[i];
    index_.erase(c.hash(), hash_of);
    auto it = by_actor_.find(c.actor());
    if (it == by_actor_.end()) continue;
    if (!it->second.empty() && it->second.back() == i) it->second.pop_back();
    version_.set(c.actor(), it->second.size());  // existing or removed: never allocates
    if (it->second.empty()) by_actor_.erase(it);
  }
  changes_.erase(changes_.begin() + static_cast<std::ptrdiff_t>(first), changes_.end());
  depth_.resize(std::min(depth_.size(), first));
  dep_begin_.resize(std::min(dep_begin_.size(), first + 1));
  dep_index_.resize(first_dep);
  if (heads) heads_ = std::move(*heads);
}

bool ChangeGraph::add_in_order(std::span<const Change> batch, ImportStatus& status) {
  const std::size_t first = changes_.size();
  const std::size_t first_dep = dep_index_.size();
  // A single change is checked before anything changes and apply_planned() touches the heads
  // last, without allocating: only longer batches need the heads to roll back to.
  std::vector<ChangeHash> heads;
  if (batch.size() > 1) heads = heads_;
  std::vector<ChangeHash>* restore = batch.size() > 1 ? &heads : nullptr;
  try {
    for (const Change& c : batch) {
      if (!applies_next(c)) {
        truncate(first, first_dep, restore);
        return false;
      }
      apply_planned(c);
    }
  } catch (...) {
    truncate(first, first_dep, restore);
    throw;
  }
  status.applied.reserve(batch.size());
  for (const Change& c : batch) {
    add_to_ranges(status.success, c.actor(), c.seq());
    status.applied.push_back(c.hash());
  }
  return true;
}

ImportStatus ChangeGraph::add(std::span<const Change> batch) {
  for (const Change& c : batch) {
    if (c.format() != format_) {
      throw GraphError("change " + c.hash().hex() + " is " + format_name(c.format()) +
                       "'s, the document holds " + format_name(format_) + "'s");
    }
  }
  ImportStatus status;
  if (add_in_order(batch, status)) return status;
  Plan plan;
  std::vector<Change> fresh;
  std::unordered_set<ChangeHash, IdHasher> seen;
  for (const Change& c : batch) {
    if (has(c.hash()) || is_pending(c.hash()) || !seen.insert(c.hash()).second) {
      ++status.duplicates;
      continue;
    }
    if (c.seq() <= max_seq(c.actor())) {
      const ChangeHash& other = changes_[by_actor_.at(c.actor())[c.seq() - 1]].hash();
      throw GraphError(equivocation(c, other));
    }
    fresh.push_back(c);
  }
  if (fresh.empty()) return status;
  for (const Change& c : fresh) plan_candidate(plan, c, true);
  run_plan(plan);

  // Pending bound, checked on the pool as it will be after this batch.
  std::size_t count = pending_.size();
  std::size_t bytes = pending_bytes_;
  for (const Change& c : plan.order) {
    if (pending_.count(c.hash())) {
      --count;
      bytes -= c.bytes().size();
    }
  }
  for (const auto& e : plan.evicted) {
    --count;
    bytes -= pending_.at(e.hash).bytes().size();
  }
  for (const Change& c : fresh) {
    if (!plan.planned.count(c.hash())) {
      ++count;
      bytes += c.bytes().size();
    }
  }
  if (count > limits_.max_pending_changes && count > pending_.size()) {
    throw GraphError("pending limit: " + std::to_string(count) +
                     " changes waiting for deps exceed " +
                     std::to_string(limits_.max_pending_changes));
  }
  if (bytes > limits_.max_pending_bytes && bytes > pending_bytes_) {
    throw GraphError("pending limit: " + std::to_string(bytes) + " bytes waiting for deps exceed " +
                     std::to_string(limits_.max_pending_bytes));
  }

  // Commit. Nothing below throws except allocation failure.
  for (const Change& c : plan.order) {
    if (auto it = pending_.find(c.hash()); it != pending_.end()) {
      pending_bytes_ -= it->second.bytes().size();
      pending_.erase(it);
    }
    apply_planned(c);
    waiters_.erase(c.hash());
    add_to_ranges(status.success, c.actor(), c.seq());
    status.applied.push_back(c.hash());
  }
  // Evicted changes take the pending changes that wait on them along: those can never apply.
  for (std::size_t i = 0; i < plan.evicted.size(); ++i) {
    ChangeHash gone = plan.evicted[i].hash;
    if (auto it = pending_.find(gone); it != pending_.end()) {
      pending_bytes_ -= it->second.bytes().size();
      pending_.erase(it);
    }
    auto waiting = waiters_.find(gone);
    if (waiting == waiters_.end()) continue;
    std::vector<ChangeHash> dependents = std::move(waiting->second);
    waiters_.erase(waiting);
    for (const auto& d : dependents) {
      if (pending_.count(d) && plan.evicted_set.insert(d).second) {
        plan.evicted.push_back({d, "depends on evicted change " + gone.hex()});
      }
    }
  }
  status.evicted = std::move(plan.evicted);

  for (const Change& c : fresh) {
    const ChangeHash& h = c.hash();
    if (plan.planned.count(h)) continue;
    for (const auto& dep : c.deps()) {
      if (!has(dep)) waiters_[dep].push_back(h);
    }
    pending_bytes_ += c.bytes().size();
    pending_.emplace(h, c);
    add_to_ranges(status.pending, c.actor(), c.seq());
  }
  if (!plan.seq_parked.empty()) {
    // Changes parked on their actor's previous change (itself pending) wake with it.
    std::map<SeqKey, ChangeHash> pending_at;
    for (const auto& [ph, pc] : pending_) pending_at[{pc.actor(), pc.seq()}] = ph;
    for (const auto& [key, list] : plan.seq_parked) {
      auto pred = pending_at.find(key);
      if (pred == pending_at.end()) continue;  // unreachable: run_plan evicted those
      for (const auto& w : list) waiters_[pred->second].push_back(w);
    }
  }
  return status;
}

void ChangeGraph::apply_planned(const Change& c) {
  // Every step that may allocate comes before the heads change, so that truncate() can undo
  // a partial apply from the sizes alone; the heads then change without allocating.
  auto idx = static_cast<std::uint32_t>(changes_.size());
  if (heads_.size() == heads_.capacity()) heads_.reserve(2 * heads_.size() + 1);
  changes_.push_back(c);
  std::uint32_t depth = 1;
  DepsView deps = c.deps();
  for (const ChangeHash& dep : deps) {
    std::uint32_t d = *index_of(dep);
    dep_index_.push_back(d);
    depth = std::max(depth, depth_[d] + 1);
  }
  dep_begin_.push_back(static_cast<std::uint32_t>(dep_index_.size()));
  depth_.push_back(depth);
  auto& by_seq = by_actor_[c.actor()];
  by_seq.push_back(idx);
  version_.set(c.actor(), by_seq.size());
  index_.insert(c.hash(), idx);
  for (const ChangeHash& dep : deps) {
    auto it = std::lower_bound(heads_.begin(), heads_.end(), dep);
    if (it != heads_.end() && *it == dep) heads_.erase(it);
  }
  heads_.insert(std::lower_bound(heads_.begin(), heads_.end(), c.hash()), c.hash());
}

}  // namespace dagsync
