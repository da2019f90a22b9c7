// Local authoring: the local actor's changes (commit) and the listeners told about them.
#include <algorithm>
#include <memory>
#include <vector>

#include "dagsync/change_graph.h"
#include "dagsync/error.h"
#include "graph/graph_internal.h"

namespace dagsync {

Change ChangeGraph::next_change(Bytes payload, std::optional<std::string> message,
                                std::optional<std::int64_t> timestamp_ms) const {
  if (format_ != ChangeFormat::kDagsync) {
    throw GraphError("an Automerge document's changes are made by Automerge, not commit()");
  }
  ChangeFields fields;
  fields.actor = local_actor_;
  fields.seq = max_seq(local_actor_) + 1;
  fields.deps = heads_;
  fields.timestamp_ms = timestamp_ms;
  fields.message = std::move(message);
  fields.payload = std::move(payload);
  return Change::build(std::move(fields));
}

const Change& ChangeGraph::commit_built(const Change& change) {
  if (change.format() != ChangeFormat::kDagsync || change.actor() != local_actor_ ||
      change.seq() != max_seq(local_actor_) + 1 ||
      !std::equal(change.deps().begin(), change.deps().end(), heads_.begin(), heads_.end())) {
    throw GraphError("commit_built: change " + change.hash().hex() +
                     " is not the local actor's next change on the current heads");
  }
  add(change);
  listeners_.notify(change);
  return change;
}

Change ChangeGraph::commit(Bytes payload, std::optional<std::string> message,
                           std::optional<std::int64_t> timestamp_ms) {
  Change change = next_change(std::move(payload), std::move(message), timestamp_ms);
  commit_built(change);
  return change;
}

Subscription ChangeGraph::subscribe_local(LocalListener listener) {
  return listeners_.add(std::move(listener));
}

}  // namespace dagsync
