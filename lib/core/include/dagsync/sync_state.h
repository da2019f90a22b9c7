// SyncState: what one peer knows about one other peer for one document.
//
// Only shared_heads (the heads both sides are known to hold) survives encode()/decode();
// everything else describes the current connection and starts empty. A decoded state may be
// stale (either side may have lost data since) and the protocol still converges from it.
// The fields are public so tests and tools can inspect (and, for protocol tests, tamper
// with) them; applications treat them as opaque.
#pragma once

#include <optional>
#include <set>
#include <vector>

#include "dagsync/bytes.h"
#include "dagsync/ids.h"
#include "dagsync/sync_message.h"

namespace dagsync {

struct SyncState {
  static constexpr std::uint64_t kVersion = 1;

  // Persisted.
  std::vector<ChangeHash> shared_heads;

  // Per connection.
  std::vector<ChangeHash> last_sent_heads;
  std::vector<ChangeHash> last_sent_need;
  std::optional<std::vector<ChangeHash>> their_heads;
  std::optional<std::vector<ChangeHash>> their_need;
  std::optional<std::vector<Have>> their_have;
  std::optional<Summary> their_summary;
  bool their_want_filter = false;    // the peer could not use our summary: send it filters
  bool want_filter_sent = false;     // we could not use theirs and asked for filters
  std::set<ChangeHash> sent_hashes;  // sent this connection, not yet known to be received
  bool in_flight = false;            // informational: we sent, the peer has not answered yet
  bool have_responded = false;       // we have sent at least one message
  bool reset_sent = false;           // we answered their current `have` with a reset

  Bytes encode() const;
  // Throws DecodeError on malformed bytes, an unknown version or more than `max_heads`.
  static SyncState decode(ByteView bytes, std::size_t max_heads = 65'536);
};

}  // namespace dagsync
