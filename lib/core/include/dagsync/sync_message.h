// SyncMessage: one round of the sync protocol, as a value.
//
// heads: the sender's heads. need: hashes the sender asks for explicitly. have: what the
// sender holds as Bloom filters, each {last_sync heads, filter of the sender's changes since
// them}; several may travel (e.g. one forwarded from another peer). summary: what the sender
// holds, exactly, when that is smaller than a filter (summary.h). want_filter: the sender
// could not use our summary and asks for filters instead. changes: changes for the
// recipient, in an order it can apply. complete: the sender knows what the recipient holds
// and these changes are all it lacks, so after applying them the recipient holds every one
// of `heads`; a recipient that then has exactly those heads need not answer (its silence
// says so). resend: the sender ignored changes earlier on this connection and asks for them
// again. received: how many of the recipient's messages the sender had received on this
// connection when it built this one (tells a reply from a message that crossed ours).
//
// Encoded as versioned msgpack (docs/protocol.md, "Sync message"), version kVersion (3).
// decode() refuses every other version, 1 and 2 included, with "unsupported version N": the
// encodings differ in layout and in what silence means, so an older peer must be upgraded.
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
  static constexpr std::uint64_t kVersion = 3;

  std::vector<ChangeHash> heads;
  std::vector<ChangeHash> need;
  std::vector<Have> have;
  std::vector<Change> changes;
  std::optional<Summary> summary;
  bool want_filter = false;
  bool complete = false;
  bool resend = false;
  std::uint64_t received = 0;

  Bytes encode() const;
  static SyncMessage decode(ByteView bytes, const SyncLimits& limits = {});

  // Sum of the encoded sizes of `changes`: the payload part of encode().
  std::size_t change_bytes() const;
};

}  // namespace dagsync
