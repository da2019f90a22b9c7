// Automerge change chunks in the core: the real package's chunks (golden vectors) parse to the
// hash, actor, seq, deps, time and message Automerge reads from them; compressed chunks
// inflate to the same change; a graph of Automerge changes holds them with dagsync's rules;
// hostile chunks are refused with a clear error and the graph unchanged.
#include <doctest/doctest.h>

#include <zlib.h>

#include "automerge_vectors.h"
#include "dagsync/core.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

namespace {

std::string error_of(ByteView bytes, const AutomergeLimits& limits = {}) {
  try {
    Change::from_automerge(bytes, limits);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "";
}

Bytes deflate_raw(ByteView in) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out(deflateBound(&zs, static_cast<uLong>(in.size())));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A type-2 chunk of `body` under the checksum of the type-1 chunk `type1`.
Bytes compressed(ByteView type1, ByteView body) {
  Bytes deflated = deflate_raw(body);
  Bytes out(type1.begin(), type1.begin() + 8);
  out.push_back(0x02);
  put_uleb(out, deflated.size());
  out.insert(out.end(), deflated.begin(), deflated.end());
  return out;
}

// Snapshot of what a graph holds, to show a refusal changed nothing.
struct GraphShape {
  std::vector<ChangeHash> heads;
  std::size_t size;
  std::size_t pending;
  bool operator==(const GraphShape&) const = default;
};
GraphShape shape(const ChangeGraph& g) {
  return {g.heads(), g.size(), g.pending_count()};
}

}  // namespace

TEST_CASE("automerge chunk: the package's change chunks parse to its hash, actor, seq and deps") {
  auto vectors = automerge_vectors("change");
  REQUIRE(vectors.size() >= 5);
  bool long_actor = false, merge = false;
  for (const auto& v : vectors) {
    Bytes bytes = from_hex(v.fields[0]);
    Change c = Change::from_automerge(bytes);
    CAPTURE(v.fields[1]);
    CHECK(c.format() == ChangeFormat::kAutomerge);
    CHECK(c.hash().hex() == v.fields[1]);
    CHECK(to_hex(c.automerge_actor()) == v.fields[2]);
    CHECK(c.actor() == Change::automerge_actor_key(from_hex(v.fields[2])));
    CHECK(c.seq() == std::stoull(v.fields[3]));
    CHECK(c.deps() == std::span<const ChangeHash>(vector_hashes(v.fields[4])));
    std::int64_t time = std::stoll(v.fields[5]);
    CHECK(c.timestamp_ms() == (time == 0 ? std::nullopt : std::optional(time * 1000)));
    std::string message = v.fields[6] == "-" ? "" : [&] {
      Bytes m = from_hex(v.fields[6]);
      return std::string(m.begin(), m.end());
    }();
    CHECK(c.message() == (message.empty() ? std::nullopt : std::optional(message)));
    CHECK(std::equal(c.bytes().begin(), c.bytes().end(), bytes.begin(), bytes.end()));
    CHECK(!c.payload().empty());
    long_actor |= c.automerge_actor().size() > 16;
    merge |= c.deps().size() == 2;
  }
  CHECK(long_actor);
  CHECK(merge);
}

TEST_CASE("automerge chunk: a compressed chunk inflates to the change it compresses") {
  auto vectors = automerge_vectors("compressed");
  REQUIRE(!vectors.empty());
  for (const auto& v : vectors) {
    Change c = Change::from_automerge(from_hex(v.fields[0]));
    CHECK(c.hash().hex() == v.fields[1]);
    Bytes type1 = from_hex(v.fields[2]);
    CHECK(std::equal(c.bytes().begin(), c.bytes().end(), type1.begin(), type1.end()));
    CHECK(c.bytes()[8] == 0x01);
  }
}

TEST_CASE("automerge chunk: actor ids of any length, empty included, up to the limit") {
  for (std::size_t len :
       {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{21}, std::size_t{256}}) {
    ChunkFields f;
    f.actor = Bytes(len, 0x5a);
    Change c = am_change(f);
    CHECK(c.automerge_actor().size() == len);
  }
  ChunkFields f;
  f.actor = Bytes(257, 0x5a);
  CHECK(error_of(chunk(f)) == "automerge change: actor: 257 exceeds limit 256");
  // Two ids that share 16 bytes are distinct actors.
  ChunkFields g;
  g.actor = Bytes(16, 0x5a);
  ChunkFields h = g;
  h.actor.push_back(0x01);
  CHECK(am_change(g).actor() != am_change(h).actor());
}

TEST_CASE("automerge chunk: hostile chunks are refused with the field named") {
  ChunkFields base;
  Bytes good = chunk(base);
  REQUIRE(error_of(good).empty());

  Bytes bad = good;
  bad[0] ^= 1;
  CHECK(error_of(bad) == "automerge change: magic: not an Automerge chunk");
  bad = good;
  bad[5] ^= 1;
  CHECK(error_of(bad).starts_with("automerge change: checksum: does not match"));
  bad = good;
  bad.back() ^= 1;  // a body byte: the checksum no longer matches
  CHECK(error_of(bad).starts_with("automerge change: checksum: does not match"));
  // Truncated anywhere.
  for (std::size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    CHECK(!error_of(ByteView(good).first(n)).empty());
  }
  Bytes trailing = good;
  trailing.push_back(0);
  CHECK(error_of(trailing) == "automerge change: 1 bytes after the chunk");

  Bytes doc = seal_chunk(0x00, chunk_body(base));
  CHECK(error_of(doc) == "automerge change: chunk type: document chunks are not supported");
  CHECK(error_of(seal_chunk(0x03, chunk_body(base))) ==
        "automerge change: chunk type: bundle chunks are not supported");
  CHECK(error_of(seal_chunk(0x07, chunk_body(base))) ==
        "automerge change: chunk type: unknown chunk type 7");

  // Non-minimal LEB128: the length written as 2 bytes, resealed so only the LEB is wrong.
  Bytes body = chunk_body(base);
  Bytes overlong(good.begin(), good.begin() + 9);
  overlong.push_back(static_cast<std::uint8_t>(0x80 | body.size()));
  overlong.push_back(0x00);
  overlong.insert(overlong.end(), body.begin(), body.end());
  CHECK(error_of(overlong) == "automerge change: length: non-minimal LEB128");
  // ... and inside the body (seq 1 as 81 00).
  Bytes seq_body = body;
  std::size_t seq_at = 1 + 1 + 16;
  REQUIRE(seq_body[seq_at] == 0x01);
  seq_body[seq_at] = 0x81;
  seq_body.insert(seq_body.begin() + static_cast<std::ptrdiff_t>(seq_at) + 1, 0x00);
  CHECK(error_of(seal_chunk(0x01, seq_body)) == "automerge change: seq: non-minimal LEB128");
  // An 11-byte LEB128.
  Bytes huge_len(good.begin(), good.begin() + 9);
  for (int i = 0; i < 10; ++i) huge_len.push_back(0xff);
  huge_len.push_back(0x01);
  CHECK(error_of(huge_len) == "automerge change: length: LEB128 value exceeds 64 bits");

  ChunkFields f = base;
  f.seq = 0;
  CHECK(error_of(chunk(f)) == "automerge change: seq: must be at least 1");
  f = base;
  f.start_op = 0;
  CHECK(error_of(chunk(f)) == "automerge change: start_op: must be in 1..2^32-1");
  f.start_op = std::uint64_t{1} << 32;
  CHECK(error_of(chunk(f)) == "automerge change: start_op: must be in 1..2^32-1");
  f = base;
  f.message = "\xff\xfe";
  CHECK(error_of(chunk(f)) == "automerge change: message: not valid UTF-8");
  f = base;
  f.deps = {sha256(text("b")), sha256(text("a"))};
  std::sort(f.deps.rbegin(), f.deps.rend());
  CHECK(error_of(chunk(f)) == "automerge change: deps: not sorted and distinct");
  f = base;
  f.deps = std::vector<ChangeHash>(1025, sha256(text("a")));
  CHECK(error_of(chunk(f)) == "automerge change: deps: 1025 exceeds limit 1024");
  // Counts that claim more than the chunk holds.
  f = base;
  f.after_message = {0x05, 0x01, 0x41};  // five other actors, one present
  CHECK(error_of(chunk(f)).starts_with("automerge change: other actors: truncated"));

  // Column metadata: out of order, compressed, longer than the chunk, too many columns.
  f = base;
  f.after_message = {0x00, 0x02, 0x21, 0x01, 0x11, 0x01, 0xaa, 0xbb};
  CHECK(error_of(chunk(f)) == "automerge change: column spec: columns not in normalized order");
  f.after_message = {0x00, 0x01, 0x19, 0x01, 0xaa};
  CHECK(error_of(chunk(f)) == "automerge change: column spec: compressed column in a change");
  f.after_message = {0x00, 0x01, 0x11, 0x05, 0xaa};
  CHECK(error_of(chunk(f)) == "automerge change: column data: column lengths exceed the chunk");
  f.after_message = {0x00, 0x01, 0x11, 0x01, 0xaa, 0xcc};  // extra bytes are Automerge's
  CHECK(error_of(chunk(f)).empty());
  f.after_message = {0x00, 0x02, 0x11, 0x01, 0x11, 0x01, 0xaa, 0xbb};  // equal specs: in order
  CHECK(error_of(chunk(f)).empty());
  AutomergeLimits few;
  few.max_columns = 1;
  CHECK(error_of(chunk(f), few) == "automerge change: columns: 2 exceeds limit 1");
  // The size limit.
  AutomergeLimits small;
  small.max_chunk_bytes = good.size() - 1;
  CHECK(error_of(good, small) == "automerge change: length: chunk exceeds the limit");
}

TEST_CASE("automerge chunk: compressed chunks that lie or inflate too far are refused") {
  ChunkFields f;
  f.message = std::string(4000, 'm');  // compresses well
  Bytes type1 = chunk(f);
  Bytes body = chunk_body(f);
  Bytes good = compressed(type1, body);
  REQUIRE(good.size() < type1.size());
  Change c = Change::from_automerge(good);
  CHECK(c.hash() == Change::from_automerge(type1).hash());

  Bytes bad_sum = good;
  bad_sum[4] ^= 1;
  CHECK(error_of(bad_sum).starts_with("automerge change: checksum: does not match"));
  // A checksum of another change's body: the hash does not match.
  ChunkFields g = f;
  g.seq = 2;
  Bytes other = compressed(chunk(g), body);
  CHECK(error_of(other).starts_with("automerge change: checksum: does not match"));

  AutomergeLimits small;
  small.max_chunk_bytes = 1000;  // the deflated chunk fits, its inflated body does not
  REQUIRE(good.size() < 1000);
  CHECK(error_of(good, small) ==
        "automerge change: compressed body: inflates beyond the limit of 1000 bytes");

  Bytes garbage(type1.begin(), type1.begin() + 8);
  garbage.push_back(0x02);
  garbage.push_back(0x03);
  garbage.insert(garbage.end(), {0xff, 0xff, 0xff});
  CHECK(error_of(garbage) == "automerge change: compressed body: invalid DEFLATE data");
  Bytes cut = compressed(type1, body);
  Bytes truncated(cut.begin(), cut.begin() + 9);
  Bytes deflated = deflate_raw(body);
  deflated.resize(deflated.size() / 2);
  put_uleb(truncated, deflated.size());
  truncated.insert(truncated.end(), deflated.begin(), deflated.end());
  CHECK(error_of(truncated) == "automerge change: compressed body: truncated DEFLATE");
}

TEST_CASE("automerge graph: holds the package's history and refuses the other format") {
  ChangeGraph g(ChangeFormat::kAutomerge);
  CHECK(g.format() == ChangeFormat::kAutomerge);
  std::vector<Change> changes;
  for (const auto& v : automerge_vectors("change")) {
    changes.push_back(Change::from_automerge(from_hex(v.fields[0])));
  }
  // Delivered backwards: each waits for its deps, then all apply.
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) g.add(*it);
  CHECK(g.size() == changes.size());
  CHECK(g.pending_count() == 0);
  CHECK(g.heads() == std::vector<ChangeHash>{changes.back().hash()});

