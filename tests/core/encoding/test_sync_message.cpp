// The SyncMessage codec: round trip with several haves and changes, decode errors and limits,
// and the canonical (sorted, deduplicated) hash lists of encode().
#include <algorithm>
#include <string>
#include <vector>

#include "golden_change.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("encoding: sync message round trip with several haves and changes") {
  std::vector<Change> changes;
  for (int i = 0; i < 3; ++i) {
    ChangeFields f = golden_fields();
    f.seq = static_cast<std::uint64_t>(i + 1);
    if (i > 0) f.deps = {changes.back().hash()};
    f.payload = text("change " + std::to_string(i));
    changes.push_back(Change::build(f));
  }
  std::vector<ChangeHash> filtered = {hash_n(10), hash_n(11), hash_n(12), hash_n(13)};

  SyncMessage m;
  m.heads = sorted({hash_n(1), hash_n(2)});
  m.need = {hash_n(3)};
  m.have.push_back(Have{});  // empty last_sync and filter
  m.have.push_back(Have{sorted({hash_n(4), hash_n(5)}), BloomFilter(filtered)});
  m.have.push_back(Have{{hash_n(6)}, BloomFilter(filtered, 20, 3)});  // non-default parameters
  m.changes = changes;
  m.complete = true;
  m.resend = true;
  m.received = 300;

  Bytes bytes = m.encode();
  SyncMessage d = SyncMessage::decode(bytes);
  CHECK(d.complete);
  CHECK(d.resend);
  CHECK_FALSE(d.want_filter);
  CHECK(d.received == 300);
  CHECK(d.heads == m.heads);
  CHECK(d.need == m.need);
  REQUIRE(d.have.size() == 3);
  CHECK(d.have == m.have);
  CHECK(d.have[2].bloom.bits_per_entry() == 20);
  CHECK(d.have[2].bloom.probes() == 3);
  for (const auto& h : filtered) {
    CHECK(d.have[1].bloom.contains(h));
    CHECK(d.have[2].bloom.contains(h));
  }
  CHECK(hashes_of(d.changes) == hashes_of(changes));
  CHECK(d.change_bytes() == m.change_bytes());
  std::size_t sum = 0;
  for (const auto& c : changes) sum += c.bytes().size();
  CHECK(m.change_bytes() == sum);
  CHECK(d.encode() == bytes);

  SyncMessage empty;
  CHECK(to_hex(empty.encode()) == "9803c400c40090c400c00000");
  SyncMessage e = SyncMessage::decode(empty.encode());
  CHECK(e.heads.empty());
  CHECK(e.need.empty());
  CHECK(e.have.empty());
  CHECK(e.changes.empty());
}

