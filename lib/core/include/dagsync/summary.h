// Summary: an exact, compact description of the changes a peer holds, sent instead of a
// Bloom filter when it is smaller (docs/protocol.md, "Summaries").
//
// A summary is a list of levels. Level j names checkpoint hashes C_j and version-vector
// entries E_j; its claim is "I hold every ancestor of C_j (inclusive), and everything else I
// hold is, for each actor in E_0..E_j, that actor's changes up to the given seq". A level
// with no hashes (the root level) is a whole version vector. A receiver uses the first level
// whose hashes it holds; per-actor seqs are gapless in every graph, so for honest peers the
// difference it computes is exact. A false claim only withholds changes from its sender, who
// recovers them through `need` and the Bloom filter; hashes stay the final word.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "dagsync/change_graph.h"
#include "dagsync/version_vector.h"

namespace dagsync {

struct SummaryLevel {
  std::vector<ChangeHash> hashes;  // sorted; empty for the root level
  VersionVector actors;            // actors first needed at this level, with the sender's seq
  bool operator==(const SummaryLevel&) const = default;
};

struct Summary {
  std::vector<SummaryLevel> levels;

  // True when the last level is the root level: every receiver can use it.
  bool complete() const { return !levels.empty() && levels.back().hashes.empty(); }
  // Its size inside an encoded sync message.
  std::size_t encoded_size() const;
  bool operator==(const Summary&) const = default;
};

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
