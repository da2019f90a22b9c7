// VersionVector: actor -> highest contiguous seq held. Because every change's history holds
// its actor's earlier changes, a version vector names a set of changes exactly (for honest
// actors); Loro-style "export since a version" uses it.
//
// A plain value that holds only seqs of at least 1 (setting 0 removes the actor), so equal
// vectors name equal sets. Encodes as [version=1, [[actor, seq]...]] sorted by actor;
// decode() accepts that canonical form only, so decoding and re-encoding gives back the
// same bytes.
#pragma once

#include <cstdint>
#include <map>

#include "dagsync/bytes.h"
#include "dagsync/ids.h"
#include "dagsync/limits.h"

namespace dagsync {

class VersionVector {
 public:
  // 0 for an actor not present.
  std::uint64_t get(const ActorId& actor) const;
  // Sets the entry; a seq of 0 removes it.
  void set(const ActorId& actor, std::uint64_t seq);
  // True when every entry of `other` is <= ours.
  bool includes(const VersionVector& other) const;
  const std::map<ActorId, std::uint64_t>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool operator==(const VersionVector&) const = default;

  Bytes encode() const;
  // Throws DecodeError on malformed bytes, zero seqs, duplicate or unsorted actors, or more
  // than `max_entries` entries.
  static VersionVector decode(ByteView bytes, std::size_t max_entries = 1'000'000);

 private:
  std::map<ActorId, std::uint64_t> entries_;
};

}  // namespace dagsync
