#include "dagsync/bloom_filter.h"

#include <algorithm>
#include <cstring>

#include "dagsync/error.h"

namespace dagsync {

namespace {
std::uint32_t read_le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}
}  // namespace

std::uint64_t BloomFilter::byte_length(std::uint64_t entries, std::uint32_t bits_per_entry) {
  return (entries * bits_per_entry + 7) / 8;
}

BloomFilter::BloomFilter(std::span<const ChangeHash> hashes, std::uint32_t bits_per_entry,
                         std::uint32_t probes)
    : entries_(static_cast<std::uint32_t>(hashes.size())),
      bits_per_entry_(bits_per_entry),
      probes_(probes) {
  if (bits_per_entry == 0 || probes == 0 || probes > 64) {
    throw Error("BloomFilter: bits per entry must be positive and probes within 1..64");
  }
  bits_.assign(byte_length(entries_, bits_per_entry_), 0);
  for (const auto& h : hashes) add(h);
}

void BloomFilter::probe_positions(const ChangeHash& hash, std::uint32_t* out) const {
  // Modulo arithmetic in 64 bits: m may exceed 2^31, so x + y must not wrap.
  const std::uint64_t m = std::uint64_t(bits_.size()) * 8;
  std::uint64_t x = read_le32(hash.bytes.data()) % m;
  std::uint64_t y = read_le32(hash.bytes.data() + 4) % m;
  const std::uint64_t z = read_le32(hash.bytes.data() + 8) % m;
  out[0] = static_cast<std::uint32_t>(x);
  for (std::uint32_t i = 1; i < probes_; ++i) {
    x = (x + y) % m;
    y = (y + z) % m;
    out[i] = static_cast<std::uint32_t>(x);
  }
}

void BloomFilter::add(const ChangeHash& hash) {
  if (bits_.empty()) throw Error("BloomFilter::add: filter was sized for no entries");
  std::uint32_t pos[64];
  probe_positions(hash, pos);
  for (std::uint32_t i = 0; i < probes_; ++i)
    bits_[pos[i] >> 3] |= std::uint8_t(1u << (pos[i] & 7));
}

bool BloomFilter::contains(const ChangeHash& hash) const {
  if (entries_ == 0 || bits_.empty()) return false;
  std::uint32_t pos[64];
  probe_positions(hash, pos);
  for (std::uint32_t i = 0; i < probes_; ++i) {
    if ((bits_[pos[i] >> 3] & (1u << (pos[i] & 7))) == 0) return false;
  }
  return true;
}

BloomFilter BloomFilter::from_parts(std::uint32_t entries, std::uint32_t bits_per_entry,
                                    std::uint32_t probes, Bytes bits, const SyncLimits& limits) {
  auto fail = [](const std::string& what) { throw DecodeError("bloom filter: " + what); };
  if (entries > limits.max_bloom_entries) {
    fail(std::to_string(entries) + " entries exceed limit " +
         std::to_string(limits.max_bloom_entries));
  }
  if (bits_per_entry == 0 || bits_per_entry > limits.max_bloom_bits_per_entry) {
    fail("bits per entry " + std::to_string(bits_per_entry) + " outside 1.." +
         std::to_string(limits.max_bloom_bits_per_entry));
  }
  std::uint32_t max_probes = std::min<std::uint32_t>(limits.max_bloom_probes, 64);
  if (probes == 0 || probes > max_probes) {
    fail("probe count " + std::to_string(probes) + " outside 1.." + std::to_string(max_probes));
  }
  if (entries == 0) {
    if (!bits.empty()) fail("no entries but " + std::to_string(bits.size()) + " bytes of bits");
    BloomFilter empty;
    empty.bits_per_entry_ = bits_per_entry;
    empty.probes_ = probes;
    return empty;
  }
  std::uint64_t expected = byte_length(entries, bits_per_entry);
  if (bits.size() != expected) {
    fail(std::to_string(bits.size()) + " bytes of bits, parameters imply " +
         std::to_string(expected));
  }
  if (expected * 8 > UINT32_MAX) fail("bit array too large");
  BloomFilter f;
  f.entries_ = entries;
  f.bits_per_entry_ = bits_per_entry;
  f.probes_ = probes;
  f.bits_ = std::move(bits);
  return f;
}

}  // namespace dagsync
