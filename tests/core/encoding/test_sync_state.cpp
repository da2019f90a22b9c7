// The SyncState codec: only shared_heads persists; decode errors.
#include <algorithm>
#include <string>
#include <vector>

#include "codec_bytes.h"
#include "helpers.h"

using namespace dagsync;
using namespace dagsync::test;

TEST_CASE("encoding: sync state round trip keeps only shared_heads") {
  SyncState s;
  s.shared_heads = sorted({hash_n(1), hash_n(2), hash_n(3)});
  s.last_sent_heads = {hash_n(4)};
  s.last_sent_need = {hash_n(5)};
  s.their_heads = std::vector<ChangeHash>{hash_n(6)};
  s.their_need = std::vector<ChangeHash>{hash_n(7)};
  s.their_have = std::vector<Have>{Have{}};
  s.sent_hashes = {hash_n(8)};
  s.in_flight = true;
  s.have_responded = true;
  s.reset_sent = true;

  Bytes bytes = s.encode();
  SyncState d = SyncState::decode(bytes);
  CHECK(d.shared_heads == s.shared_heads);
  CHECK(d.last_sent_heads.empty());
  CHECK(d.last_sent_need.empty());
  CHECK_FALSE(d.their_heads.has_value());
  CHECK_FALSE(d.their_need.has_value());
  CHECK_FALSE(d.their_have.has_value());
  CHECK(d.sent_hashes.empty());
  CHECK_FALSE(d.in_flight);
  CHECK_FALSE(d.have_responded);
  CHECK_FALSE(d.reset_sent);
  CHECK(d.encode() == bytes);

  CHECK(to_hex(SyncState{}.encode()) == "920190");
  CHECK(SyncState::decode(SyncState{}.encode()).shared_heads.empty());
}

TEST_CASE("encoding: sync state decode errors") {
  ChangeHash lo = std::min(hash_n(1), hash_n(2));
  ChangeHash hi = std::max(hash_n(1), hash_n(2));
  auto state_bytes = [](const std::vector<ChangeHash>& heads) {
    return cat({{0x92, 0x01}, hash_array(heads)});
  };
  auto rejected = [](const Bytes& b, std::vector<std::string> needles,
                     std::size_t max_heads = 65'536) {
    INFO("bytes: " << to_hex(b));
    try {
      SyncState::decode(b, max_heads);
      FAIL("decoded without error");
    } catch (const DecodeError& e) {
      std::string what = e.what();
      INFO("what(): " << what);
      CHECK(what.rfind("sync state: ", 0) == 0);
      for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
    }
  };
  CHECK(SyncState::decode(state_bytes({lo, hi})).shared_heads.size() == 2);
  rejected(state_bytes({hi, lo}), {"shared_heads", "not sorted"});
  rejected(state_bytes({lo, lo}), {"shared_heads", "not sorted"});
  rejected(state_bytes({lo, hi}), {"shared_heads", "exceeds limit 1"}, 1);
  rejected({0x92, 0x02, 0x90}, {"version", "unsupported version 2"});
  rejected({0x92, 0x00, 0x90}, {"version", "unsupported version 0"});
  rejected({0x92, 0x01, 0x90, 0x90}, {"trailing"});
  rejected({0x93, 0x01, 0x90, 0x90}, {"fields"});
  rejected({0x92, 0x01, 0xc0}, {"shared_heads", "expected array"});
  rejected(cat({{0x92, 0x01, 0x91, 0xc4, 0x1f}, Bytes(31, 0)}), {"shared_heads", "32 bytes"});
  rejected({0x92, 0x01}, {"fields", "array claims 2 elements, 1 bytes left"});
  rejected({0x92}, {"fields"});
  rejected({}, {"fields", "truncated"});
}
