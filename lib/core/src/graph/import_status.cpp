#include "dagsync/import_status.h"

#include <algorithm>

#include "graph/graph_internal.h"

namespace dagsync {

void add_to_ranges(ActorRanges& ranges, const ActorId& actor, std::uint64_t seq) {
  auto& list = ranges[actor];
  // Keep the list sorted and merged; imports arrive mostly in order, so look at the end first.
  auto it = std::lower_bound(list.begin(), list.end(), seq,
                             [](const SeqRange& r, std::uint64_t s) { return r.end < s; });
  if (it != list.end() && it->start <= seq && seq < it->end) return;
  if (it != list.end() && it->end == seq) {
    it->end = seq + 1;
    auto next = std::next(it);
    if (next != list.end() && next->start == it->end) {
      it->end = next->end;
      list.erase(next);
    }
    return;
  }
  if (it != list.end() && it->start == seq + 1) {
    it->start = seq;
    return;
  }
  list.insert(it, SeqRange{seq, seq + 1});
}

}  // namespace dagsync
