// Sync message encoding: msgpack array
//   [version=1, heads: [bin32] sorted, need: [bin32] sorted,
//    have: [[last_sync: [bin32] sorted, [entries, bits_per_entry, probes, bits: bin]]...],
//    changes: [bin...]]
#include "dagsync/sync_message.h"

#include <algorithm>

#include "msgpack_io.h"

namespace dagsync {

namespace {
// Hash lists travel sorted and distinct; a message assembled by hand may not be.
std::vector<ChangeHash> canonical(const std::vector<ChangeHash>& v) {
  std::vector<ChangeHash> out = v;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}
}  // namespace

Bytes SyncMessage::encode() const {
  Bytes out;
  out.reserve(64 + (heads.size() + need.size()) * 34 + change_bytes() + changes.size() * 5);
  MsgpackWriter w(out);
  w.array(5);
  w.uint(kVersion);
  w.id_array(canonical(heads));
  w.id_array(canonical(need));
  w.array(static_cast<std::uint32_t>(have.size()));
  for (const Have& h : have) {
    w.array(2);
    w.id_array(canonical(h.last_sync));
    w.array(4);
    w.uint(h.bloom.entries());
    w.uint(h.bloom.bits_per_entry());
    w.uint(h.bloom.probes());
    w.bin(h.bloom.bits());
  }
  w.array(static_cast<std::uint32_t>(changes.size()));
  for (const Change& c : changes) w.bin(c.bytes());
  return out;
}

SyncMessage SyncMessage::decode(ByteView bytes, const SyncLimits& limits) {
  if (bytes.size() > limits.max_message_bytes) {
    throw DecodeError("sync message: " + std::to_string(bytes.size()) + " bytes exceed limit " +
                      std::to_string(limits.max_message_bytes));
  }
  auto max_hashes = limit32(limits.max_hashes);
  MsgpackReader r(bytes, "sync message");
  if (r.array("fields", 5) != 5) r.fail("fields", "expected 5 fields");
  std::uint64_t version = r.uint("version");
  if (version != kVersion) r.fail("version", "unsupported version " + std::to_string(version));
  SyncMessage m;
  r.sorted_ids<ChangeHash>("heads", max_hashes, m.heads);
  r.sorted_ids<ChangeHash>("need", max_hashes, m.need);
  std::uint32_t haves = r.array("have", limit32(limits.max_haves));
  m.have.reserve(haves);
  for (std::uint32_t i = 0; i < haves; ++i) {
    Have h;
    if (r.array("have entry", 2) != 2) r.fail("have entry", "expected [last_sync, bloom]");
    r.sorted_ids<ChangeHash>("have.last_sync", max_hashes, h.last_sync);
    if (r.array("have.bloom", 4) != 4) r.fail("have.bloom", "expected 4 fields");
    std::uint32_t entries = r.uint32("bloom.entries");
    std::uint32_t bits_per_entry = r.uint32("bloom.bits_per_entry");
    std::uint32_t probes = r.uint32("bloom.probes");
    // The bit array may not exceed what the (already limited) parameters imply.
    std::uint64_t max_bits =
        BloomFilter::byte_length(limits.max_bloom_entries, limits.max_bloom_bits_per_entry);
    ByteView bits = r.bin("bloom.bits", static_cast<std::size_t>(max_bits));
    try {
      h.bloom = BloomFilter::from_parts(entries, bits_per_entry, probes,
                                        Bytes(bits.begin(), bits.end()), limits);
    } catch (const DecodeError& e) {
      r.fail("have[" + std::to_string(i) + "].bloom", e.what());
    }
    m.have.push_back(std::move(h));
  }
  std::uint32_t n = r.array("changes", limit32(limits.max_changes));
  m.changes.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    ByteView b = r.bin("changes", limits.change.max_change_bytes);
    try {
      m.changes.push_back(Change::decode(b, limits.change));
    } catch (const DecodeError& e) {
      throw DecodeError("sync message: change " + std::to_string(i) + ": " + e.what());
    }
  }
  r.expect_end();
  return m;
}

std::size_t SyncMessage::change_bytes() const {
  std::size_t n = 0;
  for (const Change& c : changes) n += c.bytes().size();
  return n;
}

}  // namespace dagsync
