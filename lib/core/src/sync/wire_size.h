// Encoded sizes of the sync message and its parts (docs/protocol.md, "Sync message"),
// computed without encoding. A msgpack header's size depends only on the value or length it
// carries, so each size here is exact for a message whose hash lists are canonical (every
// message the library builds or decodes). encode() drops repeated hashes, so for a hand-built
// message with repeats they are upper bounds.
//
// One set of figures for every user: generate_sync_message bounds its messages with them and
// compares a summary with a Bloom filter; SyncMessage::encode sizes its buffer with them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dagsync/bloom_filter.h"
#include "dagsync/ids.h"
#include "dagsync/summary.h"
#include "dagsync/sync_message.h"

namespace dagsync {

// The sync message's layout: [version, heads, need, have, changes, summary, flags, received].
constexpr std::uint32_t kSyncMessageFields = 8;
constexpr std::uint64_t kWantFilterFlag = 1;  // flags bit 0
constexpr std::uint64_t kCompleteFlag = 2;    // flags bit 1
constexpr std::uint64_t kResendFlag = 4;      // flags bit 2
constexpr std::uint64_t kKnownFlags = kWantFilterFlag | kCompleteFlag | kResendFlag;

inline std::uint64_t message_flags(const SyncMessage& m) {
  return (m.want_filter ? kWantFilterFlag : 0) | (m.complete ? kCompleteFlag : 0) |
         (m.resend ? kResendFlag : 0);
}

// msgpack: an unsigned integer in its shortest form.
constexpr std::size_t uint_size(std::uint64_t v) {
  if (v < 128) return 1;
  if (v <= 0xff) return 2;
  if (v <= 0xffff) return 3;
  if (v <= 0xffffffff) return 5;
  return 9;
}

// msgpack: the header of an array of `n` elements, or of a bin of `n` bytes.
constexpr std::size_t array_header_size(std::size_t n) {
  return n < 16 ? 1 : n <= 0xffff ? 3 : 5;
}
constexpr std::size_t bin_header_size(std::size_t n) {
  return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

// One bin holding `n` ids of `id_size` bytes back to back: heads, need, last_sync, and a
// summary level's hashes and actors.
constexpr std::size_t packed_ids_size(std::size_t n, std::size_t id_size) {
  return bin_header_size(n * id_size) + n * id_size;
}

// A `have` entry: [last_sync, [entries, bits_per_entry, probes, bits]].
constexpr std::size_t have_size(std::size_t last_sync, std::uint64_t entries,
                                std::uint32_t bits_per_entry, std::uint32_t probes,
                                std::size_t bit_bytes) {
  return array_header_size(2) + packed_ids_size(last_sync, ChangeHash::kSize) +
         array_header_size(4) + uint_size(entries) + uint_size(bits_per_entry) + uint_size(probes) +
         bin_header_size(bit_bytes) + bit_bytes;
}
inline std::size_t have_size(const Have& have) {
  return have_size(have.last_sync.size(), have.bloom.entries(), have.bloom.bits_per_entry(),
                   have.bloom.probes(), have.bloom.bits().size());
}
// The `have` that generate_sync_message would send for `last_sync` hashes and a filter over
// `entries` changes with the default parameters, without building the filter.
inline std::size_t default_have_size(std::size_t last_sync, std::size_t entries) {
  return have_size(last_sync, entries, BloomFilter::kDefaultBitsPerEntry,
                   BloomFilter::kDefaultProbes,
                   static_cast<std::size_t>(
                       BloomFilter::byte_length(entries, BloomFilter::kDefaultBitsPerEntry)));
}

// One actor of a summary level: its id in the level's packed actors, and its seq.
constexpr std::size_t summary_entry_size(std::uint64_t seq) {
  return ActorId::kSize + uint_size(seq);
}
// A summary level, [hashes, actors, seqs], whose entries take `entry_bytes` together.
constexpr std::size_t summary_level_size(std::size_t hashes, std::size_t actors,
                                         std::size_t entry_bytes) {
  return array_header_size(3) + packed_ids_size(hashes, ChangeHash::kSize) +
         bin_header_size(actors * ActorId::kSize) + array_header_size(actors) + entry_bytes;
}

// The changes field: one bin holding `change_bytes` bytes of change encodings.
constexpr std::size_t changes_field_size(std::size_t change_bytes) {
  return bin_header_size(change_bytes) + change_bytes;
}

// `message` encoded, except its changes field: what a message costs before the changes it
// carries.
inline std::size_t sync_message_size_without_changes(const SyncMessage& message) {
  std::size_t n = array_header_size(kSyncMessageFields) + uint_size(SyncMessage::kVersion) +
                  packed_ids_size(message.heads.size(), ChangeHash::kSize) +
                  packed_ids_size(message.need.size(), ChangeHash::kSize) +
                  array_header_size(message.have.size());
  for (const Have& h : message.have) n += have_size(h);
  n += message.summary ? message.summary->encoded_size() : 1;  // nil
  n += uint_size(message_flags(message));
  n += uint_size(message.received);
  return n;
}

inline std::size_t sync_message_size(const SyncMessage& message) {
  return sync_message_size_without_changes(message) + changes_field_size(message.change_bytes());
}

}  // namespace dagsync
