// The summary algorithms of the sync protocol (docs/protocol.md, "Summaries"): building our
// summary and reading a peer's. Internal: only generate_sync_message uses them, and their
// budgets and level choices may change without touching the wire format; the value type
// they produce and read is public (dagsync/summary.h).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "dagsync/change_graph.h"
#include "dagsync/summary.h"

namespace dagsync {

// Our summary, or nothing when no level fits in `budget` bytes. A whole version vector is
// returned when it fits; otherwise checkpoint levels (the shared heads, then ancestors of our
// deepest head 1, 2, 4, ... steps back) while the running size stays within budget.
std::optional<Summary> summarize(const ChangeGraph& graph, std::span<const ChangeHash> shared_heads,
                                 std::size_t budget);

// Encoded size of the root-only summary (our whole version vector).
std::size_t full_summary_size(const ChangeGraph& graph);

// The changes we hold that the summary's sender lacks, in application order, judged from the
// first level we can use; nothing when we hold none of its levels' checkpoints.
std::optional<std::vector<Change>> missing_from(const ChangeGraph& graph, const Summary& summary);

}  // namespace dagsync
