// SyncMessage: one round of the sync protocol, as a value.
//
// heads: the sender's heads. need: hashes the sender asks for explicitly. have: what the
// sender holds as Bloom filters, each {last_sync heads, filter of the sender's changes since
// them}; several may travel (e.g. one forwarded from another peer). summary: what the sender
// holds, exactly, when that is smaller than a filter (summary.h). want_filter: the sender
// could not use our summary and asks for filters instead. changes: changes for the
// recipient, in an order it can apply.
//
// Encoded as versioned msgpack (docs/protocol.md, "Sync message"), version kVersion (2).
// decode() refuses every other version, version 1 included, with "unsupported version N":
// the two encodings differ in layout, and a peer that sends version 1 must be upgraded.
// encode() writes the hash lists sorted and distinct, whatever order they are held in.
// decode() enforces SyncLimits and validates every change, so a decoded message is
// well-formed (it may still be a lie; the graph's hashes decide).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "dagsync/bloom_filter.h"
#include "dagsync/change.h"
#include "dagsync/limits.h"
#include "dagsync/summary.h"

namespace dagsync {

struct Have {
  std::vector<ChangeHash> last_sync;
  BloomFilter bloom;
  bool operator==(const Have&) const = default;
};

struct SyncMessage {
  static constexpr std::uint64_t kVersion = 2;

  std::vector<ChangeHash> heads;
  std::vector<ChangeHash> need;
  std::vector<Have> have;
  std::vector<Change> changes;
  std::optional<Summary> summary;
  bool want_filter = false;

  Bytes encode() const;
  static SyncMessage decode(ByteView bytes, const SyncLimits& limits = {});

  // Sum of the encoded sizes of `changes`: the payload part of encode().
  std::size_t change_bytes() const;
};

}  // namespace dagsync
