// ImportStatus: what adding changes to a graph did, in the shape of Loro's import status.
// Per actor, the seq ranges [start, end) applied by this call and those of this call's
// changes left pending on missing deps; plus the applied hashes in application order.
//
// A value returned by ChangeGraph::add() and import_updates() (and inside ReceiveResult).
// Each actor's ranges are sorted, disjoint and never adjacent: touching ranges are merged.
// It describes only the call that returned it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dagsync/ids.h"

namespace dagsync {

struct SeqRange {
  std::uint64_t start = 0;  // inclusive
  std::uint64_t end = 0;    // exclusive
  bool operator==(const SeqRange&) const = default;
};

using ActorRanges = std::map<ActorId, std::vector<SeqRange>>;

struct Eviction {
  ChangeHash hash;     // a formerly pending change dropped when its deps arrived
  std::string reason;  // why it could not be applied (equivocation, seq gap)
};

struct ImportStatus {
  ActorRanges success;              // applied by this call (incl. formerly pending ones)
  ActorRanges pending;              // changes of this call now waiting for deps
  std::vector<ChangeHash> applied;  // in the order they were applied
  std::size_t duplicates = 0;       // changes already known (applied or pending)
  std::vector<Eviction> evicted;    // formerly pending changes found invalid

  bool has_pending() const { return !pending.empty(); }
};

}  // namespace dagsync
