// The VersionVector codec: round trip, includes(), and decode errors.
#include <cstdint>
#include <string>
#include <vector>

#include "codec_bytes.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("encoding: version vector round trip") {
  VersionVector empty;
  CHECK(to_hex(empty.encode()) == "920190");
  CHECK(VersionVector::decode(empty.encode()) == empty);

  VersionVector one;
  one.set(actor(1), 5);
  std::string actor1_hex;
  for (int i = 0; i < 16; ++i) actor1_hex += "01";
  CHECK(to_hex(one.encode()) == "92019192c410" + actor1_hex + "05");
  CHECK(VersionVector::decode(one.encode()) == one);

  VersionVector vv;
  vv.set(actor(3), 1);
  vv.set(actor(1), 127);
  vv.set(actor(2), 128);
  vv.set(actor(9), UINT64_MAX);
  vv.set(actor(4), 7);
  vv.set(actor(4), 0);  // removes
  CHECK(vv.size() == 4);
  CHECK(vv.get(actor(4)) == 0);
  CHECK(vv.get(actor(2)) == 128);
  Bytes bytes = vv.encode();
  VersionVector back = VersionVector::decode(bytes);
  CHECK(back == vv);
  CHECK(back.encode() == bytes);
  CHECK(back.get(actor(9)) == UINT64_MAX);
}

TEST_CASE("encoding: version vector includes") {
  VersionVector a, b;
  a.set(actor(1), 3);
  a.set(actor(2), 1);
  b.set(actor(1), 2);
  CHECK(a.includes(b));
  CHECK_FALSE(b.includes(a));
  CHECK(a.includes(VersionVector{}));
  CHECK(VersionVector{}.includes(VersionVector{}));
  b.set(actor(3), 1);
  CHECK_FALSE(a.includes(b));
}

TEST_CASE("encoding: version vector decode errors") {
  auto entry = [](std::uint8_t a, std::uint64_t seq) {
    return pack([&](MsgpackWriter& w) {
      w.array(2);
      w.id(actor(a));
      w.uint(seq);
    });
  };
  auto vv_bytes = [](std::uint32_t n, std::initializer_list<Bytes> entries) {
    return cat({{0x92, 0x01}, pack([&](MsgpackWriter& w) { w.array(n); }), cat(entries)});
  };
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     std::size_t max = 1'000'000) {
    INFO("bytes: " << to_hex(b));
    try {
      VersionVector::decode(b, max);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("version vector: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };

  CHECK(VersionVector::decode(vv_bytes(2, {entry(1, 1), entry(2, 1)})).size() == 2);
  rejected(vv_bytes(1, {entry(1, 0)}), {"entry.seq", "at least 1"});
  rejected(vv_bytes(2, {entry(2, 1), entry(1, 1)}), {"entry.actor", "not sorted"});
  rejected(vv_bytes(2, {entry(1, 1), entry(1, 2)}), {"entry.actor", "not sorted"});
  rejected(vv_bytes(2, {entry(1, 1), entry(2, 1)}), {"entries", "exceeds limit 1"}, 1);
  rejected(cat({{0x92, 0x02, 0x90}}), {"version", "unsupported version 2"});
  rejected(cat({{0x92, 0x01, 0x90, 0x00}}), {"trailing"});
  rejected(cat({{0x92, 0x01, 0x91}}), {"entries"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x0f}, Bytes(15, 1), {0x01}})}),
           {"entry.actor", "expected 16 bytes"});
  rejected(vv_bytes(1, {cat({{0x93}, entry(1, 1)})}), {"entry", "exceeds limit 2"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x10}, Bytes(16, 1), {0xff}})}),
           {"entry.seq", "expected an unsigned integer"});
  rejected(vv_bytes(1, {cat({{0x92, 0xc4, 0x10}, Bytes(16, 1), {0xcc, 0x01}})}),
           {"entry.seq", "non-canonical"});
  rejected({0x82, 0x01, 0x90}, {"fields", "expected array"});
  rejected({0x91, 0x01}, {"fields", "expected 2 fields"});
  rejected({}, {"truncated"});
}