TEST_CASE("encoding: sync message decode errors") {
  Change golden = Change::build(golden_fields());
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     const SyncLimits& limits = {}) {
    INFO("bytes: " << to_hex(Bytes(b.begin(), b.begin() + std::min<std::size_t>(b.size(), 64))));
    try {
      SyncMessage::decode(b, limits);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("sync message: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  const Bytes e{0xc4, 0x00};           // an empty hash list, or no changes
  const Bytes tail{0xc0, 0x00, 0x00};  // no summary, no flags, nothing received

  rejected({0x95, 0x01, 0x90, 0x90, 0x90, 0x90}, {"version", "unsupported version 1"});
  rejected(cat({{0x97, 0x03}, e, e, {0x90}, e, {0xc0, 0x00}}), {"fields", "expected 8 fields"});
  // Version 2 (no complete or resend flags, no received count) is refused by its number.
  rejected(cat({{0x97, 0x02}, e, e, {0x90}, e, {0xc0, 0x00}}),
           {"version", "unsupported version 2"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, tail, {0x00}}), {"trailing"});
  rejected(cat({{0x98, 0x03}, hash_bin({hi, lo}), e, {0x90}, e, tail}), {"heads", "not sorted"});
  rejected(cat({{0x98, 0x03}, e, hash_bin({lo, lo}), {0x90}, e, tail}), {"need", "not sorted"});
  rejected(cat({{0x98, 0x03, 0xc4, 0x21}, repeat(33), e, {0x90}, e, tail}),
           {"heads", "not a whole number of ids"});
  rejected(cat({{0x98, 0x03}, e, e, {0xc0}, e, tail}), {"have", "expected array"});
  rejected(cat({{0x98, 0x03}, e, e, {0x91, 0x91}, e, e, tail}), {"have entry"});
  rejected(cat({{0x98, 0x03}, e, e, {0x91, 0x92}, e, {0x93, 0x00, 0x0a, 0x07}, e, tail}),
           {"have.bloom"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90, 0x90}, tail}), {"changes", "expected binary"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, {0x91, 0x92, 0xc4, 0x00, 0xc4, 0x00, 0x00}}),
           {"summary level", "expected [hashes, actors, seqs]"});
  const ActorId one = actor(1);
  const Bytes one_bytes(one.bytes.begin(), one.bytes.end());
  rejected(cat({{0x98, 0x03},
                e,
                e,
                {0x90},
                e,
                {0x91, 0x93, 0xc4, 0x00, 0xc4, 0x10},
                one_bytes,
                {0x90, 0x00, 0x00}}),
           {"summary.seqs", "one seq per actor"});
  rejected(cat({{0x98, 0x03},
                e,
                e,
                {0x90},
                e,
                {0x91, 0x93, 0xc4, 0x00, 0xc4, 0x10},
                one_bytes,
                {0x91, 0x00, 0x00, 0x00}}),
           {"summary.seq", "at least 1"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, {0xc0, 0x08, 0x00}}),
           {"flags", "unknown flag bits 8"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, {0xc0, 0x00, 0xc0}}), {"received", "expected"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, {0xc0, 0x00, 0xcc, 0x05}}), {"received"});
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, e, {0xc0, 0x00}}), {"received"});

  // A malformed change inside names its index and the change's own field; so does one cut
  // short by the end of the changes.
  Bytes bad_change(golden.bytes().begin(), golden.bytes().end());
  bad_change[20] = 0x00;  // seq 1 -> 0
  auto changes_bin = [](const Bytes& packed) {
    return pack([&](MsgpackWriter& w) { w.bin(packed); });
  };
  Bytes good(golden.bytes().begin(), golden.bytes().end());
  rejected(cat({{0x98, 0x03}, e, e, {0x90}, changes_bin(cat({good, bad_change})), tail}),
           {"change 1", "seq", "at least 1"});
  rejected(cat({{0x98, 0x03},
                e,
                e,
                {0x90},
                changes_bin(cat({good, Bytes(good.begin(), good.end() - 1)})),
                tail}),
           {"change 1"});

  // Limits.
  SyncMessage m;
  m.heads = {lo, hi};
  m.changes = {golden, golden};
  m.have = {Have{}, Have{}};
  Bytes bytes = m.encode();
  CHECK_NOTHROW(SyncMessage::decode(bytes));
  SyncLimits l;
  l.max_message_bytes = bytes.size() - 1;
  rejected(bytes, {"exceed limit"}, l);
  l = {};
  l.max_hashes = 1;
  rejected(bytes, {"heads", "exceeds limit 32"}, l);
  l = {};
  l.max_haves = 1;
  rejected(bytes, {"have", "exceeds limit 1"}, l);
  l = {};
  l.max_changes = 1;
  rejected(bytes, {"changes", "more than 1 changes"}, l);
  l = {};
  l.change.max_change_bytes = golden.bytes().size() - 1;
  rejected(bytes, {"change 0", "exceed"}, l);
  l = {};
  l.change.max_message_chars = 1;
  rejected(bytes, {"change 0", "message"}, l);

  SyncMessage with_summary;
  with_summary.summary = Summary{};
  for (int i = 0; i < 3; ++i) {
    SummaryLevel level;
    level.hashes = {hash_n(i)};
    level.actors.set(actor(i + 1), 5);
    level.actors.set(actor(i + 10), 7);
    with_summary.summary->levels.push_back(level);
  }
  bytes = with_summary.encode();
  CHECK(SyncMessage::decode(bytes).summary == with_summary.summary);
  CHECK(with_summary.summary->encoded_size() + 11 == bytes.size());
  l = {};
  l.max_summary_levels = 2;
  rejected(bytes, {"summary", "exceeds limit 2"}, l);
  l = {};
  l.max_summary_actors = 5;
  rejected(bytes, {"summary.actors", "exceeds limit"}, l);
}

TEST_CASE("encoding: SyncMessage::encode sorts and deduplicates its hash lists") {
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  SyncMessage m;
  m.heads = {hi, lo, hi};
  m.need = {hi, hi, lo};
  m.have.push_back(Have{{hi, lo, lo}, BloomFilter{}});
  SyncMessage d = SyncMessage::decode(m.encode());
  CHECK(d.heads == std::vector<ChangeHash>{lo, hi});
  CHECK(d.need == std::vector<ChangeHash>{lo, hi});
  REQUIRE(d.have.size() == 1);
  CHECK(d.have[0].last_sync == std::vector<ChangeHash>{lo, hi});

  SyncMessage canonical;
  canonical.heads = {lo, hi};
  canonical.need = {lo, hi};
  canonical.have.push_back(Have{{lo, hi}, BloomFilter{}});
  CHECK(m.encode() == canonical.encode());
}
