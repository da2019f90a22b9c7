// Automerge's sync protocol in the core: the real package's sync messages, Bloom filters and
// sync states (golden vectors) decode to what the package decodes them to and re-encode to
// the same bytes (less the trailer dagsync never sends); generate/receive converge; hostile
// messages are refused with the graph and state unchanged.
#include <doctest/doctest.h>

#include "automerge_vectors.h"
#include "dagsync/core.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;
namespace am = dagsync::automerge;

namespace {

std::string message_error(ByteView bytes, const SyncLimits& limits = {}) {
  try {
    am::SyncMessage::decode(bytes, limits);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "";
}

// Runs the sync loop between two core peers through the wire encoding; returns messages.
int sync_pair(ChangeGraph& a, am::SyncState& as, ChangeGraph& b, am::SyncState& bs) {
  int messages = 0;
  for (int round = 0; round < 100; ++round) {
    auto m1 = am::generate_sync_message(a, as);
    if (m1) {
      ++messages;
      am::receive_sync_message(b, bs, am::SyncMessage::decode(m1->encode()));
    }
    auto m2 = am::generate_sync_message(b, bs);
    if (m2) {
      ++messages;
      am::receive_sync_message(a, as, am::SyncMessage::decode(m2->encode()));
    }
    if (!m1 && !m2) return messages;
  }
  FAIL("no convergence");
  return messages;
}

}  // namespace

TEST_CASE("automerge sync: the package's messages decode as it decodes them") {
  auto vectors = automerge_vectors("message");
  REQUIRE(vectors.size() >= 3);
  bool with_changes = false;
  for (const auto& v : vectors) {
    Bytes bytes = from_hex(v.fields[0]);
    CAPTURE(v.fields[0]);
    am::SyncMessage m = am::SyncMessage::decode(bytes);
    CHECK(m.heads == vector_hashes(v.fields[1]));
    CHECK(m.need == vector_hashes(v.fields[2]));
    std::string haves;
    for (const auto& h : m.have) {
      if (!haves.empty()) haves += ";";
      std::string l;
      for (const auto& x : h.last_sync) l += (l.empty() ? "" : ",") + x.hex();
      haves += l.empty() ? "-" : l;
    }
    CHECK((haves.empty() ? "-" : haves) == v.fields[3]);
    CHECK(m.changes.size() == std::stoull(v.fields[4]));
    // 3.5.0 sends the trailer 02 02 84 (V2 legacy byte, then flags: supports sync reset).
    REQUIRE(m.trailer);
    CHECK(to_hex(*m.trailer) == "0284");
    CHECK(m.flags().supports_v2);
    CHECK(m.flags().supports_sync_reset);
    CHECK(!m.flags().read_only);
    // Our encoding is V1 without the trailer: the same bytes otherwise.
    Bytes ours = m.encode();
    CHECK(ours[0] == am::SyncMessage::kV1);
    CHECK(to_hex(ByteView(ours).subspan(1)) ==
          to_hex(ByteView(bytes).subspan(1, bytes.size() - 1 - 3)));
    CHECK(m.version == am::SyncMessage::kV1);
    with_changes |= !m.changes.empty();
  }
  CHECK(with_changes);
}

TEST_CASE("automerge sync: the package's V2 messages decode, whole documents are refused") {
  // Between two Automerge peers that saw each other's trailers: 0x43 messages, some holding
  // a document chunk (never sent to dagsync, which sends no trailer).
  bool v2 = false, refused = false;
  for (const auto& v : automerge_vectors("message_v2")) {
    Bytes bytes = from_hex(v.fields[0]);
    v2 |= bytes[0] == am::SyncMessage::kV2;
    std::string error = message_error(bytes);
    if (error.empty()) {
      am::SyncMessage m = am::SyncMessage::decode(bytes);
      CHECK(m.heads == vector_hashes(v.fields[1]));
      CHECK(m.need == vector_hashes(v.fields[2]));
    } else {
      CHECK(error == "automerge change: chunk type: document chunks are not supported");
      refused = true;
    }
  }
  CHECK(v2);
  CHECK(refused);
}

TEST_CASE("automerge sync: Bloom filters built like the package's are byte for byte its own") {
  auto vectors = automerge_vectors("bloom");
  REQUIRE(!vectors.empty());
  for (const auto& v : vectors) {
    Bytes bytes = vector_bytes(v.fields[0]);
    auto hashes = vector_hashes(v.fields[1]);
    BloomFilter ours = hashes.empty() ? BloomFilter() : BloomFilter(hashes);
    CHECK(to_hex(am::encode_bloom(ours)) == to_hex(bytes));
    BloomFilter theirs = am::decode_bloom(bytes);
    for (const auto& h : hashes) CHECK(theirs.contains(h));
    CHECK(theirs.entries() == hashes.size());
  }
}

TEST_CASE("automerge sync: the package's sync states decode and re-encode to the same bytes") {
  auto vectors = automerge_vectors("state");
  REQUIRE(!vectors.empty());
  for (const auto& v : vectors) {
    Bytes bytes = from_hex(v.fields[0]);
    am::SyncState s = am::SyncState::decode(bytes);
    CHECK(s.shared_heads == vector_hashes(v.fields[1]));
    REQUIRE(s.their_have);
    CHECK(s.their_have->empty());
    CHECK(!s.their_heads);
    CHECK(to_hex(s.encode()) == v.fields[0]);
  }
  CHECK(to_hex(am::SyncState{}.encode()) == "4300");
}

TEST_CASE("automerge sync: two core peers on diverged histories converge") {
  ChangeGraph a(ChangeFormat::kAutomerge), b(ChangeFormat::kAutomerge);
  Change root = am_change(1, 1);
  a.add(root);
  b.add(root);
  std::vector<ChangeHash> ah{root.hash()}, bh{root.hash()};
  for (std::uint64_t s = 1; s <= 5; ++s) {
    Change c = am_change(2, s, ah);
    a.add(c);
    ah = {c.hash()};
  }
  for (std::uint64_t s = 1; s <= 3; ++s) {
    Change c = am_change(3, s, bh);
    b.add(c);
    bh = {c.hash()};
  }
  am::SyncState as, bs;
  int n = sync_pair(a, as, b, bs);
  CHECK(a.heads() == b.heads());
  CHECK(a.size() == 9);
  CHECK(n <= 5);
  // Saved states resume: after more changes on one side, a few messages suffice.
  am::SyncState as2 = am::SyncState::decode(as.encode());
  am::SyncState bs2 = am::SyncState::decode(bs.encode());
  Change more = am_change(2, 6, a.heads());
  a.add(more);
  sync_pair(a, as2, b, bs2);
  CHECK(b.has(more.hash()));
  CHECK(a.heads() == b.heads());
}

TEST_CASE("automerge sync: a peer restored from an old copy is reset and resynced") {
  ChangeGraph a(ChangeFormat::kAutomerge), b(ChangeFormat::kAutomerge);
  std::vector<ChangeHash> heads;
  for (std::uint64_t s = 1; s <= 3; ++s) {
    Change c = am_change(1, s, heads);
    a.add(c);
    heads = {c.hash()};
  }
  ChangeGraph old_b = b;  // b before it synced
  am::SyncState as, bs;
  sync_pair(a, as, b, bs);
  REQUIRE(b.heads() == a.heads());
  // a keeps its state (which names heads b no longer has); b is its old copy, fresh state.
  am::SyncState as2 = am::SyncState::decode(as.encode()), bs2;
  // b's first message: heads empty. a's reply (its have names a's shared heads, which b
  // lacks) makes b send a reset.
  auto m1 = am::generate_sync_message(a, as2);
  REQUIRE(m1);
  am::receive_sync_message(old_b, bs2, am::SyncMessage::decode(m1->encode()));
  auto reset = am::generate_sync_message(old_b, bs2);
  REQUIRE(reset);
  CHECK(reset->heads.empty());
  REQUIRE(reset->have.size() == 1);
  CHECK(reset->have[0].last_sync.empty());
  am::receive_sync_message(a, as2, am::SyncMessage::decode(reset->encode()));
  sync_pair(a, as2, old_b, bs2);
  CHECK(old_b.heads() == a.heads());
}

TEST_CASE("automerge sync: hostile messages are refused, graph and state unchanged") {
  ChangeGraph g(ChangeFormat::kAutomerge);
  Change c1 = am_change(1, 1);
  g.add(c1);
  am::SyncState state;
  state.shared_heads = {c1.hash()};
  Bytes good = am::SyncMessage{}.encode();
  REQUIRE(message_error(good).empty());
  CHECK(message_error(Bytes{}) == "automerge sync message: version: truncated (1 bytes declared)");
  CHECK(message_error(Bytes{0x44, 0, 0, 0, 0}) ==
        "automerge sync message: version: unknown message type 68");
  for (std::size_t n = 1; n < good.size(); ++n)
    CHECK(!message_error(ByteView(good).first(n)).empty());
  // Every trailer form is accepted; a trailer longer than what is left is not.
  for (const Bytes& t : {Bytes{0x02, 0x01, 0x02}, Bytes{0x02, 0x02, 0x84}, Bytes{0x02, 0x02, 0x86},
                         Bytes{0x02, 0x02, 0x85}, Bytes{0x00}}) {
    Bytes m = good;
    m.insert(m.end(), t.begin(), t.end());
    CHECK(message_error(m).empty());
  }
  Bytes bad_trailer = good;
  bad_trailer.insert(bad_trailer.end(), {0x05, 0x02});
  CHECK(message_error(bad_trailer) ==
        "automerge sync message: trailer: truncated (5 bytes declared)");
  Bytes read_only = good;
  read_only.insert(read_only.end(), {0x02, 0x02, 0x86});
  CHECK(am::SyncMessage::decode(read_only).flags().read_only);
  // Unsorted heads; an oversized message; too many hashes; a bad Bloom filter.
  am::SyncMessage two;
  two.heads = {sha256(text("a")), sha256(text("b"))};
  std::sort(two.heads.rbegin(), two.heads.rend());
  CHECK(message_error(two.encode()) ==
        "automerge sync message: heads: hashes not sorted and distinct");
  SyncLimits small;
  small.max_message_bytes = 4;
  CHECK(message_error(good, small) == "automerge sync message: 5 bytes exceed limit 4");
  small = {};
  small.max_hashes = 1;
  std::sort(two.heads.begin(), two.heads.end());
  CHECK(message_error(two.encode(), small) == "automerge sync message: heads: 2 exceeds limit 1");
  Bytes zero_bits{0x42, 0x00, 0x00, 0x01, 0x00, 0x03, 0x01, 0x00, 0x07, 0x00};
  CHECK(message_error(zero_bits).starts_with("bloom filter: bits per entry 0"));
  Bytes short_bits{0x42, 0x00, 0x00, 0x01, 0x00, 0x04, 0x01, 0x0a, 0x07, 0xff, 0x00};
  CHECK(message_error(short_bits) ==
        "automerge bloom filter: bits: 1 bytes, the parameters imply 2");
  // Document chunks and bad chunks inside a message.
  Bytes doc_entry = seal_chunk(0x00, chunk_body(ChunkFields{}));
  Bytes with_doc{0x43, 0x00, 0x00, 0x00, 0x01};
  put_uleb(with_doc, doc_entry.size());
  with_doc.insert(with_doc.end(), doc_entry.begin(), doc_entry.end());
  CHECK(message_error(with_doc) ==
        "automerge change: chunk type: document chunks are not supported");
  Bytes bad_sum = chunk(ChunkFields{});
  bad_sum[4] ^= 1;
  Bytes with_bad{0x42, 0x00, 0x00, 0x00, 0x01};
  put_uleb(with_bad, bad_sum.size());
  with_bad.insert(with_bad.end(), bad_sum.begin(), bad_sum.end());
  CHECK(message_error(with_bad).starts_with("automerge change: checksum: does not match"));

  // A message whose changes the graph refuses (equivocation): nothing changes.
  ChunkFields f;
  f.actor = Bytes(16, 1);
  f.message = "fork";
  am::SyncMessage fork;
  fork.heads = {sha256(text("x"))};
  fork.changes = {am_change(f)};
  auto heads_before = g.heads();
  auto shared_before = state.shared_heads;
  CHECK_THROWS_WITH_AS(am::receive_sync_message(g, state, am::SyncMessage::decode(fork.encode())),
                       doctest::Contains("equivocation"), GraphError);
  CHECK(g.heads() == heads_before);
  CHECK(g.size() == 1);
  CHECK(state.shared_heads == shared_before);
  CHECK(!state.their_heads);

  // Sync states: wrong type, trailing bytes, unsorted.
  CHECK_THROWS_WITH_AS(am::SyncState::decode(Bytes{0x42, 0x00}),
                       "automerge sync state: type: not a sync state (66)", DecodeError);
  CHECK_THROWS_WITH_AS(am::SyncState::decode(Bytes{0x43, 0x00, 0x00}),
                       "automerge sync state: shared heads: 1 bytes after them", DecodeError);
  // A dagsync graph is not driven by Automerge's protocol.
  ChangeGraph dagsync_graph;
  am::SyncState s2;
  CHECK_THROWS_AS(am::generate_sync_message(dagsync_graph, s2), GraphError);
}

TEST_CASE("automerge sync: empty heads from the peer mean it lost everything: a full resync") {
  ChangeGraph a(ChangeFormat::kAutomerge), b(ChangeFormat::kAutomerge);
  Change c1 = am_change(1, 1);
  Change c2 = am_change(1, 2, {c1.hash()});
  a.add(std::vector<Change>{c1, c2});
  am::SyncState as, bs;
  sync_pair(a, as, b, bs);
  REQUIRE(b.heads() == a.heads());
  CHECK(!am::generate_sync_message(a, as));  // in sync: nothing to say
  // b comes back empty (a new copy) with a fresh state: its first message has empty heads.
  ChangeGraph empty(ChangeFormat::kAutomerge);
  am::SyncState es;
  auto first = am::generate_sync_message(empty, es);
  REQUIRE(first);
  CHECK(first->heads.empty());
  am::receive_sync_message(a, as, am::SyncMessage::decode(first->encode()));
  CHECK(as.shared_heads.empty());
  CHECK(as.sent_hashes.empty());
  CHECK(as.last_sent_heads.empty());
  auto reply = am::generate_sync_message(a, as);
  REQUIRE(reply);
  CHECK(reply->changes.size() == 2);  // everything again
  am::receive_sync_message(empty, es, am::SyncMessage::decode(reply->encode()));
  CHECK(empty.heads() == a.heads());
}

TEST_CASE("automerge sync: a peer whose trailer says read-only is sent no changes") {
  ChangeGraph a(ChangeFormat::kAutomerge), b(ChangeFormat::kAutomerge);
  a.add(am_change(1, 1));
  am::SyncState as, bs;
  auto first = am::generate_sync_message(b, bs);
  REQUIRE(first);
  Bytes bytes = first->encode();
  bytes.insert(bytes.end(), {0x02, 0x02, 0x86});  // V2 legacy byte, flags: read-only
  am::receive_sync_message(a, as, am::SyncMessage::decode(bytes));
  CHECK(as.peer_read_only);
  auto reply = am::generate_sync_message(a, as);
  REQUIRE(reply);
  CHECK(reply->changes.empty());
  CHECK(!reply->heads.empty());
  // The same message without the flag: the change goes out.
  am::SyncState as2;
  bytes.back() = 0x84;
  am::receive_sync_message(a, as2, am::SyncMessage::decode(bytes));
  auto reply2 = am::generate_sync_message(a, as2);
  REQUIRE(reply2);
  CHECK(reply2->changes.size() == 1);
  // Our own read-only mode: nothing applied, nothing asked for.
  am::SyncOptions read_only{.read_only = true};
  auto result =
      am::receive_sync_message(b, bs, am::SyncMessage::decode(reply2->encode()), read_only);
  CHECK(result.ignored_changes == 1);
  CHECK(b.size() == 0);
}
