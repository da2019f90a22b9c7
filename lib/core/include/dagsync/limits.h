// Every bound the library enforces on untrusted input, with its default. Decoders and the
// graph take these by value; exceeding one is a DecodeError or GraphError naming the limit.
// docs/protocol.md lists them with their rationale.
//
// Plain aggregates, checked before anything is allocated in proportion to a peer's claim. A
// count limit above 2^32 - 1 acts as 2^32 - 1 (msgpack lengths are 32-bit).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dagsync {

struct ChangeLimits {
  std::size_t max_change_bytes = 16u << 20;   // one encoded change
  std::size_t max_deps = 1024;                // dependencies of one change
  std::size_t max_message_chars = 64u << 10;  // a change's commit message
};

// Automerge change chunks (docs/automerge.md). A compressed chunk is refused as soon as
// inflating it passes max_chunk_bytes, so a small deflate bomb costs at most that much.
struct AutomergeLimits {
  std::size_t max_chunk_bytes = 16u << 20;    // one change chunk, uncompressed
  std::size_t max_actor_bytes = 256;          // one actor id (Automerge's are 16 or more)
  std::size_t max_deps = 1024;                // dependencies of one change
  std::size_t max_other_actors = 65'536;      // actors a change's operations name
  std::size_t max_columns = 256;              // operation columns of one change
  std::size_t max_message_bytes = 64u << 10;  // a change's commit message
};

struct GraphLimits {
  std::size_t max_pending_changes = 100'000;   // parked for missing deps
  std::size_t max_pending_bytes = 256u << 20;  // their encoded bytes together
};

struct SyncLimits {
  std::size_t max_message_bytes = 256u << 20;  // one encoded sync message
  std::size_t max_hashes = 65'536;             // heads, need, or one last_sync list
  std::size_t max_haves = 64;                  // Bloom filters in one `have`
  std::size_t max_changes = 1'000'000;         // changes carried by one message
  std::uint32_t max_bloom_entries = 10'000'000;
  std::uint32_t max_bloom_bits_per_entry = 64;
  std::uint32_t max_bloom_probes = 32;
  std::size_t max_summary_levels = 64;         // levels of one summary
  std::size_t max_summary_actors = 1'000'000;  // version-vector entries, all levels together
  ChangeLimits change{};
  AutomergeLimits automerge{};  // changes in Automerge sync messages
};

}  // namespace dagsync
