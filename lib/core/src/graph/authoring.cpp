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
  listeners_.notify(change);
  return change;
}

Subscription ChangeGraph::subscribe_local(LocalListener listener) {
  return listeners_.add(std::move(listener));
}

}  // namespace dagsync
