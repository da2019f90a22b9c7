// The envelope codec (the session layer's frames, docs/sessions.md): every type round trips,
// and a sync frame built in the payload's own buffer equals the encoded envelope. Hostile
// envelopes are in tests/session/hostile/test_versions.cpp and hostile/alloc/test_counts.cpp.
#include <string>
#include <vector>

#include "envelope.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("envelope: every type round trips through its encoding") {
  std::vector<Envelope> all(10);
  all[0].type = Envelope::Type::kHello;
  all[0].protocol_version = 1;
  all[0].peer_id = "peer";
  all[0].capabilities = {"x", "y"};
  all[1].type = Envelope::Type::kSync;
  all[1].doc_id = "doc";
  all[1].payload = {1, 2, 3};
  all[2].type = Envelope::Type::kRequest;
  all[2].doc_id = "wanted";
  all[3].type = Envelope::Type::kUnavailable;
  all[3].doc_id = "missing";
  all[4].type = Envelope::Type::kError;
  all[4].error = "something went wrong";
  all[5].type = Envelope::Type::kHeartbeat;
  all[6] = all[0];
  all[6].token = "a token";  // the optional fourth hello field
  all[7].type = Envelope::Type::kError;
  all[7].error = "unauthorized";
  all[7].code = Envelope::kErrorUnauthorized;  // the optional second error field
  all[8].type = Envelope::Type::kReadOnly;
  all[8].doc_id = "read me";
  all[9].type = Envelope::Type::kGoodbye;
  all[9].count = 12345;
  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i].seq = 1000 + i;
    const Envelope& e = all[i];
    CAPTURE(to_string(e.type));
    Bytes bytes = e.encode();
    Envelope back = Envelope::decode(bytes, 1024);
    CHECK(back.type == e.type);
    CHECK(back.seq == e.seq);
    CHECK(back.protocol_version == e.protocol_version);
    CHECK(back.peer_id == e.peer_id);
    CHECK(back.capabilities == e.capabilities);
    CHECK(back.doc_id == e.doc_id);
    CHECK(back.payload == e.payload);
    CHECK(back.error == e.error);
    CHECK(back.token == e.token);
    CHECK(back.code == e.code);
    CHECK(back.count == e.count);
    CHECK(back.encode() == bytes);
  }
  // A goodbye takes exactly its count: a heartbeat-shaped one (no fields) is refused.
  Bytes bare = all[5].encode();
  bare[2] = static_cast<std::uint8_t>(Envelope::Type::kGoodbye);
  CHECK_THROWS_WITH_AS(Envelope::decode(bare, 1024), doctest::Contains("goodbye takes 1"),
                       DecodeError);
}

TEST_CASE("envelope: a sync frame built in the payload's buffer equals the encoded envelope") {
  for (std::size_t size : {0u, 10u, 300u, 70'000u}) {
    CAPTURE(size);
    Envelope e;
    e.type = Envelope::Type::kSync;
    e.seq = 12345;
    e.doc_id = "doc";
    e.payload = Bytes(size, 0x5a);
    Bytes expected = e.encode();
    Bytes frame = e.take_frame();
    CHECK(frame == expected);
    CHECK(e.payload.empty());
    Envelope back = Envelope::decode(frame, 1u << 20);
    CHECK(back.payload == Bytes(size, 0x5a));
  }
}

TEST_CASE("envelope: optional fields are refused when present but empty or oversized") {
  Envelope hello;
  hello.type = Envelope::Type::kHello;
  hello.protocol_version = 1;
  hello.peer_id = "peer";
  hello.token = std::string(Envelope::kMaxTokenChars + 1, 't');
  CHECK_THROWS_WITH_AS(Envelope::decode(hello.encode(), 1024), doctest::Contains("token"),
                       DecodeError);
  Envelope error;
  error.type = Envelope::Type::kError;
  error.error = "x";
  error.code = std::string(Envelope::kMaxIdChars + 1, 'c');
  CHECK_THROWS_WITH_AS(Envelope::decode(error.encode(), 1024), doctest::Contains("code"),
                       DecodeError);
}
