// automerge-repo's CBOR messages (lib/session/src/automerge_repo_message.h): what cbor-x
// 2.5.6-era clients send decodes (vectors below were encoded by cbor-x with automerge-repo's
// settings: `new Encoder({tagUint8Array: false, useRecords: false})`), what we encode
// decodes back, and every hostile input is refused with an error naming the problem.
#include <doctest/doctest.h>

#include <algorithm>

#include "automerge_ids.h"
#include "automerge_repo_message.h"
#include "dagsync/bytes.h"
#include "dagsync/error.h"
#include "net_helpers.h"

namespace dagsync::test {
namespace {

using Type = AutomergeRepoMessage::Type;

Bytes hex(const std::string& h) {
  return from_hex(h);
}

const std::string kDoc = "4NMNnkMhL8jXrdJ9jamS58PAVdXu";  // automerge-repo's own example id

// cbor-x: {type:'join', senderId:'peer-abc', peerMetadata:{storageId:undefined,
// isEphemeral:true}, supportedProtocolVersions:['1']}: map16 headers even for small maps, f7.
const char* kJoin =
    "b900046474797065646a6f696e6873656e646572496468706565722d6162636c706565724d65746164617461b9"
    "00026973746f726167654964f76b6973457068656d6572616cf57819737570706f7274656450726f746f636f6c"
    "56657273696f6e73816131";
// {type:'request', senderId:'peer-abc', targetId:'srv', documentId:kDoc, data:42 00 00 00 00}
const char* kRequest =
    "b90005647479706567726571756573746873656e646572496468706565722d616263687461726765744964637372"
    "766a646f63756d656e744964781c344e4d4e6e6b4d684c386a5872644a396a616d533538504156645875646461"
    "7461454200000000";
// {type:'ephemeral', ..., count:5000000000 (float64 above 32 bits), sessionId:'s1', data:01 02}
const char* kEphemeral =
    "b90007647479706569657068656d6572616c6873656e646572496468706565722d61626368746172676574496463"
    "73727665636f756e74fb41f2a05f200000006973657373696f6e49646273316a646f63756d656e744964781c34"
    "4e4d4e6e6b4d684c386a5872644a396a616d5335385041566458756464617461420102";
// {type:'remote-heads-changed', ..., newHeads:{x:{heads:['abc'], timestamp:Date.now()}}}
const char* kRemoteHeads =
    "b9000564747970657472656d6f74652d68656164732d6368616e6765646873656e646572496468706565722d61"
    "6263687461726765744964637372766a646f63756d656e744964781c344e4d4e6e6b4d684c386a5872644a396a"
    "616d533538504156645875686e65774865616473b900016178b9000265686561647381636162636974696d6573"
    "74616d70fb427a232850e4d000";

std::string refusal(const Bytes& frame, const AutomergeRepoLimits& limits = {}) {
  try {
    AutomergeRepoMessage::decode(frame, limits);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "";
}

// A map of text keys to already-encoded values (definite lengths, minimal headers).
Bytes map_of(const std::vector<std::pair<std::string, Bytes>>& entries) {
  Bytes out{static_cast<std::uint8_t>(0xa0 + entries.size())};
  for (const auto& [k, v] : entries) {
    out.push_back(static_cast<std::uint8_t>(0x60 + k.size()));
    out.insert(out.end(), k.begin(), k.end());
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}
Bytes str(const std::string& s) {
  Bytes out;
  if (s.size() < 24) {
    out.push_back(static_cast<std::uint8_t>(0x60 + s.size()));
  } else {
    out = {0x78, static_cast<std::uint8_t>(s.size())};
  }
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

}  // namespace

TEST_CASE("automerge-repo messages: cbor-x's encodings decode") {
  auto join = AutomergeRepoMessage::decode(hex(kJoin));
  CHECK(join.type == Type::kJoin);
  CHECK(join.sender_id == "peer-abc");
  CHECK(join.has_peer_metadata);
  CHECK(join.storage_id.empty());  // undefined
  CHECK(join.is_ephemeral);
  REQUIRE(join.supported_protocol_versions);
  CHECK(*join.supported_protocol_versions == std::vector<std::string>{"1"});

  auto request = AutomergeRepoMessage::decode(hex(kRequest));
  CHECK(request.type == Type::kRequest);
  CHECK(request.target_id == "srv");
  CHECK(request.document_id == kDoc);
  CHECK(request.data == hex("4200000000"));

  auto ephemeral = AutomergeRepoMessage::decode(hex(kEphemeral));
  CHECK(ephemeral.type == Type::kEphemeral);
  CHECK(ephemeral.count == 5'000'000'000ull);
  CHECK(ephemeral.session_id == "s1");
  CHECK(ephemeral.data == Bytes{1, 2});

  // Ignored by the server (no remote-heads gossip): newHeads and its float64 timestamp are
  // read past.
  auto heads = AutomergeRepoMessage::decode(hex(kRemoteHeads));
  CHECK(heads.type == Type::kRemoteHeadsChanged);
  CHECK(heads.sender_id == "peer-abc");
}

TEST_CASE("automerge-repo messages: every type we send decodes back") {
  std::vector<AutomergeRepoMessage> all;
  AutomergeRepoMessage peer;
  peer.type = Type::kPeer;
  peer.sender_id = "server";
  peer.target_id = "peer-abc";
  peer.has_peer_metadata = true;
  peer.storage_id = "b1f6e3c2-0000-4000-8000-000000000000";
  peer.selected_protocol_version = "1";
  all.push_back(peer);
  AutomergeRepoMessage sync;
  sync.type = Type::kSync;
  sync.sender_id = "server";
  sync.target_id = "peer-abc";
  sync.document_id = kDoc;
  sync.data = Bytes(70'000, 0x42);  // a 4-byte length header
  all.push_back(sync);
  AutomergeRepoMessage unavailable = sync;
  unavailable.type = Type::kDocUnavailable;
  unavailable.data.clear();
  all.push_back(unavailable);
  for (std::uint64_t count : {1ull, 0xffffffffull, 0x100000000ull}) {
    AutomergeRepoMessage e = sync;
    e.type = Type::kEphemeral;
    e.sender_id = "peer-other";  // relayed: the original sender
    e.count = count;
    e.session_id = "abc123";
    e.data = {0xa0};
    all.push_back(e);
  }
  AutomergeRepoMessage error;
  error.type = Type::kError;
  error.sender_id = "server";
  error.error = "unsupported protocol version";
  all.push_back(error);

  for (const auto& m : all) {
    CAPTURE(to_string(m.type));
    Bytes bytes = m.encode();
    auto back = AutomergeRepoMessage::decode(bytes);
    CHECK(back.type == m.type);
    CHECK(back.sender_id == m.sender_id);
    CHECK(back.target_id == m.target_id);
    CHECK(back.document_id == m.document_id);
    CHECK(back.data == m.data);
    CHECK(back.count == m.count);
    CHECK(back.session_id == m.session_id);
    CHECK(back.storage_id == m.storage_id);
    CHECK(back.selected_protocol_version == m.selected_protocol_version);
    CHECK(back.error == m.error);
    // cbor-x reads a 64-bit integer as a BigInt: never 0x1b.
    if (m.type == Type::kEphemeral && m.count > 0xffffffffull) {
      const Bytes float_count = {0x65, 'c', 'o', 'u', 'n', 't', 0xfb};
      CHECK(std::search(bytes.begin(), bytes.end(), float_count.begin(), float_count.end()) !=
            bytes.end());
    }
  }
}

TEST_CASE("automerge-repo messages: hostile input is refused, naming the problem") {
  Bytes request = hex(kRequest);
  CHECK(contains(refusal({}), "empty message"));
  CHECK(contains(refusal({0xff}), "indefinite-length"));  // a break outside any item
  CHECK(contains(refusal({0x1c}), "malformed CBOR"));     // reserved additional info
  CHECK(contains(refusal(Bytes(request.begin(), request.end() - 1)), "truncated"));
  Bytes trailing = request;
  trailing.push_back(0x00);
  CHECK(contains(refusal(trailing), "1 bytes after the CBOR map"));
  CHECK(contains(refusal({0x82, 0x01, 0x02}), "expected a CBOR map"));
  // A declared count beyond the bytes there: refused before anything is allocated for it.
  CHECK(contains(refusal({0xbb, 0, 0, 0, 1, 0, 0, 0, 0}), "container of"));
  CHECK(contains(refusal({0xa1, 0x61, 'x', 0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}),
                 "container of"));
  CHECK(contains(refusal({0xbf, 0xff}), "indefinite-length"));
  CHECK(contains(refusal({0xa1, 0x64, 't', 'y', 'p', 'e', 0x7f, 0x61, 'x', 0xff}),
                 "indefinite-length"));
  CHECK(contains(refusal({0xc0, 0xa0}), "CBOR tag"));
  // Nesting deeper than the bound, inside an unknown key.
  Bytes deep = {0xa1, 0x61, 'z'};
  for (int i = 0; i < 20; ++i) deep.push_back(0x81);
  deep.push_back(0x00);
  CHECK(contains(refusal(deep), "nested deeper"));

  CHECK(contains(refusal(map_of({{"type", str("hello")}, {"senderId", str("p")}})),
                 "unknown message type \"hello\""));
  CHECK(contains(refusal(map_of({{"senderId", str("p")}})), "without a type"));
  CHECK(contains(refusal(map_of({{"type", str("sync")}})), "without senderId"));
  CHECK(contains(refusal(map_of({{"type", {0x01}}})), "type: expected a string"));
  CHECK(contains(
      refusal(map_of({{"type", str("sync")}, {"type", str("sync")}, {"senderId", str("p")}})),
      "appears twice"));
  CHECK(contains(refusal(map_of({{"type", Bytes{0x62, 0xc3, 0x28}}})), "invalid UTF-8"));

  auto sync_with = [](const std::string& doc, Bytes data) {
    return map_of({{"type", str("sync")},
                   {"senderId", str("p")},
                   {"targetId", str("s")},
                   {"documentId", str(doc)},
                   {"data", data}});
  };
  CHECK(refusal(sync_with(kDoc, {0x41, 0x42})).empty());
  CHECK(contains(refusal(sync_with(kDoc, {0x40})), "empty data"));
  CHECK(contains(refusal(sync_with(kDoc, {0x61, 'x'})), "data: expected a byte string"));
  std::string bad_checksum = kDoc;
  bad_checksum.back() = bad_checksum.back() == 'u' ? 'v' : 'u';
  CHECK(contains(refusal(sync_with(bad_checksum, {0x41, 0x42})), "not base58check"));
  CHECK(contains(refusal(sync_with("notes", {0x41, 0x42})), "not base58check"));  // 'l' absent
  CHECK(contains(refusal(sync_with("0OIl", {0x41, 0x42})), "not base58check"));
  CHECK(contains(refusal(map_of({{"type", str("doc-unavailable")}, {"senderId", str("p")}})),
                 "without documentId"));
  CHECK(contains(refusal(map_of({{"type", str("ephemeral")},
                                 {"senderId", str("p")},
                                 {"documentId", str(kDoc)},
                                 {"data", {0x41, 0x01}},
                                 {"count", {0x20}}})),  // -1
                 "count: expected a non-negative integer"));

  AutomergeRepoLimits small;
  small.max_message_bytes = 64;
  CHECK(contains(refusal(request, small), "at most 64"));
  small = {};
  small.max_id_chars = 4;
  CHECK(contains(refusal(request, small), "senderId: 8 bytes (at most 4)"));
}

TEST_CASE("automerge-repo document ids: base58check, as automerge-repo makes them") {
  auto payload = base58check_decode(kDoc);
  REQUIRE(payload);
  CHECK(to_hex(*payload) == "f1c29c8474c84adeb800be47627d33bf");  // bs58check.decode, in Node
  CHECK(base58check_encode(*payload) == kDoc);
  // bs58check.encode(00112233445566778899aabbccddeeff), in Node: a leading zero byte is '1'.
  CHECK(base58check_encode(hex("00112233445566778899aabbccddeeff")) ==
        "148vjpuxYXixb8DcbaWyeGv2q3u");
  CHECK(base58check_decode("148vjpuxYXixb8DcbaWyeGv2q3u") ==
        std::optional<Bytes>(hex("00112233445566778899aabbccddeeff")));
  CHECK_FALSE(refuse_document_id(kDoc));
  CHECK(refuse_document_id(""));
  CHECK(refuse_document_id(std::string(kMaxDocumentIdChars + 1, '2')));
  CHECK(refuse_document_id("1"));  // too short for a checksum
}

}  // namespace dagsync::test
