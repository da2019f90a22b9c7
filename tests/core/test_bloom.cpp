// BloomFilter: no false negatives, the expected false-positive rate, the probe derivation
// (docs/conformance.md, "Bloom filter probe positions") bit for bit, and from_parts() refusing
// absurd wire parameters.
#include <cstdint>
#include <string>
#include <vector>

#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

// Deterministic, well-spread hashes: SHA-256 of a tagged counter.
ChangeHash counter_hash(std::uint64_t i, const std::string& tag = "bloom") {
  return sha256(as_bytes(tag + " " + std::to_string(i)));
}

std::vector<ChangeHash> counter_hashes(std::uint64_t begin, std::uint64_t end,
                                       const std::string& tag = "bloom") {
  std::vector<ChangeHash> out;
  out.reserve(end - begin);
  for (std::uint64_t i = begin; i < end; ++i) out.push_back(counter_hash(i, tag));
  return out;
}

std::uint32_t le32(const ChangeHash& h, std::size_t offset) {
  return std::uint32_t(h.bytes[offset]) | std::uint32_t(h.bytes[offset + 1]) << 8 |
         std::uint32_t(h.bytes[offset + 2]) << 16 | std::uint32_t(h.bytes[offset + 3]) << 24;
}

// The probe positions of docs/conformance.md, written out independently of the library: x, y,
// z are the little-endian u32s at bytes 0, 4 and 8, each mod m; then x += y, y += z (mod m).
std::vector<std::uint64_t> reference_probes(const ChangeHash& h, std::uint64_t m,
                                            std::uint32_t probes) {
  std::uint64_t x = le32(h, 0) % m;
  std::uint64_t y = le32(h, 4) % m;
  std::uint64_t z = le32(h, 8) % m;
  std::vector<std::uint64_t> out{x};
  for (std::uint32_t i = 1; i < probes; ++i) {
    x = (x + y) % m;
    y = (y + z) % m;
    out.push_back(x);
  }
  return out;
}

// The bit array with exactly `positions` set; bit p is bit (p % 8) of byte p / 8.
Bytes bits_with(std::size_t bytes, const std::vector<std::uint64_t>& positions) {
  Bytes out(bytes, 0);
  for (std::uint64_t p : positions) out[p / 8] |= std::uint8_t(1u << (p % 8));
  return out;
}

ChangeHash hash_with_prefix(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  ChangeHash h;
  h.bytes.fill(0xee);  // the tail must not matter
  for (int i = 0; i < 4; ++i) {
    h.bytes[i] = std::uint8_t(x >> (8 * i));
    h.bytes[4 + i] = std::uint8_t(y >> (8 * i));
    h.bytes[8 + i] = std::uint8_t(z >> (8 * i));
  }
  return h;
}

// A filter of `entries` entries at the default parameters with no bit set.
BloomFilter blank_filter(std::uint32_t entries) {
  return BloomFilter::from_parts(entries, 10, 7, Bytes(BloomFilter::byte_length(entries, 10), 0),
                                 SyncLimits{});
}

}  // namespace

