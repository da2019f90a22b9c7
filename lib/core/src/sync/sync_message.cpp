// Sync message encoding (version 3): msgpack array
//   [version=3, heads: hashes, need: hashes,
//    have: [[last_sync: hashes, [entries, bits_per_entry, probes, bits: bin]]...],
//    changes: bin (canonical change encodings back to back; each is self-delimiting),
//    summary: nil | [[hashes, actors: bin (16-byte ids, sorted), seqs: [uint >= 1]]...],
//    flags: uint (bit 0: want_filter, bit 1: complete, bit 2: resend),
//    received: uint (the recipient's messages the sender had received)]
// where `hashes` is a bin of 32-byte hashes, sorted and distinct. Packing ids into one bin
// instead of one bin each saves 2 bytes per id and 3 per change (docs/protocol.md).
// Versions 1 (one bin per hash and per change, no summary) and 2 (no complete or resend flag,
// no received count) are refused with their number.
#include "dagsync/sync_message.h"

#include <algorithm>

#include "encoding/hash_list.h"
#include "encoding/msgpack_io.h"
#include "sync/wire_size.h"

namespace dagsync {

namespace {
template <typename Id, typename Range>
void write_ids(MsgpackWriter& w, const Range& ids) {
  Bytes packed;
  packed.reserve(ids.size() * Id::kSize);
  for (const auto& id : ids) packed.insert(packed.end(), id.bytes.begin(), id.bytes.end());
  w.bin(packed);
}

template <typename Id>
void read_ids(MsgpackReader& r, std::string_view field, std::size_t max, bool sorted,
              std::vector<Id>& out) {
  ByteView b = r.bin(field, max > SIZE_MAX / Id::kSize ? SIZE_MAX : max * Id::kSize);
  if (b.size() % Id::kSize != 0) {
    r.fail(field, std::to_string(b.size()) + " bytes is not a whole number of ids");
  }
  out.reserve(b.size() / Id::kSize);
  for (std::size_t at = 0; at < b.size(); at += Id::kSize) {
    Id id;
    std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(at), Id::kSize, id.bytes.begin());
    if (sorted && !out.empty() && !(out.back() < id)) r.fail(field, "not sorted and distinct");
    out.push_back(id);
  }
}

Summary decode_summary(MsgpackReader& r, const SyncLimits& limits) {
  Summary summary;
  std::uint32_t levels = r.array("summary", limit32(limits.max_summary_levels));
  std::size_t actors_left = limits.max_summary_actors;
  summary.levels.reserve(levels);
  for (std::uint32_t i = 0; i < levels; ++i) {
    SummaryLevel level;
    if (r.array("summary level", 3) != 3)
      r.fail("summary level", "expected [hashes, actors, seqs]");
    read_ids(r, "summary.hashes", limits.max_hashes, true, level.hashes);
    std::vector<ActorId> actors;
    read_ids(r, "summary.actors", actors_left, true, actors);
    actors_left -= actors.size();
    auto n = static_cast<std::uint32_t>(actors.size());
    if (r.array("summary.seqs", n) != n) r.fail("summary.seqs", "one seq per actor expected");
    for (const ActorId& actor : actors) {
      std::uint64_t seq = r.uint("summary.seq");
      if (seq == 0) r.fail("summary.seq", "must be at least 1");
      level.actors.set(actor, seq);
    }
    summary.levels.push_back(std::move(level));
  }
  return summary;
}

}  // namespace

Bytes SyncMessage::encode() const {
  Bytes out;
  std::size_t change_total = change_bytes();
  // Room, too, for the envelope header that the session layer frames in front of the message
  // in this same buffer (one copy less per part of a backlog); document ids are short.
  constexpr std::size_t kFrameHeadroom = 256;
  out.reserve(sync_message_size_without_changes(*this) + changes_field_size(change_total) +
              kFrameHeadroom);
  MsgpackWriter w(out);
  w.array(kSyncMessageFields);
  w.uint(kVersion);
  // Hash lists travel sorted and distinct; a message assembled by hand may not be.
  write_ids<ChangeHash>(w, sorted_unique(heads));
  write_ids<ChangeHash>(w, sorted_unique(need));
  w.array(static_cast<std::uint32_t>(have.size()));
  for (const Have& h : have) {
    w.array(2);
    write_ids<ChangeHash>(w, sorted_unique(h.last_sync));
    w.array(4);
    w.uint(h.bloom.entries());
    w.uint(h.bloom.bits_per_entry());
    w.uint(h.bloom.probes());
    w.bin(h.bloom.bits());
  }
  // One bin header for all changes, then the encodings themselves (no intermediate copy).
  w.bin_header(static_cast<std::uint32_t>(change_total));
  for (const Change& c : changes) out.insert(out.end(), c.bytes().begin(), c.bytes().end());
  if (summary) {
    w.array(static_cast<std::uint32_t>(summary->levels.size()));
    for (const SummaryLevel& level : summary->levels) {
      w.array(3);
      write_ids<ChangeHash>(w, sorted_unique(level.hashes));
      std::vector<ActorId> actors;
      for (const auto& [actor, seq] : level.actors.entries()) actors.push_back(actor);
      write_ids<ActorId>(w, actors);
      w.array(static_cast<std::uint32_t>(actors.size()));
      for (const auto& [actor, seq] : level.actors.entries()) w.uint(seq);
    }
  } else {
    w.nil();
  }
  w.uint(message_flags(*this));
  w.uint(received);
  return out;
}

SyncMessage SyncMessage::decode(ByteView bytes, const SyncLimits& limits) {
  check_input_size("sync message", bytes.size(), limits.max_message_bytes);
  MsgpackReader r(bytes, "sync message");
  r.versioned_array(kVersion, kSyncMessageFields, kSyncMessageFields);
  SyncMessage m;
  read_ids(r, "heads", limits.max_hashes, true, m.heads);
  read_ids(r, "need", limits.max_hashes, true, m.need);
  std::uint32_t haves = r.array("have", limit32(limits.max_haves));
  m.have.reserve(haves);
  for (std::uint32_t i = 0; i < haves; ++i) {
    Have h;
    if (r.array("have entry", 2) != 2) r.fail("have entry", "expected [last_sync, bloom]");
    read_ids(r, "have.last_sync", limits.max_hashes, true, h.last_sync);
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
  ByteView packed = r.bin("changes", limits.max_message_bytes);
  for (std::size_t at = 0, i = 0; at < packed.size(); ++i) {
    if (m.changes.size() >= limits.max_changes) {
      r.fail("changes", "more than " + std::to_string(limits.max_changes) + " changes");
    }
    try {
      std::size_t used = 0;
      m.changes.push_back(Change::decode_prefix(packed.subspan(at), used, limits.change));
      at += used;
    } catch (const DecodeError& e) {
      throw DecodeError("sync message: change " + std::to_string(i) + ": " + e.what());
    }
  }
  if (r.is_nil()) {
    r.nil("summary");
  } else {
    m.summary = decode_summary(r, limits);
  }
  std::uint64_t flags = r.uint("flags");
  if (flags & ~kKnownFlags) r.fail("flags", "unknown flag bits " + std::to_string(flags));
  m.want_filter = (flags & kWantFilterFlag) != 0;
  m.complete = (flags & kCompleteFlag) != 0;
  m.resend = (flags & kResendFlag) != 0;
  m.received = r.uint("received");
  r.expect_end();
  return m;
}

std::size_t SyncMessage::change_bytes() const {
  std::size_t n = 0;
  for (const Change& c : changes) n += c.bytes().size();
  return n;
}

}  // namespace dagsync
