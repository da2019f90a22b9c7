// Local authoring: the local actor's changes (commit) and the listeners told about them.
#include <memory>
#include <vector>

#include "dagsync/change_graph.h"
#include "graph/graph_internal.h"

namespace dagsync {

Change ChangeGraph::commit(Bytes payload, std::optional<std::string> message,
                           std::optional<std::int64_t> timestamp_ms) {
  ChangeFields fields;
  fields.actor = local_actor_;
  fields.seq = max_seq(local_actor_) + 1;
  fields.deps = heads_;
  fields.timestamp_ms = timestamp_ms;
  fields.message = std::move(message);
  fields.payload = std::move(payload);
  Change change = Change::build(std::move(fields));
  add(change);
  // Copy first: a listener may unsubscribe (itself or another) while being called.
  std::vector<LocalListener> listeners;
  for (const auto& [id, fn] : listeners_->by_id) listeners.push_back(fn);
  for (const auto& fn : listeners) fn(change);
  return change;
}

Subscription ChangeGraph::subscribe_local(LocalListener listener) {
  std::uint64_t id = listeners_->next_id++;
  listeners_->by_id.emplace(id, std::move(listener));
  std::weak_ptr<Listeners> weak = listeners_;
  return Subscription([weak, id] {
    if (auto l = weak.lock()) l->by_id.erase(id);
  });
}

}  // namespace dagsync
