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
//
// This header is the value as it travels in a SyncMessage. A Summary is a plain value:
// copyable, comparable, and valid whatever it claims; generate_sync_message builds ours and
// receive_sync_message stores the peer's.
#pragma once

#include <cstddef>
#include <vector>

#include "dagsync/ids.h"
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

}  // namespace dagsync
