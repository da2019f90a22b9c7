// Automerge's sync message, Bloom filter and sync state encodings (docs/automerge.md):
//   message: version (0x42 V1, 0x43 V2) | heads | need | have* | changes* | [trailer]
//   hash list: uLEB count, 32-byte hashes sorted ascending
//   have: last_sync hash list | uLEB length + Bloom filter bytes
//   changes: uLEB count, each uLEB length + chunk bytes
//   trailer: present iff bytes remain; uLEB length + bytes (capabilities and flags)
//   state: 0x43 | hash list (the shared heads)
#include <algorithm>
#include <cstring>

#include "automerge/leb128.h"
#include "dagsync/automerge/sync.h"
#include "dagsync/error.h"

namespace dagsync::automerge {

namespace {
constexpr std::uint8_t kStateType = 0x43;
constexpr std::uint8_t kBitfield = 0x80;  // a trailer byte with this bit carries flags
constexpr std::uint8_t kFlagSyncReset = 0x01;
constexpr std::uint8_t kFlagReadOnly = 0x02;
constexpr std::uint8_t kFlagSupportsSyncReset = 0x04;

void write_hashes(Bytes& out, std::span<const ChangeHash> hashes) {
  write_uleb(out, hashes.size());
  for (const auto& h : hashes) out.insert(out.end(), h.bytes.begin(), h.bytes.end());
}

std::vector<ChangeHash> read_hashes(LebReader& r, std::string_view field,
                                    const SyncLimits& limits) {
  std::size_t n = r.count(field, limits.max_hashes);
  ByteView all = r.take(field, n * ChangeHash::kSize);
  std::vector<ChangeHash> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::memcpy(out[i].bytes.data(), all.data() + i * ChangeHash::kSize, ChangeHash::kSize);
    if (i > 0 && !(out[i - 1] < out[i])) r.fail(field, "hashes not sorted and distinct");
  }
  return out;
}
}  // namespace

Bytes encode_bloom(const BloomFilter& filter) {
  Bytes out;
  if (filter.empty()) return out;
  write_uleb(out, filter.entries());
  write_uleb(out, filter.bits_per_entry());
  write_uleb(out, filter.probes());
  out.insert(out.end(), filter.bits().begin(), filter.bits().end());
  return out;
}

BloomFilter decode_bloom(ByteView bytes, const SyncLimits& limits) {
  if (bytes.empty()) return BloomFilter();
  LebReader r(bytes, "automerge bloom filter");
  std::uint32_t entries = r.uleb32("entries");
  std::uint32_t bits_per_entry = r.uleb32("bits per entry");
  std::uint32_t probes = r.uleb32("probes");
  if (entries == 0) r.fail("entries", "0 entries in a non-empty filter");
  // from_parts checks the parameters against the limits before the bits are looked at.
  if (entries > limits.max_bloom_entries || bits_per_entry == 0 ||
      bits_per_entry > limits.max_bloom_bits_per_entry) {
    return BloomFilter::from_parts(entries, bits_per_entry, probes, {}, limits);
  }
  std::uint64_t len = BloomFilter::byte_length(entries, bits_per_entry);
  if (len != r.remaining()) {
    r.fail("bits",
           std::to_string(r.remaining()) + " bytes, the parameters imply " + std::to_string(len));
  }
  ByteView bits = r.take("bits", len);
  return BloomFilter::from_parts(entries, bits_per_entry, probes, Bytes(bits.begin(), bits.end()),
                                 limits);
}

Bytes SyncMessage::encode() const {
  Bytes out{kV1};
  write_hashes(out, heads);
  write_hashes(out, need);
  write_uleb(out, have.size());
  for (const auto& h : have) {
    write_hashes(out, h.last_sync);
    Bytes bloom = encode_bloom(h.bloom);
    write_uleb(out, bloom.size());
    out.insert(out.end(), bloom.begin(), bloom.end());
  }
  write_uleb(out, changes.size());
  for (const auto& c : changes) {
    write_uleb(out, c.bytes().size());
    out.insert(out.end(), c.bytes().begin(), c.bytes().end());
  }
  return out;
}

SyncMessage SyncMessage::decode(ByteView bytes, const SyncLimits& limits) {
  if (bytes.size() > limits.max_message_bytes) {
    throw DecodeError("automerge sync message: " + std::to_string(bytes.size()) +
                      " bytes exceed limit " + std::to_string(limits.max_message_bytes));
  }
  LebReader r(bytes, "automerge sync message");
  SyncMessage m;
  m.version = r.byte("version");
  if (m.version != kV1 && m.version != kV2) {
    r.fail("version", "unknown message type " + std::to_string(m.version));
  }
  m.heads = read_hashes(r, "heads", limits);
  m.need = read_hashes(r, "need", limits);
  std::size_t haves = r.count("have", limits.max_haves);
  for (std::size_t i = 0; i < haves; ++i) {
    Have h;
    h.last_sync = read_hashes(r, "last_sync", limits);
    h.bloom = decode_bloom(r.take("bloom", r.uleb("bloom")), limits);
    m.have.push_back(std::move(h));
  }
  std::size_t entries = r.count("changes", limits.max_changes);
  for (std::size_t i = 0; i < entries; ++i) {
    ByteView entry = r.take("changes", r.uleb("changes"));
    // An entry holds chunks back to back (Automerge joins all entries and loads them).
    while (!entry.empty()) {
      if (m.changes.size() == limits.max_changes) {
        r.fail("changes", "more than " + std::to_string(limits.max_changes) + " changes");
      }
      std::size_t used = 0;
      m.changes.push_back(Change::from_automerge_prefix(entry, used, limits.automerge));
      entry = entry.subspan(used);
    }
  }
  if (!r.at_end()) {
    ByteView t = r.take("trailer", r.uleb("trailer"));
    m.trailer = Bytes(t.begin(), t.end());
  }
  return m;
}

PeerFlags SyncMessage::flags() const {
  PeerFlags f;
  if (!trailer) return f;
  f.supports_v2 = true;
  std::uint8_t bits = 0;
  for (std::uint8_t b : *trailer) {
    if (b & kBitfield) bits |= b & 0x7f;  // bytes below 0x80 are legacy capabilities
  }
  f.sync_reset = bits & kFlagSyncReset;
  f.read_only = bits & kFlagReadOnly;
  f.supports_sync_reset = bits & kFlagSupportsSyncReset;
  return f;
}

Bytes SyncState::encode() const {
  Bytes out{kStateType};
  write_hashes(out, shared_heads);
  return out;
}

SyncState SyncState::decode(ByteView bytes, const SyncLimits& limits) {
  LebReader r(bytes, "automerge sync state");
  std::uint8_t type = r.byte("type");
  if (type != kStateType) r.fail("type", "not a sync state (" + std::to_string(type) + ")");
  SyncState s;
  s.shared_heads = read_hashes(r, "shared heads", limits);
  if (!r.at_end()) r.fail("shared heads", std::to_string(r.remaining()) + " bytes after them");
  s.their_have = std::vector<Have>{};
  return s;
}

}  // namespace dagsync::automerge
