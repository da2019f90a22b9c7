// Hash lists in their canonical form (docs/protocol.md, "Hash lists"): strictly ascending
// bytewise, hence sorted and without duplicates. Deps, heads, need, last_sync and shared heads
// all travel this way; building every such list with these helpers keeps what the library
// holds in memory equal to what it encodes.
#pragma once

#include <algorithm>
#include <functional>
#include <span>
#include <vector>

#include "dagsync/ids.h"

namespace dagsync {

// Sorts `hashes` and drops repeats, in place.
inline void make_sorted_unique(std::vector<ChangeHash>& hashes) {
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
}

inline std::vector<ChangeHash> sorted_unique(std::vector<ChangeHash> hashes) {
  make_sorted_unique(hashes);
  return hashes;
}

// True when `hashes` is canonical already (decoded lists always are).
inline bool is_sorted_unique(std::span<const ChangeHash> hashes) {
  return std::adjacent_find(hashes.begin(), hashes.end(), std::greater_equal<>()) == hashes.end();
}

// Membership in a canonical list.
inline bool sorted_contains(std::span<const ChangeHash> sorted, const ChangeHash& hash) {
  return std::binary_search(sorted.begin(), sorted.end(), hash);
}

}  // namespace dagsync
