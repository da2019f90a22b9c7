// What the graph's source files share and the public headers do not show: the ImportStatus
// range bookkeeping of add().
#pragma once

#include <cstdint>
#include <map>

#include "dagsync/change_graph.h"
#include "dagsync/import_status.h"

namespace dagsync {

// Adds `seq` to `ranges[actor]`, merging with an adjacent range.
void add_to_ranges(ActorRanges& ranges, const ActorId& actor, std::uint64_t seq);

}  // namespace dagsync
