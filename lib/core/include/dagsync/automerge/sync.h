// Automerge's sync protocol (docs/automerge.md), sans-I/O, over a ChangeGraph of Automerge
// changes: V1 sync messages (0x42), Automerge's Bloom filter encoding, its persisted sync
// state (0x43) and the generate/receive algorithm of the Rust implementation that real peers
// depend on (a reset when the peer's last_sync names hashes we lack; empty heads from the
// peer mean it lost everything and gets a full resync).
//
// dagsync is a V1-only peer: it accepts V1 and V2 messages with or without any trailer form,
// and sends V1 messages without a trailer, so Automerge peers never send it whole documents.
// A session dialect drives one document and peer with:
//   state = SyncState::decode(saved) or SyncState{};
//   on bytes from the peer:  receive_sync_message(graph, state, SyncMessage::decode(bytes));
//   then, and after local changes:  if (auto m = generate_sync_message(graph, state))
//                                      send(m->encode());
//   saved = state.encode();   // only shared_heads persist, as in Automerge
//
// Decoders are strict and bounded by SyncLimits (counts, sizes, Bloom parameters; changes by
// SyncLimits::automerge): anything else is a DecodeError naming the field. receive throws
// GraphError (equivocation, a seq gap, a full pending pool) with graph and state unchanged.
#pragma once

#include <optional>
#include <set>
#include <vector>

#include "dagsync/bloom_filter.h"
#include "dagsync/bytes.h"
#include "dagsync/change.h"
#include "dagsync/change_graph.h"
#include "dagsync/import_status.h"
#include "dagsync/limits.h"

namespace dagsync::automerge {

// Automerge's wire form of a filter: nothing when it has no entries, else uLEB entries,
// bits per entry and probes, then the bits. decode_bloom() refuses parameters outside
// `limits`, a bit array of another length than they imply, and bytes left over.
Bytes encode_bloom(const BloomFilter& filter);
BloomFilter decode_bloom(ByteView bytes, const SyncLimits& limits = {});

struct Have {
  std::vector<ChangeHash> last_sync;  // sorted
  BloomFilter bloom;                  // the changes not covered by last_sync
  bool operator==(const Have&) const = default;
};

// What a received trailer says about its sender (docs/automerge.md, "Trailers").
struct PeerFlags {
  bool supports_v2 = false;  // any trailer at all claims it
  bool supports_sync_reset = false;
  bool read_only = false;   // it applies none of our changes
  bool sync_reset = false;  // forget what we sent it
};

struct SyncMessage {
  static constexpr std::uint8_t kV1 = 0x42;
  static constexpr std::uint8_t kV2 = 0x43;

  std::uint8_t version = kV1;  // as received; encode() writes V1
  std::vector<ChangeHash> heads;
  std::vector<ChangeHash> need;
  std::vector<Have> have;
  std::vector<Change> changes;   // Automerge changes, each kept as its type-1 chunk
  std::optional<Bytes> trailer;  // as received (its length-prefixed bytes); never encoded

  // V1, one type-1 chunk per changes entry, no trailer.
  Bytes encode() const;
  // Accepts V1 and V2 (0x43) messages whose changes entries hold change chunks (type 1 or
  // 2, back to back); refuses document and bundle chunks. Bytes after the trailer are
  // ignored, as Automerge ignores them.
  static SyncMessage decode(ByteView bytes, const SyncLimits& limits = {});
  PeerFlags flags() const;
};

struct SyncState {
  std::vector<ChangeHash> shared_heads;  // both sides hold these; persisted
  std::vector<ChangeHash> last_sent_heads;
  std::optional<std::vector<ChangeHash>> their_heads;
  std::optional<std::vector<ChangeHash>> their_need;
  std::optional<std::vector<Have>> their_have;
  std::set<ChangeHash> sent_hashes;
  bool in_flight = false;
  bool have_responded = false;
  bool peer_read_only = false;

  // Automerge's persisted form: 0x43, uLEB count, the shared heads.
  Bytes encode() const;
  // As Automerge decodes it: shared heads kept, their_have an empty list, the rest reset.
  static SyncState decode(ByteView bytes, const SyncLimits& limits = {});
};

struct SyncOptions {
  // Read-only: ask for nothing, apply nothing the peer sends.
  bool read_only = false;
};

// The next message for the peer, or nothing when there is nothing to say (or a message is
// in flight and nothing changed). Updates `state`. `graph` must hold Automerge changes.
std::optional<SyncMessage> generate_sync_message(const ChangeGraph& graph, SyncState& state,
                                                 const SyncOptions& options = {});

struct ReceiveResult {
  ImportStatus status;
  std::size_t ignored_changes = 0;  // not applied because of read-only receiving
};

ReceiveResult receive_sync_message(ChangeGraph& graph, SyncState& state, const SyncMessage& message,
                                   const SyncOptions& options = {});

}  // namespace dagsync::automerge