TEST_CASE("bloom: no false negatives") {
  auto hashes = counter_hashes(0, 10'000);
  BloomFilter f(hashes);
  CHECK(f.entries() == 10'000);
  CHECK(f.bits_per_entry() == BloomFilter::kDefaultBitsPerEntry);
  CHECK(f.probes() == BloomFilter::kDefaultProbes);
  CHECK(f.bits().size() == BloomFilter::byte_length(10'000, 10));
  std::size_t missing = 0;
  for (const auto& h : hashes) missing += f.contains(h) ? 0 : 1;
  CHECK(missing == 0);

  // Also for tiny filters, where almost every bit is set and positions wrap often.
  for (std::uint64_t n = 1; n <= 20; ++n) {
    auto few = counter_hashes(0, n, "tiny");
    BloomFilter small(few);
    for (const auto& h : few) CHECK(small.contains(h));
  }
}

TEST_CASE("bloom: false-positive rate is about 1% at 10 bits per entry") {
  auto inserted = counter_hashes(0, 100'000, "inserted");
  BloomFilter f(inserted);
  std::size_t false_positives = 0;
  const std::size_t probes = 100'000;
  for (std::uint64_t i = 0; i < probes; ++i) {
    if (f.contains(counter_hash(i, "other"))) ++false_positives;
  }
  double rate = double(false_positives) / double(probes);
  MESSAGE("measured false-positive rate: " << rate * 100 << "% (" << false_positives << " of "
                                           << probes << ")");
  CHECK(rate > 0.003);
  CHECK(rate < 0.02);

  // More bits per entry, fewer false positives.
  BloomFilter wide(inserted, 20, 7);
  std::size_t wide_fp = 0;
  for (std::uint64_t i = 0; i < probes; ++i) {
    if (wide.contains(counter_hash(i, "other"))) ++wide_fp;
  }
  MESSAGE("at 20 bits per entry: " << double(wide_fp) / double(probes) * 100 << "%");
  CHECK(wide_fp < false_positives);
  for (const auto& h : inserted) {
    if (!wide.contains(h)) {
      FAIL("false negative at 20 bits per entry");
      break;
    }
  }
}

TEST_CASE("bloom: an empty filter contains nothing") {
  BloomFilter def;
  CHECK(def.empty());
  CHECK(def.entries() == 0);
  CHECK(def.bits().empty());
  BloomFilter none(std::span<const ChangeHash>{});
  CHECK(none.empty());
  CHECK(none.bits().empty());
  CHECK(none == def);
  for (const auto& h : counter_hashes(0, 1000)) {
    CHECK_FALSE(def.contains(h));
    CHECK_FALSE(none.contains(h));
  }
  ChangeHash zero;
  CHECK_FALSE(def.contains(zero));

  // A filter sized for no entries cannot take one.
  CHECK_THROWS_AS(def.add(counter_hash(1)), Error);
}

TEST_CASE("bloom: probe positions follow the documented derivation bit for bit") {
  // 100 entries at 10 bits: m = 1000 bits.
  const std::uint32_t entries = 100;
  const std::uint64_t m = 1000;
  REQUIRE(BloomFilter::byte_length(entries, 10) * 8 == m);

  SUBCASE("small x, y, z: positions worked out by hand") {
    // x = 1, y = 2, z = 3: 1; x=3,y=5; x=8,y=8; x=16,y=11; x=27,y=14; x=41,y=17; x=58.
    ChangeHash h = hash_with_prefix(1, 2, 3);
    BloomFilter f = blank_filter(entries);
    f.add(h);
    CHECK(f.bits() == bits_with(125, {1, 3, 8, 16, 27, 41, 58}));
    CHECK(f.contains(h));
  }
  SUBCASE("values near m wrap modulo m") {
    // x = y = z = 999: 999; 998 (y 998); 996 (y 997); 993 (y 996); 989 (y 995); 984 (y 994);
    // 978.
    ChangeHash h = hash_with_prefix(999, 999, 999);
    BloomFilter f = blank_filter(entries);
    f.add(h);
    CHECK(f.bits() == bits_with(125, {999, 998, 996, 993, 989, 984, 978}));
  }
  SUBCASE("the words are little-endian and reduced mod m first") {
    // Bytes e9 03 00 00 are 1001 little-endian (1 mod 1000), 0xe9030000 big-endian.
    // x = 1001 -> 1, y = 2002 -> 2, z = 4294967295 -> 295:
    // 1; x=3,y=297; x=300,y=592; x=892,y=887; x=779,y=182; x=961,y=477; x=438.
    ChangeHash h = hash_with_prefix(1001, 2002, 0xffffffffu);
    BloomFilter f = blank_filter(entries);
    f.add(h);
    CHECK(f.bits() == bits_with(125, {1, 3, 300, 892, 779, 961, 438}));
  }
  SUBCASE("real hashes match the reference derivation") {
    for (std::uint64_t i = 0; i < 50; ++i) {
      ChangeHash h = counter_hash(i, "probe");
      BloomFilter f = blank_filter(entries);
      f.add(h);
      CHECK(f.bits() == bits_with(125, reference_probes(h, m, 7)));
    }
    // And for a filter built from a list: the union of every hash's probes.
    auto hashes = counter_hashes(0, 37, "list");
    BloomFilter built(hashes);
    const std::uint64_t built_m = BloomFilter::byte_length(37, 10) * 8;
    std::vector<std::uint64_t> all;
    for (const auto& h : hashes) {
      auto p = reference_probes(h, built_m, 7);
      all.insert(all.end(), p.begin(), p.end());
    }
    CHECK(built.bits() == bits_with(built.bits().size(), all));
  }
  SUBCASE("contains() tests exactly those positions") {
    ChangeHash h = hash_with_prefix(1, 2, 3);
    auto bits = bits_with(125, {1, 3, 8, 16, 27, 41, 58});
    CHECK(BloomFilter::from_parts(entries, 10, 7, bits, SyncLimits{}).contains(h));
    for (std::uint64_t drop : {1, 3, 8, 16, 27, 41, 58}) {
      Bytes less = bits;
      less[drop / 8] &= std::uint8_t(~(1u << (drop % 8)));
      CHECK_FALSE(BloomFilter::from_parts(entries, 10, 7, less, SyncLimits{}).contains(h));
    }
  }
}

TEST_CASE("bloom: byte_length rounds the bit count up to whole bytes") {
  CHECK(BloomFilter::byte_length(0, 10) == 0);
  CHECK(BloomFilter::byte_length(1, 10) == 2);
  CHECK(BloomFilter::byte_length(4, 10) == 5);
  CHECK(BloomFilter::byte_length(100, 10) == 125);
  CHECK(BloomFilter::byte_length(3, 1) == 1);
  CHECK(BloomFilter::byte_length(9, 1) == 2);
  CHECK(BloomFilter::byte_length(10'000'000, 64) == 80'000'000);
}

TEST_CASE("bloom: from_parts rebuilds a filter from its wire fields") {
  auto hashes = counter_hashes(0, 500);
  BloomFilter f(hashes, 12, 5);
  BloomFilter g =
      BloomFilter::from_parts(f.entries(), f.bits_per_entry(), f.probes(), f.bits(), SyncLimits{});
  CHECK(g == f);
  for (const auto& h : hashes) CHECK(g.contains(h));

  BloomFilter empty = BloomFilter::from_parts(0, 10, 7, {}, SyncLimits{});
  CHECK(empty.empty());
  CHECK(empty == BloomFilter{});
  CHECK_FALSE(empty.contains(hashes[0]));
}

TEST_CASE("bloom: from_parts rejects absurd parameters") {
  const SyncLimits limits;
  auto rejects = [&](std::uint32_t entries, std::uint32_t bits_per_entry, std::uint32_t probes,
                     std::size_t bytes, const char* needle) {
    CAPTURE(entries);
    CAPTURE(bits_per_entry);
    CAPTURE(probes);
    CAPTURE(bytes);
    CHECK_THROWS_WITH_AS(
        BloomFilter::from_parts(entries, bits_per_entry, probes, Bytes(bytes, 0), limits),
        doctest::Contains(needle), DecodeError);
  };
  // Zero bits per entry (the bit array would be empty), and more than the limit.
  rejects(10, 0, 7, 0, "bits per entry 0");
  rejects(10, 0, 7, 13, "bits per entry 0");
  rejects(10, limits.max_bloom_bits_per_entry + 1, 7,
          BloomFilter::byte_length(10, limits.max_bloom_bits_per_entry + 1), "bits per entry");
  rejects(10, UINT32_MAX, 7, 16, "bits per entry");
  // Zero probes, a billion probes, just over the limit.
  rejects(10, 10, 0, 13, "probe count 0");
  rejects(10, 10, 1'000'000'000, 13, "probe count 1000000000");
  rejects(10, 10, limits.max_bloom_probes + 1, 13, "probe count");
  // More entries than allowed.
  rejects(limits.max_bloom_entries + 1, 10, 7, 0, "entries exceed limit");
  rejects(UINT32_MAX, 1, 1, 0, "entries exceed limit");
  // A bit array whose length does not match entries * bits_per_entry / 8.
  rejects(100, 10, 7, 124, "parameters imply 125");
  rejects(100, 10, 7, 126, "parameters imply 125");
  rejects(100, 10, 7, 0, "parameters imply 125");
  rejects(1, 10, 7, 1, "parameters imply 2");
  rejects(0, 10, 7, 1, "no entries");

  // The limits themselves are the caller's.
  SyncLimits tight;
  tight.max_bloom_entries = 50;
  tight.max_bloom_probes = 3;
  CHECK_THROWS_AS(BloomFilter::from_parts(51, 10, 3, Bytes(64, 0), tight), DecodeError);
  CHECK_THROWS_AS(BloomFilter::from_parts(50, 10, 4, Bytes(63, 0), tight), DecodeError);
  CHECK_NOTHROW(BloomFilter::from_parts(50, 10, 3, Bytes(63, 0), tight));

  // Limits allow at most 64 probes whatever the caller asks (the probe buffer's size).
  SyncLimits loose;
  loose.max_bloom_probes = 1000;
  CHECK_THROWS_AS(BloomFilter::from_parts(10, 10, 65, Bytes(13, 0), loose), DecodeError);
  CHECK_NOTHROW(BloomFilter::from_parts(10, 10, 64, Bytes(13, 0), loose));
}

TEST_CASE("bloom: the constructor refuses parameters it cannot use") {
  auto hashes = counter_hashes(0, 3);
  CHECK_THROWS_AS(BloomFilter(hashes, 0, 7), Error);
  CHECK_THROWS_AS(BloomFilter(hashes, 10, 0), Error);
  CHECK_THROWS_AS(BloomFilter(hashes, 10, 65), Error);
  BloomFilter ok(hashes, 10, 64);
  for (const auto& h : hashes) CHECK(ok.contains(h));
}

TEST_CASE("bloom: adding hashes one by one equals building from the list") {
  auto hashes = counter_hashes(0, 64);
  BloomFilter built(hashes);
  BloomFilter incremental = blank_filter(64);
  for (const auto& h : hashes) incremental.add(h);
  CHECK(incremental.bits() == built.bits());
  CHECK(incremental == built);
}
