// What holds across the codecs (version vector, update batch, sync message, sync state,
// change): the wire forms pinned in docs/protocol.md, and count limits above 2^32-1.
#include <cstddef>

#include "golden_change.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("encoding: pinned wire forms from docs/protocol.md") {
  // Version vector {01..01: 3}.
  VersionVector vv;
  vv.set(actor(1), 3);
  CHECK(to_hex(vv.encode()) == "92019192c410" + to_hex(actor(1).view()) + "03");
  // The empty update batch.
  CHECK(to_hex(ChangeGraph(actor(1)).export_updates()) == "920190");
  // The first message of a peer with an empty graph: a summary with one root level holding
  // no actors (91 93 c4 00 c4 00 90), i.e. "I have nothing".
  ChangeGraph empty(actor(1));
  SyncState state;
  auto first = generate_sync_message(empty, state);
  REQUIRE(first.has_value());
  CHECK(to_hex(first->encode()) == "9803c400c40090c4009193c400c400900000");
  SyncMessage decoded = SyncMessage::decode(first->encode());
  CHECK(decoded.have.empty());
  REQUIRE(decoded.summary);
  CHECK(decoded.summary->complete());
  // With summaries off: one have, empty last_sync, empty filter with default parameters
  // (94 00 0a 07 c4 00), as Automerge sends.
  SyncState filters;
  first = generate_sync_message(empty, filters, GenerateOptions{.summaries = false});
  REQUIRE(first.has_value());
  CHECK(to_hex(first->encode()) == "9803c400c4009192c40094000a07c400c400c00000");
  decoded = SyncMessage::decode(first->encode());
  REQUIRE(decoded.have.size() == 1);
  CHECK(decoded.have[0].last_sync.empty());
  CHECK(decoded.have[0].bloom.empty());
  CHECK(decoded.have[0].bloom.bits_per_entry() == 10);
  CHECK(decoded.have[0].bloom.probes() == 7);
  // An error message of the documented shape.
  CHECK_THROWS_WITH_AS(SyncMessage::decode(from_hex("950190909090")),
                       "sync message: version: unsupported version 1 (at byte 2)", DecodeError);
}

TEST_CASE("encoding: count limits above 2^32-1 act as 2^32-1, not as their low 32 bits") {
  // Regression: a size_t limit was once cast to uint32, so 2^32 became 0 and 2^32+1 became 1.
  const std::size_t wrap0 = std::size_t(1) << 32;
  const std::size_t wrap1 = wrap0 + 1;
  ChangeFields f = golden_fields();
  f.deps = {hash_n(1), hash_n(2)};
  Change c = Change::build(f);
  ChangeLimits cl;
  cl.max_deps = wrap0;
  CHECK_NOTHROW(Change::decode(c.bytes(), cl));
  cl.max_deps = wrap1;
  CHECK_NOTHROW(Change::decode(c.bytes(), cl));

  SyncMessage m;
  m.heads = sorted({hash_n(1), hash_n(2)});
  m.need = sorted({hash_n(3), hash_n(4)});
  m.have = {Have{sorted({hash_n(5), hash_n(6)}), BloomFilter{}}, Have{}};
  m.changes = {c, Change::build(golden_fields())};
  Bytes bytes = m.encode();
  for (std::size_t limit : {wrap0, wrap1}) {
    CAPTURE(limit);
    SyncLimits sl;
    sl.max_hashes = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    sl = {};
    sl.max_haves = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    sl = {};
    sl.max_changes = limit;
    CHECK_NOTHROW(SyncMessage::decode(bytes, sl));
    CHECK_NOTHROW(ChangeGraph(actor(9)).import_updates(
        [&] {
          ChangeGraph src(actor(1));
          commit_n(src, 2, "x");
          return src.export_updates();
        }(),
        sl));
    SyncState st;
    st.shared_heads = sorted({hash_n(1), hash_n(2)});
    CHECK_NOTHROW(SyncState::decode(st.encode(), limit));
    VersionVector vv;
    vv.set(actor(1), 1);
    vv.set(actor(2), 1);
    CHECK_NOTHROW(VersionVector::decode(vv.encode(), limit));
  }
}
