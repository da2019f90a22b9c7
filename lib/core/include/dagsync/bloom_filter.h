// BloomFilter over change hashes, as in Automerge's sync protocol: by default 10 bits per
// entry and 7 probes, probe positions derived from the first 12 bytes of the hash (three
// little-endian u32: x, y, z mod m; then x += y, y += z).
//
// Promises: no false negatives (contains() is true for every hash added); about 1% false
// positives at the defaults; an empty filter (no entries) contains nothing. The bits are
// exactly what travels, so a filter equals its decoded copy. The parameters travel with the
// filter, so a receiver checks them against SyncLimits (from_parts) before trusting the bit
// array. The constructor throws Error unless bits_per_entry >= 1 and probes is in 1..64.
#pragma once

#include <cstdint>
#include <span>

#include "dagsync/bytes.h"
#include "dagsync/ids.h"
#include "dagsync/limits.h"

namespace dagsync {

class BloomFilter {
 public:
  static constexpr std::uint32_t kDefaultBitsPerEntry = 10;
  static constexpr std::uint32_t kDefaultProbes = 7;

  BloomFilter() = default;  // empty: contains nothing
  explicit BloomFilter(std::span<const ChangeHash> hashes,
                       std::uint32_t bits_per_entry = kDefaultBitsPerEntry,
                       std::uint32_t probes = kDefaultProbes);

  void add(const ChangeHash& hash);
  bool contains(const ChangeHash& hash) const;

  std::uint32_t entries() const { return entries_; }
  std::uint32_t bits_per_entry() const { return bits_per_entry_; }
  std::uint32_t probes() const { return probes_; }
  const Bytes& bits() const { return bits_; }
  bool empty() const { return entries_ == 0; }
  bool operator==(const BloomFilter&) const = default;

  // Rebuilds a filter from its wire fields (docs/protocol.md). Throws DecodeError when a
  // parameter is outside `limits` or the bit array is not exactly as long as they imply.
  static BloomFilter from_parts(std::uint32_t entries, std::uint32_t bits_per_entry,
                                std::uint32_t probes, Bytes bits, const SyncLimits& limits);

  // Length in bytes of the bit array for these parameters.
  static std::uint64_t byte_length(std::uint64_t entries, std::uint32_t bits_per_entry);

 private:
  void probe_positions(const ChangeHash& hash, std::uint32_t* out) const;

  std::uint32_t entries_ = 0;
  std::uint32_t bits_per_entry_ = kDefaultBitsPerEntry;
  std::uint32_t probes_ = kDefaultProbes;
  Bytes bits_;
};

}  // namespace dagsync