  ChangeGraph dagsync_graph;
  CHECK_THROWS_WITH_AS(dagsync_graph.add(changes[0]),
                       doctest::Contains("is Automerge's, the document holds dagsync's"),
                       GraphError);
  CHECK(dagsync_graph.size() == 0);
  ChangeGraph other(ChangeFormat::kAutomerge);
  CHECK_THROWS_AS(other.add(dagsync_graph.next_change(text("x"))), GraphError);
  CHECK_THROWS_WITH_AS(g.commit(text("x")), doctest::Contains("made by Automerge"), GraphError);
  CHECK(other.size() == 0);
}

TEST_CASE("automerge graph: equivocation, seq gaps and missing deps as for dagsync's changes") {
  ChangeGraph g(ChangeFormat::kAutomerge);
  Change a1 = am_change(1, 1);
  Change a2 = am_change(1, 2, {a1.hash()});
  g.add(a1);
  g.add(a2);
  GraphShape before = shape(g);
  // The same actor and seq with another body.
  ChunkFields f;
  f.actor = Bytes(16, 1);
  f.seq = 2;
  f.deps = {a1.hash()};
  f.message = "other";
  Change fork = am_change(f);
  CHECK_THROWS_WITH_AS(g.add(fork), doctest::Contains("equivocation"), GraphError);
  CHECK(shape(g) == before);
  // A gap: seq 4 on deps all present while seq 3 is nowhere.
  Change gap = am_change(1, 4, {a2.hash()});
  CHECK_THROWS_AS(g.add(gap), GraphError);
  CHECK(shape(g) == before);
  // Missing deps: parked, then applied.
  Change b1 = am_change(2, 1, {a2.hash()});
  Change b2 = am_change(2, 2, {b1.hash()});
  g.add(b2);
  CHECK(g.is_pending(b2.hash()));
  CHECK(g.missing_deps() == std::vector<ChangeHash>{b1.hash()});
  g.add(b1);
  CHECK(g.heads() == std::vector<ChangeHash>{b2.hash()});
  CHECK(g.changes_since(std::vector<ChangeHash>{a2.hash()}).size() == 2);
}
