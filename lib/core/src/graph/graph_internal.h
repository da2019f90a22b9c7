// What the graph's source files share and the public headers do not show: the local
// listener registry (held by every ChangeGraph, used by commit() and subscribe_local()) and
// the ImportStatus range bookkeeping of add().
#pragma once

#include <cstdint>
#include <map>

#include "dagsync/change_graph.h"
#include "dagsync/import_status.h"

namespace dagsync {

// Behind a shared_ptr so that a Subscription, which holds it weakly, may outlive the graph.
struct ChangeGraph::Listeners {
  std::map<std::uint64_t, LocalListener> by_id;
  std::uint64_t next_id = 0;
};

// Adds `seq` to `ranges[actor]`, merging with an adjacent range.
void add_to_ranges(ActorRanges& ranges, const ActorId& actor, std::uint64_t seq);

}  // namespace dagsync
